//! Protobuf responses (upstream spec §2.5), checked with an independent decoder: the `k8s-pb`
//! crate's generated messages decode our bytes, and every object must equal the JSON answer
//! to the same request. Also: what real kubectl receives for `kubectl top` when it asks for
//! protobuf first, and protobuf `Status` errors.

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::process::Command;

use common::Https;
use k8s_pb::apimachinery::pkg::api::resource::Quantity;
use k8s_pb::apimachinery::pkg::apis::meta::v1 as meta;
use k8s_pb::apimachinery::pkg::runtime::Unknown;
use k8s_pb::metrics::pkg::apis::metrics::v1beta1 as pb;
use metrics_server::config::MetricsSource;
use metrics_server::go_duration::format_duration;
use metrics_server::time::Timestamp;
use prost::Message;
use serde_json::{Value, json};

/// What the HPA controller sends (kube-controller-manager's client config).
const HPA_ACCEPT: &str = "application/vnd.kubernetes.protobuf, */*";
/// What client-go's metrics clientset sends by default (kubectl top ≥ 1.32).
const KUBECTL_ACCEPT: &str = "application/vnd.kubernetes.protobuf,application/json";
const PROTOBUF: &str = "application/vnd.kubernetes.protobuf";

fn unwrap_envelope(body: &[u8]) -> (String, String, Vec<u8>) {
    assert_eq!(&body[..4], b"k8s\0", "magic");
    let unknown = Unknown::decode(&body[4..]).expect("runtime.Unknown");
    let tm = unknown.type_meta.expect("typeMeta");
    (
        tm.api_version.unwrap_or_default(),
        tm.kind.unwrap_or_default(),
        unknown.raw.unwrap_or_default(),
    )
}

fn meta_json(m: &meta::ObjectMeta) -> Value {
    let mut v = json!({ "name": m.name.clone().unwrap_or_default() });
    if let Some(ns) = m.namespace.as_ref().filter(|n| !n.is_empty()) {
        v["namespace"] = json!(ns);
    }
    if !m.labels.is_empty() {
        v["labels"] = json!(m.labels);
    }
    v
}

fn time_json(t: Option<&meta::Time>) -> Value {
    let t = t.expect("time");
    assert_eq!(t.nanos.unwrap_or(0), 0, "metav1.Time carries seconds only");
    json!(Timestamp::from_secs(t.seconds.unwrap()).to_rfc3339_seconds())
}

fn usage_json(u: &BTreeMap<String, Quantity>) -> Value {
    json!(
        u.iter()
            .map(|(k, q)| (k.clone(), q.string.clone().unwrap_or_default()))
            .collect::<BTreeMap<_, _>>()
    )
}

fn node_json(n: &pb::NodeMetrics) -> Value {
    json!({
        "metadata": meta_json(n.metadata.as_ref().expect("metadata")),
        "timestamp": time_json(n.timestamp.as_ref()),
        "window": format_duration(n.window.as_ref().unwrap().duration.unwrap()),
        "usage": usage_json(&n.usage),
    })
}

fn pod_json(p: &pb::PodMetrics) -> Value {
    let containers: Vec<Value> = p
        .containers
        .iter()
        .map(|c| json!({"name": c.name.clone().unwrap_or_default(), "usage": usage_json(&c.usage)}))
        .collect();
    json!({
        "metadata": meta_json(p.metadata.as_ref().expect("metadata")),
        "timestamp": time_json(p.timestamp.as_ref()),
        "window": format_duration(p.window.as_ref().unwrap().duration.unwrap()),
        "containers": containers,
    })
}

/// Decodes a protobuf body into the JSON shape (without `creationTimestamp`, which is the
/// request time) and checks the envelope's kind and apiVersion.
fn decode(body: &[u8], api_version: &str, kind: &str) -> Value {
    let (av, k, raw) = unwrap_envelope(body);
    assert_eq!((av.as_str(), k.as_str()), (api_version, kind));
    let raw = &raw[..];
    match kind {
        "NodeMetrics" => node_json(&pb::NodeMetrics::decode(raw).unwrap()),
        "PodMetrics" => pod_json(&pb::PodMetrics::decode(raw).unwrap()),
        "NodeMetricsList" => {
            let list = pb::NodeMetricsList::decode(raw).unwrap();
            assert!(list.metadata.is_some(), "list metadata present");
            json!(list.items.iter().map(node_json).collect::<Vec<_>>())
        }
        "PodMetricsList" => {
            let list = pb::PodMetricsList::decode(raw).unwrap();
            json!(list.items.iter().map(pod_json).collect::<Vec<_>>())
        }
        other => panic!("unexpected kind {other}"),
    }
}

/// The JSON answer in the same shape: items (or the object) without kind, apiVersion and
/// `creationTimestamp`.
fn normalize_json(body: &str, is_list: bool) -> Value {
    let mut v: Value = serde_json::from_str(body).expect("JSON");
    let strip = |o: &mut Value| {
        let o = o.as_object_mut().unwrap();
        o.remove("kind");
        o.remove("apiVersion");
        o["metadata"]
            .as_object_mut()
            .unwrap()
            .remove("creationTimestamp")
            .expect("creationTimestamp in JSON");
    };
    if is_list {
        let mut items = v["items"].take();
        items.as_array_mut().unwrap().iter_mut().for_each(strip);
        items
    } else {
        strip(&mut v);
        v
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protobuf_bodies_decode_independently_and_match_json() {
    let dir = tempfile::tempdir().unwrap();
    let demo = common::ready_demo(dir.path(), 3, 4, MetricsSource::Resource).await;
    let https = Https::as_aggregator(dir.path());
    let base = format!("https://127.0.0.1:{}", demo.server.local_addr.port());
    let node = demo.workload.nodes()[0].name.clone();
    let pod = demo
        .workload
        .running_pods()
        .max_by_key(|p| p.containers.len())
        .unwrap();
    let mut checked = 0;
    for version in ["v1beta1", "v1"] {
        let gv = format!("metrics.k8s.io/{version}");
        let cases = [
            ("nodes".to_string(), "NodeMetricsList"),
            (format!("nodes/{node}"), "NodeMetrics"),
            ("pods".to_string(), "PodMetricsList"),
            (
                format!("namespaces/{}/pods", pod.namespace),
                "PodMetricsList",
            ),
            (
                format!("namespaces/{}/pods/{}", pod.namespace, pod.name),
                "PodMetrics",
            ),
            (
                "pods?labelSelector=app%3Dcheckout".to_string(),
                "PodMetricsList",
            ),
        ];
        for (path, kind) in cases {
            let url = format!("{base}/apis/{gv}/{path}");
            // A scrape may land between the two requests: retry until both see one snapshot.
            let mut attempts = 0;
            loop {
                attempts += 1;
                let json_before = https.get(&url, Some("application/json")).await;
                let proto = https.get_bytes(&url, Some(HPA_ACCEPT)).await;
                let json_after = https.get(&url, Some("application/json")).await;
                assert_eq!(proto.0, 200, "{url}");
                assert_eq!(proto.1, PROTOBUF, "{url}");
                let is_list = kind.ends_with("List");
                let want = normalize_json(&json_before.body, is_list);
                if want != normalize_json(&json_after.body, is_list) && attempts < 5 {
                    continue;
                }
                let got = decode(&proto.2, &gv, kind);
                assert_eq!(got, want, "{url}");
                if is_list {
                    assert!(!got.as_array().unwrap().is_empty() || path.contains("label"));
                }
                break;
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 12);

    // The kubectl form of the header gets protobuf too; JSON first gets JSON.
    let url = format!("{base}/apis/metrics.k8s.io/v1beta1/nodes");
    assert_eq!(
        https.get_bytes(&url, Some(KUBECTL_ACCEPT)).await.1,
        PROTOBUF
    );
    let json_first = https
        .get(
            &url,
            Some("application/json, application/vnd.kubernetes.protobuf"),
        )
        .await;
    assert_eq!(json_first.content_type, "application/json");

    // Errors come back as a protobuf Status to a protobuf client.
    let missing = format!("{base}/apis/metrics.k8s.io/v1beta1/nodes/no-such-node");
    let (code, ct, body) = https.get_bytes(&missing, Some(HPA_ACCEPT)).await;
    assert_eq!((code, ct.as_str()), (404, PROTOBUF));
    let (av, kind, raw) = unwrap_envelope(&body);
    assert_eq!((av.as_str(), kind.as_str()), ("v1", "Status"));
    let status = meta::Status::decode(&raw[..]).unwrap();
    assert_eq!(status.code, Some(404));
    assert_eq!(status.reason.as_deref(), Some("NotFound"));
    assert_eq!(status.status.as_deref(), Some("Failure"));
    assert_eq!(
        status.message.as_deref(),
        Some("node \"no-such-node\" not found")
    );
    assert_eq!(status.details.unwrap().kind.as_deref(), Some("node"));
    demo.shutdown().await;
}

/// The newest installed kubectl (client-go ≥ 1.32 prefers protobuf for the metrics client).
fn newest_kubectl() -> Option<std::path::PathBuf> {
    let listed = Command::new("dpkg").args(["-L", "kubectl"]).output().ok()?;
    let mut found: Vec<_> = String::from_utf8_lossy(&listed.stdout)
        .lines()
        .filter(|l| {
            l.rsplit('/')
                .next()
                .is_some_and(|n| n.starts_with("kubectl.1."))
        })
        .map(std::path::PathBuf::from)
        .filter(|p| p.is_file())
        .collect();
    found.sort_by_key(|p| {
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        name.rsplit('.').next().and_then(|m| m.parse::<u32>().ok())
    });
    found.pop()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_top_receives_protobuf() {
    let Some(kubectl) = newest_kubectl() else {
        panic!("no versioned kubectl installed (dpkg -L kubectl)");
    };
    let dir = tempfile::tempdir().unwrap();
    let demo = common::ready_demo(dir.path(), 2, 3, MetricsSource::Resource).await;
    let kubeconfig = demo.kubeconfig.clone();
    let home = tempfile::tempdir().unwrap();
    let out = tokio::task::block_in_place(|| {
        Command::new(&kubectl)
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .args(["top", "nodes", "--v=8"])
            .env("HOME", home.path())
            .output()
            .unwrap()
    });
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(stdout.lines().count(), 3, "header and two nodes: {stdout}");
    // kubectl logs the request's Accept and the response's Content-Type at -v=8.
    let metrics_lines: Vec<&str> = stderr
        .lines()
        .skip_while(|l| !l.contains("/apis/metrics.k8s.io/v1beta1/nodes"))
        .collect();
    let logged = metrics_lines.join("\n");
    assert!(
        logged.contains("Accept: application/vnd.kubernetes.protobuf"),
        "kubectl {} asked for: {logged}",
        kubectl.display()
    );
    assert!(
        logged.contains("Content-Type: application/vnd.kubernetes.protobuf"),
        "kubectl {} received: {logged}",
        kubectl.display()
    );
    demo.shutdown().await;
}
