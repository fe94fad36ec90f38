//! Builds a [`Snapshot`] from the per-node state. Usage was computed at apply time, so this is
//! gathering `Arc`s and one sort of the pod index.
//!
//! Cost, n = pods over all nodes: one `Vec` of n candidates borrowing their keys, an
//! O(n log n) sort, then a linear pass cloning the winners' keys and usages. No per-pod
//! allocation. The sort compares each pod's position at the previous publish (an integer,
//! kept in the pod's entry) and reads the names only for pods that publish did not place:
//! positions from one sorted list are in name order, so both compare alike.
//!
//! A pod reported by several nodes (spec §3.4 "Merging": upstream keeps the first seen) is
//! served once, never summed: reports from nodes whose scrape failed (or that are not
//! scraped) lose, then the report
//! with the newest container start time wins, then the newest sample, then the smaller node
//! name. When the winning report is not servable (a moved pod still waiting for its second
//! sample), the pod is not served: the older report belongs to a previous incarnation.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use arcstr::ArcStr;

use super::node::{NodeState, PodEntry, UNPUBLISHED};
use super::pod::{PodState, ReportRank};
use super::pod_index::PodIndex;
use super::reason::MissingReason;
use super::sample_times::SampleTimes;
use super::snapshot::Snapshot;
use crate::prefetch::{self, prefetch};
use crate::usage::{PodKey, PodUsage};

/// One node's report of one pod, competing to be served: 16 bytes, one per pod of every
/// node, alive while the previous snapshot still is. What only reports of the same pod are
/// compared by (the node's state and name, the report's rank) is read through the entry and
/// the node's position in [`Candidates::nodes`].
struct Candidate<'a> {
    /// The pod's position at the previous publish, or [`UNPUBLISHED`].
    published_at: u32,
    /// The reporting node's position in [`Candidates::nodes`].
    node: u32,
    entry: &'a PodEntry,
}

impl Candidate<'_> {
    fn pod(&self) -> &PodState {
        &self.entry.state
    }

    fn rank(&self) -> ReportRank {
        self.pod().report_rank()
    }

    /// (namespace, name) order, by previous positions when both pods have one.
    fn cmp_key(&self, other: &Self) -> Ordering {
        if self.published_at != UNPUBLISHED && other.published_at != UNPUBLISHED {
            return self.published_at.cmp(&other.published_at);
        }
        compare_keys(self.entry, other.entry)
    }

    fn key(&self) -> PodKey {
        PodKey {
            namespace: self.entry.namespace.clone(),
            name: self.entry.name.clone(),
        }
    }
}

/// Every node's reports of its pods, and the nodes they name by position.
struct Candidates<'a> {
    nodes: Vec<&'a NodeState>,
    reports: Vec<Candidate<'a>>,
}

/// Why the node of `report` (its position in [`Candidates::nodes`]) withholds all its pods
/// (failed, not scraped), if it does.
fn node_withheld(nodes: &[&NodeState], report: &Candidate<'_>) -> Option<MissingReason> {
    nodes.get(report.node as usize).and_then(|n| n.withheld())
}

/// Builds the snapshot with the given generation from nodes keyed (and so sorted) by name.
pub(crate) fn build(generation: u64, nodes: &BTreeMap<Arc<str>, NodeState>) -> Snapshot {
    let mut snap = Snapshot {
        generation,
        ..Snapshot::default()
    };
    for (name, node) in nodes {
        match node.outcome() {
            Ok(usage) => snap.nodes.push((name.clone(), usage.clone())),
            Err(reason) => snap.unservable_nodes.push((name.clone(), reason)),
        }
    }
    let mut all = gather_candidates(nodes);
    // Sized once: amortised doubling would leave up to half of the largest vector unused.
    snap.pods.reserve_exact(all.reports.len());
    let mut index = PodIndex::with_capacity(all.reports.len());
    sort_candidates(&mut all);
    let candidates = &all.reports;
    // Taken while each usage is at hand: a second pass would miss the cache once per pod.
    let mut sample_times = Vec::with_capacity(candidates.len());
    let same_pod = |a: &Candidate<'_>, b: &Candidate<'_>| a.cmp_key(b).is_eq();
    let mut seen = 0;
    for (position, reports) in candidates.chunk_by(same_pod).enumerate() {
        prefetch_ahead(candidates, seen);
        seen += reports.len();
        let Some(winner) = reports.first() else {
            continue;
        };
        let position = u32::try_from(position).unwrap_or(UNPUBLISHED);
        for report in reports {
            report.entry.published_at.store(position, Relaxed);
        }
        match winner_outcome(&all, winner) {
            Ok(usage) => {
                snap.servable_containers += usage.containers.len();
                sample_times.push(usage.timestamp);
                // Sized for every candidate, so it has room (and a pod it refused would still
                // be found by the snapshot's binary search).
                index.insert(winner.entry.key_hash, snap.pods.len());
                snap.pods.push((winner.key(), usage));
            }
            Err(reason) => snap.unservable_pods.push((winner.key(), reason)),
        }
    }
    snap.pods.shrink_to_fit();
    snap.unservable_pods.shrink_to_fit();
    snap.pod_sample_times = SampleTimes::new(sample_times);
    snap.pod_index = index;
    snap
}

/// Sorts by pod key, then each pod's reports best first.
///
/// The comparator is a total order only through invariants kept elsewhere: the positions of
/// the previous publish are in key order with one key per position (so comparing positions
/// agrees with comparing names), and a node reports a pod at most once (so no two reports
/// compare equal). Debug builds check both on the result.
fn sort_candidates(candidates: &mut Candidates<'_>) {
    let Candidates { nodes, reports } = candidates;
    // `then_with`: the tie-breakers (the node's state, the report's containers: elsewhere in
    // memory) are only read for reports of the same pod, not on every comparison.
    reports.sort_unstable_by(|a, b| {
        a.cmp_key(b)
            .then_with(|| {
                let withheld = |c: &Candidate<'_>| node_withheld(nodes, c).is_some();
                withheld(a).cmp(&withheld(b))
            })
            .then_with(|| b.rank().cmp(&a.rank()))
            // Nodes are in name order, so their positions compare as their names.
            .then_with(|| a.node.cmp(&b.node))
    });
    debug_assert!(
        in_key_order(reports),
        "publish order broken: previous positions disagree with pod names, or a node reported a pod twice"
    );
}

/// Whether sorted `candidates` are in (namespace, name) order, the position shortcut agrees
/// with the names for every neighbour, and two reports of one pod come from different nodes.
fn in_key_order(candidates: &[Candidate<'_>]) -> bool {
    candidates.windows(2).all(|pair| {
        let [a, b] = pair else {
            return true;
        };
        let by_name = compare_keys(a.entry, b.entry);
        by_name.is_le() && a.cmp_key(b) == by_name && (by_name.is_lt() || a.node != b.node)
    })
}

/// Asks for the entry of the candidate two strides ahead, and the name and usage of the one a
/// stride ahead (whose entry the previous call asked for): each pod's entry lies in its
/// node's vector, its name and usage in their own allocations, all in another order than the
/// sorted one.
fn prefetch_ahead(candidates: &[Candidate<'_>], at: usize) {
    if let Some(later) = candidates.get(at + 2 * prefetch::AHEAD) {
        prefetch(later.entry);
    }
    if let Some(next) = candidates.get(at + prefetch::AHEAD) {
        prefetch(&*next.entry.name);
        if let Ok(usage) = &next.entry.state.served {
            prefetch(&**usage);
        }
    }
}

fn gather_candidates(nodes: &BTreeMap<Arc<str>, NodeState>) -> Candidates<'_> {
    let total = nodes.values().map(NodeState::pod_count).sum();
    let mut reports = Vec::with_capacity(total);
    for (node, position) in nodes.values().zip(0u32..) {
        for entry in &node.pods {
            reports.push(Candidate {
                published_at: entry.published_at.load(Relaxed),
                node: position,
                entry,
            });
        }
    }
    Candidates {
        nodes: nodes.values().collect(),
        reports,
    }
}

/// `PodKey` order, short-cutting equal namespaces: they are interned, so equal means the same
/// allocation and the bytes need not be read (most comparisons in a sort are within one
/// namespace).
fn compare_keys(a: &PodEntry, b: &PodEntry) -> Ordering {
    let namespace = if ArcStr::ptr_eq(&a.namespace, &b.namespace) {
        Ordering::Equal
    } else {
        a.namespace.cmp(&b.namespace)
    };
    namespace.then_with(|| a.name.cmp(&b.name))
}

fn winner_outcome(
    all: &Candidates<'_>,
    winner: &Candidate<'_>,
) -> Result<Arc<PodUsage>, MissingReason> {
    if let Some(reason) = node_withheld(&all.nodes, winner) {
        return Err(reason);
    }
    winner.pod().served.clone()
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::super::pod_index::key_hash;
    use super::super::{Store, StoreConfig};
    use crate::batch::{ContainerBatch, MetricsPoint, NodeBatch, PodBatch};
    use crate::time::{NANOS_PER_SEC, Timestamp};

    /// `pods` pods named `p0…`, spread over three namespaces, sampled at `secs`.
    fn batch(secs: i64, pods: std::ops::Range<usize>) -> NodeBatch<'static> {
        let point = MetricsPoint {
            timestamp: Timestamp(secs * NANOS_PER_SEC),
            start_time: Some(Timestamp(0)),
            cpu_ns: u64::try_from(secs).unwrap_or(0) * 1_000_000,
            memory_bytes: 1 << 20,
        };
        NodeBatch {
            node: Some(point),
            pods: pods
                .map(|i| PodBatch {
                    namespace: Cow::Owned(format!("ns-{}", i % 3)),
                    name: Cow::Owned(format!("p{i}")),
                    containers: vec![ContainerBatch {
                        name: Cow::Borrowed("app"),
                        point,
                    }],
                    complete: true,
                })
                .collect(),
        }
    }

    #[test]
    fn every_served_pod_is_in_the_get_index_at_its_position() {
        let mut store = Store::new(StoreConfig::default());
        // Two scrapes make pods servable; n1 also reports some of n0's pods (duplicates are
        // served once); n2's pods have one sample only, so they are not served.
        for secs in [100, 115] {
            store.apply_node("n0", &batch(secs, 0..300));
            store.apply_node("n1", &batch(secs, 250..600));
        }
        store.apply_node("n2", &batch(115, 600..650));
        for snap in [store.publish(), store.publish()] {
            assert_eq!(snap.pods.len(), 600);
            for (position, (key, _)) in snap.pods.iter().enumerate() {
                let found = snap
                    .pod_index
                    .find(key_hash(&key.namespace, &key.name), |p| p == position);
                assert_eq!(found, Some(position), "{}/{}", key.namespace, key.name);
            }
            let probe = |ns: &str, name: &str| {
                snap.pod_index.find(key_hash(ns, name), |p| {
                    let (k, _) = &snap.pods[p];
                    *k.namespace == *ns && *k.name == *name
                })
            };
            assert!(probe("ns-1", "p1").is_some());
            assert_eq!(probe("ns-0", "p1"), None, "wrong namespace");
            assert_eq!(probe("ns-1", "p9999"), None);
        }
    }

    /// Pods added between and around published ones, pods gone, pods moved between nodes:
    /// the next publish still sorts by name, so lists stay sorted and gets find every pod.
    #[test]
    fn the_publish_order_stays_the_key_order_through_churn() {
        let mut store = Store::new(StoreConfig::default());
        for secs in [100, 115] {
            store.apply_node("n0", &batch(secs, 0..40));
            store.apply_node("n1", &batch(secs, 30..60));
        }
        store.publish();
        // New names sort between the published ones (p5 < p50 < p51 < p6); some pods go.
        for secs in [130, 145] {
            store.apply_node("n0", &batch(secs, 10..45));
            store.apply_node("n1", &batch(secs, 44..80));
            store.apply_node("n2", &batch(secs, 500..520));
        }
        let candidates = {
            let mut c = super::gather_candidates(&store.nodes);
            super::sort_candidates(&mut c);
            assert!(super::in_key_order(&c.reports));
            c.reports.len()
        };
        assert_eq!(candidates, 35 + 36 + 20);
        let snap = store.publish();
        let keys: Vec<(&str, &str)> = snap
            .pods
            .iter()
            .map(|(k, _)| (&*k.namespace, &*k.name))
            .collect();
        assert!(keys.windows(2).all(|w| w[0] < w[1]), "{keys:?}");
        assert_eq!(keys.len(), 70 + 20, "each pod once");
    }

    #[test]
    fn a_candidate_is_two_positions_and_a_pointer() {
        assert_eq!(std::mem::size_of::<super::Candidate<'_>>(), 16);
    }

    /// The check itself: positions that disagree with the names are caught.
    #[test]
    fn positions_that_disagree_with_the_names_are_caught() {
        use std::sync::atomic::Ordering::Relaxed;
        let mut store = Store::new(StoreConfig::default());
        for secs in [100, 115] {
            store.apply_node("n0", &batch(secs, 0..2));
        }
        store.publish();
        let pods = &store.nodes.values().next().unwrap().pods;
        let (first, second) = (&pods[0].published_at, &pods[1].published_at);
        let swapped = (second.load(Relaxed), first.load(Relaxed));
        first.store(swapped.0, Relaxed);
        second.store(swapped.1, Relaxed);
        let mut candidates = super::gather_candidates(&store.nodes);
        let sorted = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            super::sort_candidates(&mut candidates);
        }));
        assert!(!super::in_key_order(&candidates.reports));
        assert_eq!(
            sorted.is_err(),
            cfg!(debug_assertions),
            "debug builds assert"
        );
    }
}
