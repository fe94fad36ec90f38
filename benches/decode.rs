//! Throughput of the kubelet payload decoders: the real 70-pod `/metrics/resource` capture,
//! a generated 110-pod payload in the current kubelet format (the default pod limit per
//! node, some pods with three containers), and the largest `/stats/summary` capture.

use std::fmt::Write;
use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use metrics_server::kubelet::decode::{decode_resource, decode_summary};
use metrics_server::time::Timestamp;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
const DEFAULT_TIME: Timestamp = Timestamp(1_750_000_000_000_000_000);

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{FIXTURES}/{name}");
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"))
}

/// (namespace, pod, container) of every container on the generated node: 110 pods, every
/// fifth with three containers.
fn generated_containers() -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for i in 0..110 {
        let namespace = format!("team-{}", i % 7);
        let pod = format!("service-{i}-6d8f9c7b5d-x{:04}", i * 37 % 10_000);
        let containers: &[&str] = if i % 5 == 0 {
            &["app", "istio-proxy", "log-shipper"]
        } else {
            &["app"]
        };
        for c in containers {
            out.push((namespace.clone(), pod.clone(), (*c).to_owned()));
        }
    }
    out
}

/// One family: HELP, TYPE and a line per container, as a kubelet 1.29+ prints it.
fn family(
    out: &mut String,
    name: &str,
    kind: &str,
    rows: &[(String, String, String)],
    value: impl Fn(usize) -> String,
    stamped: bool,
) {
    let _ = writeln!(out, "# HELP {name} [STABLE] {name} help text");
    let _ = writeln!(out, "# TYPE {name} {kind}");
    for (i, (namespace, pod, container)) in rows.iter().enumerate() {
        let _ = write!(
            out,
            "{name}{{container=\"{container}\",namespace=\"{namespace}\",pod=\"{pod}\"}} {}",
            value(i)
        );
        if stamped {
            let _ = write!(out, " {}", 1_750_000_000_000u64 + i as u64 * 7);
        }
        out.push('\n');
    }
}

fn current_format_payload() -> Vec<u8> {
    let rows = generated_containers();
    let mut out = String::new();
    family(
        &mut out,
        "container_cpu_usage_seconds_total",
        "counter",
        &rows,
        |i| format!("{}.{:06}", 10 + i, i * 7919 % 1_000_000),
        true,
    );
    family(
        &mut out,
        "container_memory_working_set_bytes",
        "gauge",
        &rows,
        |i| format!("{:e}", 1.0e7 + i as f64 * 65_536.0),
        true,
    );
    family(
        &mut out,
        "container_start_time_seconds",
        "gauge",
        &rows,
        |i| format!("{:e}", 1.7499e9 + i as f64),
        false,
    );
    family(
        &mut out,
        "container_swap_usage_bytes",
        "gauge",
        &rows,
        |_| "0".to_owned(),
        true,
    );
    out.push_str("# HELP node_cpu_usage_seconds_total [STABLE] x\n# TYPE node_cpu_usage_seconds_total counter\n");
    out.push_str("node_cpu_usage_seconds_total 98765.432101 1750000000000\n");
    out.push_str("# HELP node_memory_working_set_bytes [STABLE] x\n# TYPE node_memory_working_set_bytes gauge\n");
    out.push_str("node_memory_working_set_bytes 6.442450944e+09 1750000000000\n");
    out.push_str("# HELP node_swap_usage_bytes [ALPHA] x\n# TYPE node_swap_usage_bytes gauge\nnode_swap_usage_bytes 0 1750000000000\n");
    let _ = writeln!(
        out,
        "# HELP pod_cpu_usage_seconds_total [STABLE] x\n# TYPE pod_cpu_usage_seconds_total counter"
    );
    for (namespace, pod, container) in &rows {
        if container == "app" {
            let _ = writeln!(
                out,
                "pod_cpu_usage_seconds_total{{namespace=\"{namespace}\",pod=\"{pod}\"}} 12.5 1750000000000"
            );
        }
    }
    out.push_str("# HELP resource_scrape_error [STABLE] x\n# TYPE resource_scrape_error gauge\nresource_scrape_error 0\n");
    out.push_str("# HELP scrape_error [ALPHA] x\n# TYPE scrape_error gauge\nscrape_error 0\n");
    out.into_bytes()
}

fn bench_resource(c: &mut Criterion) {
    let mut group = c.benchmark_group("decode_resource");
    let capture = fixture(
        "metrics-resource_kind-e2e-cluster-2021-10_70pods_from-metrics-server-client_test.prom",
    );
    let generated = current_format_payload();
    let check = decode_resource(&generated, DEFAULT_TIME)
        .map(|d| (d.batch.pods.len(), d.batch.container_count()));
    assert_eq!(
        check.ok(),
        Some((110, 154)),
        "generated payload must decode fully"
    );
    for (name, body) in [("70pods", &capture), ("110pods_current", &generated)] {
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_function(name, |b| {
            b.iter(|| decode_resource(black_box(body), DEFAULT_TIME))
        });
    }
    group.finish();
}

fn bench_summary(c: &mut Criterion) {
    let mut group = c.benchmark_group("decode_summary");
    let body = fixture("stats-summary_k8s-1.34_minikube-containerd_nri-kubernetes.json");
    group.throughput(Throughput::Bytes(body.len() as u64));
    group.bench_function("k8s-1.34", |b| {
        b.iter(|| decode_summary(black_box(&body), DEFAULT_TIME))
    });
    group.finish();
}

criterion_group!(benches, bench_resource, bench_summary);
criterion_main!(benches);
