//! Rate maths between two samples: port of upstream `resourceUsage(last, prev)` (spec §4.2) and
//! of the fresh-container synthetic `prev` (spec §4.3 rule 1).
//!
//! `cpu = float64(last.cpu − prev.cpu) / window.Seconds()` truncated to nanocores, computed with
//! the same float operations as Go's `time.Duration.Seconds()` so values match upstream to the
//! nanocore; memory is the newer working set. Beyond upstream, nothing negative, zero-window,
//! NaN, infinite or absurd (over [`MAX_CPU_NANOCORES`]) can come out: those are errors.

use crate::batch::MetricsPoint;
use crate::time::{NANOS_PER_SEC, Timestamp};
use crate::usage::Usage;

/// Rates above a million cores are treated as corrupt data.
pub const MAX_CPU_NANOCORES: u64 = 1_000_000_000_000_000;

/// Smallest age at which a fresh container gets a synthetic prev (upstream
/// `freshContainerMinMetricsResolution`).
pub const FRESH_CONTAINER_MIN_AGE_NS: i64 = 10 * NANOS_PER_SEC;

/// A computed usage over a window ending at `timestamp`.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) struct Rate {
    /// Kubelet sample time of the newer point.
    pub timestamp: Timestamp,
    /// `last.timestamp − prev.timestamp`, always > 0.
    pub window_ns: i64,
    pub usage: Usage,
}

/// Why two samples give no usage.
#[derive(Copy, Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum RateError {
    #[error("unexpected decrease in start time")]
    StartTimeDecreased,
    #[error("unexpected decrease in cumulative cpu usage ({prev} ns to {last} ns)")]
    CpuDecreased { prev: u64, last: u64 },
    #[error("sample window is not positive ({window_ns} ns)")]
    BadWindow { window_ns: i64 },
    #[error("cpu rate is not a finite value below a million cores")]
    AbsurdCpu,
}

/// Usage between `prev` and `last` (spec §4.2).
pub(crate) fn rate(prev: &MetricsPoint, last: &MetricsPoint) -> Result<Rate, RateError> {
    if let (Some(prev_start), Some(last_start)) = (prev.start_time, last.start_time)
        && last_start < prev_start
    {
        return Err(RateError::StartTimeDecreased);
    }
    let Some(cpu_delta) = last.cpu_ns.checked_sub(prev.cpu_ns) else {
        return Err(RateError::CpuDecreased {
            prev: prev.cpu_ns,
            last: last.cpu_ns,
        });
    };
    let window_ns = last
        .timestamp
        .0
        .checked_sub(prev.timestamp.0)
        .filter(|w| *w > 0)
        .ok_or(RateError::BadWindow {
            window_ns: last.timestamp.nanos_since(prev.timestamp),
        })?;
    let nanocores = cpu_delta as f64 / go_duration_seconds(window_ns);
    if !nanocores.is_finite() || !(0.0..=MAX_CPU_NANOCORES as f64).contains(&nanocores) {
        return Err(RateError::AbsurdCpu);
    }
    Ok(Rate {
        timestamp: last.timestamp,
        window_ns,
        usage: Usage {
            // In range by the check above; `as` truncates towards zero like Go's conversion.
            cpu_nanocores: nanocores as u64,
            memory_bytes: last.memory_bytes,
        },
    })
}

/// Go's `time.Duration(ns).Seconds()`: whole seconds plus the fraction, as two float terms.
fn go_duration_seconds(ns: i64) -> f64 {
    let secs = ns / NANOS_PER_SEC;
    let frac = ns % NANOS_PER_SEC;
    secs as f64 + frac as f64 / 1e9
}

/// The synthetic prev of a freshly (re)started container, when `start < ts` and
/// `10s ≤ ts − start < resolution`: `{timestamp: start, cpu: 0, memory: point.memory}`.
pub(crate) fn fresh_container_prev(
    point: &MetricsPoint,
    metric_resolution_ns: i64,
) -> Option<MetricsPoint> {
    let start = point.start_time?;
    let age = point.timestamp.0.checked_sub(start.0)?;
    let fresh =
        start < point.timestamp && age >= FRESH_CONTAINER_MIN_AGE_NS && age < metric_resolution_ns;
    fresh.then_some(MetricsPoint {
        timestamp: start,
        start_time: Some(start),
        cpu_ns: 0,
        memory_bytes: point.memory_bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: i64 = 1_000_000;

    fn point(ts_ns: i64, cpu: u64, mem: u64) -> MetricsPoint {
        MetricsPoint {
            timestamp: Timestamp(ts_ns),
            start_time: None,
            cpu_ns: cpu,
            memory_bytes: mem,
        }
    }

    #[test]
    fn upstream_example_gives_20000_nanocores_over_10ms() {
        let r = rate(&point(10 * MS, 300, 7), &point(20 * MS, 500, 9)).unwrap();
        assert_eq!(r.usage.cpu_nanocores, 20_000);
        assert_eq!(r.window_ns, 10 * MS);
        assert_eq!(r.timestamp, Timestamp(20 * MS));
        assert_eq!(r.usage.memory_bytes, 9, "memory is the newer sample");
    }

    #[test]
    fn half_a_core_over_fifteen_seconds() {
        let s = NANOS_PER_SEC;
        let r = rate(&point(0, 0, 0), &point(15 * s, 7_500_000_000, 0)).unwrap();
        assert_eq!(r.usage.cpu_nanocores, 500_000_000);
    }

    #[test]
    fn rate_is_truncated_not_rounded() {
        // 2 ns of cpu over 3 s = 0.666… nanocores.
        let r = rate(&point(0, 0, 0), &point(3 * NANOS_PER_SEC, 2, 0)).unwrap();
        assert_eq!(r.usage.cpu_nanocores, 0);
        // 1000 ns over 3 s = 333.33… nanocores.
        let r = rate(&point(0, 0, 0), &point(3 * NANOS_PER_SEC, 1000, 0)).unwrap();
        assert_eq!(r.usage.cpu_nanocores, 333);
    }

    #[test]
    fn float_rate_stays_within_one_nanocore_of_exact_division() {
        for (window, delta) in [
            (15_004_000_000i64, 29_838_000u64),
            (20_021_000_000, 1_348_000_000),
        ] {
            let r = rate(&point(0, 0, 0), &point(window, delta, 0)).unwrap();
            let exact = u128::from(delta) * 1_000_000_000 / window as u128;
            assert!(u128::from(r.usage.cpu_nanocores).abs_diff(exact) <= 1);
        }
    }

    #[test]
    fn decreasing_cpu_is_an_error() {
        let err = rate(&point(0, 10, 0), &point(NANOS_PER_SEC, 5, 0)).unwrap_err();
        assert_eq!(err, RateError::CpuDecreased { prev: 10, last: 5 });
    }

    #[test]
    fn decreasing_start_time_is_an_error() {
        let mut prev = point(0, 0, 0);
        prev.start_time = Some(Timestamp(-5));
        let mut last = point(NANOS_PER_SEC, 5, 0);
        last.start_time = Some(Timestamp(-6));
        assert_eq!(rate(&prev, &last), Err(RateError::StartTimeDecreased));
    }

    #[test]
    fn zero_negative_and_overflowing_windows_are_errors() {
        assert!(matches!(
            rate(&point(5, 0, 0), &point(5, 1, 0)),
            Err(RateError::BadWindow { .. })
        ));
        assert!(matches!(
            rate(&point(6, 0, 0), &point(5, 1, 0)),
            Err(RateError::BadWindow { .. })
        ));
        assert!(matches!(
            rate(&point(i64::MIN, 0, 0), &point(i64::MAX, 1, 0)),
            Err(RateError::BadWindow { .. })
        ));
    }

    #[test]
    fn absurd_rates_are_errors() {
        // u64::MAX ns of cpu in 1 ns.
        assert_eq!(
            rate(&point(0, 0, 0), &point(1, u64::MAX, 0)),
            Err(RateError::AbsurdCpu)
        );
        // Exactly a million cores is still accepted.
        let r = rate(&point(0, 0, 0), &point(NANOS_PER_SEC, MAX_CPU_NANOCORES, 0)).unwrap();
        assert_eq!(r.usage.cpu_nanocores, MAX_CPU_NANOCORES);
    }

    #[test]
    fn fresh_container_prev_boundaries() {
        let s = NANOS_PER_SEC;
        let with_start = |ts: i64, start: i64| MetricsPoint {
            timestamp: Timestamp(ts),
            start_time: Some(Timestamp(start)),
            cpu_ns: 100,
            memory_bytes: 42,
        };
        let prev = fresh_container_prev(&with_start(110 * s, 100 * s), 60 * s).unwrap();
        assert_eq!(prev.timestamp, Timestamp(100 * s));
        assert_eq!((prev.cpu_ns, prev.memory_bytes), (0, 42));
        assert!(fresh_container_prev(&with_start(109 * s, 100 * s), 60 * s).is_none());
        assert!(fresh_container_prev(&with_start(160 * s, 100 * s), 60 * s).is_none());
        assert!(fresh_container_prev(&with_start(159 * s, 100 * s), 60 * s).is_some());
        assert!(fresh_container_prev(&with_start(100 * s, 120 * s), 60 * s).is_none());
        assert!(fresh_container_prev(&point(110 * s, 1, 1), 60 * s).is_none());
        assert!(fresh_container_prev(&with_start(i64::MAX, i64::MIN), 60 * s).is_none());
    }
}
