//! The server's scrape cycles in a window, from its `/metrics` read at both ends: upstream's
//! `metrics_server_manager_tick_duration_seconds` histogram (how many cycles finished and how
//! long they took), `metrics_server_api_metric_freshness_seconds` (the age of the metrics
//! served) and `metrics_server_kubelet_request_total` (failed kubelet requests), plus
//! ours where the server has them: `metrics_rs_scrape_cycle_overruns_total` and the pods it
//! serves (`metrics_rs_items`). Upstream's families are in any metrics-server, so the same
//! reading measures either; nothing is learnt from the server's log.

use std::time::Duration;

const TICK: &str = "metrics_server_manager_tick_duration_seconds";
const FRESHNESS: &str = "metrics_server_api_metric_freshness_seconds";
const KUBELET_FAILED: &str = "metrics_server_kubelet_request_total{success=\"false\"}";
const OVERRUNS: &str = "metrics_rs_scrape_cycle_overruns_total";
const PODS_SERVED: &str = "metrics_rs_items{kind=\"pod\",state=\"served\"}";

/// The cycle counters at one moment.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ScrapeCounters {
    /// Finished cycles.
    pub cycles: u64,
    /// Their total duration.
    pub seconds: f64,
    /// The histogram's cumulative buckets: upper bound, count.
    pub buckets: Vec<(f64, u64)>,
    /// The freshness histogram's cumulative buckets (empty when the server has none).
    pub freshness: Vec<(f64, u64)>,
    pub failed_requests: u64,
    pub overruns: Option<u64>,
    pub pods_served: Option<u64>,
}

impl ScrapeCounters {
    /// The counters in a `/metrics` text; `None` without the tick histogram.
    pub fn parse(text: &str) -> Option<ScrapeCounters> {
        let count = |series: &str| sample(text, series).map(|v| v as u64);
        Some(ScrapeCounters {
            cycles: count(&format!("{TICK}_count"))?,
            seconds: sample(text, &format!("{TICK}_sum"))?,
            buckets: buckets(text, TICK),
            freshness: buckets(text, FRESHNESS),
            failed_requests: count(KUBELET_FAILED).unwrap_or(0),
            overruns: count(OVERRUNS),
            pods_served: count(PODS_SERVED),
        })
    }
}

/// The cycles that finished between two readings.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CycleWindow {
    pub cycles: u64,
    pub p50_seconds: Option<f64>,
    pub p99_seconds: Option<f64>,
    /// The age of the metrics the server answered with in the window.
    pub freshness_p50_seconds: Option<f64>,
    pub freshness_p99_seconds: Option<f64>,
    pub failed_requests: u64,
    /// Cycles that ran out of time, and ticks that never started a cycle (fewer cycles
    /// finished than the window holds whole intervals, less one for the phase).
    pub missed: u64,
}

impl CycleWindow {
    pub fn between(
        before: &ScrapeCounters,
        after: &ScrapeCounters,
        wall: Duration,
        resolution: Duration,
    ) -> CycleWindow {
        let cycles = after.cycles.saturating_sub(before.cycles);
        let deltas = delta(&before.buckets, &after.buckets);
        let freshness = delta(&before.freshness, &after.freshness);
        let intervals = (wall.as_secs_f64() / resolution.as_secs_f64().max(1e-9)) as u64;
        let overruns = after
            .overruns
            .zip(before.overruns)
            .map_or(0, |(a, b)| a.saturating_sub(b));
        CycleWindow {
            cycles,
            p50_seconds: quantile(0.50, &deltas),
            p99_seconds: quantile(0.99, &deltas),
            freshness_p50_seconds: quantile(0.50, &freshness),
            freshness_p99_seconds: quantile(0.99, &freshness),
            failed_requests: after.failed_requests.saturating_sub(before.failed_requests),
            missed: overruns + intervals.saturating_sub(1).saturating_sub(cycles),
        }
    }
}

/// The value of one series (name and labels exactly as exported).
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|value| value.trim().parse().ok())
}

/// The observations of a cumulative histogram between two readings, bucket by bucket.
fn delta(before: &[(f64, u64)], after: &[(f64, u64)]) -> Vec<(f64, u64)> {
    after
        .iter()
        .map(|&(le, n)| {
            let earlier = before.iter().find(|(b, _)| *b == le);
            (le, n.saturating_sub(earlier.map_or(0, |&(_, m)| m)))
        })
        .collect()
}

/// The cumulative buckets of an unlabelled histogram `family`, `+Inf` included, in the order
/// exported.
fn buckets(text: &str, family: &str) -> Vec<(f64, u64)> {
    let prefix = format!("{family}_bucket{{le=\"");
    text.lines()
        .filter_map(|line| {
            let (le, rest) = line.strip_prefix(&prefix)?.split_once("\"}")?;
            let bound = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().ok()?
            };
            Some((bound, rest.trim().parse::<f64>().ok()? as u64))
        })
        .collect()
}

/// The `q` quantile of a cumulative histogram, interpolated linearly within its bucket as
/// Prometheus's `histogram_quantile` does; the last finite bound when it falls in `+Inf`.
fn quantile(q: f64, buckets: &[(f64, u64)]) -> Option<f64> {
    let total = buckets.last()?.1;
    if total == 0 {
        return None;
    }
    let rank = q * total as f64;
    let (mut lower, mut below) = (0.0, 0u64);
    for &(le, count) in buckets {
        if count as f64 >= rank {
            if le.is_infinite() {
                return Some(lower);
            }
            let inside = (count - below) as f64;
            let fraction = if inside > 0.0 {
                (rank - below as f64) / inside
            } else {
                1.0
            };
            return Some(lower + (le - lower) * fraction);
        }
        (lower, below) = (le, count);
    }
    Some(lower)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn exposition(
        cycles: u64,
        sum: f64,
        buckets: &[(&str, u64)],
        failed: u64,
        over: u64,
    ) -> String {
        let mut text =
            String::from("# TYPE metrics_server_manager_tick_duration_seconds histogram\n");
        for (le, n) in buckets {
            text += &format!("{TICK}_bucket{{le=\"{le}\"}} {n}\n");
        }
        text += &format!("{TICK}_sum {sum}\n{TICK}_count {cycles}\n");
        text += &format!("{KUBELET_FAILED} {failed}\n");
        text += "metrics_server_kubelet_request_total{success=\"true\"} 999\n";
        text += &format!("{OVERRUNS} {over}\n");
        text += &format!("{PODS_SERVED} 1500\n");
        // Freshness: every served metric between 1 and 2 s old, ten per cycle.
        let served = cycles * 10;
        text += &format!("{FRESHNESS}_bucket{{le=\"1\"}} 0\n");
        text += &format!("{FRESHNESS}_bucket{{le=\"2\"}} {served}\n");
        text += &format!("{FRESHNESS}_bucket{{le=\"+Inf\"}} {served}\n");
        text
    }

    #[test]
    fn a_window_counts_its_cycles_their_quantiles_and_failures() {
        let before = ScrapeCounters::parse(&exposition(
            2,
            3.0,
            &[("1", 0), ("2.5", 2), ("5", 2), ("+Inf", 2)],
            1,
            0,
        ))
        .unwrap();
        // Eight more cycles: four between 1 and 2.5 s, four between 2.5 and 5 s.
        let after = ScrapeCounters::parse(&exposition(
            10,
            25.0,
            &[("1", 0), ("2.5", 6), ("5", 10), ("+Inf", 10)],
            4,
            1,
        ))
        .unwrap();
        assert_eq!(after.pods_served, Some(1500));
        let w = CycleWindow::between(
            &before,
            &after,
            Duration::from_secs(120),
            Duration::from_secs(15),
        );
        assert_eq!(w.cycles, 8);
        assert_eq!(w.failed_requests, 3);
        // Median: rank 4 of 8, the top of the 1–2.5 s bucket.
        assert_eq!(w.p50_seconds, Some(2.5));
        // p99: rank 7.92, 3.92 of 4 into the 2.5–5 s bucket.
        assert!((w.p99_seconds.unwrap() - 4.95).abs() < 1e-9);
        // 120 s at 15 s holds 8 intervals (7 ticks for sure); one cycle overran.
        assert_eq!(w.missed, 1);
        // 80 metrics served in the window, all 1–2 s old: the median 1.5 s.
        assert_eq!(w.freshness_p50_seconds, Some(1.5));
        assert!((w.freshness_p99_seconds.unwrap() - 1.99).abs() < 1e-9);
    }

    #[test]
    fn ticks_that_never_ran_are_missed_cycles() {
        let at = |cycles| ScrapeCounters {
            cycles,
            buckets: vec![(f64::INFINITY, cycles)],
            ..ScrapeCounters::default()
        };
        let w = CycleWindow::between(
            &at(0),
            &at(4),
            Duration::from_secs(120),
            Duration::from_secs(15),
        );
        assert_eq!(w.missed, 3);
        assert_eq!(w.p50_seconds, Some(0.0));
    }

    #[test]
    fn a_text_without_the_tick_histogram_has_no_counters() {
        assert_eq!(ScrapeCounters::parse("up 1\n"), None);
        let w = CycleWindow::between(
            &ScrapeCounters::default(),
            &ScrapeCounters::default(),
            Duration::from_secs(60),
            Duration::from_secs(15),
        );
        assert_eq!((w.cycles, w.p50_seconds), (0, None));
    }
}
