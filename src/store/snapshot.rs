//! The immutable view readers get: sorted vectors (servable pods also indexed by hash for
//! gets), plus why each known-but-unservable item is missing. Built by the single writer
//! (publish.rs); readers never wait and never see a half-applied scrape.
//!
//! Readiness is upstream's (spec §4.5): at least one servable node and one servable pod.

use std::cmp::Ordering;
use std::sync::Arc;

use super::extra::SnapshotExtra;
use super::pod_index::{PodIndex, key_hash};
use super::reason::MissingReason;
use super::sample_times::SampleTimes;
use crate::prefetch::{self, prefetch};
use crate::usage::{ExtraResources, ExtraUsage, NodeUsage, PodKey, PodUsage};

/// One published state of the store. `Send + Sync`; share it behind an `Arc`.
#[derive(Debug, Default)]
pub struct Snapshot {
    pub(crate) generation: u64,
    /// Servable nodes, sorted by name.
    pub(crate) nodes: Vec<(Arc<str>, NodeUsage)>,
    /// Known nodes without servable usage, sorted by name.
    pub(crate) unservable_nodes: Vec<(Arc<str>, MissingReason)>,
    /// Servable pods, sorted by (namespace, name).
    pub(crate) pods: ServedPods,
    /// Known pods without servable usage, sorted by (namespace, name).
    pub(crate) unservable_pods: Vec<(PodKey, MissingReason)>,
    pub(crate) servable_containers: usize,
    /// Sample times of `pods`, sorted.
    pub(crate) pod_sample_times: SampleTimes,
    /// `pods` by hash, for gets; a pod it does not hold is still found by binary search.
    pub(crate) pod_index: PodIndex,
    /// Made by the end-of-cycle publish (not by a publish while results arrive).
    pub(crate) ends_cycle: bool,
    /// Swap and ephemeral storage of the servable items, when served (`--extra-resources`).
    pub(crate) extra: Option<Box<SnapshotExtra>>,
}

impl Snapshot {
    /// The snapshot before any publish: nothing servable, generation 0.
    pub fn empty() -> Snapshot {
        Snapshot::default()
    }

    /// Whether the scraper's end-of-cycle publish made this snapshot, rather than one of the
    /// partial publishes small clusters get while results arrive.
    pub fn ends_cycle(&self) -> bool {
        self.ends_cycle
    }

    /// Marks the snapshot as the last of its cycle (the scraper's end-of-cycle publish).
    pub fn set_ends_cycle(&mut self, ends_cycle: bool) {
        self.ends_cycle = ends_cycle;
    }

    /// 0 for [`Snapshot::empty`], then 1, 2, … per publish.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// A servable node's usage.
    pub fn node(&self, name: &str) -> Option<&NodeUsage> {
        find_node(&self.nodes, name).map(|(_, usage)| usage)
    }

    /// The resources served beyond CPU and memory (none unless `--extra-resources` asks).
    pub fn extra_resources(&self) -> ExtraResources {
        self.extra
            .as_ref()
            .map_or(ExtraResources::NONE, |e| e.resources)
    }

    /// A servable node's swap and ephemeral storage, when served and reported.
    pub fn node_extra(&self, name: &str) -> Option<&ExtraUsage> {
        let extra = self.extra.as_ref()?;
        let position = self.nodes.binary_search_by(|(n, _)| (**n).cmp(name)).ok()?;
        extra.node(position)
    }

    /// The swap and ephemeral storage of the containers of `usage` (one of this snapshot's
    /// pod usages, as [`Snapshot::pod`] or [`Snapshot::pods`] give them), in the order of
    /// its containers; `None` when not served or none was reported.
    pub fn pod_extra(&self, usage: &PodUsage) -> Option<&[ExtraUsage]> {
        self.extra.as_ref()?.pod(usage)
    }

    /// Servable nodes, sorted by name.
    pub fn nodes(&self) -> impl Iterator<Item = (&Arc<str>, &NodeUsage)> {
        self.nodes.iter().map(|(name, usage)| (name, usage))
    }

    /// A servable pod's usage.
    pub fn pod(&self, namespace: &str, name: &str) -> Option<&PodUsage> {
        self.find_servable_pod(namespace, name)
            .map(|(_, usage)| usage.as_ref())
    }

    /// The index first; the binary search for pods it does not hold (none after a publish).
    fn find_servable_pod(&self, namespace: &str, name: &str) -> Option<&(PodKey, Arc<PodUsage>)> {
        let is_it = |p: usize| {
            self.pods
                .get(p)
                .is_some_and(|(k, _)| compare_key(k, namespace, name).is_eq())
        };
        let indexed = self.pod_index.find(key_hash(namespace, name), is_it);
        match indexed.and_then(|p| self.pods.get(p)) {
            Some(found) => Some(found),
            None => find_pod(&self.pods, namespace, name),
        }
    }

    /// Servable pods sorted by (namespace, name); `Some(ns)` restricts to that namespace
    /// (a sub-slice found by binary search, not a filter).
    pub fn pods(&self, namespace: Option<&str>) -> impl Iterator<Item = (&PodKey, &PodUsage)> {
        self.pods_in(namespace)
            .iter()
            .map(|(key, usage)| (key, usage.as_ref()))
    }

    /// How many servable pods [`Snapshot::pods`] gives for `namespace`, without walking them.
    pub fn pod_count(&self, namespace: Option<&str>) -> usize {
        self.pods_in(namespace).len()
    }

    fn pods_in(&self, namespace: Option<&str>) -> &[(PodKey, Arc<PodUsage>)] {
        let Some(ns) = namespace else {
            return &self.pods;
        };
        let start = self
            .pods
            .partition_point(|(k, _)| k.namespace.as_str() < ns);
        let end = self
            .pods
            .partition_point(|(k, _)| k.namespace.as_str() <= ns);
        self.pods.get(start..end).unwrap_or_default()
    }

    /// Every servable pod, sorted by (namespace, name), as stored.
    pub(crate) fn all_pods(&self) -> &[(PodKey, Arc<PodUsage>)] {
        &self.pods
    }

    /// Why a pod has no servable metrics ([`MissingReason::Servable`] when it has).
    pub fn pod_missing_reason(&self, namespace: &str, name: &str) -> MissingReason {
        if self.find_servable_pod(namespace, name).is_some() {
            return MissingReason::Servable;
        }
        find_pod(&self.unservable_pods, namespace, name)
            .map_or(MissingReason::NotScrapedYet, |(_, reason)| *reason)
    }

    /// Why a node has no servable metrics ([`MissingReason::Servable`] when it has).
    pub fn node_missing_reason(&self, name: &str) -> MissingReason {
        if find_node(&self.nodes, name).is_some() {
            return MissingReason::Servable;
        }
        find_node(&self.unservable_nodes, name)
            .map_or(MissingReason::NotScrapedYet, |(_, reason)| *reason)
    }

    /// Upstream readiness: at least one servable node and one servable pod.
    pub fn is_ready(&self) -> bool {
        !self.nodes.is_empty() && !self.pods.is_empty()
    }

    pub fn servable_nodes(&self) -> usize {
        self.nodes.len()
    }

    pub fn servable_pods(&self) -> usize {
        self.pods.len()
    }

    /// The sample times of every servable pod, sorted.
    pub fn pod_sample_times(&self) -> &SampleTimes {
        &self.pod_sample_times
    }

    /// Containers over all servable pods.
    pub fn servable_containers(&self) -> usize {
        self.servable_containers
    }
}

/// A snapshot's servable pods: a `Vec` whose drop asks for each pod's name and usage a few
/// pods ahead (see [`crate::prefetch`]). Dropping the previous snapshot releases 150,000
/// names and usages at 5,000 nodes, each a reference count in its own cache line.
#[derive(Debug, Default)]
pub(crate) struct ServedPods(Vec<(PodKey, Arc<PodUsage>)>);

impl Drop for ServedPods {
    fn drop(&mut self) {
        let mut pods = std::mem::take(&mut self.0).into_iter();
        while let Some(pod) = pods.next() {
            if let Some((key, usage)) = pods.as_slice().get(prefetch::AHEAD) {
                prefetch(&*key.name);
                prefetch(&**usage);
            }
            drop(pod);
        }
    }
}

impl std::ops::Deref for ServedPods {
    type Target = Vec<(PodKey, Arc<PodUsage>)>;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl std::ops::DerefMut for ServedPods {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

impl FromIterator<(PodKey, Arc<PodUsage>)> for ServedPods {
    fn from_iter<I: IntoIterator<Item = (PodKey, Arc<PodUsage>)>>(iter: I) -> Self {
        ServedPods(iter.into_iter().collect())
    }
}

fn find_node<'a, T>(sorted: &'a [(Arc<str>, T)], name: &str) -> Option<&'a (Arc<str>, T)> {
    let i = sorted
        .binary_search_by(|(n, _)| n.as_ref().cmp(name))
        .ok()?;
    sorted.get(i)
}

fn find_pod<'a, T>(
    sorted: &'a [(PodKey, T)],
    namespace: &str,
    name: &str,
) -> Option<&'a (PodKey, T)> {
    let i = sorted
        .binary_search_by(|(k, _)| compare_key(k, namespace, name))
        .ok()?;
    sorted.get(i)
}

fn compare_key(key: &PodKey, namespace: &str, name: &str) -> Ordering {
    (key.namespace.as_str(), key.name.as_str()).cmp(&(namespace, name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Timestamp;

    fn key(ns: &str, name: &str) -> PodKey {
        PodKey {
            namespace: ns.into(),
            name: name.into(),
        }
    }

    fn usage() -> Arc<PodUsage> {
        Arc::new(PodUsage {
            node: "n".into(),
            timestamp: Timestamp(1),
            window_ns: 1,
            containers: Default::default(),
        })
    }

    fn sample() -> Snapshot {
        Snapshot {
            pods: ["a/x", "b/a", "b/b", "c/z"]
                .iter()
                .map(|s| {
                    let (ns, name) = s.split_once('/').unwrap();
                    (key(ns, name), usage())
                })
                .collect(),
            unservable_pods: vec![(key("b", "c"), MissingReason::RateError)],
            ..Snapshot::default()
        }
    }

    #[test]
    fn namespace_range_is_exact() {
        let snap = sample();
        let names = |ns| -> Vec<String> {
            snap.pods(ns)
                .map(|(k, _)| format!("{}/{}", k.namespace, k.name))
                .collect()
        };
        assert_eq!(names(Some("b")), ["b/a", "b/b"]);
        assert_eq!(names(Some("bb")), Vec::<String>::new());
        assert_eq!(names(Some("")), Vec::<String>::new());
        assert_eq!(names(None).len(), 4);
        let counts = [Some("b"), Some("bb"), Some("c"), None].map(|ns| snap.pod_count(ns));
        assert_eq!(counts, [2, 0, 1, 4]);
    }

    #[test]
    fn lookups_and_reasons() {
        let snap = sample();
        assert!(snap.pod("b", "b").is_some());
        assert!(snap.pod("b", "c").is_none());
        assert_eq!(snap.pod_missing_reason("b", "a"), MissingReason::Servable);
        assert_eq!(snap.pod_missing_reason("b", "c"), MissingReason::RateError);
        assert_eq!(
            snap.pod_missing_reason("q", "c"),
            MissingReason::NotScrapedYet
        );
        assert_eq!(snap.node_missing_reason("n"), MissingReason::NotScrapedYet);
        assert!(!snap.is_ready(), "pods without nodes are not ready");
    }

    #[test]
    fn snapshot_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Snapshot>();
    }
}
