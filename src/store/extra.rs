//! Swap and ephemeral storage (`--extra-resources`) in the store and its snapshots.
//!
//! Both are gauges: what is served is the latest good scrape's figure, so no history is
//! kept. They live beside the per-node state and the published usages, not inside them: a
//! store that serves CPU and memory only keeps exactly what it kept before (no byte per
//! series, container or pod; see the size test in `mod.rs`), and one that serves them keeps,
//! per node, the figures of its latest good scrape ([`NodeExtra`]) and, per snapshot, those of
//! its servable items ([`SnapshotExtra`]).
//!
//! A figure goes with the usage the same scrape gave: a pod's figures are those its serving
//! node reported with it, matched by container name; a container without a figure (the
//! kubelet did not report it, or the Summary API request beside `/metrics/resource` failed)
//! is served without that resource.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use super::interner::Interner;
use super::snapshot::Snapshot;
use crate::batch::ExtraBatch;
use crate::usage::{ExtraResources, ExtraUsage, PodUsage};

/// Seeded per process (keys are addresses, not input).
type FastHash = foldhash::fast::RandomState;

/// The extra figures of one node's latest good scrape.
#[derive(Debug, Default)]
pub(crate) struct NodeExtra {
    node: ExtraUsage,
    /// Sorted by (namespace, name), unique.
    pods: Vec<PodExtra>,
}

/// One pod's extra figures.
#[derive(Debug)]
struct PodExtra {
    /// Interned, like the store's.
    namespace: Arc<str>,
    name: Box<str>,
    /// Sorted by container name (interned), unique.
    containers: Box<[(Arc<str>, ExtraUsage)]>,
}

impl NodeExtra {
    /// The figures of `batch` that are `served`. Of two reports of one container (two
    /// responses merged), each figure is taken from the first that has it.
    pub(crate) fn of(batch: &ExtraBatch<'_>, served: ExtraResources, names: &mut Interner) -> Self {
        let mut order: Vec<usize> = (0..batch.containers.len()).collect();
        let key = |i: usize| {
            let c = &batch.containers[i];
            (&*c.namespace, &*c.pod, &*c.container)
        };
        // Stable: of equal keys, the first reported stays first.
        order.sort_by(|&a, &b| key(a).cmp(&key(b)));
        let mut pods: Vec<PodExtra> = Vec::new();
        for same_pod in order.chunk_by(|&a, &b| key(a).0 == key(b).0 && key(a).1 == key(b).1) {
            let (namespace, name, _) = key(same_pod[0]);
            let mut containers: Vec<(Arc<str>, ExtraUsage)> = Vec::with_capacity(same_pod.len());
            for &i in same_pod {
                let c = &batch.containers[i];
                let usage = c.usage.only(served);
                match containers.last_mut() {
                    Some((last, kept)) if **last == *c.container => *kept = kept.or(usage),
                    _ => containers.push((names.intern(&c.container), usage)),
                }
            }
            containers.retain(|(_, usage)| !usage.is_empty());
            if !containers.is_empty() {
                pods.push(PodExtra {
                    namespace: names.intern(namespace),
                    name: name.into(),
                    containers: containers.into_boxed_slice(),
                });
            }
        }
        NodeExtra {
            node: batch.node.only(served),
            pods,
        }
    }

    fn pod(&self, namespace: &str, name: &str) -> Option<&PodExtra> {
        let found = self
            .pods
            .binary_search_by(|p| (&*p.namespace, &*p.name).cmp(&(namespace, name)));
        found.ok().and_then(|i| self.pods.get(i))
    }
}

impl PodExtra {
    fn container(&self, name: &str) -> ExtraUsage {
        let found = self.containers.binary_search_by(|(c, _)| (**c).cmp(name));
        found
            .ok()
            .and_then(|i| self.containers.get(i))
            .map(|(_, usage)| *usage)
            .unwrap_or_default()
    }
}

/// The extra figures of a snapshot's servable items.
#[derive(Debug, Default)]
pub(crate) struct SnapshotExtra {
    pub(crate) resources: ExtraResources,
    /// One per [`Snapshot::nodes`] entry, in the same order (empty when none).
    nodes: Vec<ExtraUsage>,
    /// Per servable pod that has any figure, one per container of its usage, in the same
    /// order; keyed by the address of that usage, which the snapshot owns and never changes.
    pods: HashMap<usize, Box<[ExtraUsage]>, FastHash>,
}

impl SnapshotExtra {
    /// The figures of `snapshot`'s servable nodes and pods, from each serving node's latest
    /// good scrape.
    pub(crate) fn of(
        snapshot: &Snapshot,
        nodes: &BTreeMap<Arc<str>, NodeExtra>,
        resources: ExtraResources,
    ) -> Self {
        let node_figures = snapshot
            .nodes
            .iter()
            .map(|(name, _)| nodes.get(name).map(|n| n.node).unwrap_or_default())
            .collect();
        let mut pods = HashMap::with_hasher(FastHash::default());
        for (key, usage) in snapshot.pods.iter() {
            let Some(pod) = nodes
                .get(usage.node.as_str())
                .and_then(|n| n.pod(&key.namespace, &key.name))
            else {
                continue;
            };
            let figures: Box<[ExtraUsage]> = usage
                .containers
                .iter()
                .map(|c| pod.container(&c.name))
                .collect();
            if figures.iter().any(|f| !f.is_empty()) {
                pods.insert(address(usage), figures);
            }
        }
        SnapshotExtra {
            resources,
            nodes: node_figures,
            pods,
        }
    }

    /// The figures of the node at `position` in the snapshot's nodes.
    pub(crate) fn node(&self, position: usize) -> Option<&ExtraUsage> {
        self.nodes.get(position).filter(|f| !f.is_empty())
    }

    /// The figures of the containers of `usage`, a servable pod's usage in the snapshot.
    pub(crate) fn pod(&self, usage: &PodUsage) -> Option<&[ExtraUsage]> {
        self.pods.get(&address(usage)).map(|f| &**f)
    }
}

fn address(usage: &PodUsage) -> usize {
    std::ptr::from_ref(usage) as usize
}
