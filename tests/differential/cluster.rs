//! The simulated cluster with both servers on it: the demo (kubelets, API, ours in this
//! process) and upstream as a child process on another loopback port.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use metrics_server_sim::demo::{self, Demo, DemoOptions};
use metrics_server_sim::workload::PodPhase;

use super::cases::Subjects;
use super::client::Aggregator;
use super::normalize::Unstable;
use super::upstream::{Upstream, UpstreamError};

/// The cluster's size unless the environment says otherwise.
const NODES: usize = 50;
const PODS_PER_NODE: usize = 30;
/// Upstream's smallest resolution; both servers use it.
const RESOLUTION: Duration = Duration::from_secs(10);
/// How long both servers may take to serve every node and pod (two scrapes, and the
/// simulated API's answers to upstream's informers, on a busy machine).
const READY_TIMEOUT: Duration = Duration::from_secs(150);
const POLL: Duration = Duration::from_secs(1);
/// The namespace the cases look into.
const NAMESPACE: &str = "team-a";

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("the simulated cluster did not start: {0:#}")]
    Demo(anyhow::Error),
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
    #[error("no free port on 127.0.0.1: {0}")]
    Port(std::io::Error),
    #[error("{0}")]
    NotReady(String),
}

pub struct Cluster {
    demo: Demo,
    upstream: std::sync::Mutex<Upstream>,
    upstream_port: u16,
    pub unstable: Unstable,
    nodes: usize,
    servable_pods: usize,
}

fn size(var: &str, default: usize) -> usize {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

impl Cluster {
    pub async fn start(dir: &Path, upstream_binary: &Path) -> Result<Self, ClusterError> {
        let nodes = size("DIFFERENTIAL_NODES", NODES);
        let demo = demo::start(DemoOptions {
            metric_resolution: RESOLUTION,
            ..DemoOptions::for_test(
                nodes,
                size("DIFFERENTIAL_PODS_PER_NODE", PODS_PER_NODE),
                dir.join("kubeconfig"),
            )
        })
        .await
        .map_err(ClusterError::Demo)?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(ClusterError::Port)?
            .port();
        let upstream = Upstream::start(upstream_binary, dir, port)?;
        let unstable = unstable_pods(&demo);
        let servable_pods = demo.workload.running_pods().count();
        Ok(Cluster {
            demo,
            upstream: std::sync::Mutex::new(upstream),
            upstream_port: port,
            unstable,
            nodes,
            servable_pods,
        })
    }

    pub fn ours_url(&self) -> String {
        format!("https://127.0.0.1:{}", self.demo.server.local_addr.port())
    }

    pub fn upstream_url(&self) -> String {
        format!("https://127.0.0.1:{}", self.upstream_port)
    }

    pub fn upstream_log(&self) -> String {
        self.upstream
            .lock()
            .map(|u| u.log_tail())
            .unwrap_or_default()
    }

    /// Waits until ours serves every node and pod and upstream every node and every pod
    /// without a crash-looping container.
    pub async fn wait_until_both_serve(&self, client: &Aggregator) -> Result<(), ClusterError> {
        let deadline = tokio::time::Instant::now() + READY_TIMEOUT;
        let stable_pods = self.servable_pods - self.unstable.pods.len();
        let mut seen = (0, 0, 0, 0);
        while tokio::time::Instant::now() < deadline {
            if let Some(exit) = self.upstream.lock().ok().and_then(|mut u| u.exited()) {
                return Err(ClusterError::NotReady(format!("upstream exited ({exit})")));
            }
            let snap = self.demo.server.snapshot.load();
            let theirs = (
                self.count(client, "nodes").await,
                self.count(client, "pods").await,
            );
            seen = (
                snap.servable_nodes(),
                snap.servable_pods(),
                theirs.0,
                theirs.1,
            );
            if seen.0 == self.nodes
                && seen.1 == self.servable_pods
                && seen.2 == self.nodes
                && seen.3 >= stable_pods
            {
                return Ok(());
            }
            tokio::time::sleep(POLL).await;
        }
        Err(ClusterError::NotReady(format!(
            "after {READY_TIMEOUT:?}: ours serves {} of {} nodes and {} of {} pods, upstream \
             {} nodes and {} of at least {stable_pods} pods",
            seen.0, self.nodes, seen.1, self.servable_pods, seen.2, seen.3
        )))
    }

    /// How many items upstream's list of `resource` has (0 when it does not answer).
    async fn count(&self, client: &Aggregator, resource: &str) -> usize {
        let path = format!("/apis/metrics.k8s.io/v1beta1/{resource}");
        let Ok(answer) = client
            .send(&self.upstream_url(), &http::Method::GET, &path, &[])
            .await
        else {
            return 0;
        };
        serde_json::from_slice::<serde_json::Value>(&answer.body)
            .ok()
            .and_then(|v| v.get("items")?.as_array().map(Vec::len))
            .unwrap_or(0)
    }

    /// A node, a Running pod in [`NAMESPACE`] without crash-looping containers, a
    /// completed pod.
    pub fn subjects(&self) -> Subjects {
        let workload = &self.demo.workload;
        let node = workload
            .nodes()
            .first()
            .map(|n| n.name.clone())
            .unwrap_or_default();
        let pod = workload
            .running_pods()
            .find(|p| p.namespace == NAMESPACE && !self.unstable.pods.contains(&key(p)))
            .or_else(|| workload.running_pods().next())
            .expect("a Running pod");
        let app = pod
            .labels
            .iter()
            .find(|(k, _)| k == "app")
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        let completed_pod = workload
            .pods()
            .iter()
            .find(|p| p.phase == PodPhase::Succeeded)
            .map(|p| (p.namespace.clone(), p.name.clone()));
        Subjects {
            node,
            pod: (pod.namespace.clone(), pod.name.clone()),
            completed_pod,
            namespace: NAMESPACE.to_owned(),
            app,
        }
    }

    pub async fn stop(self) {
        drop(self.upstream);
        self.demo.shutdown().await;
    }
}

fn key(pod: &metrics_server_sim::workload::SimPod) -> String {
    format!("{}/{}", pod.namespace, pod.name)
}

/// Pods with a crash-looping container: each server sees the restarts at other moments.
fn unstable_pods(demo: &Demo) -> Unstable {
    let pods: BTreeSet<String> = demo
        .workload
        .running_pods()
        .filter(|p| p.containers.iter().any(|c| c.restart_every_ns.is_some()))
        .map(key)
        .collect();
    Unstable { pods }
}
