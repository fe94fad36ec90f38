//! The simulated cluster the server under test talks to: kubelets and a minimal API server
//! (which also plays the aggregator) in this test process, on loopback. It is the demo's
//! cluster without the demo's own server: the server under test runs as a child process
//! (see `server.rs`) from the files the demo writes.

use std::net::SocketAddr;
use std::path::PathBuf;

use metrics_server_sim::apiserver::{ApiServerHandle, MetricsBackend};
use metrics_server_sim::demo::{self, DEMO_TOKEN, DemoOptions};
use metrics_server_sim::kubelet::KubeletFleet;

use super::tls::Tls;

/// The running simulated cluster and the files to reach it with.
pub struct Cluster {
    dir: tempfile::TempDir,
    pub apiserver: ApiServerHandle,
    _kubelets: KubeletFleet,
    /// A running pod: `(namespace, name)`.
    pub pod: (String, String),
    ca_pem: String,
    front_proxy: (String, String),
}

impl Cluster {
    /// Starts `nodes` kubelets with `pods_per_node` pods each and the API server.
    pub async fn start(nodes: usize, pods_per_node: usize) -> Cluster {
        let dir = tempfile::tempdir().expect("temp dir");
        let d = demo::start(DemoOptions::for_test(
            nodes,
            pods_per_node,
            dir.path().join("kubeconfig"),
        ))
        .await
        .expect("the simulated cluster starts");
        // Only the cluster is wanted: the server under test is a separate process.
        d.server.shutdown().await;
        let read = |name: &str| std::fs::read_to_string(dir.path().join(name)).expect(name);
        let pod = d
            .workload
            .running_pods()
            .next()
            .map(|p| (p.namespace.clone(), p.name.clone()))
            .expect("a running pod");
        Cluster {
            ca_pem: read("demo-ca.crt"),
            front_proxy: (
                read("demo-front-proxy-client.crt"),
                read("demo-front-proxy-client.key"),
            ),
            pod,
            apiserver: d.apiserver,
            _kubelets: d.kubelets,
            dir,
        }
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// An anonymous client of the server (and of the simulated API server: same CA).
    pub fn anonymous(&self) -> Tls {
        Tls::new(&self.ca_pem, None)
    }

    /// The aggregator's client: the front-proxy certificate (send [`AGGREGATOR_HEADERS`]).
    pub fn aggregator(&self) -> Tls {
        Tls::new(
            &self.ca_pem,
            Some((&self.front_proxy.0, &self.front_proxy.1)),
        )
    }

    /// Sends the simulated API server's `/apis/metrics.k8s.io` to the server at `addr`.
    pub fn aggregate(&self, addr: SocketAddr) {
        let backend = MetricsBackend {
            url: format!("https://{addr}"),
            ca_pem: self.ca_pem.clone(),
            client_cert_pem: self.front_proxy.0.clone(),
            client_key_pem: self.front_proxy.1.clone(),
        };
        self.apiserver
            .set_metrics_backend(Some(&backend))
            .expect("aggregator backend");
    }

    /// The `Authorization` header the simulated API server accepts (as `demo-user`): a pod's
    /// own credentials, which the simulated SubjectAccessReview allows.
    pub fn api_bearer() -> Vec<u8> {
        format!("Bearer {DEMO_TOKEN}").into_bytes()
    }
}

/// What the aggregator adds to the front-proxy certificate: the user the simulated
/// SubjectAccessReview allows.
pub const AGGREGATOR_HEADERS: &[(&str, &[u8])] = &[
    ("x-remote-user", b"demo-user"),
    ("x-remote-group", b"system:authenticated"),
];
