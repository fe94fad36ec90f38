//! The cluster watch: nodes (where and how to scrape them) and Running pods' metadata
//! (labels, creation time): nodes in a kube-rs reflector cache stripped of what we never read,
//! pods in our own compact map (pod_store.rs); and, for the few nodes the scraper never
//! reached, one node's pods listed on demand (node_pods.rs).
//! Port of metrics-server `pkg/server/informer.go`.

mod node_pods;
mod nodes;
pub(crate) mod pod_store;
mod pods;
mod synced;
pub mod virtual_nodes;

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Node, Pod};
use kube::core::PartialObjectMeta;
use kube::runtime::reflector::{ObjectRef, Store};

pub use node_pods::{MAX_PODS_PER_LIST, NodePodLister, NodePodsError, PodName};
pub use nodes::{NodeInfo, RESOURCE_METRICS_PATH_ANNOTATION, node_info};
pub use pod_store::PodStore;
pub use pods::PodMeta;
pub use synced::{MarkSynced, Synced};

/// Read access to the watched cluster objects, shared by the scraper and the API.
#[derive(Clone)]
pub struct ClusterCache {
    nodes: Store<Node>,
    pods: PodStore,
    nodes_synced: Synced,
    pods_synced: Synced,
    /// Lists one node's pods from the API; `None` when the cache is not backed by one.
    node_pods: Option<NodePodLister>,
}

impl ClusterCache {
    /// Wraps the node reflector's store and the pod store, each with whether its watch has
    /// delivered its first complete list.
    pub fn new(
        nodes: Store<Node>,
        pods: PodStore,
        nodes_synced: Synced,
        pods_synced: Synced,
    ) -> Self {
        ClusterCache {
            nodes,
            pods,
            nodes_synced,
            pods_synced,
            node_pods: None,
        }
    }

    /// The same cache, able to list one node's pods from the API.
    pub fn with_node_pod_lister(mut self, lister: NodePodLister) -> Self {
        self.node_pods = Some(lister);
        self
    }

    /// Lists one node's Running pods from the API, when the cache has an API behind it.
    pub fn node_pod_lister(&self) -> Option<NodePodLister> {
        self.node_pods.clone()
    }

    /// True once both the node watch and the pod watch delivered their initial list.
    pub fn synced(&self) -> bool {
        self.nodes_synced() && self.pods_synced()
    }

    /// Whether the node reflector holds its first complete list.
    pub fn nodes_synced(&self) -> bool {
        self.nodes_synced.is_synced()
    }

    pub fn pods_synced(&self) -> bool {
        self.pods_synced.is_synced()
    }

    /// Completes once the node reflector holds its first complete list, or when it never
    /// will (the watch is gone).
    pub async fn nodes_ready(&self) {
        if !self.nodes_synced.wait().await {
            tracing::warn!("The node watch ended before its first list.");
        }
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

    /// Changes whenever what a pod list shows of the Running pods changes (see
    /// [`PodStore::version`]).
    pub fn pods_version(&self) -> u64 {
        self.pods.version()
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
    let (mark_nodes, nodes_synced) = Synced::pending();
    let (mark_pods, pods_synced) = Synced::pending();
    let cache = ClusterCache::new(
        node_reader.clone(),
        pod_store.clone(),
        nodes_synced,
        pods_synced,
    )
    .with_node_pod_lister(NodePodLister::new(client.clone()));

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
        let nodes = drive_watch("nodes", node_stream, None);
        let nodes_ready = forward_readiness(node_reader, mark_nodes);
        let pods = drive_watch("pods", pod_stream, Some(mark_pods));
        futures::join!(nodes, nodes_ready, pods);
    };
    (cache, drive)
}

/// Marks the nodes synced once the reflector's store holds its first complete list. The one
/// task that waits on the reflector itself (its readiness wakes only the task that polled it
/// last); everyone else reads or awaits [`Synced`].
pub async fn forward_readiness(nodes: Store<Node>, synced: MarkSynced) {
    if nodes.wait_until_ready().await.is_ok() {
        synced.mark();
    }
}

/// Runs a watch, logging its first sync and marking `synced` then (the node reflector marks
/// its own store: [`forward_readiness`]).
async fn drive_watch<K, S>(what: &'static str, stream: S, synced: Option<MarkSynced>)
where
    S: futures::Stream<
            Item = Result<kube::runtime::watcher::Event<K>, kube::runtime::watcher::Error>,
        >,
{
    use futures::StreamExt;
    let mut stream = std::pin::pin!(stream);
    let mut logged = false;
    while let Some(ev) = stream.next().await {
        match ev {
            Ok(kube::runtime::watcher::Event::InitDone) => {
                if let Some(synced) = &synced {
                    synced.mark();
                }
                if !std::mem::replace(&mut logged, true) {
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use kube::runtime::watcher::Event;

    use super::*;

    fn node(name: &str) -> Node {
        let mut node = Node::default();
        node.metadata.name = Some(name.into());
        node
    }

    /// A cache over a fresh node reflector, its writer, and the task forwarding its readiness.
    fn reflected() -> (
        ClusterCache,
        kube::runtime::reflector::store::Writer<Node>,
        tokio::task::JoinHandle<()>,
    ) {
        let (reader, writer) = kube::runtime::reflector::store::<Node>();
        let (mark, nodes_synced) = Synced::pending();
        let pods = PodStore::default();
        let cache = ClusterCache::new(reader.clone(), pods, nodes_synced, Synced::already());
        (cache, writer, tokio::spawn(forward_readiness(reader, mark)))
    }

    #[tokio::test]
    async fn every_waiter_is_woken_when_the_reflector_has_its_first_complete_list() {
        let (cache, mut writer, _forward) = reflected();
        let waiters: Vec<_> = (0..3)
            .map(|_| {
                let cache = cache.clone();
                tokio::spawn(async move { cache.nodes_ready().await })
            })
            .collect();
        writer.apply_watcher_event(&Event::Init);
        writer.apply_watcher_event(&Event::InitApply(node("n1")));
        tokio::task::yield_now().await;
        assert!(!cache.nodes_synced(), "listing, not yet complete");
        assert!(!cache.synced());
        assert!(waiters.iter().all(|w| !w.is_finished()));
        writer.apply_watcher_event(&Event::InitDone);
        for waiter in waiters {
            let woken = tokio::time::timeout(Duration::from_secs(5), waiter).await;
            assert!(matches!(woken, Ok(Ok(()))), "a waiter was left asleep");
        }
        assert!(cache.nodes_synced() && cache.synced());
        assert_eq!(cache.nodes().len(), 1);
    }

    #[tokio::test]
    async fn a_node_watch_that_ends_before_its_list_does_not_leave_waiters_hanging() {
        let (cache, writer, forward) = reflected();
        drop(writer);
        let woken = tokio::time::timeout(Duration::from_secs(5), cache.nodes_ready()).await;
        assert!(woken.is_ok());
        assert!(!cache.nodes_synced());
        assert!(forward.await.is_ok());
    }
}
