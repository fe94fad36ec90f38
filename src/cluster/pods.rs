//! Running pods, metadata only (`PartialObjectMetadata`), with everything but name, namespace,
//! uid, labels and creation time stripped before caching (upstream keeps the same, §4.6).

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod;
use kube::core::PartialObjectMeta;

use crate::time::Timestamp;

/// A cached Running pod's metadata.
#[derive(Clone, Debug)]
pub struct PodMeta(pub Arc<PartialObjectMeta<Pod>>);

impl PodMeta {
    pub fn name(&self) -> &str {
        self.0.metadata.name.as_deref().unwrap_or_default()
    }

    pub fn namespace(&self) -> &str {
        self.0.metadata.namespace.as_deref().unwrap_or_default()
    }

    pub fn labels(&self) -> &BTreeMap<String, String> {
        super::labels_of(&self.0.metadata)
    }

    pub fn creation_timestamp(&self) -> Option<Timestamp> {
        let t = self.0.metadata.creation_timestamp.as_ref()?;
        Some(Timestamp(t.0.as_nanosecond().try_into().ok()?))
    }
}

/// Drops what the server never reads, so a cached pod costs only its identity and labels.
pub fn strip(pod: &mut PartialObjectMeta<Pod>) {
    let m = &mut pod.metadata;
    m.annotations = None;
    m.managed_fields = None;
    m.owner_references = None;
    m.finalizers = None;
    m.generate_name = None;
    m.self_link = None;
}
