//! `metrics-server-sim nodes`: simulated nodes on a real Kubernetes API. The agent registers
//! Node objects (addresses on 127.0.x.y) and keeps them Ready ([`nodes`]), runs one simulated
//! kubelet per node on its own loopback address (HTTPS with certificates from a CA it writes
//! out, requests authorized through TokenReview and SubjectAccessReview, [`authz`]), and plays
//! the kubelet for the pods the scheduler binds to its nodes ([`pods`]): they become Running
//! and Ready and their true usage (from annotations) is served on `/metrics/resource` and
//! `/stats/summary` by the kubelets, through a live workload replaced on each change. A
//! control file can stop a kubelet or skew its clock while it runs ([`control`]).

mod authz;
pub mod control;
mod nodes;
mod pods;
mod quantity;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use arc_swap::ArcSwap;
use futures::StreamExt;
use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::{WatchStreamExt, reflector, watcher};
use kube::{Api, Client};
use tokio::sync::Notify;

use self::nodes::NodeRegistration;
pub use self::nodes::SIMULATED_LABEL;
pub use self::pods::{CPU_ANNOTATION, MEMORY_ANNOTATION};
use self::pods::{NodeSlot, PodAction, PodIps};
use super::kubelet::{KubeletFleet, KubeletOptions, auth::KubeletAuthorizer, spawn_live_kubelets};
use super::workload::{LivePod, TrueUsage, Workload, WorkloadSpec};
use crate::config::SimNodesArgs;
use metrics_server::pki::CertAuthority;
use metrics_server::time::Timestamp;

/// Pods are reconciled at least this often, and at most this soon after a watch event.
const RESYNC_EVERY: Duration = Duration::from_secs(5);
const DEBOUNCE: Duration = Duration::from_millis(100);

/// `metrics-server-sim nodes`: register, serve, and reconcile until Ctrl-C or SIGTERM.
pub async fn run(args: SimNodesArgs) -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let api_config =
        metrics_server::server::kube_setup::kube_config(Some(&args.kubeconfig)).await?;
    let client = Client::try_from(api_config).context("building the API client")?;
    let defaults = TrueUsage {
        cpu_millicores: quantity::parse_millicores(&args.default_cpu).context("--default-cpu")?,
        memory_bytes: quantity::parse_bytes(&args.default_memory).context("--default-memory")?,
    };
    let version = client
        .apiserver_version()
        .await
        .context("reaching the API server")?;

    let ca = Arc::new(CertAuthority::new("metrics-server-sim-kubelet-ca")?);
    std::fs::write(&args.kubelet_ca_out, ca.cert_pem())
        .with_context(|| format!("writing {}", args.kubelet_ca_out.display()))?;
    let base = Workload::generate(WorkloadSpec {
        nodes: usize::try_from(args.nodes).unwrap_or(1),
        pods_per_node: 0,
        seed: args.seed,
    });
    let source = Arc::new(ArcSwap::from_pointee(base));
    let authorizer = args
        .authorize
        .then(|| Arc::new(authz::ApiAuthorizer::new(client.clone())) as Arc<dyn KubeletAuthorizer>);
    let options = KubeletOptions {
        ca,
        required_bearer_token: None,
        resource_endpoint_404: false,
    };
    let fleet = spawn_live_kubelets(source.clone(), options, authorizer).await?;
    let registrations = registrations(&source.load(), &fleet, &version.git_version);
    nodes::register(&client, &registrations).await?;
    println!(
        "sim-nodes: {} nodes registered, kubelets on {}",
        registrations.len(),
        fleet
            .endpoints()
            .iter()
            .map(|e| format!("{}:{}", e.ip, e.port))
            .collect::<Vec<_>>()
            .join(", ")
    );

    let heartbeat = tokio::spawn(nodes::heartbeat(client.clone(), registrations));
    let sync = PodSync::new(client, source, defaults);
    let controlled = async {
        match args.control_file.clone() {
            Some(path) => control::follow(path, &fleet).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        result = sync.run() => result?,
        () = controlled => {}
        () = metrics_server::server::wait_for_signal() => {}
    }
    heartbeat.abort();
    fleet.shutdown().await;
    Ok(())
}

fn registrations(
    workload: &Workload,
    fleet: &KubeletFleet,
    kubelet_version: &str,
) -> Vec<NodeRegistration> {
    workload
        .nodes()
        .iter()
        .zip(fleet.endpoints())
        .map(|(node, endpoint)| NodeRegistration {
            node: node.clone(),
            kubelet_port: endpoint.port,
            kubelet_version: kubelet_version.to_owned(),
        })
        .collect()
}

/// Keeps the pods bound to our nodes Running, finalizes deleted ones, and feeds the live
/// workload.
struct PodSync {
    client: Client,
    source: Arc<ArcSwap<Workload>>,
    defaults: TrueUsage,
    nodes: HashMap<String, NodeSlot>,
    ips: PodIps,
    /// The pods the workload runs now.
    running: Vec<LivePod>,
    /// Start times handed out (kept until the pod leaves).
    started: HashMap<String, Timestamp>,
    /// Bad annotations already logged.
    warned: HashSet<String>,
}

impl PodSync {
    fn new(client: Client, source: Arc<ArcSwap<Workload>>, defaults: TrueUsage) -> Self {
        let nodes = source
            .load()
            .nodes()
            .iter()
            .enumerate()
            .map(|(index, n)| (n.name.clone(), NodeSlot { index, ip: n.ip }))
            .collect();
        PodSync {
            client,
            source,
            defaults,
            nodes,
            ips: PodIps::default(),
            running: Vec::new(),
            started: HashMap::new(),
            warned: HashSet::new(),
        }
    }

    /// Watches pods and namespaces and reconciles on every change (and every few seconds).
    async fn run(mut self) -> anyhow::Result<()> {
        let changed = Arc::new(Notify::new());
        let (pods, pod_writer) = reflector::store::<Pod>();
        let (namespaces, ns_writer) = reflector::store::<Namespace>();
        let pod_watch = watcher(
            Api::<Pod>::all(self.client.clone()),
            watcher::Config::default(),
        )
        .default_backoff()
        .reflect(pod_writer);
        let ns_watch = watcher(
            Api::<Namespace>::all(self.client.clone()),
            watcher::Config::default(),
        )
        .default_backoff()
        .reflect(ns_writer);
        tokio::spawn(drive("pods", pod_watch, changed.clone()));
        tokio::spawn(drive("namespaces", ns_watch, changed.clone()));
        pods.wait_until_ready().await.context("pod watch")?;
        namespaces
            .wait_until_ready()
            .await
            .context("namespace watch")?;
        loop {
            self.reconcile(&pods, &namespaces).await;
            let _ = tokio::time::timeout(RESYNC_EVERY, changed.notified()).await;
            tokio::time::sleep(DEBOUNCE).await;
        }
    }

    async fn reconcile(&mut self, pods: &Store<Pod>, namespaces: &Store<Namespace>) {
        let now = Timestamp::now();
        let mut live = Vec::new();
        for pod in pods.state() {
            let Some(node) = pod.spec.as_ref().and_then(|s| s.node_name.clone()) else {
                continue;
            };
            let Some(slot) = self.nodes.get(&node).cloned() else {
                continue;
            };
            let uid = pod.metadata.uid.clone().unwrap_or_default();
            match pods::action(&pod) {
                PodAction::Finalize => {
                    if let Err(e) = pods::finalize(&self.client, &pod).await {
                        tracing::warn!(error = %e, "pod finalization failed; retrying");
                    }
                    continue;
                }
                PodAction::MarkRunning => {
                    let started = *self
                        .started
                        .entry(uid.clone())
                        .or_insert_with(|| pods::started_at(&pod, now));
                    let ip = self.ips.get(&uid, &slot);
                    let status = pods::running_status(&pod, slot.ip, ip, started);
                    match pods::mark_running(&self.client, &pod, status).await {
                        Ok(()) => tracing::info!(pod = %pod_name(&pod), %node, "pod running"),
                        Err(e) => {
                            tracing::warn!(error = %e, "pod status update failed; retrying");
                            continue;
                        }
                    }
                }
                PodAction::Nothing => {}
            }
            if pod.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Succeeded") {
                continue;
            }
            let started = *self
                .started
                .entry(uid)
                .or_insert_with(|| pods::started_at(&pod, now));
            let namespace = pod
                .metadata
                .namespace
                .as_ref()
                .and_then(|ns| namespaces.get(&ObjectRef::new(ns)));
            let mut warnings = Vec::new();
            let usage = pods::pod_usage(&pod, namespace.as_deref(), self.defaults, &mut warnings);
            for warning in warnings {
                if self.warned.insert(format!("{}: {warning}", pod_name(&pod))) {
                    tracing::warn!(pod = %pod_name(&pod), "{warning}; using the next source");
                }
            }
            live.push(pods::live_pod(&pod, &node, started, usage));
        }
        live.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
        if live != self.running {
            let next = self.source.load().with_live_pods(&live, now);
            self.source.store(Arc::new(next));
            let uids: HashSet<String> = live.iter().map(|p| p.uid.clone()).collect();
            self.started.retain(|uid, _| uids.contains(uid));
            self.ips.forget(&uids);
            tracing::debug!(pods = live.len(), "live workload updated");
            self.running = live;
        }
    }
}

fn pod_name(pod: &Pod) -> String {
    format!(
        "{}/{}",
        pod.metadata.namespace.as_deref().unwrap_or_default(),
        pod.metadata.name.as_deref().unwrap_or_default()
    )
}

async fn drive<K, S>(what: &'static str, stream: S, changed: Arc<Notify>)
where
    S: futures::Stream<Item = Result<K, watcher::Error>>,
{
    let mut stream = std::pin::pin!(stream);
    while let Some(event) = stream.next().await {
        match event {
            Ok(_) => changed.notify_one(),
            Err(e) => tracing::warn!(watch = what, error = %e, "watch failed; retrying"),
        }
    }
}
