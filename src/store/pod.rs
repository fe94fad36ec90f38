//! One pod as reported by one node: its containers' series and the usage computed when the
//! node's batch is applied (spec §4.3 "Containers", §4.4 "Pod").
//!
//! Stricter than upstream: a pod is served only with its complete container set (the batch
//! said `complete` and every container has a usable rate). Upstream serves a pod whose
//! containers hit rate errors with those containers left out, even with zero containers.
//! Containers absent from the latest batch are dropped, as upstream.

use std::sync::Arc;

use arcstr::ArcStr;
use smallvec::SmallVec;

use super::interner::Interner;
use super::rate::Rate;
use super::reason::MissingReason;
use super::series::{Rules, Series};
use crate::batch::PodBatch;
use crate::time::Timestamp;
use crate::usage::{ContainerUsage, PodUsage};

/// Which of two nodes' reports of the same pod is served: newest container start time first
/// ([`NO_START`] when no container has one), then the newest sample. Computed from the
/// containers' newest samples when a publish compares two reports, not kept per pod: only
/// pods reported by several nodes are ever compared.
pub(crate) type ReportRank = (Timestamp, Timestamp);

/// The rank's start time when no container reported one: before every real time.
pub(crate) const NO_START: Timestamp = Timestamp(i64::MIN);

/// One container's history.
#[derive(Debug)]
pub(super) struct ContainerState {
    name: ArcStr,
    series: Series,
}

/// The outcome of each container's latest sample, in container order (kept only while a
/// report is applied: the pod's served usage or reason is what stays).
type Outcomes = SmallVec<[Result<Rate, MissingReason>; 4]>;

/// One pod on one node.
#[derive(Debug)]
pub(crate) struct PodState {
    /// Sorted by name, unique. A boxed slice, not a `Vec`: the set is rebuilt whole when it
    /// changes, so no spare capacity (and 8 bytes a pod less).
    containers: Box<[ContainerState]>,
    /// Computed at apply time so publishing only clones an `Arc`.
    pub(crate) served: Result<Arc<PodUsage>, MissingReason>,
}

impl Default for PodState {
    fn default() -> Self {
        PodState {
            containers: Box::default(),
            served: Err(MissingReason::NotScrapedYet),
        }
    }
}

impl PodState {
    /// Merges this node's latest report of the pod and recomputes what to serve.
    pub(crate) fn apply(
        &mut self,
        report: &PodBatch<'_>,
        node: &ArcStr,
        rules: &Rules,
        names: &mut Interner,
    ) {
        let reported = &report.containers;
        // Sorted by name; a stable sort then dedup keeps the first report of a duplicated name.
        let mut order: SmallVec<[usize; 8]> = (0..reported.len()).collect();
        order.sort_by(|&a, &b| reported[a].name.cmp(&reported[b].name));
        order.dedup_by(|later, first| reported[*later].name == reported[*first].name);
        let mut outcomes = Outcomes::with_capacity(order.len());
        let same_containers = order.len() == self.containers.len()
            && order
                .iter()
                .zip(&self.containers)
                .all(|(&i, c)| *c.name == *reported[i].name);
        if same_containers {
            // The usual case: every series advances in place.
            for (&i, c) in order.iter().zip(self.containers.iter_mut()) {
                outcomes.push(c.series.observe(reported[i].point, rules));
            }
        } else {
            let mut previous = std::mem::take(&mut self.containers);
            let mut next = Vec::with_capacity(order.len());
            for &i in &order {
                let container = &reported[i];
                let (name, mut series) =
                    match previous.binary_search_by(|c| c.name.as_str().cmp(&container.name)) {
                        Ok(j) => (
                            previous[j].name.clone(),
                            std::mem::take(&mut previous[j].series),
                        ),
                        Err(_) => (names.intern_thin(&container.name), Series::default()),
                    };
                outcomes.push(series.observe(container.point, rules));
                next.push(ContainerState { name, series });
            }
            self.containers = next.into_boxed_slice();
        }
        self.served = self.usage(&outcomes, report.complete, node);
    }

    /// This report's [`ReportRank`], from the containers' newest samples.
    pub(crate) fn report_rank(&self) -> ReportRank {
        let points = self.containers.iter().filter_map(|c| c.series.last());
        let newest_start = points
            .clone()
            .filter_map(|p| p.start_time)
            .max()
            .unwrap_or(NO_START);
        let newest_sample = points.map(|p| p.timestamp).max().unwrap_or_default();
        (newest_start, newest_sample)
    }

    /// The usage to serve given each container's `outcomes`, or why there is none.
    fn usage(
        &self,
        outcomes: &[Result<Rate, MissingReason>],
        complete: bool,
        node: &ArcStr,
    ) -> Result<Arc<PodUsage>, MissingReason> {
        if !complete || self.containers.is_empty() {
            return Err(MissingReason::IncompleteContainers);
        }
        if outcomes.contains(&Err(MissingReason::RateError)) {
            return Err(MissingReason::RateError);
        }
        if let Some(reason) = outcomes.iter().find_map(|o| o.err()) {
            return Err(reason);
        }
        // Upstream (spec §2.4): the pod's timestamp and window are the earliest container's.
        let earliest = outcomes
            .iter()
            .filter_map(|o| o.ok())
            .min_by_key(|r| r.timestamp)
            .ok_or(MissingReason::IncompleteContainers)?;
        Ok(Arc::new(PodUsage {
            node: node.clone(),
            timestamp: earliest.timestamp,
            window_ns: earliest.window_ns,
            containers: self
                .containers
                .iter()
                .zip(outcomes)
                .filter_map(|(c, o)| {
                    o.ok().map(|r| ContainerUsage {
                        name: c.name.clone(),
                        usage: r.usage,
                    })
                })
                .collect(),
        }))
    }
}
