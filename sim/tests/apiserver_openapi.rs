//! The demo's apiserver where a newcomer's kubectl looks first: the health probes and the
//! OpenAPI documents, v3 (index, core document, the metrics group versions through the
//! aggregator) and v2 (the core merged with the metrics server's, as JSON or protobuf), with
//! and without a reachable metrics backend.

#![allow(clippy::unwrap_used, clippy::expect_used)] // helpers outside #[test] fns unwrap on test inputs

use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::{Client, connect::HttpConnector};
use hyper_util::rt::TokioExecutor;
use metrics_server_sim::demo::{self, DEMO_TOKEN, Demo, DemoOptions};
use metrics_server_sim::net::client_tls;
use serde_json::Value;

type HttpsClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Empty<Bytes>>;

const PROTOBUF: &str = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf";

struct Api {
    http: HttpsClient,
    base: String,
}

struct Reply {
    status: StatusCode,
    content_type: String,
    body: Bytes,
}

impl Reply {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    fn json(&self) -> Value {
        assert_eq!(self.status, StatusCode::OK, "{}", self.text());
        serde_json::from_slice(&self.body).expect("JSON")
    }
}

impl Api {
    fn new(demo: &Demo, dir: &Path) -> Api {
        let ca = std::fs::read_to_string(dir.join("demo-ca.crt")).unwrap();
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(client_tls(&ca, None).unwrap())
            .https_only()
            .enable_http1()
            .build();
        Api {
            http: Client::builder(TokioExecutor::new()).build(connector),
            base: demo.apiserver.url(),
        }
    }

    /// A GET with the demo token (unless `anonymous`) and `accept`.
    async fn get(&self, path: &str, accept: &str, anonymous: bool) -> Reply {
        let mut req = Request::get(format!("{}{path}", self.base)).header("accept", accept);
        if !anonymous {
            req = req.header("authorization", format!("Bearer {DEMO_TOKEN}"));
        }
        let resp = tokio::time::timeout(
            Duration::from_secs(30),
            self.http.request(req.body(Empty::new()).unwrap()),
        )
        .await
        .expect("answered in time")
        .unwrap();
        let status = resp.status();
        let content_type = resp
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        Reply {
            status,
            content_type,
            body,
        }
    }
}

async fn small_demo(dir: &Path) -> Demo {
    demo::start(DemoOptions {
        metric_resolution: Duration::from_secs(15),
        ..DemoOptions::for_test(1, 2, dir.join("kubeconfig"))
    })
    .await
    .expect("demo starts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probes_answer_ok_to_anyone_and_list_their_checks_when_verbose() {
    let dir = tempfile::tempdir().unwrap();
    let demo = small_demo(dir.path()).await;
    let api = Api::new(&demo, dir.path());
    for probe in ["/livez", "/readyz", "/healthz"] {
        let reply = api.get(probe, "*/*", true).await;
        assert_eq!(
            (reply.status, reply.text().as_str()),
            (StatusCode::OK, "ok"),
            "{probe}"
        );
        assert_eq!(reply.content_type, "text/plain; charset=utf-8");
    }
    let verbose = api.get("/readyz?verbose", "*/*", false).await.text();
    assert_eq!(
        verbose,
        "[+]ping ok\n[+]log ok\n[+]shutdown ok\nreadyz check passed\n"
    );
    assert_eq!(api.get("/livez/ping", "*/*", true).await.text(), "ok");
    let unknown = api.get("/readyz/etcd", "*/*", true).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    let other = api.get("/api/v1/nodes", "application/json", true).await;
    assert_eq!(
        other.status,
        StatusCode::UNAUTHORIZED,
        "only the probes are open"
    );
    demo.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_v3_lists_the_core_and_the_metrics_group_versions_through_the_aggregator() {
    let dir = tempfile::tempdir().unwrap();
    let demo = small_demo(dir.path()).await;
    let api = Api::new(&demo, dir.path());
    let index = api
        .get("/openapi/v3", "application/json", false)
        .await
        .json();
    let paths = index["paths"].as_object().expect("paths");
    let names: Vec<&str> = paths.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "api/v1",
            "apis/metrics.k8s.io/v1",
            "apis/metrics.k8s.io/v1beta1"
        ]
    );
    let core_url = paths["api/v1"]["serverRelativeURL"].as_str().unwrap();
    assert!(
        core_url.starts_with("/openapi/v3/api/v1?hash="),
        "{core_url}"
    );
    let core = api.get(core_url, "application/json", false).await.json();
    let pod = &core["components"]["schemas"]["io.k8s.api.core.v1.Pod"];
    assert_eq!(pod["x-kubernetes-group-version-kind"][0]["kind"], "Pod");
    for version in ["v1beta1", "v1"] {
        let url = paths[&format!("apis/metrics.k8s.io/{version}")]["serverRelativeURL"]
            .as_str()
            .unwrap();
        let doc = api.get(url, "application/json", false).await.json();
        let schema = format!("io.k8s.metrics.pkg.apis.metrics.{version}.PodMetrics");
        let props = &doc["components"]["schemas"][&schema]["properties"];
        for field in ["containers", "timestamp", "window"] {
            assert!(props[field].is_object(), "{schema}.{field}");
        }
    }
    let protobuf_only = api
        .get(
            core_url,
            "application/com.github.proto-openapi.spec.v3@v1.0+protobuf",
            false,
        )
        .await;
    assert_eq!(protobuf_only.status, StatusCode::NOT_ACCEPTABLE);

    demo.apiserver.set_metrics_backend(None).unwrap();
    let alone = api
        .get("/openapi/v3", "application/json", false)
        .await
        .json();
    let names: Vec<&String> = alone["paths"].as_object().unwrap().keys().collect();
    assert_eq!(names, ["api/v1"], "an unavailable API leaves the index");
    let proxied = api
        .get(
            "/openapi/v3/apis/metrics.k8s.io/v1",
            "application/json",
            false,
        )
        .await;
    assert_eq!(proxied.status, StatusCode::SERVICE_UNAVAILABLE);
    demo.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_v2_merges_the_metrics_definitions_as_json_or_protobuf() {
    let dir = tempfile::tempdir().unwrap();
    let demo = small_demo(dir.path()).await;
    let api = Api::new(&demo, dir.path());
    let json = api.get("/openapi/v2", "application/json", false).await;
    assert_eq!(json.content_type, "application/json");
    let doc = json.json();
    assert_eq!(doc["swagger"], "2.0");
    let defs = doc["definitions"].as_object().unwrap();
    for name in [
        "io.k8s.api.core.v1.Pod",
        "io.k8s.api.core.v1.Node",
        "io.k8s.metrics.pkg.apis.metrics.v1beta1.PodMetrics",
        "io.k8s.metrics.pkg.apis.metrics.v1.NodeMetrics",
        "io.k8s.apimachinery.pkg.apis.meta.v1.Duration",
    ] {
        assert!(defs.contains_key(name), "{name}");
    }
    assert!(doc["paths"]["/apis/metrics.k8s.io/v1beta1/nodes"].is_object());
    let meta = &defs["io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"]["properties"];
    assert!(meta["ownerReferences"].is_object(), "the core's ObjectMeta");

    let proto = api.get("/openapi/v2", PROTOBUF, false).await;
    assert_eq!(proto.status, StatusCode::OK);
    assert_eq!(
        proto.content_type,
        "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
    );
    assert_eq!(&proto.body[..5], b"\x0a\x032.0", "field 1: swagger \"2.0\"");
    let names = String::from_utf8_lossy(&proto.body);
    assert!(names.contains("io.k8s.metrics.pkg.apis.metrics.v1beta1.PodMetrics"));
    assert!(names.contains("fieldValidation"));
    let html = api.get("/openapi/v2", "text/html", false).await;
    assert_eq!(html.status, StatusCode::NOT_ACCEPTABLE);

    demo.apiserver.set_metrics_backend(None).unwrap();
    let alone = api
        .get("/openapi/v2", "application/json", false)
        .await
        .json();
    assert!(alone["definitions"]["io.k8s.api.core.v1.Pod"].is_object());
    assert!(
        alone["definitions"]
            .as_object()
            .unwrap()
            .keys()
            .all(|k| !k.contains("metrics")),
        "nothing of an unavailable API"
    );
    demo.shutdown().await;
}
