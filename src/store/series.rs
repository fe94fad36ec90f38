//! One node's or one container's sample history and the rules that turn a new sample into a
//! usage: restart detection by start time (spec §4.3 rules 2–3), ring rotation (ring.rs), the
//! fresh-container synthetic prev (rule 1) and the rate (rate.rs, §4.2).
//!
//! Differences from upstream, on purpose:
//! * A real earlier sample is preferred over the fresh-container synthetic prev (upstream tries
//!   rule 1 first); the synthetic prev is never stored.
//! * A rate error (counter or start time going backwards, absurd rate) rebases the series to the
//!   newest sample, so the next scrape serves again instead of erroring forever.
//! * A start time that changes is a restart even when it stays before the last sample time.

use super::rate::{Rate, fresh_container_prev, rate};
use super::reason::MissingReason;
use super::ring::Ring;
use crate::batch::MetricsPoint;

/// The parameters of the rules, from the store configuration.
#[derive(Copy, Clone, Debug)]
pub(crate) struct Rules {
    pub ring_depth: usize,
    pub metric_resolution_ns: i64,
}

/// Sample history of one node or container.
#[derive(Clone, Debug, Default)]
pub(crate) struct Series {
    ring: Ring,
}

impl Series {
    /// Takes a new sample in and returns the usage to serve for it, or why there is none.
    pub(crate) fn observe(
        &mut self,
        point: MetricsPoint,
        rules: &Rules,
    ) -> Result<Rate, MissingReason> {
        match self.ring.last().map(|last| classify(&last, &point)) {
            None | Some(Change::Restarted) => self.ring.reset(point),
            Some(Change::StartWentBack) => {
                self.ring.reset(point);
                return Err(MissingReason::RateError);
            }
            Some(Change::Continues) => self.ring.push(point, rules.ring_depth),
        }
        let Some(last) = self.ring.last() else {
            return Err(MissingReason::WaitingSecondSample);
        };
        match self.ring.prev() {
            Some(prev) => rate(&prev, &last).map_err(|_| {
                self.ring.reset(last);
                MissingReason::RateError
            }),
            None => match fresh_container_prev(&last, rules.metric_resolution_ns) {
                Some(synthetic) => rate(&synthetic, &last).map_err(|_| MissingReason::RateError),
                None => Err(MissingReason::WaitingSecondSample),
            },
        }
    }

    /// The newest sample, if any.
    pub(crate) fn last(&self) -> Option<MetricsPoint> {
        self.ring.last()
    }
}

/// How a new sample relates to the newest stored one.
enum Change {
    /// Same process: rotate it into the ring.
    Continues,
    /// Start time moved forward, or the process started after the last sample.
    Restarted,
    /// Start time moved backwards: inconsistent data.
    StartWentBack,
}

fn classify(last: &MetricsPoint, new: &MetricsPoint) -> Change {
    let Some(new_start) = new.start_time else {
        // Unknown start time (always for nodes): normal rotation (upstream, zero StartTime).
        return Change::Continues;
    };
    match last.start_time {
        Some(old_start) if new_start < old_start => Change::StartWentBack,
        Some(old_start) if new_start != old_start => Change::Restarted,
        _ if new_start >= last.timestamp => Change::Restarted,
        _ => Change::Continues,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::{NANOS_PER_SEC, Timestamp};

    const RULES: Rules = Rules {
        ring_depth: 3,
        metric_resolution_ns: 15 * NANOS_PER_SEC,
    };

    fn sample(ts: i64, start: Option<i64>, cpu_secs: u64) -> MetricsPoint {
        MetricsPoint {
            timestamp: Timestamp::from_secs(ts),
            start_time: start.map(Timestamp::from_secs),
            cpu_ns: cpu_secs * 1_000_000_000,
            memory_bytes: 10,
        }
    }

    #[test]
    fn second_sample_gives_a_rate() {
        let mut s = Series::default();
        assert_eq!(
            s.observe(sample(100, Some(0), 1), &RULES),
            Err(MissingReason::WaitingSecondSample)
        );
        let r = s.observe(sample(115, Some(0), 4), &RULES).unwrap();
        assert_eq!(r.window_ns, 15 * NANOS_PER_SEC);
        assert_eq!(r.usage.cpu_nanocores, 200_000_000);
    }

    #[test]
    fn start_time_after_last_sample_is_a_restart() {
        let mut s = Series::default();
        s.observe(sample(100, Some(0), 50), &RULES).ok();
        s.observe(sample(115, Some(0), 60), &RULES).unwrap();
        // Restarted at 120 (after the 115 sample), sampled at 130: fresh rule, window 10 s.
        let r = s.observe(sample(130, Some(120), 5), &RULES).unwrap();
        assert_eq!(r.window_ns, 10 * NANOS_PER_SEC);
        assert_eq!(r.usage.cpu_nanocores, 500_000_000);
    }

    #[test]
    fn start_time_going_back_is_a_rate_error_then_recovers() {
        let mut s = Series::default();
        s.observe(sample(100, Some(50), 1), &RULES).ok();
        assert_eq!(
            s.observe(sample(115, Some(40), 2), &RULES),
            Err(MissingReason::RateError)
        );
        assert!(s.observe(sample(130, Some(40), 3), &RULES).is_ok());
    }

    #[test]
    fn counter_decrease_rebases_to_newest_sample() {
        let mut s = Series::default();
        s.observe(sample(100, None, 10), &RULES).ok();
        assert_eq!(
            s.observe(sample(115, None, 5), &RULES),
            Err(MissingReason::RateError)
        );
        assert_eq!(s.last().map(|p| p.cpu_ns), Some(5_000_000_000));
        let r = s.observe(sample(130, None, 8), &RULES).unwrap();
        assert_eq!(r.usage.cpu_nanocores, 200_000_000);
    }

    #[test]
    fn real_prev_is_preferred_over_synthetic_one() {
        let mut s = Series::default();
        // Started at 100; first sample at 102 (too young for the fresh rule).
        assert_eq!(
            s.observe(sample(102, Some(100), 1), &RULES),
            Err(MissingReason::WaitingSecondSample)
        );
        let r = s.observe(sample(112, Some(100), 3), &RULES).unwrap();
        assert_eq!(
            r.window_ns,
            10 * NANOS_PER_SEC,
            "window from the 102 sample"
        );
        assert_eq!(r.usage.cpu_nanocores, 200_000_000);
    }
}
