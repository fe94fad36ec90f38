//! The connection layer alone (`server::http::serve` with a small router, real TLS on
//! loopback): every phase of a connection has a deadline, the connection cap admits newcomers
//! without dropping the aggregator, HEAD has no body on HTTP/2, and request heads up to the
//! apiserver's 1 MiB are read whatever their number of lines.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::{TokioExecutor, TokioIo};
use metrics_server::config::{ConnectionLimits, TlsMinVersion, TlsPolicy};
use metrics_server::pki::CertAuthority;
use metrics_server::server::connection::head_budget::DEFAULT_BUDGET_BYTES;
use metrics_server::server::http::{ConnInfo, Router, ServeOptions, serve as serve_on};
use metrics_server::server::response_body::ResponseBody;
use metrics_server::server::serving;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

/// Size of `/big`: more than any socket, TLS and flow-control buffer holds.
const BIG: usize = 16 * 1024 * 1024;

/// Deadlines short enough for a test, long enough for a loaded machine to meet.
fn limits() -> ConnectionLimits {
    ConnectionLimits {
        read_header: Duration::from_millis(400),
        http2_preface: Duration::from_millis(400),
        idle: Duration::from_millis(1500),
        write_stall: Duration::from_millis(600),
        max_connections: 1000,
    }
}

/// Everything a deadline can take on a loaded CI machine beyond its value.
const SLACK: Duration = Duration::from_secs(3);

/// `/big`: 16 MiB; `/trust`: marks the connection trusted; anything else: how many headers.
struct Echo;

impl Router for Echo {
    async fn route(
        &self,
        req: http::request::Parts,
        conn: &ConnInfo,
    ) -> http::Response<ResponseBody> {
        let body: ResponseBody = match req.uri.path() {
            "/big" => Bytes::from(vec![b'x'; BIG]).into(),
            "/trust" => {
                conn.activity.mark_trusted();
                "trusted".to_string().into()
            }
            _ => format!("{} headers", req.headers.len()).into(),
        };
        http::Response::new(body)
    }
}

struct Served {
    addr: SocketAddr,
    tls: Arc<rustls::ClientConfig>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

async fn serve(limits: ConnectionLimits) -> Served {
    serve_with_head_budget(limits, DEFAULT_BUDGET_BYTES).await
}

async fn serve_with_head_budget(limits: ConnectionLimits, head_budget_bytes: usize) -> Served {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let ca = CertAuthority::new("edge-test-ca").unwrap();
    let pair = ca
        .issue_server("server", &["localhost"], &["127.0.0.1".parse().unwrap()])
        .unwrap();
    let policy = TlsPolicy {
        min_version: TlsMinVersion::Tls12,
        tls12_suites: Vec::new(),
    };
    let config =
        serving::server_config(&policy, serving::ServingCert::new(&pair).unwrap()).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let opts = ServeOptions {
        drain: Duration::from_secs(1),
        http2: true,
        http2_max_streams: 100,
        limits,
        head_budget_bytes,
    };
    tokio::spawn(serve_on(
        listener,
        config,
        Arc::new(Echo),
        async move {
            let _ = stopped.await;
        },
        opts,
    ));
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca.cert_pem().as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let tls = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    Served {
        addr,
        tls: Arc::new(tls),
        stop: Some(stop),
    }
}

impl Served {
    async fn tls(&self, alpn: &[u8]) -> TlsStream<TcpStream> {
        let mut config = (*self.tls).clone();
        config.alpn_protocols = vec![alpn.to_vec()];
        let tcp = TcpStream::connect(self.addr).await.unwrap();
        let name = ServerName::try_from("localhost").unwrap();
        tokio_rustls::TlsConnector::from(Arc::new(config))
            .connect(name, tcp)
            .await
            .unwrap()
    }

    async fn http1(&self) -> hyper::client::conn::http1::SendRequest<Empty<Bytes>> {
        let io = TokioIo::new(self.tls(b"http/1.1").await);
        let (sender, conn) = hyper::client::conn::http1::handshake(io).await.unwrap();
        tokio::spawn(conn);
        sender
    }

    async fn http2(&self) -> hyper::client::conn::http2::SendRequest<Empty<Bytes>> {
        let io = TokioIo::new(self.tls(b"h2").await);
        let (sender, conn) = hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
            .await
            .unwrap();
        tokio::spawn(conn);
        sender
    }
}

fn get(path: &str) -> http::Request<Empty<Bytes>> {
    http::Request::get(path).body(Empty::new()).unwrap()
}

/// GETs `path` on a kept-alive HTTP/1.1 connection and reads the whole answer.
async fn fetch(
    sender: &mut hyper::client::conn::http1::SendRequest<Empty<Bytes>>,
    path: &str,
) -> http::StatusCode {
    let r = sender.send_request(get(path)).await.unwrap();
    let status = r.status();
    r.into_body().collect().await.unwrap();
    status
}

/// How long until the peer closes `stream` (EOF or reset), reading and discarding what comes.
async fn closed_after<S: tokio::io::AsyncRead + Unpin>(
    stream: &mut S,
    within: Duration,
) -> Duration {
    let start = Instant::now();
    let mut buf = vec![0u8; 64 * 1024];
    let read_all = async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    tokio::time::timeout(within, read_all)
        .await
        .expect("the server keeps the connection open");
    start.elapsed()
}

#[tokio::test]
async fn a_client_that_never_sends_its_hello_is_closed() {
    let s = serve(limits()).await;
    let mut tcp = TcpStream::connect(s.addr).await.unwrap();
    closed_after(&mut tcp, limits().read_header + SLACK).await;
}

#[tokio::test]
async fn a_finished_handshake_followed_by_silence_is_closed() {
    let s = serve(limits()).await;
    for alpn in [&b"http/1.1"[..], b"h2"] {
        let mut tls = s.tls(alpn).await;
        closed_after(&mut tls, limits().read_header + SLACK).await;
    }
}

#[tokio::test]
async fn a_partial_request_head_is_closed_at_the_header_deadline() {
    let s = serve(limits()).await;
    let mut tls = s.tls(b"http/1.1").await;
    tls.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    tls.flush().await.unwrap();
    closed_after(&mut tls, limits().read_header + SLACK).await;
}

#[tokio::test]
async fn a_partial_http2_preface_is_closed() {
    let s = serve(limits()).await;
    let mut tls = s.tls(b"h2").await;
    tls.write_all(b"PRI * HTTP/2.0\r\n").await.unwrap();
    tls.flush().await.unwrap();
    closed_after(&mut tls, limits().http2_preface + SLACK).await;
}

#[tokio::test]
async fn a_kept_alive_http1_connection_lives_past_the_header_deadline_then_idles_out() {
    let s = serve(limits()).await;
    let mut sender = s.http1().await;
    fetch(&mut sender, "/").await;
    // Longer than the header deadline, shorter than the idle one.
    tokio::time::sleep(limits().read_header * 2).await;
    sender.ready().await.unwrap();
    assert_eq!(fetch(&mut sender, "/").await, 200);
    let start = Instant::now();
    let closed = async {
        while sender.ready().await.is_ok() && !sender.is_closed() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(limits().idle + SLACK, closed)
        .await
        .expect("an idle kept-alive connection is closed");
    assert!(start.elapsed() >= limits().idle - Duration::from_millis(100));
}

#[tokio::test]
async fn an_http2_connection_without_streams_gets_goaway_after_the_idle_timeout() {
    let s = serve(limits()).await;
    let io = TokioIo::new(s.tls(b"h2").await);
    let (mut sender, conn) = hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
        .await
        .unwrap();
    let conn = tokio::spawn(conn);
    let r = sender.send_request(get("/")).await.unwrap();
    r.into_body().collect().await.unwrap();
    let start = Instant::now();
    tokio::time::timeout(limits().idle + SLACK, conn)
        .await
        .expect("the server ends an idle HTTP/2 connection")
        .unwrap()
        .expect("with a GOAWAY, not an error");
    assert!(start.elapsed() >= limits().idle - Duration::from_millis(100));
}

#[tokio::test]
async fn an_http1_client_that_does_not_read_is_closed_after_the_write_stall() {
    let s = serve(limits()).await;
    let mut tls = s.tls(b"http/1.1").await;
    tls.write_all(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    tls.flush().await.unwrap();
    // Never read until the server gives up; then what arrived is far less than the body.
    tokio::time::sleep(limits().write_stall + SLACK).await;
    let mut got = 0usize;
    let mut buf = vec![0u8; 64 * 1024];
    let read_all = async {
        loop {
            match tls.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got += n,
            }
        }
    };
    tokio::time::timeout(SLACK, read_all)
        .await
        .expect("the stalled connection was closed");
    assert!(got < BIG, "read {got} bytes: the whole body was sent");
}

#[tokio::test]
async fn an_http2_client_that_does_not_read_is_closed_after_the_write_stall() {
    let s = serve(limits()).await;
    let io = TokioIo::new(s.tls(b"h2").await);
    let (mut sender, conn) = hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
        .await
        .unwrap();
    let conn = tokio::spawn(conn);
    // Responses whose bodies are never read: the client grants no more window.
    let mut unread = Vec::new();
    for _ in 0..4 {
        unread.push(sender.send_request(get("/big")).await.unwrap());
    }
    tokio::time::timeout(limits().write_stall + SLACK, conn)
        .await
        .expect("the server closes a connection whose responses make no progress")
        .unwrap()
        .ok();
    drop(unread);
}

#[tokio::test]
async fn at_the_cap_a_newcomer_gets_in_and_the_trusted_connection_stays() {
    let mut l = limits();
    l.max_connections = 3;
    l.idle = Duration::from_secs(60);
    let s = serve(l).await;
    let mut trusted = s.http1().await;
    fetch(&mut trusted, "/trust").await;
    let mut oldest = s.http1().await;
    fetch(&mut oldest, "/").await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    let mut newer = s.http1().await;
    fetch(&mut newer, "/").await;
    // The table is full: a newcomer (a health probe, say) is served all the same.
    let mut probe = s.http1().await;
    assert_eq!(fetch(&mut probe, "/healthz").await, 200);
    // The oldest untrusted connection made room; the trusted one, older still, did not.
    let closed = async {
        while !oldest.is_closed() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(SLACK, closed)
        .await
        .expect("the longest-idle untrusted connection is closed");
    assert!(!trusted.is_closed());
    assert_eq!(fetch(&mut trusted, "/").await, 200);
    assert!(!newer.is_closed());
}

#[tokio::test]
async fn head_has_the_length_and_no_body_on_both_protocols() {
    let s = serve(limits()).await;
    let head = || http::Request::head("/big").body(Empty::new()).unwrap();
    let mut h2 = s.http2().await;
    let r = h2.send_request(head()).await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()[http::header::CONTENT_LENGTH], BIG.to_string());
    let body = r.into_body().collect().await.expect("no protocol error");
    assert!(body.to_bytes().is_empty());
    let mut h1 = s.http1().await;
    let r = h1.send_request(head()).await.unwrap();
    assert_eq!(r.headers()[http::header::CONTENT_LENGTH], BIG.to_string());
    assert!(r.into_body().collect().await.unwrap().to_bytes().is_empty());
    // The connection is still in step: the next request gets its own answer.
    let r = h1.send_request(get("/")).await.unwrap();
    let body = r.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(&body[..], b"0 headers");
}

/// A GET with `n` `X-Remote-Group` lines (each `group-<i>`).
fn with_groups(n: usize) -> http::Request<Empty<Bytes>> {
    let mut b = http::Request::get("/");
    for i in 0..n {
        b = b.header("x-remote-group", format!("group-{i}"));
    }
    b.body(Empty::new()).unwrap()
}

#[tokio::test]
async fn heads_up_to_a_mebibyte_are_read_whatever_their_number_of_lines() {
    let s = serve(limits()).await;
    let mut h1 = s.http1().await;
    // 35,000 lines of ~29 bytes: just under 1 MiB, far past hyper's own table; then a short
    // head on the same connection, which must still be in step.
    for n in [150, 8_000, 35_000, 3] {
        let r = h1.send_request(with_groups(n)).await.unwrap();
        assert_eq!(r.status(), 200, "{n} lines over HTTP/1.1");
        let body = r.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(body, format!("{n} headers"));
    }
    // HTTP/2 counts bytes only.
    let mut h2 = s.http2().await;
    for n in [150, 15_000] {
        let r = h2.send_request(with_groups(n)).await.unwrap();
        assert_eq!(r.status(), 200, "{n} lines over HTTP/2");
        let body = r.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(body, format!("{n} headers"));
    }
    // Over the limit: refused, on both protocols.
    let over = || {
        http::Request::get("/")
            .header("x-padding", "x".repeat(1024 * 1024 + 4096))
            .body(Empty::new())
            .unwrap()
    };
    let mut h1 = s.http1().await;
    let r = h1.send_request(over()).await.unwrap();
    assert_eq!(r.status(), 431);
    let r = h2.send_request(over()).await;
    assert!(r.map_or(true, |r| r.status() == 431));
    // 1 MiB of the shortest lines (262,000 of `a:`): read too.
    let mut head = b"GET / HTTP/1.1\r\n".to_vec();
    head.extend_from_slice(&b"a:\r\n".repeat(262_000));
    head.extend_from_slice(b"\r\n");
    let mut tls = s.tls(b"http/1.1").await;
    tls.write_all(&head).await.unwrap();
    let mut answer = vec![0u8; 12];
    tls.read_exact(&mut answer).await.unwrap();
    assert_eq!(&answer, b"HTTP/1.1 200");
    // More distinct names than a header map holds: refused, not a crash.
    let mut head = b"GET / HTTP/1.1\r\nhost: x\r\n".to_vec();
    for i in 0..40_000 {
        head.extend_from_slice(format!("x-{i}: v\r\n").as_bytes());
    }
    head.extend_from_slice(b"\r\n");
    let mut tls = s.tls(b"http/1.1").await;
    tls.write_all(&head).await.unwrap();
    let mut status = vec![0u8; 12];
    tls.read_exact(&mut status).await.unwrap();
    assert_eq!(&status, b"HTTP/1.1 431");
}

#[tokio::test]
async fn large_heads_held_at_once_are_bounded_by_one_shared_budget() {
    let mut l = limits();
    l.read_header = Duration::from_secs(30);
    // Room for the part beyond the first 64 KiB of about three 400 KB heads.
    let s = serve_with_head_budget(l, 1024 * 1024).await;
    let partial = format!("GET / HTTP/1.1\r\nx-padding: {}", "x".repeat(400 * 1024));
    let mut stalled = Vec::new();
    for _ in 0..6 {
        let mut tls = s.tls(b"http/1.1").await;
        tls.write_all(partial.as_bytes()).await.unwrap();
        tls.flush().await.unwrap();
        stalled.push(tls);
    }
    // The connections beyond the budget are answered 431 and closed; the others wait for
    // their deadline.
    let mut refused = 0;
    for tls in &mut stalled {
        let mut status = [0u8; 12];
        if let Ok(Ok(_)) =
            tokio::time::timeout(Duration::from_millis(500), tls.read_exact(&mut status)).await
        {
            assert_eq!(&status, b"HTTP/1.1 431");
            refused += 1;
        }
    }
    assert_eq!(refused, 3, "three heads fit in the budget");
    // Ordinary requests are untouched, and closing the stalled ones frees the budget.
    let mut h1 = s.http1().await;
    let r = h1.send_request(get("/")).await.unwrap();
    assert_eq!(r.status(), 200);
    drop(stalled);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut tls = s.tls(b"http/1.1").await;
    tls.write_all(partial.as_bytes()).await.unwrap();
    tls.write_all(b"\r\n\r\n").await.unwrap();
    let mut head = vec![0u8; 12];
    tls.read_exact(&mut head).await.unwrap();
    assert_eq!(&head, b"HTTP/1.1 200");
}

#[tokio::test]
async fn a_path_over_the_limit_is_refused_before_the_head_ends() {
    let s = serve(limits()).await;
    // HTTP/1.1: the answer comes while the head is still arriving.
    let mut tls = s.tls(b"http/1.1").await;
    let start = format!("GET /{}", "a".repeat(5000));
    tls.write_all(start.as_bytes()).await.unwrap();
    tls.flush().await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(SLACK, tls.read_to_end(&mut answer))
        .await
        .expect("answered without the rest of the head")
        .ok();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 414 "), "{answer}");
    assert!(
        answer
            .trim_end()
            .ends_with("the request path is longer than the 4096 bytes accepted\",\"code\":414}"),
        "{answer}"
    );
    // A long query is another matter.
    let mut h1 = s.http1().await;
    let query = format!("/?labelSelector={}", "a".repeat(8000));
    assert_eq!(fetch(&mut h1, &query).await, 200);
}
