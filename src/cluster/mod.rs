//! The cluster watch: nodes (where and how to scrape them) and Running pods' metadata
//! (labels, creation time), each in our own compact map keeping only what is read (nodes:
//! node_store.rs, pods: pod_store.rs); and, for the few nodes the scraper never reached, one
//! node's pods listed on demand (node_pods.rs).
//! Port of metrics-server `pkg/server/informer.go`.

mod node_pods;
mod node_store;
mod nodes;
pub(crate) mod pod_store;
mod pods;
mod synced;
pub mod virtual_nodes;

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Node, Pod};
use kube::core::PartialObjectMeta;

pub use node_pods::{MAX_PODS_PER_LIST, NodePodLister, NodePodsError, PodName};
pub use node_store::NodeStore;
pub use nodes::{NodeInfo, RESOURCE_METRICS_PATH_ANNOTATION};
pub use pod_store::PodStore;
pub use pods::PodMeta;
pub use synced::{MarkSynced, Synced};

/// Read access to the watched cluster objects, shared by the scraper and the API.
#[derive(Clone)]
pub struct ClusterCache {
    nodes: NodeStore,
    pods: PodStore,
    nodes_synced: Synced,
    pods_synced: Synced,
    /// Lists one node's pods from the API; `None` when the cache is not backed by one.
    node_pods: Option<NodePodLister>,
}

impl ClusterCache {
    /// Wraps the node store and the pod store, each with whether its watch has delivered its
    /// first complete list.
    pub fn new(
        nodes: NodeStore,
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

    /// Whether the node watch delivered its first complete list.
    pub fn nodes_synced(&self) -> bool {
        self.nodes_synced.is_synced()
    }

    pub fn pods_synced(&self) -> bool {
        self.pods_synced.is_synced()
    }

    /// Completes once the node watch delivered its first complete list, or when it never
    /// will (the watch is gone).
    pub async fn nodes_ready(&self) {
        if !self.nodes_synced.wait().await {
            tracing::warn!("The node watch ended before its first list.");
        }
    }

    /// All nodes currently known, sorted by name.
    pub fn nodes(&self) -> Vec<Arc<NodeInfo>> {
        self.nodes.list()
    }

    /// All nodes currently known, sorted by name, and the node cache's version (it changes
    /// whenever a node is added, changed or removed).
    pub fn nodes_with_version(&self) -> (u64, Vec<Arc<NodeInfo>>) {
        self.nodes.list_with_version()
    }

    /// The node cache's version alone (see [`Self::nodes_with_version`]).
    pub fn nodes_version(&self) -> u64 {
        self.nodes.version()
    }

    /// One node by name.
    pub fn node(&self, name: &str) -> Option<Arc<NodeInfo>> {
        self.nodes.get(name)
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
    use kube::runtime::{WatchStreamExt, watcher};

    let node_store = NodeStore::default();
    let pod_store = PodStore::default();
    let (mark_nodes, nodes_synced) = Synced::pending();
    let (mark_pods, pods_synced) = Synced::pending();
    let cache = ClusterCache::new(
        node_store.clone(),
        pod_store.clone(),
        nodes_synced,
        pods_synced,
    )
    .with_node_pod_lister(NodePodLister::new(client.clone()));

    let node_api = kube::Api::<Node>::all(client.clone());
    let pod_api = kube::Api::<PartialObjectMeta<Pod>>::all(client);
    let node_stream = watcher(node_api, watcher::Config::default()).default_backoff();
    let pod_cfg = watcher::Config::default().fields("status.phase=Running");
    let pod_stream = watcher(pod_api, pod_cfg)
        .default_backoff()
        .modify(pods::strip);

    let drive = async move {
        let nodes = drive_watch("nodes", node_stream, |ev| node_store.apply(ev), mark_nodes);
        let pods = drive_watch("pods", pod_stream, |ev| pod_store.apply(ev), mark_pods);
        futures::join!(nodes, pods);
    };
    (cache, drive)
}

/// Runs a watch, applying each event to its store (`apply`), logging its first sync and
/// marking `synced` then: once the store holds a complete list.
async fn drive_watch<K, S>(
    what: &'static str,
    stream: S,
    apply: impl Fn(&kube::runtime::watcher::Event<K>),
    synced: MarkSynced,
) where
    S: futures::Stream<
            Item = Result<kube::runtime::watcher::Event<K>, kube::runtime::watcher::Error>,
        >,
{
    use futures::StreamExt;
    let mut stream = std::pin::pin!(stream);
    let mut logged = false;
    while let Some(ev) = stream.next().await {
        if let Ok(ev) = &ev {
            apply(ev);
        }
        match ev {
            Ok(kube::runtime::watcher::Event::InitDone) => {
                synced.mark();
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

    use futures::channel::mpsc;
    use kube::runtime::watcher::{self, Event};

    use super::node_store::test_node;
    use super::*;

    type NodeEvents = mpsc::UnboundedSender<Result<Event<Node>, watcher::Error>>;

    /// A cache whose nodes follow the events sent to the returned channel, and the task
    /// driving that watch.
    fn watched() -> (ClusterCache, NodeEvents, tokio::task::JoinHandle<()>) {
        let (events, stream) = mpsc::unbounded();
        let store = NodeStore::default();
        let (mark, nodes_synced) = Synced::pending();
        let cache = ClusterCache::new(
            store.clone(),
            PodStore::default(),
            nodes_synced,
            Synced::already(),
        );
        let drive = drive_watch("nodes", stream, move |ev| store.apply(ev), mark);
        (cache, events, tokio::spawn(drive))
    }

    fn send(events: &NodeEvents, event: Event<Node>) {
        assert!(events.unbounded_send(Ok(event)).is_ok());
    }

    /// Waits (bounded) until `done` holds for the cache.
    async fn eventually(cache: &ClusterCache, done: impl Fn(&ClusterCache) -> bool) -> bool {
        for _ in 0..500 {
            if done(cache) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        false
    }

    #[tokio::test]
    async fn every_waiter_is_woken_when_the_node_watch_has_its_first_complete_list() {
        let (cache, events, _drive) = watched();
        let waiters: Vec<_> = (0..3)
            .map(|_| {
                let cache = cache.clone();
                tokio::spawn(async move { cache.nodes_ready().await })
            })
            .collect();
        send(&events, Event::Init);
        send(
            &events,
            Event::InitApply(test_node("n1", "127.0.1.1", 10250)),
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!cache.nodes_synced(), "listing, not yet complete");
        assert!(!cache.synced());
        assert!(cache.nodes().is_empty(), "a list is served once complete");
        assert!(waiters.iter().all(|w| !w.is_finished()));
        send(&events, Event::InitDone);
        for waiter in waiters {
            let woken = tokio::time::timeout(Duration::from_secs(5), waiter).await;
            assert!(matches!(woken, Ok(Ok(()))), "a waiter was left asleep");
        }
        assert!(cache.nodes_synced() && cache.synced());
        assert_eq!(cache.nodes().len(), 1);
    }

    #[tokio::test]
    async fn the_cache_follows_node_events_after_the_list() {
        let (cache, events, _drive) = watched();
        send(&events, Event::Init);
        send(
            &events,
            Event::InitApply(test_node("n1", "127.0.1.1", 10250)),
        );
        send(&events, Event::InitDone);
        send(&events, Event::Apply(test_node("n2", "127.0.1.2", 10250)));
        assert!(eventually(&cache, |c| c.nodes().len() == 2).await);
        send(&events, Event::Apply(test_node("n1", "127.0.9.9", 10250)));
        let moved = |c: &ClusterCache| {
            c.node("n1")
                .is_some_and(|n| n.addresses == [("InternalIP".into(), "127.0.9.9".into())])
        };
        assert!(eventually(&cache, moved).await, "the new address is used");
        send(&events, Event::Delete(test_node("n2", "127.0.1.2", 10250)));
        assert!(eventually(&cache, |c| c.node("n2").is_none()).await);
        let names: Vec<String> = cache.nodes().iter().map(|n| n.name.to_string()).collect();
        assert_eq!(names, ["n1"]);
    }

    #[tokio::test]
    async fn a_node_watch_that_ends_before_its_list_does_not_leave_waiters_hanging() {
        let (cache, events, drive) = watched();
        drop(events);
        let woken = tokio::time::timeout(Duration::from_secs(5), cache.nodes_ready()).await;
        assert!(woken.is_ok());
        assert!(!cache.nodes_synced());
        assert!(drive.await.is_ok());
    }
}
