//! The pods of nodes that were never scraped successfully, and of virtual nodes that are not
//! scraped at all, listed from the API beside the scrape cycle, so those pods read
//! `node_failed` (their node's failure) or `node_not_scraped` rather than `not_scraped_yet`.
//!
//! Bounded: at most one list per node per `--metric-resolution` (per
//! [`SKIPPED_LIST_INTERVAL`] for virtual nodes, which never fail and whose pods come and go
//! slowly; EKS Fargate has one node per pod), at most
//! [`MAX_LISTS_IN_FLIGHT`] at once (other nodes wait for a later cycle), each within a timeout
//! and [`crate::cluster::MAX_PODS_PER_LIST`] pods. The cycle never waits for a list: it asks
//! for the due ones and takes the finished ones ([`FailedNodePods::take_finished`]), which
//! the writer hands to the store. A node that succeeds or leaves is forgotten. A failed list
//! is logged once per node (until the node is forgotten) and changes nothing.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::cluster::{NodePodLister, NodePodsError, PodName};

/// Most node pod lists running at once.
pub(crate) const MAX_LISTS_IN_FLIGHT: usize = 8;
/// Longest a list may take (shorter when the resolution is).
const LIST_TIMEOUT: Duration = Duration::from_secs(10);
/// Least time between two lists of a virtual node's pods (or the resolution, when longer): a
/// pod new on a virtual node reads `not_scraped_yet` until then.
pub(crate) const SKIPPED_LIST_INTERVAL: Duration = Duration::from_secs(60);

/// What the schedule knows of one never-scraped node.
#[derive(Debug)]
struct NodeLists {
    /// When its latest list was started.
    asked: Instant,
    in_flight: bool,
    /// A failure of its lists was logged.
    error_logged: bool,
}

/// Which nodes to list when: the bounds, without the lists themselves.
#[derive(Debug)]
pub(crate) struct ListSchedule {
    nodes: HashMap<Arc<str>, NodeLists>,
    interval: Duration,
}

impl ListSchedule {
    pub(crate) fn new(interval: Duration) -> Self {
        ListSchedule {
            nodes: HashMap::new(),
            interval,
        }
    }

    /// Forgets every node but `never_scraped` (each with whether it is a virtual node that is
    /// not scraped), then returns those due for a list at `now` (never listed, or last asked
    /// at least one interval ago, and not in flight), marked as asked: no more than the slots
    /// that neither this schedule's lists nor the `running` ones (lists of forgotten nodes
    /// included) take.
    pub(crate) fn due<'a>(
        &mut self,
        never_scraped: impl Iterator<Item = (&'a Arc<str>, bool)>,
        running: usize,
        now: Instant,
    ) -> Vec<Arc<str>> {
        let current: HashMap<&Arc<str>, bool> = never_scraped.collect();
        self.nodes.retain(|name, _| current.contains_key(&name));
        let busy = self.in_flight().max(running);
        let mut free = MAX_LISTS_IN_FLIGHT.saturating_sub(busy);
        let mut due = Vec::new();
        for (node, skipped) in current {
            if free == 0 {
                break;
            }
            if self.start_if_due(node, skipped, now) {
                due.push(node.clone());
                free -= 1;
            }
        }
        due
    }

    /// Marks `node` as asked at `now` when a list of it is due.
    fn start_if_due(&mut self, node: &Arc<str>, skipped: bool, now: Instant) -> bool {
        let interval = match skipped {
            true => self.interval.max(SKIPPED_LIST_INTERVAL),
            false => self.interval,
        };
        match self.nodes.get_mut(node) {
            Some(known) if known.in_flight || now < known.asked + interval => false,
            Some(known) => {
                known.asked = now;
                known.in_flight = true;
                true
            }
            None => {
                let asked = NodeLists {
                    asked: now,
                    in_flight: true,
                    error_logged: false,
                };
                self.nodes.insert(node.clone(), asked);
                true
            }
        }
    }

    /// A list of `node` ended; true when it failed and no failure of this node was logged
    /// yet (the caller logs it). A node forgotten meanwhile is ignored.
    pub(crate) fn finished(&mut self, node: &str, failed: bool) -> bool {
        let Some(known) = self.nodes.get_mut(node) else {
            return false;
        };
        known.in_flight = false;
        failed && !std::mem::replace(&mut known.error_logged, true)
    }

    /// Whether `node` is still one whose pods are wanted.
    pub(crate) fn wants(&self, node: &str) -> bool {
        self.nodes.contains_key(node)
    }

    pub(crate) fn in_flight(&self) -> usize {
        self.nodes.values().filter(|n| n.in_flight).count()
    }
}

/// One finished list: the node and its Running pods.
pub(super) type NodePods = (Arc<str>, Vec<PodName>);
/// One ended list: the node and what the list gave.
type Listed = (Arc<str>, Result<Vec<PodName>, NodePodsError>);

/// The lists of never-scraped nodes' pods: asked by the cycle, run beside it.
pub(super) struct FailedNodePods {
    /// `None` when the cluster has no API behind it: nothing is listed.
    lister: Option<NodePodLister>,
    schedule: ListSchedule,
    lists: JoinSet<Listed>,
    timeout: Duration,
}

impl FailedNodePods {
    /// Lists through `lister` at most once per `resolution` per node.
    pub(super) fn new(lister: Option<NodePodLister>, resolution: Duration) -> Self {
        FailedNodePods {
            lister,
            schedule: ListSchedule::new(resolution),
            lists: JoinSet::new(),
            timeout: LIST_TIMEOUT.min(resolution),
        }
    }

    /// Starts the lists that are due among `never_scraped` (see [`ListSchedule::due`]) and
    /// forgets the other nodes.
    pub(super) fn ask<'a>(&mut self, never_scraped: impl Iterator<Item = (&'a Arc<str>, bool)>) {
        let Some(lister) = &self.lister else {
            return;
        };
        let running = self.lists.len();
        for node in self.schedule.due(never_scraped, running, Instant::now()) {
            let (lister, timeout) = (lister.clone(), self.timeout);
            self.lists.spawn(async move {
                let listed = lister.running_on(&node, timeout).await;
                (node, listed)
            });
        }
    }

    /// The lists finished since the last call, of nodes still wanted; failures are logged
    /// (once per node) and left out.
    pub(super) fn take_finished(&mut self) -> Vec<NodePods> {
        let mut finished = Vec::new();
        while let Some(joined) = self.lists.try_join_next() {
            let Ok((node, listed)) = joined else {
                continue;
            };
            let failed = listed.is_err();
            let log_failure = self.schedule.finished(&node, failed);
            match listed {
                Ok(pods) if self.schedule.wants(&node) => finished.push((node, pods)),
                Ok(_) => {}
                Err(error) if log_failure => tracing::warn!(
                    node = %node, error = %error,
                    "Could not list the pods of a node that was never scraped; they read \
                     not_scraped_yet until a list succeeds."
                ),
                Err(error) => {
                    tracing::debug!(node = %node, error = %error, "Node pod list failed.")
                }
            }
        }
        finished
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: usize) -> Vec<Arc<str>> {
        (0..n).map(|i| Arc::from(format!("n{i}"))).collect()
    }

    /// `nodes` as nodes whose scrapes failed.
    fn failing(nodes: &[Arc<str>]) -> impl Iterator<Item = (&Arc<str>, bool)> {
        nodes.iter().map(|n| (n, false))
    }

    #[test]
    fn a_node_is_listed_at_most_once_per_interval() {
        let interval = Duration::from_secs(15);
        let mut schedule = ListSchedule::new(interval);
        let nodes = names(1);
        let t0 = Instant::now();
        assert_eq!(schedule.due(failing(&nodes), 0, t0), nodes);
        assert!(schedule.due(failing(&nodes), 0, t0).is_empty(), "in flight");
        assert!(!schedule.finished("n0", false));
        let early = t0 + interval - Duration::from_millis(1);
        assert!(
            schedule.due(failing(&nodes), 0, early).is_empty(),
            "too soon"
        );
        assert_eq!(schedule.due(failing(&nodes), 0, t0 + interval), nodes);
    }

    #[test]
    fn a_list_still_running_is_not_started_again() {
        let mut schedule = ListSchedule::new(Duration::from_secs(15));
        let nodes = names(1);
        let t0 = Instant::now();
        assert_eq!(schedule.due(failing(&nodes), 0, t0).len(), 1);
        let much_later = t0 + Duration::from_secs(3_600);
        assert!(schedule.due(failing(&nodes), 0, much_later).is_empty());
    }

    #[test]
    fn no_more_than_eight_lists_run_at_once() {
        let mut schedule = ListSchedule::new(Duration::from_secs(15));
        let nodes = names(20);
        let t0 = Instant::now();
        let first = schedule.due(failing(&nodes), 0, t0);
        assert_eq!(first.len(), MAX_LISTS_IN_FLIGHT);
        assert!(
            schedule.due(failing(&nodes), 0, t0).is_empty(),
            "every slot taken"
        );
        for node in &first[..3] {
            schedule.finished(node, false);
        }
        let next = schedule.due(failing(&nodes), 0, t0);
        assert_eq!(next.len(), 3, "only the freed slots");
        assert!(next.iter().all(|n| !first.contains(n)), "other nodes' turn");
        assert_eq!(schedule.in_flight(), MAX_LISTS_IN_FLIGHT);

        // Lists of forgotten nodes that still run take their slots too.
        let mut fresh = ListSchedule::new(Duration::from_secs(15));
        assert_eq!(fresh.due(failing(&nodes), 6, t0).len(), 2);
        assert!(
            fresh
                .due(failing(&nodes), MAX_LISTS_IN_FLIGHT, t0)
                .is_empty()
        );
    }

    #[test]
    fn nodes_that_succeed_or_leave_are_forgotten() {
        let mut schedule = ListSchedule::new(Duration::from_secs(15));
        let nodes = names(3);
        let t0 = Instant::now();
        schedule.due(failing(&nodes), 0, t0);
        assert!(schedule.wants("n1"));
        schedule.due(failing(&nodes[..1]), 0, t0);
        assert!(schedule.wants("n0"));
        assert!(!schedule.wants("n1") && !schedule.wants("n2"));
        assert_eq!(schedule.in_flight(), 1, "forgotten lists free their slots");
        assert!(
            !schedule.finished("n1", true),
            "a forgotten node's late failure is not logged"
        );
        // A node that fails again after leaving starts over: listed at once.
        assert_eq!(schedule.due(failing(&nodes[1..2]), 0, t0).len(), 1);
    }

    #[test]
    fn a_nodes_list_failure_is_logged_once() {
        let mut schedule = ListSchedule::new(Duration::from_secs(1));
        let nodes = names(1);
        let t0 = Instant::now();
        schedule.due(failing(&nodes), 0, t0);
        assert!(schedule.finished("n0", true), "first failure logged");
        schedule.due(failing(&nodes), 0, t0 + Duration::from_secs(1));
        assert!(!schedule.finished("n0", true), "not again");
        schedule.due(failing(&nodes), 0, t0 + Duration::from_secs(2));
        assert!(!schedule.finished("n0", false));
    }

    #[test]
    fn a_virtual_nodes_pods_are_listed_at_most_once_a_minute() {
        let mut schedule = ListSchedule::new(Duration::from_secs(15));
        let nodes = names(2);
        let mixed = || [(&nodes[0], false), (&nodes[1], true)].into_iter();
        let t0 = Instant::now();
        assert_eq!(schedule.due(mixed(), 0, t0).len(), 2, "both at once");
        schedule.finished("n0", false);
        schedule.finished("n1", false);
        let later = t0 + Duration::from_secs(15);
        assert_eq!(schedule.due(mixed(), 0, later), [nodes[0].clone()]);
        schedule.finished("n0", false);
        let minute = t0 + SKIPPED_LIST_INTERVAL;
        assert_eq!(schedule.due(mixed(), 0, minute).len(), 2);
    }
}
