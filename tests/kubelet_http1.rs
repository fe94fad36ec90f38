//! The kubelet client's HTTP/1.1 transport against a scripted kubelet on 127.0.0.1 (TLS, or
//! plain HTTP for `--deprecated-kubelet-completely-insecure`): one kept connection serves many
//! scrapes, chunked bodies are decoded, `Connection: close` is honoured, the body limit holds,
//! and a kept connection the kubelet closed is replaced without failing the scrape — but a
//! response that had started is never retried.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use metrics_server::cluster::NodeInfo;
use metrics_server::config::MetricsSource;
use metrics_server::kubelet::tls::{KubeletTls, client_config};
use metrics_server::kubelet::token::TokenSource;
use metrics_server::kubelet::verify::NodeNames;
use metrics_server::kubelet::{KubeletClient, KubeletClientConfig, ScrapeError};
use metrics_server::pki::CertAuthority;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;

const TOKEN: &str = "scrape-token";
const LIMIT: usize = 1 << 20;

/// The body `/chunked` sends, in the chunks it sends it in.
const CHUNKS: [&str; 3] = [
    "cpu 1\n",
    "memory 2\n",
    "a third, longer chunk of the payload\n",
];

/// A scripted kubelet: what it answers depends on the path (see [`answer`]).
struct Kubelet {
    addr: SocketAddr,
    ca: Option<CertAuthority>,
    /// TCP connections accepted.
    connections: Arc<AtomicUsize>,
    /// Every request head received.
    requests: Arc<Mutex<Vec<String>>>,
}

impl Kubelet {
    async fn start(tls: bool) -> Kubelet {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let ca = tls.then(|| CertAuthority::new("kubelet-ca").unwrap());
        let acceptor = ca.as_ref().map(|ca| {
            let pair = ca
                .issue_server("node-a", &["node-a"], &[IpAddr::V4(Ipv4Addr::LOCALHOST)])
                .unwrap();
            let chain = CertificateDer::pem_slice_iter(pair.cert_pem.as_bytes())
                .collect::<Result<Vec<_>, _>>()
                .unwrap();
            let key = PrivateKeyDer::from_pem_slice(pair.key_pem.as_bytes()).unwrap();
            let config = rustls::ServerConfig::builder()
                .with_no_client_auth()
                .with_single_cert(chain, key)
                .unwrap();
            tokio_rustls::TlsAcceptor::from(Arc::new(config))
        });
        let connections = Arc::new(AtomicUsize::new(0));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let (count, log) = (connections.clone(), requests.clone());
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                let (acceptor, log) = (acceptor.clone(), log.clone());
                tokio::spawn(async move {
                    match acceptor {
                        Some(acceptor) => {
                            if let Ok(tls) = acceptor.accept(tcp).await {
                                serve(tls, log).await;
                            }
                        }
                        None => serve(tcp, log).await,
                    }
                });
            }
        });
        Kubelet {
            addr,
            ca,
            connections,
            requests,
        }
    }

    fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    fn client(&self) -> KubeletClient {
        let names = NodeNames::new();
        let roots = self.ca.as_ref().map_or_else(Vec::new, |ca| {
            CertificateDer::pem_slice_iter(ca.cert_pem().as_bytes())
                .collect::<Result<Vec<_>, _>>()
                .unwrap()
        });
        let tls = KubeletTls {
            roots,
            insecure: self.ca.is_none(),
            identity: None,
        };
        KubeletClient::new(
            KubeletClientConfig {
                port: 10250,
                use_node_status_port: true,
                preferred_address_types: vec!["InternalIP".into()],
                request_timeout: Duration::from_secs(5),
                max_body_bytes: LIMIT,
                source: MetricsSource::Resource,
                token: TokenSource::Fixed(TOKEN.into()),
                node_names: names.clone(),
                plain_http: self.ca.is_none(),
            },
            client_config(tls, names).unwrap(),
        )
    }

    fn node(&self, path: &str) -> NodeInfo {
        NodeInfo {
            name: Arc::from("node-a"),
            addresses: vec![("InternalIP".into(), "127.0.0.1".into())],
            kubelet_port: Some(self.addr.port()),
            metrics_path: Some(path.to_string()),
            labels: Default::default(),
            virtual_kind: None,
        }
    }
}

async fn fetch(
    client: &KubeletClient,
    kubelet: &Kubelet,
    path: &str,
) -> Result<String, ScrapeError> {
    let fetched = client.fetch(&kubelet.node(path)).await?;
    Ok(String::from_utf8(fetched.body.to_vec()).unwrap())
}

/// Answers requests on one connection until the script or the client ends it.
async fn serve<S: AsyncRead + AsyncWrite + Unpin>(mut conn: S, log: Arc<Mutex<Vec<String>>>) {
    let mut served = 0;
    while let Some(head) = read_request(&mut conn).await {
        log.lock().unwrap().push(head.clone());
        served += 1;
        let path = head.split(' ').nth(1).unwrap_or_default().to_string();
        if !answer(&mut conn, &path, served).await {
            return;
        }
    }
}

/// Writes the scripted answer; `false` when the connection is to be closed.
async fn answer<S: AsyncWrite + Unpin>(conn: &mut S, path: &str, served: usize) -> bool {
    let ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    match path {
        "/chunked" => {
            let head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
            write(conn, head).await;
            for (i, chunk) in CHUNKS.iter().enumerate() {
                let framed = format!("{:x};part={i}\r\n{chunk}\r\n", chunk.len());
                // Split mid-chunk, flushed apart: the client sees them in separate reads.
                let (a, b) = framed.as_bytes().split_at(framed.len() / 2);
                write(conn, a).await;
                tokio::time::sleep(Duration::from_millis(5)).await;
                write(conn, b).await;
            }
            write(conn, b"0\r\nX-Trailer: done\r\n\r\n").await;
        }
        "/close" => {
            let close = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok";
            write(conn, close).await;
            let _ = conn.shutdown().await;
            return false;
        }
        "/big" => {
            write(conn, b"HTTP/1.1 200 OK\r\nContent-Length: 2000000\r\n\r\n").await;
            let _ = conn.write_all(&vec![b'x'; 2_000_000]).await;
        }
        "/big-chunked" => {
            write(
                conn,
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
            )
            .await;
            let mut chunk = b"10000\r\n".to_vec();
            chunk.resize(chunk.len() + 0x10000, b'y');
            chunk.extend_from_slice(b"\r\n");
            for _ in 0..20 {
                if conn.write_all(&chunk).await.is_err() {
                    return false;
                }
            }
            write(conn, b"0\r\n\r\n").await;
        }
        "/idle-close" => {
            // Answers, then closes the idle connection like a kubelet's idle timeout.
            write(conn, ok).await;
            tokio::time::sleep(Duration::from_millis(50)).await;
            let _ = conn.shutdown().await;
            return false;
        }
        // The first request is answered; the next one on the same connection finds it being
        // closed (the race between the kubelet's idle timeout and our request).
        "/stale" if served > 1 => return false,
        // The next response on the same connection stops in the middle of its head.
        "/partial" if served > 1 => {
            write(conn, b"HTTP/1.1 200 OK\r\nContent-Le").await;
            return false;
        }
        _ => write(conn, ok).await,
    }
    true
}

async fn write<S: AsyncWrite + Unpin>(conn: &mut S, bytes: &[u8]) {
    let _ = conn.write_all(bytes).await;
    let _ = conn.flush().await;
}

/// One request head, or `None` when the client closed the connection.
async fn read_request<S: AsyncRead + Unpin>(conn: &mut S) -> Option<String> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if conn.read(&mut byte).await.ok()? == 0 {
            return None;
        }
        head.push(byte[0]);
    }
    Some(String::from_utf8(head).unwrap())
}

#[tokio::test]
async fn one_kept_connection_serves_every_scrape() {
    let kubelet = Kubelet::start(true).await;
    let client = kubelet.client();
    for _ in 0..5 {
        assert_eq!(fetch(&client, &kubelet, "/ok").await.unwrap(), "ok");
    }
    assert_eq!(kubelet.connections(), 1);
    let requests = kubelet.requests.lock().unwrap().clone();
    assert_eq!(requests.len(), 5);
    let first = &requests[0];
    assert!(first.starts_with("GET /ok HTTP/1.1\r\n"), "{first}");
    assert!(
        first.contains(&format!("\r\nHost: 127.0.0.1:{}\r\n", kubelet.addr.port())),
        "{first}"
    );
    assert!(
        first.contains("\r\nUser-Agent: metrics-server-rs/"),
        "{first}"
    );
    assert!(
        first.contains(&format!("\r\nAuthorization: Bearer {TOKEN}\r\n")),
        "{first}"
    );
}

#[tokio::test]
async fn a_chunked_response_is_decoded_and_the_connection_kept() {
    let kubelet = Kubelet::start(true).await;
    let client = kubelet.client();
    assert_eq!(
        fetch(&client, &kubelet, "/chunked").await.unwrap(),
        CHUNKS.concat()
    );
    assert_eq!(fetch(&client, &kubelet, "/ok").await.unwrap(), "ok");
    assert_eq!(kubelet.connections(), 1);
}

#[tokio::test]
async fn connection_close_is_honoured() {
    let kubelet = Kubelet::start(true).await;
    let client = kubelet.client();
    assert_eq!(fetch(&client, &kubelet, "/close").await.unwrap(), "ok");
    assert_eq!(fetch(&client, &kubelet, "/close").await.unwrap(), "ok");
    assert_eq!(fetch(&client, &kubelet, "/ok").await.unwrap(), "ok");
    assert_eq!(
        kubelet.connections(),
        3,
        "a new connection after each close"
    );
}

#[tokio::test]
async fn a_body_over_the_limit_is_refused_naming_the_limit() {
    let kubelet = Kubelet::start(true).await;
    let client = kubelet.client();
    for path in ["/big", "/big-chunked"] {
        let err = fetch(&client, &kubelet, path).await.unwrap_err();
        assert_eq!(err.reason(), "decode", "{err}");
        assert!(err.to_string().contains("1048576 bytes"), "{err}");
    }
    // The half-read connections were not kept.
    assert_eq!(fetch(&client, &kubelet, "/ok").await.unwrap(), "ok");
    assert_eq!(kubelet.connections(), 3);
}

#[tokio::test]
async fn a_kubelet_closing_idle_connections_does_not_fail_scrapes() {
    let kubelet = Kubelet::start(true).await;
    let client = kubelet.client();
    for _ in 0..3 {
        assert_eq!(fetch(&client, &kubelet, "/idle-close").await.unwrap(), "ok");
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    assert_eq!(kubelet.connections(), 3);
}

#[tokio::test]
async fn a_kept_connection_closed_under_the_request_is_retried_once() {
    let kubelet = Kubelet::start(true).await;
    let client = kubelet.client();
    assert_eq!(fetch(&client, &kubelet, "/stale").await.unwrap(), "ok");
    assert_eq!(fetch(&client, &kubelet, "/stale").await.unwrap(), "ok");
    assert_eq!(kubelet.connections(), 2);
    assert_eq!(kubelet.requests.lock().unwrap().len(), 3);
}

#[tokio::test]
async fn a_response_that_started_is_not_retried() {
    let kubelet = Kubelet::start(true).await;
    let client = kubelet.client();
    assert_eq!(fetch(&client, &kubelet, "/partial").await.unwrap(), "ok");
    let err = fetch(&client, &kubelet, "/partial").await.unwrap_err();
    assert_eq!(err.reason(), "connect", "{err}");
    assert_eq!(kubelet.connections(), 1, "no second connection");
}

#[tokio::test]
async fn plain_http_keeps_connections_and_sends_no_token() {
    let kubelet = Kubelet::start(false).await;
    let client = kubelet.client();
    assert_eq!(
        fetch(&client, &kubelet, "/chunked").await.unwrap(),
        CHUNKS.concat()
    );
    assert_eq!(fetch(&client, &kubelet, "/ok").await.unwrap(), "ok");
    assert_eq!(kubelet.connections(), 1);
    let requests = kubelet.requests.lock().unwrap().clone();
    assert!(
        requests.iter().all(|r| !r.contains("Authorization")),
        "{requests:?}"
    );
}

#[tokio::test]
async fn a_refused_connection_is_a_connect_error() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let kubelet = Kubelet {
        addr: listener.local_addr().unwrap(),
        ca: Some(CertAuthority::new("kubelet-ca").unwrap()),
        connections: Arc::default(),
        requests: Arc::default(),
    };
    drop(listener);
    let err = fetch(&kubelet.client(), &kubelet, "/ok").await.unwrap_err();
    assert_eq!(err.reason(), "connect", "{err}");
    assert!(err.to_string().contains("refused"), "{err}");
}
