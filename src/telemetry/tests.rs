use std::borrow::Cow;
use std::collections::BTreeSet;

use super::coverage::{Coverage, REASONS};
use super::*;
use crate::batch::{ContainerBatch, MetricsPoint, NodeBatch, PodBatch};
use crate::store::{MissingReason, Store, StoreConfig};

fn families(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .map(|l| l.to_owned())
        .collect()
}

#[test]
fn upstream_families_keep_their_names_types_and_help() {
    let m = Metrics::new(Duration::from_secs(15));
    m.observe_freshness(Timestamp::from_secs(100), [Timestamp::from_secs(98)]);
    m.record_scrape(&"node-a".into(), Duration::from_millis(20), Ok(()));
    m.record_cycle(Duration::from_millis(30), &|_| true);
    m.set_storage_points(1, 3);
    let text = m.encode();
    let upstream: BTreeSet<String> = families(&text)
        .into_iter()
        .filter(|f| f.starts_with("metrics_server_"))
        .collect();
    let want: BTreeSet<String> = [
        "metrics_server_api_metric_freshness_seconds histogram",
        "metrics_server_kubelet_request_duration_seconds histogram",
        "metrics_server_kubelet_request_total counter",
        "metrics_server_kubelet_last_request_time_seconds gauge",
        "metrics_server_manager_tick_duration_seconds histogram",
        "metrics_server_storage_points gauge",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(upstream, want, "{text}");
    assert!(!text.contains("_total_total"));
    assert!(!text.contains("# EOF"), "text 0.0.4, not OpenMetrics");
    for line in text
        .lines()
        .filter(|l| l.starts_with("# HELP metrics_server_"))
    {
        assert!(line.contains(" [ALPHA] "), "{line}");
    }
    assert!(text.contains("metrics_server_kubelet_request_total{success=\"true\"} 1\n"));
    assert!(text.contains("metrics_server_storage_points{type=\"container\"} 3\n"));
    assert!(
        text.contains("metrics_server_kubelet_request_duration_seconds_count{node=\"node-a\"} 1\n")
    );
    assert!(text.contains("metrics_server_api_metric_freshness_seconds_count 1\n"));
}

fn bucket_bounds(text: &str, family: &str) -> Vec<f64> {
    let prefix = format!("{family}_bucket{{");
    text.lines()
        .filter(|l| l.starts_with(&prefix))
        .filter_map(|l| l.split("le=\"").nth(1)?.split('"').next())
        .filter(|le| *le != "+Inf")
        .map(|le| le.parse().unwrap())
        .collect()
}

#[test]
fn buckets_are_upstreams() {
    let m = Metrics::new(Duration::from_secs(15));
    m.observe_freshness(Timestamp::from_secs(10), [Timestamp::from_secs(9)]);
    m.record_scrape(&"n".into(), Duration::from_millis(1), Ok(()));
    m.record_cycle(Duration::from_millis(1), &|_| true);
    let text = m.encode();
    let fresh = bucket_bounds(&text, "metrics_server_api_metric_freshness_seconds");
    assert_eq!(fresh.len(), 20);
    assert_eq!(fresh[0], 1.0);
    assert!((fresh[1] - 1.364).abs() < 1e-9);
    assert!((fresh[19] - 364.31).abs() < 0.01, "{}", fresh[19]);
    // The label text is Go's: 1.364 * 1.364 computed by multiplication is 1.8604960000000004.
    assert!(text.contains("le=\"1.8604960000000004\""), "{text}");
    assert_eq!(
        bucket_bounds(&text, "metrics_server_kubelet_request_duration_seconds"),
        DEF_BUCKETS
    );
    let tick = bucket_bounds(&text, "metrics_server_manager_tick_duration_seconds");
    assert_eq!(&tick[11..], &[12.5, 15.0, 22.5, 30.0]);
    assert_eq!(
        scrape_duration_buckets(Duration::from_secs(60))[11..],
        [35.0, 60.0, 90.0, 120.0]
    );
    assert_eq!(
        scrape_duration_buckets(Duration::from_secs(10)),
        DEF_BUCKETS
    );
}

#[test]
fn scrape_result_keeps_one_series_per_node_and_drops_deleted_nodes() {
    let m = Metrics::new(Duration::from_secs(15));
    m.record_scrape(&"a".into(), Duration::from_millis(5), Err("timeout"));
    m.record_scrape(&"b".into(), Duration::from_millis(5), Ok(()));
    m.record_scrape(&"a".into(), Duration::from_millis(5), Err("tls"));
    let text = m.encode();
    assert!(text.contains("metrics_rs_node_scrape_result{node=\"a\",result=\"tls\"} 1\n"));
    assert!(!text.contains("result=\"timeout\""), "{text}");
    assert!(text.contains("metrics_rs_node_scrape_result{node=\"b\",result=\"ok\"} 1\n"));
    assert!(text.contains("metrics_rs_kubelet_scrape_failures_total{reason=\"timeout\"} 1\n"));
    assert!(text.contains("metrics_server_kubelet_request_total{success=\"false\"} 2\n"));

    m.record_cycle(Duration::from_millis(5), &|n| n == "b");
    let text = m.encode();
    assert!(
        !text.contains("node=\"a\""),
        "series of node a remain:\n{text}"
    );
    assert!(text.contains("node=\"b\""));
}

#[test]
fn tls_check_series_follow_the_latest_scrape_of_each_node() {
    let m = Metrics::new(Duration::from_secs(15));
    m.record_tls_check("a", Some("unknown_ca"));
    m.record_tls_check("b", Some("name_mismatch"));
    m.record_tls_check("a", Some("expired"));
    let text = m.encode();
    assert!(text.contains("metrics_rs_kubelet_tls_check_failed{node=\"a\",check=\"expired\"} 1\n"));
    assert!(
        !text.contains("unknown_ca\"}"),
        "the replaced check is gone:\n{text}"
    );
    m.record_tls_check("a", None);
    m.record_cycle(Duration::from_millis(5), &|n| n != "b");
    let text = m.encode();
    assert!(
        !text.contains("metrics_rs_kubelet_tls_check_failed{"),
        "fixed and departed nodes lose their series:\n{text}"
    );
}

fn point(ts: i64, cpu_ns: u64) -> MetricsPoint {
    MetricsPoint {
        timestamp: Timestamp::from_secs(ts),
        start_time: Some(Timestamp::from_secs(1)),
        cpu_ns,
        memory_bytes: 1 << 20,
    }
}

fn one_pod(ts: i64) -> NodeBatch<'static> {
    NodeBatch {
        node: Some(point(ts, ts as u64 * 1_000_000)),
        pods: vec![PodBatch {
            namespace: Cow::Borrowed("default"),
            name: Cow::Borrowed("web"),
            containers: vec![ContainerBatch {
                name: Cow::Borrowed("app"),
                point: point(ts, ts as u64 * 1_000),
            }],
            complete: true,
        }],
    }
}

#[test]
fn coverage_counts_served_and_missing_by_reason() {
    let mut store = Store::new(StoreConfig::default());
    store.apply_node("n1", &one_pod(1_000));
    store.apply_node("n1", &one_pod(1_015));
    store.apply_node("n2", &one_pod(1_000));
    store.node_failed("n3");
    let snap = store.publish();
    let nodes = Coverage::nodes(&snap, ["n1", "n2", "n3", "n4"].into_iter());
    assert_eq!((nodes.known, nodes.served), (4, 1));
    let idx = |r: MissingReason| REASONS.iter().position(|x| *x == r).unwrap();
    assert_eq!(nodes.missing[idx(MissingReason::NodeFailed)], 1);
    assert_eq!(nodes.missing[idx(MissingReason::NotScrapedYet)], 1);
    assert_eq!(nodes.missing.iter().sum::<usize>(), 3);

    let pods = Coverage::pods(
        &snap,
        [("default", "web"), ("default", "other")].into_iter(),
    );
    assert_eq!((pods.known, pods.served), (2, 1));
    assert_eq!(pods.missing[idx(MissingReason::NotScrapedYet)], 1);

    let m = Metrics::new(Duration::from_secs(15));
    m.coverage.set("pod", &pods);
    let text = m.encode();
    assert!(
        text.contains("metrics_rs_items{kind=\"pod\",state=\"served\"} 1\n"),
        "{text}"
    );
    assert!(
        text.contains(
            "metrics_rs_items_without_metrics{kind=\"pod\",reason=\"not_scraped_yet\"} 1\n"
        )
    );
    assert!(text.contains(
        "metrics_rs_items_without_metrics{kind=\"pod\",reason=\"waiting_second_sample\"} 0\n"
    ));
}

#[test]
fn overrun_cycles_are_counted() {
    let m = Metrics::new(Duration::from_secs(15));
    assert!(
        m.encode()
            .contains("metrics_rs_scrape_cycle_overruns_total 0\n")
    );
    m.record_overrun();
    m.record_overrun();
    assert!(
        m.encode()
            .contains("metrics_rs_scrape_cycle_overruns_total 2\n")
    );
}
