//! The serving edge against hostile clients, and its latency when idle, with the server as
//! its own child process on loopback (its memory, descriptors and log are its alone) and
//! the simulated cluster in this process.
//!
//! `hostile_clients_*` runs every attack in turn while two probes (`/healthz` on a new
//! connection, as the kubelet probes; the all-pods list on a kept-alive HTTP/2 connection
//! with the front-proxy identity, as the aggregator asks) run every 100 ms, and checks after
//! each that the probes kept answering, memory stayed bounded, descriptors came back and the
//! log stayed quiet. `kept_alive_gets_*` times sequential GETs on one connection.
//!
//! Both tests are ignored by a plain `cargo test` (an unoptimized build misses the latency
//! thresholds on its own); `tests/serving-edge.sh` runs them optimized, as CI does. Short by
//! default; `SERVING_EDGE_FULL=1` runs the bigger counts and prints the Markdown tables;
//! `SERVING_EDGE_SERVER` names another server binary to measure (an older commit's, say).

#![allow(clippy::expect_used, clippy::unwrap_used)]

#[path = "serving_edge/attacks.rs"]
mod attacks;
#[path = "serving_edge/checks.rs"]
mod checks;
#[path = "serving_edge/cluster.rs"]
mod cluster;
#[path = "serving_edge/frames.rs"]
mod frames;
#[path = "serving_edge/latency.rs"]
mod latency;
#[path = "serving_edge/observe.rs"]
mod observe;
#[path = "serving_edge/run.rs"]
mod run;
#[path = "serving_edge/server.rs"]
mod server;
#[path = "serving_edge/tls.rs"]
mod tls;

use std::time::Duration;

use attacks::Target;
use cluster::{AGGREGATOR_HEADERS, Cluster};
use server::{Launch, ServerProcess};
use tls::{Alpn, Conn};

/// Each test measures a server on a small shared machine: one at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Short deadlines, so the server itself closes what the idle attacks leave open.
const READ_HEADER: Duration = Duration::from_secs(3);
const IDLE: Duration = Duration::from_secs(5);
const WRITE_STALL: Duration = Duration::from_secs(4);
/// What the descriptor-exhaustion attack starts the server under.
const SOFT_OPEN_FILES: u32 = 1024;
/// How long after the server's own deadline its descriptors may take to come back.
const SLACK: Duration = Duration::from_secs(5);

/// How hard to attack: short for CI, bigger with `SERVING_EDGE_FULL=1`.
struct Scale {
    full: bool,
    idle_connections: usize,
    raw_connections: usize,
    review_requests: usize,
    review_connections: usize,
    never_read_connections: usize,
    flood_connections: usize,
    reset_connections: usize,
    reset_streams: u64,
    continuation_bytes: u64,
    control_frames: u64,
    flood_budget: Duration,
    slowloris_connections: usize,
    slowloris_budget: Duration,
    big_head_connections: usize,
    many_lines_connections: usize,
    handshakes: usize,
    latency_requests: usize,
}

impl Scale {
    fn from_env() -> Scale {
        if std::env::var_os("SERVING_EDGE_FULL").is_some_and(|v| v != "0") {
            Scale {
                full: true,
                idle_connections: 2000,
                raw_connections: 3000,
                review_requests: 1600,
                review_connections: 64,
                never_read_connections: 40,
                flood_connections: 8,
                reset_connections: 400,
                reset_streams: 20_000,
                continuation_bytes: 8 << 20,
                control_frames: 100_000,
                flood_budget: Duration::from_secs(15),
                slowloris_connections: 1000,
                slowloris_budget: Duration::from_secs(12),
                big_head_connections: 16,
                many_lines_connections: 32,
                handshakes: 3000,
                latency_requests: 1000,
            }
        } else {
            Scale {
                full: false,
                idle_connections: 400,
                raw_connections: 1100,
                review_requests: 400,
                review_connections: 16,
                never_read_connections: 8,
                flood_connections: 2,
                reset_connections: 20,
                reset_streams: 5_000,
                continuation_bytes: 4 << 20,
                control_frames: 20_000,
                flood_budget: Duration::from_secs(5),
                slowloris_connections: 100,
                slowloris_budget: Duration::from_secs(6),
                big_head_connections: 4,
                many_lines_connections: 8,
                handshakes: 200,
                latency_requests: 1000,
            }
        }
    }
}

/// The server binary under test: this build's, unless `SERVING_EDGE_SERVER` names another.
fn server_binary() -> String {
    std::env::var("SERVING_EDGE_SERVER")
        .ok()
        .filter(|b| !b.is_empty())
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_metrics-server").to_string())
}

/// The short deadlines, when the binary has the flags (an older build measured for
/// comparison runs with its own behavior).
fn deadline_flags(binary: &str) -> Vec<String> {
    if !server::has_flag(binary, "--read-header-timeout") {
        println!("{binary} has no connection deadline flags: measuring it as it is");
        return Vec::new();
    }
    vec![
        format!("--read-header-timeout={}s", READ_HEADER.as_secs()),
        format!("--idle-connection-timeout={}s", IDLE.as_secs()),
        format!("--write-stall-timeout={}s", WRITE_STALL.as_secs()),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "optimized only: run by tests/serving-edge.sh"]
async fn kept_alive_gets_on_an_idle_server_answer_within_two_ms() {
    let _serial = SERIAL.lock().await;
    let scale = Scale::from_env();
    let cluster = Cluster::start(2, 5).await;
    let binary = server_binary();
    let server = ServerProcess::start(
        &cluster,
        Launch {
            binary: &binary,
            flags: Vec::new(),
            soft_open_files: None,
        },
    )
    .await;
    cluster.aggregate(server.addr);
    let (ns, name) = &cluster.pod;
    let paths = [
        (
            "one pod",
            format!("/apis/metrics.k8s.io/v1beta1/namespaces/{ns}/pods/{name}"),
        ),
        (
            "namespace's pods",
            format!("/apis/metrics.k8s.io/v1beta1/namespaces/{ns}/pods"),
        ),
    ];
    let bearer = Cluster::api_bearer();
    let via_api: &[(&str, &[u8])] = &[("authorization", &bearer)];
    let transports = [
        (
            "HTTP/1.1",
            cluster.aggregator(),
            server.addr,
            Alpn::Http1,
            AGGREGATOR_HEADERS,
        ),
        (
            "HTTP/2",
            cluster.aggregator(),
            server.addr,
            Alpn::Http2,
            AGGREGATOR_HEADERS,
        ),
        (
            "via the API server's HTTP/2 proxy",
            cluster.anonymous(),
            cluster.apiserver.addr(),
            Alpn::Http2,
            via_api,
        ),
    ];
    let mut distributions = Vec::new();
    for (transport, tls, addr, alpn, headers) in transports {
        let mut conn = Conn::open(&tls, addr, alpn).await.expect("connect");
        for (what, path) in &paths {
            let label = format!("{what}, {transport}");
            let d = latency::sequential(label, &mut conn, path, headers, scale.latency_requests)
                .await
                .expect("every request answered 200");
            distributions.push(d);
        }
    }
    let table = latency::table(&distributions);
    println!(
        "{} sequential GETs per row, one kept-alive connection each:\n{table}",
        scale.latency_requests
    );
    let problems: Vec<String> = distributions
        .iter()
        .filter_map(latency::Distribution::problem)
        .collect();
    assert!(problems.is_empty(), "{}\n{table}", problems.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "optimized only: run by tests/serving-edge.sh"]
async fn hostile_clients_do_not_reach_probes_memory_descriptors_or_logs() {
    let _serial = SERIAL.lock().await;
    let scale = Scale::from_env();
    // 300 pods: an all-pods list large enough that 100 of them fill a connection's buffers.
    let cluster = Cluster::start(10, 30).await;
    let binary = server_binary();
    let server = ServerProcess::start(
        &cluster,
        Launch {
            binary: &binary,
            flags: deadline_flags(&binary),
            // The descriptor-exhaustion attack's premise: the container runtime's soft limit.
            soft_open_files: Some(SOFT_OPEN_FILES),
        },
    )
    .await;
    let target = Target {
        addr: server.addr,
        anonymous: cluster.anonymous(),
        aggregator: cluster.aggregator(),
    };
    let observer = observe::Observer::start(
        server.addr,
        server.pid(),
        target.anonymous.clone(),
        target.aggregator.clone(),
    );
    observer.wait_answering().await;
    // Idle memory: with the probes running for a few of their periods.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut runner = run::Runner {
        server: &server,
        observer: &observer,
        api: cluster.apiserver.addr(),
        idle_rss_kib: server.rss_kib(),
        rows: Vec::new(),
    };
    attack_all(&mut runner, &target, &scale).await;
    let checks = checks::run_all(&target).await;
    let log = server.log_text();
    let rows = std::mem::take(&mut runner.rows);
    drop(observer);

    let table = run::table(&rows);
    println!(
        "\n{} run:\n{table}",
        if scale.full { "Full" } else { "Short" }
    );
    let mut problems: Vec<String> = rows
        .iter()
        .filter(|r| !r.problems.is_empty())
        .map(|r| format!("{}: {}", r.attack, r.problems.join("; ")))
        .collect();
    for c in &checks {
        match &c.problem {
            Some(p) => problems.push(format!("check {}: {p}", c.name)),
            None => println!("check {}: ok", c.name),
        }
    }
    if !log.contains("Raised the soft open-files limit to the hard limit.")
        || !log.contains(&format!("soft_before={SOFT_OPEN_FILES}"))
    {
        problems.push("the log does not show the soft open-files limit raised from 1024".into());
    }
    assert!(
        problems.is_empty(),
        "{}\n\n{table}\nthe server's log:\n{log}",
        problems.join("\n")
    );
}

/// Every attack, new defects first, then those that passed before and must keep passing.
async fn attack_all(runner: &mut run::Runner<'_>, t: &Target, s: &Scale) {
    let n = s.idle_connections;
    runner
        .run(
            &format!("{n} idle TLS connections (handshake, then silence)"),
            "--read-header-timeout from the handshake's end",
            READ_HEADER + SLACK,
            attacks::idle_tls(t, n, Alpn::Http1, b""),
        )
        .await;
    runner
        .run(
            &format!("{n} partial HTTP/2 prefaces"),
            "preface deadline: min(10s, --read-header-timeout)",
            READ_HEADER + SLACK,
            attacks::idle_tls(t, n, Alpn::Http2, &frames::PREFACE[..10]),
        )
        .await;
    runner
        .run(
            &format!("{n} HTTP/2 prefaces + SETTINGS, no stream"),
            "--idle-connection-timeout, then GOAWAY",
            IDLE + SLACK,
            attacks::idle_tls(t, n, Alpn::Http2, &frames::plain_preface()),
        )
        .await;
    let raw = s.raw_connections;
    runner
        .run(
            &format!("descriptor exhaustion: {raw} TCP connections under a soft limit of {SOFT_OPEN_FILES}"),
            "soft limit raised to the hard one; --max-connections; handshake deadline",
            READ_HEADER + SLACK,
            attacks::raw_tcp(t.addr, raw),
        )
        .await;
    let c = s.many_lines_connections;
    runner
        .run(
            &format!("HTTP/1.1 heads of 262,000 header lines (1 MiB): {c} connections × 2"),
            "1 MiB head limit; header-line limit",
            SLACK,
            attacks::many_lines(t, c, 2, 262_000),
        )
        .await;
    review_floods(runner, t, s).await;
    let c = s.never_read_connections;
    runner
        .run(
            &format!("HTTP/2 never read: {c} connections × 100 streams, largest windows"),
            "--write-stall-timeout; 16 KiB pieces; per-stream send buffer",
            WRITE_STALL + IDLE + SLACK,
            attacks::never_read(t, c, 100),
        )
        .await;
    http2_floods(runner, t, s).await;
    http1_and_tls_floods(runner, t, s).await;
}

async fn review_floods(runner: &mut run::Runner<'_>, t: &Target, s: &Scale) {
    let (n, c) = (s.review_requests, s.review_connections);
    let long = "a".repeat(60_000);
    runner
        .run(
            &format!("review flood: {n} distinct 60 KB paths"),
            "paths over 4096 bytes: 414 before any review",
            SLACK,
            attacks::request_flood(
                t,
                n,
                c,
                |i| {
                    tls::get(
                        &format!("/apis/metrics.k8s.io/v1beta1/namespaces/ns/pods/{i}{long}"),
                        &[],
                    )
                },
                &[414],
            ),
        )
        .await;
    let name = "b".repeat(2_000);
    runner
        .run(
            &format!("review flood: {n} distinct 2 KB paths (a SubjectAccessReview each)"),
            "anonymous lane: 16 reviews in flight, 256 waiting ≤ 1 s, then 429; byte-bounded cache",
            SLACK,
            attacks::request_flood(
                t,
                n,
                c,
                |i| {
                    tls::get(
                        &format!("/apis/metrics.k8s.io/v1beta1/namespaces/ns-{i}/pods/{i}{name}"),
                        &[],
                    )
                },
                &[403, 429],
            ),
        )
        .await;
    runner
        .run(
            &format!("review flood: {n} distinct bogus bearer tokens (a TokenReview each)"),
            "32 TokenReviews in flight, 512 waiting ≤ 1 s, then 429; byte-bounded cache",
            SLACK,
            attacks::request_flood(
                t,
                n,
                c,
                |i| {
                    let token = format!("Bearer bogus-{i}-{}", "t".repeat(40));
                    tls::get(observe::ALL_PODS, &[("authorization", token.as_bytes())])
                },
                &[401, 429],
            ),
        )
        .await;
}

async fn http2_floods(runner: &mut run::Runner<'_>, t: &Target, s: &Scale) {
    let (c, budget) = (s.flood_connections, s.flood_budget);
    runner
        .run(
            &format!(
                "HTTP/2 rapid reset: {} connections ({c} at a time) × up to {} streams",
                s.reset_connections, s.reset_streams
            ),
            "h2's limit on reset streams: GOAWAY",
            SLACK,
            attacks::rapid_reset(t, s.reset_connections, c, s.reset_streams, budget),
        )
        .await;
    runner
        .run(
            &format!(
                "CONTINUATION flood: {c} connections × {} MiB",
                s.continuation_bytes >> 20
            ),
            "header list limit (1 MiB + 320): connection error",
            SLACK,
            attacks::continuation_flood(t, c, s.continuation_bytes, budget),
        )
        .await;
    runner
        .run(
            &format!(
                "PING flood, never reading: {c} connections × {}",
                s.control_frames
            ),
            "h2 answers one PING at a time; TCP back-pressure",
            IDLE + SLACK,
            attacks::control_flood(t, "PINGs", c, s.control_frames, frames::ping, budget),
        )
        .await;
    runner
        .run(
            &format!(
                "SETTINGS flood, never reading: {c} connections × {}",
                s.control_frames
            ),
            "h2 acknowledges one SETTINGS at a time; TCP back-pressure",
            IDLE + SLACK,
            attacks::control_flood(
                t,
                "SETTINGS",
                c,
                s.control_frames,
                |_| frames::settings(&[]),
                budget,
            ),
        )
        .await;
}

async fn http1_and_tls_floods(runner: &mut run::Runner<'_>, t: &Target, s: &Scale) {
    let c = s.slowloris_connections;
    runner
        .run(
            &format!("slowloris: {c} HTTP/1.1 heads, a byte per 200 ms"),
            "--read-header-timeout from the head's first byte",
            SLACK,
            attacks::slowloris(
                t,
                c,
                Duration::from_millis(200),
                s.slowloris_budget,
                READ_HEADER + Duration::from_secs(2),
            ),
        )
        .await;
    let c = s.big_head_connections;
    runner
        .run(
            &format!("1 MB heads: {c} connections × 4"),
            "1 MiB request-head limit",
            SLACK,
            attacks::big_heads(t, c, 4, 1000, 200),
        )
        .await;
    runner
        .run(
            &format!("TLS handshake flood: {}", s.handshakes),
            "each handshake under --read-header-timeout",
            SLACK,
            attacks::handshake_flood(t, s.handshakes),
        )
        .await;
}
