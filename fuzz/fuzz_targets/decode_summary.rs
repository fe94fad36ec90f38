//! `/stats/summary` decoder on arbitrary bytes: never panics, an error names a line of the
//! input, and whatever it accepts obeys the completeness rules. Reading swap and ephemeral
//! storage too changes neither the outcome nor the CPU and memory batch.
#![no_main]

use libfuzzer_sys::fuzz_target;
use metrics_server::kubelet::decode::{decode_summary, decode_summary_with};
use metrics_server::time::Timestamp;
use metrics_server::usage::ExtraResources;

const RECEIVED: Timestamp = Timestamp(1_800_000_000_000_000_000);

fuzz_target!(|data: &[u8]| {
    let plain = decode_summary(data, RECEIVED);
    let with_extra = decode_summary_with(data, RECEIVED, ExtraResources::ALL);
    match (&plain, &with_extra) {
        (Ok(p), Ok(e)) => assert!(p.batch == e.batch && p.invalid == e.invalid),
        (Err(p), Err(e)) => assert_eq!(p.to_string(), e.to_string()),
        _ => panic!("extra resources changed the outcome"),
    }
    let batch = match plain {
        Ok(decoded) => decoded.batch,
        Err(e) => {
            let lines = data.split(|&b| b == b'\n').count();
            assert!(
                (1..=lines).contains(&e.line_number()),
                "{e}: not a line of the {lines} in the input"
            );
            return;
        }
    };
    if let Some(node) = batch.node {
        assert!(node.cpu_ns > 0);
    }
    for pod in &batch.pods {
        assert!(!pod.namespace.is_empty() && !pod.name.is_empty());
        for container in &pod.containers {
            assert!(container.point.cpu_ns > 0);
            assert!(container.point.start_time.is_none_or(|t| t.0 > 0));
        }
    }
});
