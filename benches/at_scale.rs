//! The per-cycle work at 5,000 nodes × 30 pods over a heap laid out like a running server's:
//! 40 namespaces, pods placed on nodes at random, pod metadata arriving in another order, three
//! scrape cycles applied. A snapshot publish and a list walk the pods by (namespace, name), so
//! they read names, usages and metadata scattered over the heap, as they do in the server (the
//! `store` and `encode` benches use tidy layouts, where the same code runs 2–3× faster).
//!
//! Measured: the store's publish, and the compressed all-namespaces pod lists built through
//! the list cache (one format; both formats in one pass).

use std::borrow::Cow;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use k8s_openapi::api::core::v1::Pod;
use kube::core::PartialObjectMeta;
use kube::runtime::watcher::Event;
use metrics_server::api::list_cache::{ListFormat, PodListCache};
use metrics_server::batch::{ContainerBatch, MetricsPoint, NodeBatch, PodBatch};
use metrics_server::cluster::{ClusterCache, NodeStore, PodStore, Synced};
use metrics_server::store::{Snapshot, Store, StoreConfig};
use metrics_server::time::Timestamp;

const NODES: usize = 5_000;
const PODS_PER_NODE: usize = 30;
const NAMESPACES: usize = 40;

struct PodSpec {
    namespace: String,
    name: String,
    deployment: String,
    containers: &'static [&'static str],
}

fn pod_specs(rng: &mut fastrand::Rng) -> Vec<PodSpec> {
    let mut specs: Vec<PodSpec> = (0..NODES * PODS_PER_NODE)
        .map(|i| {
            let deployment = format!("svc-{}", i / 12);
            PodSpec {
                namespace: format!("team-{}", i / 12 % NAMESPACES),
                name: format!("{deployment}-6d8f9c7b5d-{:05x}", rng.u32(..0xfffff)),
                deployment,
                containers: if i % 5 == 0 {
                    &["app", "istio-proxy", "log-shipper"]
                } else {
                    &["app"]
                },
            }
        })
        .collect();
    rng.shuffle(&mut specs);
    specs
}

fn node_batch(pods: &[PodSpec], secs: i64) -> NodeBatch<'_> {
    let point = |i: usize| MetricsPoint {
        timestamp: Timestamp::from_secs(secs),
        start_time: Some(Timestamp::from_secs(1_000)),
        cpu_ns: secs as u64 * 1_000_000 * (i as u64 % 7 + 1),
        memory_bytes: (40 << 20) + i as u64 * 4096,
    };
    NodeBatch {
        node: Some(point(0)),
        pods: pods
            .iter()
            .enumerate()
            .map(|(i, p)| PodBatch {
                namespace: Cow::Borrowed(&p.namespace),
                name: Cow::Borrowed(&p.name),
                containers: p
                    .containers
                    .iter()
                    .map(|c| ContainerBatch {
                        name: Cow::Borrowed(*c),
                        point: point(i),
                    })
                    .collect(),
                complete: true,
            })
            .collect(),
    }
}

fn cluster(specs: &[PodSpec], rng: &mut fastrand::Rng) -> ClusterCache {
    let pods = PodStore::default();
    let mut order: Vec<&PodSpec> = specs.iter().collect();
    rng.shuffle(&mut order);
    for spec in order {
        let mut pod = PartialObjectMeta::<Pod>::default();
        pod.metadata.namespace = Some(spec.namespace.clone());
        pod.metadata.name = Some(spec.name.clone());
        pod.metadata.labels = Some(
            [
                ("app".to_string(), spec.deployment.clone()),
                ("pod-template-hash".to_string(), "6d8f9c7b5d".to_string()),
            ]
            .into(),
        );
        pods.apply(&Event::Apply(pod));
    }
    let nodes = NodeStore::default();
    let synced = Synced::already();
    ClusterCache::new(nodes, pods, synced.clone(), synced)
}

/// A store that applied three cycles, and its last two snapshots.
fn store_and_snapshots(specs: &[PodSpec]) -> (Store, [Snapshot; 2]) {
    let names: Vec<String> = (0..NODES).map(|n| format!("node-{n:05}")).collect();
    let mut store = Store::new(StoreConfig::default());
    let mut cycle = |secs| {
        for (name, pods) in names.iter().zip(specs.chunks(PODS_PER_NODE)) {
            store.apply_node(name, &node_batch(pods, secs));
        }
        store.publish()
    };
    cycle(10_000);
    let snapshots = [cycle(10_015), cycle(10_030)];
    (store, snapshots)
}

fn bench_at_scale(c: &mut Criterion) {
    let mut rng = fastrand::Rng::with_seed(7);
    let specs = pod_specs(&mut rng);
    let cluster = cluster(&specs, &mut rng);
    let (mut store, snapshots) = store_and_snapshots(&specs);
    drop(specs);

    let mut group = c.benchmark_group(format!("at_scale/{}_pods", NODES * PODS_PER_NODE));
    group.sample_size(10);
    group.throughput(Throughput::Elements((NODES * PODS_PER_NODE) as u64));
    group.bench_function("publish", |b| b.iter(|| store.publish().servable_pods()));
    for (label, format) in [
        ("json", ListFormat::Json),
        ("protobuf", ListFormat::Protobuf),
    ] {
        group.bench_function(format!("{label}_gzip_list_build"), |b| {
            b.iter_batched(
                PodListCache::default,
                |cache| {
                    let built = cache.get_gzip(&snapshots[1], &cluster, format);
                    let len = built.map_or(0, |list| list.len());
                    (cache, len)
                },
                BatchSize::PerIteration,
            )
        });
    }
    // Both formats in use (read for the previous snapshot): one pass builds the two.
    group.bench_function("both_gzip_lists_build", |b| {
        b.iter_batched(
            || {
                let cache = PodListCache::default();
                let _ = cache.get_gzip(&snapshots[0], &cluster, ListFormat::Json);
                let _ = cache.get_gzip(&snapshots[0], &cluster, ListFormat::Protobuf);
                cache
            },
            |cache| {
                let len = cache
                    .get_gzip(&snapshots[1], &cluster, ListFormat::Json)
                    .map_or(0, |list| list.len());
                (cache, len)
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

criterion_group!(benches, bench_at_scale);
criterion_main!(benches);
