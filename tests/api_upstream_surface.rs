//! What upstream's apiserver chain does around every answer, over real TLS against a small
//! demo cluster: `Cache-Control` and `Audit-Id` on every response, the router's 405 and 406
//! texts, the index of paths at `/` and for unknown paths, YAML, Tables as
//! `application/json`, `/version` as Kubernetes' `version.Info`. (The differential test
//! compares all of it with upstream itself; this one runs without upstream installed.)
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use common::{Https, ready_demo};
use metrics_server::config::MetricsSource;
use serde_json::Value;

const TABLE: &str = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_carry_upstreams_headers_and_texts() {
    let dir = tempfile::tempdir().unwrap();
    let demo = ready_demo(dir.path(), 2, 3, MetricsSource::Resource).await;
    let https = Https::as_aggregator(dir.path());
    let base = format!("https://127.0.0.1:{}", demo.server.local_addr.port());
    let url = |path: &str| format!("{base}{path}");
    let node = "/apis/metrics.k8s.io/v1beta1/nodes/sim-node-1";

    // Every response: no shared caching, a fresh audit ID (or the request's).
    for path in [
        node,
        "/apis/metrics.k8s.io/v1beta1/nodes/x",
        "/healthz",
        "/metrics",
        "/",
    ] {
        let (_, headers, _) = https.get_full(&url(path), &[]).await;
        assert_eq!(headers["cache-control"], "no-cache, private", "{path}");
        assert_eq!(headers["audit-id"].len(), 36, "{path}");
    }
    let (_, headers, _) = https.get_full(&url(node), &[("Audit-Id", "abc-1")]).await;
    assert_eq!(headers["audit-id"], "abc-1");

    // The index of paths: 200 at `/`, 404 for `/api` and health checks nobody has.
    for (path, status) in [("/", 200), ("/api", 404), ("/healthz/nope", 404)] {
        let got = https.get(&url(path), None).await;
        assert_eq!(got.status, status, "{path}");
        assert!(
            got.body.starts_with("{\n  \"paths\": [\n    \"/apis\","),
            "{path}: {}",
            got.body
        );
    }

    // 406: the router's text when no type fits, the negotiation's for a bad Table.
    let got = https.get(&url(node), Some("text/html")).await;
    let status: Value = serde_json::from_str(&got.body).unwrap();
    assert_eq!(got.status, 406);
    assert_eq!(
        status["message"],
        "406: Not Acceptable\n\nAvailable representations: application/json, application/yaml, application/vnd.kubernetes.protobuf"
    );
    assert!(
        got.body.starts_with("{\n  \"kind\": \"Status\""),
        "{}",
        got.body
    );
    let got = https
        .get(
            &url(node),
            Some("application/json;as=Table;v=v2;g=meta.k8s.io"),
        )
        .await;
    assert_eq!(got.status, 406);
    assert!(got.body.contains("\"message\": \"only the following media types are accepted: application/json, application/yaml, application/vnd.kubernetes.protobuf\""), "{}", got.body);

    // Tables go out as application/json; YAML is served.
    assert_eq!(
        https.get(&url(node), Some(TABLE)).await.content_type,
        "application/json"
    );
    let got = https.get(&url(node), Some("application/yaml")).await;
    assert_eq!(
        (got.status, got.content_type.as_str()),
        (200, "application/yaml")
    );
    assert!(
        got.body
            .starts_with("apiVersion: metrics.k8s.io/v1beta1\nkind: NodeMetrics\nmetadata:\n"),
        "{}",
        got.body
    );

    // /version has the fields of Kubernetes' version.Info.
    let version: Value =
        serde_json::from_str(&https.get(&url("/version"), None).await.body).unwrap();
    for field in [
        "major",
        "minor",
        "gitVersion",
        "gitCommit",
        "gitTreeState",
        "buildDate",
        "goVersion",
        "compiler",
        "platform",
    ] {
        assert!(version[field].is_string(), "{field}: {version}");
    }
    demo.shutdown().await;
}
