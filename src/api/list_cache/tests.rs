use super::*;
use crate::batch::NodeBatch;
use crate::batch::test_batches::{one_container_pod, point};
use crate::store::{Store, StoreConfig};

/// A node's report of pods `a/p0`, `a/p1`, `b/p2` at `secs`.
fn batch(secs: i64) -> NodeBatch<'static> {
    let pod = |ns: &'static str, name: &'static str| one_container_pod(ns, name, secs);
    NodeBatch {
        node: Some(point(secs)),
        pods: vec![pod("a", "p0"), pod("a", "p1"), pod("b", "p2")],
    }
}

type PodEvent =
    kube::runtime::watcher::Event<kube::core::PartialObjectMeta<k8s_openapi::api::core::v1::Pod>>;

fn pod_event(
    make: fn(kube::core::PartialObjectMeta<k8s_openapi::api::core::v1::Pod>) -> PodEvent,
    ns: &str,
    name: &str,
) -> PodEvent {
    let mut pod = kube::core::PartialObjectMeta::<k8s_openapi::api::core::v1::Pod>::default();
    pod.metadata.namespace = Some(ns.into());
    pod.metadata.name = Some(name.into());
    make(pod)
}

fn cluster() -> ClusterCache {
    cluster_and_pods().0
}

/// The cluster cache of the pods [`batch`] reports, and its pod store.
fn cluster_and_pods() -> (ClusterCache, crate::cluster::PodStore) {
    let pods = crate::cluster::PodStore::default();
    for (ns, name) in [("a", "p0"), ("a", "p1"), ("b", "p2")] {
        pods.apply(&pod_event(PodEvent::Apply, ns, name));
    }
    let nodes = crate::cluster::NodeStore::default();
    let synced = crate::cluster::Synced::already();
    let cluster = ClusterCache::new(nodes, pods.clone(), synced.clone(), synced);
    (cluster, pods)
}

/// The snapshot of node `n1`'s first two reports of [`batch`]'s pods.
fn two_scrapes_published(store: &mut Store) -> Snapshot {
    store.apply_node("n1", &batch(1_000));
    store.apply_node("n1", &batch(1_015));
    store.publish()
}

fn names(list: &Arc<EncodedPods>) -> Vec<String> {
    let now = Timestamp::from_secs(1_700_000_000);
    let body = list
        .render(crate::api::encode::ApiVersion::V1beta1, None, now)
        .unwrap();
    let body: serde_json::Value = serde_json::from_slice(&body.into_vec()).unwrap();
    body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["metadata"]["name"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn a_deleted_pod_leaves_the_next_list_even_when_another_takes_its_place() {
    let (mut store, (cluster, pods)) = (Store::new(StoreConfig::default()), cluster_and_pods());
    let cache = PodListCache::default();
    store.apply_node("n1", &batch(1_000));
    store.apply_node("n1", &batch(1_015));
    let snapshot = store.publish();
    let before = cache.get(&snapshot, &cluster, ListFormat::Json);
    assert_eq!(names(&before), ["p0", "p1", "p2"]);
    // A ReplicaSet replaces the deleted pod at once: the number of pods is unchanged.
    pods.apply(&pod_event(PodEvent::Delete, "a", "p0"));
    pods.apply(&pod_event(PodEvent::Apply, "a", "p0-replacement"));
    assert_eq!(cluster.pod_count(), 3);
    let after = cache.get(&snapshot, &cluster, ListFormat::Json);
    assert_eq!(names(&after), ["p1", "p2"], "same snapshot, p0 deleted");
}

#[test]
fn a_list_asked_while_its_entry_is_built_gets_the_previous_one_without_waiting() {
    let (mut store, cluster) = (Store::new(StoreConfig::default()), cluster());
    let cache = PodListCache::default();
    store.apply_node("n1", &batch(1_000));
    store.apply_node("n1", &batch(1_015));
    let first = store.publish();
    let previous = cache.get(&first, &cluster, ListFormat::Protobuf);
    let previous_gzip = cache.get_gzip(&first, &cluster, ListFormat::Json).unwrap();
    store.apply_node("n1", &batch(1_030));
    let second = store.publish();
    {
        // Another caller is building both entries for the new snapshot.
        let _plain = cache.protobuf.building.lock().unwrap();
        let _gzip = cache.gzip_building.lock().unwrap();
        let served = cache.get(&second, &cluster, ListFormat::Protobuf);
        assert!(
            Arc::ptr_eq(&served, &previous),
            "answered from the previous list"
        );
        let served = cache.get_gzip(&second, &cluster, ListFormat::Json).unwrap();
        assert!(Arc::ptr_eq(&served, &previous_gzip));
    }
    let key = PodListCache::key(&second, &cluster);
    let fresh = cache.get(&second, &cluster, ListFormat::Protobuf);
    assert!(
        !Arc::ptr_eq(&fresh, &previous),
        "built once no one else builds"
    );
    assert!(cache.protobuf.usable(key).is_some());
    assert!(cache.get_gzip(&second, &cluster, ListFormat::Json).is_ok());
    assert!(cache.json_gzip.usable(key).is_some());
}

#[test]
fn a_snapshot_read_in_both_compressed_formats_is_encoded_in_one_pass() {
    let (mut store, cluster, cache) = (
        Store::new(StoreConfig::default()),
        cluster(),
        PodListCache::default(),
    );
    let first = two_scrapes_published(&mut store);
    let json = cache.get_gzip(&first, &cluster, ListFormat::Json).unwrap();
    assert_eq!(json.len(), 3);
    assert!(
        cache.protobuf_gzip.latest().is_none(),
        "protobuf not asked for yet"
    );
    let protobuf = cache
        .get_gzip(&first, &cluster, ListFormat::Protobuf)
        .unwrap();
    assert_eq!(protobuf.len(), 3);
    assert!(Arc::ptr_eq(
        &json,
        &cache.get_gzip(&first, &cluster, ListFormat::Json).unwrap()
    ));

    // Both formats are in use: the next snapshot's first list builds both.
    store.apply_node("n1", &batch(1_030));
    let second = store.publish();
    let key = PodListCache::key(&second, &cluster);
    let protobuf_next = cache
        .get_gzip(&second, &cluster, ListFormat::Protobuf)
        .unwrap();
    let json_next = cache
        .json_gzip
        .usable(key)
        .expect("built with the protobuf list");
    assert!(!Arc::ptr_eq(&json_next, &json));
    assert!(Arc::ptr_eq(
        &json_next,
        &cache.get_gzip(&second, &cluster, ListFormat::Json).unwrap()
    ));
    assert_eq!((protobuf_next.len(), json_next.len()), (3, 3));
}

#[test]
fn a_new_snapshot_prebuilds_only_the_lists_in_use_without_counting_a_read() {
    let (mut store, cluster) = (Store::new(StoreConfig::default()), cluster());
    let cache = PodListCache::default();
    store.apply_node("n1", &batch(1_000));
    store.apply_node("n1", &batch(1_015));
    let first = store.publish();
    cache.get_gzip(&first, &cluster, ListFormat::Json).unwrap();
    cache.get(&first, &cluster, ListFormat::Protobuf);
    let read_at = |slot: &Mutex<Option<Instant>>| *slot.lock().unwrap();
    let json_read = read_at(&cache.json_gzip.last_read);

    store.apply_node("n1", &batch(1_030));
    let second = store.publish();
    let key = PodListCache::key(&second, &cluster);
    cache.prebuild(&second, &cluster);
    assert_eq!(cache.json_gzip.usable(key).map(|e| e.len()), Some(3));
    assert_eq!(cache.protobuf.usable(key).map(|e| e.len()), Some(3));
    assert!(
        cache.protobuf_gzip.latest().is_none(),
        "never read: not built"
    );
    assert!(cache.json.latest().is_none(), "never read: not built");
    assert_eq!(read_at(&cache.json_gzip.last_read), json_read);
}

#[test]
fn a_list_nobody_read_recently_is_released_and_a_read_one_kept() {
    let cache = PodListCache::default();
    let entry = || {
        Some(Arc::new(EncodedPods::encode(
            ListFormat::Json,
            std::iter::empty(),
        )))
    };
    let gzip_entry = || {
        Some(Arc::new(
            GzipPods::encode(ListFormat::Json, std::iter::empty(), 0).unwrap(),
        ))
    };
    *cache.json.latest() = entry();
    *cache.protobuf_gzip.latest() = gzip_entry();
    cache.release_unread(Duration::from_secs(60));
    assert!(cache.json.latest().is_none(), "never read: released");
    assert!(
        cache.protobuf_gzip.latest().is_none(),
        "never read: released"
    );

    *cache.json.latest() = entry();
    cache.json.mark_read();
    *cache.json_gzip.latest() = gzip_entry();
    cache.json_gzip.mark_read();
    cache.release_unread(Duration::from_secs(60));
    assert!(cache.json.latest().is_some(), "read just now: kept");
    assert!(cache.json_gzip.latest().is_some(), "read just now: kept");
    cache.release_unread(Duration::ZERO);
    assert!(
        cache.json.latest().is_none() && cache.json_gzip.latest().is_none(),
        "not read within the idle time: released"
    );
}

#[test]
fn a_compressed_list_that_failed_is_not_cached() {
    let slot = Slot::<GzipPods>::default();
    let key = Key {
        generation: 7,
        pods_version: 0,
    };
    let failed = Err(GzipError::Stalled {
        status: flate2::Status::BufError,
        left: 1,
    });
    assert!(store_compressed(&slot, failed, key).is_err());
    assert!(
        slot.usable(key).is_none(),
        "nothing served from the failure"
    );
    let built = GzipPods::encode(ListFormat::Json, std::iter::empty(), 0);
    assert!(store_compressed(&slot, built, key).is_ok());
    assert!(slot.usable(key).is_some());
}

/// Lets the spawned tasks of this single-threaded test runtime run.
async fn settle() {
    for _ in 0..20 {
        tokio::task::yield_now().await;
    }
}

#[tokio::test]
async fn the_last_publish_of_a_cycle_wakes_the_prebuild_of_the_lists_in_use() {
    let (mut store, cluster) = (Store::new(StoreConfig::default()), cluster());
    let cache = Arc::new(PodListCache::default());
    store.apply_node("n1", &batch(1_000));
    store.apply_node("n1", &batch(1_015));
    let first = store.publish();
    cache.get_gzip(&first, &cluster, ListFormat::Json).unwrap();
    let published = Arc::new(arc_swap::ArcSwap::from_pointee(first));
    let (publishes, subscribed) = tokio::sync::watch::channel(0);
    let prebuild = tokio::spawn(cache.clone().prebuild_on_publish(
        published.clone(),
        subscribed,
        cluster.clone(),
    ));
    let publish = |snapshot: Snapshot| {
        let key = PodListCache::key(&snapshot, &cluster);
        let generation = snapshot.generation();
        published.store(Arc::new(snapshot));
        publishes.send_replace(generation);
        key
    };

    store.apply_node("n1", &batch(1_030));
    let partial = publish(store.publish());
    settle().await;
    assert!(
        cache.json_gzip.usable(partial).is_none(),
        "a snapshot within the cycle is left to the requests"
    );

    let mut last = store.publish();
    last.set_ends_cycle(true);
    let key = publish(last);
    settle().await;
    assert_eq!(cache.json_gzip.usable(key).map(|e| e.len()), Some(3));
    assert!(
        cache.protobuf_gzip.latest().is_none(),
        "never read: not built"
    );

    drop(publishes);
    let ended = tokio::time::timeout(Duration::from_secs(5), prebuild).await;
    assert!(matches!(ended, Ok(Ok(()))), "stops with the publisher");
}

#[test]
fn the_size_of_the_last_list_of_each_format_is_known_compressed_or_not() {
    let (mut store, cluster, cache) = (
        Store::new(StoreConfig::default()),
        cluster(),
        PodListCache::default(),
    );
    let snapshot = two_scrapes_published(&mut store);
    assert!(
        !cache.last_items_at_most(ListFormat::Json, u64::MAX - 1),
        "unknown before a build"
    );
    let plain = cache.get(&snapshot, &cluster, ListFormat::Json);
    let bytes = plain.items_len() as u64;
    assert!(cache.last_items_at_most(ListFormat::Json, bytes));
    assert!(!cache.last_items_at_most(ListFormat::Json, bytes - 1));
    assert!(!cache.last_items_at_most(ListFormat::Protobuf, u64::MAX - 1));
    let compressed = cache
        .get_gzip(&snapshot, &cluster, ListFormat::Protobuf)
        .unwrap();
    let bytes = compressed.items_len(None);
    assert!(cache.last_items_at_most(ListFormat::Protobuf, bytes));
    assert!(!cache.last_items_at_most(ListFormat::Protobuf, bytes - 1));
}
