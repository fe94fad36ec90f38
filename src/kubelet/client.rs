//! One HTTPS GET per node per cycle over a kept-alive HTTP/1.1 connection ([`super::http1`]),
//! bearer token, per-request deadline (connecting included), capped body. Port of
//! metrics-server `pkg/scraper/client/resource/client.go`, plus the `/stats/summary` fallback.
//!
//! With `ephemeral-storage` served (`--extra-resources`) and `/metrics/resource` the source,
//! a second GET of the whole `/stats/summary` follows on the same connection, within the same
//! per-node deadline; its failure is carried in [`Fetched::storage`] and never fails the node.
//! Without it, nothing else is asked.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;

use super::address::{self, NoAddress};
use super::decode::{ResponseTimes, Source};
use super::http1::{Get, Http1Client, Http1Error};
use super::token::TokenSource;
use super::verify::{NodeNames, TlsFailure};
use crate::cluster::NodeInfo;
use crate::config::MetricsSource;
use crate::time::Timestamp;
use crate::usage::ExtraResources;

/// Settings of the kubelet client (from flags).
pub struct KubeletClientConfig {
    pub port: u16,
    pub use_node_status_port: bool,
    pub preferred_address_types: Vec<String>,
    pub request_timeout: Duration,
    pub max_body_bytes: usize,
    pub source: MetricsSource,
    /// Resources served beyond CPU and memory (`--extra-resources`).
    pub extra_resources: ExtraResources,
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

/// A successful fetch: the raw body, which endpoint it came from, when we asked (the default
/// sample time for series without a timestamp) and when the whole body had arrived.
pub struct Fetched {
    pub body: Bytes,
    pub source: Source,
    pub times: ResponseTimes,
    /// The whole Summary API fetched beside `/metrics/resource` for ephemeral storage, or why
    /// it could not be; `None` when not asked for.
    pub storage: Option<Result<StorageFetched, ScrapeError>>,
}

/// The Summary API body fetched for ephemeral storage.
pub struct StorageFetched {
    pub body: Bytes,
    pub times: ResponseTimes,
}

impl Fetched {
    /// A body that has just arrived for a request sent at `requested`.
    fn arrived(body: Bytes, source: Source, requested: Timestamp) -> Self {
        Fetched {
            body,
            source,
            times: times_since(requested),
            storage: None,
        }
    }
}

/// The times of a response that has just arrived for a request sent at `requested`.
fn times_since(requested: Timestamp) -> ResponseTimes {
    ResponseTimes {
        requested,
        received: Timestamp::now(),
    }
}

/// The shared kubelet client (one connection pool for all nodes).
pub struct KubeletClient {
    http: Http1Client,
    cfg: KubeletClientConfig,
    /// Nodes whose kubelet answered 404 on `/metrics/resource` (auto mode uses the Summary API
    /// for them). A std Mutex: held only for a set lookup or insert, never across `.await`.
    summary_nodes: Mutex<HashSet<Arc<str>>>,
}

impl KubeletClient {
    /// Builds the client: TLS with `tls`, or plain TCP with `plain_http`.
    pub fn new(cfg: KubeletClientConfig, tls: rustls::ClientConfig) -> Self {
        // HTTP/1.1 only: a scrape has one request per node in flight, so HTTP/2 multiplexing
        // buys nothing, while each pooled HTTP/2 connection keeps ~50 KB of stream and
        // connection buffers; at 5,000 nodes that alone was 250 MB.
        let http = Http1Client::new((!cfg.plain_http).then_some(tls));
        KubeletClient {
            http,
            cfg,
            summary_nodes: Mutex::new(HashSet::new()),
        }
    }

    /// The per-node deadline (`--kubelet-request-timeout`).
    pub fn request_timeout(&self) -> Duration {
        self.cfg.request_timeout
    }

    /// The resources served beyond CPU and memory.
    pub fn extra_resources(&self) -> ExtraResources {
        self.cfg.extra_resources
    }

    /// Fetches one node's payload within the per-node deadline, and the Summary API for
    /// ephemeral storage when it is served and the payload does not have it (within what is
    /// left of the same deadline).
    pub async fn fetch(&self, node: &NodeInfo) -> Result<Fetched, ScrapeError> {
        let timeout = self.cfg.request_timeout;
        let deadline = tokio::time::Instant::now() + timeout;
        let mut fetched = match tokio::time::timeout_at(deadline, self.fetch_inner(node)).await {
            Ok(r) => r?,
            Err(_) => return Err(ScrapeError::Timeout(timeout)),
        };
        if self.cfg.extra_resources.ephemeral_storage && fetched.source == Source::Resource {
            let storage = tokio::time::timeout_at(deadline, self.fetch_storage(node)).await;
            fetched.storage = Some(storage.unwrap_or(Err(ScrapeError::Timeout(timeout))));
        }
        Ok(fetched)
    }

    /// The whole Summary API of `node`, for its ephemeral storage.
    async fn fetch_storage(&self, node: &NodeInfo) -> Result<StorageFetched, ScrapeError> {
        let host = address::resolve_address(node, &self.cfg.preferred_address_types)?;
        let port = address::resolve_port(node, self.cfg.port, self.cfg.use_node_status_port);
        let requested = Timestamp::now();
        let target = Source::Summary.request_target_with(self.cfg.extra_resources);
        let body = self.get(host, port, target).await?;
        Ok(StorageFetched {
            body,
            times: times_since(requested),
        })
    }

    async fn fetch_inner(&self, node: &NodeInfo) -> Result<Fetched, ScrapeError> {
        let host = address::resolve_address(node, &self.cfg.preferred_address_types)?;
        let port = address::resolve_port(node, self.cfg.port, self.cfg.use_node_status_port);
        let request_time = Timestamp::now();
        let summary_target = Source::Summary.request_target_with(self.cfg.extra_resources);
        if self.use_summary(node) {
            let body = self.get(host, port, summary_target).await?;
            return Ok(Fetched::arrived(body, Source::Summary, request_time));
        }
        let path = node
            .metrics_path
            .as_deref()
            .unwrap_or(Source::Resource.request_target());
        match self.get(host, port, path).await {
            Err(ScrapeError::HttpStatus(http::StatusCode::NOT_FOUND))
                if self.cfg.source == MetricsSource::Auto =>
            {
                tracing::info!(
                    node = %node.name,
                    "Kubelet has no {}; using {} for this node.",
                    Source::Resource.path(),
                    Source::Summary.path()
                );
                self.lock_summary_nodes().insert(node.name.clone());
                let body = self.get(host, port, summary_target).await?;
                Ok(Fetched::arrived(body, Source::Summary, request_time))
            }
            Err(e) => Err(e),
            Ok(body) => Ok(Fetched::arrived(body, Source::Resource, request_time)),
        }
    }

    /// Tells the TLS verifier the name and hostnames of each of `nodes` dialled at an IP, in
    /// place of those it knew: a kubelet whose certificate names only its host is verified
    /// by them. Called with the nodes to scrape whenever they or their addresses change, not
    /// on every fetch (at 200 nodes, building the names per fetch was 3.6 % of the scrape
    /// thread's time).
    pub fn know_nodes<'n>(&self, nodes: impl IntoIterator<Item = &'n NodeInfo>) {
        let dialled_ips = nodes.into_iter().filter_map(|node| {
            let host = address::resolve_address(node, &self.cfg.preferred_address_types).ok()?;
            let ip = address::unbracketed(host).parse().ok()?;
            Some((ip, address::certificate_names(node)))
        });
        self.cfg.node_names.replace_all(dialled_ips);
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

    async fn get(&self, host: &str, port: u16, path: &str) -> Result<Bytes, ScrapeError> {
        let token = self.cfg.token.current().filter(|_| !self.cfg.plain_http);
        let get = Get {
            host,
            port,
            path,
            bearer: token.as_deref(),
            max_body_bytes: self.cfg.max_body_bytes,
        };
        self.http.get(&get).await.map_err(scrape_error)
    }
}

/// Classifies a failed GET. A rustls error (inside the I/O error of the handshake, or of a
/// later read when the kubelet refuses our client certificate after the handshake) says
/// which TLS check failed.
fn scrape_error(err: Http1Error) -> ScrapeError {
    if let Some(rustls) = err.io_error().and_then(|e| find_rustls_error(e)) {
        return ScrapeError::Tls {
            failure: TlsFailure::classify(rustls),
            detail: rustls.to_string(),
        };
    }
    match err {
        Http1Error::Handshake(e) => ScrapeError::Tls {
            failure: TlsFailure::Other,
            detail: e.to_string(),
        },
        Http1Error::Status(code) => match http::StatusCode::from_u16(code) {
            Ok(status) => ScrapeError::HttpStatus(status),
            Err(_) => ScrapeError::Connect(format!("invalid status {code}")),
        },
        Http1Error::BodyTooLarge(limit) => ScrapeError::BodyTooLarge(limit),
        Http1Error::BodyRead(_) | Http1Error::BodyTruncated(_) | Http1Error::Chunked(_) => {
            ScrapeError::Body(err.to_string())
        }
        _ => ScrapeError::Connect(err.to_string()),
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
