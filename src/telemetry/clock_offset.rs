//! `metrics_rs_node_clock_offset_seconds{node}`: how far each kubelet's clock is ahead of ours
//! (negative: behind), and one log line per node when it goes past [`WARN_ABOVE_SECS`] and
//! one when it comes back.
//!
//! The offset is the newest sample time in the node's latest response (its clock) minus when
//! that response arrived (ours). A kubelet serves samples it took earlier (cadvisor's
//! housekeeping, up to 10-15 s), so a negative offset up to that interval is normal; a node
//! ahead of us, or far behind, has a skewed clock, and its usage is served with its times.
//! Summary API times are whole seconds, so that source reads within about a second.
//!
//! Recorded once per node per scrape without allocating: each node's gauge handle is made
//! when the node is first seen and kept until it leaves.

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, PoisonError};

use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::node_label::NodeLabel;

/// Past this many seconds either way, a node's clock is logged as skewed.
pub const WARN_ABOVE_SECS: f64 = 30.0;
/// A skewed node is logged as back once under this many seconds (a few seconds below the
/// warning, so an offset wavering around it does not log every cycle).
pub const CLEAR_BELOW_SECS: f64 = 25.0;

type SecondsGauge = Gauge<f64, AtomicU64>;

/// What one recording changed about a node's skew.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Crossing {
    Unchanged,
    /// The offset went past [`WARN_ABOVE_SECS`].
    Skewed,
    /// The offset of a skewed node came back under [`CLEAR_BELOW_SECS`].
    Recovered,
}

/// Whether a node is skewed after an offset of `offset_secs`, and what changed.
fn cross(skewed: bool, offset_secs: f64) -> (bool, Crossing) {
    let size = offset_secs.abs();
    match skewed {
        false if size > WARN_ABOVE_SECS => (true, Crossing::Skewed),
        true if size < CLEAR_BELOW_SECS => (false, Crossing::Recovered),
        _ => (skewed, Crossing::Unchanged),
    }
}

struct NodeClock {
    gauge: SecondsGauge,
    skewed: bool,
}

/// The family and each known node's handle into it.
pub(super) struct ClockOffsets {
    family: Family<NodeLabel, SecondsGauge>,
    nodes: Mutex<HashMap<Arc<str>, NodeClock>>,
}

impl ClockOffsets {
    pub(super) fn register(registry: &mut Registry) -> Self {
        let family = Family::<NodeLabel, SecondsGauge>::default();
        registry.register(
            "metrics_rs_node_clock_offset_seconds",
            "How far each node's kubelet clock is ahead of ours (negative: behind): the newest \
             sample time of its latest response minus when the response arrived. Down to \
             minus the kubelet's housekeeping interval (10-15 s) is normal",
            family.clone(),
        );
        ClockOffsets {
            family,
            nodes: Mutex::new(HashMap::new()),
        }
    }

    /// Sets the node's offset; says whether it just became skewed or recovered.
    pub(super) fn record(&self, node: &Arc<str>, offset_secs: f64) -> Crossing {
        let mut nodes = self.nodes.lock().unwrap_or_else(PoisonError::into_inner);
        let clock = match nodes.get_mut(&**node) {
            Some(clock) => clock,
            None => nodes.entry(node.clone()).or_insert_with(|| NodeClock {
                gauge: self.family.get_or_create(&NodeLabel(node.clone())).clone(),
                skewed: false,
            }),
        };
        clock.gauge.set(offset_secs);
        let (skewed, crossing) = cross(clock.skewed, offset_secs);
        clock.skewed = skewed;
        crossing
    }

    /// Drops the series of the nodes not in `live`.
    pub(super) fn retain(&self, live: &dyn Fn(&str) -> bool) {
        let mut nodes = self.nodes.lock().unwrap_or_else(PoisonError::into_inner);
        nodes.retain(|node, _| {
            let keep = live(node);
            if !keep {
                self.family.remove(&NodeLabel(node.clone()));
            }
            keep
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_skew_is_reported_once_when_it_starts_and_once_when_it_ends() {
        let offsets = [
            0.2, -12.0, 3_600.0, 3_599.5, 31.0, 27.0, 24.0, 0.1, -40.0, -41.0,
        ];
        let mut skewed = false;
        let crossings: Vec<Crossing> = offsets
            .iter()
            .map(|&offset| {
                let (now, crossing) = cross(skewed, offset);
                skewed = now;
                crossing
            })
            .filter(|c| *c != Crossing::Unchanged)
            .collect();
        assert_eq!(
            crossings,
            [Crossing::Skewed, Crossing::Recovered, Crossing::Skewed]
        );
    }

    #[test]
    fn a_housekeeping_delay_is_not_a_skew() {
        assert_eq!(cross(false, -15.0), (false, Crossing::Unchanged));
        assert_eq!(cross(false, 30.0), (false, Crossing::Unchanged));
        assert_eq!(cross(false, 30.5), (true, Crossing::Skewed));
    }

    #[test]
    fn nodes_that_leave_lose_their_series() {
        let mut registry = Registry::default();
        let offsets = ClockOffsets::register(&mut registry);
        assert_eq!(offsets.record(&"a".into(), 3_600.0), Crossing::Skewed);
        assert_eq!(offsets.record(&"a".into(), 3_601.0), Crossing::Unchanged);
        assert_eq!(offsets.record(&"b".into(), -0.5), Crossing::Unchanged);
        offsets.retain(&|node| node == "b");
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        assert!(
            text.contains("metrics_rs_node_clock_offset_seconds{node=\"b\"} -0.5"),
            "{text}"
        );
        assert!(!text.contains("node=\"a\""), "{text}");
        assert_eq!(
            offsets.record(&"a".into(), 3_600.0),
            Crossing::Skewed,
            "a node that comes back starts over"
        );
    }
}
