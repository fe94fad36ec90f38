//! Validation of the parsed flags into a [`Config`], in upstream's order with the first error
//! winning (spec §1.1 `validate()`, §1.2 `Validate()`), and the `-v` → log filter mapping
//! (spec §1.9).

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::apiservice::{OurService, ServiceFlagError, parse_service_flag};

use super::{
    AuthConfig, AuthFlagError, CompatConfig, CompatError, ConnectionFlagError, ConnectionLimits,
    GoDuration, MetricsSource, ServeArgs,
};

/// Shortest `--metric-resolution` upstream accepts.
const MIN_RESOLUTION: GoDuration = GoDuration::from_secs(10);
/// Accepted `--storage-ring-depth` values.
const RING_DEPTHS: std::ops::RangeInclusive<u32> = 2..=16;
/// Smallest `--kubelet-max-body-bytes`: below this no kubelet answer fits.
const MIN_BODY_BYTES: u64 = 1024;

/// A validated configuration of the server.
#[derive(Clone, Debug)]
pub struct Config {
    /// `--kubeconfig`; `None` means in-cluster configuration.
    pub kubeconfig: Option<PathBuf>,
    /// `--metric-resolution`: the scrape interval and the timeout of one scrape cycle.
    pub metric_resolution: Duration,
    /// How kubelets are reached and read.
    pub kubelet: KubeletConfig,
    /// `-l/--node-selector`, unparsed; `None` when empty.
    pub node_selector: Option<String>,
    /// HTTPS listener and its certificate.
    pub serving: ServingConfig,
    /// `--storage-ring-depth`: scrapes kept per node and container.
    pub storage_ring_depth: usize,
    /// `-v/--v` klog verbosity.
    pub verbosity: i32,
    /// Authentication, authorization, TLS policy and request limits.
    pub auth: AuthConfig,
    /// Logging format, shutdown delay, listener and HTTP/2 options, ignored flags.
    pub compat: CompatConfig,
    /// `--apiservice-service`: the Service the metrics APIServices should point at; `None`
    /// means `metrics-server:443` in the ServiceAccount's namespace.
    pub apiservice_service: Option<OurService>,
}

/// The kubelet client part of [`Config`] (spec §1.2).
#[derive(Clone, Debug)]
pub struct KubeletConfig {
    pub port: u16,
    pub use_node_status_port: bool,
    /// Address types in priority order; unknown types simply never match.
    pub preferred_address_types: Vec<String>,
    pub insecure_tls: bool,
    /// `--kubelet-certificate-authority`; `None` means the CA of the kubeconfig.
    pub certificate_authority: Option<PathBuf>,
    /// `--kubelet-client-certificate` + `--kubelet-client-key`.
    pub client_cert: Option<CertKeyFiles>,
    pub request_timeout: Duration,
    pub metrics_source: MetricsSource,
    pub max_body_bytes: u64,
    /// `--kubelet-max-backoff`: longest wait between retries of a failing node; zero scrapes
    /// failing nodes every cycle.
    pub max_backoff: Duration,
    /// `--kubelet-skip-virtual-nodes`.
    pub skip_virtual_nodes: bool,
}

/// A certificate file and its key file, given together.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertKeyFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// The HTTPS listener (spec §1.3).
#[derive(Clone, Debug)]
pub struct ServingConfig {
    pub secure_port: u16,
    pub bind_address: IpAddr,
    pub cert: ServingCertConfig,
    /// Connection deadlines and the connection cap.
    pub connections: ConnectionLimits,
}

/// Where the serving certificate comes from (see `server::tls`).
#[derive(Clone, Debug)]
pub struct ServingCertConfig {
    /// `--cert-dir`: holds the self-signed `apiserver.crt` / `apiserver.key`.
    pub cert_dir: PathBuf,
    /// `--tls-cert-file` + `--tls-private-key-file`; when set, `cert_dir` is ignored.
    pub files: Option<CertKeyFiles>,
    /// DNS names a generated certificate carries besides `localhost`.
    pub extra_dns_names: Vec<String>,
    /// IPs a generated certificate carries besides 127.0.0.1 (the bind IP when not 0.0.0.0/::).
    pub extra_ips: Vec<IpAddr>,
}

/// A flag combination the server refuses to start with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("--metric-resolution should be a time duration at least 10s, but value {0} provided")]
    ResolutionTooShort(GoDuration),
    #[error(
        "--kubelet-request-timeout ({timeout}) must be at most 90% of --metric-resolution \
         ({resolution}), so that a scrape finishes within one resolution"
    )]
    TimeoutAboveResolution {
        resolution: GoDuration,
        timeout: GoDuration,
    },
    #[error("cannot use both --kubelet-certificate-authority and --kubelet-insecure-tls")]
    CaWithInsecureTls,
    #[error("need both --kubelet-client-key and --kubelet-client-certificate")]
    IncompleteKubeletClientCert,
    #[error("--kubelet-request-timeout should be positive, but value {0} provided")]
    TimeoutNotPositive(GoDuration),
    #[error("need both --tls-cert-file and --tls-private-key-file")]
    IncompleteServingCert,
    #[error("--kubelet-preferred-address-types must name at least one address type")]
    NoAddressTypes,
    #[error("--storage-ring-depth must be between 2 and 16, but value {0} provided")]
    RingDepthOutOfRange(u32),
    #[error("--kubelet-max-body-bytes must be at least 1024, but value {0} provided")]
    BodyLimitTooSmall(u64),
    #[error("--kubelet-max-backoff must not be negative, but value {0} provided")]
    NegativeBackoff(GoDuration),
    #[error(transparent)]
    Auth(#[from] AuthFlagError),
    #[error(
        "--self-managed-ca issues the serving certificate; do not pass --tls-cert-file with it"
    )]
    SelfManagedCaWithCertFiles,
    #[error(transparent)]
    Compat(#[from] CompatError),
    #[error(transparent)]
    Connections(#[from] ConnectionFlagError),
    #[error(transparent)]
    ApiServiceService(#[from] ServiceFlagError),
}

impl ServeArgs {
    /// Checks the flags and builds the [`Config`]; the first failed check is returned.
    pub fn validate(self) -> Result<Config, ConfigError> {
        let resolution = check_durations(self.metric_resolution, self.kubelet_request_timeout)?;
        let ca = non_empty_path(self.kubelet_certificate_authority);
        if ca.is_some() && self.kubelet_insecure_tls {
            return Err(ConfigError::CaWithInsecureTls);
        }
        let client_cert = pair(self.kubelet_client_certificate, self.kubelet_client_key)
            .map_err(|()| ConfigError::IncompleteKubeletClientCert)?;
        let timeout = (self.kubelet_request_timeout.to_std())
            .filter(|t| !t.is_zero())
            .ok_or(ConfigError::TimeoutNotPositive(
                self.kubelet_request_timeout,
            ))?;
        let serving_files = pair(self.tls_cert_file, self.tls_private_key_file)
            .map_err(|()| ConfigError::IncompleteServingCert)?;
        let address_types: Vec<String> = self
            .kubelet_preferred_address_types
            .into_iter()
            .map(|t| t.trim().to_owned())
            .filter(|t| !t.is_empty())
            .collect();
        if address_types.is_empty() {
            return Err(ConfigError::NoAddressTypes);
        }
        if !RING_DEPTHS.contains(&self.storage_ring_depth) {
            return Err(ConfigError::RingDepthOutOfRange(self.storage_ring_depth));
        }
        if self.kubelet_max_body_bytes < MIN_BODY_BYTES {
            return Err(ConfigError::BodyLimitTooSmall(self.kubelet_max_body_bytes));
        }
        let max_backoff = (self.kubelet_max_backoff.to_std())
            .ok_or(ConfigError::NegativeBackoff(self.kubelet_max_backoff))?;
        let auth = self.auth.validate()?;
        if auth.self_managed_ca && serving_files.is_some() {
            return Err(ConfigError::SelfManagedCaWithCertFiles);
        }
        let kubelet_tls_flags = self.kubelet_insecure_tls || ca.is_some() || client_cert.is_some();
        let compat = self.compat.validate(kubelet_tls_flags)?;
        let connections = self.connections.validate()?;
        let apiservice_service = self
            .apiservice_service
            .filter(|s| !s.trim().is_empty())
            .map(|s| parse_service_flag(&s))
            .transpose()?;
        let extra_ips = if self.bind_address.is_unspecified() {
            Vec::new()
        } else {
            vec![self.bind_address]
        };
        Ok(Config {
            kubeconfig: non_empty_path(self.kubeconfig),
            metric_resolution: resolution,
            kubelet: KubeletConfig {
                port: self.kubelet_port,
                use_node_status_port: self.kubelet_use_node_status_port,
                preferred_address_types: address_types,
                insecure_tls: self.kubelet_insecure_tls,
                certificate_authority: ca,
                client_cert,
                request_timeout: timeout,
                metrics_source: self.kubelet_metrics_source,
                max_body_bytes: self.kubelet_max_body_bytes,
                max_backoff,
                skip_virtual_nodes: self.kubelet_skip_virtual_nodes,
            },
            node_selector: self.node_selector.filter(|s| !s.trim().is_empty()),
            serving: ServingConfig {
                secure_port: self.secure_port,
                bind_address: self.bind_address,
                cert: ServingCertConfig {
                    cert_dir: self.cert_dir,
                    files: serving_files,
                    extra_dns_names: Vec::new(),
                    extra_ips,
                },
                connections,
            },
            storage_ring_depth: self.storage_ring_depth as usize,
            verbosity: self.verbosity,
            auth,
            compat,
            apiservice_service,
        })
    }
}

/// Upstream's two duration rules: resolution ≥ 10s, and `resolution*9/10 ≥ timeout` (Go integer
/// nanosecond arithmetic). A negative timeout passes here and fails the positivity check later.
fn check_durations(resolution: GoDuration, timeout: GoDuration) -> Result<Duration, ConfigError> {
    if resolution < MIN_RESOLUTION {
        return Err(ConfigError::ResolutionTooShort(resolution));
    }
    let budget = i128::from(resolution.as_nanos()) * 9 / 10;
    if budget < i128::from(timeout.as_nanos()) {
        return Err(ConfigError::TimeoutAboveResolution {
            resolution,
            timeout,
        });
    }
    Ok(resolution.to_std().unwrap_or_default())
}

/// An empty path flag (`--flag=`) counts as not given, as in Go where the zero value is "".
fn non_empty_path(path: Option<PathBuf>) -> Option<PathBuf> {
    path.filter(|p| !p.as_os_str().is_empty())
}

/// Two file flags that must be given together.
fn pair(cert: Option<PathBuf>, key: Option<PathBuf>) -> Result<Option<CertKeyFiles>, ()> {
    match (non_empty_path(cert), non_empty_path(key)) {
        (Some(cert), Some(key)) => Ok(Some(CertKeyFiles { cert, key })),
        (None, None) => Ok(None),
        _ => Err(()),
    }
}

impl Config {
    /// The `tracing` filter directives: `RUST_LOG` when set, else [`verbosity_filter`] of `-v`.
    pub fn log_filter(&self) -> String {
        match std::env::var("RUST_LOG") {
            Ok(directives) if !directives.trim().is_empty() => directives,
            _ => verbosity_filter(self.verbosity),
        }
    }
}

/// Maps a klog `-v` level to `tracing` filter directives: 0–1 info, 2–3 debug for this crate,
/// 4–5 debug everywhere, 6+ debug everywhere and trace for this crate. Below 4 the HTTP/2
/// library logs errors only: its warnings are about what a peer did (one line per connection
/// of a stream-reset flood), which any client can cause. Below 4 kube's watcher logs errors
/// only too: it warns of a 403 on every retry, which our watches log themselves (the
/// APIService watch once).
pub fn verbosity_filter(verbosity: i32) -> String {
    match verbosity {
        i32::MIN..=1 => "info,h2=error,kube_runtime::watcher=error",
        2..=3 => "info,h2=error,kube_runtime::watcher=error,metrics_server=debug",
        4..=5 => "debug",
        _ => "debug,metrics_server=trace",
    }
    .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verbosity_levels_map_to_filters() {
        let info = "info,h2=error,kube_runtime::watcher=error";
        let debug = "info,h2=error,kube_runtime::watcher=error,metrics_server=debug";
        assert_eq!(verbosity_filter(-1), info);
        assert_eq!(verbosity_filter(0), info);
        assert_eq!(verbosity_filter(1), info);
        assert_eq!(verbosity_filter(2), debug);
        assert_eq!(verbosity_filter(3), debug);
        assert_eq!(verbosity_filter(4), "debug");
        assert_eq!(verbosity_filter(6), "debug,metrics_server=trace");
        assert_eq!(verbosity_filter(10), "debug,metrics_server=trace");
    }

    #[test]
    fn resolution_budget_uses_integer_nanos() {
        // 10s * 9 / 10 = 9s: a 9s timeout fits, 9s + 1ns does not.
        let res = GoDuration::from_secs(10);
        assert!(check_durations(res, GoDuration::from_secs(9)).is_ok());
        let over = GoDuration::from_nanos(9_000_000_001);
        assert!(matches!(
            check_durations(res, over),
            Err(ConfigError::TimeoutAboveResolution { .. })
        ));
    }
}
