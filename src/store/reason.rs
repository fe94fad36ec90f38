//! Why a node or pod has no servable metrics, so a 404 can say so and `/metrics` can count it.
//!
//! Upstream only ever answers "not found" (spec §2.7, §4.4); the reasons name the rule of
//! spec §4.3/§4.4 (or our stricter pod rule) that withheld the item.

use std::fmt;

/// Why an item is (or is not) served by a snapshot.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum MissingReason {
    /// The store has never received data for it (or forgot it).
    NotScrapedYet,
    /// Only one usable sample so far: a rate needs two (spec §9 item 1).
    WaitingSecondSample,
    /// The latest scrape of its node failed (spec §3.4 "Per-node errors").
    NodeFailed,
    /// Its node is not scraped by design: a virtual node (virtual-kubelet, EKS Fargate) that
    /// serves no kubelet metrics (`--kubelet-skip-virtual-nodes`).
    NodeNotScraped,
    /// The kubelet did not report a complete sample for every container of the pod.
    IncompleteContainers,
    /// The counter or start time went backwards, or the rate was absurd (spec §4.2, §9 item 7).
    RateError,
    /// The kubelet's latest response had no complete node sample (node only).
    MissingSample,
    /// The kubelet's latest response had a NaN, infinite or negative value for it (the node's
    /// own sample, or one of the pod's containers); the rest of the node is served.
    InvalidValue,
    /// Metrics are available.
    Servable,
}

impl MissingReason {
    /// Stable machine-readable name (used in logs and self-metrics labels).
    pub fn as_str(self) -> &'static str {
        match self {
            MissingReason::NotScrapedYet => "not_scraped_yet",
            MissingReason::WaitingSecondSample => "waiting_second_sample",
            MissingReason::NodeFailed => "node_failed",
            MissingReason::NodeNotScraped => "node_not_scraped",
            MissingReason::IncompleteContainers => "incomplete_containers",
            MissingReason::RateError => "rate_error",
            MissingReason::MissingSample => "missing_sample",
            MissingReason::InvalidValue => "invalid_value",
            MissingReason::Servable => "servable",
        }
    }

    /// Human explanation for a 404 message, lowercase, no trailing period.
    pub fn describe(self) -> &'static str {
        match self {
            MissingReason::NotScrapedYet => "no metrics have been collected for it yet",
            MissingReason::WaitingSecondSample => "waiting for a second sample from the kubelet",
            MissingReason::NodeFailed => "the latest scrape of its node failed",
            MissingReason::NodeNotScraped => {
                "its node is a virtual node (virtual-kubelet or EKS Fargate), which serves no \
                 kubelet metrics, so it is not scraped (--kubelet-skip-virtual-nodes)"
            }
            MissingReason::IncompleteContainers => {
                "the kubelet did not report a complete sample for every container"
            }
            MissingReason::RateError => {
                "the kubelet reported a decreasing cpu counter or start time; \
                 usage resumes after the next sample"
            }
            MissingReason::MissingSample => {
                "the kubelet's latest response had no complete cpu and memory sample for it"
            }
            MissingReason::InvalidValue => {
                "the kubelet's latest response had a value that is not a finite, non-negative \
                 number for it"
            }
            MissingReason::Servable => "metrics are available",
        }
    }
}

impl fmt::Display for MissingReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_distinct_snake_case() {
        let all = [
            MissingReason::NotScrapedYet,
            MissingReason::WaitingSecondSample,
            MissingReason::NodeFailed,
            MissingReason::NodeNotScraped,
            MissingReason::IncompleteContainers,
            MissingReason::RateError,
            MissingReason::MissingSample,
            MissingReason::InvalidValue,
            MissingReason::Servable,
        ];
        let names: std::collections::HashSet<_> = all.iter().map(|r| r.as_str()).collect();
        assert_eq!(names.len(), all.len());
        assert!(
            names
                .iter()
                .all(|n| n.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'))
        );
        assert_eq!(
            MissingReason::WaitingSecondSample.describe(),
            "waiting for a second sample from the kubelet"
        );
    }
}
