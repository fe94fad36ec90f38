//! Answers a client must get right, checked in the same run as the attacks: HEAD without a
//! body on both protocols, a front-proxy request with many group headers, an over-long head,
//! a bearer token that is not UTF-8, and TLS versions older than 1.2.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::attacks::Target;
use super::cluster::AGGREGATOR_HEADERS;
use super::observe::ALL_PODS;
use super::tls::{Alpn, Conn, get, request};

/// One check: what was asked, and what was wrong (nothing when it passed).
pub struct Check {
    pub name: String,
    pub problem: Option<String>,
}

/// Runs every check against `t`.
pub async fn run_all(t: &Target) -> Vec<Check> {
    let mut checks = Vec::new();
    for alpn in [Alpn::Http1, Alpn::Http2] {
        let p = alpn.label();
        checks.push(
            check(
                format!("HEAD over {p}: headers, no body"),
                head_has_no_body(t, alpn),
            )
            .await,
        );
        checks.push(
            check(
                format!("150 X-Remote-Group lines over {p}: 200"),
                many_groups(t, alpn),
            )
            .await,
        );
        checks.push(
            check(
                format!("non-UTF-8 bearer token over {p}: 401"),
                non_utf8_token(t, alpn),
            )
            .await,
        );
    }
    checks.push(
        check(
            "1,100 KiB head over HTTP/1.1: 431".into(),
            oversized_head_http1(t),
        )
        .await,
    );
    checks.push(
        check(
            "1,100 KiB head over HTTP/2: 431".into(),
            oversized_head_http2(t),
        )
        .await,
    );
    for (version, label) in [(0x0301, "TLS 1.0"), (0x0302, "TLS 1.1")] {
        checks.push(check(format!("{label} refused"), legacy_tls_refused(t, version)).await);
    }
    checks
}

async fn check(name: String, run: impl Future<Output = anyhow::Result<()>>) -> Check {
    let problem = match tokio::time::timeout(Duration::from_secs(15), run).await {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(format!("{e:#}")),
        Err(_) => Some("no outcome within 15s".into()),
    };
    Check { name, problem }
}

fn expect_status(what: &str, got: u16, want: u16) -> anyhow::Result<()> {
    anyhow::ensure!(got == want, "{what}: status {got}, expected {want}");
    Ok(())
}

/// HEAD of the all-pods list: the 405 upstream answers too (the API serves GET only), with
/// its Content-Length and no body; on HTTP/1.1 the next request on the connection must still
/// parse (a body sent after a HEAD answer would be read as the next response).
async fn head_has_no_body(t: &Target, alpn: Alpn) -> anyhow::Result<()> {
    let mut conn = Conn::open(&t.aggregator, t.addr, alpn).await?;
    let head = conn
        .send(request(http::Method::HEAD, ALL_PODS, AGGREGATOR_HEADERS))
        .await?;
    expect_status("HEAD", head.status, 405)?;
    anyhow::ensure!(
        head.body.is_empty(),
        "HEAD answered {} body bytes",
        head.body.len()
    );
    anyhow::ensure!(
        head.headers.contains_key(http::header::CONTENT_LENGTH),
        "HEAD answer without Content-Length"
    );
    let next = conn.send(get("/healthz", AGGREGATOR_HEADERS)).await?;
    expect_status("the GET after the HEAD", next.status, 200)?;
    anyhow::ensure!(
        next.body.as_ref() == b"ok",
        "the GET after the HEAD read {:?}",
        next.body
    );
    Ok(())
}

/// The aggregator's identity with 150 `X-Remote-Group` lines.
async fn many_groups(t: &Target, alpn: Alpn) -> anyhow::Result<()> {
    let groups: Vec<String> = (0..150).map(|i| format!("group-{i}")).collect();
    let mut headers: Vec<(&str, &[u8])> = vec![("x-remote-user", b"demo-user")];
    headers.extend(groups.iter().map(|g| ("x-remote-group", g.as_bytes())));
    let mut conn = Conn::open(&t.aggregator, t.addr, alpn).await?;
    let answer = conn.send(get(ALL_PODS, &headers)).await?;
    expect_status("150 groups", answer.status, 200)
}

async fn non_utf8_token(t: &Target, alpn: Alpn) -> anyhow::Result<()> {
    let mut conn = Conn::open(&t.anonymous, t.addr, alpn).await?;
    let answer = conn
        .send(get(
            ALL_PODS,
            &[("authorization", b"Bearer \xff\xfe-not-utf8")],
        ))
        .await?;
    expect_status("non-UTF-8 token", answer.status, 401)
}

/// 1,100 header lines of 1 KiB: over the 1 MiB limit.
fn oversized_lines() -> Vec<(String, Vec<u8>)> {
    (0..1100)
        .map(|i| (format!("x-big-{i}"), vec![b'h'; 1000]))
        .collect()
}

/// Over HTTP/1.1 the head is written raw (the server may answer before it has read it all)
/// and the status line read back.
async fn oversized_head_http1(t: &Target) -> anyhow::Result<()> {
    let mut conn = t.anonymous.connect(t.addr, Alpn::Http1).await?;
    let mut head = b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n".to_vec();
    for (name, value) in oversized_lines() {
        head.extend_from_slice(name.as_bytes());
        head.extend_from_slice(b": ");
        head.extend_from_slice(&value);
        head.extend_from_slice(b"\r\n");
    }
    head.extend_from_slice(b"\r\n");
    // The server may stop reading once the limit is passed: a failed write is expected.
    let _ = conn.write_all(&head).await;
    let _ = conn.flush().await;
    let mut answer = vec![0u8; 64];
    let n = conn.read(&mut answer).await?;
    let line = String::from_utf8_lossy(&answer[..n]).into_owned();
    anyhow::ensure!(line.starts_with("HTTP/1.1 431"), "answered {line:?}");
    Ok(())
}

async fn oversized_head_http2(t: &Target) -> anyhow::Result<()> {
    let lines = oversized_lines();
    let headers: Vec<(&str, &[u8])> = lines
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_slice()))
        .collect();
    let mut conn = Conn::open(&t.anonymous, t.addr, Alpn::Http2).await?;
    let answer = conn.send(get("/healthz", &headers)).await?;
    expect_status("1,100 KiB head", answer.status, 431)
}

/// A ClientHello offering only `version` (no supported_versions extension): the server must
/// answer with an alert or close, never a ServerHello.
async fn legacy_tls_refused(t: &Target, version: u16) -> anyhow::Result<()> {
    let mut tcp = TcpStream::connect(t.addr).await?;
    tcp.write_all(&legacy_client_hello(version)).await?;
    let mut first = [0u8; 1];
    match tcp.read(&mut first).await {
        Ok(0) | Err(_) => Ok(()),
        Ok(_) if first[0] == 0x15 => Ok(()),
        Ok(_) => anyhow::bail!("answered a record of type {:#x}, not an alert", first[0]),
    }
}

/// A TLS 1.0/1.1 ClientHello: ECDHE-RSA and RSA CBC suites, P-256, uncompressed points.
fn legacy_client_hello(version: u16) -> Vec<u8> {
    let mut body = version.to_be_bytes().to_vec();
    body.extend_from_slice(&[7u8; 32]); // random
    body.push(0); // no session id
    body.extend_from_slice(&[0x00, 0x06, 0xc0, 0x13, 0xc0, 0x14, 0x00, 0x2f]);
    body.extend_from_slice(&[0x01, 0x00]); // null compression
    let extensions = [
        0x00, 0x0a, 0x00, 0x04, 0x00, 0x02, 0x00, 0x17, // supported_groups: secp256r1
        0x00, 0x0b, 0x00, 0x02, 0x01, 0x00, // ec_point_formats: uncompressed
    ];
    body.extend_from_slice(&u16::try_from(extensions.len()).unwrap_or(0).to_be_bytes());
    body.extend_from_slice(&extensions);
    let mut handshake = vec![0x01];
    handshake.extend_from_slice(&u32::try_from(body.len()).unwrap_or(0).to_be_bytes()[1..]);
    handshake.extend_from_slice(&body);
    let mut record = vec![0x16, 0x03, 0x01];
    record.extend_from_slice(&u16::try_from(handshake.len()).unwrap_or(0).to_be_bytes());
    record.extend_from_slice(&handshake);
    record
}
