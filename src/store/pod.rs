//! One pod as reported by one node: its containers' series and the usage computed when the
//! node's batch is applied (spec §4.3 "Containers", §4.4 "Pod").
//!
//! Stricter than upstream: a pod is served only with its complete container set (the batch
//! said `complete` and every container has a usable rate). Upstream serves a pod whose
//! containers hit rate errors with those containers left out, even with zero containers.
//! Containers absent from the latest batch are dropped, as upstream.

use std::sync::Arc;

use super::interner::Interner;
use super::rate::Rate;
use super::reason::MissingReason;
use super::series::{Rules, Series};
use crate::batch::PodBatch;
use crate::time::Timestamp;
use crate::usage::{ContainerUsage, PodUsage};

/// Which of two nodes' reports of the same pod is served: newest container start time first,
/// then the newest sample.
pub(crate) type ReportRank = (Option<Timestamp>, Timestamp);

/// One container's history and its latest outcome.
#[derive(Debug)]
struct ContainerState {
    name: Arc<str>,
    series: Series,
    outcome: Result<Rate, MissingReason>,
}

/// One pod on one node.
#[derive(Debug)]
pub(crate) struct PodState {
    /// Sorted by name, unique.
    containers: Vec<ContainerState>,
    /// Computed at apply time so publishing only clones an `Arc`.
    pub(crate) served: Result<Arc<PodUsage>, MissingReason>,
    pub(crate) rank: ReportRank,
}

impl Default for PodState {
    fn default() -> Self {
        PodState {
            containers: Vec::new(),
            served: Err(MissingReason::NotScrapedYet),
            rank: (None, Timestamp::default()),
        }
    }
}

impl PodState {
    /// Merges this node's latest report of the pod and recomputes what to serve.
    pub(crate) fn apply(
        &mut self,
        report: &PodBatch<'_>,
        node: &Arc<str>,
        rules: &Rules,
        names: &mut Interner,
    ) {
        let mut previous = std::mem::take(&mut self.containers);
        let mut next = Vec::with_capacity(report.containers.len());
        for reported in &report.containers {
            let (name, mut series) =
                match previous.binary_search_by(|c| c.name.as_ref().cmp(&reported.name)) {
                    // A duplicate name later in the batch finds an emptied series: harmless,
                    // it is dropped by the dedup below.
                    Ok(i) => (
                        previous[i].name.clone(),
                        std::mem::take(&mut previous[i].series),
                    ),
                    Err(_) => (names.intern(&reported.name), Series::default()),
                };
            let outcome = series.observe(reported.point, rules);
            next.push(ContainerState {
                name,
                series,
                outcome,
            });
        }
        // Stable sort then dedup keeps the first report of a duplicated container name.
        next.sort_by(|a, b| a.name.cmp(&b.name));
        next.dedup_by(|later, first| later.name == first.name);
        self.containers = next;
        self.rank = self.report_rank();
        self.served = self.usage(report.complete, node);
    }

    fn report_rank(&self) -> ReportRank {
        let points = self.containers.iter().filter_map(|c| c.series.last());
        let newest_start = points.clone().filter_map(|p| p.start_time).max();
        let newest_sample = points.map(|p| p.timestamp).max().unwrap_or_default();
        (newest_start, newest_sample)
    }

    fn usage(&self, complete: bool, node: &Arc<str>) -> Result<Arc<PodUsage>, MissingReason> {
        if !complete || self.containers.is_empty() {
            return Err(MissingReason::IncompleteContainers);
        }
        let outcome = |c: &ContainerState| c.outcome.err();
        if self
            .containers
            .iter()
            .any(|c| outcome(c) == Some(MissingReason::RateError))
        {
            return Err(MissingReason::RateError);
        }
        if let Some(reason) = self.containers.iter().find_map(outcome) {
            return Err(reason);
        }
        let rates: Vec<(&Arc<str>, Rate)> = self
            .containers
            .iter()
            .filter_map(|c| c.outcome.ok().map(|r| (&c.name, r)))
            .collect();
        // Upstream (spec §2.4): the pod's timestamp and window are the earliest container's.
        let earliest = rates
            .iter()
            .map(|(_, r)| r)
            .min_by_key(|r| r.timestamp)
            .ok_or(MissingReason::IncompleteContainers)?;
        Ok(Arc::new(PodUsage {
            node: node.clone(),
            timestamp: earliest.timestamp,
            window_ns: earliest.window_ns,
            containers: rates
                .iter()
                .map(|(name, r)| ContainerUsage {
                    name: Arc::clone(name),
                    usage: r.usage,
                })
                .collect(),
        }))
    }
}
