//! Command-line flags: the clap definitions of upstream's flag names (spec §1.1–§1.3, §1.9)
//! plus our own (`--kubelet-metrics-source`, `--storage-ring-depth`, `--kubelet-max-body-bytes`,
//! `--apiservice-service`, `--kubelet-max-backoff`, `--kubelet-skip-virtual-nodes`,
//! `--extra-resources`), and the `certs` and `diagnose` subcommands. Parsing follows Go's
//! pflag conventions: `--flag=value` and `--flag value`, bool flags as `--flag` or
//! `--flag=true|false`, comma-separated lists. [`ServeArgs::validate`] turns the parsed flags
//! into a checked [`Config`].

pub mod auth;
pub mod certs;
mod compat;
mod connections;
pub mod diagnose;
mod duration_flag;
mod validate;

use std::net::IpAddr;
use std::path::PathBuf;

use clap::builder::TypedValueParser;
use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};

pub use auth::{AuthArgs, AuthConfig, AuthFlagError, RequestHeaderFlags, TlsMinVersion, TlsPolicy};
pub use compat::{CompatArgs, CompatConfig, CompatError, IGNORED, IgnoredFlags, LoggingFormat};
pub use connections::{
    ConnectionArgs, ConnectionFlagError, ConnectionLimits, DEFAULT_MAX_CONNECTIONS,
    HTTP2_PREFACE_TIMEOUT,
};
pub use duration_flag::{DurationError, GoDuration};
pub use validate::{
    CertKeyFiles, Config, ConfigError, KubeletConfig, ServingCertConfig, ServingConfig,
    verbosity_filter,
};

/// The address-type priority used when `--kubelet-preferred-address-types` is not given
/// (upstream's code default, spec §1.2).
pub const DEFAULT_ADDRESS_TYPES: &str = "Hostname,InternalDNS,InternalIP,ExternalDNS,ExternalIP";

/// The `metrics-server` command line.
#[derive(Debug, Parser)]
#[command(
    name = "metrics-server",
    version,
    disable_version_flag = true,
    about = "Serves the Kubernetes resource Metrics API (metrics.k8s.io): CPU and memory of \
             nodes and pods, scraped from the kubelets",
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    /// Run something other than the server.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Flags of the server (the default when no subcommand is given).
    #[command(flatten)]
    pub serve: ServeArgs,
    /// Print version information and quit.
    #[arg(long = "version", action = ArgAction::Version)]
    _version: Option<bool>,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write a CA and a serving certificate for the Service's DNS names, and print the caBundle
    Certs(certs::CertsArgs),
    /// Check the installation (APIServices, Service, serving certificate, RBAC, kubelets,
    /// clocks) and print what is wrong with the fix; exits non-zero on any failure
    Diagnose(Box<diagnose::DiagnoseArgs>),
}

/// Where kubelet CPU and memory come from (spec §3.1).
#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum MetricsSource {
    /// `/metrics/resource` (Prometheus text), what upstream scrapes.
    Resource,
    /// `/stats/summary` (JSON).
    Summary,
    /// `/metrics/resource`, falling back to `/stats/summary` where it is missing.
    Auto,
}

/// Flags of the server, named exactly as upstream's (spec §1); help texts are upstream's.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The path to the kubeconfig used to connect to the Kubernetes API server and the
    /// Kubelets (defaults to in-cluster config)
    #[arg(long, value_name = "PATH", value_parser = any_path())]
    pub kubeconfig: Option<PathBuf>,
    /// The resolution at which metrics-server will retain metrics, must set value at least 10s.
    #[arg(long, value_name = "DURATION", default_value = "15s", value_parser = GoDuration::parse)]
    pub metric_resolution: GoDuration,
    /// The port to use to connect to Kubelets.
    #[arg(long, default_value_t = 10250)]
    pub kubelet_port: u16,
    /// Use the port in the node status. Takes precedence over --kubelet-port flag.
    #[arg(long, value_name = "BOOL", value_parser = parse_go_bool, default_value = "false",
          num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub kubelet_use_node_status_port: bool,
    /// The priority of node address types to use when determining which address to use to
    /// connect to a particular node
    #[arg(long, value_name = "TYPES", value_delimiter = ',', default_value = DEFAULT_ADDRESS_TYPES)]
    pub kubelet_preferred_address_types: Vec<String>,
    /// Do not verify CA of serving certificates presented by Kubelets.  For testing purposes
    /// only.
    #[arg(long, value_name = "BOOL", value_parser = parse_go_bool, default_value = "false",
          num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub kubelet_insecure_tls: bool,
    /// Path to the CA to use to validate the Kubelet's serving certificates.
    #[arg(long, value_name = "PATH", value_parser = any_path())]
    pub kubelet_certificate_authority: Option<PathBuf>,
    /// Path to a client cert file for TLS.
    #[arg(long, value_name = "PATH", value_parser = any_path())]
    pub kubelet_client_certificate: Option<PathBuf>,
    /// Path to a client key file for TLS.
    #[arg(long, value_name = "PATH", value_parser = any_path())]
    pub kubelet_client_key: Option<PathBuf>,
    /// The length of time to wait before giving up on a single request to Kubelet. Non-zero
    /// values should contain a corresponding time unit (e.g. 1s, 2m, 3h).
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = GoDuration::parse)]
    pub kubelet_request_timeout: GoDuration,
    /// Selector (label query) to filter on, supports '=', '==', and '!='.(e.g. -l
    /// key1=value1,key2=value2).
    #[arg(short = 'l', long, value_name = "SELECTOR")]
    pub node_selector: Option<String>,
    /// The port on which to serve HTTPS with authentication and authorization.
    #[arg(long, default_value_t = 443)]
    pub secure_port: u16,
    /// The IP address on which to listen for the --secure-port port.
    #[arg(long, value_name = "IP", default_value = "0.0.0.0")]
    pub bind_address: IpAddr,
    /// The directory where the TLS certs are located. If --tls-cert-file and
    /// --tls-private-key-file are provided, this flag will be ignored.
    #[arg(long, value_name = "DIR", value_parser = any_path(),
          default_value = "apiserver.local.config/certificates")]
    pub cert_dir: PathBuf,
    /// File containing the default x509 Certificate for HTTPS. (CA cert, if any, concatenated
    /// after server cert).
    #[arg(long, value_name = "PATH", value_parser = any_path())]
    pub tls_cert_file: Option<PathBuf>,
    /// File containing the default x509 private key matching --tls-cert-file.
    #[arg(long, value_name = "PATH", value_parser = any_path())]
    pub tls_private_key_file: Option<PathBuf>,
    /// Number for the log level verbosity
    #[arg(
        short = 'v',
        long = "v",
        value_name = "LEVEL",
        default_value_t = 0,
        allow_negative_numbers = true,
        global = true
    )]
    pub verbosity: i32,
    /// Kubelet endpoint to scrape.
    #[arg(long, value_enum, default_value = "auto")]
    pub kubelet_metrics_source: MetricsSource,
    /// Scrapes kept per node and container (upstream keeps 2). Range 2..=16.
    #[arg(long, default_value_t = 3)]
    pub storage_ring_depth: u32,
    /// Largest kubelet response body read, in bytes; a larger response fails that node's
    /// scrape.
    #[arg(long, value_name = "BYTES", default_value_t = 16 * 1024 * 1024)]
    pub kubelet_max_body_bytes: u64,
    /// The Service in front of this server, which the metrics.k8s.io APIServices should point
    /// at: NAMESPACE/NAME or NAMESPACE/NAME:PORT (default: metrics-server:443 in the
    /// ServiceAccount's namespace, else kube-system).
    #[arg(long, value_name = "NAMESPACE/NAME[:PORT]")]
    pub apiservice_service: Option<String>,
    /// Longest wait between retries of a node whose scrapes failed 3 cycles in a row (the
    /// wait starts at twice --metric-resolution and doubles after each failed retry). 0
    /// scrapes failing nodes every cycle.
    #[arg(long, value_name = "DURATION", default_value = "5m0s", value_parser = GoDuration::parse)]
    pub kubelet_max_backoff: GoDuration,
    /// Do not scrape nodes that serve no kubelet metrics by design: virtual-kubelet nodes
    /// (label type=virtual-kubelet or a virtual-kubelet.io/provider taint) and EKS Fargate
    /// nodes (label eks.amazonaws.com/compute-type=fargate). Their pods are reported as
    /// node_not_scraped.
    #[arg(long, value_name = "BOOL", value_parser = parse_go_bool, default_value = "true",
          num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub kubelet_skip_virtual_nodes: bool,
    /// Resources served beyond cpu and memory, comma separated: swap (from
    /// /metrics/resource) and ephemeral-storage (from /stats/summary, fetched beside it).
    /// Empty: cpu and memory only, as upstream.
    #[arg(long, value_name = "RESOURCES", value_delimiter = ',')]
    pub extra_resources: Vec<String>,
    /// Authentication, authorization, TLS policy and request limits.
    #[command(flatten)]
    pub auth: AuthArgs,
    /// Connection deadlines and the connection cap.
    #[command(flatten)]
    pub connections: ConnectionArgs,
    /// The rest of upstream's flags (compat.rs).
    #[command(flatten)]
    pub compat: CompatArgs,
}

/// A path flag that, like pflag's string flags, also accepts an empty value (`--flag=`),
/// which validation then treats as "not given".
fn any_path() -> impl TypedValueParser<Value = PathBuf> {
    clap::builder::OsStringValueParser::new().map(PathBuf::from)
}

/// Go's `strconv.ParseBool`, which pflag uses for `--flag=value` on bool flags.
fn parse_go_bool(text: &str) -> Result<bool, String> {
    match text {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(false),
        _ => Err(format!("{text:?} is not a boolean (use true or false)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_bools() {
        for yes in ["1", "t", "T", "true", "TRUE", "True"] {
            assert_eq!(parse_go_bool(yes), Ok(true));
        }
        for no in ["0", "f", "F", "false", "FALSE", "False"] {
            assert_eq!(parse_go_bool(no), Ok(false));
        }
        assert!(parse_go_bool("yes").is_err());
    }

    #[test]
    fn clap_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
