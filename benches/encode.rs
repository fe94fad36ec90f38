//! API list encoding at cluster scale, for 1k, 10k and 100k pods: a fresh JSON encode of the
//! all-namespaces PodMetricsList (what every uncached or selector request pays), building the
//! per-snapshot cached items, and rendering a response from that cache (what an ordinary
//! `kubectl top pods -A` pays), and building the gzip-compressed cached list (what a new
//! snapshot costs once kubectl or client-go, which accept gzip, lists).

use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use metrics_server::api::encode::{ApiVersion, PodItem, json, protobuf};
use metrics_server::api::list_cache::{EncodedPods, GzipPods, ListBody, ListFormat};
use metrics_server::time::Timestamp;
use metrics_server::usage::{ContainerUsage, PodUsage, Usage};

const NAMESPACES: [&str; 4] = ["default", "kube-system", "team-a", "team-b"];

struct Pods {
    keys: Vec<(String, String)>,
    labels: Vec<BTreeMap<String, String>>,
    usages: Vec<PodUsage>,
}

/// Reads a streamed list body to the end, as a response does.
fn body_len(body: ListBody) -> usize {
    body.map(|chunk| chunk.len()).sum()
}

fn pods(n: usize) -> Pods {
    let mut keys: Vec<(String, String)> = (0..n)
        .map(|i| {
            (
                NAMESPACES[i % 4].to_string(),
                format!("web-6d8f9c7b5d-{i:06}"),
            )
        })
        .collect();
    keys.sort();
    let labels = (0..n)
        .map(|_| {
            BTreeMap::from([
                ("app".to_string(), "web".to_string()),
                ("pod-template-hash".to_string(), "6d8f9c7b5d".to_string()),
            ])
        })
        .collect();
    let usages = (0..n)
        .map(|i| PodUsage {
            node: format!("node-{:05}", i / 30).into(),
            timestamp: Timestamp::from_secs(1_750_000_000),
            window_ns: 15_004_000_000,
            containers: (0..if i % 5 == 0 { 3 } else { 1 })
                .map(|c| ContainerUsage {
                    name: ["app", "istio-proxy", "log-shipper"][c].into(),
                    usage: Usage {
                        cpu_nanocores: 12_345_678 + i as u64,
                        memory_bytes: (40 << 20) + i as u64 * 4096,
                    },
                })
                .collect(),
        })
        .collect();
    Pods {
        keys,
        labels,
        usages,
    }
}

fn items(p: &Pods, ts: Timestamp) -> Vec<PodItem<'_>> {
    p.keys
        .iter()
        .zip(&p.labels)
        .zip(&p.usages)
        .map(|(((ns, name), labels), usage)| PodItem::new(ns, name, labels, ts, usage))
        .collect()
}

fn bench_encode(c: &mut Criterion) {
    let now = Timestamp::from_secs(1_750_000_100);
    for n in [1_000usize, 10_000, 100_000] {
        let p = pods(n);
        let list = items(&p, now);
        let mut group = c.benchmark_group(format!("encode/{n}_pods"));
        group.sample_size(10);
        group.throughput(Throughput::Elements(n as u64));
        group.bench_function("json_list_fresh", |b| {
            b.iter(|| {
                let mut out = Vec::with_capacity(256 + n * 400);
                json::write_pod_metrics_list(&mut out, ApiVersion::V1beta1, black_box(&list));
                out
            })
        });
        group.bench_function("json_list_cache_build", |b| {
            b.iter(|| EncodedPods::encode(ListFormat::Json, items(&p, Timestamp(0)).into_iter()))
        });
        let cached = Arc::new(EncodedPods::encode(
            ListFormat::Json,
            items(&p, Timestamp(0)).into_iter(),
        ));
        group.bench_function("json_gzip_list_cache_build", |b| {
            b.iter(|| GzipPods::encode(ListFormat::Json, items(&p, now).into_iter(), n * 30))
        });
        group.bench_function("json_list_cached_render", |b| {
            b.iter(|| {
                cached
                    .render(ApiVersion::V1beta1, None, black_box(now))
                    .map(body_len)
            })
        });
        group.bench_function("json_list_cached_render_one_namespace", |b| {
            b.iter(|| {
                cached
                    .render(ApiVersion::V1beta1, Some("team-a"), black_box(now))
                    .map(body_len)
            })
        });
        group.bench_function("protobuf_list_fresh", |b| {
            b.iter(|| {
                let mut out = Vec::with_capacity(256 + n * 300);
                protobuf::write_pod_metrics_list(&mut out, ApiVersion::V1beta1, black_box(&list));
                out
            })
        });
        // The protobuf placeholder is any time whose seconds varint is 5 bytes long.
        let pb_placeholder = Timestamp::from_secs(1 << 28);
        group.bench_function("protobuf_list_cache_build", |b| {
            b.iter(|| {
                EncodedPods::encode(ListFormat::Protobuf, items(&p, pb_placeholder).into_iter())
            })
        });
        let cached_pb = Arc::new(EncodedPods::encode(
            ListFormat::Protobuf,
            items(&p, pb_placeholder).into_iter(),
        ));
        group.bench_function("protobuf_gzip_list_cache_build", |b| {
            b.iter(|| GzipPods::encode(ListFormat::Protobuf, items(&p, now).into_iter(), n * 30))
        });
        group.bench_function("protobuf_list_cached_render", |b| {
            b.iter(|| {
                cached_pb
                    .render(ApiVersion::V1beta1, None, black_box(now))
                    .map(body_len)
            })
        });
        group.finish();
    }
}

criterion_group!(benches, bench_encode);
criterion_main!(benches);
