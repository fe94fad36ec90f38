//! The metric store: turns kubelet samples into servable usage (port of upstream
//! `pkg/storage`, spec §4) and publishes immutable snapshots for readers.
//!
//! One writer (the scrape loop) owns [`Store`], applies each node's scrape outcome with
//! [`Store::apply_node`] / [`Store::node_failed`], then calls [`Store::publish`]; the caller puts
//! the [`Snapshot`] behind an `Arc` in an `ArcSwap`, so readers never wait.
//!
//! Layout: `ring` (sample rotation, §4.3), `rate` (rate maths, §4.2), `series` (restart and
//! fresh-container rules, §4.3), `pod` and `node` (per-node state, usage computed at apply
//! time), `publish` (snapshot building and duplicate-pod resolution), `snapshot` (the reader
//! view, §4.4, §4.5), `pod_index` (the snapshot's gets by hash), `reason` (why something is
//! not served).
//!
//! Beyond upstream: data is kept per node, so one node's failure or success never touches
//! another's; a failed node keeps its samples and serves again after one good scrape; a pod
//! is only served with its complete container set; a pod reported by two nodes is served once.
//!
//! A sample the kubelet re-reports unchanged (same timestamp) is not stored twice: the existing
//! pair stays, so an item that was servable stays servable with the same window.
//!
//! Swap and ephemeral storage (`--extra-resources`) are kept beside all this (`extra`), only
//! when served.

mod extra;
#[cfg(test)]
mod extra_tests;
mod interner;
#[cfg(test)]
mod never_scraped_tests;
mod node;
mod pod;
mod pod_index;
mod publish;
mod rate;
mod reason;
mod ring;
mod sample_times;
mod series;
mod snapshot;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use crate::batch::{Decoded, NodeBatch};
use crate::time::NANOS_PER_SEC;
use crate::usage::ExtraResources;

pub use rate::{FRESH_CONTAINER_MIN_AGE_NS, MAX_CPU_NANOCORES};
pub use reason::MissingReason;
pub use sample_times::SampleTimes;
pub use snapshot::Snapshot;

use extra::{NodeExtra, SnapshotExtra};
use interner::Interner;
use node::NodeState;
use series::Rules;

/// Store settings.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct StoreConfig {
    /// Samples kept per node and per container (at least 2; default 3).
    pub ring_depth: usize,
    /// The scrape interval (`--metric-resolution`), bounding the fresh-container rule.
    pub metric_resolution_ns: i64,
    /// The resources served beyond CPU and memory (`--extra-resources`).
    pub extra_resources: ExtraResources,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            ring_depth: 3,
            metric_resolution_ns: 15 * NANOS_PER_SEC,
            extra_resources: ExtraResources::NONE,
        }
    }
}

/// The writer's state: every live node's samples and computed usage.
#[derive(Debug)]
pub struct Store {
    rules: Rules,
    nodes: BTreeMap<Arc<str>, NodeState>,
    /// The nodes of `nodes` whose pods come from the API ([`NodeState::pods_from_api`]),
    /// kept as their states change: the scraper asks for them after every batch of results,
    /// and a walk over every node each time cost O(nodes) per batch. Empty in a healthy
    /// cluster.
    pods_from_api: BTreeSet<Arc<str>>,
    names: Interner,
    generation: u64,
    extra_resources: ExtraResources,
    /// Each node's extra figures, when extra resources are served.
    extras: BTreeMap<Arc<str>, NodeExtra>,
}

impl Store {
    pub fn new(cfg: StoreConfig) -> Self {
        Store {
            rules: Rules {
                ring_depth: cfg.ring_depth.max(2),
                metric_resolution_ns: cfg.metric_resolution_ns,
            },
            nodes: BTreeMap::new(),
            pods_from_api: BTreeSet::new(),
            names: Interner::default(),
            generation: 0,
            extra_resources: cfg.extra_resources,
            extras: BTreeMap::new(),
        }
    }

    /// A node's scrape succeeded: merge its batch. Only this node's data changes; its pods
    /// absent from the batch are forgotten.
    pub fn apply_node(&mut self, node: &str, batch: &NodeBatch<'_>) {
        let state = node_entry(&mut self.nodes, &mut self.names, node);
        state.apply(batch, &self.rules, &mut self.names);
        track_pods_from_api(&mut self.pods_from_api, state);
    }

    /// A node's scrape succeeded and decoded to `decoded`: merges its batch, then withholds
    /// the node's own usage and the pods for which it carried invalid values
    /// ([`MissingReason::InvalidValue`]); every other pod of the node is served as usual.
    ///
    /// With extra resources served, the node's extra figures become those of
    /// `decoded.extra`; a figure it lacks is not served until a scrape has it again.
    pub fn apply_decoded(&mut self, node: &str, decoded: &Decoded<'_>) {
        let state = node_entry(&mut self.nodes, &mut self.names, node);
        state.apply(&decoded.batch, &self.rules, &mut self.names);
        track_pods_from_api(&mut self.pods_from_api, state);
        if !decoded.invalid.is_empty() {
            state.withhold_invalid(&decoded.invalid);
        }
        if self.extra_resources.any() {
            let name = state.name.clone();
            let figures = NodeExtra::of(&decoded.extra, self.extra_resources, &mut self.names);
            self.extras.insert(name, figures);
        }
    }

    /// A node's scrape failed: the node and its pods stop being served (reason
    /// [`MissingReason::NodeFailed`]) until its next successful apply. Their samples are kept,
    /// so that apply can serve again at once.
    pub fn node_failed(&mut self, node: &str) {
        let state = node_entry(&mut self.nodes, &mut self.names, node);
        state.fail();
        track_pods_from_api(&mut self.pods_from_api, state);
    }

    /// A node that is not scraped by design (a virtual node): it and its pods read
    /// [`MissingReason::NodeNotScraped`] until a scrape of it is applied or fails. True when
    /// the node was not marked so yet.
    pub fn node_skipped(&mut self, node: &str) -> bool {
        let state = node_entry(&mut self.nodes, &mut self.names, node);
        let newly = !state.skipped;
        state.skip();
        track_pods_from_api(&mut self.pods_from_api, state);
        newly
    }

    /// Nodes the store has no list of pods for but what [`Store::expect_pods`] gives it, each
    /// with whether it is skipped by design (else every scrape of it failed since the store
    /// first saw it).
    pub fn never_scraped_nodes(&self) -> impl Iterator<Item = (&Arc<str>, bool)> {
        self.pods_from_api
            .iter()
            .filter_map(|name| self.nodes.get_key_value(name))
            .map(|(name, state)| (name, state.skipped))
    }

    /// The pods the API places on `node`, a node whose scrapes all failed or that is not
    /// scraped: they are known to the store as that node's, so they read
    /// [`MissingReason::NodeFailed`] or [`MissingReason::NodeNotScraped`] rather than
    /// [`MissingReason::NotScrapedYet`]. Ignored (false) once the node has been scraped or
    /// when the store does not know it; the node's first good scrape replaces them.
    pub fn expect_pods<'p>(
        &mut self,
        node: &str,
        pods: impl Iterator<Item = (&'p str, &'p str)>,
    ) -> bool {
        match self.nodes.get_mut(node) {
            Some(state) if state.pods_from_api() => {
                state.expect_pods(pods, &mut self.names);
                true
            }
            _ => false,
        }
    }

    /// Forgets nodes for which `keep` is false, with all their pods.
    pub fn retain_nodes(&mut self, keep: impl Fn(&str) -> bool) {
        self.nodes.retain(|name, _| keep(name));
        self.pods_from_api.retain(|name| keep(name));
        self.extras.retain(|name, _| keep(name));
    }

    /// Builds the immutable view of the current state; the generation increases by 1 per call.
    pub fn publish(&mut self) -> Snapshot {
        self.generation += 1;
        self.names.purge_unused();
        let mut snapshot = publish::build(self.generation, &self.nodes);
        if self.extra_resources.any() {
            let figures = SnapshotExtra::of(&snapshot, &self.extras, self.extra_resources);
            snapshot.extra = Some(Box::new(figures));
        }
        snapshot
    }
}

/// Records in `set` whether the pods of `state`'s node come from the API, after a change of
/// its state. A no-op lookup in the usual case (the set is empty).
fn track_pods_from_api(set: &mut BTreeSet<Arc<str>>, state: &NodeState) {
    if state.pods_from_api() {
        if !set.contains(&state.name) {
            set.insert(state.name.clone());
        }
    } else if !set.is_empty() {
        set.remove(&state.name);
    }
}

/// The state of `node`, created (with an interned name) on first sight.
fn node_entry<'a>(
    nodes: &'a mut BTreeMap<Arc<str>, NodeState>,
    names: &mut Interner,
    node: &str,
) -> &'a mut NodeState {
    let name = match nodes.get_key_value(node) {
        Some((known, _)) => known.clone(),
        None => names.intern(node),
    };
    nodes
        .entry(name.clone())
        .or_insert_with(|| NodeState::new(name))
}
