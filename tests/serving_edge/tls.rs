//! Client connections to the server under test: TLS with a chosen ALPN protocol, with or
//! without the aggregator's front-proxy certificate, and one kept-alive HTTP/1.1 or HTTP/2
//! connection to send requests on (what the aggregator and the kubelet's probes hold).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::ClientConfig;
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

/// What the client asks for in ALPN.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Alpn {
    Http1,
    Http2,
}

impl Alpn {
    pub fn label(self) -> &'static str {
        match self {
            Alpn::Http1 => "HTTP/1.1",
            Alpn::Http2 => "HTTP/2",
        }
    }
}

/// TLS client settings for one peer: its CA, and the client certificate to present.
#[derive(Clone)]
pub struct Tls {
    http1: Arc<ClientConfig>,
    http2: Arc<ClientConfig>,
}

impl Tls {
    /// Trusts `ca_pem`; presents `identity` (certificate and key PEM) when given.
    pub fn new(ca_pem: &str, identity: Option<(&str, &str)>) -> Self {
        let base = metrics_server_sim::net::client_tls(ca_pem, identity).expect("client TLS");
        let with = |alpn: &[u8]| {
            let mut c = base.clone();
            c.alpn_protocols = vec![alpn.to_vec()];
            Arc::new(c)
        };
        Tls {
            http1: with(b"http/1.1"),
            http2: with(b"h2"),
        }
    }

    /// A TLS connection to `addr` that negotiated `alpn`.
    pub async fn connect(
        &self,
        addr: SocketAddr,
        alpn: Alpn,
    ) -> std::io::Result<TlsStream<TcpStream>> {
        let tcp = TcpStream::connect(addr).await?;
        tcp.set_nodelay(true)?;
        self.handshake(tcp, alpn).await
    }

    /// The TLS handshake over an already connected socket.
    pub async fn handshake(
        &self,
        tcp: TcpStream,
        alpn: Alpn,
    ) -> std::io::Result<TlsStream<TcpStream>> {
        let config = match alpn {
            Alpn::Http1 => self.http1.clone(),
            Alpn::Http2 => self.http2.clone(),
        };
        let name = ServerName::try_from("localhost").expect("server name");
        TlsConnector::from(config).connect(name, tcp).await
    }
}

/// One kept-alive connection that requests are sent on, one at a time or concurrently
/// (HTTP/2).
pub enum Conn {
    Http1(hyper::client::conn::http1::SendRequest<Empty<Bytes>>),
    Http2(hyper::client::conn::http2::SendRequest<Empty<Bytes>>),
}

/// A response read whole.
pub struct Answer {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: Bytes,
    /// From sending the request to its last body byte.
    pub elapsed: Duration,
}

/// How long any single request of the harness may take before it counts as failed.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

impl Conn {
    /// Connects and starts the HTTP connection (its driver runs as a task).
    pub async fn open(tls: &Tls, addr: SocketAddr, alpn: Alpn) -> anyhow::Result<Conn> {
        let io = TokioIo::new(tls.connect(addr, alpn).await?);
        Ok(match alpn {
            Alpn::Http1 => {
                let (send, conn) = hyper::client::conn::http1::handshake(io).await?;
                tokio::spawn(conn);
                Conn::Http1(send)
            }
            Alpn::Http2 => {
                let (send, conn) =
                    hyper::client::conn::http2::handshake(TokioExecutor::new(), io).await?;
                tokio::spawn(conn);
                Conn::Http2(send)
            }
        })
    }

    /// Another handle on the same HTTP/2 connection, for concurrent streams.
    pub fn stream(&self) -> Option<Conn> {
        match self {
            Conn::Http1(_) => None,
            Conn::Http2(send) => Some(Conn::Http2(send.clone())),
        }
    }

    /// Sends `req` and reads the whole response, within [`REQUEST_TIMEOUT`].
    pub async fn send(&mut self, req: http::Request<Empty<Bytes>>) -> anyhow::Result<Answer> {
        tokio::time::timeout(REQUEST_TIMEOUT, self.send_unbounded(req))
            .await
            .map_err(|_| anyhow::anyhow!("no answer within {REQUEST_TIMEOUT:?}"))?
    }

    async fn send_unbounded(&mut self, req: http::Request<Empty<Bytes>>) -> anyhow::Result<Answer> {
        let started = Instant::now();
        let resp = match self {
            Conn::Http1(send) => {
                // Origin form on the request line, as HTTP/1.1 clients send it.
                let mut req = req;
                let origin = req
                    .uri()
                    .path_and_query()
                    .map_or("/", |p| p.as_str())
                    .parse()?;
                *req.uri_mut() = origin;
                send.ready().await?;
                send.send_request(req).await?
            }
            Conn::Http2(send) => {
                send.ready().await?;
                send.send_request(req).await?
            }
        };
        let (parts, body) = resp.into_parts();
        let body = body.collect().await?.to_bytes();
        Ok(Answer {
            status: parts.status.as_u16(),
            headers: parts.headers,
            body,
            elapsed: started.elapsed(),
        })
    }
}

/// A request for `path` with `headers`: the URI in absolute form (HTTP/2 takes `:scheme` and
/// `:authority` from it; [`Conn::send`] sends the origin form on HTTP/1.1) and a Host header.
pub fn request(
    method: http::Method,
    path: &str,
    headers: &[(&str, &[u8])],
) -> http::Request<Empty<Bytes>> {
    let mut req = http::Request::builder()
        .method(method)
        .uri(format!("https://localhost{path}"))
        .header(http::header::HOST, "localhost");
    for (name, value) in headers {
        req = req.header(
            *name,
            http::HeaderValue::from_bytes(value).expect("header value"),
        );
    }
    req.body(Empty::new()).expect("request")
}

/// A GET for `path` with `headers`.
pub fn get(path: &str, headers: &[(&str, &[u8])]) -> http::Request<Empty<Bytes>> {
    request(http::Method::GET, path, headers)
}
