//! A node whose kubelet fails from the very start: the server never learned its pods from a
//! kubelet, yet a get of one of them says its node failed (not "no metrics collected yet"),
//! and the coverage gauges count them under `node_failed`.

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::Https;
use metrics_server_sim::demo::{self, DemoOptions};
use metrics_server_sim::kubelet::Fault;

fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

fn pods_without_metrics(text: &str, reason: &str) -> Option<f64> {
    let series = format!("metrics_rs_items_without_metrics{{kind=\"pod\",reason=\"{reason}\"}}");
    value(text, &series)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pods_of_a_node_that_never_answered_read_node_failed() {
    let dir = tempfile::tempdir().unwrap();
    let opts = DemoOptions::for_test(3, 4, dir.path().join("kubeconfig"));
    let demo = demo::start_with_faults(opts, &[(0, Fault::Status500)])
        .await
        .expect("demo starts");
    let healthy = demo.workload.running_pods().filter(|p| p.node != 0).count();
    common::wait_for(&demo, 2, healthy).await;
    let on_dead: Vec<_> = demo
        .workload
        .running_pods()
        .filter(|p| p.node == 0)
        .collect();
    assert!(!on_dead.is_empty());

    let https = Https::as_aggregator(dir.path());
    let base = format!("https://127.0.0.1:{}", demo.server.local_addr.port());
    // The pods' node is learned beside the scrape cycle: allow a cycle or two.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let text = loop {
        let text = https.get(&format!("{base}/metrics"), None).await.body;
        if pods_without_metrics(&text, "node_failed") == Some(on_dead.len() as f64) {
            break text;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the dead node's {} pods are not counted as node_failed:\n{text}",
            on_dead.len()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert_eq!(pods_without_metrics(&text, "not_scraped_yet"), Some(0.0));
    assert_eq!(
        value(
            &text,
            "metrics_rs_items_without_metrics{kind=\"node\",reason=\"node_failed\"}"
        ),
        Some(1.0)
    );

    let pod = on_dead[0];
    let url = format!(
        "{base}/apis/metrics.k8s.io/v1beta1/namespaces/{}/pods/{}",
        pod.namespace, pod.name
    );
    let got = https.get(&url, None).await;
    assert_eq!(got.status, 404);
    assert!(
        got.body
            .contains("not found: the latest scrape of its node failed"),
        "{}",
        got.body
    );
    demo.shutdown().await;
}
