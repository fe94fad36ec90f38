//! Byte-exact JSON for NodeMetrics, PodMetrics and their lists, as upstream's apiserver
//! encodes them (upstream spec §2.4): Go struct field order, map keys sorted, Go's string
//! escaping (HTML-safe), `metav1.Time` at seconds precision, `metav1.Duration` as Go text.
//!
//! Written straight into a `Vec<u8>`, with no other allocation. Items inside lists carry no
//! `kind`/`apiVersion`, like the captured upstream list in §2.4.

use super::{ApiVersion, NodeItem, ObjectMeta, PodItem, quantity};
use crate::go_duration;
use crate::time::Timestamp;
use crate::usage::{EPHEMERAL_STORAGE, ExtraUsage, SWAP, Usage};
use crate::wire::{json_string, labels};

/// A document being written.
pub(crate) struct Doc<'o> {
    pub(crate) out: &'o mut Vec<u8>,
}

impl<'o> Doc<'o> {
    pub(crate) fn new(out: &'o mut Vec<u8>) -> Self {
        Doc { out }
    }

    pub(crate) fn raw(&mut self, s: &str) {
        self.out.extend_from_slice(s.as_bytes());
    }

    pub(crate) fn string(&mut self, s: &str) {
        json_string::write_str(self.out, s);
    }

    /// `metav1.Time`: RFC 3339 UTC, seconds precision.
    pub(crate) fn time(&mut self, ts: Timestamp) {
        self.out.push(b'"');
        ts.write_rfc3339_seconds_bytes(self.out);
        self.out.push(b'"');
    }

    /// `metav1.Duration`: Go's `Duration.String()`.
    pub(crate) fn duration(&mut self, ns: i64) {
        self.out.push(b'"');
        go_duration::write_duration(self.out, ns);
        self.out.push(b'"');
    }

    /// `{"cpu":…,"memory":…}` (a ResourceList: keys sorted), with `ephemeral-storage` and
    /// `swap` in their places when `extra` has them (bytes, written like memory).
    pub(crate) fn usage(&mut self, usage: &Usage, extra: Option<&ExtraUsage>) {
        let extra = extra.copied().unwrap_or_default();
        self.raw("{\"cpu\":\"");
        quantity::write_cpu(self.out, usage.cpu_nanocores);
        if let Some(bytes) = extra.ephemeral_storage_bytes {
            self.bytes_entry(EPHEMERAL_STORAGE, bytes);
        }
        self.raw("\",\"memory\":\"");
        quantity::write_memory(self.out, usage.memory_bytes);
        if let Some(bytes) = extra.swap_bytes {
            self.bytes_entry(SWAP, bytes);
        }
        self.raw("\"}");
    }

    /// `","<key>":"<bytes>`: closes the previous quantity's quote and leaves this one's open,
    /// as the entries around it expect.
    fn bytes_entry(&mut self, key: &str, bytes: u64) {
        self.raw("\",\"");
        self.raw(key);
        self.raw("\":\"");
        quantity::write_memory(self.out, bytes);
    }

    /// `ObjectMeta` in Go field order: name, namespace, creationTimestamp, labels.
    pub(crate) fn object_meta(&mut self, meta: &ObjectMeta<'_>) {
        self.raw("{\"name\":");
        self.string(meta.name);
        if let Some(ns) = meta.namespace {
            self.raw(",\"namespace\":");
            self.string(ns);
        }
        self.raw(",\"creationTimestamp\":");
        self.time(meta.creation_timestamp);
        match (meta.encoded_labels, meta.labels) {
            (Some(encoded), _) => self.out.extend_from_slice(encoded.json()),
            (None, Some(set)) => labels::write_json(self.out, set),
            (None, None) => {}
        }
        self.raw("}");
    }

    /// `"kind":"…","apiVersion":"…",` when the object carries its type.
    fn type_meta(&mut self, kind: &str, api: Option<ApiVersion>) {
        if let Some(api) = api {
            self.raw("\"kind\":\"");
            self.raw(kind);
            self.raw("\",\"apiVersion\":\"");
            self.raw(api.group_version());
            self.raw("\",");
        }
    }

    /// One NodeMetrics object; `api` adds `kind`/`apiVersion`.
    pub(crate) fn node(&mut self, item: &NodeItem<'_>, api: Option<ApiVersion>) {
        self.raw("{");
        self.type_meta("NodeMetrics", api);
        self.raw("\"metadata\":");
        self.object_meta(&item.meta);
        self.raw(",\"timestamp\":");
        self.time(item.usage.timestamp);
        self.raw(",\"window\":");
        self.duration(item.usage.window_ns);
        self.raw(",\"usage\":");
        self.usage(&item.usage.usage, item.extra);
        self.raw("}");
    }

    /// One PodMetrics object; `api` adds `kind`/`apiVersion`.
    pub(crate) fn pod(&mut self, item: &PodItem<'_>, api: Option<ApiVersion>) {
        self.raw("{");
        self.type_meta("PodMetrics", api);
        self.raw("\"metadata\":");
        self.object_meta(&item.meta);
        self.raw(",\"timestamp\":");
        self.time(item.usage.timestamp);
        self.raw(",\"window\":");
        self.duration(item.usage.window_ns);
        self.raw(",\"containers\":[");
        for (i, c) in item.usage.containers.iter().enumerate() {
            if i > 0 {
                self.raw(",");
            }
            self.raw("{\"name\":");
            self.string(&c.name);
            self.raw(",\"usage\":");
            self.usage(&c.usage, item.container_extra(i));
            self.raw("}");
        }
        self.raw("]}");
    }

    fn list<T>(
        &mut self,
        kind: &str,
        api: ApiVersion,
        items: &[T],
        mut each: impl FnMut(&mut Self, &T),
    ) {
        self.raw("{\"kind\":\"");
        self.raw(kind);
        self.raw("\",\"apiVersion\":\"");
        self.raw(api.group_version());
        self.raw("\",\"metadata\":{},\"items\":[");
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                self.raw(",");
            }
            each(self, item);
        }
        self.raw("]}\n");
    }
}

/// A single-object GET body: `{"kind":"NodeMetrics","apiVersion":…,…}` and `\n`.
pub fn write_node_metrics(out: &mut Vec<u8>, api: ApiVersion, item: &NodeItem<'_>) {
    let mut doc = Doc::new(out);
    doc.node(item, Some(api));
    doc.raw("\n");
}

/// A list body: `{"kind":"NodeMetricsList",…,"metadata":{},"items":[…]}` and `\n`.
pub fn write_node_metrics_list(out: &mut Vec<u8>, api: ApiVersion, items: &[NodeItem<'_>]) {
    Doc::new(out).list("NodeMetricsList", api, items, |d, item| d.node(item, None));
}

/// A single-object GET body: `{"kind":"PodMetrics","apiVersion":…,…}` and `\n`.
pub fn write_pod_metrics(out: &mut Vec<u8>, api: ApiVersion, item: &PodItem<'_>) {
    let mut doc = Doc::new(out);
    doc.pod(item, Some(api));
    doc.raw("\n");
}

/// A list body: `{"kind":"PodMetricsList",…,"metadata":{},"items":[…]}` and `\n`.
pub fn write_pod_metrics_list(out: &mut Vec<u8>, api: ApiVersion, items: &[PodItem<'_>]) {
    Doc::new(out).list("PodMetricsList", api, items, |d, item| d.pod(item, None));
}

/// Re-indents a compact JSON document the way the apiserver answers `?pretty=true`
/// (Go `MarshalIndent` with two spaces, `": "` after keys, `{}`/`[]` kept, no final newline).
pub fn indent(compact: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(compact.len() * 2);
    let mut depth = 0usize;
    let (mut in_string, mut escaped) = (false, false);
    let mut i = 0;
    while i < compact.len() {
        let b = compact[i];
        i += 1;
        if in_string {
            out.push(b);
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => {
                in_string = true;
                out.push(b);
            }
            b'{' | b'[' => {
                let close = if b == b'{' { b'}' } else { b']' };
                if compact.get(i) == Some(&close) {
                    out.extend_from_slice(&[b, close]);
                    i += 1;
                } else {
                    depth += 1;
                    out.push(b);
                    newline(&mut out, depth);
                }
            }
            b'}' | b']' => {
                depth = depth.saturating_sub(1);
                newline(&mut out, depth);
                out.push(b);
            }
            b',' => {
                out.push(b',');
                newline(&mut out, depth);
            }
            b':' => out.extend_from_slice(b": "),
            b' ' | b'\n' | b'\r' | b'\t' => {}
            _ => out.push(b),
        }
    }
    out
}

fn newline(out: &mut Vec<u8>, depth: usize) {
    out.push(b'\n');
    for _ in 0..depth {
        out.extend_from_slice(b"  ");
    }
}

/// Compact JSON of `value` as Go's `json.Encoder` writes it: fields in declaration order,
/// strings escaped like [`write_str`] (HTML-safe), one `\n` after the document. For the
/// cold-path documents (discovery, Status, version) built from serde types.
///
/// Fails only where serde_json does: a map key that is not a string, or a `Serialize` impl
/// that reports an error (writing into a `Vec` cannot fail).
pub fn go_encode<T: serde::Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, serde_json::Error> {
    let mut out = Vec::with_capacity(256);
    let mut ser = serde_json::Serializer::with_formatter(&mut out, GoFormatter);
    value.serialize(&mut ser)?;
    out.push(b'\n');
    Ok(out)
}

/// serde_json's compact output with Go's HTML-safe string escaping: serde_json already
/// escapes `"`, `\\` and control characters as Go does (`\n`, `\b`, `\u001f`, lower-case
/// hex); this adds `<`, `>`, `&`, U+2028 and U+2029 inside the unescaped runs.
struct GoFormatter;

impl serde_json::ser::Formatter for GoFormatter {
    fn write_string_fragment<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> std::io::Result<()> {
        let mut start = 0;
        for (i, c) in fragment.char_indices() {
            let escaped: &[u8] = match c {
                '<' => b"\\u003c",
                '>' => b"\\u003e",
                '&' => b"\\u0026",
                '\u{2028}' => b"\\u2028",
                '\u{2029}' => b"\\u2029",
                _ => continue,
            };
            writer.write_all(&fragment.as_bytes()[start..i])?;
            writer.write_all(escaped)?;
            start = i + c.len_utf8();
        }
        writer.write_all(&fragment.as_bytes()[start..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    use crate::wire::json_string::write_str;

    #[test]
    fn go_encode_escapes_strings_like_write_str() {
        const ALPHABET: &[char] = &[
            'a',
            ' ',
            '"',
            '\\',
            '/',
            '<',
            '>',
            '&',
            '\n',
            '\r',
            '\t',
            '\u{0}',
            '\u{8}',
            '\u{b}',
            '\u{c}',
            '\u{1f}',
            '\u{7f}',
            '\u{80}',
            '\u{b5}',
            '\u{2027}',
            '\u{2028}',
            '\u{2029}',
            '\u{202a}',
            '\u{fffd}',
            '\u{1f600}',
        ];
        let mut rng = fastrand::Rng::with_seed(16);
        for _ in 0..2_000 {
            let s: String = (0..rng.usize(0..12))
                .map(|_| ALPHABET[rng.usize(..ALPHABET.len())])
                .collect();
            let mut want = Vec::new();
            write_str(&mut want, &s);
            want.push(b'\n');
            assert_eq!(go_encode(&s).unwrap(), want, "{s:?}");
            // Keys are escaped the same way.
            let mut map = BTreeMap::new();
            map.insert(s.clone(), 1);
            let mut want = b"{".to_vec();
            write_str(&mut want, &s);
            want.extend_from_slice(b":1}\n");
            assert_eq!(go_encode(&map).unwrap(), want, "{s:?}");
        }
    }

    #[test]
    fn indent_matches_go_marshal_indent() {
        let got = indent(b"{\"a\":{},\"b\":[1,{\"c\":\"x,:{\\\"\"}],\"d\":[]}\n");
        let want = "{\n  \"a\": {},\n  \"b\": [\n    1,\n    {\n      \"c\": \"x,:{\\\"\"\n    }\n  ],\n  \"d\": []\n}";
        assert_eq!(String::from_utf8(got).unwrap(), want);
    }
}
