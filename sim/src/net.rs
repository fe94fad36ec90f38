//! Plumbing shared by the simulated kubelets and apiserver: the error type, rustls
//! configurations built from PEM, and an HTTPS accept loop (HTTP/1.1 and HTTP/2 through ALPN)
//! that stops, dropping every open connection, when its shutdown signal fires.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, combinators::BoxBody};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Boxed error of a response body.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// The response body every simulated server returns.
pub type Body = BoxBody<Bytes, BoxError>;

/// Failure to start a simulated server.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("failed to bind {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("invalid PEM for {what}: {source}")]
    Pem {
        what: &'static str,
        source: rustls_pki_types::pem::Error,
    },
    #[error("no certificate found in the PEM for {what}")]
    NoCertificate { what: &'static str },
    #[error("TLS configuration failed: {0}")]
    Tls(#[from] rustls::Error),
    #[error(transparent)]
    Pki(#[from] metrics_server::pki::PkiError),
    #[error("setup task failed: {0}")]
    Task(String),
    #[error("no node at position {position}: the workload has {nodes} nodes")]
    NoSuchNode { position: usize, nodes: usize },
    #[error("invalid metrics backend url {url:?}: {reason}")]
    BackendUrl { url: String, reason: String },
}

/// How long a client may take to finish the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Installs the ring crypto provider for this process (idempotent).
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A full in-memory body.
pub fn full_body(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never: Infallible| match never {})
        .boxed()
}

/// Certificates from a PEM bundle (at least one).
pub fn parse_certs(
    pem: &str,
    what: &'static str,
) -> Result<Vec<CertificateDer<'static>>, SimError> {
    let certs = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| SimError::Pem { what, source })?;
    if certs.is_empty() {
        return Err(SimError::NoCertificate { what });
    }
    Ok(certs)
}

fn parse_key(pem: &str, what: &'static str) -> Result<PrivateKeyDer<'static>, SimError> {
    PrivateKeyDer::from_pem_slice(pem.as_bytes()).map_err(|source| SimError::Pem { what, source })
}

/// A server configuration offering h2 and http/1.1, without client authentication.
pub fn server_tls(cert_pem: &str, key_pem: &str) -> Result<Arc<ServerConfig>, SimError> {
    install_crypto_provider();
    let mut config = ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(
            parse_certs(cert_pem, "serving certificate")?,
            parse_key(key_pem, "serving key")?,
        )?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// A serving certificate that can be replaced while the server runs (new handshakes get the
/// new one).
#[derive(Debug)]
pub struct SwappableCert {
    current: ArcSwap<CertifiedKey>,
}

impl SwappableCert {
    fn certified(cert_pem: &str, key_pem: &str) -> Result<CertifiedKey, SimError> {
        let provider = rustls::crypto::ring::default_provider();
        let certs = parse_certs(cert_pem, "serving certificate")?;
        let key = parse_key(key_pem, "serving key")?;
        Ok(CertifiedKey::from_der(certs, key, &provider)?)
    }

    /// Serves `cert_pem`/`key_pem` from the next handshake on.
    pub fn replace(&self, cert_pem: &str, key_pem: &str) -> Result<(), SimError> {
        self.current
            .store(Arc::new(Self::certified(cert_pem, key_pem)?));
        Ok(())
    }
}

impl ResolvesServerCert for SwappableCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.load_full())
    }
}

/// Like [`server_tls`], with the certificate behind a [`SwappableCert`].
pub fn server_tls_swappable(
    cert_pem: &str,
    key_pem: &str,
) -> Result<(Arc<ServerConfig>, Arc<SwappableCert>), SimError> {
    install_crypto_provider();
    let cert = Arc::new(SwappableCert {
        current: ArcSwap::from_pointee(SwappableCert::certified(cert_pem, key_pem)?),
    });
    let mut config = ServerConfig::builder()
        .with_no_client_auth()
        .with_cert_resolver(cert.clone());
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok((Arc::new(config), cert))
}

/// A client configuration trusting `ca_pem`, presenting `client` (cert, key PEM) when given.
pub fn client_tls(ca_pem: &str, client: Option<(&str, &str)>) -> Result<ClientConfig, SimError> {
    install_crypto_provider();
    let mut roots = RootCertStore::empty();
    for cert in parse_certs(ca_pem, "certificate authority")? {
        roots.add(cert)?;
    }
    let builder = ClientConfig::builder().with_root_certificates(roots);
    Ok(match client {
        Some((cert, key)) => builder.with_client_auth_cert(
            parse_certs(cert, "client certificate")?,
            parse_key(key, "client key")?,
        )?,
        None => builder.with_no_client_auth(),
    })
}

/// The TCP side of an HTTPS client, with `TCP_NODELAY` as Go's clients (kube-aggregator,
/// client-go) have it: an HTTP/2 request written while a WINDOW_UPDATE is unacknowledged
/// would otherwise wait for the server's delayed ACK (~40 ms).
pub fn tcp_connector() -> hyper_util::client::legacy::connect::HttpConnector {
    let mut http = hyper_util::client::legacy::connect::HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http
}

/// Binds a TCP listener, mapping the error to [`SimError::Bind`].
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, SimError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| SimError::Bind { addr, source })
}

/// Serves HTTPS on `listener` until `shutdown` turns true (or its sender is dropped); every
/// connection, including requests still in progress, is dropped then.
pub fn spawn_https<S, F>(
    listener: TcpListener,
    tls: Arc<ServerConfig>,
    service: S,
    shutdown: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()>
where
    S: Fn(Request<Incoming>) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Result<Response<Body>, Infallible>> + Send + 'static,
{
    spawn_https_pausable(listener, tls, service, shutdown, None)
}

/// How many times, [`REBIND_PAUSE`] apart, a paused server tries to bind its address again.
const REBIND_ATTEMPTS: u32 = 50;
const REBIND_PAUSE: Duration = Duration::from_millis(100);

/// Like [`spawn_https`], and while `paused` is true the server is down: the listener is
/// closed (connections are refused) and every open connection dropped; when it turns false,
/// the same address is bound again (a stopped process coming back).
pub fn spawn_https_pausable<S, F>(
    listener: TcpListener,
    tls: Arc<ServerConfig>,
    service: S,
    shutdown: watch::Receiver<bool>,
    paused: Option<watch::Receiver<bool>>,
) -> tokio::task::JoinHandle<()>
where
    S: Fn(Request<Incoming>) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Result<Response<Body>, Infallible>> + Send + 'static,
{
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    tokio::spawn(async move {
        let mut stop = shutdown.clone();
        let mut paused = paused;
        let mut listener = listener;
        loop {
            let addr = listener.local_addr();
            // The connections accepted while up; dropped when the server goes down.
            let (up, up_rx) = watch::channel(true);
            let until = Until {
                shutdown: shutdown.clone(),
                up: up_rx,
            };
            let went_down = tokio::select! {
                () = accept_loop(listener, &acceptor, &service, &until) => false,
                _ = stopped(&mut stop) => return,
                () = wait_until(paused.as_mut(), true) => true,
            };
            let _ = up.send(false);
            if !went_down {
                return;
            }
            tokio::select! {
                () = wait_until(paused.as_mut(), false) => {}
                _ = stopped(&mut stop) => return,
            }
            let Ok(addr) = addr else { return };
            match rebind(addr).await {
                Some(again) => listener = again,
                None => return tracing::warn!(%addr, "could not listen again after a pause"),
            }
        }
    })
}

/// What ends a connection: the server's shutdown, or the server going down.
struct Until {
    shutdown: watch::Receiver<bool>,
    up: watch::Receiver<bool>,
}

/// Accepts connections on `listener` (forever), each served until `until` says stop.
async fn accept_loop<S, F>(
    listener: TcpListener,
    acceptor: &tokio_rustls::TlsAcceptor,
    service: &S,
    until: &Until,
) where
    S: Fn(Request<Incoming>) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Result<Response<Body>, Infallible>> + Send + 'static,
{
    loop {
        let Ok((tcp, peer)) = listener.accept().await else {
            // Out of file descriptors or similar: back off instead of spinning.
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let (acceptor, service) = (acceptor.clone(), service.clone());
        let (mut stop, mut up) = (until.shutdown.clone(), until.up.clone());
        tokio::spawn(async move {
            tokio::select! {
                () = serve_connection(acceptor, tcp, peer, service) => {}
                _ = stopped(&mut stop) => {}
                () = wait_until(Some(&mut up), false) => {}
            }
        });
    }
}

/// Completes once `flag` holds `value`; never when there is no flag (or its sender is gone).
async fn wait_until(flag: Option<&mut watch::Receiver<bool>>, value: bool) {
    if let Some(rx) = flag
        && rx.wait_for(|v| *v == value).await.is_ok()
    {
        return;
    }
    std::future::pending().await
}

/// Binds `addr` again, retrying while the old socket is still being released.
async fn rebind(addr: SocketAddr) -> Option<TcpListener> {
    for _ in 0..REBIND_ATTEMPTS {
        if let Ok(listener) = TcpListener::bind(addr).await {
            return Some(listener);
        }
        tokio::time::sleep(REBIND_PAUSE).await;
    }
    None
}

async fn stopped(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|stop| *stop).await;
}

async fn serve_connection<S, F>(
    acceptor: tokio_rustls::TlsAcceptor,
    tcp: tokio::net::TcpStream,
    peer: SocketAddr,
    service: S,
) where
    S: Fn(Request<Incoming>) -> F + Send + Sync + 'static,
    F: Future<Output = Result<Response<Body>, Infallible>> + Send + 'static,
{
    // As Go's servers (kube-apiserver, the kubelet) do: a response's second write is not held
    // back for the client's delayed ACK (~40 ms).
    let _ = tcp.set_nodelay(true);
    let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
        Ok(Ok(tls)) => tls,
        Ok(Err(e)) => return tracing::debug!(%peer, error = %e, "TLS handshake failed"),
        Err(_) => return tracing::debug!(%peer, "TLS handshake timed out"),
    };
    let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    let service = hyper::service::service_fn(service);
    if let Err(e) = builder.serve_connection(TokioIo::new(tls), service).await {
        tracing::debug!(%peer, error = %e, "connection ended with an error");
    }
}
