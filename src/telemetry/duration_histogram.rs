//! The histogram of one node's kubelet request durations, on Go's default buckets. One per
//! node: prometheus-client's `Histogram` keeps two blocks of about 500 bytes together (its
//! lock holds room for a native histogram's state; its 12 buckets sit in a vector grown to
//! 16, in four allocation calls), this one block of 144 bytes: about 5 MB less at 15,000
//! nodes. The exposition is the same.

use std::sync::{Arc, Mutex, PoisonError};

use prometheus_client::encoding::{EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::{MetricType, TypedMetric};

use super::DEF_BUCKETS;

/// Buckets: [`DEF_BUCKETS`] and `+Inf`.
const BUCKETS: usize = DEF_BUCKETS.len() + 1;

/// Cheap to clone: clones share the counts (one goes to the family).
#[derive(Clone, Debug, Default)]
pub(super) struct DurationHistogram(Arc<Mutex<Counts>>);

#[derive(Debug, Default)]
struct Counts {
    sum: f64,
    count: u64,
    /// Observations in each bucket alone (not cumulative), as prometheus-client keeps them.
    buckets: [u64; BUCKETS],
}

impl DurationHistogram {
    pub(super) fn observe(&self, seconds: f64) {
        // The first bound at or above the value; past the last (and NaN): `+Inf`.
        let bucket = DEF_BUCKETS
            .iter()
            .position(|bound| seconds <= *bound)
            .unwrap_or(DEF_BUCKETS.len());
        let mut counts = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        counts.sum += seconds;
        counts.count += 1;
        if let Some(n) = counts.buckets.get_mut(bucket) {
            *n += 1;
        }
    }
}

impl TypedMetric for DurationHistogram {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for DurationHistogram {
    fn encode(&self, mut encoder: MetricEncoder<'_>) -> Result<(), std::fmt::Error> {
        let counts = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let mut buckets = [(f64::INFINITY, 0); BUCKETS];
        for ((slot, bound), n) in buckets
            .iter_mut()
            .zip(DEF_BUCKETS.iter().chain([&f64::INFINITY]))
            .zip(counts.buckets)
        {
            *slot = (*bound, n);
        }
        encoder.encode_histogram::<NoLabelSet>(counts.sum, counts.count, &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

#[cfg(test)]
mod tests {
    use prometheus_client::metrics::histogram::Histogram;

    use super::super::exposition;
    use super::*;

    #[test]
    fn exposes_what_prometheus_clients_histogram_exposes() {
        let values = [0.001, 0.005, 0.0051, 0.3, 1.0, 9.9, 10.0, 10.5, 600.0];
        let ours = DurationHistogram::default();
        let reference = Histogram::new(DEF_BUCKETS);
        for v in values {
            ours.observe(v);
            reference.observe(v);
        }
        let ours = exposition(|r| r.register("took", "help", ours));
        let theirs = exposition(|r| r.register("took", "help", reference));
        assert_eq!(ours, theirs);
        assert!(ours.contains("took_bucket{le=\"0.005\"} 2"), "{ours}");
        assert!(ours.contains("took_bucket{le=\"10.0\"} 7"), "{ours}");
        assert!(ours.contains("took_bucket{le=\"+Inf\"} 9"), "{ours}");
    }

    #[test]
    fn one_node_costs_one_small_allocation() {
        assert!(std::mem::size_of::<Counts>() <= 112);
    }
}
