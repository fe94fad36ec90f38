//! Live simulated kubelets (what `metrics-server-sim nodes` runs on a real apiserver): the pods
//! they report follow the workload as it is replaced, node counters never go back when a pod
//! leaves, and requests are authorized like a real kubelet's (401 without a known token, 403
//! with the kubelet's message when the review denies `nodes/<subresource>`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use arc_swap::ArcSwap;
use bytes::Bytes;
use futures::FutureExt;
use futures::future::BoxFuture;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::{Client, connect::HttpConnector};
use hyper_util::rt::TokioExecutor;
use metrics_server::pki::CertAuthority;
use metrics_server::time::Timestamp;
use metrics_server_sim::kubelet::auth::{KubeletAuthorizer, NodeAccess, Review};
use metrics_server_sim::kubelet::{KubeletOptions, spawn_live_kubelets};
use metrics_server_sim::net::client_tls;
use metrics_server_sim::workload::{LiveContainer, LivePod, TrueUsage, Workload, WorkloadSpec};

type HttpsClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Empty<Bytes>>;

fn client(ca_pem: &str) -> HttpsClient {
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(client_tls(ca_pem, None).unwrap())
        .https_only()
        .enable_http1()
        .build();
    Client::builder(TokioExecutor::new()).build(connector)
}

async fn get(client: &HttpsClient, url: &str, token: Option<&str>) -> (StatusCode, String) {
    let mut req = Request::get(url);
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let resp = client
        .request(req.body(Empty::new()).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

/// Token `reader` may read node metrics but not stats; any other token is unknown.
struct ReaderOnlyMetrics;

impl KubeletAuthorizer for ReaderOnlyMetrics {
    fn review<'a>(
        &'a self,
        token: &'a str,
        access: &'a NodeAccess,
    ) -> BoxFuture<'a, Result<Review, String>> {
        async move {
            Ok(match (token, access.subresource) {
                ("reader", "metrics") => Review::Allowed,
                ("reader", _) => Review::Denied {
                    user: "system:serviceaccount:demo:reader".into(),
                },
                _ => Review::Unauthenticated,
            })
        }
        .boxed()
    }
}

fn web_pod(uid: &str, cpu_millicores: u64) -> LivePod {
    LivePod {
        namespace: "shop".into(),
        name: format!("web-{uid}"),
        uid: uid.into(),
        labels: vec![("app".into(), "web".into())],
        node: "sim-node-1".into(),
        started: Timestamp::from_secs(Timestamp::now().secs() - 60),
        containers: vec![LiveContainer {
            name: "web".into(),
            request: TrueUsage::default(),
            usage: TrueUsage {
                cpu_millicores,
                memory_bytes: 64 << 20,
            },
            disk: Default::default(),
        }],
        empty_dir_bytes: 0,
    }
}

fn node_counter(body: &str) -> f64 {
    let line = body
        .lines()
        .find(|l| l.starts_with("node_cpu_usage_seconds_total "))
        .unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[tokio::test]
async fn live_kubelets_follow_the_workload_and_authorize_like_real_ones() {
    let ca = Arc::new(CertAuthority::new("live-ca").unwrap());
    let nodes_only = Workload::generate(WorkloadSpec {
        nodes: 1,
        pods_per_node: 0,
        seed: 3,
    });
    let source = Arc::new(ArcSwap::from_pointee(nodes_only));
    let opts = KubeletOptions {
        ca: ca.clone(),
        required_bearer_token: None,
        resource_endpoint_404: false,
    };
    let fleet = spawn_live_kubelets(source.clone(), opts, Some(Arc::new(ReaderOnlyMetrics)))
        .await
        .unwrap();
    let ep = &fleet.endpoints()[0];
    let base = format!("https://{}:{}", ep.ip, ep.port);
    let http = client(ca.cert_pem());
    let metrics = format!("{base}/metrics/resource");

    // Authorization, in the kubelet's words.
    assert_eq!(
        get(&http, &metrics, None).await,
        (StatusCode::UNAUTHORIZED, "Unauthorized".into())
    );
    assert_eq!(
        get(&http, &metrics, Some("stranger")).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        get(&http, &format!("{base}/stats/summary"), Some("reader")).await,
        (
            StatusCode::FORBIDDEN,
            "Forbidden (user=system:serviceaccount:demo:reader, verb=get, resource=nodes, \
             subresource(s)=[stats])"
                .into()
        )
    );
    assert_eq!(
        get(&http, &format!("{base}/healthz"), None).await.0,
        StatusCode::OK
    );

    // No pods yet, then one pod, then another instead of it.
    let (status, empty) = get(&http, &metrics, Some("reader")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!empty.contains("pod=\"web-"), "{empty}");
    let now = Timestamp::now();
    source.store(Arc::new(
        source.load().with_live_pods(&[web_pod("a", 400)], now),
    ));
    let (_, with_a) = get(&http, &metrics, Some("reader")).await;
    assert!(
        with_a.contains(
            "container_cpu_usage_seconds_total{container=\"web\",namespace=\"shop\",pod=\"web-a\"}"
        ),
        "{with_a}"
    );
    source.store(Arc::new(
        source
            .load()
            .with_live_pods(&[web_pod("b", 100)], Timestamp::now()),
    ));
    let (_, with_b) = get(&http, &metrics, Some("reader")).await;
    assert!(with_b.contains("pod=\"web-b\""), "{with_b}");
    assert!(!with_b.contains("pod=\"web-a\""), "{with_b}");
    assert!(
        node_counter(&with_b) >= node_counter(&with_a),
        "the node counter went back when web-a left"
    );
    fleet.shutdown().await;
}
