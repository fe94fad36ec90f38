//! The kubelet's `/metrics/resource` body (Prometheus text 0.0.4, kubelet 1.30+ wording):
//! families sorted by name, `[STABLE]` HELP texts (`[ALPHA]` for swap), series sorted by label
//! values, values printed like Go's `strconv.FormatFloat(v, 'g', -1, 64)`, CPU, memory and
//! swap with the sample timestamp in milliseconds, `container_start_time_seconds` without one
//! (upstream spec §3.3).

use std::fmt::Write;

use crate::workload::{ContainerSample, NodeSample, Workload};

pub(super) const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A body that no Prometheus text parser accepts (unterminated label set, bad value).
pub(super) const GARBAGE: &str = "# TYPE node_cpu_usage_seconds_total counter\n\
node_cpu_usage_seconds_total{node=\"x 12.5.7 notatimestamp\n\x00\x01garbage\n";

/// The families a kubelet ≥ 1.30 prints, sorted by name: (name, HELP, TYPE).
const FAMILIES: [(&str, &str, &str); 12] = [
    (
        "container_cpu_usage_seconds_total",
        "[STABLE] Cumulative cpu time consumed by the container in core-seconds",
        "counter",
    ),
    (
        "container_memory_working_set_bytes",
        "[STABLE] Current working set of the container in bytes",
        "gauge",
    ),
    (
        "container_start_time_seconds",
        "[STABLE] Start time of the container since unix epoch in seconds",
        "gauge",
    ),
    (
        "container_swap_usage_bytes",
        "[ALPHA] Current amount of the container swap usage in bytes. Reported only on non-windows systems",
        "gauge",
    ),
    (
        "node_cpu_usage_seconds_total",
        "[STABLE] Cumulative cpu time consumed by the node in core-seconds",
        "counter",
    ),
    (
        "node_memory_working_set_bytes",
        "[STABLE] Current working set of the node in bytes",
        "gauge",
    ),
    (
        "node_swap_usage_bytes",
        "[ALPHA] Current swap usage of the node in bytes. Reported only on non-windows systems",
        "gauge",
    ),
    (
        "pod_cpu_usage_seconds_total",
        "[STABLE] Cumulative cpu time consumed by the pod in core-seconds",
        "counter",
    ),
    (
        "pod_memory_working_set_bytes",
        "[STABLE] Current working set of the pod in bytes",
        "gauge",
    ),
    (
        "pod_swap_usage_bytes",
        "[ALPHA] Current amount of the pod swap usage in bytes. Reported only on non-windows systems",
        "gauge",
    ),
    (
        "resource_scrape_error",
        "[STABLE] 1 if there was an error while getting container metrics, 0 otherwise",
        "gauge",
    ),
    (
        "scrape_error",
        "[ALPHA] (Deprecated since 1.29.0) 1 if there was an error while getting container metrics, 0 otherwise",
        "gauge",
    ),
];

/// One pod's totals: (namespace, name, CPU counter, working set, swap).
type PodRow<'a> = (&'a str, &'a str, u64, u64, u64);

/// The body for one node at `sample.at`; `order` lists `(position in sample.pods, container)`
/// in print order.
pub(super) fn render(workload: &Workload, sample: &NodeSample, order: &[(usize, usize)]) -> String {
    let pods = workload.pods();
    let containers: Vec<(&str, &str, &str, &ContainerSample)> = order
        .iter()
        .filter_map(|&(pos, c)| {
            let (p, samples) = sample.pods.get(pos)?;
            let pod = &pods[*p];
            let name = pod.containers.get(c)?.name.as_str();
            Some((
                name,
                pod.namespace.as_str(),
                pod.name.as_str(),
                samples.get(c)?,
            ))
        })
        .collect();
    let mut pod_rows: Vec<PodRow<'_>> = sample
        .pods
        .iter()
        .map(|(p, cs)| {
            let cpu = cs.iter().map(|c| c.cpu_counter_ns).sum();
            let mem = cs.iter().map(|c| c.usage.memory_bytes).sum();
            let swap = cs.iter().map(|c| c.disk.swap_bytes).sum();
            let pod = &pods[*p];
            (pod.namespace.as_str(), pod.name.as_str(), cpu, mem, swap)
        })
        .collect();
    pod_rows.sort_unstable_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));

    let ts = sample.at.0.div_euclid(1_000_000);
    let mut out = String::with_capacity(2_000 + containers.len() * 600 + pod_rows.len() * 300);
    let mut scratch = String::with_capacity(32);
    for (name, help, kind) in FAMILIES {
        let _ = write!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n");
        let container_value = |c: &ContainerSample| match name {
            "container_cpu_usage_seconds_total" => Some(seconds(c.cpu_counter_ns)),
            "container_memory_working_set_bytes" => Some(c.usage.memory_bytes as f64),
            "container_start_time_seconds" => Some(c.start.0 as f64 / 1e9),
            "container_swap_usage_bytes" => Some(c.disk.swap_bytes as f64),
            _ => None,
        };
        let pod_value = |row: &PodRow<'_>| match name {
            "pod_cpu_usage_seconds_total" => Some(seconds(row.2)),
            "pod_memory_working_set_bytes" => Some(row.3 as f64),
            "pod_swap_usage_bytes" => Some(row.4 as f64),
            _ => None,
        };
        let node_value = match name {
            "node_cpu_usage_seconds_total" => Some(seconds(sample.cpu_counter_ns)),
            "node_memory_working_set_bytes" => Some(sample.usage.memory_bytes as f64),
            "node_swap_usage_bytes" => Some(sample.swap_bytes as f64),
            _ => None,
        };
        // The start time is printed without a sample timestamp, like the kubelet does.
        let stamp = (name != "container_start_time_seconds").then_some(ts);
        if name.starts_with("container_") {
            for (container, ns, pod, c) in &containers {
                let Some(value) = container_value(c) else {
                    continue;
                };
                let _ = write!(
                    out,
                    "{name}{{container=\"{container}\",namespace=\"{ns}\",pod=\"{pod}\"}} "
                );
                push_value(&mut out, &mut scratch, value, stamp);
            }
        } else if name.starts_with("pod_") {
            for row in &pod_rows {
                let Some(value) = pod_value(row) else {
                    continue;
                };
                let _ = write!(out, "{name}{{namespace=\"{}\",pod=\"{}\"}} ", row.0, row.1);
                push_value(&mut out, &mut scratch, value, Some(ts));
            }
        } else if let Some(value) = node_value {
            push_series(&mut out, &mut scratch, name, value, ts);
        } else {
            let _ = writeln!(out, "{name} 0");
        }
    }
    out
}

fn seconds(ns: u64) -> f64 {
    ns as f64 / 1e9
}

fn push_series(out: &mut String, scratch: &mut String, name: &str, value: f64, ts: i64) {
    out.push_str(name);
    out.push(' ');
    push_value(out, scratch, value, Some(ts));
}

fn push_value(out: &mut String, scratch: &mut String, value: f64, ts: Option<i64>) {
    write_go_float(out, scratch, value);
    if let Some(ts) = ts {
        let _ = write!(out, " {ts}");
    }
    out.push('\n');
}

/// Go's `strconv.FormatFloat(v, 'g', -1, 64)`: shortest round-trip digits, exponent form
/// (`1.253376e+07`) when the decimal exponent is < -4 or >= 6 (Go uses 6 for the shortest form).
pub(super) fn write_go_float(out: &mut String, scratch: &mut String, v: f64) {
    if v == 0.0 || !v.is_finite() {
        let special = match v {
            _ if v.is_nan() => "NaN",
            _ if v == f64::INFINITY => "+Inf",
            _ if v == f64::NEG_INFINITY => "-Inf",
            _ => "0",
        };
        out.push_str(special);
        return;
    }
    scratch.clear();
    let _ = write!(scratch, "{v:e}");
    let (mantissa, exp) = scratch.split_once('e').unwrap_or((scratch.as_str(), "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if !(-4..6).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        let _ = write!(out, "{mantissa}e{sign}{:02}", exp.abs());
    } else {
        let _ = write!(out, "{v}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn go(v: f64) -> String {
        let (mut out, mut scratch) = (String::new(), String::new());
        write_go_float(&mut out, &mut scratch, v);
        out
    }

    #[test]
    fn floats_print_like_go_g_shortest() {
        // Values as they appear in real kubelet output (fixtures and upstream decode tests).
        assert_eq!(go(4.710169), "4.710169");
        assert_eq!(go(12_533_760.0), "1.253376e+07");
        assert_eq!(go(1_616_273_408.0), "1.616273408e+09");
        assert_eq!(go(1.6509742024191372e9), "1.6509742024191372e+09");
        assert_eq!(go(-6.7953645788713455e9), "-6.7953645788713455e+09");
        assert_eq!(go(357.35491), "357.35491");
        assert_eq!(go(999_999.0), "999999");
        assert_eq!(go(0.0001), "0.0001");
        assert_eq!(go(0.00001), "1e-05");
        assert_eq!(go(0.0), "0");
    }
}
