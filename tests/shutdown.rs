//! Graceful shutdown of the real binary (upstream spec §1.6 `--shutdown-delay-duration`,
//! §2.9 `shutdown` check): after SIGTERM `/readyz` fails at once, the API keeps answering for
//! the delay, then the process exits 0. The same run checks `--logging-format=json`: every log
//! line is one JSON object with the fields first-class.

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::Https;
use metrics_server::config::MetricsSource;

const DELAY: Duration = Duration::from_secs(4);

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_fails_readiness_serves_through_the_delay_and_exits_zero() {
    let dir = tempfile::tempdir().unwrap();
    let demo = common::ready_demo(dir.path(), 2, 3, MetricsSource::Resource).await;
    let d = dir.path();
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_metrics-server"))
        .arg(format!("--kubeconfig={}", d.join("kubeconfig").display()))
        .arg(format!(
            "--kubelet-certificate-authority={}",
            d.join("demo-ca.crt").display()
        ))
        .args([
            "--kubelet-use-node-status-port",
            "--kubelet-preferred-address-types=InternalIP,Hostname",
            "--kubelet-request-timeout=5s",
            "--metric-resolution=10s",
            "--bind-address=127.0.0.1",
            "--logging-format=json",
            "--audit-log-path=-",
        ])
        .arg(format!("--secure-port={port}"))
        .arg(format!("--shutdown-delay-duration={}s", DELAY.as_secs()))
        .arg(format!(
            "--tls-cert-file={}",
            d.join("demo-metrics-server.crt").display()
        ))
        .arg(format!(
            "--tls-private-key-file={}",
            d.join("demo-metrics-server.key").display()
        ))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start metrics-server");
    let https = Https::as_aggregator(d);
    let base = format!("https://127.0.0.1:{port}");
    let nodes = format!("{base}/apis/metrics.k8s.io/v1beta1/nodes");

    // Ready once two scrapes are in (about 10 s after start).
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let readyz = format!("{base}/readyz");
        let probe = https.try_status(&readyz);
        if let Ok(Some(200)) = tokio::time::timeout(Duration::from_secs(2), probe).await {
            break;
        }
        assert!(Instant::now() < deadline, "server never became ready");
        assert!(child.try_wait().unwrap().is_none(), "server exited early");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let signalled = Instant::now();

    // Readiness fails at once (well within the delay).
    loop {
        let got = https.get(&format!("{base}/readyz?verbose"), None).await;
        if got.status == 500 {
            assert!(got.body.contains("[-]shutdown failed"), "{}", got.body);
            break;
        }
        assert!(
            signalled.elapsed() < Duration::from_secs(1),
            "readyz still passing"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The API keeps serving during the delay.
    let mut served = 0;
    while signalled.elapsed() < DELAY - Duration::from_millis(800) {
        let got = https.get(&nodes, None).await;
        assert_eq!(got.status, 200, "request during the shutdown delay");
        served += 1;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert!(served >= 5, "only {served} requests during the delay");

    // Then the process exits 0, after the delay and not much later.
    let exit = tokio::task::spawn_blocking(move || {
        let out = child.wait_with_output().unwrap();
        (
            out.status,
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    })
    .await
    .unwrap();
    let (status, stderr) = exit;
    let took = signalled.elapsed();
    assert!(status.success(), "exit status {status:?}\n{stderr}");
    assert!(took >= DELAY, "exited after {took:?}, before the delay");
    assert!(took < DELAY + Duration::from_secs(10), "exit took {took:?}");

    // JSON logs: every line parses; the ignored flag and the shutdown are logged.
    let lines: Vec<serde_json::Value> = stderr
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(!lines.is_empty());
    let messages: Vec<&str> = lines.iter().filter_map(|v| v["message"].as_str()).collect();
    assert!(
        messages
            .iter()
            .any(|m| m.starts_with("--audit-log-path is accepted for compatibility and ignored")),
        "{messages:?}"
    );
    assert!(messages.contains(&"Shutting down."), "{messages:?}");
    assert!(lines.iter().all(|v| v["level"].is_string()));
    demo.shutdown().await;
}
