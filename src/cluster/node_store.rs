//! The node cache: each watched node as the [`NodeInfo`] the scraper and the API read (name,
//! addresses, kubelet port, resource-metrics path, labels, virtual kind), filled from the node
//! watch's events.
//!
//! A kube-rs reflector store keeps a whole `Node` per node (the struct alone is about 1.4 KB,
//! its strings and maps besides, under an `ObjectRef` key): about 2.5 KB a node once stripped,
//! 37 MB at 15,000 nodes. This keeps only what is read, about a third of that.

use std::collections::BTreeMap;
use std::sync::{Arc, PoisonError, RwLock};

use k8s_openapi::api::core::v1::Node;
use kube::runtime::watcher::Event;

use super::nodes::NodeInfo;

/// Nodes by name.
type NodeMap = BTreeMap<Arc<str>, Arc<NodeInfo>>;

/// The shared node cache; clones read the same map.
#[derive(Clone, Default)]
pub struct NodeStore {
    inner: Arc<RwLock<Inner>>,
}

#[derive(Default)]
struct Inner {
    live: NodeMap,
    /// The next map while the watch (re)lists, swapped in when the list is complete.
    relist: Option<NodeMap>,
    /// Counts the changes to `live`: a node added, changed or removed, a relist swapped in.
    version: u64,
}

impl NodeStore {
    /// One node by name.
    pub fn get(&self, name: &str) -> Option<Arc<NodeInfo>> {
        self.read().live.get(name).cloned()
    }

    /// Every node, sorted by name.
    pub fn list(&self) -> Vec<Arc<NodeInfo>> {
        self.read().live.values().cloned().collect()
    }

    /// Every node, sorted by name, and the cache's version: equal versions hold the same
    /// nodes with the same fields.
    pub fn list_with_version(&self) -> (u64, Vec<Arc<NodeInfo>>) {
        let inner = self.read();
        (inner.version, inner.live.values().cloned().collect())
    }

    /// The cache's version alone: it changes whenever [`Self::list_with_version`] would list
    /// other nodes or other fields.
    pub fn version(&self) -> u64 {
        self.read().version
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.read().live.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Applies one watch event: a node added or changed replaces its entry, a deleted one is
    /// dropped, and a (re)list replaces every node once it is complete. A node without a name
    /// is ignored.
    pub fn apply(&self, event: &Event<Node>) {
        let mut inner = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        match event {
            Event::Init => inner.relist = Some(NodeMap::new()),
            Event::InitApply(node) => {
                if let Some(info) = cached(node) {
                    let relist = inner.relist.get_or_insert_with(NodeMap::new);
                    relist.insert(info.name.clone(), info);
                }
            }
            Event::InitDone => {
                if let Some(map) = inner.relist.take() {
                    inner.live = map;
                    inner.version += 1;
                }
            }
            Event::Apply(node) => {
                if let Some(info) = cached(node) {
                    let before = inner.live.insert(info.name.clone(), info.clone());
                    if before.is_none_or(|b| *b != *info) {
                        inner.version += 1;
                    }
                }
            }
            Event::Delete(node) => {
                if let Some(name) = node.metadata.name.as_deref()
                    && inner.live.remove(name).is_some()
                {
                    inner.version += 1;
                }
            }
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The cache's entry for `node`; `None` without a name.
fn cached(node: &Node) -> Option<Arc<NodeInfo>> {
    let named = node.metadata.name.as_deref().is_some_and(|n| !n.is_empty());
    named.then(|| Arc::new(NodeInfo::of(node)))
}

/// A watched node `name` with one InternalIP address and a kubelet port (tests).
#[cfg(test)]
pub(crate) fn test_node(name: &str, ip: &str, port: i32) -> Node {
    use k8s_openapi::api::core::v1::{
        DaemonEndpoint, NodeAddress, NodeDaemonEndpoints, NodeStatus,
    };
    let mut node = Node::default();
    node.metadata.name = Some(name.into());
    node.metadata.labels = Some([("role".to_string(), "worker".to_string())].into());
    node.status = Some(NodeStatus {
        addresses: Some(vec![NodeAddress {
            type_: "InternalIP".into(),
            address: ip.into(),
        }]),
        daemon_endpoints: Some(NodeDaemonEndpoints {
            kubelet_endpoint: Some(DaemonEndpoint { port }),
        }),
        ..NodeStatus::default()
    });
    node
}

#[cfg(test)]
mod tests {
    use super::test_node as node;
    use super::*;

    fn addresses(store: &NodeStore, name: &str) -> Option<Vec<(String, String)>> {
        store.get(name).map(|n| n.addresses.clone())
    }

    fn names(store: &NodeStore) -> Vec<String> {
        store.list().iter().map(|n| n.name.to_string()).collect()
    }

    #[test]
    fn follows_node_adds_address_changes_and_deletes() {
        let store = NodeStore::default();
        store.apply(&Event::Apply(node("n2", "127.0.2.1", 10250)));
        store.apply(&Event::Apply(node("n1", "127.0.1.1", 10250)));
        assert_eq!(names(&store), ["n1", "n2"]);
        let n1 = store.get("n1").expect("n1 is cached");
        assert_eq!(n1.kubelet_port, Some(10250));
        assert_eq!(n1.labels.get("role").map(String::as_str), Some("worker"));

        store.apply(&Event::Apply(node("n1", "127.0.1.9", 10255)));
        assert_eq!(
            addresses(&store, "n1"),
            Some(vec![("InternalIP".into(), "127.0.1.9".into())]),
            "the changed address replaces the old one"
        );
        assert_eq!(store.get("n1").and_then(|n| n.kubelet_port), Some(10255));
        assert_eq!(store.len(), 2);

        store.apply(&Event::Delete(node("n2", "127.0.2.1", 10250)));
        assert!(store.get("n2").is_none());
        assert_eq!(names(&store), ["n1"]);
        store.apply(&Event::Delete(node("gone", "127.0.3.1", 10250)));
        assert_eq!(store.len(), 1, "deleting an unknown node changes nothing");
    }

    #[test]
    fn the_version_moves_only_when_a_cached_field_changes() {
        let store = NodeStore::default();
        let version = |store: &NodeStore| {
            let listed = store.list_with_version().0;
            assert_eq!(
                store.version(),
                listed,
                "the version alone is the listed one"
            );
            listed
        };
        let v0 = version(&store);
        store.apply(&Event::Apply(node("n1", "127.0.1.1", 10250)));
        let v1 = version(&store);
        assert_ne!(v1, v0, "a new node");
        store.apply(&Event::Apply(node("n1", "127.0.1.1", 10250)));
        assert_eq!(
            version(&store),
            v1,
            "the same node again (a status heartbeat)"
        );
        let mut relabelled = node("n1", "127.0.1.1", 10250);
        relabelled.metadata.labels = Some([("role".to_string(), "edge".to_string())].into());
        store.apply(&Event::Apply(relabelled));
        let v2 = version(&store);
        assert_ne!(v2, v1, "new labels can change what a node selector selects");
        store.apply(&Event::Delete(node("gone", "127.0.3.1", 10250)));
        assert_eq!(version(&store), v2, "an unknown node deleted");
        store.apply(&Event::Delete(node("n1", "127.0.1.1", 10250)));
        let v3 = version(&store);
        assert_ne!(v3, v2, "a node deleted");
        store.apply(&Event::Init);
        store.apply(&Event::InitApply(node("n2", "127.0.2.1", 10250)));
        assert_eq!(
            version(&store),
            v3,
            "a relist in progress changes nothing yet"
        );
        store.apply(&Event::InitDone);
        let (v4, nodes) = store.list_with_version();
        assert_ne!(v4, v3, "a completed relist");
        assert_eq!(nodes.len(), 1);
    }

    #[test]
    fn a_relist_replaces_the_nodes_only_when_complete() {
        let store = NodeStore::default();
        store.apply(&Event::Apply(node("old", "127.0.1.1", 10250)));
        store.apply(&Event::Apply(node("kept", "127.0.1.2", 10250)));
        store.apply(&Event::Init);
        store.apply(&Event::InitApply(node("kept", "127.0.1.3", 10250)));
        store.apply(&Event::InitApply(node("new", "127.0.1.4", 10250)));
        assert_eq!(
            names(&store),
            ["kept", "old"],
            "the list is not complete yet"
        );
        assert_eq!(
            addresses(&store, "kept"),
            Some(vec![("InternalIP".into(), "127.0.1.2".into())])
        );
        store.apply(&Event::InitDone);
        assert_eq!(
            names(&store),
            ["kept", "new"],
            "a node gone from the list is dropped"
        );
        assert_eq!(
            addresses(&store, "kept"),
            Some(vec![("InternalIP".into(), "127.0.1.3".into())])
        );
    }

    #[test]
    fn a_nameless_node_is_not_cached() {
        let store = NodeStore::default();
        let mut nameless = node("x", "127.0.1.1", 10250);
        nameless.metadata.name = None;
        store.apply(&Event::Apply(nameless.clone()));
        store.apply(&Event::Init);
        store.apply(&Event::InitApply(nameless));
        store.apply(&Event::InitDone);
        assert!(store.is_empty());
    }

    #[test]
    fn an_entry_holds_only_what_is_read() {
        // The reflector's entry was a whole `Node` (about 1.4 KB before its strings).
        assert!(std::mem::size_of::<NodeInfo>() <= 160);
    }
}
