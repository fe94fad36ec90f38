//! Each node's place in the scrape schedule (see `scraper::backoff`):
//! `metrics_rs_node_consecutive_scrape_failures{node}`, its failed scrapes since its last
//! success, and `metrics_rs_node_scrape_backoff_seconds{node}`, how long it waits between
//! retries (0 while it is scraped every cycle). Alert on the second above 0: the node failed
//! 3 cycles in a row and is retried less and less often.
//!
//! Recorded once per scraped node per cycle without allocating: each node's handles are made
//! when the node is first seen and kept until it leaves.

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::node_label::NodeLabel;

type SecondsGauge = Gauge<f64, AtomicU64>;

struct Handles {
    failures: Gauge,
    wait: SecondsGauge,
}

/// The two families and each known node's handles into them.
pub(super) struct NodeBackoffs {
    failures: Family<NodeLabel, Gauge>,
    wait: Family<NodeLabel, SecondsGauge>,
    nodes: Mutex<HashMap<Arc<str>, Handles>>,
}

impl NodeBackoffs {
    pub(super) fn register(registry: &mut Registry) -> Self {
        let failures = Family::<NodeLabel, Gauge>::default();
        registry.register(
            "metrics_rs_node_consecutive_scrape_failures",
            "Failed scrapes of each node since its last successful one",
            failures.clone(),
        );
        let wait = Family::<NodeLabel, SecondsGauge>::default();
        registry.register(
            "metrics_rs_node_scrape_backoff_seconds",
            "How long each node waits between scrape retries: 0 while it is scraped every \
             cycle, twice the resolution and more (doubling, at most --kubelet-max-backoff) \
             once it failed 3 cycles in a row",
            wait.clone(),
        );
        NodeBackoffs {
            failures,
            wait,
            nodes: Mutex::new(HashMap::new()),
        }
    }

    /// Sets the node's failures in a row and its wait between retries.
    pub(super) fn record(&self, node: &Arc<str>, failures: u32, wait: Duration) {
        let mut nodes = self.nodes.lock().unwrap_or_else(PoisonError::into_inner);
        let handles = match nodes.get_mut(&**node) {
            Some(handles) => handles,
            None => nodes.entry(node.clone()).or_insert_with(|| {
                let node_label = NodeLabel(node.clone());
                Handles {
                    failures: self.failures.get_or_create(&node_label).clone(),
                    wait: self.wait.get_or_create(&node_label).clone(),
                }
            }),
        };
        handles.failures.set(i64::from(failures));
        handles.wait.set(wait.as_secs_f64());
    }

    /// Drops the series of the nodes not in `live`.
    pub(super) fn retain(&self, live: &dyn Fn(&str) -> bool) {
        let mut nodes = self.nodes.lock().unwrap_or_else(PoisonError::into_inner);
        nodes.retain(|node, _| {
            let keep = live(node);
            if !keep {
                let node_label = NodeLabel(node.clone());
                self.failures.remove(&node_label);
                self.wait.remove(&node_label);
            }
            keep
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(registry: &Registry) -> String {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, registry).unwrap_or_default();
        text
    }

    #[test]
    fn each_node_shows_its_failures_and_wait_until_it_leaves() {
        let mut registry = Registry::default();
        let backoffs = NodeBackoffs::register(&mut registry);
        backoffs.record(&"dead".into(), 4, Duration::from_secs(60));
        backoffs.record(&"up".into(), 0, Duration::ZERO);
        let shown = text(&registry);
        for series in [
            "metrics_rs_node_consecutive_scrape_failures{node=\"dead\"} 4",
            "metrics_rs_node_scrape_backoff_seconds{node=\"dead\"} 60.0",
            "metrics_rs_node_consecutive_scrape_failures{node=\"up\"} 0",
            "metrics_rs_node_scrape_backoff_seconds{node=\"up\"} 0.0",
        ] {
            assert!(shown.contains(series), "{series} in:\n{shown}");
        }
        backoffs.record(&"dead".into(), 0, Duration::ZERO);
        backoffs.retain(&|node| node == "dead");
        let shown = text(&registry);
        assert!(
            shown.contains("metrics_rs_node_scrape_backoff_seconds{node=\"dead\"} 0.0"),
            "{shown}"
        );
        assert!(!shown.contains("node=\"up\""), "{shown}");
    }
}
