//! One HTTPS GET per node per cycle: pooled connections (HTTP/1.1 or h2), bearer token,
//! per-request deadline, capped body. Port of metrics-server
//! `pkg/scraper/client/resource/client.go`, plus the `/stats/summary` fallback.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use super::address::{self, NoAddress};
use super::decode::Source;
use super::token::TokenSource;
use super::verify::{NodeNames, TlsFailure};
use crate::cluster::NodeInfo;
use crate::config::MetricsSource;
use crate::time::Timestamp;

type Https = hyper_rustls::HttpsConnector<HttpConnector>;

/// Settings of the kubelet client (from flags).
pub struct KubeletClientConfig {
    pub port: u16,
    pub use_node_status_port: bool,
    pub preferred_address_types: Vec<String>,
    pub request_timeout: Duration,
    pub max_body_bytes: usize,
    pub source: MetricsSource,
    pub token: TokenSource,
    /// Shared with the TLS verifier: which node names an IP-dialled kubelet may present.
    pub node_names: Arc<NodeNames>,
    /// `--deprecated-kubelet-completely-insecure`: plain HTTP, no bearer token.
    pub plain_http: bool,
}

/// Why one node's scrape failed. `reason()` is the short label used in logs and metrics.
#[derive(Debug, thiserror::Error)]
pub enum ScrapeError {
    #[error(transparent)]
    NoAddress(#[from] NoAddress),
    #[error("timeout after {0:?} waiting for the kubelet")]
    Timeout(Duration),
    #[error("TLS handshake with the kubelet failed ({}): {detail}; {}", .failure.label(), .failure.fix())]
    Tls { failure: TlsFailure, detail: String },
    #[error("cannot connect to the kubelet: {0}")]
    Connect(String),
    #[error("request failed, status: \"{0}\"")]
    HttpStatus(http::StatusCode),
    #[error("response body larger than {0} bytes")]
    BodyTooLarge(usize),
    #[error("reading the response body failed: {0}")]
    Body(String),
    #[error("decoding the {endpoint} payload failed: {error}")]
    Decode {
        endpoint: &'static str,
        error: super::decode::DecodeError,
    },
}

impl ScrapeError {
    /// `timeout|connect|tls|http_status|decode` (address problems count as `connect`).
    pub fn reason(&self) -> &'static str {
        match self {
            ScrapeError::Timeout(_) => "timeout",
            ScrapeError::Tls { .. } => "tls",
            ScrapeError::NoAddress(_) | ScrapeError::Connect(_) => "connect",
            ScrapeError::HttpStatus(_) => "http_status",
            ScrapeError::BodyTooLarge(_) | ScrapeError::Body(_) | ScrapeError::Decode { .. } => {
                "decode"
            }
        }
    }
}

impl ScrapeError {
    /// For TLS failures, which check failed: `unknown_ca`, `name_mismatch`, `expired`,
    /// `not_yet_valid`, `client_cert_rejected` or `other` (a metric label).
    pub fn tls_failure(&self) -> Option<&'static str> {
        match self {
            ScrapeError::Tls { failure, .. } => Some(failure.label()),
            _ => None,
        }
    }
}

/// A successful fetch: the raw body, which endpoint it came from, and when we asked
/// (the default sample time for series without a timestamp).
pub struct Fetched {
    pub body: Bytes,
    pub source: Source,
    pub request_time: Timestamp,
}

/// The shared kubelet client (one connection pool for all nodes).
pub struct KubeletClient {
    http: Client<Https, Empty<Bytes>>,
    cfg: KubeletClientConfig,
    /// Nodes whose kubelet answered 404 on `/metrics/resource` (auto mode uses the Summary API
    /// for them). A std Mutex: held only for a set lookup or insert, never across `.await`.
    summary_nodes: Mutex<HashSet<Arc<str>>>,
}

impl KubeletClient {
    /// Builds the pooled HTTPS client.
    pub fn new(cfg: KubeletClientConfig, tls: rustls::ClientConfig) -> Self {
        let builder = hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(tls);
        let builder = if cfg.plain_http {
            builder.https_or_http()
        } else {
            builder.https_only()
        };
        // HTTP/1.1 only: a scrape has one request per node in flight, so HTTP/2 multiplexing
        // buys nothing, while each pooled HTTP/2 connection keeps ~50 KB of stream and
        // connection buffers; at 5,000 nodes that alone was 250 MB.
        let connector = builder.enable_http1().build();
        let http = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(2)
            .build(connector);
        KubeletClient {
            http,
            cfg,
            summary_nodes: Mutex::new(HashSet::new()),
        }
    }

    fn scheme(&self) -> &'static str {
        if self.cfg.plain_http { "http" } else { "https" }
    }

    /// The per-node deadline (`--kubelet-request-timeout`).
    pub fn request_timeout(&self) -> Duration {
        self.cfg.request_timeout
    }

    /// Fetches one node's payload within the per-node deadline.
    pub async fn fetch(&self, node: &NodeInfo) -> Result<Fetched, ScrapeError> {
        let deadline = self.cfg.request_timeout;
        match tokio::time::timeout(deadline, self.fetch_inner(node)).await {
            Ok(r) => r,
            Err(_) => Err(ScrapeError::Timeout(deadline)),
        }
    }

    async fn fetch_inner(&self, node: &NodeInfo) -> Result<Fetched, ScrapeError> {
        let host = address::resolve_address(node, &self.cfg.preferred_address_types)?;
        self.remember_names(node, host);
        let port = address::resolve_port(node, self.cfg.port, self.cfg.use_node_status_port);
        let request_time = Timestamp::now();
        if self.use_summary(node) {
            let url = address::url(self.scheme(), host, port, address::SUMMARY_PATH);
            let body = self.get(&url).await?;
            return Ok(Fetched {
                body,
                source: Source::Summary,
                request_time,
            });
        }
        let path = node
            .metrics_path
            .as_deref()
            .unwrap_or(address::RESOURCE_PATH);
        let url = address::url(self.scheme(), host, port, path);
        match self.get(&url).await {
            Err(ScrapeError::HttpStatus(http::StatusCode::NOT_FOUND))
                if self.cfg.source == MetricsSource::Auto =>
            {
                tracing::info!(node = %node.name, "Kubelet has no /metrics/resource; using /stats/summary for this node.");
                self.lock_summary_nodes().insert(node.name.clone());
                let url = address::url(self.scheme(), host, port, address::SUMMARY_PATH);
                let body = self.get(&url).await?;
                Ok(Fetched {
                    body,
                    source: Source::Summary,
                    request_time,
                })
            }
            Err(e) => Err(e),
            Ok(body) => Ok(Fetched {
                body,
                source: Source::Resource,
                request_time,
            }),
        }
    }

    /// When dialling an IP, tells the verifier the node's name and hostnames.
    fn remember_names(&self, node: &NodeInfo, host: &str) {
        let Ok(ip) = host.trim_start_matches('[').trim_end_matches(']').parse() else {
            return;
        };
        let mut names: Vec<&str> = vec![&node.name];
        names.extend(
            node.addresses
                .iter()
                .filter(|(t, _)| t == "Hostname" || t == "InternalDNS" || t == "ExternalDNS")
                .map(|(_, a)| a.as_str()),
        );
        self.cfg.node_names.remember(ip, &names);
    }

    fn use_summary(&self, node: &NodeInfo) -> bool {
        match self.cfg.source {
            MetricsSource::Summary => true,
            MetricsSource::Resource => false,
            MetricsSource::Auto => self.lock_summary_nodes().contains(&node.name),
        }
    }

    fn lock_summary_nodes(&self) -> std::sync::MutexGuard<'_, HashSet<Arc<str>>> {
        self.summary_nodes.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn get(&self, url: &str) -> Result<Bytes, ScrapeError> {
        let mut req = http::Request::get(url);
        if let Some(token) = self.cfg.token.current().filter(|_| !self.cfg.plain_http) {
            req = req.header(http::header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let req = req
            .body(Empty::new())
            .map_err(|e| ScrapeError::Connect(e.to_string()))?;
        let resp = self
            .http
            .request(req)
            .await
            .map_err(classify_request_error)?;
        if resp.status() != http::StatusCode::OK {
            return Err(ScrapeError::HttpStatus(resp.status()));
        }
        let limit = self.cfg.max_body_bytes;
        let collected = Limited::new(resp.into_body(), limit)
            .collect()
            .await
            .map_err(|e| {
                if e.is::<http_body_util::LengthLimitError>() {
                    ScrapeError::BodyTooLarge(limit)
                } else {
                    ScrapeError::Body(e.to_string())
                }
            })?;
        Ok(collected.to_bytes())
    }
}

/// Tells TLS failures from plain connection failures by walking the error chain; a rustls
/// error (directly or inside an `io::Error`) says which check failed.
fn classify_request_error(err: hyper_util::client::legacy::Error) -> ScrapeError {
    let mut msg = err.to_string();
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(&err);
    let mut tls = None;
    while let Some(s) = source {
        msg = s.to_string();
        if let Some(e) = find_rustls_error(s) {
            tls = Some(TlsFailure::classify(e));
        } else if tls.is_none() && (msg.contains("certificate") || msg.contains("tls")) {
            tls = Some(TlsFailure::Other);
        }
        source = s.source();
    }
    match tls {
        Some(failure) => ScrapeError::Tls {
            failure,
            detail: msg,
        },
        None => ScrapeError::Connect(msg),
    }
}

/// The rustls error behind `err`, looking inside (possibly nested) `io::Error`s, whose
/// `source()` skips the error they wrap.
fn find_rustls_error<'a>(err: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    if let Some(e) = err.downcast_ref::<rustls::Error>() {
        return Some(e);
    }
    let inner = err.downcast_ref::<std::io::Error>()?.get_ref()?;
    find_rustls_error(inner)
}
