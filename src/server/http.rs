//! The TLS accept loop and HTTP plumbing: rustls handshake, HTTP/1.1 or h2 (ALPN), bounded
//! headers, header-read timeout, graceful drain on shutdown. Each request goes to [`Router`]
//! with what the connection knows about its peer ([`ConnInfo`]: address and the client
//! certificate chain presented in the handshake).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use rustls::pki_types::CertificateDer;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// Largest request head we read (request line plus headers).
pub const MAX_HEADER_BYTES: usize = 64 * 1024;
/// How long a client may take to send its request head.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a TLS handshake may take.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// What one connection knows about its peer.
#[derive(Clone, Debug, Default)]
pub struct ConnInfo {
    pub peer: Option<SocketAddr>,
    /// The client certificate chain (leaf first), as presented; not yet verified against any
    /// CA (the authenticators do that per request).
    pub client_certs: Option<Vec<CertificateDer<'static>>>,
}

/// Something that answers requests.
pub trait Router: Send + Sync + 'static {
    fn route(
        &self,
        req: http::request::Parts,
        conn: &ConnInfo,
    ) -> impl Future<Output = http::Response<super::body::ResponseBody>> + Send;
}

/// Connection settings (`--disable-http2-serving`, `--http2-max-streams-per-connection`) and
/// how long open connections may take to drain after shutdown.
#[derive(Copy, Clone, Debug)]
pub struct ServeOptions {
    pub drain: Duration,
    pub http2: bool,
    pub http2_max_streams: u32,
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
    let acceptor = TlsAcceptor::from(tls);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(err) => {
                    tracing::warn!(error = %err, "Accept failed.");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let acceptor = acceptor.clone();
        let router = router.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(s)) => s,
                Ok(Err(err)) => {
                    tracing::debug!(%peer, error = %err, "TLS handshake failed.");
                    return;
                }
                Err(_) => return,
            };
            let conn = Arc::new(ConnInfo {
                peer: Some(peer),
                client_certs: tls.get_ref().1.peer_certificates().map(<[_]>::to_vec),
            });
            let service = service_fn(move |req: http::Request<Incoming>| {
                let (router, conn) = (router.clone(), conn.clone());
                async move {
                    let (parts, _body) = req.into_parts();
                    Ok::<_, std::convert::Infallible>(router.route(parts, &conn).await)
                }
            });
            let mut builder = auto::Builder::new(TokioExecutor::new());
            builder
                .http1()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT)
                .max_buf_size(MAX_HEADER_BYTES);
            builder
                .http2()
                .max_header_list_size(MAX_HEADER_BYTES as u32)
                .max_concurrent_streams(opts.http2_max_streams);
            let builder = if opts.http2 {
                builder
            } else {
                builder.http1_only()
            };
            let conn = builder.serve_connection(TokioIo::new(tls), service);
            if let Err(err) = watcher.watch(conn.into_owned()).await {
                tracing::debug!(%peer, error = %err, "Connection ended with an error.");
            }
        });
    }
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(opts.drain) => tracing::info!("Shutdown drain timed out."),
    }
}
