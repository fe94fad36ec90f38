//! Nodes that keep failing are retried less often: after [`FAILURES_BEFORE_BACKOFF`] failed
//! scrapes in a row a node is asked again only after a wait of twice `--metric-resolution`,
//! doubling after each failed retry, at most `--kubelet-max-backoff` (never less than one
//! resolution). Its first successful retry puts it back on every cycle.
//!
//! Upstream asks every node every cycle: a dead kubelet costs a request, a timeout and a log
//! line per cycle for as long as the node object exists. Here it costs one line when it enters
//! back-off and one when it leaves.
//!
//! Waits are counted from the start of the cycle that asked, and a retry is due in the first
//! cycle starting at most half a resolution before its time: cycles start a resolution
//! apart, so a wait of `k` resolutions skips `k - 1` cycles. A node whose scrape target (its
//! addresses, kubelet port or metrics path) changes is retried at once; a node that leaves the
//! cluster (or the `--node-selector`) is forgotten.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::cluster::NodeInfo;

/// Failed scrapes in a row after which a node is retried less often.
pub const FAILURES_BEFORE_BACKOFF: u32 = 3;

/// When the scrapes of failing nodes are due.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BackoffPolicy {
    /// The cycle interval, `--metric-resolution`.
    pub resolution: Duration,
    /// The longest wait, `--kubelet-max-backoff`; zero: no back-off.
    pub max_wait: Duration,
}

impl BackoffPolicy {
    /// The wait before the `retry`-th retry (1 for the first): twice the resolution, doubling
    /// from one retry to the next, at most [`Self::max_wait`] but never under a resolution.
    pub fn wait(&self, retry: u32) -> Duration {
        let cap = self.max_wait.max(self.resolution);
        let factor = 2u32.saturating_pow(retry.max(1));
        self.resolution.saturating_mul(factor).min(cap)
    }

    fn enabled(&self) -> bool {
        !self.max_wait.is_zero()
    }
}

/// A node in back-off: when it is retried next.
#[derive(Clone, Copy, Debug)]
struct Retry {
    /// Failed retries since the node entered back-off.
    retries: u32,
    wait: Duration,
    due: Instant,
}

/// One node's run of failed scrapes.
#[derive(Debug)]
struct Failing {
    failures: u32,
    /// Start of the cycle that asked for the first failed scrape of the run.
    since: Instant,
    /// Set while the node is in back-off.
    retry: Option<Retry>,
    /// Hash of the scrape target the last failure was asked at.
    target: u64,
}

/// What a failed scrape did to its node's schedule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failed {
    /// Fewer failures in a row than [`FAILURES_BEFORE_BACKOFF`] (or back-off is off): the node
    /// is scraped next cycle as usual.
    Counting { failures: u32 },
    /// This failure put the node in back-off; it is retried after `wait`.
    Entered { failures: u32, wait: Duration },
    /// A retry of a node in back-off failed; the next one comes after `wait`.
    StillFailing { failures: u32, wait: Duration },
}

/// A node that was in back-off was scraped successfully.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Recovered {
    /// Failed scrapes in the run that ended.
    pub failures: u32,
    /// From the first failed scrape's cycle to the success.
    pub failing_for: Duration,
}

/// Every failing node's schedule; nodes that succeed are not held.
#[derive(Debug)]
pub struct NodeBackoff {
    policy: BackoffPolicy,
    nodes: HashMap<Arc<str>, Failing>,
}

impl NodeBackoff {
    pub fn new(policy: BackoffPolicy) -> Self {
        NodeBackoff {
            policy,
            nodes: HashMap::new(),
        }
    }

    /// Whether `node` is scraped in the cycle that starts at `cycle_start`: it is not in
    /// back-off, its retry is due, or its scrape target changed since it last failed.
    pub fn due(&self, node: &NodeInfo, cycle_start: Instant) -> bool {
        // No node failing (the usual case): due without reading the node's name.
        if self.nodes.is_empty() {
            return true;
        }
        let Some(failing) = self.nodes.get(&*node.name) else {
            return true;
        };
        match failing.retry {
            None => true,
            Some(retry) => {
                cycle_start + self.policy.resolution / 2 >= retry.due
                    || failing.target != target_of(node)
            }
        }
    }

    /// A scrape of `node` asked in the cycle that started at `cycle_start` failed.
    pub fn failed(&mut self, node: &NodeInfo, cycle_start: Instant) -> Failed {
        let policy = self.policy;
        let failing = self.nodes.entry(node.name.clone()).or_insert(Failing {
            failures: 0,
            since: cycle_start,
            retry: None,
            target: 0,
        });
        failing.failures = failing.failures.saturating_add(1);
        failing.target = target_of(node);
        let failures = failing.failures;
        if !policy.enabled() {
            return Failed::Counting { failures };
        }
        match &mut failing.retry {
            Some(retry) => {
                retry.retries = retry.retries.saturating_add(1);
                retry.wait = policy.wait(retry.retries + 1);
                retry.due = cycle_start + retry.wait;
                Failed::StillFailing {
                    failures,
                    wait: retry.wait,
                }
            }
            None if failures >= FAILURES_BEFORE_BACKOFF => {
                let wait = policy.wait(1);
                failing.retry = Some(Retry {
                    retries: 0,
                    wait,
                    due: cycle_start + wait,
                });
                Failed::Entered { failures, wait }
            }
            None => Failed::Counting { failures },
        }
    }

    /// A scrape of `node` succeeded at `now`: it is scraped every cycle again. Says how long
    /// it failed when it was in back-off.
    pub fn succeeded(&mut self, node: &str, now: Instant) -> Option<Recovered> {
        let failing = self.nodes.remove(node)?;
        failing.retry.map(|_| Recovered {
            failures: failing.failures,
            failing_for: now.saturating_duration_since(failing.since),
        })
    }

    /// Forgets the nodes for which `keep` is false (deleted, deselected, or not scraped).
    pub fn retain(&mut self, keep: impl Fn(&str) -> bool) {
        self.nodes.retain(|name, _| keep(name));
    }

    /// `node`'s failed scrapes in a row and its wait between retries (zero while it is
    /// scraped every cycle).
    pub fn state(&self, node: &str) -> (u32, Duration) {
        match self.nodes.get(node) {
            Some(failing) => (
                failing.failures,
                failing.retry.map_or(Duration::ZERO, |r| r.wait),
            ),
            None => (0, Duration::ZERO),
        }
    }

    /// Nodes in back-off now.
    pub fn backing_off(&self) -> usize {
        self.nodes.values().filter(|f| f.retry.is_some()).count()
    }
}

/// A hash of where `node` is scraped: its addresses, kubelet port and metrics path.
fn target_of(node: &NodeInfo) -> u64 {
    let mut hasher = DefaultHasher::new();
    node.addresses.hash(&mut hasher);
    node.kubelet_port.hash(&mut hasher);
    node.metrics_path.hash(&mut hasher);
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    const RES: Duration = Duration::from_secs(15);

    fn node(name: &str, ip: &str) -> NodeInfo {
        NodeInfo {
            name: Arc::from(name),
            addresses: vec![("InternalIP".into(), ip.into())],
            kubelet_port: Some(10250),
            metrics_path: None,
            labels: Default::default(),
            virtual_kind: None,
        }
    }

    fn policy(max_wait: Duration) -> BackoffPolicy {
        BackoffPolicy {
            resolution: RES,
            max_wait,
        }
    }

    /// Runs `cycles` cycles a resolution apart (the first at `t0`, each starting up to 40 ms
    /// late, as a ticker does), the node failing every time it is asked; returns the cycles
    /// it was asked in.
    fn asked_in(backoff: &mut NodeBackoff, n: &NodeInfo, t0: Instant, cycles: u32) -> Vec<u32> {
        let mut asked = Vec::new();
        for cycle in 0..cycles {
            let start = t0 + RES * cycle + Duration::from_millis(u64::from(cycle % 5) * 10);
            if backoff.due(n, start) {
                asked.push(cycle);
                backoff.failed(n, start);
            }
        }
        asked
    }

    #[test]
    fn waits_double_from_two_resolutions_up_to_the_cap() {
        let p = policy(Duration::from_secs(300));
        let waits: Vec<u64> = (1..=7).map(|r| p.wait(r).as_secs()).collect();
        assert_eq!(waits, [30, 60, 120, 240, 300, 300, 300]);
        assert_eq!(p.wait(u32::MAX), Duration::from_secs(300), "no overflow");
        // A cap under the resolution still waits one resolution: every cycle.
        assert_eq!(policy(Duration::from_secs(5)).wait(3), RES);
    }

    #[test]
    fn a_dead_node_is_asked_three_cycles_in_a_row_then_less_and_less_often() {
        let mut backoff = NodeBackoff::new(policy(Duration::from_secs(300)));
        let n = node("dead", "10.0.0.1");
        let asked = asked_in(&mut backoff, &n, Instant::now(), 80);
        // Cycles 0-2 fail; then waits of 2, 4, 8, 16 cycles, then 20 (5 minutes).
        assert_eq!(asked, [0, 1, 2, 4, 8, 16, 32, 52, 72]);
        assert_eq!(backoff.state("dead"), (9, Duration::from_secs(300)));
        assert_eq!(backoff.backing_off(), 1);
    }

    #[test]
    fn entering_is_reported_once_then_each_failed_retry_with_its_next_wait() {
        let mut backoff = NodeBackoff::new(policy(Duration::from_secs(300)));
        let n = node("dead", "10.0.0.1");
        let t0 = Instant::now();
        let results: Vec<Failed> = (0..5).map(|i| backoff.failed(&n, t0 + RES * i)).collect();
        assert_eq!(
            results,
            [
                Failed::Counting { failures: 1 },
                Failed::Counting { failures: 2 },
                Failed::Entered {
                    failures: 3,
                    wait: RES * 2
                },
                Failed::StillFailing {
                    failures: 4,
                    wait: RES * 4
                },
                Failed::StillFailing {
                    failures: 5,
                    wait: RES * 8
                },
            ]
        );
    }

    #[test]
    fn a_success_puts_the_node_back_on_every_cycle() {
        let mut backoff = NodeBackoff::new(policy(Duration::from_secs(300)));
        let n = node("flaky", "10.0.0.1");
        let t0 = Instant::now();
        for i in 0..4 {
            backoff.failed(&n, t0 + RES * i);
        }
        assert!(!backoff.due(&n, t0 + RES * 4), "waiting for its retry");
        let back = backoff.succeeded("flaky", t0 + RES * 7);
        assert_eq!(
            back,
            Some(Recovered {
                failures: 4,
                failing_for: RES * 7
            })
        );
        assert!(backoff.due(&n, t0 + RES * 8));
        assert_eq!(backoff.state("flaky"), (0, Duration::ZERO));
        // Failures start over: three more before the next back-off.
        assert_eq!(
            backoff.failed(&n, t0 + RES * 8),
            Failed::Counting { failures: 1 }
        );
    }

    #[test]
    fn a_success_before_back_off_is_not_reported() {
        let mut backoff = NodeBackoff::new(policy(Duration::from_secs(300)));
        let n = node("blip", "10.0.0.1");
        let t0 = Instant::now();
        backoff.failed(&n, t0);
        backoff.failed(&n, t0 + RES);
        assert_eq!(backoff.succeeded("blip", t0 + RES * 2), None);
        assert_eq!(backoff.succeeded("never-failed", t0), None);
    }

    #[test]
    fn a_deleted_node_forgets_its_back_off() {
        let mut backoff = NodeBackoff::new(policy(Duration::from_secs(300)));
        let n = node("gone", "10.0.0.1");
        let t0 = Instant::now();
        for i in 0..3 {
            backoff.failed(&n, t0 + RES * i);
        }
        assert!(!backoff.due(&n, t0 + RES * 3));
        backoff.retain(|name| name != "gone");
        assert_eq!(backoff.backing_off(), 0);
        // A node of that name created again is scraped at once, and counts from zero.
        assert!(backoff.due(&n, t0 + RES * 3));
        assert_eq!(
            backoff.failed(&n, t0 + RES * 3),
            Failed::Counting { failures: 1 }
        );
    }

    #[test]
    fn a_node_whose_kubelet_moved_is_retried_at_once() {
        let mut backoff = NodeBackoff::new(policy(Duration::from_secs(300)));
        let old = node("moved", "10.0.0.1");
        let t0 = Instant::now();
        for i in 0..3 {
            backoff.failed(&old, t0 + RES * i);
        }
        assert!(!backoff.due(&old, t0 + RES * 3));
        let new = node("moved", "10.0.0.2");
        assert!(backoff.due(&new, t0 + RES * 3));
    }

    #[test]
    fn a_zero_cap_turns_back_off_off() {
        let mut backoff = NodeBackoff::new(policy(Duration::ZERO));
        let n = node("dead", "10.0.0.1");
        let asked = asked_in(&mut backoff, &n, Instant::now(), 10);
        assert_eq!(asked, (0..10).collect::<Vec<_>>());
        assert_eq!(backoff.state("dead"), (10, Duration::ZERO));
        assert_eq!(backoff.backing_off(), 0);
    }
}
