//! Byte-exact JSON for NodeMetrics, PodMetrics and their lists, as upstream's apiserver
//! encodes them (upstream spec §2.4): Go struct field order, map keys sorted, Go's string
//! escaping (HTML-safe), `metav1.Time` at seconds precision, `metav1.Duration` as Go text.
//!
//! Written straight into a `Vec<u8>`, with no other allocation. Items inside lists carry no
//! `kind`/`apiVersion`, like the captured upstream list in §2.4.

use super::{ApiVersion, NodeItem, ObjectMeta, PodItem, quantity};
use crate::go_duration;
use crate::time::Timestamp;
use crate::usage::Usage;
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

    /// `{"cpu":…,"memory":…}` (a ResourceList: keys sorted).
    pub(crate) fn usage(&mut self, usage: &Usage) {
        self.raw("{\"cpu\":\"");
        quantity::write_cpu(self.out, usage.cpu_nanocores);
        self.raw("\",\"memory\":\"");
        quantity::write_memory(self.out, usage.memory_bytes);
        self.raw("\"}");
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
        self.usage(&item.usage.usage);
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
            self.usage(&c.usage);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indent_matches_go_marshal_indent() {
        let got = indent(b"{\"a\":{},\"b\":[1,{\"c\":\"x,:{\\\"\"}],\"d\":[]}\n");
        let want = "{\n  \"a\": {},\n  \"b\": [\n    1,\n    {\n      \"c\": \"x,:{\\\"\"\n    }\n  ],\n  \"d\": []\n}";
        assert_eq!(String::from_utf8(got).unwrap(), want);
    }
}
