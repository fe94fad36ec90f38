//! Kubelet payloads with the faults fault testing found, decoded and stored the way the scraper
//! does (`Source::decode`, then `Store::apply_decoded`), checked against the true usage.
#![allow(clippy::unwrap_used)]

use metrics_server::kubelet::decode::{ResponseTimes, Source};
use metrics_server::store::{MissingReason, Snapshot, Store, StoreConfig};
use metrics_server::telemetry::coverage::{Coverage, REASONS};
use metrics_server::time::{NANOS_PER_SEC, Timestamp};

/// True usage of the node, and of each container: half a core, and a tenth of a core.
const NODE_NANOCORES: i64 = 500_000_000;
const CONTAINER_NANOCORES: i64 = 100_000_000;
/// Between the kubelet reading its counters and the response arriving.
const LATENCY_NS: i64 = 20_000_000;
const SCRAPE_INTERVAL_NS: i64 = 15 * NANOS_PER_SEC;
/// A whole second, far from 1970, where the first scrape lands.
const FIRST_SECOND: i64 = 1_750_000_000 * NANOS_PER_SEC;

/// Cumulative CPU in core-nanoseconds at `t` for a constant usage (counters started at 0).
fn counter(nanocores: i64, t: Timestamp) -> u64 {
    let core_ns = i128::from(nanocores) * i128::from(t.0 - FIRST_SECOND + 1_000 * NANOS_PER_SEC)
        / i128::from(NANOS_PER_SEC);
    u64::try_from(core_ns).unwrap_or(0)
}

/// A `/stats/summary` body read at `sampled`, with the kubelet's whole-second times
/// (`metav1.Time`), for the node and pod `default/web` (container `app`).
fn summary_at(sampled: Timestamp) -> String {
    let time = Timestamp::from_secs(sampled.secs()).to_rfc3339_seconds();
    let node_cpu = counter(NODE_NANOCORES, sampled);
    let app_cpu = counter(CONTAINER_NANOCORES, sampled);
    format!(
        r#"{{"node": {{"nodeName": "n1",
             "cpu": {{"time": "{time}", "usageCoreNanoSeconds": {node_cpu}}},
             "memory": {{"time": "{time}", "workingSetBytes": 1000}}}},
           "pods": [{{"podRef": {{"name": "web", "namespace": "default"}},
             "containers": [{{"name": "app", "startTime": "2025-01-01T00:00:00Z",
               "cpu": {{"time": "{time}", "usageCoreNanoSeconds": {app_cpu}}},
               "memory": {{"time": "{time}", "workingSetBytes": 100}}}}]}}]}}"#
    )
}

/// Scrapes node `n1` through the Summary API with the kubelet reading its counters at
/// `sampled`; the response arrives [`LATENCY_NS`] later.
fn scrape_summary(store: &mut Store, sampled: Timestamp) {
    let body = summary_at(sampled);
    let received = Timestamp(sampled.0 + LATENCY_NS);
    let times = ResponseTimes {
        requested: Timestamp(sampled.0 - LATENCY_NS),
        received,
    };
    let decoded = Source::Summary.decode(body.as_bytes(), times).unwrap();
    store.apply_decoded("n1", &decoded);
}

fn relative_error(served: u64, truth: i64) -> f64 {
    (served as f64 - truth as f64).abs() / truth as f64
}

/// The kubelet's summary times are whole seconds, so the interval between two of them is off
/// by up to a second depending on where in the second each scrape lands; the served rate must
/// still be within 1 % of the truth at every sub-second phase.
#[test]
fn summary_cpu_is_within_one_percent_at_every_sub_second_phase() {
    let phases_ms = [50, 500, 950];
    for first_ms in phases_ms {
        for second_ms in phases_ms {
            let mut store = Store::new(StoreConfig::default());
            let first = Timestamp(FIRST_SECOND + first_ms * 1_000_000);
            let second = Timestamp(FIRST_SECOND + SCRAPE_INTERVAL_NS + second_ms * 1_000_000);
            scrape_summary(&mut store, first);
            scrape_summary(&mut store, second);
            let snap = store.publish();
            let case = format!("scrapes at .{first_ms:03} then .{second_ms:03}");
            let node = snap.node("n1").unwrap_or_else(|| panic!("{case}: node"));
            let node_error = relative_error(node.usage.cpu_nanocores, NODE_NANOCORES);
            assert!(node_error <= 0.01, "{case}: node off by {node_error:.4}");
            let pod = snap
                .pod("default", "web")
                .unwrap_or_else(|| panic!("{case}: pod"));
            let cpu = pod.containers[0].usage.cpu_nanocores;
            let pod_error = relative_error(cpu, CONTAINER_NANOCORES);
            assert!(pod_error <= 0.01, "{case}: pod off by {pod_error:.4}");
        }
    }
}

/// A `/metrics/resource` body at `secs`: the node and pods `default/a`, `default/b`,
/// `default/c`, one container each; `b`'s CPU is `b_cpu` (text as printed).
fn resource_at(secs: i64, b_cpu: &str) -> String {
    let ms = secs * 1_000;
    let cpu = |nanocores: i64| format!("{}", nanocores as f64 * secs as f64 / 1e9);
    let mut body = format!(
        "node_cpu_usage_seconds_total {} {ms}\nnode_memory_working_set_bytes 1000 {ms}\n",
        cpu(NODE_NANOCORES)
    );
    for pod in ["a", "b", "c"] {
        let value = if pod == "b" {
            b_cpu.to_owned()
        } else {
            cpu(CONTAINER_NANOCORES)
        };
        let labels = format!("container=\"app\",namespace=\"default\",pod=\"{pod}\"");
        body += &format!(
            "container_cpu_usage_seconds_total{{{labels}}} {value} {ms}\n\
             container_memory_working_set_bytes{{{labels}}} 100 {ms}\n\
             container_start_time_seconds{{{labels}}} 1 {ms}\n"
        );
    }
    body
}

fn scrape_resource(store: &mut Store, body: &str) {
    let times = ResponseTimes::at(Timestamp::from_secs(1));
    let decoded = Source::Resource.decode(body.as_bytes(), times).unwrap();
    store.apply_decoded("n1", &decoded);
}

fn count(coverage: &Coverage, reason: MissingReason) -> usize {
    let position = REASONS.iter().position(|r| *r == reason);
    position.map_or(0, |i| coverage.missing[i])
}

fn pod_coverage(snap: &Snapshot) -> Coverage {
    let pods = [("default", "a"), ("default", "b"), ("default", "c")];
    Coverage::pods(snap, pods.into_iter())
}

/// One container reporting NaN (or ±Inf) CPU withholds its pod only: the node and every other
/// pod stay served, and the withheld pod is counted under its own reason.
#[test]
fn a_non_finite_container_value_withholds_only_its_pod() {
    for bad in ["NaN", "+Inf", "-Inf"] {
        let mut store = Store::new(StoreConfig::default());
        scrape_resource(&mut store, &resource_at(1_000, "1"));
        scrape_resource(&mut store, &resource_at(1_015, bad));
        let snap = store.publish();
        assert!(snap.node("n1").is_some(), "{bad}: the node is served");
        assert!(snap.pod("default", "a").is_some(), "{bad}");
        assert!(snap.pod("default", "c").is_some(), "{bad}");
        assert!(snap.pod("default", "b").is_none(), "{bad}");
        assert_eq!(
            snap.pod_missing_reason("default", "b"),
            MissingReason::InvalidValue,
            "{bad}"
        );
        let coverage = pod_coverage(&snap);
        assert_eq!((coverage.known, coverage.served), (3, 2), "{bad}");
        assert_eq!(count(&coverage, MissingReason::InvalidValue), 1, "{bad}");

        // Like an incomplete container, the invalid one starts a new series: two good
        // samples serve the pod again.
        scrape_resource(&mut store, &resource_at(1_030, "3"));
        scrape_resource(&mut store, &resource_at(1_045, "4.5"));
        let snap = store.publish();
        assert!(snap.pod("default", "b").is_some(), "{bad}: served again");
    }
}

#[test]
fn a_non_finite_node_value_withholds_only_the_node() {
    let mut store = Store::new(StoreConfig::default());
    scrape_resource(&mut store, &resource_at(1_000, "1"));
    let body = resource_at(1_015, "3").replacen(
        "node_cpu_usage_seconds_total 507.5",
        "node_cpu_usage_seconds_total NaN",
        1,
    );
    assert!(body.contains("NaN"), "{body}");
    scrape_resource(&mut store, &body);
    let snap = store.publish();
    assert_eq!(snap.node_missing_reason("n1"), MissingReason::InvalidValue);
    assert_eq!(pod_coverage(&snap).served, 3);
}
