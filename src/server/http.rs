//! The accept loop: every accepted socket is served by `connection::serve` (TLS, HTTP/1.1 or
//! HTTP/2, the deadlines of each phase), within the cap of the connection table. On shutdown
//! the loop stops accepting and open connections get a bounded drain. Each request goes to
//! [`Router`] with what the connection knows about its peer ([`ConnInfo`]).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::auth::ClientChain;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

use super::connection::activity::Activity;
use super::connection::head_budget::HeadBudget;
use super::connection::table::ConnectionTable;
use super::connection::{self, Served};
use crate::config::ConnectionLimits;

/// How long the accept loop pauses after a failed accept (out of descriptors, say).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);
/// At most one log line per this period about failed accepts.
const ACCEPT_LOG_PERIOD: Duration = Duration::from_secs(10);
/// How often the drain checks whether every connection has closed.
const DRAIN_POLL: Duration = Duration::from_millis(20);

/// What one connection knows about its peer.
#[derive(Clone, Debug, Default)]
pub struct ConnInfo {
    pub peer: Option<SocketAddr>,
    /// The client certificate chain (leaf first), as presented; not yet verified against any
    /// CA (the authenticators do that per request).
    pub client_certs: Option<ClientChain>,
    /// The connection's state; the router marks it trusted once a certificate authenticates.
    pub activity: Arc<Activity>,
}

/// Something that answers requests.
pub trait Router: Send + Sync + 'static {
    fn route(
        &self,
        req: http::request::Parts,
        conn: &ConnInfo,
    ) -> impl Future<Output = http::Response<super::response_body::ResponseBody>> + Send;
}

/// Connection settings (`--disable-http2-serving`, `--http2-max-streams-per-connection`, the
/// connection deadlines and cap) and how long open connections may take to drain after
/// shutdown.
#[derive(Copy, Clone, Debug)]
pub struct ServeOptions {
    pub drain: Duration,
    pub http2: bool,
    pub http2_max_streams: u32,
    pub limits: ConnectionLimits,
    /// Bytes of large request heads all connections may hold at once (see `head_budget`).
    pub head_budget_bytes: usize,
}

/// Serves `router` on `listener` until `shutdown` completes, then drains open connections
/// (bounded by `opts.drain`).
pub async fn serve<R: Router>(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    router: Arc<R>,
    shutdown: impl Future<Output = ()>,
    opts: ServeOptions,
) {
    let (stop, stopping) = watch::channel(false);
    let table = ConnectionTable::new(opts.limits.max_connections);
    let served = Arc::new(Served {
        acceptor: TlsAcceptor::from(tls),
        router,
        table: table.clone(),
        limits: opts.limits,
        http2: opts.http2,
        http2_max_streams: opts.http2_max_streams,
        stopping,
        drain: opts.drain,
        head_budget: Arc::new(HeadBudget::new(opts.head_budget_bytes)),
    });
    let mut failures = AcceptFailures::default();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(err) => {
                    failures.record(&err, table.len());
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        tokio::spawn(connection::serve(tcp, peer, served.clone()));
    }
    drop(listener);
    let _ = stop.send(true);
    let drained = async {
        while !table.is_empty() {
            tokio::time::sleep(DRAIN_POLL).await;
        }
    };
    if tokio::time::timeout(opts.drain, drained).await.is_err() {
        tracing::info!(open = table.len(), "Shutdown drain timed out.");
    }
}

/// Failed accepts, logged at most once per [`ACCEPT_LOG_PERIOD`] with how many there were.
#[derive(Default)]
struct AcceptFailures {
    since_log: u64,
    last_log: Option<Instant>,
}

impl AcceptFailures {
    fn record(&mut self, err: &std::io::Error, open: usize) {
        self.since_log += 1;
        let due = self
            .last_log
            .is_none_or(|t| t.elapsed() >= ACCEPT_LOG_PERIOD);
        if due {
            tracing::warn!(error = %err, failures = self.since_log, open_connections = open, "Accepting connections failed.");
            self.since_log = 0;
            self.last_log = Some(Instant::now());
        }
    }
}
