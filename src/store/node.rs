//! Everything the store keeps for one node: the node's own series, its pods, and whether its
//! latest scrape failed. Applying a batch touches only this node (spec §4.3 "Nodes").
//!
//! Upstream rebuilds its maps from each full batch, so a failed scrape forgets the node and it
//! needs two good scrapes to come back (spec §3.4 "Staleness", §9 item 1). Here a failure only
//! hides the node: the series are kept and the next good scrape serves again.

use std::cmp::Ordering;
use std::sync::Arc;
use std::sync::atomic::AtomicU32;

use arcstr::ArcStr;
use smallvec::SmallVec;

use super::interner::Interner;
use super::pod::PodState;
use super::pod_index::key_hash;
use super::reason::MissingReason;
use super::series::{Rules, Series};
use crate::batch::{InvalidValues, NodeBatch};
use crate::usage::NodeUsage;

/// One pod of one node.
#[derive(Debug)]
pub(crate) struct PodEntry {
    /// Interned: shared by every pod of the namespace.
    pub(crate) namespace: ArcStr,
    pub(crate) name: ArcStr,
    pub(crate) state: PodState,
    /// The pod's position among all pods at the last publish ([`UNPUBLISHED`] before its
    /// first): the next publish sorts by it, comparing integers instead of names.
    pub(crate) published_at: AtomicU32,
    /// [`key_hash`] of (namespace, name), for the snapshot's get index.
    pub(crate) key_hash: u32,
}

/// [`PodEntry::published_at`] of a pod no publish has placed yet.
pub(crate) const UNPUBLISHED: u32 = u32::MAX;

impl PodEntry {
    fn cmp_key(&self, namespace: &str, name: &str) -> Ordering {
        (self.namespace.as_str(), self.name.as_str()).cmp(&(namespace, name))
    }
}

/// A node's pods by [`PodEntry::key_hash`]: finding a reported pod among the previous ones
/// reads one name (to confirm) instead of a binary search's five or so, each elsewhere in
/// memory.
struct HashPositions(SmallVec<[(u32, u32); 64]>);

impl HashPositions {
    fn of(pods: &[PodEntry]) -> Self {
        let mut positions: SmallVec<[(u32, u32); 64]> = pods
            .iter()
            .zip(0u32..)
            .map(|(pod, i)| (pod.key_hash, i))
            .collect();
        positions.sort_unstable();
        HashPositions(positions)
    }

    /// The position in `pods` (the vector this was made of) of (namespace, name).
    fn find(&self, pods: &[PodEntry], hash: u32, namespace: &str, name: &str) -> Option<usize> {
        let first = self.0.partition_point(|&(h, _)| h < hash);
        self.0[first..]
            .iter()
            .take_while(|&&(h, _)| h == hash)
            .map(|&(_, i)| i as usize)
            .find(|&i| {
                pods.get(i)
                    .is_some_and(|p| p.cmp_key(namespace, name).is_eq())
            })
    }
}

/// Pods of one node sorted by (namespace, name), unique. A node holds a few dozen to a few
/// hundred pods: a sorted `Vec` sized to the batch costs no per-pod map slot; applying finds
/// the previous entries through their hashes ([`HashPositions`]).
pub(crate) type NodePods = Vec<PodEntry>;

/// One node's data.
#[derive(Debug)]
pub(crate) struct NodeState {
    pub(crate) name: Arc<str>,
    /// The name again, as each of its pods' served usage holds it.
    usage_node: ArcStr,
    series: Series,
    pub(crate) served: Result<NodeUsage, MissingReason>,
    pub(crate) failed: bool,
    /// The node is not scraped by design (a virtual node): its pods are known from the API.
    pub(crate) skipped: bool,
    /// Some scrape of this node succeeded since the store first saw it.
    pub(crate) ever_applied: bool,
    pub(crate) pods: NodePods,
}

impl NodeState {
    pub(crate) fn new(name: Arc<str>) -> Self {
        NodeState {
            usage_node: ArcStr::from(&*name),
            name,
            series: Series::default(),
            served: Err(MissingReason::NotScrapedYet),
            failed: false,
            skipped: false,
            ever_applied: false,
            pods: Vec::new(),
        }
    }

    /// Merges a successful scrape. Pods absent from the batch are forgotten.
    pub(crate) fn apply(&mut self, batch: &NodeBatch<'_>, rules: &Rules, names: &mut Interner) {
        self.failed = false;
        self.skipped = false;
        self.ever_applied = true;
        self.served = match batch.node {
            Some(point) => self.series.observe(point, rules).map(|rate| NodeUsage {
                timestamp: rate.timestamp,
                window_ns: rate.window_ns,
                usage: rate.usage,
            }),
            None => Err(MissingReason::MissingSample),
        };
        let mut previous = std::mem::take(&mut self.pods);
        let by_hash = HashPositions::of(&previous);
        let mut next: NodePods = Vec::with_capacity(batch.pods.len());
        for report in &batch.pods {
            let hash = key_hash(&report.namespace, &report.name);
            let known = by_hash.find(&previous, hash, &report.namespace, &report.name);
            let mut entry = match known.and_then(|i| previous.get_mut(i)) {
                // A duplicate report finds an emptied state: harmless, dropped below.
                Some(old) => PodEntry {
                    namespace: old.namespace.clone(),
                    name: old.name.clone(),
                    state: std::mem::take(&mut old.state),
                    published_at: AtomicU32::new(*old.published_at.get_mut()),
                    key_hash: old.key_hash,
                },
                None => PodEntry {
                    namespace: names.intern_thin(&report.namespace),
                    name: ArcStr::from(report.name.as_ref()),
                    state: PodState::default(),
                    published_at: AtomicU32::new(UNPUBLISHED),
                    key_hash: hash,
                },
            };
            entry.state.apply(report, &self.usage_node, rules, names);
            next.push(entry);
        }
        // Stable sort then dedup: of duplicates within one response, the first report wins.
        next.sort_by(|a, b| a.cmp_key(&b.namespace, &b.name));
        next.dedup_by(|later, first| later.cmp_key(&first.namespace, &first.name).is_eq());
        self.pods = next;
    }

    /// Withholds what the latest batch (just applied) carried invalid values for: the node's
    /// own usage and those pods. Their series keep the samples that were valid.
    pub(crate) fn withhold_invalid(&mut self, invalid: &InvalidValues<'_>) {
        if invalid.node {
            self.served = Err(MissingReason::InvalidValue);
        }
        for (namespace, name) in &invalid.pods {
            let found = self.pods.binary_search_by(|p| p.cmp_key(namespace, name));
            if let Ok(i) = found {
                self.pods[i].state.served = Err(MissingReason::InvalidValue);
            }
        }
    }

    /// A failed scrape: hide the node and its pods until the next success.
    pub(crate) fn fail(&mut self) {
        self.failed = true;
        self.skipped = false;
    }

    /// The node is not scraped by design: it and its pods read
    /// [`MissingReason::NodeNotScraped`], and its pods are known only from the API.
    pub(crate) fn skip(&mut self) {
        self.skipped = true;
        self.failed = false;
    }

    /// Whether every scrape of this node failed so far: its pods are known only from the API
    /// ([`Self::expect_pods`]).
    pub(crate) fn never_scraped(&self) -> bool {
        self.failed && !self.ever_applied
    }

    /// Whether the pods of this node come from the API rather than its kubelet: every scrape
    /// of it failed so far, or it is not scraped at all.
    pub(crate) fn pods_from_api(&self) -> bool {
        self.skipped || self.never_scraped()
    }

    /// Why the node and all its pods are withheld whatever their samples, if they are.
    pub(crate) fn withheld(&self) -> Option<MissingReason> {
        if self.skipped {
            Some(MissingReason::NodeNotScraped)
        } else if self.failed {
            Some(MissingReason::NodeFailed)
        } else {
            None
        }
    }

    /// Replaces the pods of a node whose pods come from the API ([`Self::pods_from_api`]) with
    /// those the API places on it, each without samples: they read what the node is withheld
    /// for ([`Self::withheld`]). Its first good scrape replaces them with its report.
    pub(crate) fn expect_pods<'p>(
        &mut self,
        pods: impl Iterator<Item = (&'p str, &'p str)>,
        names: &mut Interner,
    ) {
        let mut expected: NodePods = pods
            .map(|(namespace, name)| PodEntry {
                namespace: names.intern_thin(namespace),
                name: ArcStr::from(name),
                state: PodState::default(),
                published_at: AtomicU32::new(UNPUBLISHED),
                key_hash: key_hash(namespace, name),
            })
            .collect();
        expected.sort_by(|a, b| a.cmp_key(&b.namespace, &b.name));
        expected.dedup_by(|later, first| later.cmp_key(&first.namespace, &first.name).is_eq());
        self.pods = expected;
    }

    /// What the snapshot serves for the node itself.
    pub(crate) fn outcome(&self) -> Result<&NodeUsage, MissingReason> {
        if let Some(reason) = self.withheld() {
            return Err(reason);
        }
        self.served.as_ref().map_err(|r| *r)
    }

    /// Number of pods this node reported in its latest good scrape.
    pub(crate) fn pod_count(&self) -> usize {
        self.pods.len()
    }
}
