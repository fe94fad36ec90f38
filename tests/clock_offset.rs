//! Per-node clock offset (`metrics_rs_node_clock_offset_seconds`) against the demo cluster: a
//! kubelet whose clock runs an hour ahead reads about 3600 and is warned about once; the
//! others read about 0.

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;
mod logs;

use std::time::Duration;

use common::Https;
use logs::Logs;
use metrics_server::config::MetricsSource;

const HOUR_MS: i64 = 3_600_000;
const WARNING: &str = "Kubelet clock is off by more than 30 s";

fn offset_of(text: &str, node: &str) -> Option<f64> {
    let series = format!("metrics_rs_node_clock_offset_seconds{{node=\"{node}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&series)?.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kubelet_an_hour_ahead_is_measured_and_warned_about_once() {
    let logs = Logs::capture();
    let dir = tempfile::tempdir().unwrap();
    let demo = common::ready_demo(dir.path(), 3, 2, MetricsSource::Resource).await;
    let https = Https::as_aggregator(dir.path());
    let base = format!("https://127.0.0.1:{}", demo.server.local_addr.port());
    let names: Vec<String> = demo
        .workload
        .nodes()
        .iter()
        .map(|n| n.name.clone())
        .collect();
    let skewed = &names[0];
    assert!(demo.kubelets.set_clock_skew(skewed, HOUR_MS));

    let deadline = tokio::time::Instant::now() + Duration::from_secs(40);
    loop {
        let text = https.get(&format!("{base}/metrics"), None).await.body;
        if offset_of(&text, skewed).is_some_and(|s| (s - 3_600.0).abs() < 5.0) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no offset near 3600 s for {skewed}:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    // One more scrape of the skewed node: the warning is not repeated.
    tokio::time::sleep(Duration::from_secs(11)).await;
    let text = https.get(&format!("{base}/metrics"), None).await.body;
    let offset = offset_of(&text, skewed).unwrap();
    assert!((offset - 3_600.0).abs() < 5.0, "{offset}");
    for healthy in &names[1..] {
        let offset = offset_of(&text, healthy).unwrap();
        assert!(offset.abs() < 5.0, "{healthy}: {offset}");
    }
    assert_eq!(logs.lines_with(&[WARNING, skewed.as_str()]), 1);
    assert_eq!(logs.lines_with(&[WARNING]), 1, "only the skewed node");

    // Back in step: one line saying so, and the gauge reads about 0 again.
    assert!(demo.kubelets.set_clock_skew(skewed, 0));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let text = https.get(&format!("{base}/metrics"), None).await.body;
        if offset_of(&text, skewed).is_some_and(|s| s.abs() < 5.0) {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{text}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let back = ["Kubelet clock is back in step", skewed.as_str()];
    assert_eq!(logs.lines_with(&back), 1);
    demo.shutdown().await;
}
