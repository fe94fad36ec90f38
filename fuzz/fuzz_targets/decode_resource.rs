//! `/metrics/resource` decoder, two ways (after metrics-server's `Fuzz_decodeBatchRandom` and
//! `Fuzz_decodeBatchPrometheusFormat`):
//!
//! 1. arbitrary bytes: never panics, empty input is not an error, an error names a line of the
//!    input, and an accepted batch obeys the completeness rules;
//! 2. a well-formed payload built from the first bytes (non-negative values and timestamps)
//!    must always decode, with every container complete.
#![no_main]

use std::cell::RefCell;
use std::fmt::Write;

use libfuzzer_sys::fuzz_target;
use metrics_server::batch::NodeBatch;
use metrics_server::kubelet::decode::{decode_resource, decode_resource_with};
use metrics_server::time::Timestamp;
use metrics_server::usage::ExtraResources;

const DEFAULT_TIME: Timestamp = Timestamp(1_000_000_000);

/// Pods and containers per pod the well-formed payload names: 48 distinct containers.
const PODS: u8 = 16;
const CONTAINERS: u8 = 3;
/// Input bytes per container line pair of the well-formed payload.
const CHUNK: usize = 8;
/// Containers written at most. Beyond the 48 distinct ones, more lines only repeat them; the
/// payload used to grow with the input (about 25 bytes of text per input byte), so a run on
/// a 35 KB seed decoded 800 KB and the target managed 25–160 runs a second.
const MAX_CONTAINERS: usize = 64;

thread_local! {
    /// The well-formed payload, its allocation kept between runs.
    static BODY: RefCell<String> = RefCell::new(String::with_capacity(16 * 1024));
}

fuzz_target!(|data: &[u8]| {
    arbitrary_bytes(data);
    well_formed(data);
});

fn arbitrary_bytes(data: &[u8]) {
    let with_extra = decode_resource_with(data, DEFAULT_TIME, ExtraResources::ALL);
    match (&decode_resource(data, DEFAULT_TIME), &with_extra) {
        (Ok(p), Ok(e)) => assert!(p.batch == e.batch && p.invalid == e.invalid),
        (Err(p), Err(e)) => assert_eq!(p.to_string(), e.to_string()),
        _ => panic!("reading swap changed the outcome"),
    }
    match decode_resource(data, DEFAULT_TIME) {
        Ok(decoded) => check_rules(&decoded.batch),
        Err(e) => {
            assert!(!data.is_empty(), "empty input must decode: {e}");
            let lines = data.split(|&b| b == b'\n').count();
            assert!(
                (1..=lines).contains(&e.line_number()),
                "{e}: not a line of the {lines} in the input"
            );
        }
    }
}

fn check_rules(batch: &NodeBatch<'_>) {
    if let Some(node) = batch.node {
        assert!(node.cpu_ns > 0);
    }
    for pod in &batch.pods {
        assert!(!pod.namespace.is_empty() && !pod.name.is_empty());
        for container in &pod.containers {
            assert!(!container.name.is_empty());
            assert!(container.point.cpu_ns > 0);
            assert!(container.point.start_time.is_none_or(|t| t.0 > 0));
        }
    }
}

/// Every 8 bytes give one container: pod, container, CPU, memory and timestamp choices. The
/// CPU series is written first, then the memory series, in the same container order (as a
/// kubelet prints them).
fn well_formed(data: &[u8]) {
    let chunks = || data.chunks_exact(CHUNK).take(MAX_CONTAINERS);
    BODY.with_borrow_mut(|body| {
        body.clear();
        body.push_str("# TYPE x counter\n");
        for chunk in chunks() {
            write_line(body, "container_cpu_usage_seconds_total", chunk);
        }
        for chunk in chunks() {
            write_line(body, "container_memory_working_set_bytes", chunk);
        }
        let batch = match decode_resource(body.as_bytes(), DEFAULT_TIME) {
            Ok(decoded) => decoded.batch,
            Err(e) => panic!("well-formed payload rejected: {e}\n{body}"),
        };
        assert!(batch.pods.iter().all(|p| p.complete));
        assert_eq!(batch.container_count(), distinct_containers(chunks()));
    });
}

/// One sample line of `series` for the container `chunk` describes.
fn write_line(body: &mut String, series: &str, chunk: &[u8]) {
    let (pod, container) = (chunk[0] % PODS, chunk[1] % CONTAINERS);
    let _ = write!(
        body,
        "{series}{{container=\"c{container}\",namespace=\"ns\",pod=\"p\\\"{pod}\"}} "
    );
    let _ = match series {
        "container_cpu_usage_seconds_total" => {
            let cpu = f64::from(u16::from_le_bytes([chunk[2], chunk[3]])) / 100.0 + 0.01;
            write!(body, "{cpu}")
        }
        _ => write!(body, "{:e}", u16::from_le_bytes([chunk[4], chunk[5]])),
    };
    if chunk[6] & 1 == 1 {
        let _ = write!(body, " {}", u64::from(chunk[7]) * 1_000_003);
    }
    body.push('\n');
}

/// How many distinct (pod, container) pairs the chunks name.
fn distinct_containers<'a>(chunks: impl Iterator<Item = &'a [u8]>) -> usize {
    let seen = chunks.fold(0u64, |seen, chunk| {
        let index = (chunk[0] % PODS) * CONTAINERS + chunk[1] % CONTAINERS;
        seen | 1 << index
    });
    seen.count_ones() as usize
}
