//! Self-metrics served at `/metrics` in the Prometheus text format 0.0.4 (upstream spec §2.10).
//!
//! Upstream's six families keep their names, types, labels and buckets so existing dashboards
//! and alerts work unchanged:
//! `metrics_server_api_metric_freshness_seconds`, `metrics_server_kubelet_request_duration_seconds`,
//! `metrics_server_kubelet_request_total`, `metrics_server_kubelet_last_request_time_seconds`,
//! `metrics_server_manager_tick_duration_seconds`, `metrics_server_storage_points`.
//!
//! Ours use the `metrics_rs_` prefix, because upstream's e2e test asserts that the
//! `metrics_server_*` families are exactly those six: the last scrape result of each node with
//! its reason, scrape failures by reason, each node's failures in a row and back-off
//! ([`node_backoff`]), the nodes not scraped by design by kind, nodes and pods known vs served,
//! and the items without metrics by reason ([`coverage`]). Unlike upstream, series of nodes
//! that left the cluster (or the `--node-selector`) are removed.

mod batch_histogram;
pub mod clock_offset;
pub mod coverage;
mod duration_histogram;
mod node_backoff;
mod node_label;
mod node_series;
pub mod stage_cpu;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::cluster::virtual_nodes::VirtualKind;
use crate::store::SampleTimes;
use crate::time::Timestamp;
use batch_histogram::BatchHistogram;

/// Content-Type of the `/metrics` answer (what Go's `expfmt.FmtText` sends).
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// Go's `prometheus.DefBuckets`.
pub const DEF_BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Label set of one-label families.
type Labels = Vec<(&'static str, String)>;
type DurationFamily = Family<node_label::NodeLabel, duration_histogram::DurationHistogram>;

/// The result label of a successful scrape in `metrics_rs_node_scrape_result`.
pub const SCRAPE_OK: &str = "ok";

/// Upstream's `BucketsForScrapeDuration`: DefBuckets, plus halfway between 10s and the
/// resolution, the resolution, 1.5× and 2× it when the resolution exceeds 10s.
pub fn scrape_duration_buckets(resolution: Duration) -> Vec<f64> {
    let mut buckets = DEF_BUCKETS.to_vec();
    let res = resolution.as_secs_f64();
    if res > 10.0 {
        buckets.extend([10.0 + (res - 10.0) / 2.0, res, res * 1.5, res * 2.0]);
    }
    buckets
}

/// Go's `prometheus.ExponentialBuckets`: repeated multiplication (not `powf`), so the `le`
/// labels are bit-for-bit upstream's.
pub fn go_exponential_buckets(start: f64, factor: f64, count: usize) -> Vec<f64> {
    let mut buckets = Vec::with_capacity(count);
    let mut next = start;
    for _ in 0..count {
        buckets.push(next);
        next *= factor;
    }
    buckets
}

fn label(key: &'static str, value: &str) -> Labels {
    vec![(key, value.to_owned())]
}

/// Every self-metric; share it behind an `Arc`. Recording never blocks for long (atomic
/// updates, short-lived locks inside the families).
pub struct Metrics {
    registry: Registry,
    freshness: BatchHistogram,
    node_series: node_series::NodeSeries,
    tick_duration: Histogram,
    cycle_overruns: Counter,
    storage_points: Family<Labels, Gauge>,
    tls_check: Family<Labels, Gauge>,
    /// The failed TLS check currently exported for each node whose last scrape failed on TLS.
    last_tls_check: Mutex<HashMap<String, &'static str>>,
    clock_offsets: clock_offset::ClockOffsets,
    node_backoffs: node_backoff::NodeBackoffs,
    /// `metrics_rs_nodes_not_scraped{kind}`, indexed like [`VirtualKind::ALL`].
    not_scraped: [Gauge; VirtualKind::ALL.len()],
    pub coverage: coverage::CoverageGauges,
}

impl Metrics {
    /// Registers every family; `resolution` sizes the tick-duration buckets.
    pub fn new(resolution: Duration) -> Self {
        let mut registry = Registry::default();
        let freshness = BatchHistogram::new(go_exponential_buckets(1.0, 1.364, 20));
        registry.register(
            "metrics_server_api_metric_freshness_seconds",
            "[ALPHA] Freshness of metrics exported",
            freshness.clone(),
        );
        let request_duration = DurationFamily::default();
        registry.register(
            "metrics_server_kubelet_request_duration_seconds",
            "[ALPHA] Duration of requests to Kubelet API in seconds",
            request_duration.clone(),
        );
        let request_total = Family::<Labels, Counter>::default();
        registry.register(
            "metrics_server_kubelet_request",
            "[ALPHA] Number of requests sent to Kubelet API",
            request_total.clone(),
        );
        let last_request_time = Family::<node_label::NodeLabel, Gauge>::default();
        registry.register(
            "metrics_server_kubelet_last_request_time_seconds",
            "[ALPHA] Time of last request performed to Kubelet API since unix epoch in seconds",
            last_request_time.clone(),
        );
        let tick_duration = Histogram::new(scrape_duration_buckets(resolution));
        registry.register(
            "metrics_server_manager_tick_duration_seconds",
            "[ALPHA] The total time spent collecting and storing metrics in seconds",
            tick_duration.clone(),
        );
        let cycle_overruns = Counter::default();
        registry.register(
            "metrics_rs_scrape_cycle_overruns",
            "Scrape cycles that ran out of time, their late nodes abandoned",
            cycle_overruns.clone(),
        );
        let storage_points = Family::<Labels, Gauge>::default();
        registry.register(
            "metrics_server_storage_points",
            "[ALPHA] Number of metrics points stored",
            storage_points.clone(),
        );
        let scrape_result = Family::<node_label::NodeResult, Gauge>::default();
        registry.register(
            "metrics_rs_node_scrape_result",
            "Result of the latest scrape of each node: 1 for the current result \
             (ok, timeout, connect, tls, http_status, decode)",
            scrape_result.clone(),
        );
        let scrape_failures = Family::<Labels, Counter>::default();
        registry.register(
            "metrics_rs_kubelet_scrape_failures",
            "Failed node scrapes by reason",
            scrape_failures.clone(),
        );
        let tls_check = Family::<Labels, Gauge>::default();
        registry.register(
            "metrics_rs_kubelet_tls_check_failed",
            "Nodes whose latest scrape failed the TLS handshake, by the check that failed \
             (unknown_ca, name_mismatch, expired, not_yet_valid, client_cert_rejected, other)",
            tls_check.clone(),
        );
        let clock_offsets = clock_offset::ClockOffsets::register(&mut registry);
        let node_backoffs = node_backoff::NodeBackoffs::register(&mut registry);
        let not_scraped_family = Family::<Labels, Gauge>::default();
        registry.register(
            "metrics_rs_nodes_not_scraped",
            "Selected nodes that are not scraped by design (--kubelet-skip-virtual-nodes), by \
             kind (virtual-kubelet, fargate)",
            not_scraped_family.clone(),
        );
        let not_scraped = VirtualKind::ALL.map(|kind| {
            not_scraped_family
                .get_or_create(&label("kind", kind.as_str()))
                .clone()
        });
        let coverage = coverage::CoverageGauges::register(&mut registry);
        registry.register_collector(Box::new(stage_cpu::StageCpuCollector::default()));
        Metrics {
            registry,
            freshness,
            node_series: node_series::NodeSeries::new(
                request_duration,
                last_request_time,
                scrape_result,
                request_total,
                scrape_failures,
            ),
            tick_duration,
            cycle_overruns,
            storage_points,
            tls_check,
            last_tls_check: Mutex::new(HashMap::new()),
            clock_offsets,
            node_backoffs,
            not_scraped,
            coverage,
        }
    }

    /// The items returned by a GET or list: how old each one's sample is at `now`.
    pub fn observe_freshness(&self, now: Timestamp, samples: impl IntoIterator<Item = Timestamp>) {
        self.freshness
            .observe_many(samples.into_iter().map(|sample| {
                let age_ns = now.0.saturating_sub(sample.0).max(0);
                age_ns as f64 / 1e9
            }));
    }

    /// Every servable pod of a snapshot returned at `now` (a list of all pods): the same
    /// observations as [`Metrics::observe_freshness`], counted from the sorted sample times.
    pub fn observe_freshness_of_all(&self, now: Timestamp, times: &SampleTimes) {
        let count = times.len() as u64;
        let sum = times.total_age_ns(now) as f64 / 1e9;
        self.freshness.observe_bucketed(count, sum, |bound_secs| {
            times.at_most_old(now, (bound_secs * 1e9) as i64) as u64
        });
    }

    /// One node's scrape: how long it took, and `Ok` or the failure reason
    /// (`ScrapeError::reason()`).
    pub fn record_scrape(&self, node: &Arc<str>, took: Duration, result: Result<(), &'static str>) {
        self.node_series.record(node, took, result);
    }

    /// The TLS check that failed on the node's latest scrape (`None`: no TLS failure), exported
    /// as `metrics_rs_kubelet_tls_check_failed{node,check} 1`.
    pub fn record_tls_check(&self, node: &str, check: Option<&'static str>) {
        let previous = match self.last_tls_check.lock() {
            Ok(mut last) => match (check, last.get_mut(node)) {
                (Some(c), Some(held)) => Some(std::mem::replace(held, c)),
                (Some(c), None) => last.insert(node.to_owned(), c),
                (None, _) => last.remove(node),
            },
            Err(_) => None,
        };
        if let Some(old) = previous.filter(|old| Some(*old) != check) {
            self.tls_check.remove(&tls_labels(node, old));
        }
        if let Some(c) = check {
            self.tls_check.get_or_create(&tls_labels(node, c)).set(1);
        }
    }

    /// How far the node's kubelet clock is ahead of ours (see [`clock_offset`]); logs once
    /// when the node's offset goes past 30 s and once when it comes back.
    pub fn record_clock_offset(&self, node: &Arc<str>, offset_ns: i64) {
        let offset_secs = offset_ns as f64 / 1e9;
        let crossing = self.clock_offsets.record(node, offset_secs);
        let node = &**node;
        match crossing {
            clock_offset::Crossing::Unchanged => {}
            clock_offset::Crossing::Skewed => tracing::warn!(
                node,
                offset_seconds = offset_secs.round(),
                "Kubelet clock is off by more than 30 s; its usage is served with its own \
                 timestamps. Synchronise the node's clock (NTP)."
            ),
            clock_offset::Crossing::Recovered => tracing::info!(
                node,
                offset_seconds = offset_secs.round(),
                "Kubelet clock is back in step with ours."
            ),
        }
    }

    /// The node's failed scrapes in a row and its wait between retries (zero while it is
    /// scraped every cycle), see [`node_backoff`].
    pub fn record_backoff(&self, node: &Arc<str>, failures: u32, wait: Duration) {
        self.node_backoffs.record(node, failures, wait);
    }

    /// How many selected nodes of each kind are not scraped by design, indexed like
    /// [`VirtualKind::ALL`].
    pub fn set_nodes_not_scraped(&self, counts: [usize; VirtualKind::ALL.len()]) {
        for (gauge, n) in self.not_scraped.iter().zip(counts) {
            gauge.set(i64::try_from(n).unwrap_or(i64::MAX));
        }
    }

    /// A scrape cycle ran out of time and abandoned its late nodes.
    pub fn record_overrun(&self) {
        self.cycle_overruns.inc();
    }

    /// One scrape cycle finished after `took`; nodes not in `live` lose their series.
    pub fn record_cycle(&self, took: Duration, live: &dyn Fn(&str) -> bool) {
        self.tick_duration.observe(took.as_secs_f64());
        self.node_series.retain(live);
        self.clock_offsets.retain(live);
        self.node_backoffs.retain(live);
        let gone_tls: Vec<(String, &'static str)> = match self.last_tls_check.lock() {
            Ok(mut last) => {
                let gone = last
                    .iter()
                    .filter(|(node, _)| !live(node))
                    .map(|(node, check)| (node.clone(), *check))
                    .collect();
                last.retain(|node, _| live(node));
                gone
            }
            Err(_) => Vec::new(),
        };
        for (node, check) in gone_tls {
            self.tls_check.remove(&tls_labels(&node, check));
        }
    }

    /// `metrics_server_storage_points{type=node|container}`.
    pub fn set_storage_points(&self, nodes: usize, containers: usize) {
        for (kind, n) in [("node", nodes), ("container", containers)] {
            self.storage_points
                .get_or_create(&label("type", kind))
                .set(i64::try_from(n).unwrap_or(i64::MAX));
        }
    }

    /// The whole registry in the text format 0.0.4.
    pub fn encode(&self) -> String {
        let mut out = String::with_capacity(8 * 1024);
        self.encode_into(&mut out);
        out
    }

    /// The whole registry in the text format 0.0.4, written to `out` (a failure is logged;
    /// a writer that failed says so itself).
    pub fn encode_into(&self, out: &mut impl std::fmt::Write) {
        if prometheus_client::encoding::prometheus_text::encode(out, &self.registry).is_err() {
            tracing::warn!("Encoding self-metrics failed.");
        }
    }
}

fn tls_labels(node: &str, check: &'static str) -> Labels {
    vec![("node", node.to_owned()), ("check", check.to_owned())]
}

/// The text exposition of a registry that `register` fills (for tests of single families).
#[cfg(test)]
fn exposition(register: impl FnOnce(&mut Registry)) -> String {
    let mut registry = Registry::default();
    register(&mut registry);
    let mut out = String::new();
    prometheus_client::encoding::text::encode(&mut out, &registry).unwrap_or_default();
    out
}

#[cfg(test)]
mod tests;
