//! Coverage self-metrics: how many of the nodes and Running pods the cluster has are served,
//! and why the others are not (the store's [`MissingReason`]). Computed from the current
//! snapshot and the watched cluster objects when `/metrics` is scraped.

use std::collections::BTreeMap;

use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::store::{MissingReason, Snapshot};

/// Every reason an item can lack metrics, in a stable order (all are always exported, so a
/// reason that drops to zero reads 0 rather than vanishing).
pub const REASONS: [MissingReason; 8] = [
    MissingReason::NotScrapedYet,
    MissingReason::WaitingSecondSample,
    MissingReason::NodeFailed,
    MissingReason::NodeNotScraped,
    MissingReason::IncompleteContainers,
    MissingReason::RateError,
    MissingReason::MissingSample,
    MissingReason::InvalidValue,
];

type Labels = Vec<(&'static str, &'static str)>;

/// Known vs served counts and the unserved ones by reason, for one kind of item.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Coverage {
    pub known: usize,
    pub served: usize,
    /// Indexed like [`REASONS`].
    pub missing: [usize; REASONS.len()],
}

impl Coverage {
    fn count(reasons: impl Iterator<Item = MissingReason>) -> Self {
        let mut c = Coverage::default();
        for reason in reasons {
            c.known += 1;
            match REASONS.iter().position(|r| *r == reason) {
                Some(i) => c.missing[i] += 1,
                None => c.served += 1,
            }
        }
        c
    }

    /// Nodes: `known` are the names selected for scraping.
    pub fn nodes<'a>(snapshot: &Snapshot, known: impl Iterator<Item = &'a str>) -> Self {
        Coverage::count(known.map(|name| snapshot.node_missing_reason(name)))
    }

    /// Pods: `known` are the Running pods' (namespace, name).
    pub fn pods<'a>(snapshot: &Snapshot, known: impl Iterator<Item = (&'a str, &'a str)>) -> Self {
        Coverage::count(known.map(|(ns, name)| snapshot.pod_missing_reason(ns, name)))
    }
}

/// The registered coverage families.
pub struct CoverageGauges {
    items: Family<Labels, Gauge>,
    missing: Family<Labels, Gauge>,
}

impl CoverageGauges {
    pub(crate) fn register(registry: &mut Registry) -> Self {
        let items = Family::<Labels, Gauge>::default();
        registry.register(
            "metrics_rs_items",
            "Nodes and Running pods the cluster has (state=known) and those served with \
             metrics (state=served)",
            items.clone(),
        );
        let missing = Family::<Labels, Gauge>::default();
        registry.register(
            "metrics_rs_items_without_metrics",
            "Known nodes and Running pods without servable metrics, by reason",
            missing.clone(),
        );
        CoverageGauges { items, missing }
    }

    /// Sets the gauges of `kind` (`node` or `pod`).
    pub fn set(&self, kind: &'static str, c: &Coverage) {
        for (state, n) in [("known", c.known), ("served", c.served)] {
            self.items
                .get_or_create(&vec![("kind", kind), ("state", state)])
                .set(to_i64(n));
        }
        for (reason, n) in REASONS.iter().zip(c.missing) {
            self.missing
                .get_or_create(&vec![("kind", kind), ("reason", reason.as_str())])
                .set(to_i64(n));
        }
    }
}

fn to_i64(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Refreshes the coverage gauges from `snapshot` and the watched cluster: the nodes whose
/// labels `selects_node` accepts (`--node-selector`), and every Running pod.
pub fn refresh(
    gauges: &CoverageGauges,
    snapshot: &Snapshot,
    cluster: &crate::cluster::ClusterCache,
    selects_node: impl Fn(&BTreeMap<String, String>) -> bool,
) {
    let nodes = cluster.nodes();
    let selected = nodes
        .iter()
        .filter(|n| selects_node(&n.labels))
        .map(|n| &*n.name);
    gauges.set("node", &Coverage::nodes(snapshot, selected));
    let pods = cluster.pods(None);
    let known = pods.iter().map(|p| (p.namespace(), p.name()));
    gauges.set("pod", &Coverage::pods(snapshot, known));
}
