//! The server's HTTP surface, over real TLS, against the demo cluster: discovery negotiation,
//! both API versions, selectors, Status errors, Table, health bodies, and that a failing
//! kubelet costs only its own node.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{Https, ready_demo};
use metrics_server::config::MetricsSource;
use metrics_server_sim::kubelet::Fault;
use serde_json::Value;

const AGG_NEW: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";
const AGG_OLD: &str =
    "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";
const TABLE: &str = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";

fn json(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_surface_over_tls() {
    let dir = tempfile::tempdir().unwrap();
    let demo = ready_demo(dir.path(), 3, 8, MetricsSource::Resource).await;
    let https = Https::as_aggregator(dir.path());
    let base = format!("https://127.0.0.1:{}", demo.server.local_addr.port());
    let get = |path: &str, accept: Option<&'static str>| {
        let url = format!("{base}{path}");
        let https = &https;
        async move { https.get(&url, accept).await }
    };

    // Discovery: v2 when asked first, v2beta1 for kubectl 1.27-1.29, legacy otherwise.
    let r = get("/apis", Some(AGG_NEW)).await;
    assert_eq!(
        r.content_type,
        "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
    );
    let versions: Vec<String> = json(&r.body)["items"][0]["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(versions, ["v1beta1", "v1"]);
    let r = get("/apis", Some(AGG_OLD)).await;
    assert!(r.content_type.contains("v=v2beta1"), "{}", r.content_type);
    let r = get("/apis", None).await;
    assert_eq!(json(&r.body)["kind"], "APIGroupList");
    let r = get("/apis/metrics.k8s.io/v1beta1", None).await;
    let resources = json(&r.body);
    assert_eq!(resources["resources"][0]["singularName"], "");
    assert_eq!(resources["resources"][1]["namespaced"], true);

    // Both versions serve the same objects.
    let v1beta1 = get("/apis/metrics.k8s.io/v1beta1/nodes", None).await;
    let v1 = get("/apis/metrics.k8s.io/v1/nodes", None).await;
    assert_eq!(v1.content_type, "application/json");
    let (a, b) = (json(&v1beta1.body), json(&v1.body));
    assert_eq!(a["apiVersion"], "metrics.k8s.io/v1beta1");
    assert_eq!(b["apiVersion"], "metrics.k8s.io/v1");
    let names = |v: &Value| -> Vec<String> {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["metadata"]["name"].as_str().unwrap().into())
            .collect()
    };
    assert_eq!(names(&a), ["sim-node-1", "sim-node-2", "sim-node-3"]);
    assert_eq!(names(&a), names(&b));

    // spec.nodeName selects the pods the node's kubelet reported.
    let r = get(
        "/apis/metrics.k8s.io/v1beta1/pods?fieldSelector=spec.nodeName%3Dsim-node-2",
        None,
    )
    .await;
    let on_node: Vec<String> = names(&json(&r.body));
    let mut expected: Vec<String> = demo
        .workload
        .running_pods()
        .filter(|p| demo.workload.nodes()[p.node].name == "sim-node-2")
        .map(|p| p.name.clone())
        .collect();
    expected.sort();
    let mut got = on_node.clone();
    got.sort();
    assert_eq!(got, expected);

    // Errors are Status objects with upstream's reasons and messages.
    let r = get("/apis/metrics.k8s.io/v1beta1/nodes/nope", None).await;
    assert_eq!(r.status, 404);
    assert_eq!(json(&r.body)["message"], "node \"nope\" not found");
    let r = get(
        "/apis/metrics.k8s.io/v1beta1/namespaces/default/pods/nope",
        None,
    )
    .await;
    assert_eq!(
        (r.status, json(&r.body)["message"].clone()),
        (404, Value::from("pods \"nope\" not found"))
    );
    let r = get("/apis/metrics.k8s.io/v1beta1/pods?watch=true", None).await;
    assert_eq!(
        (r.status, json(&r.body)["reason"].clone()),
        (405, Value::from("MethodNotAllowed"))
    );
    let r = get(
        "/apis/metrics.k8s.io/v1beta1/pods?fieldSelector=status.phase%3DRunning",
        None,
    )
    .await;
    assert_eq!(r.status, 400);
    assert!(
        json(&r.body)["message"]
            .as_str()
            .unwrap()
            .starts_with("\"status.phase\" is not a known field selector")
    );
    let r = get(
        "/apis/metrics.k8s.io/v1beta1/pods?labelSelector=app+in+%28",
        None,
    )
    .await;
    assert_eq!(r.status, 400);
    let r = get("/apis/metrics.k8s.io/v1beta1/nodes", Some("text/html")).await;
    assert_eq!(r.status, 406);
    let r = get("/nothing/here", None).await;
    assert_eq!(
        (r.status, r.content_type.as_str()),
        (404, "application/json")
    );

    // Table for kubectl get.
    let r = get(
        "/apis/metrics.k8s.io/v1beta1/namespaces/team-a/pods",
        Some(TABLE),
    )
    .await;
    let table = json(&r.body);
    assert_eq!(table["kind"], "Table");
    let columns: Vec<&str> = table["columnDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(columns, ["Name", "cpu", "memory", "Window"]);

    // Health bodies as upstream's e2e asserts them.
    let r = get("/readyz?verbose", None).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.body,
        "[+]ping ok\n[+]log ok\n[+]poststarthook/max-in-flight-filter ok\n\
         [+]poststarthook/storage-object-count-tracker-hook ok\n[+]metric-storage-ready ok\n\
         [+]metric-informer-sync ok\n[+]metadata-informer-sync ok\n[+]shutdown ok\nreadyz check passed\n"
    );
    let r = get("/livez?verbose", None).await;
    assert_eq!(
        r.body,
        "[+]ping ok\n[+]log ok\n[+]poststarthook/max-in-flight-filter ok\n\
         [+]poststarthook/storage-object-count-tracker-hook ok\n[+]metric-collection-timely ok\n\
         [+]metadata-informer-sync ok\nlivez check passed\n"
    );
    assert_eq!(get("/healthz", None).await.body, "ok");

    // OpenAPI documents the aggregator pulls.
    let r = get("/openapi/v2", None).await;
    assert_eq!(
        (r.status, r.content_type.as_str()),
        (200, "application/json")
    );
    assert_eq!(json(&r.body)["info"]["title"], "Kubernetes metrics-server");
    let index = json(&get("/openapi/v3", None).await.body);
    let url = index["paths"]["apis/metrics.k8s.io/v1"]["serverRelativeURL"]
        .as_str()
        .unwrap()
        .to_owned();
    let doc = json(&get(&url, None).await.body);
    assert!(
        doc["components"]["schemas"]["io.k8s.metrics.pkg.apis.metrics.v1.PodMetrics"].is_object()
    );
    demo.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_or_garbled_kubelet_costs_only_its_own_node() {
    let dir = tempfile::tempdir().unwrap();
    let demo = ready_demo(dir.path(), 4, 5, MetricsSource::Resource).await;
    assert!(demo.kubelets.set_fault("sim-node-1", Fault::Hang));
    assert!(demo.kubelets.set_fault("sim-node-2", Fault::Garbage));
    let others = |snap: &metrics_server::store::Snapshot| {
        snap.node("sim-node-3").is_some() && snap.node("sim-node-4").is_some()
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(40);
    loop {
        let snap = demo.server.snapshot.load();
        assert!(
            others(&snap),
            "healthy nodes must stay servable while others fail"
        );
        if snap.node("sim-node-1").is_none() && snap.node("sim-node-2").is_none() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "faulty nodes still served after 40s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let snap = demo.server.snapshot.load();
    let healthy_pods = demo
        .workload
        .running_pods()
        .filter(|p| p.node >= 2)
        .filter(|p| snap.pod(&p.namespace, &p.name).is_some())
        .count();
    assert_eq!(
        healthy_pods,
        demo.workload.running_pods().filter(|p| p.node >= 2).count()
    );

    let https = Https::as_aggregator(dir.path());
    let url = format!(
        "https://127.0.0.1:{}/apis/metrics.k8s.io/v1beta1/nodes/sim-node-1",
        demo.server.local_addr.port()
    );
    let r = https.get(&url, None).await;
    assert_eq!(r.status, 404);
    let message = json(&r.body)["message"].as_str().unwrap().to_string();
    assert!(
        message.starts_with("nodemetrics.metrics.k8s.io \"sim-node-1\" not found"),
        "{message}"
    );
    assert!(
        message.len() > "nodemetrics.metrics.k8s.io \"sim-node-1\" not found".len(),
        "says why: {message}"
    );

    // Recovery: once the kubelet answers again, the node is back after one good scrape.
    demo.kubelets.set_fault("sim-node-2", Fault::None);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while demo.server.snapshot.load().node("sim-node-2").is_none() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "sim-node-2 did not come back"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    demo.shutdown().await;
}
