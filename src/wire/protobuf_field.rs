//! Protobuf fields written straight into a buffer, with the bytes `prost` writes for the same
//! field: what the pod list encoder (`api::encode::protobuf::pod_entry`) and the label sets
//! the cluster cache keeps encoded are built from.

use prost::encoding::{WireType, encode_key, encode_varint, encoded_len_varint};

/// A string field; proto3 leaves out an empty one.
pub fn string(out: &mut Vec<u8>, tag: u32, s: &str) {
    if !s.is_empty() {
        encode_key(tag, WireType::LengthDelimited, out);
        encode_varint(s.len() as u64, out);
        out.extend_from_slice(s.as_bytes());
    }
}

/// An int64 field; proto3 leaves out a zero.
pub fn int64(out: &mut Vec<u8>, tag: u32, value: i64) {
    if value != 0 {
        encode_key(tag, WireType::Varint, out);
        encode_varint(value as u64, out);
    }
}

/// A length-delimited field whose content `body` appends. The length is written after the
/// content: one byte is set aside for it and the content moves up in the rare case (128
/// bytes or more) that the length needs more.
pub fn delimited(out: &mut Vec<u8>, tag: u32, body: impl FnOnce(&mut Vec<u8>)) {
    encode_key(tag, WireType::LengthDelimited, out);
    let at = out.len();
    out.push(0);
    body(out);
    let len = out.len() - at - 1;
    let width = encoded_len_varint(len as u64);
    if width == 1 {
        out[at] = len as u8;
        return;
    }
    let mut prefix = [0u8; 10];
    encode_varint(len as u64, &mut &mut prefix[..]);
    out.extend_from_slice(&prefix[1..width]);
    out.copy_within(at + 1..at + 1 + len, at + width);
    out[at..at + width].copy_from_slice(&prefix[..width]);
}
