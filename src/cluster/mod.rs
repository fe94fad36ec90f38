//! The cluster watch: nodes (where and how to scrape them) and Running pods' metadata
//! (labels, creation time): nodes in a kube-rs reflector cache stripped of what we never read,
//! pods in our own compact map (pod_store.rs).
//! Port of metrics-server `pkg/server/informer.go`.

mod nodes;
pub(crate) mod pod_store;
mod pods;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use k8s_openapi::api::core::v1::{Node, Pod};
use kube::core::PartialObjectMeta;
use kube::runtime::reflector::{ObjectRef, Store};

pub use nodes::{NodeInfo, RESOURCE_METRICS_PATH_ANNOTATION, node_info};
pub use pod_store::PodStore;
pub use pods::PodMeta;

/// Read access to the watched cluster objects, shared by the scraper and the API.
#[derive(Clone)]
pub struct ClusterCache {
    nodes: Store<Node>,
    pods: PodStore,
    nodes_synced: Arc<AtomicBool>,
    pods_synced: Arc<AtomicBool>,
}

impl ClusterCache {
    /// Wraps reflector stores; the flags turn true once each watch listed everything once.
    pub fn new(
        nodes: Store<Node>,
        pods: PodStore,
        nodes_synced: Arc<AtomicBool>,
        pods_synced: Arc<AtomicBool>,
    ) -> Self {
        ClusterCache {
            nodes,
            pods,
            nodes_synced,
            pods_synced,
        }
    }

    /// True once both the node watch and the pod watch delivered their initial list.
    pub fn synced(&self) -> bool {
        self.nodes_synced() && self.pods_synced()
    }

    pub fn nodes_synced(&self) -> bool {
        self.nodes_synced.load(Ordering::Acquire)
    }

    pub fn pods_synced(&self) -> bool {
        self.pods_synced.load(Ordering::Acquire)
    }

    /// All nodes currently known.
    pub fn nodes(&self) -> Vec<Arc<Node>> {
        self.nodes.state()
    }

    /// One node by name.
    pub fn node(&self, name: &str) -> Option<Arc<Node>> {
        self.nodes.get(&ObjectRef::new(name))
    }

    /// One Running pod by namespace and name.
    pub fn pod(&self, namespace: &str, name: &str) -> Option<PodMeta> {
        self.pods.get(namespace, name)
    }

    /// The items whose pods are Running, each with its metadata (see [`PodStore::join`]).
    pub fn join_pods<T>(
        &self,
        items: impl Iterator<Item = T>,
        key: impl Fn(&T) -> (&str, &str),
    ) -> Vec<(T, PodMeta)> {
        self.pods.join(items, key)
    }

    /// Running pods, all namespaces or one.
    pub fn pods(&self, namespace: Option<&str>) -> Vec<PodMeta> {
        self.pods.list(namespace)
    }

    /// Number of Running pods known.
    pub fn pod_count(&self) -> usize {
        self.pods.len()
    }
}

/// Labels of an object, or an empty map.
pub fn labels_of(
    meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
) -> &BTreeMap<String, String> {
    static EMPTY: BTreeMap<String, String> = BTreeMap::new();
    meta.labels.as_ref().unwrap_or(&EMPTY)
}

/// Starts the node and pod watches on `client` and returns the cache they fill.
/// The returned future drives both watches; spawn it.
pub fn watch(
    client: kube::Client,
) -> (
    ClusterCache,
    impl std::future::Future<Output = ()> + Send + 'static,
) {
    use futures::StreamExt;
    use kube::runtime::{WatchStreamExt, reflector, watcher};

    let (node_reader, node_writer) = reflector::store::<Node>();
    let pod_store = PodStore::default();
    let nodes_synced = Arc::new(AtomicBool::new(false));
    let pods_synced = Arc::new(AtomicBool::new(false));
    let cache = ClusterCache::new(
        node_reader,
        pod_store.clone(),
        nodes_synced.clone(),
        pods_synced.clone(),
    );

    let node_api = kube::Api::<Node>::all(client.clone());
    let pod_api = kube::Api::<PartialObjectMeta<Pod>>::all(client);
    let node_stream = watcher(node_api, watcher::Config::default())
        .default_backoff()
        .modify(nodes::strip)
        .reflect(node_writer);
    let pod_cfg = watcher::Config::default().fields("status.phase=Running");
    let pod_stream = watcher(pod_api, pod_cfg)
        .default_backoff()
        .modify(pods::strip)
        .inspect(move |ev| {
            if let Ok(ev) = ev {
                pod_store.apply(ev);
            }
        });

    let drive = async move {
        let nodes = drive_watch("nodes", node_stream, nodes_synced);
        let pods = drive_watch("pods", pod_stream, pods_synced);
        futures::join!(nodes, pods);
    };
    (cache, drive)
}

async fn drive_watch<K, S>(what: &'static str, stream: S, synced: Arc<AtomicBool>)
where
    S: futures::Stream<
            Item = Result<kube::runtime::watcher::Event<K>, kube::runtime::watcher::Error>,
        >,
{
    use futures::StreamExt;
    let mut stream = std::pin::pin!(stream);
    while let Some(ev) = stream.next().await {
        match ev {
            Ok(kube::runtime::watcher::Event::InitDone) => {
                if !synced.swap(true, Ordering::AcqRel) {
                    tracing::info!(watch = what, "Cluster watch synced.");
                }
            }
            Ok(_) => {}
            Err(err) => {
                tracing::warn!(watch = what, error = %err, "Cluster watch failed; retrying.")
            }
        }
    }
}
