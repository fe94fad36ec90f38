//! The store at cluster scale: merging one scrape cycle (every node's batch) and publishing a
//! snapshot, for 1k, 10k and 100k pods (30 pods per node, a few with three containers).

use std::borrow::Cow;
use std::hint::black_box;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use metrics_server::batch::{ContainerBatch, MetricsPoint, NodeBatch, PodBatch};
use metrics_server::store::{Store, StoreConfig};
use metrics_server::time::Timestamp;

const PODS_PER_NODE: usize = 30;
const NAMESPACES: [&str; 4] = ["default", "kube-system", "team-a", "team-b"];

fn point(ts_secs: i64, cpu: u64) -> MetricsPoint {
    MetricsPoint {
        timestamp: Timestamp::from_secs(ts_secs),
        start_time: Some(Timestamp::from_secs(1_000)),
        cpu_ns: cpu,
        memory_bytes: 50 << 20,
    }
}

/// One node's batch at `ts_secs`; pod names are unique over the cluster.
fn batch(node: usize, ts_secs: i64) -> NodeBatch<'static> {
    let cpu = |i: usize| (ts_secs as u64) * 1_000_000 * (i as u64 % 7 + 1);
    let pods = (0..PODS_PER_NODE)
        .map(|p| {
            let containers = if p % 5 == 0 {
                &["app", "istio-proxy", "log-shipper"][..]
            } else {
                &["app"][..]
            };
            PodBatch {
                namespace: Cow::Borrowed(NAMESPACES[(node + p) % NAMESPACES.len()]),
                name: Cow::Owned(format!("web-6d8f9c7b5d-n{node}p{p}")),
                containers: containers
                    .iter()
                    .enumerate()
                    .map(|(c, name)| ContainerBatch {
                        name: Cow::Borrowed(*name),
                        point: point(ts_secs, cpu(p + c)),
                    })
                    .collect(),
                complete: true,
            }
        })
        .collect();
    NodeBatch {
        node: Some(point(ts_secs, cpu(node))),
        pods,
    }
}

fn node_names(nodes: usize) -> Vec<String> {
    (0..nodes).map(|n| format!("node-{n:05}")).collect()
}

/// A store that has seen two cycles (every pod servable).
fn warm_store(
    names: &[String],
    batches: &[NodeBatch<'static>],
    later: &[NodeBatch<'static>],
) -> Store {
    let mut store = Store::new(StoreConfig::default());
    for (name, b) in names.iter().zip(batches) {
        store.apply_node(name, b);
    }
    for (name, b) in names.iter().zip(later) {
        store.apply_node(name, b);
    }
    store
}

fn bench_store(c: &mut Criterion) {
    for pods in [1_000usize, 10_000, 100_000] {
        let nodes = pods / PODS_PER_NODE;
        let names = node_names(nodes);
        let first: Vec<_> = (0..nodes).map(|n| batch(n, 10_000)).collect();
        let second: Vec<_> = (0..nodes).map(|n| batch(n, 10_015)).collect();
        let third: Vec<_> = (0..nodes).map(|n| batch(n, 10_030)).collect();

        let mut group = c.benchmark_group(format!("store/{pods}_pods"));
        group.sample_size(10);
        group.throughput(Throughput::Elements(pods as u64));
        group.bench_function("apply_cycle", |b| {
            b.iter_batched(
                || warm_store(&names, &first, &second),
                |mut store| {
                    for (name, batch) in names.iter().zip(&third) {
                        store.apply_node(name, black_box(batch));
                    }
                    store
                },
                BatchSize::LargeInput,
            )
        });
        let mut store = warm_store(&names, &first, &second);
        group.bench_function("publish", |b| b.iter(|| black_box(store.publish())));
        // One node changed since the last publish: what publishing while results arrive costs.
        group.bench_function("apply_one_node_then_publish", |b| {
            let mut flip = false;
            b.iter(|| {
                flip = !flip;
                let batch = if flip { &third[0] } else { &second[0] };
                store.apply_node(&names[0], batch);
                black_box(store.publish())
            })
        });
        // Gets by namespace and name, what HPAs and VPAs send most.
        let snapshot = store.publish();
        let keys: Vec<(String, String)> = snapshot
            .pods(None)
            .map(|(k, _)| (k.namespace.to_string(), k.name.to_string()))
            .collect();
        // The same 1,000 pods every iteration (hot in cache), then every pod once in a
        // scattered order: each get reads memory the previous ones did not, as gets spread
        // over a large cluster do.
        for (name, count) in [
            ("get_1000_pods", 1_000),
            ("get_every_pod_scattered", keys.len()),
        ] {
            let wanted: Vec<_> = (0..count).map(|i| &keys[i * 7_919 % keys.len()]).collect();
            group.throughput(Throughput::Elements(wanted.len() as u64));
            group.bench_function(name, |b| {
                b.iter(|| {
                    let found = wanted
                        .iter()
                        .filter(|(ns, name)| snapshot.pod(ns, name).is_some());
                    black_box(found.count())
                })
            });
        }
        group.finish();
    }
}

criterion_group!(benches, bench_store);
criterion_main!(benches);
