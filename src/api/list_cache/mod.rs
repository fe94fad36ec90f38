//! Pod lists encoded once per snapshot and reused by every reader until the next one, so a
//! `kubectl top pods -A` against 150,000 pods costs a buffer copy instead of an encode.
//!
//! Four entries at most, each built on the first request that needs it: JSON and protobuf,
//! each uncompressed ([`plain`]) or gzip-compressed ([`gzip`], for clients that accept it).
//! One entry holds the all-namespaces list and serves both API versions, all namespaces and
//! each namespace.
//!
//! Memory: an entry no response read for two `--metric-resolution` periods is dropped, so a
//! one-off `kubectl top pods -A` does not keep every pod's encoding alive.
//!
//! Freshness: an entry is reused while the snapshot generation and the number of watched
//! Running pods are unchanged. Pod labels changed without a new snapshot show at the next
//! publish (at most one `--metric-resolution` later, like the metrics themselves). Requests
//! with a label or field selector, Tables and `?pretty` bypass the cache.

pub mod gzip;
pub mod plain;
#[cfg(test)]
mod test_items;

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

pub use gzip::{GzipListBody, GzipPods};
pub use plain::{EncodedPods, ListBody};

use super::encode::PodItem;
use crate::cluster::ClusterCache;
use crate::store::Snapshot;
use crate::time::Timestamp;

/// The encoding a cached list is held in.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum ListFormat {
    Json,
    Protobuf,
}

/// What an entry was built from.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
struct Key {
    generation: u64,
    cluster_pods: usize,
}

/// A cached list of either kind.
trait Entry {
    fn key(&self) -> Option<Key>;
    fn set_key(&mut self, key: Key);
    /// Bytes held, to size the next build's buffer.
    fn size(&self) -> usize;
}

impl Entry for EncodedPods {
    fn key(&self) -> Option<Key> {
        self.key
    }
    fn set_key(&mut self, key: Key) {
        self.key = Some(key);
    }
    fn size(&self) -> usize {
        self.items_len()
    }
}

impl Entry for GzipPods {
    fn key(&self) -> Option<Key> {
        self.key
    }
    fn set_key(&mut self, key: Key) {
        self.key = Some(key);
    }
    fn size(&self) -> usize {
        self.compressed_len()
    }
}

/// The latest encoded pod lists, shared by all request handlers.
#[derive(Default)]
pub struct PodListCache {
    json: Slot<EncodedPods>,
    protobuf: Slot<EncodedPods>,
    json_gzip: Slot<GzipPods>,
    protobuf_gzip: Slot<GzipPods>,
}

/// One entry, and the lock its (single) builder holds.
struct Slot<T> {
    latest: Mutex<Option<Arc<T>>>,
    building: Mutex<()>,
    /// When a response last used the entry.
    last_read: Mutex<Option<Instant>>,
}

impl<T> Default for Slot<T> {
    fn default() -> Self {
        Slot {
            latest: Mutex::new(None),
            building: Mutex::new(()),
            last_read: Mutex::new(None),
        }
    }
}

impl<T: Entry> Slot<T> {
    /// Drops the entry unless a response used it within `idle`.
    fn release_unread(&self, idle: Duration) {
        let read_recently = self
            .last_read
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some_and(|at| at.elapsed() < idle);
        if !read_recently {
            self.latest().take();
        }
    }

    fn mark_read(&self) {
        *self
            .last_read
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(Instant::now());
    }

    fn latest(&self) -> std::sync::MutexGuard<'_, Option<Arc<T>>> {
        self.latest.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The entry if it was built from `key`, or from a newer snapshot (a request that loaded
    /// its snapshot just before a publish gets the newer pods, never an older list).
    fn usable(&self, key: Key) -> Option<Arc<T>> {
        self.latest()
            .as_ref()
            .filter(|e| {
                e.key()
                    .is_some_and(|k| k == key || k.generation > key.generation)
            })
            .cloned()
    }

    /// The entry for `key`, built on first use.
    ///
    /// One request builds an entry; requests arriving meanwhile wait for it (off the async
    /// workers) instead of encoding the same list again. The previous entry is dropped from
    /// the cache before the build, so at most one list per slot is cached besides those that
    /// in-flight responses still read. `build` gets the previous entry's size.
    fn get_or_build(&self, key: Key, build: impl FnOnce(usize) -> T) -> Arc<T> {
        self.mark_read();
        if let Some(hit) = self.usable(key) {
            return hit;
        }
        crate::offload::cpu_heavy(|| {
            let _building = self.building.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(hit) = self.usable(key) {
                return hit;
            }
            let size_hint = self.latest().take().map_or(0, |e| e.size());
            let built = Arc::new(build(size_hint));
            *self.latest() = Some(built.clone());
            built
        })
    }
}

impl PodListCache {
    /// The uncompressed encoded pods of `snapshot` joined with the watched pods.
    pub fn get(
        &self,
        snapshot: &Snapshot,
        cluster: &ClusterCache,
        format: ListFormat,
    ) -> Arc<EncodedPods> {
        let slot = match format {
            ListFormat::Json => &self.json,
            ListFormat::Protobuf => &self.protobuf,
        };
        // The previous list's size plus a little: one allocation instead of a doubling Vec
        // (which left a 48 MB list in a 67 MB buffer at 150,000 pods).
        Self::entry(
            slot,
            snapshot,
            cluster,
            plain::placeholder(format),
            |items, size| EncodedPods::encode_with_capacity(format, items, size + size / 16),
        )
    }

    /// The gzip-compressed encoded pods of `snapshot` joined with the watched pods.
    pub fn get_gzip(
        &self,
        snapshot: &Snapshot,
        cluster: &ClusterCache,
        format: ListFormat,
    ) -> Arc<GzipPods> {
        let slot = match format {
            ListFormat::Json => &self.json_gzip,
            ListFormat::Protobuf => &self.protobuf_gzip,
        };
        Self::entry(slot, snapshot, cluster, Timestamp::now(), |items, size| {
            GzipPods::encode(format, items, size + size / 8)
        })
    }

    /// `slot`'s entry for this snapshot, encoded by `encode` (given the items, each created
    /// at `created`, and the previous entry's size) when it is stale.
    fn entry<T: Entry>(
        slot: &Slot<T>,
        snapshot: &Snapshot,
        cluster: &ClusterCache,
        created: Timestamp,
        encode: impl FnOnce(&mut dyn Iterator<Item = PodItem<'_>>, usize) -> T,
    ) -> Arc<T> {
        let key = Self::key(snapshot, cluster);
        slot.get_or_build(key, |size_hint| {
            let mut built =
                with_items(snapshot, cluster, created, |items| encode(items, size_hint));
            built.set_key(key);
            built
        })
    }

    fn key(snapshot: &Snapshot, cluster: &ClusterCache) -> Key {
        Key {
            generation: snapshot.generation(),
            cluster_pods: cluster.pod_count(),
        }
    }

    /// Drops the cached lists no response used within `idle`: a one-off `kubectl top pods -A`
    /// should not keep a list of every pod (48 MB at 150,000 pods) in memory for good.
    pub fn release_unread(&self, idle: Duration) {
        self.json.release_unread(idle);
        self.protobuf.release_unread(idle);
        self.json_gzip.release_unread(idle);
        self.protobuf_gzip.release_unread(idle);
    }

    /// Every `period`, releases the lists unread for two periods (runs until dropped).
    pub async fn release_unread_every(self: Arc<Self>, period: Duration) {
        let mut ticker = tokio::time::interval(period);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            self.release_unread(period * 2);
        }
    }
}

/// Calls `encode` with the items of the snapshot's pods that the cluster cache knows (sorted
/// by namespace, then name), each created at `created`.
fn with_items<R>(
    snapshot: &Snapshot,
    cluster: &ClusterCache,
    created: Timestamp,
    encode: impl FnOnce(&mut dyn Iterator<Item = PodItem<'_>>) -> R,
) -> R {
    let pods: Vec<_> = snapshot
        .pods(None)
        .filter_map(|(key, usage)| {
            let meta = cluster.pod(&key.namespace, &key.name)?;
            Some((key, usage, meta))
        })
        .collect();
    let mut items = pods.iter().map(|(key, usage, meta)| {
        PodItem::new(&key.namespace, &key.name, meta.labels(), created, usage)
    });
    encode(&mut items)
}

#[cfg(test)]
mod tests {
    use super::*;

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
            Some(Arc::new(GzipPods::encode(
                ListFormat::Json,
                std::iter::empty(),
                0,
            )))
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
}
