//! The kubelet's `/stats/summary` body (Summary API JSON, shaped like the 1.35 fixture; upstream
//! spec §3.1): node and running pods with their containers, cumulative `usageCoreNanoSeconds`,
//! the true `usageNanoCores`, memory working set, and RFC 3339 timestamps with nanoseconds.
//!
//! Two forms, like the kubelet's: the whole Summary, and the CPU-and-memory one
//! (`?only_cpu_and_memory=true`), which keeps the node's swap but has no filesystem figures
//! and no container swap (a kubelet reading containers through cAdvisor, the default, leaves
//! it out there). The whole one adds the node's `fs` and `runtime.imageFs`, each container's
//! `rootfs`, `logs` and `swap`, each pod's `volume` list (its `emptyDir` and a projected
//! service-account volume, which the kubelet does not count as ephemeral storage), its
//! `ephemeral-storage` and its `swap`.

use std::fmt::Write;

use crate::workload::{DiskUsage, NodeSample, POD_OVERHEAD_BYTES, TrueUsage, Workload};
use metrics_server::time::{NANOS_PER_SEC, Timestamp};

/// Which form of the Summary API is served.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(super) enum Form {
    /// `/stats/summary`.
    Whole,
    /// `/stats/summary?only_cpu_and_memory=true`.
    CpuAndMemory,
}

impl Form {
    /// The form a request's query asks for.
    pub(super) fn of_query(query: Option<&str>) -> Form {
        let only = query
            .into_iter()
            .flat_map(|q| q.split('&'))
            .any(|pair| pair == "only_cpu_and_memory=true");
        if only {
            Form::CpuAndMemory
        } else {
            Form::Whole
        }
    }
}

/// The size of the node's (and each container's) filesystem.
const FS_CAPACITY_BYTES: u64 = 100 << 30;
/// Bytes in use on the node's image filesystem (the same device as its root filesystem).
const IMAGE_FS_BYTES: u64 = 1_715_707_904;
/// What a projected service-account volume uses (not ephemeral storage to the kubelet).
const PROJECTED_VOLUME_BYTES: u64 = 12_288;

/// A body that is not JSON.
pub(super) const GARBAGE: &str = "{\"node\": {\"nodeName\": [not json";

/// The body for node `index` at `sample.at`.
pub(super) fn render(workload: &Workload, index: usize, sample: &NodeSample, form: Form) -> String {
    let node = &workload.nodes()[index];
    let at = sample.at;
    let whole = form == Form::Whole;
    let mut out = String::with_capacity(1_000 + sample.pods.len() * 1_800);
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
    out.push(',');
    push_swap(&mut out, at, sample.swap_bytes);
    if whole {
        out.push_str(",\"fs\":");
        push_fs(&mut out, at, sample.fs_used_bytes);
        out.push_str(",\"runtime\":{\"imageFs\":");
        push_fs(&mut out, at, IMAGE_FS_BYTES);
        out.push('}');
    }
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
            if whole {
                push_container_disk(&mut out, at, c.disk);
            }
            out.push('}');
            total.cpu_millicores += c.usage.cpu_millicores;
            total.memory_bytes += c.usage.memory_bytes;
            total_cpu_ns += c.cpu_counter_ns;
        }
        out.push_str("],");
        push_cpu(&mut out, at, total, total_cpu_ns);
        out.push(',');
        push_memory(&mut out, at, total.memory_bytes, None);
        if whole {
            let empty_dir = sample.empty_dirs.get(n).copied().unwrap_or(0);
            let disks = containers.iter().map(|c| c.disk);
            push_pod_disk(&mut out, at, &pod.uid, empty_dir, disks);
        }
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

/// `"swap":{…}` of the node or a pod.
fn push_swap(out: &mut String, at: Timestamp, used: u64) {
    out.push_str("\"swap\":{\"time\":");
    push_time(out, at);
    let _ = write!(out, ",\"swapUsageBytes\":{used}}}");
}

/// A filesystem block with `used` bytes in use.
fn push_fs(out: &mut String, at: Timestamp, used: u64) {
    out.push_str("{\"time\":");
    push_time(out, at);
    let available = FS_CAPACITY_BYTES.saturating_sub(used);
    let _ = write!(
        out,
        ",\"availableBytes\":{available},\"capacityBytes\":{FS_CAPACITY_BYTES},\"usedBytes\":{used},\"inodesUsed\":{}}}",
        used / 4096
    );
}

/// A container's `rootfs`, `logs` and `swap`.
fn push_container_disk(out: &mut String, at: Timestamp, disk: DiskUsage) {
    out.push_str(",\"rootfs\":");
    push_fs(out, at, disk.rootfs_bytes);
    out.push_str(",\"logs\":");
    push_fs(out, at, disk.logs_bytes);
    out.push_str(",\"swap\":{\"time\":");
    push_time(out, at);
    let _ = write!(
        out,
        ",\"swapAvailableBytes\":0,\"swapUsageBytes\":{}}}",
        disk.swap_bytes
    );
}

/// A pod's `volume` list, `ephemeral-storage` and `swap`: the kubelet's ephemeral storage of
/// a pod is its containers' root filesystems and logs, its `emptyDir` and its `/etc/hosts`.
fn push_pod_disk(
    out: &mut String,
    at: Timestamp,
    uid: &str,
    empty_dir: u64,
    containers: impl Iterator<Item = DiskUsage> + Clone,
) {
    out.push_str(",\"volume\":[");
    if empty_dir > 0 {
        out.push_str("{\"time\":");
        push_time(out, at);
        let _ = write!(out, ",\"usedBytes\":{empty_dir},\"name\":\"scratch\"}},");
    }
    out.push_str("{\"time\":");
    push_time(out, at);
    let suffix: String = uid
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(5)
        .collect();
    let _ = write!(
        out,
        ",\"usedBytes\":{PROJECTED_VOLUME_BYTES},\"name\":\"kube-api-access-{suffix}\"}}]"
    );
    let own: u64 = containers.clone().map(DiskUsage::storage_bytes).sum();
    out.push_str(",\"ephemeral-storage\":");
    push_fs(out, at, own + empty_dir + POD_OVERHEAD_BYTES);
    out.push(',');
    push_swap(out, at, containers.map(|d| d.swap_bytes).sum());
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
    fn the_form_follows_the_query() {
        assert_eq!(Form::of_query(None), Form::Whole);
        assert_eq!(Form::of_query(Some("")), Form::Whole);
        assert_eq!(
            Form::of_query(Some("only_cpu_and_memory=true")),
            Form::CpuAndMemory
        );
        assert_eq!(
            Form::of_query(Some("only_cpu_and_memory=false")),
            Form::Whole
        );
    }

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
