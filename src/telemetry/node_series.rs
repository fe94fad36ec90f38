//! The per-node series (`metrics_server_kubelet_request_duration_seconds`,
//! `metrics_server_kubelet_last_request_time_seconds`, `metrics_rs_node_scrape_result`),
//! recorded once per node per cycle without allocating: each node's handles into the families
//! are made once, when the node is first seen, and kept until it leaves.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;

use super::duration_histogram::DurationHistogram;
use super::node_label::{NodeLabel, NodeResult};
use super::{DurationFamily, Labels, label};
use crate::time::Timestamp;

/// One node's handles, and the result label its `metrics_rs_node_scrape_result` series has.
struct Handles {
    duration: DurationHistogram,
    last_request_time: Gauge,
    result: &'static str,
    result_gauge: Gauge,
}

/// The families holding per-node series, and each known node's handles into them.
pub(super) struct NodeSeries {
    pub(super) request_duration: DurationFamily,
    pub(super) last_request_time: Family<NodeLabel, Gauge>,
    pub(super) scrape_result: Family<NodeResult, Gauge>,
    pub(super) request_total: Family<Labels, Counter>,
    pub(super) scrape_failures: Family<Labels, Counter>,
    nodes: Mutex<HashMap<Arc<str>, Handles>>,
    /// `success="true"` and `success="false"`, created when first counted (as upstream's).
    requests: [OnceLock<Counter>; 2],
    /// Failure counters by reason, created when first counted.
    failures: Mutex<HashMap<&'static str, Counter>>,
}

impl NodeSeries {
    pub(super) fn new(
        request_duration: DurationFamily,
        last_request_time: Family<NodeLabel, Gauge>,
        scrape_result: Family<NodeResult, Gauge>,
        request_total: Family<Labels, Counter>,
        scrape_failures: Family<Labels, Counter>,
    ) -> Self {
        NodeSeries {
            request_duration,
            last_request_time,
            scrape_result,
            request_total,
            scrape_failures,
            nodes: Mutex::new(HashMap::new()),
            requests: [OnceLock::new(), OnceLock::new()],
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// One node's scrape: how long it took, and `Ok` or the failure reason.
    pub(super) fn record(&self, node: &Arc<str>, took: Duration, result: Result<(), &'static str>) {
        self.count_request(result);
        let reason = result.err().unwrap_or(super::SCRAPE_OK);
        let mut nodes = self.nodes.lock().unwrap_or_else(PoisonError::into_inner);
        let handles = match nodes.get_mut(&**node) {
            Some(handles) => handles,
            None => nodes
                .entry(node.clone())
                .or_insert_with(|| self.handles_of(node, reason)),
        };
        handles.duration.observe(took.as_secs_f64());
        handles.last_request_time.set(Timestamp::now().secs());
        if handles.result != reason {
            self.scrape_result
                .remove(&result_labels(node, handles.result));
            handles.result = reason;
            handles.result_gauge = self.result_gauge(node, reason);
        }
    }

    fn count_request(&self, result: Result<(), &'static str>) {
        let (slot, success) = match result {
            Ok(()) => (&self.requests[0], "true"),
            Err(_) => (&self.requests[1], "false"),
        };
        slot.get_or_init(|| {
            self.request_total
                .get_or_create(&label("success", success))
                .clone()
        })
        .inc();
        if let Err(reason) = result {
            let mut failures = self.failures.lock().unwrap_or_else(PoisonError::into_inner);
            failures
                .entry(reason)
                .or_insert_with(|| {
                    self.scrape_failures
                        .get_or_create(&label("reason", reason))
                        .clone()
                })
                .inc();
        }
    }

    fn handles_of(&self, node: &Arc<str>, result: &'static str) -> Handles {
        let node_label = NodeLabel(node.clone());
        Handles {
            duration: self.request_duration.get_or_create(&node_label).clone(),
            last_request_time: self.last_request_time.get_or_create(&node_label).clone(),
            result,
            result_gauge: self.result_gauge(node, result),
        }
    }

    fn result_gauge(&self, node: &Arc<str>, result: &'static str) -> Gauge {
        let gauge = self
            .scrape_result
            .get_or_create(&result_labels(node, result))
            .clone();
        gauge.set(1);
        gauge
    }

    /// Drops the series of the nodes not in `live`.
    pub(super) fn retain(&self, live: &dyn Fn(&str) -> bool) {
        let mut nodes = self.nodes.lock().unwrap_or_else(PoisonError::into_inner);
        nodes.retain(|node, handles| {
            if live(node) {
                return true;
            }
            let node_label = NodeLabel(node.clone());
            self.request_duration.remove(&node_label);
            self.last_request_time.remove(&node_label);
            self.scrape_result
                .remove(&result_labels(node, handles.result));
            false
        });
    }
}

fn result_labels(node: &Arc<str>, result: &'static str) -> NodeResult {
    NodeResult {
        node: node.clone(),
        result,
    }
}
