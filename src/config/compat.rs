//! The rest of upstream's flags (spec §1.2, §1.3, §1.6–§1.9), so an existing Deployment's
//! arguments start this server unchanged.
//!
//! Flags with a meaning here are typed fields of [`CompatArgs`]: logging format and streams,
//! the shutdown delay, port/address sharing, HTTP/2 settings, plain-HTTP kubelets. Flags
//! without one (audit, emulation, priority-and-fairness, profiling, …) are listed in
//! [`IGNORED`]: they are parsed and type-checked like upstream's, then each one given is named
//! in a one-line warning at startup.

use clap::builder::{PossibleValuesParser, ValueParser};
use clap::parser::ValueSource;
use clap::{Arg, ArgAction, ArgMatches, Args, Command, FromArgMatches, ValueEnum};

use super::{DurationError, GoDuration, parse_go_bool};

/// `--logging-format`.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum LoggingFormat {
    #[default]
    Text,
    Json,
}

/// Upstream flags beyond the core set, flattened into `ServeArgs`.
#[derive(Debug, Args)]
pub struct CompatArgs {
    /// Sets the log format. Permitted formats: "json", "text".
    #[arg(long, value_enum, default_value = "text")]
    pub logging_format: LoggingFormat,
    /// [Alpha] In JSON format, write error messages to stderr and info messages to stdout.
    #[arg(long, value_name = "BOOL", value_parser = parse_go_bool, default_value = "false",
          num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub log_json_split_stream: bool,
    /// [Alpha] In text format, write error messages to stderr and info messages to stdout.
    #[arg(long, value_name = "BOOL", value_parser = parse_go_bool, default_value = "false",
          num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub log_text_split_stream: bool,
    /// Time to delay the termination. During that time the server keeps serving requests
    /// normally while /readyz fails.
    #[arg(long, value_name = "DURATION", default_value = "0s", value_parser = GoDuration::parse)]
    pub shutdown_delay_duration: GoDuration,
    /// If true, SO_REUSEPORT will be used when binding the port, which allows more than one
    /// instance to bind on the same address and port.
    #[arg(long, value_name = "BOOL", value_parser = parse_go_bool, default_value = "false",
          num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub permit_port_sharing: bool,
    /// If true, SO_REUSEADDR will be used when binding the port (always the case here).
    #[arg(long, value_name = "BOOL", value_parser = parse_go_bool, default_value = "false",
          num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub permit_address_sharing: bool,
    /// If true, HTTP2 serving will be disabled.
    #[arg(long, value_name = "BOOL", value_parser = parse_go_bool, default_value = "false",
          num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub disable_http2_serving: bool,
    /// The limit that the server gives to clients for the maximum number of streams in an
    /// HTTP/2 connection. Zero means to use the default (250).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub http2_max_streams_per_connection: u32,
    /// DEPRECATED: Do not use any encryption, authorization, or authentication when
    /// communicating with the Kubelet. This is rarely the right option, since it leaves kubelet
    /// communication insecure. If you encounter auth errors, make sure you've enabled token
    /// webhook auth on the Kubelet, and if you're in a test cluster with self-signed Kubelet
    /// certificates, consider using kubelet-insecure-tls instead.
    #[arg(long, value_name = "BOOL", value_parser = parse_go_bool, default_value = "false",
          num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub deprecated_kubelet_completely_insecure: bool,
    /// Accepted for compatibility, without effect.
    #[command(flatten)]
    pub ignored: IgnoredFlags,
}

/// The stream limit used when `--http2-max-streams-per-connection` is 0: the apiserver's
/// (`SecureServingInfo.Serve` sets 100; the help text, upstream's, still says 250).
pub const DEFAULT_HTTP2_MAX_STREAMS: u32 = 100;

/// The value type of an ignored flag (checked like upstream's, so a typo still fails).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Kind {
    Bool,
    Int,
    Float,
    Duration,
    Text,
    /// One of the listed values.
    Choice(&'static [&'static str]),
}

/// Upstream flags accepted and ignored, each with why it means nothing here.
pub const IGNORED: &[(&str, &str)] = &[
    ("advertise-address", "no cluster membership to advertise"),
    ("audit-log-batch-buffer-size", "no audit log"),
    ("audit-log-batch-max-size", "no audit log"),
    ("audit-log-batch-max-wait", "no audit log"),
    ("audit-log-batch-throttle-burst", "no audit log"),
    ("audit-log-batch-throttle-enable", "no audit log"),
    ("audit-log-batch-throttle-qps", "no audit log"),
    ("audit-log-compress", "no audit log"),
    ("audit-log-format", "no audit log"),
    ("audit-log-maxage", "no audit log"),
    ("audit-log-maxbackup", "no audit log"),
    ("audit-log-maxsize", "no audit log"),
    ("audit-log-mode", "no audit log"),
    ("audit-log-path", "no audit log"),
    ("audit-log-truncate-enabled", "no audit log"),
    ("audit-log-truncate-max-batch-size", "no audit log"),
    ("audit-log-truncate-max-event-size", "no audit log"),
    ("audit-log-version", "no audit log"),
    ("audit-policy-file", "no audit log"),
    ("audit-webhook-batch-buffer-size", "no audit webhook"),
    ("audit-webhook-batch-max-size", "no audit webhook"),
    ("audit-webhook-batch-max-wait", "no audit webhook"),
    ("audit-webhook-batch-throttle-burst", "no audit webhook"),
    ("audit-webhook-batch-throttle-enable", "no audit webhook"),
    ("audit-webhook-batch-throttle-qps", "no audit webhook"),
    ("audit-webhook-config-file", "no audit webhook"),
    ("audit-webhook-initial-backoff", "no audit webhook"),
    ("audit-webhook-mode", "no audit webhook"),
    ("audit-webhook-truncate-enabled", "no audit webhook"),
    ("audit-webhook-truncate-max-batch-size", "no audit webhook"),
    ("audit-webhook-truncate-max-event-size", "no audit webhook"),
    ("audit-webhook-version", "no audit webhook"),
    ("contention-profiling", "no profiling endpoints"),
    (
        "cors-allowed-origins",
        "no CORS (the API is reached through the aggregator)",
    ),
    ("debug-socket-path", "no debug socket"),
    ("emulated-version", "no compatibility-version emulation"),
    (
        "emulation-forward-compatible",
        "no compatibility-version emulation",
    ),
    (
        "enable-priority-and-fairness",
        "no priority and fairness (upstream ignores it too)",
    ),
    ("external-hostname", "no externalized URLs"),
    ("feature-gates", "no feature gates"),
    ("goaway-chance", "no probabilistic GOAWAY"),
    (
        "livez-grace-period",
        "no post-start hooks that could make /livez fail",
    ),
    ("log-flush-frequency", "log lines are written unbuffered"),
    (
        "log-json-info-buffer-size",
        "log lines are written unbuffered",
    ),
    (
        "log-text-info-buffer-size",
        "log lines are written unbuffered",
    ),
    ("max-mutating-requests-inflight", "no mutating requests"),
    (
        "min-compatibility-version",
        "no compatibility-version emulation",
    ),
    ("min-request-timeout", "no watches"),
    ("profiling", "no profiling endpoints"),
    (
        "runtime-config-emulation-forward-compatible",
        "no compatibility-version emulation",
    ),
    (
        "shutdown-send-retry-after",
        "in-flight requests drain, then the listener closes",
    ),
    ("shutdown-watch-termination-grace-period", "no watches"),
    ("storage-initialization-timeout", "no storage backend"),
    (
        "strict-transport-security-directives",
        "no HSTS header is sent",
    ),
    (
        "tls-curve-preferences",
        "rustls chooses among X25519, P-256 and P-384",
    ),
    ("tls-sni-cert-key", "one serving certificate for every name"),
    ("vmodule", "use RUST_LOG for per-module levels"),
];

fn kind_of(name: &str) -> Kind {
    const BOOLS: &[&str] = &[
        "audit-log-batch-throttle-enable",
        "audit-log-compress",
        "audit-log-truncate-enabled",
        "audit-webhook-batch-throttle-enable",
        "audit-webhook-truncate-enabled",
        "contention-profiling",
        "emulation-forward-compatible",
        "enable-priority-and-fairness",
        "profiling",
        "runtime-config-emulation-forward-compatible",
        "shutdown-send-retry-after",
    ];
    const DURATIONS: &[&str] = &[
        "audit-log-batch-max-wait",
        "audit-webhook-batch-max-wait",
        "audit-webhook-initial-backoff",
        "livez-grace-period",
        "log-flush-frequency",
        "shutdown-watch-termination-grace-period",
        "storage-initialization-timeout",
    ];
    const FLOATS: &[&str] = &[
        "audit-log-batch-throttle-qps",
        "audit-webhook-batch-throttle-qps",
        "goaway-chance",
    ];
    const TEXT: &[&str] = &[
        "advertise-address",
        "audit-log-path",
        "audit-log-version",
        "audit-policy-file",
        "audit-webhook-config-file",
        "audit-webhook-version",
        "cors-allowed-origins",
        "debug-socket-path",
        "emulated-version",
        "external-hostname",
        "feature-gates",
        "log-json-info-buffer-size",
        "log-text-info-buffer-size",
        "min-compatibility-version",
        "strict-transport-security-directives",
        "tls-curve-preferences",
        "tls-sni-cert-key",
        "vmodule",
    ];
    match name {
        "audit-log-format" => Kind::Choice(&["legacy", "json"]),
        "audit-log-mode" | "audit-webhook-mode" => {
            Kind::Choice(&["batch", "blocking", "blocking-strict"])
        }
        n if BOOLS.contains(&n) => Kind::Bool,
        n if DURATIONS.contains(&n) => Kind::Duration,
        n if FLOATS.contains(&n) => Kind::Float,
        n if TEXT.contains(&n) => Kind::Text,
        _ => Kind::Int,
    }
}

/// Why the value of an ignored flag does not parse (clap prints it after the flag).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum IgnoredValueError {
    #[error("{0:?} is not a number")]
    NotANumber(String),
    #[error("{0:?} is not an integer")]
    NotAnInteger(String),
    #[error(transparent)]
    Duration(DurationError),
}

fn parse_float(text: &str) -> Result<f64, IgnoredValueError> {
    text.parse()
        .map_err(|_| IgnoredValueError::NotANumber(text.to_owned()))
}

fn parse_int(text: &str) -> Result<i64, IgnoredValueError> {
    text.parse()
        .map_err(|_| IgnoredValueError::NotAnInteger(text.to_owned()))
}

fn parse_duration(text: &str) -> Result<GoDuration, IgnoredValueError> {
    GoDuration::parse(text).map_err(IgnoredValueError::Duration)
}

fn ignored_arg(name: &'static str, why: &'static str) -> Arg {
    let help = format!("Accepted for compatibility and ignored: {why}.");
    let arg = Arg::new(name).long(name).help(help).action(ArgAction::Set);
    match kind_of(name) {
        Kind::Bool => arg
            .value_name("BOOL")
            .num_args(0..=1)
            .require_equals(true)
            .default_missing_value("true")
            .value_parser(ValueParser::new(parse_go_bool)),
        Kind::Duration => arg
            .value_name("DURATION")
            .value_parser(ValueParser::new(parse_duration)),
        Kind::Float => arg
            .value_name("FLOAT")
            .value_parser(ValueParser::new(parse_float)),
        Kind::Int => arg
            .value_name("INT")
            .value_parser(ValueParser::new(parse_int)),
        Kind::Choice(values) => arg
            .value_name("MODE")
            .value_parser(PossibleValuesParser::new(values)),
        Kind::Text => arg
            .value_name("VALUE")
            .value_parser(ValueParser::os_string()),
    }
}

/// The [`IGNORED`] flags given on the command line.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IgnoredFlags {
    /// `--name`s that were given, in [`IGNORED`] order.
    pub given: Vec<&'static str>,
}

impl IgnoredFlags {
    /// The one-line warning for each given flag.
    pub fn warnings(&self) -> Vec<String> {
        self.given
            .iter()
            .filter_map(|name| IGNORED.iter().find(|(n, _)| n == name))
            .map(|(name, why)| format!("--{name} is accepted for compatibility and ignored: {why}"))
            .collect()
    }
}

impl FromArgMatches for IgnoredFlags {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        let given = IGNORED
            .iter()
            .map(|(name, _)| *name)
            .filter(|name| matches.value_source(name) == Some(ValueSource::CommandLine))
            .collect();
        Ok(IgnoredFlags { given })
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        *self = IgnoredFlags::from_arg_matches(matches)?;
        Ok(())
    }
}

impl Args for IgnoredFlags {
    fn augment_args(cmd: Command) -> Command {
        IGNORED
            .iter()
            .fold(cmd, |cmd, (name, why)| cmd.arg(ignored_arg(name, why)))
    }

    fn augment_args_for_update(cmd: Command) -> Command {
        IgnoredFlags::augment_args(cmd)
    }
}

/// The validated compatibility settings carried in `Config`.
#[derive(Clone, Debug, Default)]
pub struct CompatConfig {
    pub logging_format: LoggingFormat,
    /// Errors to stderr, everything else to stdout.
    pub log_split_stream: bool,
    pub shutdown_delay: std::time::Duration,
    pub permit_port_sharing: bool,
    pub disable_http2: bool,
    pub http2_max_streams: u32,
    /// Plain HTTP, no credentials, to kubelets.
    pub kubelet_plain_http: bool,
    pub ignored: IgnoredFlags,
}

/// A compatibility flag combination the server refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CompatError {
    #[error("--shutdown-delay-duration must not be negative, but value {0} provided")]
    NegativeShutdownDelay(GoDuration),
    #[error(
        "--deprecated-kubelet-completely-insecure cannot be used with --kubelet-client-key, \
         --kubelet-client-certificate, --kubelet-insecure-tls or --kubelet-certificate-authority"
    )]
    InsecureWithTlsFlags,
}

impl CompatArgs {
    /// Checks the flags; `kubelet_tls_flags` says whether any kubelet TLS flag was given.
    pub fn validate(self, kubelet_tls_flags: bool) -> Result<CompatConfig, CompatError> {
        let shutdown_delay =
            self.shutdown_delay_duration
                .to_std()
                .ok_or(CompatError::NegativeShutdownDelay(
                    self.shutdown_delay_duration,
                ))?;
        if self.deprecated_kubelet_completely_insecure && kubelet_tls_flags {
            return Err(CompatError::InsecureWithTlsFlags);
        }
        let split = match self.logging_format {
            LoggingFormat::Text => self.log_text_split_stream,
            LoggingFormat::Json => self.log_json_split_stream,
        };
        Ok(CompatConfig {
            logging_format: self.logging_format,
            log_split_stream: split,
            shutdown_delay,
            permit_port_sharing: self.permit_port_sharing,
            disable_http2: self.disable_http2_serving,
            http2_max_streams: match self.http2_max_streams_per_connection {
                0 => DEFAULT_HTTP2_MAX_STREAMS,
                n => n,
            },
            kubelet_plain_http: self.deprecated_kubelet_completely_insecure,
            ignored: self.ignored,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_value_of_an_ignored_flag_says_what_was_expected() {
        let number = parse_float("lots").unwrap_err();
        assert_eq!(number.to_string(), "\"lots\" is not a number");
        let integer = parse_int("1.5").unwrap_err();
        assert_eq!(integer.to_string(), "\"1.5\" is not an integer");
        let duration = parse_duration("5").unwrap_err();
        assert_eq!(
            duration.to_string(),
            GoDuration::parse("5").unwrap_err().to_string()
        );
        assert_eq!(parse_int("-3"), Ok(-3));
    }
}
