//! The bench report: the JSON document (field names are the contract other tools read) and
//! the short human table, with each target of the scale goal checked.

use std::fmt::Write;

use serde::Serialize;

use super::cpu_breakdown::CpuBreakdown;

/// One run of the harness.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Report {
    pub nodes: usize,
    pub pods: usize,
    pub containers: usize,
    pub duration_seconds: f64,
    pub metric_resolution_seconds: f64,
    /// Average CPU of the server process over the measured window (scraping and serving).
    pub server_cpu_mcores: f64,
    pub server_cpu_mcores_per_node: f64,
    /// Peak resident set of the server process since it started (`VmHWM`).
    pub server_rss_mib: f64,
    /// Highest resident set sampled once a second during the measured window.
    pub server_rss_sampled_peak_mib: f64,
    /// Resident code of the server's own binary after the loaded window (code pages stay
    /// resident once run): what the release link's packing of the hot functions keeps small.
    pub server_code_rss_mib: f64,
    /// The server's `/metrics` text read at the end of the window: its size, and its size on
    /// the wire (the bench accepts gzip, as Prometheus does).
    pub server_metrics_text_bytes: usize,
    pub server_metrics_wire_bytes: usize,
    pub rss_mib_per_node: f64,
    /// Peak resident set of the raw fetcher: what its pooled connections alone cost.
    pub raw_fetch_rss_mib: f64,
    pub scrape_cycle_p50_seconds: Option<f64>,
    /// Tick to last node stored (and published), over the cycles of the measured window.
    pub scrape_cycle_p99_seconds: Option<f64>,
    pub cycles: usize,
    pub missed_cycles: usize,
    /// The age of the metrics the server answered with under the load (its
    /// `metrics_server_api_metric_freshness_seconds`, interpolated within the buckets).
    pub metric_freshness_p50_seconds: Option<f64>,
    pub metric_freshness_p99_seconds: Option<f64>,
    pub failed_node_scrapes: usize,
    /// Pods the server held after the last cycle.
    pub servable_pods: usize,
    /// Plain HTTPS client fetching and discarding the same payloads: the floor.
    pub raw_fetch_cpu_mcores: f64,
    /// Server CPU under the API load divided by the floor (which serves nothing).
    pub cpu_vs_raw_fetch: Option<f64>,
    /// Server CPU over a window of four scrape cycles before the load starts: the scrape
    /// pipeline alone.
    pub server_cpu_no_load_mcores: f64,
    /// What the API load adds to the server's CPU: under load minus without (where the time
    /// goes, at the coarsest grain: scraping vs serving).
    pub server_cpu_api_load_mcores: f64,
    pub raw_fetch_cpu_no_load_mcores: f64,
    /// Where the server's CPU went under load, by stage (from its
    /// `metrics_rs_stage_cpu_seconds_total`; absent if it could not be read).
    pub server_cpu_breakdown_mcores: Option<CpuBreakdown>,
    /// The same without API load.
    pub server_cpu_breakdown_no_load_mcores: Option<CpuBreakdown>,
    /// The scrape pipeline against the floor: both measured in the no-load window.
    pub cpu_vs_raw_fetch_no_load: Option<f64>,
    pub list_all_pods_json_p50_ms: Option<f64>,
    pub list_all_pods_json_p99_ms: Option<f64>,
    /// Decompressed size.
    pub list_all_pods_json_bytes: usize,
    /// Size on the wire (the load generator accepts gzip, like kubectl and client-go).
    pub list_all_pods_json_wire_bytes: usize,
    pub list_all_pods_json_items: usize,
    /// `null` when the server does not answer protobuf.
    pub list_all_pods_protobuf_p50_ms: Option<f64>,
    pub list_all_pods_protobuf_p99_ms: Option<f64>,
    pub list_all_pods_protobuf_bytes: Option<usize>,
    pub list_all_pods_protobuf_wire_bytes: Option<usize>,
    /// The first list of each format in the window (built in its request by a server that
    /// caches lists: none is read before the window), and the p99 of the lists after it.
    pub list_all_pods_json_first_ms: Option<f64>,
    pub list_all_pods_json_p99_after_first_ms: Option<f64>,
    pub list_all_pods_protobuf_first_ms: Option<f64>,
    pub list_all_pods_protobuf_p99_after_first_ms: Option<f64>,
    pub get_pod_p50_ms: Option<f64>,
    pub get_pod_p99_ms: Option<f64>,
    pub get_pod_clients: usize,
    pub get_pod_requests: usize,
    /// Half the get clients use HTTP/1.1 (a connection each), half HTTP/2 (one multiplexed
    /// connection, as kube-aggregator): the gets' p99 by protocol.
    pub get_pod_http1_p99_ms: Option<f64>,
    pub get_pod_http2_p99_ms: Option<f64>,
    /// Every other pair of lists (JSON, protobuf) goes over HTTP/2: the lists' p99 by protocol.
    pub list_all_pods_http1_p99_ms: Option<f64>,
    pub list_all_pods_http2_p99_ms: Option<f64>,
    /// Responses that took 20 ms or more, over both protocols (on loopback a delayed ACK
    /// behind Nagle's algorithm shows up here, at ~40 ms).
    pub get_pod_at_or_over_20ms: usize,
    pub list_all_pods_at_or_over_20ms: usize,
    /// Gets answered 404 because the sampled pod had no servable metrics at that moment.
    pub get_pod_not_found: usize,
    pub request_errors: usize,
    /// How busy the machine was: all CPUs, averaged over the window, in cores.
    pub machine_cpus: usize,
    pub machine_busy_cores: f64,
    /// Busy cores not accounted to the server, the simulator, the raw fetcher or the harness:
    /// other work on the machine.
    pub machine_other_busy_cores: f64,
    /// CPU of all the simulator processes together.
    pub simulator_cpu_mcores: f64,
    /// How many processes the simulated kubelets were split over (open-files limit).
    pub simulator_processes: usize,
    pub harness_cpu_mcores: f64,
    pub load_average_1m: f64,
    pub targets: Vec<TargetCheck>,
    /// The `--peer` server, measured alone right after this one on the same cluster with the
    /// same flags and API load, in the same fields.
    pub peer: Option<Box<Report>>,
    /// Ours divided by the peer's (lower is better): CPU under the API load, CPU without it,
    /// peak RSS.
    pub cpu_vs_peer: Option<f64>,
    pub cpu_no_load_vs_peer: Option<f64>,
    pub rss_vs_peer: Option<f64>,
}

/// One goal of the scale target and whether the run met it.
#[derive(Clone, Debug, Serialize)]
pub struct TargetCheck {
    pub metric: &'static str,
    pub limit: f64,
    pub value: Option<f64>,
    pub met: Option<bool>,
}

impl Report {
    /// This report with `peer`'s figures and the ratios of ours to them.
    pub fn with_peer(mut self, peer: Report) -> Report {
        let ratio = |ours: f64, theirs: f64| (theirs > 0.0).then(|| ours / theirs);
        self.cpu_vs_peer = ratio(self.server_cpu_mcores, peer.server_cpu_mcores);
        self.cpu_no_load_vs_peer = ratio(
            self.server_cpu_no_load_mcores,
            peer.server_cpu_no_load_mcores,
        );
        self.rss_vs_peer = ratio(self.server_rss_mib, peer.server_rss_mib);
        self.peer = Some(Box::new(peer));
        self
    }

    /// Fills [`Report::targets`] from the values.
    pub fn check_targets(&mut self) {
        let at_most = |metric, limit, value: Option<f64>| TargetCheck {
            metric,
            limit,
            value,
            met: value.map(|v| v <= limit),
        };
        self.targets = vec![
            at_most(
                "server_cpu_mcores_per_node",
                0.05,
                Some(self.server_cpu_mcores_per_node),
            ),
            at_most("server_rss_mib", 200.0, Some(self.server_rss_mib)),
            at_most("cpu_vs_raw_fetch", 3.0, self.cpu_vs_raw_fetch),
            at_most(
                "list_all_pods_json_p50_ms",
                100.0,
                self.list_all_pods_json_p50_ms,
            ),
            at_most(
                "list_all_pods_protobuf_p50_ms",
                60.0,
                self.list_all_pods_protobuf_p50_ms,
            ),
            at_most(
                "scrape_cycle_p99_seconds",
                2.0,
                self.scrape_cycle_p99_seconds,
            ),
            at_most("missed_cycles", 0.0, Some(self.missed_cycles as f64)),
            // Not one of the figures: a failed or corrupt response is a bug to see.
            at_most("request_errors", 0.0, Some(self.request_errors as f64)),
        ];
    }

    /// The short human summary.
    pub fn table(&self) -> String {
        let mut t = String::new();
        let opt = |v: Option<f64>| v.map_or("n/a".to_string(), |v| format!("{v:.2}"));
        let breakdown = |b: &Option<CpuBreakdown>| b.as_ref().map_or("n/a".into(), |b| b.line());
        let _ = writeln!(
            t,
            "{} nodes, {} pods, {} containers; {:.0}s measured at {:.0}s resolution",
            self.nodes,
            self.pods,
            self.containers,
            self.duration_seconds,
            self.metric_resolution_seconds
        );
        let rows = [
            (
                "server CPU (mcores)",
                format!("{:.1}", self.server_cpu_mcores),
            ),
            (
                "  per node",
                format!("{:.4}", self.server_cpu_mcores_per_node),
            ),
            (
                "  of which the API load adds",
                format!("{:.1}", self.server_cpu_api_load_mcores),
            ),
            (
                "raw fetch CPU (mcores)",
                format!("{:.1}", self.raw_fetch_cpu_mcores),
            ),
            ("  server / raw fetch", opt(self.cpu_vs_raw_fetch)),
            (
                "no API load: server / raw (mcores)",
                format!(
                    "{:.1} / {:.1} = {}",
                    self.server_cpu_no_load_mcores,
                    self.raw_fetch_cpu_no_load_mcores,
                    opt(self.cpu_vs_raw_fetch_no_load)
                ),
            ),
            (
                "server CPU by stage, under load",
                breakdown(&self.server_cpu_breakdown_mcores),
            ),
            (
                "  without API load",
                breakdown(&self.server_cpu_breakdown_no_load_mcores),
            ),
            (
                "server RSS peak (MiB)",
                format!("{:.1}", self.server_rss_mib),
            ),
            ("  per node", format!("{:.4}", self.rss_mib_per_node)),
            (
                "  of which its own code",
                format!("{:.1}", self.server_code_rss_mib),
            ),
            (
                "raw fetch RSS peak (MiB)",
                format!("{:.1}", self.raw_fetch_rss_mib),
            ),
            (
                "scrape cycle p50/p99 (s)",
                format!(
                    "{} / {}",
                    opt(self.scrape_cycle_p50_seconds),
                    opt(self.scrape_cycle_p99_seconds)
                ),
            ),
            (
                "metric freshness p50/p99 (s)",
                format!(
                    "{} / {}",
                    opt(self.metric_freshness_p50_seconds),
                    opt(self.metric_freshness_p99_seconds)
                ),
            ),
            (
                "cycles / missed / failed nodes",
                format!(
                    "{} / {} / {}",
                    self.cycles, self.missed_cycles, self.failed_node_scrapes
                ),
            ),
            (
                "list pods JSON p50/p99 (ms)",
                format!(
                    "{} / {} ({} items, {} KiB, {} KiB on the wire)",
                    opt(self.list_all_pods_json_p50_ms),
                    opt(self.list_all_pods_json_p99_ms),
                    self.list_all_pods_json_items,
                    self.list_all_pods_json_bytes / 1024,
                    self.list_all_pods_json_wire_bytes / 1024
                ),
            ),
            (
                "list pods protobuf p50/p99 (ms)",
                format!(
                    "{} / {} ({} KiB, {} KiB on the wire)",
                    opt(self.list_all_pods_protobuf_p50_ms),
                    opt(self.list_all_pods_protobuf_p99_ms),
                    self.list_all_pods_protobuf_bytes.unwrap_or(0) / 1024,
                    self.list_all_pods_protobuf_wire_bytes.unwrap_or(0) / 1024
                ),
            ),
            (
                "list pods first / p99 after (ms)",
                format!(
                    "JSON {} / {}, protobuf {} / {}",
                    opt(self.list_all_pods_json_first_ms),
                    opt(self.list_all_pods_json_p99_after_first_ms),
                    opt(self.list_all_pods_protobuf_first_ms),
                    opt(self.list_all_pods_protobuf_p99_after_first_ms)
                ),
            ),
            (
                "get pod p50/p99 (ms)",
                format!(
                    "{} / {} ({} clients, {} requests, {} not found, {} errors)",
                    opt(self.get_pod_p50_ms),
                    opt(self.get_pod_p99_ms),
                    self.get_pod_clients,
                    self.get_pod_requests,
                    self.get_pod_not_found,
                    self.request_errors
                ),
            ),
            (
                "get pod p99, HTTP/1.1 / 2 (ms)",
                format!(
                    "{} / {} ({} of {} at or over 20 ms)",
                    opt(self.get_pod_http1_p99_ms),
                    opt(self.get_pod_http2_p99_ms),
                    self.get_pod_at_or_over_20ms,
                    self.get_pod_requests
                ),
            ),
            (
                "list pods p99, HTTP/1.1 / 2 (ms)",
                format!(
                    "{} / {} ({} at or over 20 ms)",
                    opt(self.list_all_pods_http1_p99_ms),
                    opt(self.list_all_pods_http2_p99_ms),
                    self.list_all_pods_at_or_over_20ms
                ),
            ),
            (
                "machine busy (cores)",
                format!(
                    "{:.2} of {} (other work {:.2}, simulator {:.0} m in {} process{})",
                    self.machine_busy_cores,
                    self.machine_cpus,
                    self.machine_other_busy_cores,
                    self.simulator_cpu_mcores,
                    self.simulator_processes,
                    if self.simulator_processes == 1 {
                        ""
                    } else {
                        "es"
                    }
                ),
            ),
        ];
        for (name, value) in rows {
            let _ = writeln!(t, "  {name:<34} {value}");
        }
        let _ = writeln!(t, "  targets:");
        for target in &self.targets {
            let verdict = match target.met {
                Some(true) => "met",
                Some(false) => "MISSED",
                None => "not measured",
            };
            let _ = writeln!(
                t,
                "    {:<32} <= {:<8} {:<10} {verdict}",
                target.metric,
                target.limit,
                opt(target.value)
            );
        }
        if let Some(peer) = &self.peer {
            t += &self.peer_rows(peer);
        }
        t
    }

    /// The peer's figures beside ours, and ours divided by them.
    fn peer_rows(&self, peer: &Report) -> String {
        let ms = |v: Option<f64>| v.map_or("n/a".to_string(), |v| format!("{v:.2}"));
        let ratio = |v: Option<f64>| v.map_or("n/a".to_string(), |v| format!("{v:.2}"));
        let pair =
            |ours: Option<f64>, theirs: Option<f64>| format!("{} / {}", ms(ours), ms(theirs));
        let rows = [
            (
                "CPU under load (mcores)",
                format!(
                    "{:.1} / {:.1} = {}",
                    self.server_cpu_mcores,
                    peer.server_cpu_mcores,
                    ratio(self.cpu_vs_peer)
                ),
            ),
            (
                "CPU without load (mcores)",
                format!(
                    "{:.1} / {:.1} = {}",
                    self.server_cpu_no_load_mcores,
                    peer.server_cpu_no_load_mcores,
                    ratio(self.cpu_no_load_vs_peer)
                ),
            ),
            (
                "RSS peak (MiB)",
                format!(
                    "{:.1} / {:.1} = {}",
                    self.server_rss_mib,
                    peer.server_rss_mib,
                    ratio(self.rss_vs_peer)
                ),
            ),
            (
                "RSS sampled peak (MiB)",
                format!(
                    "{:.1} / {:.1}",
                    self.server_rss_sampled_peak_mib, peer.server_rss_sampled_peak_mib
                ),
            ),
            (
                "list JSON p50, p99 (ms)",
                format!(
                    "{}, {}",
                    pair(
                        self.list_all_pods_json_p50_ms,
                        peer.list_all_pods_json_p50_ms
                    ),
                    pair(
                        self.list_all_pods_json_p99_ms,
                        peer.list_all_pods_json_p99_ms
                    )
                ),
            ),
            (
                "list protobuf p50, p99 (ms)",
                format!(
                    "{}, {}",
                    pair(
                        self.list_all_pods_protobuf_p50_ms,
                        peer.list_all_pods_protobuf_p50_ms
                    ),
                    pair(
                        self.list_all_pods_protobuf_p99_ms,
                        peer.list_all_pods_protobuf_p99_ms
                    )
                ),
            ),
            (
                "get pod p50, p99 (ms)",
                format!(
                    "{}, {}",
                    pair(self.get_pod_p50_ms, peer.get_pod_p50_ms),
                    pair(self.get_pod_p99_ms, peer.get_pod_p99_ms)
                ),
            ),
            (
                "scrape cycle p99 (s)",
                pair(self.scrape_cycle_p99_seconds, peer.scrape_cycle_p99_seconds),
            ),
            (
                "metric freshness p50, p99 (s)",
                format!(
                    "{}, {}",
                    pair(
                        self.metric_freshness_p50_seconds,
                        peer.metric_freshness_p50_seconds
                    ),
                    pair(
                        self.metric_freshness_p99_seconds,
                        peer.metric_freshness_p99_seconds
                    )
                ),
            ),
            (
                "cycles / missed / errors",
                format!(
                    "{} / {} / {} and {} / {} / {}",
                    self.cycles,
                    self.missed_cycles,
                    self.request_errors,
                    peer.cycles,
                    peer.missed_cycles,
                    peer.request_errors
                ),
            ),
        ];
        let mut t =
            String::from("  ours / peer (same cluster, flags and load, one after the other):\n");
        for (name, value) in rows {
            let _ = writeln!(t, "    {name:<32} {value}");
        }
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(report: &Report, metric: &str) -> Option<bool> {
        report
            .targets
            .iter()
            .find(|t| t.metric == metric)
            .and_then(|t| t.met)
    }

    #[test]
    fn a_failed_or_corrupt_response_misses_its_target_and_shows_in_the_table() {
        let mut report = Report::default();
        report.check_targets();
        assert_eq!(verdict(&report, "request_errors"), Some(true));
        report.request_errors = 1;
        report.check_targets();
        assert_eq!(verdict(&report, "request_errors"), Some(false));
        let table = report.table();
        let line = table
            .lines()
            .find(|l| l.trim_start().starts_with("request_errors"))
            .unwrap_or_default();
        assert!(line.ends_with("MISSED"), "{table}");
    }

    #[test]
    fn the_first_list_of_each_format_is_shown_apart_from_the_rest() {
        let report = Report {
            list_all_pods_json_first_ms: Some(217.5),
            list_all_pods_json_p99_after_first_ms: Some(61.0),
            ..Report::default()
        };
        let table = report.table();
        let line = table
            .lines()
            .find(|l| l.contains("first / p99 after"))
            .unwrap_or_default();
        assert!(
            line.ends_with("JSON 217.50 / 61.00, protobuf n/a / n/a"),
            "{table}"
        );
    }

    #[test]
    fn a_peer_run_gives_ratios_of_ours_to_theirs_in_the_json_and_the_table() {
        let ours = Report {
            server_cpu_mcores: 10.0,
            server_cpu_no_load_mcores: 4.0,
            server_rss_mib: 30.0,
            ..Report::default()
        };
        let theirs = Report {
            server_cpu_mcores: 50.0,
            server_cpu_no_load_mcores: 16.0,
            server_rss_mib: 150.0,
            list_all_pods_json_p99_ms: Some(12.5),
            ..Report::default()
        };
        let report = ours.with_peer(theirs);
        assert_eq!(report.cpu_vs_peer, Some(0.2));
        assert_eq!(report.cpu_no_load_vs_peer, Some(0.25));
        assert_eq!(report.rss_vs_peer, Some(0.2));
        let json = serde_json::to_value(&report).unwrap_or_default();
        assert_eq!(json["peer"]["server_cpu_mcores"], 50.0);
        assert_eq!(json["peer"]["list_all_pods_json_p99_ms"], 12.5);
        assert_eq!(json["cpu_vs_peer"], 0.2);
        let table = report.table();
        assert!(table.contains("10.0 / 50.0 = 0.20"), "{table}");
        assert!(table.contains("30.0 / 150.0 = 0.20"), "{table}");
        // Without a peer, no ratio and no peer section.
        let alone = Report::default();
        assert_eq!(alone.cpu_vs_peer, None);
        assert!(!alone.table().contains("ours / peer"));
    }
}
