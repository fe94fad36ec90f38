//! The per-cycle work at 5,000 nodes × 30 pods over a heap laid out like a running server's:
//! 40 namespaces, pods placed on nodes at random, pod metadata arriving in another order, three
//! scrape cycles applied. A snapshot publish and a list walk the pods by (namespace, name), so
//! they read names, usages and metadata scattered over the heap, as they do in the server (the
//! `store` and `encode` benches use tidy layouts, where the same code runs 2–3× faster).
//!
//! Measured: the store's publish, the compressed all-namespaces pod lists built through the
//! list cache (one format; both formats in one pass), and a compressed list by label selector
//! answered through the router (no cache holds it: it is built in the request).

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use k8s_openapi::api::core::v1::Pod;
use kube::core::PartialObjectMeta;
use kube::runtime::watcher::Event;
use metrics_server::api::context::ApiContext;
use metrics_server::api::list_cache::{ListFormat, PodListCache};
use metrics_server::api::routes;
use metrics_server::api::selector::LabelSelector;
use metrics_server::batch::{ContainerBatch, MetricsPoint, NodeBatch, PodBatch};
use metrics_server::cluster::{ClusterCache, NodeStore, PodStore, Synced};
use metrics_server::store::{Snapshot, Store, StoreConfig};
use metrics_server::telemetry::Metrics;
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
    // A list no cache holds (a label selector matching every pod, gzip), as a request gets it.
    let [_, last] = snapshots;
    let ctx = ApiContext {
        snapshot: Arc::new(ArcSwap::from_pointee(last)),
        cluster,
        node_selector: LabelSelector::everything(),
        metrics: Arc::new(Metrics::new(Duration::from_secs(15))),
        pod_lists: Arc::new(PodListCache::default()),
    };
    let request = http::Request::get(
        "/apis/metrics.k8s.io/v1beta1/pods?labelSelector=pod-template-hash%3D6d8f9c7b5d",
    )
    .header("accept-encoding", "gzip")
    .body(())
    .map(|r| r.into_parts().0);
    match request {
        Ok(request) => {
            group.bench_function("selector_gzip_list_request", |b| {
                b.iter(|| {
                    let reply = routes::handle(&ctx, &request);
                    (reply.status, reply.body.into_vec().len())
                })
            });
        }
        Err(err) => eprintln!("selector_gzip_list_request not run: its request: {err}"),
    }
    group.finish();
}

criterion_group!(benches, bench_at_scale);
criterion_main!(benches);
