//! Swap and ephemeral storage (`--extra-resources`) decoded from real kubelet captures
//! (tests/fixtures, see SOURCES.md): expectations computed independently from the same files
//! through `serde_json::Value`. Without the flag the decoders give exactly what they gave
//! before: the same batch and no extra figure.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use metrics_server::batch::Decoded;
use metrics_server::kubelet::decode::*;
use metrics_server::time::Timestamp;
use metrics_server::usage::{ExtraResources, ExtraUsage};
use serde_json::Value;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
const RESOURCE_70: &str =
    "metrics-resource_kind-e2e-cluster-2021-10_70pods_from-metrics-server-client_test.prom";
const TIMES: ResponseTimes = ResponseTimes {
    requested: Timestamp(1_800_000_000_000_000_000),
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

/// Each container's figures by (namespace, pod, container).
fn by_container(decoded: &Decoded<'_>) -> BTreeMap<(String, String, String), ExtraUsage> {
    decoded
        .extra
        .containers
        .iter()
        .map(|c| {
            let key = (
                c.namespace.to_string(),
                c.pod.to_string(),
                c.container.to_string(),
            );
            (key, c.usage)
        })
        .collect()
}

fn used(v: &Value) -> Option<u64> {
    v.get("usedBytes").and_then(Value::as_u64)
}

/// Checks every figure of a Summary capture; returns how many bytes the pods had beyond
/// their containers (volumes, /etc/hosts), all of it shared out.
fn check_summary(version: &str) -> u64 {
    let body = summary_fixture(version);
    let json: Value = serde_json::from_slice(&body).unwrap();
    let plain = decode_with(Source::Summary, &body, TIMES, ExtraResources::NONE).unwrap();
    assert!(
        plain.extra.is_empty(),
        "{version}: figures without the flag"
    );
    let decoded = decode_with(Source::Summary, &body, TIMES, ExtraResources::ALL).unwrap();
    assert_eq!(
        decoded.batch, plain.batch,
        "{version}: CPU and memory unchanged"
    );
    assert_eq!(decoded.invalid, plain.invalid);

    let node = &json["node"];
    assert_eq!(
        decoded.extra.node.ephemeral_storage_bytes,
        used(&node["fs"])
    );
    assert!(decoded.extra.node.ephemeral_storage_bytes.unwrap() > 1 << 30);
    assert_eq!(
        decoded.extra.node.swap_bytes,
        node["swap"]["swapUsageBytes"].as_u64()
    );

    let figures = by_container(&decoded);
    let mut shared = 0;
    let mut containers = 0;
    for pod in json["pods"].as_array().unwrap() {
        let (ns, name) = (
            pod["podRef"]["namespace"].as_str().unwrap(),
            pod["podRef"]["name"].as_str().unwrap(),
        );
        let pod_total = used(&pod["ephemeral-storage"]).unwrap();
        let mut own_sum = 0;
        let mut served_sum = 0;
        for c in pod["containers"].as_array().unwrap() {
            let container = c["name"].as_str().unwrap();
            let key = (ns.to_owned(), name.to_owned(), container.to_owned());
            let got = figures[&key];
            let own = used(&c["rootfs"]).unwrap_or(0) + used(&c["logs"]).unwrap_or(0);
            let storage = got.ephemeral_storage_bytes.unwrap();
            assert!(
                storage >= own,
                "{ns}/{name}/{container}: {storage} < own {own}"
            );
            assert_eq!(got.swap_bytes, c["swap"]["swapUsageBytes"].as_u64());
            own_sum += own;
            served_sum += storage;
            containers += 1;
        }
        assert_eq!(
            served_sum, pod_total,
            "{ns}/{name}: the containers sum to the kubelet's pod figure"
        );
        shared += pod_total - own_sum;
    }
    assert_eq!(
        figures.len(),
        containers,
        "{version}: one entry per container"
    );
    shared
}

#[test]
fn summary_k8s_1_35_swap_and_storage() {
    let shared = check_summary("1.35");
    // emptyDir, configMap volumes and /etc/hosts of 17 pods.
    assert!(shared >= 17 * 4096, "{shared}");
}

#[test]
fn summary_k8s_1_34_swap_and_storage() {
    assert!(check_summary("1.34") >= 18 * 4096);
}

#[test]
fn summary_k8s_1_22_has_storage_and_no_swap() {
    assert!(check_summary("1.22") >= 17 * 4096);
    let body = summary_fixture("1.22");
    let decoded = decode_with(Source::Summary, &body, TIMES, ExtraResources::ALL).unwrap();
    assert_eq!(decoded.extra.node.swap_bytes, None, "1.22 reports no swap");
    assert!(
        decoded
            .extra
            .containers
            .iter()
            .all(|c| c.usage.swap_bytes.is_none())
    );
}

#[test]
fn summary_with_only_swap_asked_has_no_storage() {
    let body = summary_fixture("1.35");
    let swap = ExtraResources {
        swap: true,
        ..ExtraResources::NONE
    };
    let decoded = decode_with(Source::Summary, &body, TIMES, swap).unwrap();
    assert_eq!(decoded.extra.node.swap_bytes, Some(0));
    assert_eq!(decoded.extra.node.ephemeral_storage_bytes, None);
    assert!(
        decoded
            .extra
            .containers
            .iter()
            .all(|c| c.usage.swap_bytes == Some(0) && c.usage.ephemeral_storage_bytes.is_none())
    );
}

/// The 70-pod capture with the swap series a kubelet ≥ 1.30 prints, in its format (the
/// capture predates them): two containers and the node swap.
fn resource_with_swap() -> Vec<u8> {
    let mut body = fixture(RESOURCE_70);
    body.extend_from_slice(
        b"# HELP container_swap_usage_bytes [ALPHA] Current amount of the container swap usage in bytes. Reported only on non-windows systems\n\
# TYPE container_swap_usage_bytes gauge\n\
container_swap_usage_bytes{container=\"coredns\",namespace=\"kube-system\",pod=\"coredns-558bd4d5db-4dpjz\"} 1.048576e+06 1633253812125\n\
container_swap_usage_bytes{container=\"etcd\",namespace=\"kube-system\",pod=\"etcd-e2e-control-plane\"} 0 1633253814387\n\
container_swap_usage_bytes{container=\"ghost\",namespace=\"kube-system\",pod=\"not-in-cpu-series\"} 4096 1633253814387\n\
# HELP node_swap_usage_bytes [ALPHA] Current swap usage of the node in bytes. Reported only on non-windows systems\n\
# TYPE node_swap_usage_bytes gauge\n\
node_swap_usage_bytes 2.097152e+07 1633253809720\n",
    );
    body
}

#[test]
fn resource_swap_series_are_read_when_asked() {
    let body = resource_with_swap();
    let plain = decode_with(Source::Resource, &body, TIMES, ExtraResources::NONE).unwrap();
    assert!(plain.extra.is_empty());
    let original = fixture(RESOURCE_70);
    let before = decode_with(Source::Resource, &original, TIMES, ExtraResources::NONE).unwrap();
    assert_eq!(
        plain, before,
        "without the flag the swap series change nothing"
    );

    let decoded = decode_with(Source::Resource, &body, TIMES, ExtraResources::ALL).unwrap();
    assert_eq!(decoded.batch, plain.batch, "CPU and memory unchanged");
    assert_eq!(decoded.extra.node.swap_bytes, Some(20 << 20));
    assert_eq!(
        decoded.extra.node.ephemeral_storage_bytes, None,
        "ephemeral storage is not on /metrics/resource"
    );
    let figures = by_container(&decoded);
    let key = |pod: &str, c: &str| ("kube-system".to_owned(), pod.to_owned(), c.to_owned());
    assert_eq!(
        figures[&key("coredns-558bd4d5db-4dpjz", "coredns")].swap_bytes,
        Some(1 << 20)
    );
    assert_eq!(
        figures[&key("etcd-e2e-control-plane", "etcd")].swap_bytes,
        Some(0)
    );
    assert_eq!(
        figures.len(),
        2,
        "a container seen only in swap is no container"
    );
    assert!(
        !decoded
            .batch
            .pods
            .iter()
            .any(|p| p.name == "not-in-cpu-series"),
        "and adds no pod"
    );
}

#[test]
fn a_bad_swap_value_leaves_out_only_that_figure() {
    let mut body = fixture(RESOURCE_70);
    body.extend_from_slice(
        b"container_swap_usage_bytes{container=\"coredns\",namespace=\"kube-system\",pod=\"coredns-558bd4d5db-4dpjz\"} NaN\n\
node_swap_usage_bytes -1\n\
container_swap_usage_bytes{namespace=\"kube-system\",pod=\"no-container-label\"} 1\n\
container_swap_usage_bytes{container=\"app\",namespace=\"kube-system\",pod=\"\xff\"} 1\n",
    );
    let plain = decode_with(Source::Resource, &body, TIMES, ExtraResources::NONE).unwrap();
    let decoded = decode_with(Source::Resource, &body, TIMES, ExtraResources::ALL).unwrap();
    assert_eq!(
        decoded.batch, plain.batch,
        "a swap line never fails anything"
    );
    assert!(decoded.invalid.is_empty(), "{:?}", decoded.invalid);
    assert!(decoded.batch.pods.iter().all(|p| p.complete));
    assert!(decoded.extra.is_empty(), "{:?}", decoded.extra);
}

#[test]
fn a_malformed_extra_block_fails_nothing() {
    let body = summary_fixture("1.35");
    let mut json: Value = serde_json::from_slice(&body).unwrap();
    json["node"]["fs"] = Value::from("not a filesystem");
    json["node"]["swap"]["swapUsageBytes"] = Value::from(-5);
    json["pods"][0]["containers"][0]["rootfs"]["usedBytes"] = Value::from("12");
    json["pods"][0]["ephemeral-storage"] = Value::from(vec![1, 2]);
    let mangled = serde_json::to_vec(&json).unwrap();
    let original = decode_with(Source::Summary, &body, TIMES, ExtraResources::NONE).unwrap();
    for extra in [ExtraResources::NONE, ExtraResources::ALL] {
        let decoded = decode_with(Source::Summary, &mangled, TIMES, extra).unwrap();
        assert_eq!(decoded.batch, original.batch, "{extra:?}");
        assert_eq!(decoded.invalid, original.invalid);
    }
    let decoded = decode_with(Source::Summary, &mangled, TIMES, ExtraResources::ALL).unwrap();
    assert_eq!(
        decoded.extra.node,
        ExtraUsage::default(),
        "both node figures left out"
    );
    let pod = &json["pods"][0];
    let first = &pod["containers"][0];
    let key = (
        pod["podRef"]["namespace"].as_str().unwrap().to_owned(),
        pod["podRef"]["name"].as_str().unwrap().to_owned(),
        first["name"].as_str().unwrap().to_owned(),
    );
    assert_eq!(
        by_container(&decoded)[&key].ephemeral_storage_bytes,
        used(&first["logs"]),
        "the logs alone, nothing shared out"
    );
}
