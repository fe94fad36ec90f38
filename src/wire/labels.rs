//! A label set in the two formats the API writes it in, inside `ObjectMeta`: JSON
//! (`,"labels":{…}`) and protobuf (the `labels` map entries). The cluster cache keeps a set's
//! encodings with the pods that share it ([`EncodedLabels`]); the API encoders copy them, or
//! write a set of one pod's own with [`write_json`] and [`write_protobuf`].

use std::collections::BTreeMap;

use super::json_string::write_str;
use super::protobuf_field::{delimited, string};

/// A label set as each format writes it inside `ObjectMeta`: encoded once for the many pods
/// that share the set (every pod of a ReplicaSet), a list copies these bytes instead of
/// walking the map and escaping each string again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedLabels {
    /// The JSON, then the protobuf (one buffer: one memory read less per pod).
    bytes: Box<[u8]>,
    json_len: usize,
}

impl EncodedLabels {
    pub fn of(labels: &BTreeMap<String, String>) -> Self {
        let mut bytes = Vec::new();
        write_json(&mut bytes, labels);
        let json_len = bytes.len();
        write_protobuf(&mut bytes, labels);
        EncodedLabels {
            bytes: bytes.into(),
            json_len,
        }
    }

    /// `,"labels":{…}`, or nothing for an empty set.
    pub fn json(&self) -> &[u8] {
        &self.bytes[..self.json_len]
    }

    /// The `labels` map entries (field 11 of `ObjectMeta`).
    pub fn protobuf(&self) -> &[u8] {
        &self.bytes[self.json_len..]
    }
}

/// `,"labels":{…}` inside `ObjectMeta`; nothing for an empty set.
pub fn write_json(out: &mut Vec<u8>, labels: &BTreeMap<String, String>) {
    if labels.is_empty() {
        return;
    }
    out.extend_from_slice(b",\"labels\":{");
    for (i, (k, v)) in labels.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_str(out, k);
        out.push(b':');
        write_str(out, v);
    }
    out.push(b'}');
}

/// The `labels` map entries of `ObjectMeta` (field 11), in key order.
pub fn write_protobuf(out: &mut Vec<u8>, labels: &BTreeMap<String, String>) {
    for (key, value) in labels {
        delimited(out, 11, |out| {
            string(out, 1, key);
            string(out, 2, value);
        });
    }
}
