//! Running pods, metadata only (`PartialObjectMetadata`), with everything but name, namespace,
//! uid, labels and creation time stripped from the watch events (upstream keeps the same,
//! §4.6); the cache itself (pod_store.rs) keeps less still.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod;
use kube::core::PartialObjectMeta;

use crate::time::Timestamp;

/// A cached Running pod's metadata: identity, labels (shared with the pods that have the same
/// set) and creation time.
#[derive(Clone, Debug)]
pub struct PodMeta(Arc<Entry>);

#[derive(Debug)]
struct Entry {
    namespace: Arc<str>,
    name: Box<str>,
    labels: Arc<BTreeMap<String, String>>,
    created: Option<Timestamp>,
}

impl PodMeta {
    pub fn new(
        namespace: Arc<str>,
        name: &str,
        labels: Arc<BTreeMap<String, String>>,
        created: Option<Timestamp>,
    ) -> Self {
        PodMeta(Arc::new(Entry {
            namespace,
            name: name.into(),
            labels,
            created,
        }))
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

    pub fn labels(&self) -> &BTreeMap<String, String> {
        &self.0.labels
    }

    pub fn creation_timestamp(&self) -> Option<Timestamp> {
        self.0.created
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
