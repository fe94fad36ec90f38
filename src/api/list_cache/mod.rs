//! Pod lists encoded once per snapshot and reused by every reader until the next one, so a
//! `kubectl top pods -A` against 150,000 pods costs a buffer copy instead of an encode.
//!
//! Four entries at most: JSON and protobuf, each uncompressed ([`plain`]) or gzip-compressed
//! ([`gzip_pods`], for clients that accept it). One entry holds the all-namespaces list and
//! serves both API versions, all namespaces and each namespace.
//!
//! Builds: the first request that needs an entry builds it; from then on, each snapshot
//! that ends a scrape cycle rebuilds, as soon as it is published, every entry still in use
//! ([`PodListCache::prebuild_on_publish`]), so requests find the list ready. A request
//! that finds no entry for its snapshot (a partial snapshot of a cycle, a changed set of
//! pods) builds it. No request waits for another's build: those arriving while an entry is
//! built are answered from the entry it replaces (the previous snapshot's list); only when
//! there is none yet (the first list) do they wait.
//!
//! Memory: an entry no response read for two `--metric-resolution` periods is dropped, so a
//! one-off `kubectl top pods -A` does not keep every pod's encoding alive. While an entry is
//! rebuilt, the previous one stays cached for the requests arriving meanwhile: two lists per
//! slot at most.
//!
//! Freshness: an entry is reused while the snapshot generation and the watched Running pods
//! (the set, their labels and creation times: [`ClusterCache::pods_version`]) are unchanged;
//! a pod deleted or relabelled is out of the next list, except for the lists answered while
//! that list is being built. Requests with a label or field selector and Tables bypass the
//! cache; `?pretty` reads the uncompressed list and indents a copy.

pub mod gzip_pods;
mod join;
pub mod plain;
#[cfg(test)]
pub(crate) mod test_items;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

pub use gzip_pods::{GzipListBody, GzipPods};

use super::encode::gzip::GzipError;
pub use plain::{EncodedPods, ListBody};

use join::JoinMemo;

use super::encode::PodItem;
use crate::cluster::ClusterCache;
use crate::prefetch::{self, prefetch};
use crate::store::Snapshot;
use crate::telemetry::stage_cpu::{self, Stage};
use crate::time::Timestamp;

/// The encoding a cached list is held in.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum ListFormat {
    Json,
    Protobuf,
}

impl ListFormat {
    fn other(self) -> ListFormat {
        match self {
            ListFormat::Json => ListFormat::Protobuf,
            ListFormat::Protobuf => ListFormat::Json,
        }
    }
}

/// What an entry was built from.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
struct Key {
    generation: u64,
    /// [`ClusterCache::pods_version`] when the build started.
    pods_version: u64,
}

impl Key {
    /// Whether an entry built from `self` may answer a request made with `asked`: built from
    /// the same snapshot and pods or newer ones (a request that loaded its snapshot just
    /// before a publish gets the newer list, never an older one).
    fn serves(self, asked: Key) -> bool {
        self.generation >= asked.generation && self.pods_version >= asked.pods_version
    }
}

/// Whether a request may be answered from the previous entry while another builds the one it
/// asked for.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum WhileBuilding {
    /// A request: answered from the previous entry when there is one.
    ServePrevious,
    /// The prebuild: waits, then builds when the entry is still missing.
    Wait,
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
    /// Held while either compressed entry is built (one build may make both).
    gzip_building: Mutex<()>,
    /// The last build's join of pods with their metadata, for the next build to reuse.
    join_memo: JoinMemo,
    /// One more than the bytes of items in the last list built of each format (JSON,
    /// protobuf), compressed or not; 0 before the first.
    items_bytes: [AtomicU64; 2],
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

    /// The size of the entry held, to size the next one.
    fn held_size(&self) -> usize {
        self.latest().as_ref().map_or(0, |e| e.size())
    }

    /// The entry held, whatever it was built from.
    fn previous(&self) -> Option<Arc<T>> {
        self.latest().clone()
    }

    /// Makes `entry`, built from `key`, the latest.
    fn store(&self, mut entry: T, key: Key) -> Arc<T> {
        entry.set_key(key);
        let entry = Arc::new(entry);
        *self.latest() = Some(entry.clone());
        entry
    }

    /// Whether the slot holds an entry (a response read it recently, or it was prebuilt).
    fn holds_entry(&self) -> bool {
        self.latest().is_some()
    }

    fn latest(&self) -> std::sync::MutexGuard<'_, Option<Arc<T>>> {
        self.latest.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The entry if it may answer a request made with `key` (see [`Key::serves`]).
    fn usable(&self, key: Key) -> Option<Arc<T>> {
        self.latest()
            .as_ref()
            .filter(|e| e.key().is_some_and(|k| k.serves(key)))
            .cloned()
    }

    /// The entry for `key`, built when the slot holds none for it (or a newer one).
    ///
    /// One caller builds an entry (off the async workers); the requests arriving meanwhile
    /// are answered from the previous entry, or wait for the build when there is none.
    /// `build` gets the previous entry's size.
    fn get_or_build(
        &self,
        key: Key,
        meanwhile: WhileBuilding,
        build: impl FnOnce(usize) -> T,
    ) -> Arc<T> {
        if let Some(hit) = self.usable(key) {
            return hit;
        }
        let building = match claim_build(&self.building, meanwhile, self.previous()) {
            Ok(building) => building,
            Err(previous) => return previous,
        };
        crate::blocking::cpu_heavy(|| {
            let _building = building;
            if let Some(hit) = self.usable(key) {
                return hit;
            }
            let size_hint = self.held_size();
            self.store(
                stage_cpu::measure(Stage::ListEncode, || build(size_hint)),
                key,
            )
        })
    }
}

impl PodListCache {
    /// Whether the last list of `format` built was at most `bytes` of items: a client that
    /// accepts gzip is then answered from the uncompressed cache (the apiserver compresses
    /// only bodies over its threshold), and no compressed list is built for a small cluster.
    pub fn last_items_at_most(&self, format: ListFormat, bytes: u64) -> bool {
        let noted = self.items_bytes[format as usize].load(Ordering::Relaxed);
        noted != 0 && noted - 1 <= bytes
    }

    fn note_items(&self, format: ListFormat, bytes: u64) {
        let noted = bytes.saturating_add(1);
        self.items_bytes[format as usize].store(noted, Ordering::Relaxed);
    }

    /// The uncompressed encoded pods of `snapshot` joined with the watched pods.
    pub fn get(
        &self,
        snapshot: &Snapshot,
        cluster: &ClusterCache,
        format: ListFormat,
    ) -> Arc<EncodedPods> {
        self.plain_slot(format).mark_read();
        self.plain_entry(snapshot, cluster, format, WhileBuilding::ServePrevious)
    }

    fn plain_slot(&self, format: ListFormat) -> &Slot<EncodedPods> {
        match format {
            ListFormat::Json => &self.json,
            ListFormat::Protobuf => &self.protobuf,
        }
    }

    fn plain_entry(
        &self,
        snapshot: &Snapshot,
        cluster: &ClusterCache,
        format: ListFormat,
        meanwhile: WhileBuilding,
    ) -> Arc<EncodedPods> {
        let key = Self::key(snapshot, cluster);
        self.plain_slot(format)
            .get_or_build(key, meanwhile, |size_hint| {
                with_items(
                    snapshot,
                    cluster,
                    &self.join_memo,
                    plain::placeholder(format),
                    // The previous list's size plus a little: one allocation instead of a
                    // doubling Vec (which left a 48 MB list in a 67 MB buffer at 150,000 pods).
                    |items| {
                        let built = EncodedPods::encode_with_capacity(
                            format,
                            items,
                            size_hint + size_hint / 16,
                        );
                        self.note_items(format, built.items_len() as u64);
                        built
                    },
                )
            })
    }

    /// The gzip-compressed encoded pods of `snapshot` joined with the watched pods.
    ///
    /// When the other format's compressed entry is in use too (it holds an entry: a response
    /// read it within the last two resolutions), one pass over the pods builds both, so the
    /// pods and their metadata are read once a snapshot instead of twice.
    ///
    /// An entry whose compression failed is logged and not cached: the error says the request
    /// must be answered another way.
    pub fn get_gzip(
        &self,
        snapshot: &Snapshot,
        cluster: &ClusterCache,
        format: ListFormat,
    ) -> Result<Arc<GzipPods>, GzipError> {
        self.gzip_slots(format).0.mark_read();
        self.gzip_entry(snapshot, cluster, format, WhileBuilding::ServePrevious)
    }

    /// The slot of `format`'s compressed list, and the other format's.
    fn gzip_slots(&self, format: ListFormat) -> (&Slot<GzipPods>, &Slot<GzipPods>) {
        match format {
            ListFormat::Json => (&self.json_gzip, &self.protobuf_gzip),
            ListFormat::Protobuf => (&self.protobuf_gzip, &self.json_gzip),
        }
    }

    fn gzip_entry(
        &self,
        snapshot: &Snapshot,
        cluster: &ClusterCache,
        format: ListFormat,
        meanwhile: WhileBuilding,
    ) -> Result<Arc<GzipPods>, GzipError> {
        let (slot, other) = self.gzip_slots(format);
        let key = Self::key(snapshot, cluster);
        if let Some(hit) = slot.usable(key) {
            return Ok(hit);
        }
        let building = match claim_build(&self.gzip_building, meanwhile, slot.previous()) {
            Ok(building) => building,
            Err(previous) => return Ok(previous),
        };
        crate::blocking::cpu_heavy(|| {
            let _building = building;
            if let Some(hit) = slot.usable(key) {
                return Ok(hit);
            }
            let other_in_use = other.holds_entry() && other.usable(key).is_none();
            let also = other_in_use.then_some(other);
            let (built, other_built) = stage_cpu::measure(Stage::ListEncode, || {
                encode_gzip(snapshot, cluster, &self.join_memo, format, slot, also)
            });
            if let Some(other_built) = other_built {
                if let Ok(entry) = &other_built {
                    self.note_items(format.other(), entry.items_len(None));
                }
                let _ = store_compressed(other, other_built, key);
            }
            if let Ok(entry) = &built {
                self.note_items(format, entry.items_len(None));
            }
            store_compressed(slot, built, key)
        })
    }

    fn key(snapshot: &Snapshot, cluster: &ClusterCache) -> Key {
        Key {
            generation: snapshot.generation(),
            pods_version: cluster.pods_version(),
        }
    }

    /// Builds, for `snapshot`, every list a response read recently (the slots that still hold
    /// an entry), so that the first request after a publish does not wait for the encoding.
    /// Does not count as a read: an entry nobody reads is still released.
    pub fn prebuild(&self, snapshot: &Snapshot, cluster: &ClusterCache) {
        for format in [ListFormat::Json, ListFormat::Protobuf] {
            if self.gzip_slots(format).0.holds_entry() {
                // A failure is logged; the requests then encode their own list.
                let _ = self.gzip_entry(snapshot, cluster, format, WhileBuilding::Wait);
            }
            if self.plain_slot(format).holds_entry() {
                self.plain_entry(snapshot, cluster, format, WhileBuilding::Wait);
            }
        }
    }

    /// Prebuilds the lists in use for each new snapshot that is ready and ends its cycle, woken
    /// by `publishes` after each publish into `published` (runs until the publisher is gone).
    /// The partial snapshots a small cluster publishes while results arrive (many a cycle) are
    /// left to the requests: prebuilding each of them would encode lists that nobody reads.
    pub async fn prebuild_on_publish(
        self: Arc<Self>,
        published: Arc<arc_swap::ArcSwap<Snapshot>>,
        mut publishes: tokio::sync::watch::Receiver<u64>,
        cluster: ClusterCache,
    ) {
        let mut done = 0;
        while publishes.changed().await.is_ok() {
            let snapshot = published.load_full();
            if snapshot.generation() != done && snapshot.is_ready() && snapshot.ends_cycle() {
                done = snapshot.generation();
                self.prebuild(&snapshot, &cluster);
            }
        }
    }

    /// Drops the cached lists no response used within `idle`: a one-off `kubectl top pods -A`
    /// should not keep a list of every pod (48 MB at 150,000 pods) in memory for good.
    pub fn release_unread(&self, idle: Duration) {
        self.json.release_unread(idle);
        self.protobuf.release_unread(idle);
        self.json_gzip.release_unread(idle);
        self.protobuf_gzip.release_unread(idle);
        let any_left = self.json.holds_entry()
            || self.protobuf.holds_entry()
            || self.json_gzip.holds_entry()
            || self.protobuf_gzip.holds_entry();
        if !any_left {
            self.join_memo.clear();
        }
    }
}

/// The right to build an entry (`building`, held for the build), or, when another caller is
/// building and `meanwhile` allows it, the previous entry to answer with instead. Without a
/// previous entry, or for the prebuild, waits for the lock (off the async workers).
fn claim_build<'a, T>(
    building: &'a Mutex<()>,
    meanwhile: WhileBuilding,
    previous: Option<Arc<T>>,
) -> Result<std::sync::MutexGuard<'a, ()>, Arc<T>> {
    match (meanwhile, previous) {
        (WhileBuilding::ServePrevious, Some(previous)) => try_lock(building).ok_or(previous),
        _ => Ok(crate::blocking::cpu_heavy(|| lock(building))),
    }
}

/// Takes `lock` when no one holds it.
fn try_lock(mutex: &Mutex<()>) -> Option<std::sync::MutexGuard<'_, ()>> {
    match mutex.try_lock() {
        Ok(guard) => Some(guard),
        Err(std::sync::TryLockError::Poisoned(poisoned)) => Some(poisoned.into_inner()),
        Err(std::sync::TryLockError::WouldBlock) => None,
    }
}

fn lock(mutex: &Mutex<()>) -> std::sync::MutexGuard<'_, ()> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Caches a compressed entry built from `key`; a failed build is logged and leaves the slot
/// empty (never an incomplete list).
fn store_compressed(
    slot: &Slot<GzipPods>,
    built: Result<GzipPods, GzipError>,
    key: Key,
) -> Result<Arc<GzipPods>, GzipError> {
    built.map(|entry| slot.store(entry, key)).inspect_err(|err| {
        tracing::error!(error = %err, generation = key.generation, "Could not compress the pod list; it is not cached.");
    })
}

/// A compressed entry, or why it could not be built.
type Compressed = Result<GzipPods, GzipError>;

/// Encodes `format`'s compressed list of `snapshot`, and in the same pass the other format's
/// when `other` is given; each buffer is sized from the previous entry, taken out of its slot.
fn encode_gzip(
    snapshot: &Snapshot,
    cluster: &ClusterCache,
    memo: &JoinMemo,
    format: ListFormat,
    slot: &Slot<GzipPods>,
    other: Option<&Slot<GzipPods>>,
) -> (Compressed, Option<Compressed>) {
    let created = Timestamp::now();
    let capacity = |slot: &Slot<GzipPods>| {
        let size = slot.held_size();
        size + size / 8
    };
    let mine = capacity(slot);
    let Some(other) = other else {
        let built = with_items(snapshot, cluster, memo, created, |items| {
            GzipPods::encode(format, items, mine)
        });
        return (built, None);
    };
    let theirs = capacity(other);
    let (json_capacity, protobuf_capacity) = match format {
        ListFormat::Json => (mine, theirs),
        ListFormat::Protobuf => (theirs, mine),
    };
    let (json, protobuf) = with_items(snapshot, cluster, memo, created, |items| {
        GzipPods::encode_both(items, json_capacity, protobuf_capacity)
    });
    match format {
        ListFormat::Json => (json, Some(protobuf)),
        ListFormat::Protobuf => (protobuf, Some(json)),
    }
}

/// Calls `encode` with the items of the snapshot's pods that the cluster cache knows (sorted
/// by namespace, then name), each created at `created`; the join goes through `memo`.
fn with_items<R>(
    snapshot: &Snapshot,
    cluster: &ClusterCache,
    memo: &JoinMemo,
    created: Timestamp,
    encode: impl FnOnce(&mut dyn Iterator<Item = PodItem<'_>>) -> R,
) -> R {
    let pods = join::join(snapshot, cluster, memo);
    let mut items = pods.iter().enumerate().map(|(i, ((key, usage), meta))| {
        if let Some(((key, usage), meta)) = pods.get(i + prefetch::AHEAD) {
            prefetch(&*key.name);
            prefetch(*usage);
            meta.prefetch();
        }
        if let Some((_, meta)) = pods.get(i + prefetch::AHEAD / 2) {
            meta.prefetch_labels();
        }
        PodItem::new(&key.namespace, &key.name, meta.labels(), created, usage)
            .with_encoded_labels(meta.encoded_labels())
            .with_extra(snapshot.pod_extra(usage))
    });
    let encoded = encode(&mut items);
    memo.keep(pods);
    encoded
}

#[cfg(test)]
mod tests;
