//! The kubelet's `/stats/summary` body (Summary API JSON, shaped like the 1.35 fixture, only
//! the CPU and memory parts; upstream spec §3.1): node and running pods with their containers,
//! cumulative `usageCoreNanoSeconds`, the true `usageNanoCores`, memory working set, and
//! RFC 3339 timestamps with nanoseconds.

use std::fmt::Write;

use crate::workload::{NodeSample, TrueUsage, Workload};
use metrics_server::time::{NANOS_PER_SEC, Timestamp};

/// A body that is not JSON.
pub(super) const GARBAGE: &str = "{\"node\": {\"nodeName\": [not json";

/// The body for node `index` at `sample.at`.
pub(super) fn render(workload: &Workload, index: usize, sample: &NodeSample) -> String {
    let node = &workload.nodes()[index];
    let at = sample.at;
    let mut out = String::with_capacity(1_000 + sample.pods.len() * 900);
    out.push_str("{\"node\":{\"nodeName\":\"");
    out.push_str(&node.name);
    out.push_str("\",\"startTime\":");
    push_time(&mut out, node.boot);
    out.push(',');
    push_cpu(&mut out, at, sample.usage, sample.cpu_counter_ns);
    out.push(',');
    let available = node
        .capacity
        .memory_bytes
        .saturating_sub(sample.usage.memory_bytes);
    push_memory(&mut out, at, sample.usage.memory_bytes, Some(available));
    out.push_str("},\"pods\":[");
    for (n, (p, containers)) in sample.pods.iter().enumerate() {
        let pod = &workload.pods()[*p];
        if n > 0 {
            out.push(',');
        }
        let _ = write!(
            out,
            "{{\"podRef\":{{\"name\":\"{}\",\"namespace\":\"{}\",\"uid\":\"{}\"}},\"startTime\":",
            pod.name, pod.namespace, pod.uid
        );
        push_time(&mut out, pod.created);
        out.push_str(",\"containers\":[");
        let mut total = TrueUsage::default();
        let mut total_cpu_ns = 0u64;
        for (k, (spec, c)) in pod.containers.iter().zip(containers).enumerate() {
            if k > 0 {
                out.push(',');
            }
            let _ = write!(out, "{{\"name\":\"{}\",\"startTime\":", spec.name);
            push_time(&mut out, c.start);
            out.push(',');
            push_cpu(&mut out, at, c.usage, c.cpu_counter_ns);
            out.push(',');
            push_memory(&mut out, at, c.usage.memory_bytes, None);
            out.push('}');
            total.cpu_millicores += c.usage.cpu_millicores;
            total.memory_bytes += c.usage.memory_bytes;
            total_cpu_ns += c.cpu_counter_ns;
        }
        out.push_str("],");
        push_cpu(&mut out, at, total, total_cpu_ns);
        out.push(',');
        push_memory(&mut out, at, total.memory_bytes, None);
        out.push('}');
    }
    out.push_str("]}");
    out
}

fn push_cpu(out: &mut String, at: Timestamp, usage: TrueUsage, counter_ns: u64) {
    out.push_str("\"cpu\":{\"time\":");
    push_time(out, at);
    let _ = write!(
        out,
        ",\"usageNanoCores\":{},\"usageCoreNanoSeconds\":{counter_ns}}}",
        usage.cpu_nanocores()
    );
}

/// Memory block; usage includes some page cache on top of the working set, RSS is 90% of it.
fn push_memory(out: &mut String, at: Timestamp, working_set: u64, available: Option<u64>) {
    out.push_str("\"memory\":{\"time\":");
    push_time(out, at);
    if let Some(available) = available {
        let _ = write!(out, ",\"availableBytes\":{available}");
    }
    let usage = working_set + working_set / 8;
    let rss = working_set / 10 * 9;
    let _ = write!(
        out,
        ",\"usageBytes\":{usage},\"workingSetBytes\":{working_set},\"rssBytes\":{rss},\"pageFaults\":0,\"majorPageFaults\":0}}"
    );
}

/// A quoted RFC 3339 UTC time with nanoseconds, trailing zeros trimmed (Go's RFC3339Nano).
fn push_time(out: &mut String, t: Timestamp) {
    out.push('"');
    write_rfc3339_nanos(out, t);
    out.push('"');
}

pub(super) fn write_rfc3339_nanos(out: &mut String, t: Timestamp) {
    t.write_rfc3339_seconds(out);
    let nanos = t.0.rem_euclid(NANOS_PER_SEC);
    if nanos != 0 {
        out.pop(); // the 'Z'
        let mut frac = format!("{nanos:09}");
        while frac.ends_with('0') {
            frac.pop();
        }
        out.push('.');
        out.push_str(&frac);
        out.push('Z');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_nanos_round_trips_and_trims_zeros() {
        for (t, s) in [
            (Timestamp(1_633_252_712_000_000_000), "2021-10-03T09:18:32Z"),
            (
                Timestamp(1_633_252_712_500_000_000),
                "2021-10-03T09:18:32.5Z",
            ),
            (
                Timestamp(1_633_252_712_000_000_007),
                "2021-10-03T09:18:32.000000007Z",
            ),
        ] {
            let mut out = String::new();
            write_rfc3339_nanos(&mut out, t);
            assert_eq!(out, s);
            assert_eq!(Timestamp::parse_rfc3339(&out), Ok(t));
        }
    }
}
