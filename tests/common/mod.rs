//! Helpers shared by the integration tests: an HTTPS client that trusts the demo CA, a demo
//! cluster that is ready to serve, and a value read from `/metrics`.
#![allow(dead_code, clippy::expect_used, clippy::unwrap_used)] // each test uses a subset

use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use metrics_server::config::MetricsSource;
use metrics_server::usage::ExtraResources;
use metrics_server_sim::demo::{self, Demo, DemoOptions};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// A response, read whole.
pub struct Got {
    pub status: u16,
    pub content_type: String,
    pub retry_after: Option<String>,
    pub body: String,
}

/// HTTPS GETs verified against one CA, optionally with a client certificate and headers sent
/// on every request.
pub struct Https {
    client: Client<hyper_rustls::HttpsConnector<HttpConnector>, Empty<Bytes>>,
    headers: Vec<(String, String)>,
}

impl Https {
    /// No client certificate, no headers: an anonymous caller.
    pub fn trusting(ca_file: &Path) -> Self {
        Self::build(ca_file, None, Vec::new())
    }

    /// Presents `cert`/`key` in the handshake and sends `headers` with every request.
    pub fn with_identity(
        ca_file: &Path,
        cert: &Path,
        key: &Path,
        headers: &[(&str, &str)],
    ) -> Self {
        let headers = headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Self::build(ca_file, Some((cert, key)), headers)
    }

    /// What the aggregator is: the demo's front-proxy certificate and `X-Remote-User: demo-user`.
    pub fn as_aggregator(demo_dir: &Path) -> Self {
        Self::with_identity(
            &demo_dir.join("demo-ca.crt"),
            &demo_dir.join("demo-front-proxy-client.crt"),
            &demo_dir.join("demo-front-proxy-client.key"),
            &[
                ("X-Remote-User", "demo-user"),
                ("X-Remote-Group", "system:authenticated"),
            ],
        )
    }

    fn build(
        ca_file: &Path,
        identity: Option<(&Path, &Path)>,
        headers: Vec<(String, String)>,
    ) -> Self {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_file_iter(ca_file).expect("CA file") {
            roots.add(cert.expect("CA cert")).expect("add CA");
        }
        let builder = rustls::ClientConfig::builder().with_root_certificates(roots);
        let tls = match identity {
            Some((cert, key)) => {
                let chain = CertificateDer::pem_file_iter(cert)
                    .expect("client cert file")
                    .collect::<Result<Vec<_>, _>>()
                    .expect("client cert");
                let key = PrivateKeyDer::from_pem_file(key).expect("client key");
                builder
                    .with_client_auth_cert(chain, key)
                    .expect("client identity")
            }
            None => builder.with_no_client_auth(),
        };
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_only()
            .enable_http1()
            .enable_http2()
            .build();
        Https {
            client: Client::builder(TokioExecutor::new()).build(connector),
            headers,
        }
    }

    /// A GET carrying the client's own headers, then `extra`.
    fn request(&self, url: &str, extra: &[(&str, &str)]) -> http::Request<Empty<Bytes>> {
        let mut req = http::Request::get(url);
        for (k, v) in &self.headers {
            req = req.header(k.as_str(), v.as_str());
        }
        for (k, v) in extra {
            req = req.header(*k, *v);
        }
        req.body(Empty::new()).unwrap()
    }

    /// The status of a GET, or `None` when the server cannot be reached.
    pub async fn try_status(&self, url: &str) -> Option<u16> {
        let resp = self.client.request(self.request(url, &[])).await.ok()?;
        Some(resp.status().as_u16())
    }

    /// A GET whose body is kept as bytes: (status, content type, body).
    pub async fn get_bytes(&self, url: &str, accept: Option<&str>) -> (u16, String, Bytes) {
        let accept: Vec<(&str, &str)> = accept.map(|a| ("Accept", a)).into_iter().collect();
        let (status, content_type, _, body) = self.fetch(url, &accept).await;
        (status, content_type, body)
    }

    pub async fn get(&self, url: &str, accept: Option<&str>) -> Got {
        let accept: Vec<(&str, &str)> = accept.map(|a| ("Accept", a)).into_iter().collect();
        self.get_with(url, &accept).await
    }

    /// A GET with extra headers besides the client's own.
    pub async fn get_with(&self, url: &str, extra: &[(&str, &str)]) -> Got {
        let (status, content_type, retry_after, body) = self.fetch(url, extra).await;
        Got {
            status,
            content_type,
            retry_after,
            body: String::from_utf8_lossy(&body).into_owned(),
        }
    }

    /// Status, Content-Type, Retry-After and the whole body of a GET.
    async fn fetch(
        &self,
        url: &str,
        extra: &[(&str, &str)],
    ) -> (u16, String, Option<String>, Bytes) {
        let (status, headers, body) = self.get_full(url, extra).await;
        let header = |name| {
            headers
                .get(name)
                .map(|v: &http::HeaderValue| v.to_str().unwrap().to_string())
        };
        let content_type = header(http::header::CONTENT_TYPE).unwrap_or_default();
        let retry_after = header(http::header::RETRY_AFTER);
        (status, content_type, retry_after, body)
    }

    /// Status, every response header and the whole body (as sent: not decompressed).
    pub async fn get_full(
        &self,
        url: &str,
        extra: &[(&str, &str)],
    ) -> (u16, http::HeaderMap, Bytes) {
        let resp = self
            .client
            .request(self.request(url, extra))
            .await
            .expect("request");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.into_body().collect().await.expect("body").to_bytes();
        (status, headers, body)
    }
}

/// Starts a demo cluster and waits until every node and running pod has metrics.
pub async fn ready_demo(
    dir: &Path,
    nodes: usize,
    pods_per_node: usize,
    source: MetricsSource,
) -> Demo {
    ready_demo_serving(dir, nodes, pods_per_node, source, ExtraResources::NONE).await
}

/// [`ready_demo`] with a server that serves `extra_resources` too.
pub async fn ready_demo_serving(
    dir: &Path,
    nodes: usize,
    pods_per_node: usize,
    source: MetricsSource,
    extra_resources: ExtraResources,
) -> Demo {
    let demo = demo::start(DemoOptions {
        source,
        extra_resources,
        ..DemoOptions::for_test(nodes, pods_per_node, dir.join("kubeconfig"))
    })
    .await
    .expect("demo starts");
    wait_for(&demo, nodes, demo.workload.running_pods().count()).await;
    demo
}

/// Waits (at most 60 s) until `nodes` nodes and `pods` pods are servable.
pub async fn wait_for(demo: &Demo, nodes: usize, pods: usize) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let snap = demo.server.snapshot.load();
        if snap.servable_nodes() == nodes && snap.servable_pods() == pods {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "metrics not complete after 60s: {} of {nodes} nodes, {} of {pods} pods",
            snap.servable_nodes(),
            snap.servable_pods()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The value of the first line of a Prometheus text `text` that is exactly `series` then a
/// value.
pub fn metric_value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}
