//! A node whose kubelet keeps failing is asked less and less often: three cycles in a row,
//! then after two cycles, then after four. Entering back-off is logged once, naming the node,
//! the failures, the cause and the next retry; its pods keep reading `node_failed`; `/metrics`
//! shows its wait. Once the kubelet answers, the node is logged once as back and scraped every
//! cycle again.

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;
mod logs;

use std::time::Duration;

use common::{Https, metric_value};
use logs::Logs;
use metrics_server_sim::demo::{self, Demo, DemoOptions};
use metrics_server_sim::kubelet::Fault;
use tokio::time::Instant;

const RESOLUTION: Duration = Duration::from_secs(10);
const ENTERED: &str = "Node keeps failing; retrying it less often until it answers.";
const LEFT: &str = "Node answered again; scraping it every cycle.";
const FAILED: &str = "Failed to scrape node.";

/// When the kubelet of `node` receives its next request (polled every 50 ms, at most
/// `within`).
async fn next_request(demo: &Demo, node: &str, within: Duration) -> Instant {
    let before = demo.kubelets.requests(node).unwrap();
    let deadline = Instant::now() + within;
    loop {
        if demo.kubelets.requests(node).unwrap() > before {
            return Instant::now();
        }
        assert!(
            Instant::now() < deadline,
            "{node} got no request within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn assert_about(gap: Duration, want: Duration, what: &str) {
    let off = gap.abs_diff(want);
    assert!(
        off <= Duration::from_secs(3),
        "{what}: {gap:?} between requests, want about {want:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_kubelet_is_asked_less_and_less_often_and_every_cycle_once_back() {
    let logs = Logs::capture();
    let dir = tempfile::tempdir().unwrap();
    let opts = DemoOptions {
        metric_resolution: RESOLUTION,
        ..DemoOptions::for_test(3, 3, dir.path().join("kubeconfig"))
    };
    let demo = demo::start_with_faults(opts, &[(0, Fault::Status500)])
        .await
        .expect("demo starts");
    let dead = demo.workload.nodes()[0].name.clone();
    let https = Https::as_aggregator(dir.path());
    let base = format!("https://127.0.0.1:{}", demo.server.local_addr.port());
    let metrics = || async { https.get(&format!("{base}/metrics"), None).await.body };

    // The first scrape may be under way already: time the requests after it.
    while demo.kubelets.requests(&dead).unwrap() == 0 {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let second = next_request(&demo, &dead, RESOLUTION * 2).await;
    let third = next_request(&demo, &dead, RESOLUTION * 2).await;
    assert_about(third - second, RESOLUTION, "failing, not in back-off yet");
    let fourth = next_request(&demo, &dead, RESOLUTION * 3).await;
    assert_about(fourth - third, RESOLUTION * 2, "first retry in back-off");

    // In back-off: logged once, its pods still read node_failed, /metrics shows the wait.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let entered = logs.matching(&[ENTERED, &dead]);
    assert_eq!(entered.len(), 1, "{entered:?}");
    for field in [
        "failures=3",
        "reason=\"http_status\"",
        "retry_in=20s",
        "next_retry=",
    ] {
        assert!(entered[0].contains(field), "{field} in {}", entered[0]);
    }
    assert_eq!(logs.lines_with(&[FAILED, &dead]), 2, "before back-off");
    let text = metrics().await;
    let wait = format!("metrics_rs_node_scrape_backoff_seconds{{node=\"{dead}\"}}");
    assert_eq!(metric_value(&text, &wait), Some(40.0), "{text}");
    let failures = format!("metrics_rs_node_consecutive_scrape_failures{{node=\"{dead}\"}}");
    assert_eq!(metric_value(&text, &failures), Some(4.0), "{text}");
    let healthy = &demo.workload.nodes()[1].name;
    let healthy_wait = format!("metrics_rs_node_scrape_backoff_seconds{{node=\"{healthy}\"}}");
    assert_eq!(metric_value(&text, &healthy_wait), Some(0.0), "{text}");
    let pod = demo.workload.running_pods().find(|p| p.node == 0).unwrap();
    let url = format!(
        "{base}/apis/metrics.k8s.io/v1beta1/namespaces/{}/pods/{}",
        pod.namespace, pod.name
    );
    let got = https.get(&url, None).await;
    assert_eq!(got.status, 404);
    assert!(
        got.body.contains("the latest scrape of its node failed"),
        "{}",
        got.body
    );

    // The kubelet comes back before the next retry, which is four cycles after the last.
    assert!(demo.kubelets.set_fault(&dead, Fault::None));
    let fifth = next_request(&demo, &dead, RESOLUTION * 5).await;
    assert_about(fifth - fourth, RESOLUTION * 4, "second retry in back-off");
    let sixth = next_request(&demo, &dead, RESOLUTION * 2).await;
    assert_about(sixth - fifth, RESOLUTION, "every cycle once it answered");
    let deadline = Instant::now() + RESOLUTION * 2;
    while demo.server.snapshot.load().node(&dead).is_none() {
        assert!(Instant::now() < deadline, "{dead} is not served again");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let left = logs.matching(&[LEFT, &dead]);
    assert_eq!(left.len(), 1, "{left:?}");
    assert!(left[0].contains("failures=4"), "{}", left[0]);
    assert_eq!(logs.lines_with(&[ENTERED]), 1, "only the dead node, once");
    assert_eq!(
        logs.lines_with(&[FAILED, &dead]),
        2,
        "retries are not warnings"
    );
    let text = metrics().await;
    assert_eq!(metric_value(&text, &wait), Some(0.0), "{text}");
    assert_eq!(metric_value(&text, &failures), Some(0.0), "{text}");
    demo.shutdown().await;
}
