//! Where the server's CPU goes: the CPU time of each synchronous stage of the data flow,
//! read from the running thread's CPU clock around it, exported as
//! `metrics_rs_stage_cpu_seconds_total{stage}`. What the stages leave out of the process's
//! CPU (`process_cpu_seconds_total`, or `/proc`) is the network: kubelet fetches and API
//! responses through TLS and HTTP, the async runtime and the kernel.
//!
//! Stages are exclusive: a stage measured inside another (a list build inside a response)
//! counts only for itself. Each measurement reads the thread's clock twice (a system call of
//! well under a microsecond): about 20,000 reads a cycle at 5,000 nodes.
//!
//! The counters are process-wide, like the process's own CPU counter: the stages run on
//! whichever thread the runtime picks, in code far from the [`super::Metrics`] handle.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;

/// A stage of the data flow whose CPU time is counted.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Stage {
    /// Parsing a kubelet payload into a batch of samples.
    Decode,
    /// Applying a node's batch to the store.
    StoreApply,
    /// Building the snapshot readers see, dropping the previous one, handing free memory back.
    Publish,
    /// Encoding (and compressing) a cached list of all pods.
    ListEncode,
    /// Answering an API request once it is authenticated (routing, lookups, encoding).
    Respond,
}

impl Stage {
    pub const ALL: [Stage; 5] = [
        Stage::Decode,
        Stage::StoreApply,
        Stage::Publish,
        Stage::ListEncode,
        Stage::Respond,
    ];

    /// The `stage` label.
    pub fn name(self) -> &'static str {
        match self {
            Stage::Decode => "decode",
            Stage::StoreApply => "store_apply",
            Stage::Publish => "publish",
            Stage::ListEncode => "list_encode",
            Stage::Respond => "respond",
        }
    }
}

/// CPU nanoseconds per stage.
pub struct StageCpu {
    spent_ns: [AtomicU64; Stage::ALL.len()],
}

impl StageCpu {
    pub const fn new() -> Self {
        StageCpu {
            spent_ns: [const { AtomicU64::new(0) }; Stage::ALL.len()],
        }
    }

    /// Runs `work`, counting this thread's CPU time during it (less that of stages
    /// measured inside it) as `stage`'s.
    pub fn measure<R>(&self, stage: Stage, work: impl FnOnce() -> R) -> R {
        let outer_nested = NESTED_NS.replace(0);
        let started = thread_cpu_ns();
        let result = work();
        let spent = thread_cpu_ns().saturating_sub(started);
        let inner = NESTED_NS.replace(outer_nested.saturating_add(spent));
        self.spent_ns[stage as usize].fetch_add(spent.saturating_sub(inner), Ordering::Relaxed);
        result
    }

    /// CPU seconds counted for `stage`.
    pub fn seconds(&self, stage: Stage) -> f64 {
        self.spent_ns[stage as usize].load(Ordering::Relaxed) as f64 / 1e9
    }
}

impl Default for StageCpu {
    fn default() -> Self {
        StageCpu::new()
    }
}

/// The server's counters, since start-up.
static PROCESS: StageCpu = StageCpu::new();

thread_local! {
    /// CPU time of the stages measured inside the one running on this thread.
    static NESTED_NS: Cell<u64> = const { Cell::new(0) };
}

/// Runs `work`, counting this thread's CPU time during it (less that of stages measured
/// inside it) as `stage`'s in the server's counters.
pub fn measure<R>(stage: Stage, work: impl FnOnce() -> R) -> R {
    PROCESS.measure(stage, work)
}

/// The running thread's CPU time in nanoseconds (0 where the clock is not available).
#[allow(unsafe_code)] // One libc call; see the SAFETY note.
fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the duration of the call, and
    // clock_gettime only writes to it.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return 0;
    }
    let secs = u64::try_from(ts.tv_sec).unwrap_or(0);
    let nanos = u64::try_from(ts.tv_nsec).unwrap_or(0);
    secs.saturating_mul(1_000_000_000).saturating_add(nanos)
}

/// Exports the server's counters (or, in tests, others) on each scrape of `/metrics`.
#[derive(Debug)]
pub struct StageCpuCollector(pub &'static StageCpu);

impl Default for StageCpuCollector {
    fn default() -> Self {
        StageCpuCollector(&PROCESS)
    }
}

impl std::fmt::Debug for StageCpu {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StageCpu").finish_non_exhaustive()
    }
}

impl Collector for StageCpuCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let stages: Vec<&str> = Stage::ALL.iter().map(|s| s.name()).collect();
        let help = format!(
            "CPU time spent in each synchronous stage of the data flow ({}); the rest of the \
             process CPU is network I/O, TLS, HTTP and the async runtime",
            stages.join(", ")
        );
        let mut family = encoder.encode_descriptor(
            "metrics_rs_stage_cpu_seconds",
            &help,
            None,
            prometheus_client::metrics::MetricType::Counter,
        )?;
        for stage in Stage::ALL {
            let labels = [("stage", stage.name())];
            ConstCounter::new(self.0.seconds(stage)).encode(family.encode_family(&labels)?)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn burn(micros: u64) -> u64 {
        let started = thread_cpu_ns();
        let mut x = 1u64;
        while thread_cpu_ns().saturating_sub(started) < micros * 1_000 {
            x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
        }
        x
    }

    #[test]
    fn a_stage_counts_its_own_cpu_and_not_that_of_a_stage_inside_it() {
        let cpu = StageCpu::new();
        cpu.measure(Stage::Respond, || {
            burn(2_000);
            cpu.measure(Stage::ListEncode, || burn(20_000));
            burn(2_000);
        });
        let (respond, list) = (cpu.seconds(Stage::Respond), cpu.seconds(Stage::ListEncode));
        assert!(list >= 0.020, "list encode {list} s");
        assert!(respond >= 0.004, "respond {respond} s");
        assert!(
            respond < 0.015,
            "the nested stage was counted in the outer one too: {respond} s"
        );
        assert_eq!(cpu.seconds(Stage::Decode), 0.0);
    }

    #[test]
    fn the_counters_are_exported_in_seconds_per_stage() {
        static CPU: StageCpu = StageCpu::new();
        let mut registry = prometheus_client::registry::Registry::default();
        registry.register_collector(Box::new(StageCpuCollector(&CPU)));
        CPU.measure(Stage::Decode, || burn(1_000));
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        let value = |stage: Stage| -> f64 {
            let prefix = format!(
                "metrics_rs_stage_cpu_seconds_total{{stage=\"{}\"}} ",
                stage.name()
            );
            text.lines()
                .find_map(|l| l.strip_prefix(prefix.as_str()))
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("{stage:?} missing: {text}"))
        };
        assert!(value(Stage::Decode) >= 0.001, "{text}");
        for stage in [
            Stage::StoreApply,
            Stage::Publish,
            Stage::ListEncode,
            Stage::Respond,
        ] {
            assert_eq!(value(stage), 0.0, "{text}");
        }
    }
}
