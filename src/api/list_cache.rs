//! Pod lists encoded once per snapshot and reused by every reader until the next one, so a
//! `kubectl top pods -A` against 150,000 pods costs a buffer copy instead of an encode.
//!
//! One buffer holds the items of the all-namespaces list (items carry no `apiVersion`, and
//! the list is sorted by namespace, so each namespace's list is a contiguous slice of it);
//! it serves both API versions, all namespaces and each namespace.
//!
//! `creationTimestamp`: upstream sets it to the time of the request (spec §2.4). The cached
//! items carry a placeholder at recorded offsets, and each response gets the current time
//! spliced in (RFC 3339 seconds is always 20 bytes), so responses stay byte-identical to an
//! uncached encode at the same instant.
//!
//! Memory: a list no response read for two `--metric-resolution` periods is dropped, so a
//! one-off `kubectl top pods -A` does not keep every pod's encoding alive.
//!
//! Freshness: an entry is reused while the snapshot generation and the number of watched
//! Running pods are unchanged. Pod labels changed without a new snapshot show at the next
//! publish (at most one `--metric-resolution` later, like the metrics themselves). Requests
//! with a label or field selector, Tables and `?pretty` bypass the cache.
//!
//! Protobuf lists are cached the same way in a second entry, built on the first protobuf
//! request of a snapshot: each item is a complete `items` entry of a PodMetricsList, and its
//! `creationTimestamp` seconds are a 5-byte varint placeholder (every time from 1978 to 3058
//! encodes in 5 bytes), so the request time is spliced in the same way.

use std::ops::Range;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::encode::{ApiVersion, PodItem, json::Doc, protobuf};
use crate::cluster::ClusterCache;
use crate::store::Snapshot;
use crate::time::Timestamp;

/// Length of an RFC 3339 seconds-precision UTC time (`2006-01-02T15:04:05Z`).
const STAMP_LEN: usize = 20;
/// What the cached JSON items carry until a response splices the request time in.
const PLACEHOLDER: Timestamp = Timestamp(0);
/// Bytes of a protobuf `Time` seconds varint for every time in [`PB_SECS`].
const PB_STAMP_LEN: usize = 5;
/// Seconds whose varint is [`PB_STAMP_LEN`] bytes long.
const PB_SECS: std::ops::Range<i64> = (1 << 28)..(1 << 35);
/// The protobuf placeholder: `creationTimestamp` (field 8, 6 bytes) holding `Time{seconds: 2^28}`.
const PB_MARKER: &[u8] = &[0x42, 0x06, 0x08, 0x80, 0x80, 0x80, 0x80, 0x01];

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

/// The latest encoded pod list, shared by all request handlers.
#[derive(Default)]
pub struct PodListCache {
    json: Slot,
    protobuf: Slot,
}

/// One format's entry, and the lock its (single) builder holds.
#[derive(Default)]
struct Slot {
    latest: Mutex<Option<Arc<EncodedPods>>>,
    building: Mutex<()>,
    /// When a response last used the entry.
    last_read: Mutex<Option<Instant>>,
}

impl Slot {
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

    fn latest(&self) -> std::sync::MutexGuard<'_, Option<Arc<EncodedPods>>> {
        self.latest.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The entry if it was built from `key`, or from a newer snapshot (a request that loaded
    /// its snapshot just before a publish gets the newer pods, never an older list).
    fn usable(&self, key: Key) -> Option<Arc<EncodedPods>> {
        self.latest()
            .as_ref()
            .filter(|e| {
                e.key
                    .is_some_and(|k| k == key || k.generation > key.generation)
            })
            .cloned()
    }
}

impl PodListCache {
    /// The encoded pods of `snapshot` joined with the watched pods, built on first use.
    ///
    /// One request builds an entry; requests arriving meanwhile wait for it (off the async
    /// workers) instead of encoding the same list again. The previous entry is dropped from
    /// the cache before the build, so at most one full list is cached besides those that
    /// in-flight responses still read.
    pub fn get(
        &self,
        snapshot: &Snapshot,
        cluster: &ClusterCache,
        format: ListFormat,
    ) -> Arc<EncodedPods> {
        let key = Key {
            generation: snapshot.generation(),
            cluster_pods: cluster.pod_count(),
        };
        let slot = match format {
            ListFormat::Json => &self.json,
            ListFormat::Protobuf => &self.protobuf,
        };
        slot.mark_read();
        if let Some(hit) = slot.usable(key) {
            return hit;
        }
        crate::offload::cpu_heavy(|| {
            let _building = slot.building.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(hit) = slot.usable(key) {
                return hit;
            }
            let size_hint = slot.latest().take().map_or(0, |e| e.items.len());
            let built = Self::build(snapshot, cluster, format, key, size_hint);
            *slot.latest() = Some(built.clone());
            built
        })
    }

    /// Drops the cached lists no response used within `idle`: a one-off `kubectl top pods -A`
    /// should not keep a list of every pod (48 MB at 150,000 pods) in memory for good.
    pub fn release_unread(&self, idle: Duration) {
        self.json.release_unread(idle);
        self.protobuf.release_unread(idle);
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

    /// Whether a list in `format` is cached.
    #[cfg(test)]
    fn holds(&self, format: ListFormat) -> bool {
        let slot = match format {
            ListFormat::Json => &self.json,
            ListFormat::Protobuf => &self.protobuf,
        };
        slot.latest().is_some()
    }

    /// Encodes the snapshot's pods that the cluster cache knows.
    fn build(
        snapshot: &Snapshot,
        cluster: &ClusterCache,
        format: ListFormat,
        entry_key: Key,
        size_hint: usize,
    ) -> Arc<EncodedPods> {
        let pods = snapshot.pods(None).filter_map(|(key, usage)| {
            let meta = cluster.pod(&key.namespace, &key.name)?;
            Some((key, usage, meta))
        });
        let collected: Vec<_> = pods.collect();
        let created = match format {
            ListFormat::Json => PLACEHOLDER,
            ListFormat::Protobuf => Timestamp::from_secs(PB_SECS.start),
        };
        let items = collected.iter().map(|(key, usage, meta)| {
            PodItem::new(&key.namespace, &key.name, meta.labels(), created, usage)
        });
        // The previous list's size plus a little: one allocation instead of a doubling Vec
        // (which left a 48 MB list in a 67 MB buffer at 150,000 pods).
        let mut built =
            EncodedPods::encode_with_capacity(format, items, size_hint + size_hint / 16);
        built.key = Some(entry_key);
        Arc::new(built)
    }
}

/// The items of one all-namespaces pod list, with where each item and timestamp is.
#[derive(Debug)]
pub struct EncodedPods {
    key: Option<Key>,
    format: ListFormat,
    /// JSON: items separated by `,`; protobuf: complete list entries.
    items: Vec<u8>,
    /// Byte range of each item in `items`.
    spans: Vec<Range<usize>>,
    /// Byte offset of each item's `creationTimestamp` value in `items`.
    stamps: Vec<usize>,
    /// Each namespace and the range of its items, sorted by namespace.
    namespaces: Vec<(Arc<str>, Range<usize>)>,
}

impl EncodedPods {
    /// Encodes `items` (sorted by namespace, then name; timestamps are replaced per response).
    pub fn encode<'a>(format: ListFormat, items: impl Iterator<Item = PodItem<'a>>) -> EncodedPods {
        Self::encode_with_capacity(format, items, 0)
    }

    /// [`EncodedPods::encode`] into a buffer of `capacity` bytes to start with.
    fn encode_with_capacity<'a>(
        format: ListFormat,
        items: impl Iterator<Item = PodItem<'a>>,
        capacity: usize,
    ) -> EncodedPods {
        let mut out = EncodedPods {
            key: None,
            format,
            items: Vec::with_capacity(capacity),
            spans: Vec::new(),
            stamps: Vec::new(),
            namespaces: Vec::new(),
        };
        let marker: &[u8] = match format {
            ListFormat::Json => b"\"creationTimestamp\":\"",
            ListFormat::Protobuf => PB_MARKER,
        };
        // Where the stamp starts after the marker.
        let skip = match format {
            ListFormat::Json => marker.len(),
            ListFormat::Protobuf => marker.len() - PB_STAMP_LEN,
        };
        for item in items {
            let index = out.spans.len();
            let separated = index > 0 && format == ListFormat::Json;
            if separated {
                out.items.push(b',');
            }
            let start = out.items.len();
            match format {
                ListFormat::Json => Doc::new(&mut out.items).pod(&item, None),
                ListFormat::Protobuf => protobuf::write_pod_list_entry(&mut out.items, &item),
            }
            // JSON names are escaped and protobuf names are ASCII while the protobuf marker
            // holds bytes >= 0x80, so the first marker is the field itself.
            let Some(at) = memchr::memmem::find(&out.items[start..], marker) else {
                out.items
                    .truncate(start.saturating_sub(usize::from(separated)));
                continue;
            };
            out.stamps.push(start + at + skip);
            out.spans.push(start..out.items.len());
            let namespace = item.meta.namespace.unwrap_or_default();
            match out.namespaces.last_mut() {
                Some((ns, range)) if &**ns == namespace => range.end = index + 1,
                _ => out.namespaces.push((namespace.into(), index..index + 1)),
            }
        }
        out.items.shrink_to_fit();
        out
    }

    /// Number of pods in the all-namespaces list.
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// The list body for `namespace` (all when `None`) with `now` as every item's
    /// `creationTimestamp`; `None` if `now` cannot be spliced (a year beyond 9999). The body
    /// is read out of this entry in chunks, so a response never holds a copy of the list.
    pub fn render(
        self: &Arc<Self>,
        api: ApiVersion,
        namespace: Option<&str>,
        now: Timestamp,
    ) -> Option<ListBody> {
        let stamp = match self.format {
            ListFormat::Json => {
                let mut stamp = String::with_capacity(STAMP_LEN);
                now.write_rfc3339_seconds(&mut stamp);
                (stamp.len() == STAMP_LEN).then_some(stamp.into_bytes())?
            }
            ListFormat::Protobuf => {
                let secs = now.secs();
                PB_SECS.contains(&secs).then_some(())?;
                let mut stamp = Vec::with_capacity(PB_STAMP_LEN);
                prost::encoding::encode_varint(secs.unsigned_abs(), &mut stamp);
                stamp
            }
        };
        let range = match namespace {
            None => 0..self.spans.len(),
            Some(ns) => self
                .namespaces
                .binary_search_by(|(n, _)| (**n).cmp(ns))
                .ok()
                .and_then(|i| self.namespaces.get(i))
                .map_or(0..0, |(_, r)| r.clone()),
        };
        let bytes = match (self.spans.get(range.start), range.end.checked_sub(1)) {
            (Some(first), Some(last)) => first.start..self.spans.get(last)?.end,
            _ => 0..0,
        };
        let head = match self.format {
            ListFormat::Json => format!(
                "{{\"kind\":\"PodMetricsList\",\"apiVersion\":\"{}\",\"metadata\":{{}},\"items\":[",
                api.group_version()
            )
            .into_bytes(),
            ListFormat::Protobuf => protobuf::pod_list_head(api, bytes.len()),
        };
        let tail: &'static [u8] = match self.format {
            ListFormat::Json => b"]}\n",
            ListFormat::Protobuf => b"",
        };
        self.stamps.get(range.clone())?;
        Some(ListBody {
            entry: self.clone(),
            head: Some(head),
            next_byte: bytes.start,
            bytes_end: bytes.end,
            next_stamp: range.start,
            stamps_end: range.end,
            stamp,
            tail,
            chunk: CHUNK_BYTES,
        })
    }
}

/// Largest chunk a [`ListBody`] yields (plus at most one timestamp it would otherwise split).
const CHUNK_BYTES: usize = 128 * 1024;

/// One list response: the head, the items read from the shared cache entry chunk by chunk
/// with the request time spliced in, and the tail.
pub struct ListBody {
    entry: Arc<EncodedPods>,
    head: Option<Vec<u8>>,
    next_byte: usize,
    bytes_end: usize,
    next_stamp: usize,
    stamps_end: usize,
    stamp: Vec<u8>,
    tail: &'static [u8],
    /// [`CHUNK_BYTES`]; smaller in tests.
    chunk: usize,
}

impl ListBody {
    /// Bytes not yet yielded (the whole body before the first chunk).
    pub fn remaining(&self) -> usize {
        self.head.as_ref().map_or(0, Vec::len)
            + self.bytes_end.saturating_sub(self.next_byte)
            + self.tail.len()
    }

    #[cfg(test)]
    fn with_chunk(mut self, chunk: usize) -> Self {
        self.chunk = chunk.max(1);
        self
    }

    /// The whole body in one buffer (tests, `?pretty`).
    pub fn into_vec(self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.remaining());
        for chunk in self {
            out.extend_from_slice(&chunk);
        }
        out
    }

    /// The next slice of items, ending after a timestamp rather than inside one.
    fn next_items(&mut self) -> Option<bytes::Bytes> {
        let start = self.next_byte;
        if start >= self.bytes_end {
            return None;
        }
        let stamps = &self.entry.stamps[self.next_stamp..self.stamps_end];
        let mut end = (start + self.chunk).min(self.bytes_end);
        // A stamp straddling the boundary moves the boundary past it.
        let inside = stamps.partition_point(|&at| at < end);
        if let Some(&at) = inside.checked_sub(1).and_then(|i| stamps.get(i)) {
            end = end.max(at + self.stamp.len()).min(self.bytes_end);
        }
        let mut chunk = self.entry.items.get(start..end)?.to_vec();
        for &at in &stamps[..inside] {
            let at = at - start;
            chunk
                .get_mut(at..at + self.stamp.len())?
                .copy_from_slice(&self.stamp);
        }
        self.next_stamp += inside;
        self.next_byte = end;
        Some(chunk.into())
    }
}

impl Iterator for ListBody {
    type Item = bytes::Bytes;

    fn next(&mut self) -> Option<bytes::Bytes> {
        if let Some(head) = self.head.take() {
            Some(head.into())
        } else if let Some(items) = self.next_items() {
            Some(items)
        } else if !self.tail.is_empty() {
            Some(bytes::Bytes::from_static(std::mem::take(&mut self.tail)))
        } else {
            None
        }
    }
}

impl std::fmt::Debug for ListBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ListBody")
            .field("remaining", &self.remaining())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::api::encode::json;
    use crate::usage::{ContainerUsage, PodUsage, Usage};

    fn usage(n: u64) -> PodUsage {
        PodUsage {
            node: "node-1".into(),
            timestamp: Timestamp::from_secs(1_700_000_000),
            window_ns: 15_004_000_000,
            containers: vec![ContainerUsage {
                name: "app".into(),
                usage: Usage {
                    cpu_nanocores: n * 1000,
                    memory_bytes: n << 20,
                },
            }],
        }
    }

    /// One item per `(namespace, name)`, all with `labels` and `ts`.
    fn pod_items<'a>(
        pods: &[(&'a str, &'a str)],
        usages: &'a [PodUsage],
        labels: &'a BTreeMap<String, String>,
        ts: Timestamp,
    ) -> Vec<PodItem<'a>> {
        pods.iter()
            .zip(usages)
            .map(|(&(ns, name), usage)| PodItem::new(ns, name, labels, ts, usage))
            .collect()
    }

    #[test]
    fn renders_json_and_protobuf_byte_identical_to_a_fresh_encode_for_every_namespace() {
        let mut labels = BTreeMap::new();
        labels.insert("app".to_string(), "web<&>".to_string());
        let pods = [
            ("default", "a"),
            ("default", "b\"q"),
            ("kube-system", "c"),
            ("team-a", "d"),
        ];
        let usages: Vec<PodUsage> = (1..=4).map(usage).collect();
        let items = |ts: Timestamp| pod_items(&pods, &usages, &labels, ts);
        let cached = Arc::new(EncodedPods::encode(
            ListFormat::Json,
            items(PLACEHOLDER).into_iter(),
        ));
        assert_eq!(cached.len(), 4);
        let cached_pb = Arc::new(EncodedPods::encode(
            ListFormat::Protobuf,
            items(Timestamp::from_secs(PB_SECS.start)).into_iter(),
        ));
        assert_eq!(cached_pb.len(), 4);
        let now = Timestamp::from_secs(1_750_000_123);
        for api in ApiVersion::ALL {
            for ns in [
                None,
                Some("default"),
                Some("team-a"),
                Some("kube"),
                Some("zzz"),
            ] {
                let want_items: Vec<PodItem<'_>> = items(now)
                    .into_iter()
                    .filter(|i| ns.is_none_or(|ns| i.meta.namespace == Some(ns)))
                    .collect();
                let mut want = Vec::new();
                json::write_pod_metrics_list(&mut want, api, &want_items);
                let got = cached.render(api, ns, now).unwrap().into_vec();
                assert_eq!(
                    String::from_utf8(got).unwrap(),
                    String::from_utf8(want).unwrap(),
                    "{api:?} {ns:?}"
                );
                let mut want_pb = Vec::new();
                protobuf::write_pod_metrics_list(&mut want_pb, api, &want_items);
                let got_pb = cached_pb.render(api, ns, now).unwrap().into_vec();
                assert_eq!(got_pb, want_pb, "protobuf {api:?} {ns:?}");
            }
        }
    }

    #[test]
    fn chunked_bodies_splice_every_stamp_whatever_the_chunk_size() {
        let labels = BTreeMap::from([("app".to_string(), "web".to_string())]);
        let names: Vec<(String, String)> = (0..60)
            .map(|i| (format!("ns-{}", i / 7), format!("pod-{i:03}")))
            .collect();
        let usages: Vec<PodUsage> = (1..=60).map(usage).collect();
        let pods: Vec<(&str, &str)> = names.iter().map(|(ns, n)| (&**ns, &**n)).collect();
        let items = |ts: Timestamp| pod_items(&pods, &usages, &labels, ts);
        let now = Timestamp::from_secs(1_750_000_123);
        let json_entry = Arc::new(EncodedPods::encode(
            ListFormat::Json,
            items(PLACEHOLDER).into_iter(),
        ));
        let pb_entry = Arc::new(EncodedPods::encode(
            ListFormat::Protobuf,
            items(Timestamp::from_secs(PB_SECS.start)).into_iter(),
        ));
        for ns in [None, Some("ns-0"), Some("ns-4"), Some("ns-8")] {
            let want_items: Vec<PodItem<'_>> = items(now)
                .into_iter()
                .filter(|i| ns.is_none_or(|ns| i.meta.namespace == Some(ns)))
                .collect();
            let mut want = Vec::new();
            json::write_pod_metrics_list(&mut want, ApiVersion::V1, &want_items);
            let mut want_pb = Vec::new();
            protobuf::write_pod_metrics_list(&mut want_pb, ApiVersion::V1, &want_items);
            for chunk in [1, 5, 19, 20, 21, 333, 4096] {
                let body = json_entry.render(ApiVersion::V1, ns, now).unwrap();
                assert_eq!(body.remaining(), want.len());
                let got = body.with_chunk(chunk).into_vec();
                assert_eq!(
                    String::from_utf8(got).unwrap(),
                    String::from_utf8(want.clone()).unwrap(),
                    "{ns:?} chunk {chunk}"
                );
                let body = pb_entry.render(ApiVersion::V1, ns, now).unwrap();
                assert_eq!(body.remaining(), want_pb.len());
                assert_eq!(body.with_chunk(chunk).into_vec(), want_pb, "{ns:?} {chunk}");
            }
        }
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
        *cache.json.latest() = entry();
        cache.release_unread(Duration::from_secs(60));
        assert!(!cache.holds(ListFormat::Json), "never read: released");

        *cache.json.latest() = entry();
        cache.json.mark_read();
        cache.release_unread(Duration::from_secs(60));
        assert!(cache.holds(ListFormat::Json), "read just now: kept");
        cache.release_unread(Duration::ZERO);
        assert!(
            !cache.holds(ListFormat::Json),
            "not read within the idle time: released"
        );
    }
}
