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

use super::encode::{ApiVersion, ObjectMeta, PodItem, json::Doc, protobuf};
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
    json: Mutex<Option<Arc<EncodedPods>>>,
    protobuf: Mutex<Option<Arc<EncodedPods>>>,
}

impl PodListCache {
    /// The encoded pods of `snapshot` joined with the watched pods, built on first use.
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
        if let Some(hit) = self.lock(format).as_ref().filter(|e| e.key == Some(key)) {
            return hit.clone();
        }
        // Built without the lock: a concurrent request may build the same entry once more,
        // but no handler ever waits for another's encode.
        let built = crate::offload::cpu_heavy(|| Self::build(snapshot, cluster, format, key));
        let mut latest = self.lock(format);
        let newer = latest
            .as_ref()
            .and_then(|e| e.key)
            .is_none_or(|k| k.generation <= key.generation);
        if newer {
            *latest = Some(built.clone());
        }
        built
    }

    /// Encodes the snapshot's pods that the cluster cache knows.
    fn build(
        snapshot: &Snapshot,
        cluster: &ClusterCache,
        format: ListFormat,
        entry_key: Key,
    ) -> Arc<EncodedPods> {
        let pods = snapshot.pods(None).filter_map(|(key, usage)| {
            let meta = cluster.pod(&key.namespace, &key.name)?;
            Some((key.namespace.clone(), key.name.clone(), usage.clone(), meta))
        });
        let collected: Vec<_> = pods.collect();
        let items = collected.iter().map(|(ns, name, usage, meta)| PodItem {
            meta: ObjectMeta {
                name,
                namespace: Some(ns),
                labels: Some(meta.labels()),
                creation_timestamp: match format {
                    ListFormat::Json => PLACEHOLDER,
                    ListFormat::Protobuf => Timestamp::from_secs(PB_SECS.start),
                },
            },
            usage,
        });
        let mut built = EncodedPods::encode(format, items);
        built.key = Some(entry_key);
        Arc::new(built)
    }

    fn lock(&self, format: ListFormat) -> std::sync::MutexGuard<'_, Option<Arc<EncodedPods>>> {
        let slot = match format {
            ListFormat::Json => &self.json,
            ListFormat::Protobuf => &self.protobuf,
        };
        slot.lock().unwrap_or_else(PoisonError::into_inner)
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
        let mut out = EncodedPods {
            key: None,
            format,
            items: Vec::new(),
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
    /// `creationTimestamp`; `None` if `now` cannot be spliced (a year beyond 9999).
    pub fn render(
        &self,
        api: ApiVersion,
        namespace: Option<&str>,
        now: Timestamp,
    ) -> Option<Vec<u8>> {
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
        let mut out = Vec::with_capacity(head.len() + bytes.len() + 3);
        out.extend_from_slice(&head);
        let shift = head.len();
        out.extend_from_slice(self.items.get(bytes.clone())?);
        for &at in self.stamps.get(range)? {
            let at = at - bytes.start + shift;
            out.get_mut(at..at + stamp.len())?.copy_from_slice(&stamp);
        }
        if self.format == ListFormat::Json {
            out.extend_from_slice(b"]}\n");
        }
        Some(out)
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
        let items = |ts: Timestamp| -> Vec<PodItem<'_>> {
            pods.iter()
                .zip(&usages)
                .map(|(&(ns, name), usage)| PodItem {
                    meta: ObjectMeta {
                        name,
                        namespace: Some(ns),
                        labels: Some(&labels),
                        creation_timestamp: ts,
                    },
                    usage,
                })
                .collect()
        };
        let cached = EncodedPods::encode(ListFormat::Json, items(PLACEHOLDER).into_iter());
        assert_eq!(cached.len(), 4);
        let cached_pb = EncodedPods::encode(
            ListFormat::Protobuf,
            items(Timestamp::from_secs(PB_SECS.start)).into_iter(),
        );
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
                let got = cached.render(api, ns, now).unwrap();
                assert_eq!(
                    String::from_utf8(got).unwrap(),
                    String::from_utf8(want).unwrap(),
                    "{api:?} {ns:?}"
                );
                let mut want_pb = Vec::new();
                protobuf::write_pod_metrics_list(&mut want_pb, api, &want_items);
                let got_pb = cached_pb.render(api, ns, now).unwrap();
                assert_eq!(got_pb, want_pb, "protobuf {api:?} {ns:?}");
            }
        }
    }
}
