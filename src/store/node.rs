//! Everything the store keeps for one node: the node's own series, its pods, and whether its
//! latest scrape failed. Applying a batch touches only this node (spec §4.3 "Nodes").
//!
//! Upstream rebuilds its maps from each full batch, so a failed scrape forgets the node and it
//! needs two good scrapes to come back (spec §3.4 "Staleness", §9 item 1). Here a failure only
//! hides the node: the series are kept and the next good scrape serves again.

use std::collections::HashMap;
use std::sync::Arc;

use super::interner::Interner;
use super::pod::PodState;
use super::reason::MissingReason;
use super::series::{Rules, Series};
use crate::batch::NodeBatch;
use crate::usage::NodeUsage;

/// Pods of one node: namespace → pod name → state.
pub(crate) type PodsByNamespace =
    HashMap<Arc<str>, HashMap<Arc<str>, PodState, FastHash>, FastHash>;
/// Seeded per process; much faster than SipHash on short keys.
type FastHash = foldhash::fast::RandomState;

/// One node's data.
#[derive(Debug)]
pub(crate) struct NodeState {
    pub(crate) name: Arc<str>,
    series: Series,
    pub(crate) served: Result<NodeUsage, MissingReason>,
    pub(crate) failed: bool,
    pub(crate) pods: PodsByNamespace,
}

impl NodeState {
    pub(crate) fn new(name: Arc<str>) -> Self {
        NodeState {
            name,
            series: Series::default(),
            served: Err(MissingReason::NotScrapedYet),
            failed: false,
            pods: HashMap::default(),
        }
    }

    /// Merges a successful scrape. Pods absent from the batch are forgotten.
    pub(crate) fn apply(&mut self, batch: &NodeBatch<'_>, rules: &Rules, names: &mut Interner) {
        self.failed = false;
        self.served = match batch.node {
            Some(point) => self.series.observe(point, rules).map(|rate| NodeUsage {
                timestamp: rate.timestamp,
                window_ns: rate.window_ns,
                usage: rate.usage,
            }),
            None => Err(MissingReason::MissingSample),
        };
        let mut previous = std::mem::take(&mut self.pods);
        let mut next: PodsByNamespace =
            HashMap::with_capacity_and_hasher(previous.len(), FastHash::default());
        for report in &batch.pods {
            let namespace = names.intern(&report.namespace);
            let pods = next.entry(namespace).or_default();
            if pods.contains_key(report.name.as_ref()) {
                continue; // Duplicate within one response: the first report wins.
            }
            let (name, mut state) = previous
                .get_mut(report.namespace.as_ref())
                .and_then(|old| old.remove_entry(report.name.as_ref()))
                .unwrap_or_else(|| (Arc::from(report.name.as_ref()), PodState::default()));
            state.apply(report, &self.name, rules, names);
            pods.insert(name, state);
        }
        self.pods = next;
    }

    /// A failed scrape: hide the node and its pods until the next success.
    pub(crate) fn fail(&mut self) {
        self.failed = true;
    }

    /// What the snapshot serves for the node itself.
    pub(crate) fn outcome(&self) -> Result<&NodeUsage, MissingReason> {
        if self.failed {
            return Err(MissingReason::NodeFailed);
        }
        self.served.as_ref().map_err(|r| *r)
    }

    /// Number of pods this node reported in its latest good scrape.
    pub(crate) fn pod_count(&self) -> usize {
        self.pods.values().map(HashMap::len).sum()
    }
}
