//! The simulated cluster over real TLS: kubelets report the workload's ground truth in the
//! real payload formats, and the minimal apiserver answers what kubectl and kube-rs ask.

#![allow(clippy::unwrap_used, clippy::expect_used)] // helpers outside #[test] fns unwrap on test inputs

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::{Client, connect::HttpConnector};
use hyper_util::rt::TokioExecutor;
use metrics_server::pki::CertAuthority;
use metrics_server_sim::apiserver::{ApiServerOptions, MetricsBackend, spawn_apiserver};
use metrics_server_sim::kubelet::{Fault, KubeletOptions, spawn_kubelet_subset, spawn_kubelets};
use metrics_server_sim::net::client_tls;
use metrics_server_sim::workload::{PodPhase, Workload, WorkloadSpec};

type HttpsClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Empty<Bytes>>;

fn client(ca_pem: &str) -> HttpsClient {
    let tls = client_tls(ca_pem, None).unwrap();
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_only()
        .enable_http1()
        .enable_http2()
        .build();
    Client::builder(TokioExecutor::new()).build(connector)
}

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

async fn get(client: &HttpsClient, url: &str, headers: &[(&str, &str)]) -> Reply {
    let mut req = Request::get(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = client
        .request(req.body(Empty::new()).unwrap())
        .await
        .unwrap();
    let (parts, body) = resp.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    Reply {
        status: parts.status,
        headers: parts.headers,
        body: String::from_utf8(body.to_vec()).unwrap(),
    }
}

fn workload(nodes: usize, pods_per_node: usize) -> Arc<Workload> {
    Arc::new(Workload::generate(WorkloadSpec {
        nodes,
        pods_per_node,
        seed: 42,
    }))
}

fn kubelet_options(ca: &Arc<CertAuthority>) -> KubeletOptions {
    KubeletOptions {
        ca: ca.clone(),
        required_bearer_token: None,
        resource_endpoint_404: false,
    }
}

/// `(value, timestamp ms)` of the first series line starting with `prefix`.
fn sample(text: &str, prefix: &str) -> (f64, i64) {
    let line = text
        .lines()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no series {prefix} in\n{text}"));
    let mut fields = line[prefix.len()..].split_whitespace();
    let value = fields.next().unwrap().parse().unwrap();
    let ts = fields.next().map_or(0, |t| t.parse().unwrap());
    (value, ts)
}

#[tokio::test]
async fn kubelets_serve_the_truth_in_both_formats_over_verified_tls() {
    let ca = Arc::new(CertAuthority::new("sim-ca").unwrap());
    let w = workload(3, 8);
    let fleet = spawn_kubelets(w.clone(), kubelet_options(&ca))
        .await
        .unwrap();
    let http = client(ca.cert_pem());
    assert_eq!(fleet.endpoints().len(), 3);
    for (i, ep) in fleet.endpoints().iter().enumerate() {
        assert_eq!(ep.ip, std::net::IpAddr::V4(w.nodes()[i].ip));
        let base = format!("https://{}:{}", ep.ip, ep.port);
        let text = get(&http, &format!("{base}/metrics/resource"), &[]).await;
        assert_eq!(text.status, StatusCode::OK);
        assert!(
            text.headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/plain")
        );
        let families: Vec<&str> = text
            .body
            .lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .map(|l| l.split(' ').next().unwrap())
            .collect();
        let mut sorted = families.clone();
        sorted.sort_unstable();
        assert_eq!(families, sorted, "families sorted by name");
        assert_eq!(families.len(), 9);
        assert!(text.body.contains("\nresource_scrape_error 0\n"));
        let running: Vec<_> = w.nodes()[i]
            .pods
            .iter()
            .map(|&p| &w.pods()[p])
            .filter(|p| p.phase == PodPhase::Running)
            .collect();
        for pod in &running {
            for c in &pod.containers {
                let labels = format!(
                    "{{container=\"{}\",namespace=\"{}\",pod=\"{}\"}} ",
                    c.name, pod.namespace, pod.name
                );
                let (mem, ts) = sample(
                    &text.body,
                    &format!("container_memory_working_set_bytes{labels}"),
                );
                let truth = w.pod_truth(&pod.namespace, &pod.name).unwrap().0;
                let want = truth
                    .iter()
                    .find(|(n, _)| *n == c.name)
                    .unwrap()
                    .1
                    .memory_bytes;
                assert_eq!(mem as u64, want);
                assert!(ts > 0);
                let (start, no_ts) =
                    sample(&text.body, &format!("container_start_time_seconds{labels}"));
                assert_eq!(no_ts, 0, "start time has no sample timestamp");
                assert!(start > 1.0e9);
            }
        }
        let summary = get(
            &http,
            &format!("{base}/stats/summary?only_cpu_and_memory=true"),
            &[],
        )
        .await;
        assert_eq!(summary.status, StatusCode::OK);
        let json: serde_json::Value = serde_json::from_str(&summary.body).unwrap();
        assert_eq!(json["node"]["nodeName"], ep.node.as_str());
        assert!(
            json["node"]["cpu"]["usageCoreNanoSeconds"]
                .as_u64()
                .unwrap()
                > 0
        );
        let truth = w.node_truth(&ep.node).unwrap();
        assert_eq!(
            json["node"]["cpu"]["usageNanoCores"].as_u64(),
            Some(truth.cpu_nanocores())
        );
        assert_eq!(
            json["node"]["memory"]["workingSetBytes"].as_u64(),
            Some(truth.memory_bytes)
        );
        let pods = json["pods"].as_array().unwrap();
        assert_eq!(pods.len(), running.len(), "only running pods are reported");
        let time = json["pods"][0]["containers"][0]["cpu"]["time"]
            .as_str()
            .unwrap();
        assert!(
            metrics_server::time::Timestamp::parse_rfc3339(time).is_ok(),
            "{time}"
        );
    }
    fleet.shutdown().await;
}

#[tokio::test]
async fn cpu_counters_advance_at_the_true_rate() {
    let ca = Arc::new(CertAuthority::new("sim-ca").unwrap());
    let w = workload(3, 5);
    let fleet = spawn_kubelets(w.clone(), kubelet_options(&ca))
        .await
        .unwrap();
    let http = client(ca.cert_pem());
    let ep = &fleet.endpoints()[1];
    let url = format!("https://{}:{}/metrics/resource", ep.ip, ep.port);
    let first = get(&http, &url, &[]).await.body;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let second = get(&http, &url, &[]).await.body;

    let rate = |prefix: &str| {
        let (v0, t0) = sample(&first, prefix);
        let (v1, t1) = sample(&second, prefix);
        assert!(t1 - t0 >= 900, "samples {t0} and {t1} are a second apart");
        (v1 - v0) / ((t1 - t0) as f64 / 1000.0) * 1000.0
    };
    let node_truth = w.node_truth(&ep.node).unwrap().cpu_millicores as f64;
    let node_rate = rate("node_cpu_usage_seconds_total ");
    assert!(
        (node_rate - node_truth).abs() <= node_truth * 0.01,
        "{node_rate} vs {node_truth}"
    );

    let node = &w.nodes()[1];
    let pod = node
        .pods
        .iter()
        .map(|&p| &w.pods()[p])
        .find(|p| {
            p.phase == PodPhase::Running
                && p.containers.iter().all(|c| c.restart_every_ns.is_none())
        })
        .unwrap();
    let c = &pod.containers[0];
    let prefix = format!(
        "container_cpu_usage_seconds_total{{container=\"{}\",namespace=\"{}\",pod=\"{}\"}} ",
        c.name, pod.namespace, pod.name
    );
    let truth = w.pod_truth(&pod.namespace, &pod.name).unwrap().0[0]
        .1
        .cpu_millicores as f64;
    let got = rate(&prefix);
    assert!((got - truth).abs() <= truth * 0.01, "{got} vs {truth}");
    fleet.shutdown().await;
}

#[tokio::test]
async fn token_404_and_faults_behave_like_broken_kubelets() {
    let ca = Arc::new(CertAuthority::new("sim-ca").unwrap());
    let w = workload(3, 2);
    let opts = KubeletOptions {
        required_bearer_token: Some("s3cret".into()),
        resource_endpoint_404: true,
        ..kubelet_options(&ca)
    };
    let fleet = spawn_kubelets(w.clone(), opts).await.unwrap();
    let http = client(ca.cert_pem());
    let ep = &fleet.endpoints()[0];
    let base = format!("https://{}:{}", ep.ip, ep.port);
    let auth = [("authorization", "Bearer s3cret")];

    let denied = get(&http, &format!("{base}/stats/summary"), &[]).await;
    assert_eq!(
        (denied.status, denied.body.as_str()),
        (StatusCode::UNAUTHORIZED, "Unauthorized")
    );
    let wrong = get(
        &http,
        &format!("{base}/stats/summary"),
        &[("authorization", "Bearer nope")],
    )
    .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        get(&http, &format!("{base}/stats/summary"), &auth)
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        get(&http, &format!("{base}/metrics/resource"), &auth)
            .await
            .status,
        StatusCode::NOT_FOUND
    );

    assert!(fleet.set_fault(&ep.node, Fault::Status500));
    let failed = get(&http, &format!("{base}/stats/summary"), &auth).await;
    assert_eq!(failed.status, StatusCode::INTERNAL_SERVER_ERROR);

    fleet.set_fault(&ep.node, Fault::Garbage);
    let garbage = get(&http, &format!("{base}/stats/summary"), &auth).await;
    assert_eq!(garbage.status, StatusCode::OK);
    assert!(serde_json::from_str::<serde_json::Value>(&garbage.body).is_err());

    fleet.set_fault(&ep.node, Fault::Hang);
    let hung = tokio::time::timeout(
        Duration::from_secs(1),
        get(&http, &format!("{base}/stats/summary"), &auth),
    )
    .await;
    assert!(hung.is_err(), "a hanging kubelet never answers");
    let other = &fleet.endpoints()[1];
    let healthy = get(
        &http,
        &format!("https://{}:{}/stats/summary", other.ip, other.port),
        &auth,
    )
    .await;
    assert_eq!(healthy.status, StatusCode::OK, "faults are per node");

    fleet.set_fault(&ep.node, Fault::None);
    assert_eq!(
        get(&http, &format!("{base}/stats/summary"), &auth)
            .await
            .status,
        StatusCode::OK
    );
    assert!(!fleet.set_fault("no-such-node", Fault::Hang));
    fleet.shutdown().await;
}

#[tokio::test]
async fn a_kubelet_that_is_down_refuses_connections_and_comes_back_on_its_port() {
    let ca = Arc::new(CertAuthority::new("sim-ca").unwrap());
    let w = workload(2, 1);
    let fleet = spawn_kubelets(w.clone(), kubelet_options(&ca))
        .await
        .unwrap();
    let http = client(ca.cert_pem());
    let (ep, other) = (&fleet.endpoints()[0], &fleet.endpoints()[1]);
    let url = |e: &metrics_server_sim::kubelet::KubeletEndpoint| {
        format!("https://{}:{}/stats/summary", e.ip, e.port)
    };
    assert_eq!(get(&http, &url(ep), &[]).await.status, StatusCode::OK);
    assert_eq!(fleet.requests(&ep.node), Some(1));

    assert!(fleet.set_fault(&ep.node, Fault::Down));
    // The listener closes as soon as its task runs.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    loop {
        let tried = tokio::net::TcpStream::connect((ep.ip, ep.port)).await;
        if tried.is_err_and(|e| e.kind() == std::io::ErrorKind::ConnectionRefused) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "a stopped kubelet refuses connections"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let fresh = client(ca.cert_pem());
    let failed = fresh
        .request(Request::get(url(ep)).body(Empty::new()).unwrap())
        .await;
    assert!(failed.is_err(), "no answer while down");
    assert_eq!(fleet.requests(&ep.node), Some(1), "nothing reached it");
    assert_eq!(get(&http, &url(other), &[]).await.status, StatusCode::OK);

    fleet.set_fault(&ep.node, Fault::None);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let back = fresh
            .request(Request::get(url(ep)).body(Empty::new()).unwrap())
            .await;
        if back.is_ok_and(|r| r.status() == StatusCode::OK) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not back on its port"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(fleet.requests(&ep.node), Some(2));
    assert_eq!(fleet.requests(&other.node), Some(1));
    assert_eq!(fleet.requests("no-such-node"), None);
    fleet.shutdown().await;
}

#[tokio::test]
async fn a_subset_fleet_serves_only_its_nodes_and_faults_hit_the_named_node() {
    let ca = Arc::new(CertAuthority::new("sim-ca").unwrap());
    let w = workload(4, 2);
    let fleet = spawn_kubelet_subset(w.clone(), &[2, 0], kubelet_options(&ca))
        .await
        .unwrap();
    let served: Vec<&str> = fleet.endpoints().iter().map(|e| e.node.as_str()).collect();
    assert_eq!(
        served,
        [w.nodes()[2].name.as_str(), w.nodes()[0].name.as_str()]
    );
    assert!(!fleet.set_fault(&w.nodes()[1].name, Fault::Status500));

    // A fault on the second served node (workload position 0) leaves the first one healthy.
    assert!(fleet.set_fault(&w.nodes()[0].name, Fault::Status500));
    let http = client(ca.cert_pem());
    let status = |i: usize| {
        let ep = &fleet.endpoints()[i];
        let url = format!("https://{}:{}/stats/summary", ep.ip, ep.port);
        let http = &http;
        async move { get(http, &url, &[]).await.status }
    };
    assert_eq!(status(0).await, StatusCode::OK);
    assert_eq!(status(1).await, StatusCode::INTERNAL_SERVER_ERROR);
    fleet.shutdown().await;

    let beyond = spawn_kubelet_subset(w.clone(), &[4], kubelet_options(&ca)).await;
    assert!(beyond.is_err(), "position 4 of a 4-node workload");
}

const AGG_OLD: &str =
    "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";
const AGG_NEW: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";
const META_LIST: &str =
    "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json";
const TOKEN: &str = "demo-token";

struct Api {
    ca: Arc<CertAuthority>,
    http: HttpsClient,
    handle: metrics_server_sim::apiserver::ApiServerHandle,
    w: Arc<Workload>,
}

impl Api {
    async fn start(nodes: usize, pods_per_node: usize) -> Api {
        let ca = Arc::new(CertAuthority::new("sim-ca").unwrap());
        let w = workload(nodes, pods_per_node);
        let serving = ca
            .issue_server("apiserver", &["localhost"], &["127.0.0.1".parse().unwrap()])
            .unwrap();
        let mut opts = ApiServerOptions::new(serving, TOKEN, w.clone());
        opts.kubelets = w
            .nodes()
            .iter()
            .enumerate()
            .map(|(i, n)| {
                (
                    n.name.clone(),
                    std::net::IpAddr::V4(n.ip),
                    20_000 + i as u16,
                )
            })
            .collect();
        let handle = spawn_apiserver(opts).await.unwrap();
        Api {
            http: client(ca.cert_pem()),
            ca,
            handle,
            w,
        }
    }

    async fn get(&self, path: &str, accept: &str) -> Reply {
        let url = format!("{}{path}", self.handle.url());
        let auth = format!("Bearer {TOKEN}");
        get(
            &self.http,
            &url,
            &[("accept", accept), ("authorization", &auth)],
        )
        .await
    }

    async fn json(&self, path: &str, accept: &str) -> serde_json::Value {
        let reply = self.get(path, accept).await;
        assert_eq!(reply.status, StatusCode::OK, "{path}: {}", reply.body);
        serde_json::from_str(&reply.body).unwrap()
    }
}

fn content_type(r: &Reply) -> &str {
    r.headers["content-type"].to_str().unwrap()
}

#[tokio::test]
async fn apiserver_negotiates_discovery_and_requires_the_token() {
    let api = Api::start(2, 3).await;
    let new = api.get("/apis", AGG_NEW).await;
    assert_eq!(
        content_type(&new),
        "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
    );
    let body: serde_json::Value = serde_json::from_str(&new.body).unwrap();
    let versions = &body["items"][0]["versions"];
    assert_eq!(body["items"][0]["metadata"]["name"], "metrics.k8s.io");
    assert_eq!(versions[0]["version"], "v1beta1", "v1beta1 is preferred");
    assert_eq!(versions[0]["resources"][1]["scope"], "Namespaced");
    assert_eq!(versions[0]["resources"][1]["singularResource"], "");
    assert_eq!(
        versions[0]["resources"][0]["responseKind"]["kind"],
        "NodeMetrics"
    );

    let old = api.get("/apis", AGG_OLD).await;
    assert!(content_type(&old).contains("v=v2beta1"));
    let legacy = api.get("/apis", "application/json, */*").await;
    assert_eq!(content_type(&legacy), "application/json");
    assert!(legacy.body.contains("\"kind\":\"APIGroupList\""));
    let core = api.json("/api", AGG_NEW).await;
    let core_resources = &core["items"][0]["versions"][0]["resources"];
    assert!(
        core_resources
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["resource"] == "pods")
    );
    assert_eq!(
        api.json("/api", "application/json").await["versions"][0],
        "v1"
    );
    assert_eq!(
        api.json("/version", "application/json").await["gitVersion"],
        "v1.33.1"
    );
    assert_eq!(
        api.json("/api/v1", "application/json").await["kind"],
        "APIResourceList"
    );

    let url = format!("{}/api/v1/nodes", api.handle.url());
    let denied = get(&api.http, &url, &[]).await;
    assert_eq!(denied.status, StatusCode::UNAUTHORIZED);
    assert_eq!(content_type(&denied), "application/json");
    let status: serde_json::Value = serde_json::from_str(&denied.body).unwrap();
    assert_eq!(
        (status["kind"].as_str(), status["code"].as_u64()),
        (Some("Status"), Some(401))
    );
    let wrong = get(&api.http, &url, &[("authorization", "Bearer wrong")]).await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        api.get("/apis/apps/v1", "application/json").await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn apiserver_serves_nodes_and_pods_like_kube_apiserver() {
    let api = Api::start(3, 30).await;
    let nodes = api.json("/api/v1/nodes", "application/json, */*").await;
    assert_eq!(nodes["kind"], "NodeList");
    let items = nodes["items"].as_array().unwrap();
    assert_eq!(items.len(), 3);
    for (i, n) in items.iter().enumerate() {
        assert_eq!(n["metadata"]["name"], format!("sim-node-{}", i + 1));
        assert_eq!(n["status"]["allocatable"]["cpu"], "7910m");
        assert_eq!(n["status"]["capacity"]["memory"], "33554432Ki");
        assert_eq!(
            n["status"]["addresses"][0]["address"],
            api.w.nodes()[i].ip.to_string()
        );
        assert_eq!(
            n["status"]["daemonEndpoints"]["kubeletEndpoint"]["Port"],
            20_000 + i as u64
        );
        assert_eq!(n["status"]["conditions"][0]["type"], "Ready");
    }
    let zone = api
        .json(
            "/api/v1/nodes?labelSelector=topology.kubernetes.io%2Fzone%3Dzone-b",
            "application/json",
        )
        .await;
    assert_eq!(zone["items"].as_array().unwrap().len(), 1);
    let missing = api.get("/api/v1/nodes/nope", "application/json").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert!(
        missing.body.contains("nodes \\\"nope\\\" not found"),
        "{}",
        missing.body
    );

    let running = api.w.running_pods().count();
    assert!(
        running < api.w.pods().len(),
        "the workload has completed pods"
    );
    let meta = api
        .get(
            "/api/v1/pods?fieldSelector=status.phase%3DRunning",
            META_LIST,
        )
        .await;
    assert_eq!(
        content_type(&meta),
        "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"
    );
    let meta: serde_json::Value = serde_json::from_str(&meta.body).unwrap();
    assert_eq!(meta["kind"], "PartialObjectMetadataList");
    assert_eq!(meta["items"].as_array().unwrap().len(), running);
    assert_eq!(meta["items"][0]["kind"], "PartialObjectMetadata");
    assert!(meta["items"][0].get("spec").is_none(), "metadata only");
    assert!(meta["metadata"]["resourceVersion"].as_str().is_some());

    // Paging as kube-rs does it (limit + continue) returns every pod exactly once.
    let mut seen = std::collections::HashSet::new();
    let mut path = "/api/v1/pods?limit=7".to_owned();
    loop {
        let page = api.json(&path, "application/json").await;
        for p in page["items"].as_array().unwrap() {
            assert!(seen.insert(p["metadata"]["uid"].as_str().unwrap().to_owned()));
        }
        match page["metadata"]["continue"].as_str() {
            Some(c) => path = format!("/api/v1/pods?limit=7&continue={c}"),
            None => break,
        }
    }
    assert_eq!(seen.len(), api.w.pods().len());

    let pod = api
        .w
        .running_pods()
        .find(|p| p.namespace == "team-a")
        .unwrap();
    let one = api
        .json(
            &format!("/api/v1/namespaces/team-a/pods/{}", pod.name),
            "application/json",
        )
        .await;
    assert_eq!(
        one["spec"]["nodeName"],
        api.w.nodes()[pod.node].name.as_str()
    );
    assert_eq!(one["status"]["phase"], "Running");
    let by_app = format!(
        "/api/v1/namespaces/team-a/pods?labelSelector=app%3D{}",
        pod.labels[0].1
    );
    let listed = api.json(&by_app, "application/json").await;
    let listed = listed["items"].as_array().unwrap();
    assert!(
        !listed.is_empty()
            && listed
                .iter()
                .all(|p| p["metadata"]["labels"]["app"] == pod.labels[0].1.as_str())
    );
    let namespaces = api.json("/api/v1/namespaces", "application/json").await;
    assert_eq!(namespaces["items"].as_array().unwrap().len(), 4);
    let bad = api
        .get(
            "/api/v1/pods?fieldSelector=spec.foo%3Dx",
            "application/json",
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn apiserver_watch_streams_a_bookmark_and_stays_open() {
    let api = Api::start(2, 2).await;
    let url = format!(
        "{}/api/v1/pods?fieldSelector=status.phase%3DRunning&watch=true&timeoutSeconds=2&allowWatchBookmarks=true&resourceVersion=1",
        api.handle.url()
    );
    let req = Request::get(url)
        .header("authorization", format!("Bearer {TOKEN}"))
        .header(
            "accept",
            "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1",
        )
        .body(Empty::new())
        .unwrap();
    let started = std::time::Instant::now();
    let resp = api.http.request(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let mut body = resp.into_body();
    let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
    let event: serde_json::Value = serde_json::from_slice(&first).unwrap();
    assert_eq!(event["type"], "BOOKMARK");
    assert_eq!(event["object"]["kind"], "PartialObjectMetadata");
    assert!(
        event["object"]["metadata"]["resourceVersion"]
            .as_str()
            .is_some()
    );
    let rest = body.collect().await.unwrap().to_bytes();
    assert!(rest.is_empty(), "nothing but the bookmark: {rest:?}");
    assert!(started.elapsed() >= Duration::from_millis(1_900));

    // Streaming-list mode: every object, then the initial-events-end bookmark.
    let url = format!(
        "{}/api/v1/nodes?watch=true&timeoutSeconds=1&allowWatchBookmarks=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan",
        api.handle.url()
    );
    let reply = get(
        &api.http,
        &url,
        &[("authorization", &format!("Bearer {TOKEN}"))],
    )
    .await;
    let events: Vec<serde_json::Value> = reply
        .body
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events.len(), 3);
    assert_eq!(events[0]["type"], "ADDED");
    assert_eq!(events[0]["object"]["kind"], "Node");
    assert_eq!(
        events[2]["object"]["metadata"]["annotations"]["k8s.io/initial-events-end"],
        "true"
    );
}

#[tokio::test]
async fn aggregator_proxies_metrics_paths_or_answers_503() {
    let api = Api::start(1, 1).await;
    let unavailable = api
        .get("/apis/metrics.k8s.io/v1beta1/nodes", "application/json")
        .await;
    assert_eq!(unavailable.status, StatusCode::SERVICE_UNAVAILABLE);
    let status: serde_json::Value = serde_json::from_str(&unavailable.body).unwrap();
    assert_eq!(
        status["message"],
        "the server is currently unable to handle the request"
    );
    assert_eq!(status["reason"], "ServiceUnavailable");

    // A backend that echoes what the aggregator sent it.
    let backend_pair = api
        .ca
        .issue_server("metrics-server", &[], &["127.0.0.1".parse().unwrap()])
        .unwrap();
    let tls =
        metrics_server_sim::net::server_tls(&backend_pair.cert_pem, &backend_pair.key_pem).unwrap();
    let listener = metrics_server_sim::net::bind("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let port = listener.local_addr().unwrap().port();
    let (_stop, stop_rx) = tokio::sync::watch::channel(false);
    let echo = |req: Request<hyper::body::Incoming>| async move {
        let h = |k: &str| req.headers().get(k).map(|v| v.to_str().unwrap().to_owned());
        let body = serde_json::json!({
            "path": req.uri().path_and_query().unwrap().to_string(), "user": h("x-remote-user"), "group": h("x-remote-group"),
            "accept": h("accept"), "authorization": h("authorization"),
        });
        let mut resp = http::Response::new(metrics_server_sim::net::full_body(body.to_string()));
        *resp.status_mut() = StatusCode::IM_A_TEAPOT;
        resp.headers_mut()
            .insert("content-type", "application/json".parse().unwrap());
        Ok::<_, std::convert::Infallible>(resp)
    };
    let _server = metrics_server_sim::net::spawn_https(listener, tls, echo, stop_rx);
    let front_proxy = api.ca.issue_client("front-proxy-client", &[]).unwrap();
    api.handle
        .set_metrics_backend(Some(&MetricsBackend {
            url: format!("https://127.0.0.1:{port}"),
            ca_pem: api.ca.cert_pem().to_owned(),
            client_cert_pem: front_proxy.cert_pem,
            client_key_pem: front_proxy.key_pem,
        }))
        .unwrap();
    let proxied = api
        .get(
            "/apis/metrics.k8s.io/v1beta1/namespaces/default/pods?labelSelector=app%3Dweb",
            "application/vnd.kubernetes.protobuf, */*",
        )
        .await;
    assert_eq!(
        proxied.status,
        StatusCode::IM_A_TEAPOT,
        "status passed through"
    );
    assert_eq!(content_type(&proxied), "application/json");
    let seen: serde_json::Value = serde_json::from_str(&proxied.body).unwrap();
    assert_eq!(
        seen["path"],
        "/apis/metrics.k8s.io/v1beta1/namespaces/default/pods?labelSelector=app%3Dweb"
    );
    assert_eq!(seen["user"], "demo-user");
    assert_eq!(seen["group"], "system:authenticated");
    assert_eq!(seen["accept"], "application/vnd.kubernetes.protobuf, */*");
    assert_eq!(
        seen["authorization"],
        serde_json::Value::Null,
        "the client's token is not forwarded"
    );
}

#[tokio::test]
async fn kube_rs_lists_nodes_and_watches_running_pod_metadata() {
    use futures::StreamExt;
    use k8s_openapi::api::core::v1::{Node, Pod};
    use kube::api::{Api as KubeApi, ListParams};
    use kube::core::PartialObjectMeta;
    use kube::runtime::watcher;
    use rustls_pki_types::pem::PemObject;

    let api = Api::start(3, 20).await;
    let mut config = kube::Config::new(api.handle.url().parse().unwrap());
    let ca_der =
        rustls_pki_types::CertificateDer::from_pem_slice(api.ca.cert_pem().as_bytes()).unwrap();
    config.root_cert = Some(vec![ca_der.to_vec()]);
    config.auth_info.token = Some(TOKEN.to_owned().into());
    let client = kube::Client::try_from(config).unwrap();

    let nodes = KubeApi::<Node>::all(client.clone())
        .list(&ListParams::default())
        .await
        .unwrap();
    assert_eq!(nodes.items.len(), 3);
    let port = nodes.items[2]
        .status
        .as_ref()
        .unwrap()
        .daemon_endpoints
        .as_ref()
        .unwrap();
    assert_eq!(port.kubelet_endpoint.as_ref().unwrap().port, 20_002);

    let running = api.w.running_pods().count();
    let running_only = || watcher::Config::default().fields("status.phase=Running");
    let pods = || KubeApi::<PartialObjectMeta<Pod>>::all(client.clone());
    let streams = [
        watcher::watcher(pods(), running_only()).boxed(),
        watcher::watcher(pods(), running_only().page_size(7)).boxed(),
        watcher::watcher(pods(), running_only().streaming_lists()).boxed(),
    ];
    for mut stream in streams {
        let mut applied = 0;
        loop {
            let event = tokio::time::timeout(Duration::from_secs(10), stream.next())
                .await
                .expect("watcher makes progress")
                .expect("stream continues")
                .expect("no watcher error");
            match event {
                watcher::Event::Init => {}
                watcher::Event::InitApply(p) => {
                    assert!(p.metadata.name.is_some());
                    applied += 1;
                }
                watcher::Event::InitDone => break,
                other => panic!("unexpected event before InitDone: {other:?}"),
            }
        }
        assert_eq!(applied, running);
    }
}
