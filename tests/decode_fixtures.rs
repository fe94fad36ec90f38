//! The kubelet payload decoders against real captures (tests/fixtures, see SOURCES.md) and a
//! synthetic current-format `/metrics/resource` payload. Summary expectations are computed
//! independently from the same files through `serde_json::Value`.

#![allow(clippy::unwrap_used)]

use metrics_server::batch::{MetricsPoint, NodeBatch, PodBatch};
use metrics_server::kubelet::decode::*;
use metrics_server::time::Timestamp;
use serde_json::Value;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
const RESOURCE_70: &str =
    "metrics-resource_kind-e2e-cluster-2021-10_70pods_from-metrics-server-client_test.prom";
const RESOURCE_ZERO_START: &str =
    "metrics-resource_zero-start-time-negative-timestamp_from-metrics-server-decode_test.prom";
const DEFAULT_TIME: Timestamp = Timestamp(1_800_000_000_000_000_000);
/// Resource payloads: asked and answered at [`DEFAULT_TIME`].
const RESOURCE_TIMES: ResponseTimes = ResponseTimes {
    requested: DEFAULT_TIME,
    received: DEFAULT_TIME,
};
/// Summary payloads: answered before their samples' seconds (a kubelet clock ahead of ours),
/// so their whole-second times are kept as printed.
const SUMMARY_TIMES: ResponseTimes = ResponseTimes {
    requested: Timestamp(0),
    received: Timestamp(0),
};

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{FIXTURES}/{name}")).unwrap()
}

fn summary_fixture(version: &str) -> Vec<u8> {
    fixture(&format!(
        "stats-summary_k8s-{version}_minikube-containerd_nri-kubernetes.json"
    ))
}

fn ms(ms: i64) -> Timestamp {
    Timestamp::from_millis(ms)
}

fn rfc3339(s: &str) -> Timestamp {
    Timestamp::parse_rfc3339(s).unwrap()
}

fn find<'b>(batch: &'b NodeBatch<'_>, namespace: &str, name: &str) -> &'b PodBatch<'b> {
    let found = batch
        .pods
        .iter()
        .find(|p| p.namespace == namespace && p.name == name);
    found.unwrap_or_else(|| panic!("pod {namespace}/{name} missing"))
}

fn only_point(pod: &PodBatch<'_>, container: &str) -> MetricsPoint {
    assert_eq!(pod.containers.len(), 1, "{}", pod.name);
    assert_eq!(pod.containers[0].name, container);
    pod.containers[0].point
}

#[test]
fn resource_70_pods_capture() {
    let body = fixture(RESOURCE_70);
    let batch = decode(Source::Resource, &body, RESOURCE_TIMES)
        .unwrap()
        .batch;
    // node_cpu_usage_seconds_total 357.35491 1633253809720
    // node_memory_working_set_bytes 1.616273408e+09 1633253809720
    let node = batch.node.unwrap();
    assert_eq!(node.cpu_ns, 357_354_910_000);
    assert_eq!(node.memory_bytes, 1_616_273_408);
    assert_eq!(node.timestamp, ms(1633253809720));
    assert_eq!(node.start_time, None);
    assert_eq!(batch.pods.len(), 70);
    assert_eq!(batch.container_count(), 70);
    assert!(batch.pods.iter().all(|p| p.complete));
    // The first container_cpu_usage_seconds_total line names the first pod.
    assert_eq!(batch.pods[0].name, "coredns-558bd4d5db-4dpjz");

    let coredns = find(&batch, "kube-system", "coredns-558bd4d5db-4dpjz");
    let point = only_point(coredns, "coredns");
    assert_eq!(point.cpu_ns, 4_710_169_000);
    assert_eq!(point.memory_bytes, 12_533_760);
    assert_eq!(point.timestamp, ms(1633253812125));
    assert_eq!(
        point.start_time, None,
        "this capture has no start time series"
    );

    let etcd = only_point(
        find(&batch, "kube-system", "etcd-e2e-control-plane"),
        "etcd",
    );
    assert_eq!(
        (etcd.cpu_ns, etcd.memory_bytes),
        (31_349_402_000, 40_783_872)
    );
    assert_eq!(etcd.timestamp, ms(1633253814387));

    let api = find(&batch, "kube-system", "kube-apiserver-e2e-control-plane");
    let api = only_point(api, "kube-apiserver");
    assert_eq!(
        (api.cpu_ns, api.memory_bytes),
        (86_500_663_000, 353_316_864)
    );
    assert_eq!(api.timestamp, ms(1633253814382));
}

#[test]
fn resource_decoding_borrows_names_from_the_body() {
    let body = fixture(RESOURCE_70);
    let batch = decode_resource(&body, DEFAULT_TIME).unwrap().batch;
    let range = body.as_ptr_range();
    for pod in &batch.pods {
        for name in [&pod.namespace, &pod.name] {
            assert!(range.contains(&name.as_ptr()), "{name} was copied");
        }
    }
}

#[test]
fn resource_zero_start_time_capture_fails_the_node() {
    let body = fixture(RESOURCE_ZERO_START);
    let err = decode_resource(&body, DEFAULT_TIME).unwrap_err();
    assert_eq!(err.line_number(), 3);
    assert_eq!(
        err.to_string(),
        "line 3: negative timestamp -62135596800000"
    );
}

/// What a 1.29+ kubelet prints: `[STABLE]`, `resource_scrape_error`, swap series, start time
/// without a sample timestamp, CRLF tolerated.
const CURRENT: &str = "\
# HELP container_cpu_usage_seconds_total [STABLE] Cumulative cpu time consumed by the container in core-seconds
# TYPE container_cpu_usage_seconds_total counter
container_cpu_usage_seconds_total{container=\"app\",namespace=\"shop\",pod=\"web-7d9\"} 0.25 1750000001000
container_cpu_usage_seconds_total{container=\"proxy\",namespace=\"shop\",pod=\"web-7d9\"} 1.5 1750000001100
# HELP container_memory_working_set_bytes [STABLE] Current working set of the container in bytes
# TYPE container_memory_working_set_bytes gauge
container_memory_working_set_bytes{container=\"app\",namespace=\"shop\",pod=\"web-7d9\"} 3.3554432e+07 1750000001200
container_memory_working_set_bytes{container=\"proxy\",namespace=\"shop\",pod=\"web-7d9\"} 0 1750000001300
# HELP container_start_time_seconds [STABLE] Start time of the container since unix epoch in seconds
# TYPE container_start_time_seconds gauge
container_start_time_seconds{container=\"app\",namespace=\"shop\",pod=\"web-7d9\"} 1.7499999e+09
container_start_time_seconds{container=\"proxy\",namespace=\"shop\",pod=\"web-7d9\"} 1.74999995e+09
# HELP container_swap_usage_bytes [ALPHA] Current amount of the container swap usage in bytes. Reported only on non-windows systems
# TYPE container_swap_usage_bytes gauge
container_swap_usage_bytes{container=\"app\",namespace=\"shop\",pod=\"web-7d9\"} 0 1750000001200
# HELP node_cpu_usage_seconds_total [STABLE] Cumulative cpu time consumed by the node in core-seconds
# TYPE node_cpu_usage_seconds_total counter
node_cpu_usage_seconds_total 4242.5 1750000000000
# HELP node_memory_working_set_bytes [STABLE] Current working set of the node in bytes
# TYPE node_memory_working_set_bytes gauge
node_memory_working_set_bytes 2.147483648e+09 1750000000001
# HELP node_swap_usage_bytes [ALPHA] Current swap usage of the node in bytes. Reported only on non-windows systems
# TYPE node_swap_usage_bytes gauge
node_swap_usage_bytes 0 1750000000001
# HELP pod_cpu_usage_seconds_total [STABLE] Cumulative cpu time consumed by the pod in core-seconds
# TYPE pod_cpu_usage_seconds_total counter
pod_cpu_usage_seconds_total{namespace=\"shop\",pod=\"web-7d9\"} 1.9 1750000001000
# HELP pod_swap_usage_bytes [ALPHA] Current amount of the pod swap usage in bytes. Reported only on non-windows systems
# TYPE pod_swap_usage_bytes gauge
pod_swap_usage_bytes{namespace=\"shop\",pod=\"web-7d9\"} 0 1750000001000
# HELP resource_scrape_error [STABLE] 1 if there was an error while getting container metrics, 0 otherwise
# TYPE resource_scrape_error gauge
resource_scrape_error 0
# HELP scrape_error [ALPHA] 1 if there was an error while getting container metrics, 0 otherwise
# TYPE scrape_error gauge
scrape_error 0
";

#[test]
fn resource_current_format_payload() {
    for body in [CURRENT.to_owned(), CURRENT.replace('\n', "\r\n")] {
        let batch = decode_resource(body.as_bytes(), DEFAULT_TIME)
            .unwrap()
            .batch;
        let node = batch.node.unwrap();
        assert_eq!(node.cpu_ns, 4_242_500_000_000);
        assert_eq!(node.memory_bytes, 2_147_483_648);
        assert_eq!(node.timestamp, ms(1750000000001));
        assert_eq!(batch.pods.len(), 1);
        let pod = &batch.pods[0];
        assert!(pod.complete);
        let names: Vec<_> = pod.containers.iter().map(|c| &*c.name).collect();
        assert_eq!(names, ["app", "proxy"]);
        let app = pod.containers[0].point;
        assert_eq!(app.cpu_ns, 250_000_000);
        assert_eq!(app.memory_bytes, 33_554_432);
        assert_eq!(app.timestamp, ms(1750000001200));
        assert_eq!(app.start_time, Some(Timestamp::from_secs(1_749_999_900)));
        let proxy = pod.containers[1].point;
        assert_eq!((proxy.cpu_ns, proxy.memory_bytes), (1_500_000_000, 0));
        assert_eq!(proxy.start_time, Some(Timestamp::from_secs(1_749_999_950)));
    }
}

/// One pod as read from the JSON by hand: namespace, name, complete, and its complete
/// containers as (name, cpu, memory, timestamp, start).
type ExpectedPod = (
    String,
    String,
    bool,
    Vec<(String, u64, u64, Timestamp, Option<Timestamp>)>,
);

fn expected_pods(json: &Value) -> Vec<ExpectedPod> {
    let mut pods = Vec::new();
    for pod in json["pods"].as_array().unwrap() {
        let namespace = pod["podRef"]["namespace"].as_str().unwrap().to_owned();
        let name = pod["podRef"]["name"].as_str().unwrap().to_owned();
        let mut complete = true;
        let mut containers = Vec::new();
        for c in pod["containers"].as_array().unwrap() {
            let cpu = c["cpu"]["usageCoreNanoSeconds"].as_u64().unwrap_or(0);
            let memory = c["memory"]["workingSetBytes"].as_u64();
            let time = c["memory"]["time"].as_str().or(c["cpu"]["time"].as_str());
            match (cpu, memory, time) {
                (1.., Some(memory), Some(time)) => containers.push((
                    c["name"].as_str().unwrap().to_owned(),
                    cpu,
                    memory,
                    rfc3339(time),
                    c["startTime"].as_str().map(rfc3339),
                )),
                _ => complete = false,
            }
        }
        pods.push((namespace, name, complete, containers));
    }
    pods
}

fn check_summary_fixture(version: &str) -> NodeBatch<'static> {
    let body: &'static [u8] = summary_fixture(version).leak();
    let json: Value = serde_json::from_slice(body).unwrap();
    let batch = decode(Source::Summary, body, SUMMARY_TIMES).unwrap().batch;

    let node = batch.node.unwrap();
    let node_json = &json["node"];
    assert_eq!(
        Some(node.cpu_ns),
        node_json["cpu"]["usageCoreNanoSeconds"].as_u64()
    );
    assert_eq!(
        Some(node.memory_bytes),
        node_json["memory"]["workingSetBytes"].as_u64()
    );
    assert_eq!(
        node.timestamp,
        rfc3339(node_json["memory"]["time"].as_str().unwrap())
    );

    let expected = expected_pods(&json);
    assert_eq!(batch.pods.len(), expected.len(), "k8s {version}");
    for (pod, (namespace, name, complete, containers)) in batch.pods.iter().zip(&expected) {
        assert_eq!(
            (&*pod.namespace, &*pod.name),
            (namespace.as_str(), name.as_str())
        );
        assert_eq!(pod.complete, *complete, "{namespace}/{name}");
        let got: Vec<_> = pod
            .containers
            .iter()
            .map(|c| {
                let p = c.point;
                (
                    c.name.to_string(),
                    p.cpu_ns,
                    p.memory_bytes,
                    p.timestamp,
                    p.start_time,
                )
            })
            .collect();
        assert_eq!(&got, containers, "{namespace}/{name}");
    }
    batch
}

#[test]
fn summary_k8s_1_22() {
    let batch = check_summary_fixture("1.22");
    assert_eq!(batch.pods.len(), 17);
    let node = batch.node.unwrap();
    assert_eq!(
        (node.cpu_ns, node.memory_bytes),
        (242_567_655_000, 900_640_768)
    );
    assert_eq!(node.timestamp, rfc3339("2023-05-31T02:50:25Z"));
    let etcd = only_point(find(&batch, "kube-system", "etcd-datagen-1-22"), "etcd");
    assert_eq!(
        (etcd.cpu_ns, etcd.memory_bytes),
        (20_704_276_000, 35_381_248)
    );
    assert_eq!(etcd.timestamp, rfc3339("2023-05-31T02:50:30Z"));
    assert_eq!(etcd.start_time, Some(rfc3339("2023-05-31T02:41:49Z")));
}

#[test]
fn summary_k8s_1_34() {
    let batch = check_summary_fixture("1.34");
    assert_eq!(batch.pods.len(), 18);
    let coredns = find(&batch, "kube-system", "coredns-66bc5c9577-d98t2");
    let point = only_point(coredns, "coredns");
    assert_eq!(
        (point.cpu_ns, point.memory_bytes),
        (182_007_000, 17_866_752)
    );
    assert_eq!(point.timestamp, rfc3339("2026-01-13T18:40:13Z"));
}

#[test]
fn summary_k8s_1_35() {
    let batch = check_summary_fixture("1.35");
    assert_eq!(batch.pods.len(), 17);
    let node = batch.node.unwrap();
    assert_eq!(
        (node.cpu_ns, node.memory_bytes),
        (62_148_052_000, 917_110_784)
    );
    let etcd = only_point(find(&batch, "kube-system", "etcd-datagen-1-35"), "etcd");
    assert_eq!(
        (etcd.cpu_ns, etcd.memory_bytes),
        (2_628_368_000, 44_290_048)
    );
    assert_eq!(etcd.start_time, Some(rfc3339("2026-06-26T10:12:10Z")));
}

#[test]
fn truncated_summary_fails_with_position() {
    let body = summary_fixture("1.35");
    let err = decode_summary(&body[..body.len() / 2], SUMMARY_TIMES.received).unwrap_err();
    assert!(
        err.to_string().starts_with("invalid summary JSON at line "),
        "{err}"
    );
    assert!(err.line_number() > 1);
}
