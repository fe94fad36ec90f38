//! What the API handlers read: the published snapshot, the watched cluster objects, the
//! `--node-selector`, the self-metrics and the cached pod lists. Built once by the server;
//! the router (routes.rs) passes it to the handlers (resources.rs).

use std::sync::Arc;

use arc_swap::ArcSwap;

use super::list_cache::PodListCache;
use super::selector::LabelSelector;
use crate::cluster::ClusterCache;
use crate::store::Snapshot;
use crate::telemetry::Metrics;

/// What the API handlers read.
pub struct ApiContext {
    pub snapshot: Arc<ArcSwap<Snapshot>>,
    pub cluster: ClusterCache,
    /// `--node-selector`, ANDed into node lists (not into single-node GETs, as upstream).
    pub node_selector: LabelSelector,
    /// Self-metrics (the freshness of every item served).
    pub metrics: Arc<Metrics>,
    /// Pod lists encoded once per snapshot (lists without selectors: JSON or protobuf,
    /// plain or gzip).
    pub pod_lists: Arc<PodListCache>,
}
