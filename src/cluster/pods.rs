//! Running pods, metadata only (`PartialObjectMetadata`), with everything but name, namespace,
//! uid, labels and creation time stripped from the watch events (upstream keeps the same,
//! §4.6); the cache itself (pod_store.rs) keeps less still.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use k8s_openapi::api::core::v1::Pod;
use kube::core::PartialObjectMeta;

use crate::time::Timestamp;
use crate::wire::labels::EncodedLabels;

/// A cached Running pod's metadata: identity, labels (shared with the pods that have the same
/// set) and creation time.
#[derive(Clone, Debug)]
pub struct PodMeta(Arc<Entry>);

#[derive(Debug)]
struct Entry {
    namespace: Arc<str>,
    name: Box<str>,
    labels: Arc<LabelSet>,
    /// The creation time, [`NOT_CREATED`] when the pod has none: 8 bytes instead of an
    /// `Option`'s 16, so that the retired flag fits in the same 72-byte allocation.
    created: Timestamp,
    /// Set when the cache drops or replaces this entry.
    retired: AtomicBool,
}

/// [`Entry::created`] of a pod without a creation time.
const NOT_CREATED: Timestamp = Timestamp(i64::MIN);

/// A label set, shared by every cached pod that carries it, with its API encodings once a
/// list has needed them.
#[derive(Debug, Default)]
pub struct LabelSet {
    map: BTreeMap<String, String>,
    encoded: OnceLock<EncodedLabels>,
}

impl LabelSet {
    pub fn new(map: BTreeMap<String, String>) -> Self {
        LabelSet {
            map,
            encoded: OnceLock::new(),
        }
    }

    pub fn map(&self) -> &BTreeMap<String, String> {
        &self.map
    }
}

impl PodMeta {
    pub fn new(
        namespace: Arc<str>,
        name: &str,
        labels: Arc<LabelSet>,
        created: Option<Timestamp>,
    ) -> Self {
        PodMeta(Arc::new(Entry {
            namespace,
            name: name.into(),
            labels,
            created: created.unwrap_or(NOT_CREATED),
            retired: AtomicBool::new(false),
        }))
    }

    /// Whether this is still the cache's entry for its pod: not replaced by a newer version
    /// of the pod, deleted, or left behind by a relist.
    pub fn is_current(&self) -> bool {
        !self.0.retired.load(Ordering::Acquire)
    }

    /// Marks this entry as no longer the cache's (see [`Self::is_current`]).
    pub(super) fn retire(&self) {
        self.0.retired.store(true, Ordering::Release);
    }

    pub fn name(&self) -> &str {
        &self.0.name
    }

    pub fn namespace(&self) -> &str {
        &self.0.namespace
    }

    pub(super) fn namespace_arc(&self) -> Arc<str> {
        self.0.namespace.clone()
    }

    /// Asks the CPU to load this pod's metadata (see [`crate::prefetch`]).
    pub fn prefetch(&self) {
        crate::prefetch::prefetch(&*self.0);
    }

    /// Asks the CPU to load this pod's label set (see [`crate::prefetch`]).
    pub fn prefetch_labels(&self) {
        crate::prefetch::prefetch(&*self.0.labels);
    }

    pub fn labels(&self) -> &BTreeMap<String, String> {
        &self.0.labels.map
    }

    /// The encodings of this pod's labels when other pods share them (kept with the set
    /// from the first call on); `None` for a set of its own, which a list encodes from the
    /// map each time rather than keep a second copy for one pod.
    pub fn encoded_labels(&self) -> Option<&EncodedLabels> {
        let set = &self.0.labels;
        if let Some(encoded) = set.encoded.get() {
            return Some(encoded);
        }
        // One reference is the store's set of label sets, the others are pods.
        let shared = Arc::strong_count(set) > 2;
        shared.then(|| set.encoded.get_or_init(|| EncodedLabels::of(&set.map)))
    }

    /// Whether `other` says the same as this entry to a list: the same labels (one shared
    /// set) and creation time.
    pub(super) fn lists_like(&self, other: &PodMeta) -> bool {
        Arc::ptr_eq(&self.0.labels, &other.0.labels) && self.0.created == other.0.created
    }

    pub fn creation_timestamp(&self) -> Option<Timestamp> {
        Some(self.0.created).filter(|&t| t != NOT_CREATED)
    }
}

/// Drops what the server never reads, so a cached pod costs only its identity and labels.
/// The resource version goes too: the watch tracks its own from the events (before this
/// runs), and the cache key would otherwise hold a copy of it for every pod.
pub fn strip(pod: &mut PartialObjectMeta<Pod>) {
    pod.types = None;
    let m = &mut pod.metadata;
    m.resource_version = None;
    m.generation = None;
    m.deletion_grace_period_seconds = None;
    m.annotations = None;
    m.managed_fields = None;
    m.owner_references = None;
    m.finalizers = None;
    m.generate_name = None;
    m.self_link = None;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_keeps_its_creation_time_or_none_in_56_bytes() {
        // 56 bytes plus the Arc's two counters: a 72-byte allocation per cached pod.
        assert!(std::mem::size_of::<Entry>() <= 56);
        let labels = Arc::new(LabelSet::default());
        let at = Timestamp::from_secs(1_700_000_000);
        for created in [Some(at), Some(Timestamp(0)), None] {
            let meta = PodMeta::new("ns".into(), "p", labels.clone(), created);
            assert_eq!(meta.creation_timestamp(), created);
        }
    }
}
