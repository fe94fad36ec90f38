//! Swap and ephemeral storage in the store ([`StoreConfig::extra_resources`]): kept beside
//! the series, published per servable item, and nothing at all when not served.

use std::borrow::Cow;

use super::{Store, StoreConfig};
use crate::batch::{
    ContainerBatch, ContainerExtra, Decoded, ExtraBatch, MetricsPoint, NodeBatch, PodBatch,
};
use crate::time::{NANOS_PER_SEC, Timestamp};
use crate::usage::{ExtraResources, ExtraUsage};

fn point(secs: i64) -> MetricsPoint {
    MetricsPoint {
        timestamp: Timestamp(secs * NANOS_PER_SEC),
        start_time: Some(Timestamp(0)),
        cpu_ns: u64::try_from(secs).unwrap_or(0) * 1_000_000,
        memory_bytes: 1 << 20,
    }
}

fn figures(swap: Option<u64>, storage: Option<u64>) -> ExtraUsage {
    ExtraUsage {
        swap_bytes: swap,
        ephemeral_storage_bytes: storage,
    }
}

fn extra<'a>(
    pod: &'a str,
    container: &'a str,
    swap: Option<u64>,
    storage: Option<u64>,
) -> ContainerExtra<'a> {
    ContainerExtra {
        namespace: Cow::Borrowed("ns"),
        pod: Cow::Borrowed(pod),
        container: Cow::Borrowed(container),
        usage: figures(swap, storage),
    }
}

/// A scrape at `secs` of pod `ns/web` (containers `z-sidecar` then `app`, as a kubelet may
/// list them) and pod `ns/solo`, with the figures `extra`.
fn scrape(secs: i64, extra: ExtraBatch<'static>) -> Decoded<'static> {
    let container = |name| ContainerBatch {
        name: Cow::Borrowed(name),
        point: point(secs),
    };
    let pod = |name, containers| PodBatch {
        namespace: Cow::Borrowed("ns"),
        name: Cow::Borrowed(name),
        containers,
        complete: true,
    };
    Decoded {
        batch: NodeBatch {
            node: Some(point(secs)),
            pods: vec![
                pod("web", vec![container("z-sidecar"), container("app")]),
                pod("solo", vec![container("app")]),
            ],
        },
        invalid: Default::default(),
        extra,
    }
}

fn both_figures() -> ExtraBatch<'static> {
    let mut from_resource = ExtraBatch {
        node: figures(Some(7 << 20), None),
        containers: vec![
            extra("web", "z-sidecar", Some(3 << 20), None),
            extra("web", "app", Some(0), None),
        ],
    };
    let from_summary = ExtraBatch {
        node: figures(Some(1), Some(50 << 30)),
        containers: vec![
            extra("web", "app", Some(1), Some(40 << 20)),
            extra("web", "z-sidecar", None, Some(9 << 20)),
        ],
    };
    from_resource.merge(from_summary);
    from_resource
}

fn store(extra: ExtraResources) -> Store {
    Store::new(StoreConfig {
        extra_resources: extra,
        ..StoreConfig::default()
    })
}

#[test]
fn figures_are_served_with_the_usage_of_the_same_scrape() {
    let mut store = store(ExtraResources::ALL);
    store.apply_decoded("n1", &scrape(100, both_figures()));
    store.apply_decoded("n1", &scrape(115, both_figures()));
    let snap = store.publish();
    assert_eq!(snap.extra_resources(), ExtraResources::ALL);
    assert_eq!(
        snap.node_extra("n1"),
        Some(&figures(Some(7 << 20), Some(50 << 30))),
        "swap from the first response, storage from the second"
    );
    let web = snap.pod("ns", "web").unwrap();
    let names: Vec<&str> = web.containers.iter().map(|c| &*c.name).collect();
    assert_eq!(names, ["app", "z-sidecar"]);
    assert_eq!(
        snap.pod_extra(web),
        Some(
            &[
                figures(Some(0), Some(40 << 20)),
                figures(Some(3 << 20), Some(9 << 20))
            ][..]
        ),
        "in the order of the usage's containers"
    );
    let solo = snap.pod("ns", "solo").unwrap();
    assert_eq!(snap.pod_extra(solo), None, "reported without figures");
    assert_eq!(snap.node_extra("n2"), None);

    // A scrape without storage (its Summary API request failed): swap only from then on.
    let mut swap_only = both_figures();
    swap_only.node.ephemeral_storage_bytes = None;
    swap_only
        .containers
        .iter_mut()
        .for_each(|c| c.usage.ephemeral_storage_bytes = None);
    store.apply_decoded("n1", &scrape(130, swap_only));
    let snap = store.publish();
    assert_eq!(snap.node_extra("n1"), Some(&figures(Some(7 << 20), None)));
    let web = snap.pod("ns", "web").unwrap();
    assert_eq!(
        snap.pod_extra(web),
        Some(&[figures(Some(0), None), figures(Some(3 << 20), None)][..])
    );
}

#[test]
fn only_the_resources_served_are_kept() {
    let swap = ExtraResources {
        swap: true,
        ..ExtraResources::NONE
    };
    let mut store = store(swap);
    store.apply_decoded("n1", &scrape(100, both_figures()));
    store.apply_decoded("n1", &scrape(115, both_figures()));
    let snap = store.publish();
    assert_eq!(snap.node_extra("n1"), Some(&figures(Some(7 << 20), None)));
}

#[test]
fn nothing_is_kept_or_published_when_not_served() {
    let mut store = store(ExtraResources::NONE);
    store.apply_decoded("n1", &scrape(100, both_figures()));
    store.apply_decoded("n1", &scrape(115, both_figures()));
    assert!(store.extras.is_empty());
    let snap = store.publish();
    assert!(snap.extra.is_none());
    assert_eq!(snap.extra_resources(), ExtraResources::NONE);
    assert_eq!(snap.node_extra("n1"), None);
    let web = snap.pod("ns", "web").unwrap();
    assert_eq!(snap.pod_extra(web), None);
}

#[test]
fn a_node_that_leaves_takes_its_figures_along() {
    let mut store = store(ExtraResources::ALL);
    store.apply_decoded("n1", &scrape(100, both_figures()));
    store.apply_decoded("n2", &scrape(100, both_figures()));
    store.retain_nodes(|n| n == "n2");
    assert_eq!(
        store.extras.keys().map(|k| &**k).collect::<Vec<_>>(),
        ["n2"]
    );
}

/// What the store keeps per node, pod and container series, and what a snapshot holds per
/// item: extra resources live elsewhere, and a pod's entry lost its kept rank and its
/// containers' spare capacity (96 → 72 bytes), then 16 more with thin names. A one-container
/// pod's served usage, with the count of its `Arc`, is 72 bytes: the allocator's 80-byte size
/// (88 were its 96-byte one).
#[test]
fn the_series_and_published_usages_did_not_grow() {
    use std::mem::size_of;
    assert_eq!(size_of::<super::node::NodeState>(), 184);
    assert_eq!(size_of::<super::node::PodEntry>(), 56);
    assert_eq!(size_of::<super::pod::PodState>(), 32);
    assert_eq!(size_of::<super::pod::ContainerState>(), 96);
    assert_eq!(size_of::<super::series::Series>(), 88);
    assert_eq!(size_of::<crate::usage::Usage>(), 16);
    assert_eq!(size_of::<crate::usage::ContainerUsage>(), 24);
    assert_eq!(size_of::<crate::usage::PodUsage>(), 56);
    assert_eq!(size_of::<crate::usage::PodKey>(), 16);
    assert_eq!(size_of::<crate::usage::NodeUsage>(), 32);
}
