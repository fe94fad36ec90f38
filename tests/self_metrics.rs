//! `/metrics` against the demo cluster (upstream spec §2.10): the six upstream families with
//! real values after real scrapes, and ours — a failing kubelet shows up with its reason in the
//! per-node result, in the failure counter and in the coverage gauges; the pod without metrics
//! gets a 404 that says why.

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::Https;
use metrics_server::config::MetricsSource;
use metrics_server_sim::kubelet::Fault;

fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_endpoint_reports_upstream_families_and_coverage() {
    let dir = tempfile::tempdir().unwrap();
    let demo = common::ready_demo(dir.path(), 3, 4, MetricsSource::Resource).await;
    let https = Https::as_aggregator(dir.path());
    let base = format!("https://127.0.0.1:{}", demo.server.local_addr.port());
    // Serve some items so the freshness histogram has observations.
    let list = https
        .get(&format!("{base}/apis/metrics.k8s.io/v1beta1/pods"), None)
        .await;
    assert_eq!(list.status, 200);

    let got = https.get(&format!("{base}/metrics"), None).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.content_type, "text/plain; version=0.0.4; charset=utf-8");
    let text = got.body;
    let upstream: BTreeSet<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE metrics_server_"))
        .filter_map(|l| l.split(' ').next())
        .collect();
    assert_eq!(
        upstream,
        BTreeSet::from([
            "api_metric_freshness_seconds",
            "kubelet_last_request_time_seconds",
            "kubelet_request_duration_seconds",
            "kubelet_request_total",
            "manager_tick_duration_seconds",
            "storage_points",
        ]),
        "exactly upstream's six families:\n{text}"
    );
    let pods = demo.workload.running_pods().count() as f64;
    let freshness = value(&text, "metrics_server_api_metric_freshness_seconds_count").unwrap();
    assert!(
        freshness >= pods,
        "one observation per served pod: {freshness}"
    );
    let inf = "metrics_server_api_metric_freshness_seconds_bucket{le=\"+Inf\"}";
    assert_eq!(value(&text, inf), Some(freshness), "{text}");
    let age_sum = value(&text, "metrics_server_api_metric_freshness_seconds_sum").unwrap();
    assert!(
        age_sum > 0.0 && age_sum / freshness < 60.0,
        "samples are seconds old: sum {age_sum} over {freshness}"
    );
    assert!(
        value(
            &text,
            "metrics_server_kubelet_request_total{success=\"true\"}"
        )
        .unwrap()
            >= 6.0
    );
    assert_eq!(
        value(&text, "metrics_server_storage_points{type=\"node\"}"),
        Some(3.0)
    );
    assert!(value(&text, "metrics_server_manager_tick_duration_seconds_count").unwrap() >= 2.0);
    // Two scrapes and a list of all pods ran: every stage has used some CPU.
    for stage in ["decode", "store_apply", "publish", "list_encode", "respond"] {
        let series = format!("metrics_rs_stage_cpu_seconds_total{{stage=\"{stage}\"}}");
        let seconds = value(&text, &series).unwrap_or_else(|| panic!("{series}:\n{text}"));
        assert!(seconds > 0.0 && seconds < 60.0, "{series} {seconds}");
    }
    let node = demo.workload.nodes()[0].name.clone();
    assert_eq!(
        value(
            &text,
            &format!("metrics_rs_node_scrape_result{{node=\"{node}\",result=\"ok\"}}")
        ),
        Some(1.0)
    );
    assert_eq!(
        value(&text, "metrics_rs_items{kind=\"pod\",state=\"known\"}"),
        Some(pods)
    );
    assert_eq!(
        value(&text, "metrics_rs_items{kind=\"pod\",state=\"served\"}"),
        Some(pods)
    );
    assert_eq!(
        value(&text, "metrics_rs_items{kind=\"node\",state=\"served\"}"),
        Some(3.0)
    );

    // One kubelet starts answering 500: its result, the failure counter and coverage say so.
    assert!(demo.kubelets.set_fault(&node, Fault::Status500));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(40);
    let text = loop {
        let text = https.get(&format!("{base}/metrics"), None).await.body;
        let failed =
            format!("metrics_rs_node_scrape_result{{node=\"{node}\",result=\"http_status\"}}");
        if value(&text, &failed) == Some(1.0) {
            break text;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no failure recorded:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert!(
        !text.contains(&format!("node=\"{node}\",result=\"ok\"")),
        "one result series per node"
    );
    assert!(
        value(
            &text,
            "metrics_rs_kubelet_scrape_failures_total{reason=\"http_status\"}"
        )
        .unwrap()
            >= 1.0
    );
    assert_eq!(
        value(
            &text,
            "metrics_rs_items_without_metrics{kind=\"node\",reason=\"node_failed\"}"
        ),
        Some(1.0)
    );
    let on_node: Vec<_> = demo
        .workload
        .running_pods()
        .filter(|p| p.node == 0)
        .collect();
    assert_eq!(
        value(
            &text,
            "metrics_rs_items_without_metrics{kind=\"pod\",reason=\"node_failed\"}"
        ),
        Some(on_node.len() as f64)
    );
    // The 404 for one of those pods names the reason.
    let pod = on_node[0];
    let got = https
        .get(
            &format!(
                "{base}/apis/metrics.k8s.io/v1beta1/namespaces/{}/pods/{}",
                pod.namespace, pod.name
            ),
            None,
        )
        .await;
    assert_eq!(got.status, 404);
    assert!(
        got.body
            .contains("not found: the latest scrape of its node failed"),
        "{}",
        got.body
    );
    demo.shutdown().await;
}
