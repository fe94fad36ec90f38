//! `/metrics/resource` decoder, two ways (after metrics-server's `Fuzz_decodeBatchRandom` and
//! `Fuzz_decodeBatchPrometheusFormat`):
//!
//! 1. arbitrary bytes: never panics, empty input is not an error, and an accepted batch obeys
//!    the completeness rules;
//! 2. a well-formed payload built from the bytes (non-negative values and timestamps) must
//!    always decode, with every container complete.
#![no_main]

use std::collections::HashSet;
use std::fmt::Write;

use libfuzzer_sys::fuzz_target;
use metrics_server::batch::NodeBatch;
use metrics_server::kubelet::decode::decode_resource;
use metrics_server::time::Timestamp;

const DEFAULT_TIME: Timestamp = Timestamp(1_000_000_000);

fuzz_target!(|data: &[u8]| {
    arbitrary_bytes(data);
    well_formed(data);
});

fn arbitrary_bytes(data: &[u8]) {
    match decode_resource(data, DEFAULT_TIME) {
        Ok(batch) => check_rules(&batch),
        Err(e) => {
            assert!(!data.is_empty(), "empty input must decode: {e}");
            assert!(e.line_number() >= 1);
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

/// Every 8 bytes give one container: pod, container, CPU, memory and timestamp choices.
fn well_formed(data: &[u8]) {
    let mut cpu = String::new();
    let mut memory = String::new();
    let mut expected = HashSet::new();
    for chunk in data.chunks_exact(8) {
        let (pod, container) = (chunk[0] % 16, chunk[1] % 3);
        let labels = format!("{{container=\"c{container}\",namespace=\"ns\",pod=\"p\\\"{pod}\"}}");
        let cpu_value = f64::from(u16::from_le_bytes([chunk[2], chunk[3]])) / 100.0 + 0.01;
        let memory_value = u16::from_le_bytes([chunk[4], chunk[5]]);
        let timestamp = match chunk[6] & 1 {
            0 => String::new(),
            _ => format!(" {}", u64::from(chunk[7]) * 1_000_003),
        };
        let _ = writeln!(
            cpu,
            "container_cpu_usage_seconds_total{labels} {cpu_value}{timestamp}"
        );
        let _ = writeln!(
            memory,
            "container_memory_working_set_bytes{labels} {memory_value:e}{timestamp}"
        );
        expected.insert((pod, container));
    }
    let body = format!("# TYPE x counter\n{cpu}{memory}");
    let batch = match decode_resource(body.as_bytes(), DEFAULT_TIME) {
        Ok(batch) => batch,
        Err(e) => panic!("well-formed payload rejected: {e}\n{body}"),
    };
    assert!(batch.pods.iter().all(|p| p.complete));
    assert_eq!(batch.container_count(), expected.len());
}
