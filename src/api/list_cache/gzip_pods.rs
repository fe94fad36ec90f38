//! The gzip-compressed cached list, for clients that send `Accept-Encoding: gzip` (kubectl and
//! every client-go client unless it disables compression): about 13× smaller than the
//! uncompressed list in memory and on the wire, and a response is a handful of shared slices.
//!
//! Each namespace's items are one [`Segment`] of raw deflate, so a namespace's list and the
//! all-namespaces list are both cut from the same bytes: a response is the gzip header, the
//! list head as a stored block, the segments (JSON: with a stored `,` between them), the tail
//! and the trailer, whose CRC-32 is combined from the segments' CRCs.
//!
//! `creationTimestamp` is the time the entry was encoded, at most one `--metric-resolution`
//! before the request (compressed bytes cannot take the per-response time splice that the
//! uncompressed list gets).

use std::sync::Arc;

use bytes::Bytes;

use super::{Key, ListFormat};
use crate::api::encode::gzip::{self, GzipError, Segment, SegmentWriter};
use crate::api::encode::{ApiVersion, PodItem, json::Doc, protobuf};

/// Raw bytes gathered before they go to the compressor.
const FEED_BYTES: usize = 64 * 1024;

/// A stored block holding `,` (between two namespaces' JSON items).
const STORED_COMMA: [u8; 6] = [0x00, 0x01, 0x00, 0xfe, 0xff, b','];

/// One compressed all-namespaces pod list.
#[derive(Debug)]
pub struct GzipPods {
    pub(super) key: Option<Key>,
    format: ListFormat,
    /// Every namespace's segment, in namespace order.
    deflate: Bytes,
    /// Each namespace, its segment and its number of items, sorted by namespace.
    namespaces: Vec<(Arc<str>, Segment, usize)>,
}

impl GzipPods {
    /// Encodes and compresses `items` (sorted by namespace, then name) into a buffer of
    /// `capacity` bytes to start with.
    pub fn encode<'a>(
        format: ListFormat,
        items: impl Iterator<Item = PodItem<'a>>,
        capacity: usize,
    ) -> Result<GzipPods, GzipError> {
        Builder::new(format, SegmentWriter::new(capacity)).encode(items)
    }

    /// Both formats from one pass over `items`: each pod and its metadata are read once
    /// for the two encodings.
    pub fn encode_both<'a>(
        items: impl Iterator<Item = PodItem<'a>>,
        json_capacity: usize,
        protobuf_capacity: usize,
    ) -> (Result<GzipPods, GzipError>, Result<GzipPods, GzipError>) {
        let mut json = Builder::new(ListFormat::Json, SegmentWriter::new(json_capacity));
        let mut protobuf =
            Builder::new(ListFormat::Protobuf, SegmentWriter::new(protobuf_capacity));
        for item in items {
            json.push(&item);
            protobuf.push(&item);
        }
        (json.finish(), protobuf.finish())
    }

    /// Number of pods in the all-namespaces list.
    pub fn len(&self) -> usize {
        self.namespaces.iter().map(|(_, _, n)| n).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.namespaces.is_empty()
    }

    /// Compressed size, for sizing the next entry.
    pub fn compressed_len(&self) -> usize {
        self.deflate.len()
    }

    /// The segments of `namespace` (all when `None`).
    fn selected(&self, namespace: Option<&str>) -> &[(Arc<str>, Segment, usize)] {
        match namespace {
            None => &self.namespaces[..],
            Some(ns) => match self.namespaces.binary_search_by(|(n, ..)| (**n).cmp(ns)) {
                Ok(i) => &self.namespaces[i..=i],
                Err(_) => &[],
            },
        }
    }

    /// Uncompressed bytes of the items of `namespace`'s list (all when `None`), separators
    /// included: the list body is this plus a head and tail of a hundred bytes or so.
    pub fn items_len(&self, namespace: Option<&str>) -> u64 {
        let selected = self.selected(namespace);
        let separators = match self.format {
            ListFormat::Json => selected.len().saturating_sub(1) as u64,
            ListFormat::Protobuf => 0,
        };
        selected.iter().map(|(_, s, _)| s.raw_len).sum::<u64>() + separators
    }

    /// The gzip-compressed list body for `namespace` (all when `None`).
    pub fn render(&self, api: ApiVersion, namespace: Option<&str>) -> GzipListBody {
        let selected = self.selected(namespace);
        let json = self.format == ListFormat::Json;
        let items_len = self.items_len(namespace);
        let (head, tail): (Vec<u8>, &[u8]) = match self.format {
            ListFormat::Json => (
                format!(
                    "{{\"kind\":\"PodMetricsList\",\"apiVersion\":\"{}\",\"metadata\":{{}},\"items\":[",
                    api.group_version()
                )
                .into_bytes(),
                b"]}\n",
            ),
            ListFormat::Protobuf => (
                protobuf::pod_list_head(api, usize::try_from(items_len).unwrap_or(usize::MAX)),
                b"",
            ),
        };
        let mut crc = crc32fast::Hasher::new();
        let mut parts = Vec::with_capacity(2 + selected.len() * 2);
        let mut first = gzip::HEADER.to_vec();
        first.extend_from_slice(&gzip::stored_blocks(&head));
        crc.update(&head);
        parts.push(Bytes::from(first));
        for (i, (_, segment, _)) in selected.iter().enumerate() {
            if json && i > 0 {
                parts.push(Bytes::from_static(&STORED_COMMA));
                crc.update(b",");
            }
            parts.push(self.deflate.slice(segment.bytes.clone()));
            crc.combine(&segment.crc_state());
        }
        let mut last = gzip::stored_blocks(tail);
        crc.update(tail);
        last.extend_from_slice(&gzip::FINAL_BLOCK);
        last.extend_from_slice(&gzip::trailer(&crc));
        parts.push(Bytes::from(last));
        GzipListBody {
            remaining: parts.iter().map(Bytes::len).sum(),
            parts: parts.into(),
        }
    }
}

/// A [`GzipPods`] being written: items (sorted by namespace, then name) go through a small
/// buffer to the compressor, one segment per namespace.
struct Builder<'a> {
    format: ListFormat,
    writer: SegmentWriter,
    raw: Vec<u8>,
    namespaces: Vec<(Arc<str>, Segment, usize)>,
    /// The namespace being written and its items so far.
    current: Option<(&'a str, usize)>,
    /// The first compression error: the entry is then incomplete and [`Builder::finish`]
    /// returns it instead.
    failed: Option<GzipError>,
}

impl<'a> Builder<'a> {
    fn new(format: ListFormat, writer: SegmentWriter) -> Self {
        Builder {
            format,
            writer,
            raw: Vec::with_capacity(FEED_BYTES + 4096),
            namespaces: Vec::new(),
            current: None,
            failed: None,
        }
    }

    fn encode(mut self, items: impl Iterator<Item = PodItem<'a>>) -> Result<GzipPods, GzipError> {
        for item in items {
            self.push(&item);
            if self.failed.is_some() {
                break;
            }
        }
        self.finish()
    }

    fn push(&mut self, item: &PodItem<'a>) {
        if self.failed.is_some() {
            return;
        }
        let namespace = item.meta.namespace.unwrap_or_default();
        match self.current.as_mut() {
            Some((ns, count)) if *ns == namespace => {
                *count += 1;
                if self.format == ListFormat::Json {
                    self.raw.push(b',');
                }
            }
            _ => {
                self.finish_namespace();
                self.current = Some((namespace, 1));
            }
        }
        match self.format {
            ListFormat::Json => Doc::new(&mut self.raw).pod(item, None),
            ListFormat::Protobuf => protobuf::write_pod_list_entry(&mut self.raw, item),
        }
        if self.raw.len() >= FEED_BYTES {
            self.feed();
        }
    }

    /// Hands the gathered bytes to the compressor.
    fn feed(&mut self) {
        if let Err(err) = self.writer.write(&self.raw) {
            self.failed.get_or_insert(err);
        }
        self.raw.clear();
    }

    fn finish_namespace(&mut self) {
        if let Some((ns, count)) = self.current.take() {
            self.feed();
            match self.writer.finish_segment() {
                Ok(segment) => self.namespaces.push((ns.into(), segment, count)),
                Err(err) => {
                    self.failed.get_or_insert(err);
                }
            }
        }
    }

    fn finish(mut self) -> Result<GzipPods, GzipError> {
        if self.failed.is_none() {
            self.finish_namespace();
        }
        if let Some(err) = self.failed {
            return Err(err);
        }
        Ok(GzipPods {
            key: None,
            format: self.format,
            deflate: self.writer.into_bytes().into(),
            namespaces: self.namespaces,
        })
    }
}

/// One gzip list response: slices of the shared entry between small framing pieces.
#[derive(Debug)]
pub struct GzipListBody {
    parts: std::collections::VecDeque<Bytes>,
    remaining: usize,
}

impl GzipListBody {
    /// Bytes not yet yielded.
    pub fn remaining(&self) -> usize {
        self.remaining
    }

    /// The whole body in one buffer.
    pub fn into_vec(self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.remaining);
        for part in self {
            out.extend_from_slice(&part);
        }
        out
    }
}

impl Iterator for GzipListBody {
    type Item = Bytes;

    fn next(&mut self) -> Option<Bytes> {
        let part = self.parts.pop_front()?;
        self.remaining -= part.len();
        Some(part)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::api::encode::gzip::gunzip;
    use crate::api::encode::json;
    use crate::api::list_cache::test_items::{pod_items, usage};
    use crate::time::Timestamp;
    use crate::usage::PodUsage;

    #[test]
    fn every_namespace_and_the_whole_list_decompress_to_a_fresh_encode() {
        let labels = BTreeMap::from([("app".to_string(), "web<&>".to_string())]);
        // Namespaces of 1 to 400 pods, so some segments span several compressor feeds.
        let names: Vec<(String, String)> = (0..1_200u32)
            .map(|i| {
                let ns = match i {
                    0 => "a-lone".to_string(),
                    1..800 => "big".to_string(),
                    _ => format!("ns-{:02}", i / 100),
                };
                (ns, format!("pod-\"{i:04}"))
            })
            .collect();
        let usages: Vec<PodUsage> = (1..=1_200).map(usage).collect();
        let pods: Vec<(&str, &str)> = names.iter().map(|(ns, n)| (&**ns, &**n)).collect();
        let built_at = Timestamp::from_secs(1_750_000_123);
        let items = pod_items(&pods, &usages, &labels, built_at);
        let json_entry = GzipPods::encode(ListFormat::Json, items.clone().into_iter(), 0).unwrap();
        let pb_entry =
            GzipPods::encode(ListFormat::Protobuf, items.clone().into_iter(), 0).unwrap();
        assert_eq!(json_entry.len(), 1_200);
        assert_eq!(pb_entry.len(), 1_200);
        for api in ApiVersion::ALL {
            for ns in [
                None,
                Some("a-lone"),
                Some("big"),
                Some("ns-11"),
                Some("nope"),
            ] {
                let want_items: Vec<PodItem<'_>> = items
                    .iter()
                    .filter(|i| ns.is_none_or(|ns| i.meta.namespace == Some(ns)))
                    .cloned()
                    .collect();
                let mut want = Vec::new();
                json::write_pod_metrics_list(&mut want, api, &want_items);
                let body = json_entry.render(api, ns);
                let wire = body.remaining();
                let got = body.into_vec();
                assert_eq!(got.len(), wire);
                assert_eq!(
                    String::from_utf8(gunzip(&got)).unwrap(),
                    String::from_utf8(want.clone()).unwrap(),
                    "{api:?} {ns:?}"
                );
                if ns.is_none() {
                    assert!(
                        got.len() * 8 < want.len(),
                        "{} of {}",
                        got.len(),
                        want.len()
                    );
                }
                let mut want_pb = Vec::new();
                protobuf::write_pod_metrics_list(&mut want_pb, api, &want_items);
                let got_pb = gunzip(&pb_entry.render(api, ns).into_vec());
                assert_eq!(got_pb, want_pb, "protobuf {api:?} {ns:?}");
            }
        }
    }

    #[test]
    fn one_pass_for_both_formats_gives_the_entries_of_two() {
        let labels = BTreeMap::from([("app".to_string(), "web".to_string())]);
        let names: Vec<(&str, String)> = (0..300u32)
            .map(|i| (["a", "b", "c"][i as usize / 100], format!("pod-{i:03}")))
            .collect();
        let pods: Vec<(&str, &str)> = names.iter().map(|(ns, n)| (*ns, &**n)).collect();
        let usages: Vec<PodUsage> = (1..=300).map(usage).collect();
        let items = pod_items(&pods, &usages, &labels, Timestamp::from_secs(1_750_000_000));
        let (json, pb) = GzipPods::encode_both(items.clone().into_iter(), 0, 0);
        for (both, format) in [(json, ListFormat::Json), (pb, ListFormat::Protobuf)] {
            let both = both.unwrap();
            let alone = GzipPods::encode(format, items.clone().into_iter(), 0).unwrap();
            assert_eq!(both.len(), 300);
            for ns in [None, Some("b")] {
                assert_eq!(
                    both.render(ApiVersion::V1, ns).into_vec(),
                    alone.render(ApiVersion::V1, ns).into_vec(),
                    "{format:?} {ns:?}"
                );
            }
        }
    }

    #[test]
    fn an_empty_list_is_a_valid_member() {
        let entry = GzipPods::encode(ListFormat::Json, std::iter::empty(), 0).unwrap();
        let got = gunzip(&entry.render(ApiVersion::V1, None).into_vec());
        let mut want = Vec::new();
        json::write_pod_metrics_list(&mut want, ApiVersion::V1, &[]);
        assert_eq!(got, want);
    }

    #[test]
    fn a_list_whose_compression_fails_is_an_error_not_a_shorter_list() {
        let labels = BTreeMap::from([("app".to_string(), "web".to_string())]);
        let pods = [("a", "p0"), ("a", "p1"), ("b", "p2")];
        let usages: Vec<PodUsage> = (1..=3).map(usage).collect();
        let items = pod_items(&pods, &usages, &labels, Timestamp::from_secs(1_750_000_000));
        let stalled = SegmentWriter::with_scratch(0, 0);
        let built = Builder::new(ListFormat::Json, stalled).encode(items.into_iter());
        assert!(matches!(built, Err(GzipError::Stalled { .. })), "{built:?}");
    }
}
