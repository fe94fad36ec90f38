//! Swap and ephemeral storage served against the simulated truth (`--extra-resources`), from
//! `/metrics/resource` with the Summary API beside it and from the Summary API alone; a
//! failed Summary request withholds only the storage figures; without the flag, the
//! responses and the kubelet requests are those of a server without the feature.

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::Https;
use k8s_pb::apimachinery::pkg::runtime::Unknown;
use k8s_pb::metrics::pkg::apis::metrics::v1beta1 as pb;
use metrics_server::config::MetricsSource;
use metrics_server::time::{NANOS_PER_SEC, Timestamp};
use metrics_server::usage::ExtraResources;
use metrics_server_sim::demo::Demo;
use metrics_server_sim::kubelet::{Endpoint, Fault};
use metrics_server_sim::workload::PodDisk;
use prost::Message;
use serde_json::Value;

const MIB: u64 = 1 << 20;
const TABLE: &str = "application/json;as=Table;v=v1;g=meta.k8s.io";

/// A quantity in bytes as the API writes it (`40Mi`, `12345Ki`, `1k`, `4096`).
fn bytes(q: &str) -> u64 {
    let (number, scale) = match q {
        _ if q.ends_with("Ki") => (&q[..q.len() - 2], 1 << 10),
        _ if q.ends_with("Mi") => (&q[..q.len() - 2], 1 << 20),
        _ if q.ends_with("Gi") => (&q[..q.len() - 2], 1 << 30),
        _ if q.ends_with("Ti") => (&q[..q.len() - 2], 1 << 40),
        _ if q.ends_with('k') => (&q[..q.len() - 1], 1_000),
        _ if q.ends_with('M') => (&q[..q.len() - 1], 1_000_000),
        _ if q.ends_with('G') => (&q[..q.len() - 1], 1_000_000_000),
        _ => (q, 1),
    };
    number
        .parse::<u64>()
        .unwrap_or_else(|_| panic!("quantity {q}"))
        * scale
}

fn figure(usage: &Value, resource: &str) -> Option<u64> {
    usage.get(resource).map(|q| bytes(q.as_str().unwrap()))
}

struct Api {
    https: Https,
    base: String,
}

impl Api {
    fn of(demo: &Demo, dir: &std::path::Path) -> Api {
        Api {
            https: Https::as_aggregator(dir),
            base: format!(
                "https://127.0.0.1:{}/apis/metrics.k8s.io/v1",
                demo.server.local_addr.port()
            ),
        }
    }

    async fn json(&self, path: &str) -> Value {
        let got = self.https.get(&format!("{}{path}", self.base), None).await;
        assert_eq!(got.status, 200, "{path}: {}", got.body);
        serde_json::from_str(&got.body).unwrap()
    }

    async fn table_columns(&self, path: &str) -> Vec<String> {
        let got = self
            .https
            .get(&format!("{}{path}", self.base), Some(TABLE))
            .await;
        let table: Value = serde_json::from_str(&got.body).unwrap();
        let columns = table["columnDefinitions"].as_array().unwrap();
        columns
            .iter()
            .map(|c| c["name"].as_str().unwrap().to_owned())
            .collect()
    }
}

/// When the item's CPU and memory sample was taken, to the second.
fn sampled_at(item: &Value) -> Timestamp {
    Timestamp::parse_rfc3339(item["timestamp"].as_str().unwrap()).unwrap()
}

fn seconds(t: Timestamp, s: i64) -> Timestamp {
    Timestamp(t.0 + s * NANOS_PER_SEC)
}

/// The ephemeral storage the server serves for each container of a pod whose containers own
/// `own` bytes and whose kubelet figure is `total`: the rest shared in proportion to the own
/// bytes, the leftover to the first name (the documented rule, computed here on its own).
fn shared(own: &BTreeMap<String, u64>, total: u64) -> BTreeMap<String, u64> {
    let sum: u64 = own.values().sum();
    let rest = total - sum;
    let mut out: BTreeMap<String, u64> = own
        .iter()
        .map(|(n, &b)| {
            (
                n.clone(),
                b + (u128::from(rest) * u128::from(b) / u128::from(sum)) as u64,
            )
        })
        .collect();
    let given: u64 = out.values().sum();
    *out.values_mut().next().unwrap() += total - given;
    out
}

/// Checks every node and pod the server serves against the truth around its sample time.
async fn check_against_truth(demo: &Demo, api: &Api) {
    let nodes = api.json("/nodes").await;
    let items = nodes["items"].as_array().unwrap();
    assert_eq!(items.len(), demo.workload.nodes().len());
    for node in items {
        let name = node["metadata"]["name"].as_str().unwrap();
        let i = demo.workload.node_position(name).unwrap();
        let at = sampled_at(node);
        let (low, high) = (
            demo.workload.sample_node(i, seconds(at, -1)),
            demo.workload.sample_node(i, seconds(at, 3)),
        );
        let storage = figure(&node["usage"], "ephemeral-storage").expect("node storage");
        assert!(
            (low.fs_used_bytes..=high.fs_used_bytes).contains(&storage),
            "{name}: fs {storage} not in [{}, {}]",
            low.fs_used_bytes,
            high.fs_used_bytes
        );
        assert_eq!(
            figure(&node["usage"], "swap"),
            Some(low.swap_bytes),
            "{name}"
        );
        assert!(node["usage"]["cpu"].is_string() && node["usage"]["memory"].is_string());
    }
    let pods = api.json("/pods").await;
    let items = pods["items"].as_array().unwrap();
    assert_eq!(items.len(), demo.workload.running_pods().count());
    for pod in items {
        let (ns, name) = (
            pod["metadata"]["namespace"].as_str().unwrap(),
            pod["metadata"]["name"].as_str().unwrap(),
        );
        let at = sampled_at(pod);
        let truth = |s| {
            demo.workload
                .pod_disk_truth(ns, name, seconds(at, s))
                .unwrap()
        };
        let (low, high): (PodDisk, PodDisk) = (truth(-1), truth(3));
        let mut sum = 0;
        for c in pod["containers"].as_array().unwrap() {
            let container = c["name"].as_str().unwrap();
            let own = |d: &PodDisk| {
                let found = d.containers.iter().find(|(n, _)| n == container).unwrap();
                found.1
            };
            let storage = figure(&c["usage"], "ephemeral-storage").expect("container storage");
            assert!(
                storage >= own(&low).storage_bytes(),
                "{ns}/{name}/{container}"
            );
            assert_eq!(figure(&c["usage"], "swap"), Some(own(&low).swap_bytes));
            sum += storage;
        }
        let range = low.ephemeral_storage_bytes()..=high.ephemeral_storage_bytes();
        assert!(
            range.contains(&sum),
            "{ns}/{name}: containers sum to {sum}, the kubelet's pod figure is in {range:?}"
        );
    }
}

/// Sets a two-container pod's disk and waits until it is served, exactly as the rule says.
async fn check_a_set_pod(demo: &Demo, api: &Api) {
    let pod = demo
        .workload
        .running_pods()
        .find(|p| p.containers.len() == 2)
        .expect("a two-container pod");
    let (ns, name) = (pod.namespace.clone(), pod.name.clone());
    let (storage, swap, empty_dir) = (30 * MIB + 3, 3 * MIB, 10 * MIB);
    demo.workload
        .set_pod_disk(&ns, &name, storage, swap, empty_dir)
        .unwrap();
    let truth = demo
        .workload
        .pod_disk_truth(&ns, &name, Timestamp::now())
        .unwrap();
    let own: BTreeMap<String, u64> = (truth.containers.iter())
        .map(|(n, d)| (n.clone(), d.storage_bytes()))
        .collect();
    let want = shared(&own, truth.ephemeral_storage_bytes());
    assert_eq!(want.values().sum::<u64>(), storage + empty_dir + 4096);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(40);
    loop {
        let served = api.json(&format!("/namespaces/{ns}/pods/{name}")).await;
        let got: BTreeMap<String, u64> = served["containers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                let storage = figure(&c["usage"], "ephemeral-storage").unwrap_or(0);
                (c["name"].as_str().unwrap().to_owned(), storage)
            })
            .collect();
        if got == want {
            let swaps: Vec<Option<u64>> = (served["containers"].as_array().unwrap().iter())
                .map(|c| figure(&c["usage"], "swap"))
                .collect();
            assert_eq!(swaps, [Some(swap / 2), Some(swap / 2)]);
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{ns}/{name}: served {got:?}, want {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The protobuf pod list carries the same figures as the JSON one.
async fn check_protobuf(demo: &Demo, api: &Api) {
    let url = format!("{}/pods", api.base);
    let (status, _, body) = api
        .https
        .get_bytes(&url, Some("application/vnd.kubernetes.protobuf"))
        .await;
    assert_eq!(status, 200);
    let unknown = Unknown::decode(&body[4..]).unwrap();
    let list = pb::PodMetricsList::decode(&unknown.raw.unwrap()[..]).unwrap();
    assert_eq!(list.items.len(), demo.workload.running_pods().count());
    for pod in &list.items {
        for c in &pod.containers {
            let keys: Vec<&str> = c.usage.keys().map(String::as_str).collect();
            assert_eq!(keys, ["cpu", "ephemeral-storage", "memory", "swap"]);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resource_source_with_the_summary_beside_it() {
    let dir = tempfile::tempdir().unwrap();
    let demo = common::ready_demo_serving(
        dir.path(),
        4,
        5,
        MetricsSource::Resource,
        ExtraResources::ALL,
    )
    .await;
    let api = Api::of(&demo, dir.path());
    // Figures come with the first publish that has the Summary: wait for every node's.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while api.json("/nodes").await["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|n| n["usage"].get("ephemeral-storage").is_none())
    {
        assert!(tokio::time::Instant::now() < deadline, "no storage served");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    check_against_truth(&demo, &api).await;
    check_a_set_pod(&demo, &api).await;
    check_protobuf(&demo, &api).await;
    assert_eq!(
        api.table_columns("/nodes").await,
        [
            "Name",
            "cpu",
            "ephemeral-storage",
            "memory",
            "swap",
            "Window"
        ]
    );
    let counted = demo.kubelets.served();
    assert!(
        counted.of(Endpoint::Summary) >= 8,
        "the whole Summary beside each scrape"
    );
    assert_eq!(counted.of(Endpoint::SummaryCpuAndMemory), 0);

    // The Summary API of one node fails: its storage is withheld, nothing else.
    let broken = demo.workload.nodes()[1].name.clone();
    assert!(demo.kubelets.set_fault(&broken, Fault::SummaryStatus500));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(40);
    let node = loop {
        let node = api.json(&format!("/nodes/{broken}")).await;
        if node["usage"].get("ephemeral-storage").is_none() {
            break node;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "storage still served"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert!(node["usage"]["cpu"].is_string() && node["usage"]["memory"].is_string());
    assert!(
        node["usage"]["swap"].is_string(),
        "swap comes from /metrics/resource"
    );
    let pods = api
        .json(&format!("/pods?fieldSelector=spec.nodeName%3D{broken}"))
        .await;
    let pods = pods["items"].as_array().unwrap();
    let on_broken = demo.workload.running_pods().filter(|p| p.node == 1).count();
    assert_eq!(pods.len(), on_broken, "its pods are all still served");
    for c in pods
        .iter()
        .flat_map(|p| p["containers"].as_array().unwrap())
    {
        assert!(c["usage"].get("ephemeral-storage").is_none());
        assert!(c["usage"]["cpu"].is_string() && c["usage"]["swap"].is_string());
    }
    let table = api
        .https
        .get(&format!("{}/nodes/{broken}", api.base), Some(TABLE))
        .await;
    let table: Value = serde_json::from_str(&table.body).unwrap();
    assert_eq!(table["rows"][0]["cells"][2], "<unknown>");
    demo.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn summary_source_serves_both() {
    let dir = tempfile::tempdir().unwrap();
    let demo = common::ready_demo_serving(
        dir.path(),
        2,
        4,
        MetricsSource::Summary,
        ExtraResources::ALL,
    )
    .await;
    let api = Api::of(&demo, dir.path());
    check_against_truth(&demo, &api).await;
    let counted = demo.kubelets.served();
    assert_eq!(
        counted.of(Endpoint::SummaryCpuAndMemory),
        0,
        "the whole Summary is asked"
    );
    assert_eq!(counted.of(Endpoint::Resource), 0);
    demo.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_flag_nothing_changes() {
    let dir = tempfile::tempdir().unwrap();
    let demo = common::ready_demo(dir.path(), 2, 4, MetricsSource::Resource).await;
    let api = Api::of(&demo, dir.path());
    let nodes = api.json("/nodes").await;
    for node in nodes["items"].as_array().unwrap() {
        let keys: Vec<&String> = node["usage"].as_object().unwrap().keys().collect();
        assert_eq!(keys, ["cpu", "memory"]);
    }
    let pods = api.json("/pods").await;
    for c in
        (pods["items"].as_array().unwrap().iter()).flat_map(|p| p["containers"].as_array().unwrap())
    {
        let keys: Vec<&String> = c["usage"].as_object().unwrap().keys().collect();
        assert_eq!(keys, ["cpu", "memory"]);
    }
    assert_eq!(
        api.table_columns("/pods").await,
        ["Name", "cpu", "memory", "Window"]
    );
    // The kubelets serve swap; the server neither reads it nor asks for the Summary API.
    let counted = demo.kubelets.served();
    assert!(counted.of(Endpoint::Resource) >= 4);
    assert_eq!(counted.of(Endpoint::Summary), 0);
    assert_eq!(counted.of(Endpoint::SummaryCpuAndMemory), 0);
    demo.shutdown().await;
}
