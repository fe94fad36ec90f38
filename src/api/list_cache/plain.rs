//! The uncompressed cached list: one buffer with the items of the all-namespaces list
//! (items carry no `apiVersion`, and the list is sorted by namespace, so each namespace's list
//! is a contiguous slice of it); it serves both API versions, all namespaces and each namespace.
//!
//! `creationTimestamp`: upstream sets it to the time of the request (spec §2.4). The cached
//! items carry a placeholder at recorded offsets, and each response gets the current time
//! spliced in (RFC 3339 seconds is always 20 bytes), so responses stay byte-identical to an
//! uncached encode at the same instant. In protobuf the placeholder is the seconds varint of a
//! time that encodes in 5 bytes (every time from 1978 to 3058 does).

use std::ops::Range;
use std::sync::Arc;

use super::{Key, ListFormat};
use crate::api::encode::{ApiVersion, PodItem, json::Doc, protobuf};
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

/// The `creationTimestamp` the items of a `format` entry are encoded with.
pub(super) fn placeholder(format: ListFormat) -> Timestamp {
    match format {
        ListFormat::Json => PLACEHOLDER,
        ListFormat::Protobuf => Timestamp::from_secs(PB_SECS.start),
    }
}

/// The items of one all-namespaces pod list, with where each timestamp and namespace is.
#[derive(Debug)]
pub struct EncodedPods {
    pub(super) key: Option<Key>,
    format: ListFormat,
    /// JSON: items separated by `,`; protobuf: complete list entries.
    items: Vec<u8>,
    /// Byte offset of each item's `creationTimestamp` value in `items`.
    stamps: Vec<usize>,
    /// Each namespace, the range of its items and their bytes in `items`, sorted by namespace.
    namespaces: Vec<(Arc<str>, Range<usize>, Range<usize>)>,
}

impl EncodedPods {
    /// Encodes `items` (sorted by namespace, then name; timestamps are replaced per response).
    pub fn encode<'a>(format: ListFormat, items: impl Iterator<Item = PodItem<'a>>) -> EncodedPods {
        Self::encode_with_capacity(format, items, 0)
    }

    /// [`EncodedPods::encode`] into a buffer of `capacity` bytes to start with.
    pub(super) fn encode_with_capacity<'a>(
        format: ListFormat,
        items: impl Iterator<Item = PodItem<'a>>,
        capacity: usize,
    ) -> EncodedPods {
        let mut out = EncodedPods {
            key: None,
            format,
            items: Vec::with_capacity(capacity),
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
            let index = out.stamps.len();
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
            let namespace = item.meta.namespace.unwrap_or_default();
            match out.namespaces.last_mut() {
                Some((ns, range, bytes)) if &**ns == namespace => {
                    range.end = index + 1;
                    bytes.end = out.items.len();
                }
                _ => out.namespaces.push((
                    namespace.into(),
                    index..index + 1,
                    start..out.items.len(),
                )),
            }
        }
        out.items.shrink_to_fit();
        out
    }

    /// Bytes of encoded items.
    pub(super) fn items_len(&self) -> usize {
        self.items.len()
    }

    /// Number of pods in the all-namespaces list.
    pub fn len(&self) -> usize {
        self.stamps.len()
    }

    pub fn is_empty(&self) -> bool {
        self.stamps.is_empty()
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
        let (range, bytes) = match namespace {
            None => (0..self.stamps.len(), 0..self.items.len()),
            Some(ns) => self
                .namespaces
                .binary_search_by(|(n, ..)| (**n).cmp(ns))
                .ok()
                .and_then(|i| self.namespaces.get(i))
                .map_or((0..0, 0..0), |(_, r, b)| (r.clone(), b.clone())),
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

/// Largest chunk a [`ListBody`] yields (plus at most one timestamp it would otherwise split):
/// about one TLS record. Each chunk is a copy (its timestamps are the request's), made only
/// when the connection takes it, so a client that does not read holds a chunk or two of
/// copies, not its whole list.
const CHUNK_BYTES: usize = 16 * 1024;

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
    use crate::api::list_cache::test_items::{pod_items, usage};
    use crate::usage::PodUsage;

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
}
