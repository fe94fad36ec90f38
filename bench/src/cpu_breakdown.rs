//! Where the server's CPU went in a window: its per-stage counters
//! (`metrics_rs_stage_cpu_seconds_total`, read from its `/metrics` at both ends) as mcores,
//! and the rest of its CPU (from `/proc`) as network I/O, TLS, HTTP and the async runtime.

use std::time::Duration;

use serde::Serialize;

use metrics_server::telemetry::stage_cpu::Stage;

const FAMILY: &str = "metrics_rs_stage_cpu_seconds_total";

/// The server's per-stage CPU seconds at one moment, in [`Stage::ALL`] order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StageSeconds(pub [f64; Stage::ALL.len()]);

impl StageSeconds {
    /// The counters in a `/metrics` text; `None` when any stage is missing.
    pub fn parse(text: &str) -> Option<StageSeconds> {
        let mut out = [None; Stage::ALL.len()];
        for line in text.lines() {
            let Some(rest) = line.strip_prefix(FAMILY) else {
                continue;
            };
            let Some((labels, value)) = rest.split_once(' ') else {
                continue;
            };
            let Some(i) = Stage::ALL
                .iter()
                .position(|s| labels == format!("{{stage=\"{}\"}}", s.name()))
            else {
                continue;
            };
            out[i] = value.trim().parse::<f64>().ok();
        }
        let mut seconds = [0.0; Stage::ALL.len()];
        for (slot, value) in seconds.iter_mut().zip(out) {
            *slot = value?;
        }
        Some(StageSeconds(seconds))
    }
}

/// The server's CPU over a window, by stage (mcores).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct CpuBreakdown {
    pub decode: f64,
    pub store_apply: f64,
    pub publish: f64,
    pub list_encode: f64,
    pub respond: f64,
    /// The server's CPU less the stages: kubelet fetches and API responses through TLS and
    /// HTTP, the async runtime, the kernel.
    pub network_tls_runtime: f64,
}

impl CpuBreakdown {
    /// From the counters at both ends of a window of `wall` in which the server used
    /// `server_mcores` in all.
    pub fn between(
        before: &StageSeconds,
        after: &StageSeconds,
        wall: Duration,
        server_mcores: f64,
    ) -> CpuBreakdown {
        let wall = wall.as_secs_f64().max(1e-9);
        let mcores = |stage: Stage| {
            let i = stage as usize;
            ((after.0[i] - before.0[i]) / wall * 1000.0).max(0.0)
        };
        let mut out = CpuBreakdown {
            decode: mcores(Stage::Decode),
            store_apply: mcores(Stage::StoreApply),
            publish: mcores(Stage::Publish),
            list_encode: mcores(Stage::ListEncode),
            respond: mcores(Stage::Respond),
            network_tls_runtime: 0.0,
        };
        let stages: f64 = Stage::ALL.into_iter().map(mcores).sum();
        out.network_tls_runtime = (server_mcores - stages).max(0.0);
        out
    }

    /// One line for the human table.
    pub fn line(&self) -> String {
        format!(
            "decode {:.1}, store {:.1}, publish {:.1}, list encode {:.1}, respond {:.1}, \
             network/TLS/HTTP/runtime {:.1}",
            self.decode,
            self.store_apply,
            self.publish,
            self.list_encode,
            self.respond,
            self.network_tls_runtime
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BEFORE: &str = "# HELP metrics_rs_stage_cpu_seconds CPU time spent in each stage.\n\
        # TYPE metrics_rs_stage_cpu_seconds counter\n\
        metrics_rs_stage_cpu_seconds_total{stage=\"decode\"} 1.5\n\
        metrics_rs_stage_cpu_seconds_total{stage=\"store_apply\"} 1.0\n\
        metrics_rs_stage_cpu_seconds_total{stage=\"publish\"} 0.5\n\
        metrics_rs_stage_cpu_seconds_total{stage=\"list_encode\"} 0.0\n\
        metrics_rs_stage_cpu_seconds_total{stage=\"respond\"} 0.25\n\
        process_cpu_seconds_total 9\n";

    #[test]
    fn a_window_splits_the_servers_cpu_into_stages_and_the_rest() {
        let before = StageSeconds::parse(BEFORE).unwrap();
        let after = StageSeconds::parse(
            &BEFORE
                .replace("} 1.5", "} 2.7")
                .replace("} 0.0", "} 1.8")
                .replace("} 0.25", "} 0.55"),
        )
        .unwrap();
        // 60 s: decode 1.2 s → 20 mcores, list encode 1.8 s → 30, respond 0.3 s → 5.
        let got = CpuBreakdown::between(&before, &after, Duration::from_secs(60), 100.0);
        let close = |a: f64, b: f64| (a - b).abs() < 1e-9;
        assert!(close(got.decode, 20.0), "{got:?}");
        assert!(close(got.store_apply, 0.0), "{got:?}");
        assert!(close(got.list_encode, 30.0), "{got:?}");
        assert!(close(got.respond, 5.0), "{got:?}");
        assert!(close(got.network_tls_runtime, 45.0), "{got:?}");
        assert!(got.line().contains("list encode 30.0"), "{}", got.line());
    }

    #[test]
    fn a_server_without_the_counters_gives_no_breakdown() {
        assert_eq!(StageSeconds::parse("process_cpu_seconds_total 9\n"), None);
        let missing_one = BEFORE.replace("stage=\"respond\"", "stage=\"other\"");
        assert_eq!(StageSeconds::parse(&missing_one), None);
    }
}
