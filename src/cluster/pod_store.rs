//! The Running-pod cache: a compact map of (namespace, name) → (labels, creation time), filled
//! from the pod watch's events. Port of the pod informer of metrics-server
//! `pkg/server/informer.go` (upstream keeps a stripped `PartialObjectMetadata` per pod, §4.6).
//!
//! A kube-rs reflector store keeps the whole `PartialObjectMeta` per pod under an `ObjectRef`
//! key (about 1 KB a pod); this keeps only what the API reads, with namespaces shared and
//! identical label sets (every pod of a ReplicaSet) stored once, about 150 bytes a pod.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, PoisonError, RwLock};

use k8s_openapi::api::core::v1::Pod;
use kube::core::PartialObjectMeta;
use kube::runtime::watcher::Event;

use super::pods::{LabelSet, PodMeta};
use crate::time::Timestamp;

pub type Labels = BTreeMap<String, String>;

/// Pods by namespace, then name.
type PodMap = HashMap<Arc<str>, HashSet<ByName, FastHash>, FastHash>;
/// Seeded per process; much faster than SipHash on short keys.
type FastHash = foldhash::fast::RandomState;

/// Makes `$set_item` (a newtype around `$held`) a hash-set element found by the `$key` that
/// `$of` borrows from what it holds, so the key is stored once, in the element.
macro_rules! found_by {
    ($set_item:ident($held:ty), $key:ty, $of:expr) => {
        struct $set_item($held);

        impl std::borrow::Borrow<$key> for $set_item {
            fn borrow(&self) -> &$key {
                $of(&self.0)
            }
        }

        impl std::hash::Hash for $set_item {
            fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
                $of(&self.0).hash(state);
            }
        }

        impl PartialEq for $set_item {
            fn eq(&self, other: &Self) -> bool {
                $of(&self.0) == $of(&other.0)
            }
        }

        impl Eq for $set_item {}
    };
}

// A pod in its namespace's set, found by name.
found_by!(ByName(PodMeta), str, PodMeta::name);
// A label set in `Inner::label_sets`, found by its map.
found_by!(SharedLabels(Arc<LabelSet>), Labels, label_map);

fn label_map(set: &Arc<LabelSet>) -> &Labels {
    set.map()
}

/// The shared pod cache; clones read the same map.
#[derive(Clone, Default)]
pub struct PodStore {
    inner: Arc<RwLock<Inner>>,
}

#[derive(Default)]
struct Inner {
    live: PodMap,
    count: usize,
    /// The next map while the watch (re)lists, swapped in when the list is complete.
    relist: Option<(PodMap, usize)>,
    /// Label sets and namespaces in use, shared between pods.
    label_sets: HashSet<SharedLabels>,
    namespaces: HashSet<Arc<str>>,
    /// Deletes and replacements since the shared sets were last swept.
    churn: usize,
    /// Bumped by every change a pod list shows: a pod added or deleted, its labels or
    /// creation time changed, a relist swapped in.
    version: u64,
}

/// Items [`PodStore::join`] looks up per read lock: the watch's writer waits at most that long.
const JOIN_CHUNK: usize = 4096;

/// Sweep the shared sets after this many deletes or replacements (and after each list).
const SWEEP_EVERY: usize = 1024;

impl PodStore {
    /// One pod by namespace and name.
    pub fn get(&self, namespace: &str, name: &str) -> Option<PodMeta> {
        Some(self.read().live.get(namespace)?.get(name)?.0.clone())
    }

    /// The pods of `items` that are cached, each with its metadata, in the order given.
    /// Much cheaper than [`Self::get`] per item for a whole list sorted by namespace: the
    /// lock is taken once per [`JOIN_CHUNK`] items and each namespace looked up once per run.
    pub fn join<T>(
        &self,
        items: impl Iterator<Item = T>,
        key: impl Fn(&T) -> (&str, &str),
    ) -> Vec<(T, PodMeta)> {
        let mut joined = Vec::with_capacity(items.size_hint().0);
        let mut items = items.peekable();
        while items.peek().is_some() {
            let inner = self.read();
            // The namespace of the current run, as the map's own key, and its pods.
            let mut run: Option<(&str, &HashSet<ByName, FastHash>)> = None;
            for item in items.by_ref().take(JOIN_CHUNK) {
                let (ns, name) = key(&item);
                if run.is_none_or(|(current, _)| current != ns) {
                    run = inner.live.get_key_value(ns).map(|(k, pods)| (&**k, pods));
                }
                // `run` is now `ns`'s, or `None` when no pod of `ns` is cached.
                let found = run.and_then(|(_, pods)| pods.get(name));
                if let Some(found) = found {
                    let meta = found.0.clone();
                    joined.push((item, meta));
                }
            }
        }
        joined
    }

    /// All pods, or one namespace's.
    pub fn list(&self, namespace: Option<&str>) -> Vec<PodMeta> {
        let inner = self.read();
        match namespace {
            None => inner
                .live
                .values()
                .flat_map(|m| m.iter().map(|p| p.0.clone()))
                .collect(),
            Some(ns) => inner
                .live
                .get(ns)
                .map(|m| m.iter().map(|p| p.0.clone()).collect())
                .unwrap_or_default(),
        }
    }

    /// Changes on every change to the set of pods or to what a list shows of one (labels,
    /// creation time); the same number means the same list.
    pub fn version(&self) -> u64 {
        self.read().version
    }

    /// Number of pods.
    pub fn len(&self) -> usize {
        self.read().count
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Applies one watch event.
    pub fn apply(&self, event: &Event<PartialObjectMeta<Pod>>) {
        let mut inner = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        match event {
            Event::Init => inner.relist = Some((PodMap::default(), 0)),
            Event::InitApply(pod) => {
                let entry = inner.entry(pod);
                if let (Some((map, count)), Some(entry)) = (inner.relist.as_mut(), entry) {
                    *count += usize::from(insert(map, entry) == Insert::Added);
                }
            }
            Event::InitDone => {
                if let Some((map, count)) = inner.relist.take() {
                    let before = std::mem::replace(&mut inner.live, map);
                    before.values().flatten().for_each(|p| p.0.retire());
                    drop(before);
                    inner.count = count;
                    inner.version += 1;
                    inner.forget_unused();
                }
            }
            Event::Apply(pod) => {
                if let Some(entry) = inner.entry(pod) {
                    let change = insert(&mut inner.live, entry);
                    let added = change == Insert::Added;
                    inner.count += usize::from(added);
                    inner.version += u64::from(change != Insert::Unchanged);
                    inner.churned(usize::from(change == Insert::Changed));
                }
            }
            Event::Delete(pod) => {
                let (ns, name) = ident(pod);
                let removed = inner.live.get_mut(ns).and_then(|m| m.take(name));
                if let Some(removed) = removed {
                    removed.0.retire();
                    drop(removed);
                    inner.count -= 1;
                    inner.version += 1;
                    if inner.live.get(ns).is_some_and(HashSet::is_empty) {
                        inner.live.remove(ns);
                    }
                    inner.churned(1);
                }
            }
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(PoisonError::into_inner)
    }
}

fn ident(pod: &PartialObjectMeta<Pod>) -> (&str, &str) {
    let m = &pod.metadata;
    (
        m.namespace.as_deref().unwrap_or_default(),
        m.name.as_deref().unwrap_or_default(),
    )
}

/// What an insert did to the pods a list shows.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Insert {
    Added,
    /// Replaced a pod whose labels or creation time differ.
    Changed,
    /// Replaced a pod a list shows the same way (a status-only update).
    Unchanged,
}

/// Inserts `entry`, retiring the one it replaces; a pod a list would show the same way keeps
/// its entry (so lists joined with it stay valid).
// Entries hash and compare by name only; their interior mutability (the retired flag, the
// label set's encodings) never changes a key.
#[allow(clippy::mutable_key_type)]
fn insert(map: &mut PodMap, entry: PodMeta) -> Insert {
    let pods = map.entry(entry.namespace_arc()).or_default();
    if pods
        .get(entry.name())
        .is_some_and(|old| old.0.lists_like(&entry))
    {
        return Insert::Unchanged;
    }
    match pods.replace(ByName(entry)) {
        None => Insert::Added,
        Some(old) => {
            old.0.retire();
            Insert::Changed
        }
    }
}

impl Inner {
    /// The compact entry for `pod`, sharing its namespace and label set; `None` without a name.
    fn entry(&mut self, pod: &PartialObjectMeta<Pod>) -> Option<PodMeta> {
        let (ns, name) = ident(pod);
        if name.is_empty() {
            return None;
        }
        let namespace = match self.namespaces.get(ns) {
            Some(shared) => shared.clone(),
            None => {
                let shared: Arc<str> = ns.into();
                self.namespaces.insert(shared.clone());
                shared
            }
        };
        let labels = pod.metadata.labels.clone().unwrap_or_default();
        let labels = match self.label_sets.get(&labels) {
            Some(shared) => shared.0.clone(),
            None => {
                let shared = Arc::new(LabelSet::new(labels));
                self.label_sets.insert(SharedLabels(shared.clone()));
                shared
            }
        };
        let created = pod
            .metadata
            .creation_timestamp
            .as_ref()
            .and_then(|t| t.0.as_nanosecond().try_into().ok())
            .map(Timestamp);
        Some(PodMeta::new(namespace, name, labels, created))
    }

    /// Counts `n` dropped entries and sweeps the shared sets every [`SWEEP_EVERY`].
    fn churned(&mut self, n: usize) {
        self.churn += n;
        if self.churn >= SWEEP_EVERY {
            self.forget_unused();
        }
    }

    /// Drops shared namespaces and label sets no pod holds any more.
    fn forget_unused(&mut self) {
        self.churn = 0;
        // Each set holds one reference; a pod in a map holds another.
        self.label_sets.retain(|l| Arc::strong_count(&l.0) > 1);
        self.namespaces.retain(|n| Arc::strong_count(n) > 1);
    }
}

/// A watched pod `ns`/`name` labelled `app=<app>` (tests).
#[cfg(test)]
pub(crate) fn test_pod(ns: &str, name: &str, app: &str) -> PartialObjectMeta<Pod> {
    let mut p = PartialObjectMeta::<Pod>::default();
    p.metadata.namespace = Some(ns.into());
    p.metadata.name = Some(name.into());
    p.metadata.labels = Some(BTreeMap::from([("app".to_string(), app.to_string())]));
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::labels::EncodedLabels;

    use super::test_pod as pod;

    #[test]
    fn serves_applied_pods_and_forgets_deleted_ones() {
        let store = PodStore::default();
        store.apply(&Event::Apply(pod("default", "a", "web")));
        store.apply(&Event::Apply(pod("default", "b", "web")));
        store.apply(&Event::Apply(pod("team", "a", "db")));
        store.apply(&Event::Apply(pod("default", "a", "web2")));
        assert_eq!(store.len(), 3);
        let a = store.get("default", "a").unwrap();
        assert_eq!(a.labels()["app"], "web2");
        assert_eq!((a.namespace(), a.name()), ("default", "a"));
        assert_eq!(store.list(Some("default")).len(), 2);
        assert_eq!(store.list(None).len(), 3);
        store.apply(&Event::Delete(pod("default", "a", "web2")));
        store.apply(&Event::Delete(pod("default", "zzz", "web")));
        assert_eq!(store.len(), 2);
        assert!(store.get("default", "a").is_none());
        assert!(store.get("nope", "a").is_none());
    }

    #[test]
    fn the_version_changes_with_what_a_list_shows_and_only_then() {
        let store = PodStore::default();
        let mut seen = store.version();
        let mut changed = |store: &PodStore| {
            let now = store.version();
            let moved = now != seen;
            seen = now;
            moved
        };
        store.apply(&Event::Apply(pod("default", "a", "web")));
        store.apply(&Event::Apply(pod("default", "b", "web")));
        assert!(changed(&store), "pods added");
        store.apply(&Event::Apply(pod("default", "a", "web")));
        assert!(!changed(&store), "a status-only update lists the same");
        store.apply(&Event::Delete(pod("default", "a", "web")));
        store.apply(&Event::Apply(pod("default", "c", "web")));
        assert_eq!(store.len(), 2, "one deleted, one added: the same count");
        assert!(changed(&store), "a pod replaced by another");
        store.apply(&Event::Apply(pod("default", "c", "web2")));
        assert!(changed(&store), "labels changed");
        let mut recreated = pod("default", "c", "web2");
        recreated.metadata.creation_timestamp =
            Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                "2026-01-01T00:00:00Z".parse().unwrap(),
            ));
        store.apply(&Event::Apply(recreated));
        assert!(changed(&store), "recreated under the same name");
        store.apply(&Event::Init);
        store.apply(&Event::InitApply(pod("default", "b", "web")));
        assert!(!changed(&store), "a relist shows nothing until complete");
        store.apply(&Event::InitDone);
        assert!(changed(&store), "a completed relist");
    }

    #[test]
    fn a_join_keeps_the_cached_pods_in_order_with_their_metadata() {
        let store = PodStore::default();
        // More pods than one lock holds, in two namespaces; every third pod not Running.
        let names: Vec<String> = (0..JOIN_CHUNK + 700).map(|i| format!("p{i:05}")).collect();
        for (i, name) in names.iter().enumerate() {
            if i % 3 != 0 {
                let ns = if i < 3000 { "a" } else { "b" };
                store.apply(&Event::Apply(pod(ns, name, &format!("app{i}"))));
            }
        }
        let wanted: Vec<(&str, &str)> = names
            .iter()
            .enumerate()
            .map(|(i, n)| (if i < 3000 { "a" } else { "b" }, n.as_str()))
            .chain([("nope", "p00001"), ("b", "missing")])
            .collect();
        let joined = store.join(wanted.iter().copied(), |&(ns, name)| (ns, name));
        let expected: Vec<(&str, &str)> = wanted
            .iter()
            .copied()
            .filter(|&(ns, name)| store.get(ns, name).is_some())
            .collect();
        assert_eq!(expected.len(), names.len() - names.len().div_ceil(3));
        let got: Vec<(&str, &str)> = joined.iter().map(|(k, _)| *k).collect();
        assert_eq!(got, expected);
        for ((ns, name), meta) in &joined {
            assert_eq!((meta.namespace(), meta.name()), (*ns, *name));
            let i: usize = name[1..].parse().unwrap();
            assert_eq!(meta.labels()["app"], format!("app{i}"));
        }
    }

    #[test]
    fn pods_with_equal_labels_share_one_label_set_until_none_is_left() {
        let store = PodStore::default();
        store.apply(&Event::Apply(pod("default", "a", "web")));
        store.apply(&Event::Apply(pod("default", "b", "web")));
        let a = store.get("default", "a").unwrap();
        let b = store.get("default", "b").unwrap();
        assert!(std::ptr::eq(a.labels(), b.labels()));
        drop((a, b));
        store.apply(&Event::Init);
        store.apply(&Event::InitApply(pod("x", "c", "db")));
        store.apply(&Event::InitDone);
        let inner = store.inner.read().unwrap();
        assert_eq!(inner.label_sets.len(), 1);
        assert_eq!(inner.namespaces.len(), 1);
    }

    #[test]
    fn a_label_set_shared_by_pods_is_encoded_once_and_a_set_of_one_never() {
        let store = PodStore::default();
        store.apply(&Event::Apply(pod("default", "a", "web")));
        store.apply(&Event::Apply(pod("default", "b", "web")));
        store.apply(&Event::Apply(pod("default", "c", "db")));
        let [a, b, c] = ["a", "b", "c"].map(|n| store.get("default", n).unwrap());
        let shared = a.encoded_labels().expect("a set two pods share is encoded");
        assert_eq!(*shared, EncodedLabels::of(a.labels()));
        assert!(std::ptr::eq(shared, b.encoded_labels().unwrap()));
        assert!(
            c.encoded_labels().is_none(),
            "one pod's set is not kept twice"
        );
    }

    #[test]
    fn deletes_sweep_unused_label_sets() {
        let store = PodStore::default();
        for i in 0..SWEEP_EVERY {
            store.apply(&Event::Apply(pod(
                "default",
                &i.to_string(),
                &i.to_string(),
            )));
        }
        for i in 0..SWEEP_EVERY {
            store.apply(&Event::Delete(pod("default", &i.to_string(), "")));
        }
        assert!(store.is_empty());
        let inner = store.inner.read().unwrap();
        assert!(inner.label_sets.is_empty());
        assert!(inner.live.is_empty());
    }

    #[test]
    fn a_relist_replaces_the_pods_only_when_complete() {
        let store = PodStore::default();
        store.apply(&Event::Apply(pod("default", "gone", "web")));
        store.apply(&Event::Init);
        store.apply(&Event::InitApply(pod("default", "new", "web")));
        // Until the list is complete, readers see the old pods.
        assert!(store.get("default", "gone").is_some());
        assert!(store.get("default", "new").is_none());
        store.apply(&Event::InitDone);
        assert!(store.get("default", "gone").is_none());
        assert!(store.get("default", "new").is_some());
        assert_eq!(store.len(), 1);
    }
}
