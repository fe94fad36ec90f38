//! The join of a snapshot's pods with their metadata from the pod cache, for a list build.
//!
//! Looking a pod up in the cache hashes its name and reads a hash bucket, the cached entry and
//! its name, each somewhere else in memory: at 150,000 pods, a tenth of a list build. From one
//! build to the next almost every pod and its metadata stay the same, so the build keeps the
//! entries it found ([`JoinMemo`], in list order, 8 bytes a pod) and the next build walks them
//! alongside the new list: a pod whose entry is still current (not replaced, deleted or
//! relisted since) reuses it; only the others are looked up.

use std::cmp::Ordering;
use std::sync::{Arc, Mutex, PoisonError};

use crate::cluster::{ClusterCache, PodMeta};
use crate::prefetch::{self, prefetch};
use crate::store::Snapshot;
use crate::usage::{PodKey, PodUsage};

/// A pod of the snapshot joined with its metadata.
pub(super) type Joined<'s> = ((&'s PodKey, &'s PodUsage), PodMeta);

/// A pod looked up in the cluster cache: its position and entry in the snapshot, and its
/// metadata.
type LookedUp<'s> = ((usize, &'s (PodKey, Arc<PodUsage>)), PodMeta);

/// The cached entries the last build listed, sorted like the list. (It holds them until the
/// next build, so an entry the cache dropped meanwhile lives that much longer.)
#[derive(Default)]
pub(super) struct JoinMemo(Mutex<Vec<PodMeta>>);

impl JoinMemo {
    /// Takes the memo (an empty one while another build holds it).
    fn take(&self) -> Vec<PodMeta> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Keeps the entries of `joined` for the next build (in `joined`'s own allocation, shrunk
    /// in place: no second vector of all pods at the build's peak of memory).
    pub(super) fn keep(&self, joined: Vec<Joined<'_>>) {
        let mut memo: Vec<PodMeta> = joined.into_iter().map(|(_, meta)| meta).collect();
        memo.shrink_to_fit();
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = memo;
    }

    /// Forgets the last join (when no list is cached any more).
    pub(super) fn clear(&self) {
        drop(self.take());
    }
}

/// The snapshot's pods that the cluster cache knows, each with its metadata, sorted by
/// namespace, then name; reuses the entries of `memo` that are still current.
pub(super) fn join<'s>(
    snapshot: &'s Snapshot,
    cluster: &ClusterCache,
    memo: &JoinMemo,
) -> Vec<Joined<'s>> {
    let all = snapshot.all_pods();
    let previous = memo.take();
    let mut joined = Vec::with_capacity(all.len());
    // Positions in `all` of the pods the memo had no current entry for.
    let mut missing = Vec::new();
    let mut cursor = 0;
    for (i, (key, usage)) in all.iter().enumerate() {
        if let Some(meta) = previous.get(cursor + 2 * prefetch::AHEAD) {
            meta.prefetch();
        }
        if let Some(meta) = previous.get(cursor + prefetch::AHEAD) {
            prefetch(meta.name());
        }
        match reuse(&previous, &mut cursor, key) {
            Some(meta) => joined.push(((key, &**usage), meta)),
            None => missing.push(i),
        }
    }
    drop(previous);
    if missing.is_empty() {
        return joined;
    }
    let looked_up = cluster.join_pods(
        missing.into_iter().map(|i| (i, &all[i])),
        |(_, (key, _))| (&key.namespace, &key.name),
    );
    merge_by_position(all, joined, looked_up)
}

/// The memo's entry for `key` if still current, advancing `cursor` past it and past the
/// memo's pods that sort before it (gone from the list since).
fn reuse(previous: &[PodMeta], cursor: &mut usize, key: &PodKey) -> Option<PodMeta> {
    while let Some(meta) = previous.get(*cursor) {
        match (meta.namespace(), meta.name()).cmp(&(&*key.namespace, &*key.name)) {
            Ordering::Less => *cursor += 1,
            Ordering::Equal => {
                *cursor += 1;
                return meta.is_current().then(|| meta.clone());
            }
            Ordering::Greater => return None,
        }
    }
    None
}

/// `reused` and `looked_up` (each in the order of `all`) merged in the order of `all`.
fn merge_by_position<'s>(
    all: &'s [(PodKey, Arc<PodUsage>)],
    reused: Vec<Joined<'s>>,
    looked_up: Vec<LookedUp<'s>>,
) -> Vec<Joined<'s>> {
    // A reused item's key borrows from `all`: its address gives its position.
    let position = |key: &PodKey| {
        (std::ptr::from_ref(key) as usize - all.as_ptr() as usize)
            / std::mem::size_of::<(PodKey, Arc<PodUsage>)>()
    };
    let mut merged = Vec::with_capacity(reused.len() + looked_up.len());
    let mut looked_up = looked_up.into_iter().peekable();
    for item in reused {
        let at = position(item.0.0);
        while let Some(((_, (key, usage)), meta)) = looked_up.next_if(|((i, _), _)| *i < at) {
            merged.push(((key, &**usage), meta));
        }
        merged.push(item);
    }
    merged.extend(looked_up.map(|((_, (key, usage)), meta)| ((key, &**usage), meta)));
    merged
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use kube::runtime::watcher::Event;

    use super::*;
    use crate::batch::{ContainerBatch, MetricsPoint, NodeBatch, PodBatch};
    use crate::cluster::pod_store::test_pod as pod;
    use crate::cluster::{PodStore, Synced};
    use crate::store::{Store, StoreConfig};
    use crate::time::Timestamp;

    /// `node`'s report of `pods` at `secs`.
    fn report<'a>(secs: i64, pods: &[(&'a str, &'a str)]) -> NodeBatch<'a> {
        let point = MetricsPoint {
            timestamp: Timestamp::from_secs(secs),
            start_time: Some(Timestamp::from_secs(1)),
            cpu_ns: secs as u64 * 1_000_000,
            memory_bytes: 1 << 20,
        };
        NodeBatch {
            node: Some(point),
            pods: pods
                .iter()
                .map(|&(ns, name)| PodBatch {
                    namespace: Cow::Borrowed(ns),
                    name: Cow::Borrowed(name),
                    containers: vec![ContainerBatch {
                        name: Cow::Borrowed("app"),
                        point,
                    }],
                    complete: true,
                })
                .collect(),
        }
    }

    /// Each joined pod as (namespace, name, app label, address of the cached entry's name).
    fn listed(
        snapshot: &Snapshot,
        cluster: &ClusterCache,
        memo: &JoinMemo,
    ) -> Vec<(String, String, String, usize)> {
        let joined = join(snapshot, cluster, memo);
        let rows = joined
            .iter()
            .map(|((key, _), meta)| {
                assert_eq!(
                    (meta.namespace(), meta.name()),
                    (&*key.namespace, &*key.name)
                );
                let app = meta.labels().get("app").cloned().unwrap_or_default();
                (
                    key.namespace.to_string(),
                    key.name.to_string(),
                    app,
                    meta.name().as_ptr() as usize,
                )
            })
            .collect();
        memo.keep(joined);
        rows
    }

    fn without_entries(rows: &[(String, String, String, usize)]) -> Vec<(&str, &str, &str)> {
        rows.iter()
            .map(|(ns, n, app, _)| (&**ns, &**n, &**app))
            .collect()
    }

    #[test]
    fn a_reused_join_shows_every_change_of_the_pods_and_their_metadata() {
        let pods = PodStore::default();
        for (ns, name) in [("a", "p0"), ("a", "p1"), ("b", "p2"), ("b", "p3")] {
            pods.apply(&Event::Apply(pod(ns, name, "v1")));
        }
        let nodes = crate::cluster::NodeStore::default();
        let synced = Synced::already();
        let cluster = ClusterCache::new(nodes, pods.clone(), synced.clone(), synced);
        let mut store = Store::new(StoreConfig::default());
        let on_n1 = [("a", "p0"), ("a", "p1"), ("b", "p2")];
        store.apply_node("n1", &report(1_000, &on_n1));
        store.apply_node("n1", &report(1_015, &on_n1));
        let memo = JoinMemo::default();
        let first = listed(&store.publish(), &cluster, &memo);
        assert_eq!(
            without_entries(&first),
            [("a", "p0", "v1"), ("a", "p1", "v1"), ("b", "p2", "v1")]
        );

        // Unchanged: the same cached entries, found through the memo.
        store.apply_node("n1", &report(1_030, &on_n1));
        let again = listed(&store.publish(), &cluster, &memo);
        assert_eq!(again, first);

        // p1 relabelled, p2 deleted from the cache, p0 moved to another node, p3 listed.
        pods.apply(&Event::Apply(pod("a", "p1", "v2")));
        pods.apply(&Event::Delete(pod("b", "p2", "")));
        store.apply_node(
            "n1",
            &report(1_045, &[("a", "p1"), ("b", "p2"), ("b", "p3")]),
        );
        store.apply_node("n2", &report(1_045, &[("a", "p0")]));
        store.apply_node("n2", &report(1_060, &[("a", "p0")]));
        store.apply_node(
            "n1",
            &report(1_060, &[("a", "p1"), ("b", "p2"), ("b", "p3")]),
        );
        let snapshot = store.publish();
        let changed = listed(&snapshot, &cluster, &memo);
        assert_eq!(
            without_entries(&changed),
            [("a", "p0", "v1"), ("a", "p1", "v2"), ("b", "p3", "v1")]
        );
        assert_eq!(changed[0].3, first[0].3, "p0's metadata did not change");
        assert_eq!(
            changed,
            listed(&snapshot, &cluster, &JoinMemo::default()),
            "as without a memo"
        );

        // A relist replaces every cached entry, changed or not.
        pods.apply(&Event::Init);
        for (ns, name, app) in [("a", "p0", "v3"), ("a", "p1", "v2"), ("b", "p3", "v1")] {
            pods.apply(&Event::InitApply(pod(ns, name, app)));
        }
        pods.apply(&Event::InitDone);
        let relisted = listed(&snapshot, &cluster, &memo);
        assert_eq!(
            without_entries(&relisted),
            [("a", "p0", "v3"), ("a", "p1", "v2"), ("b", "p3", "v1")]
        );
        assert!(relisted.iter().zip(&changed).all(|(r, c)| r.3 != c.3));
    }
}
