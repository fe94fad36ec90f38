//! The kubelet client's chunked-body decoder, fed the way the network delivers bytes: in
//! pieces, each decoded in place at the end of the buffer.
//!
//! 1. Arbitrary bytes never panic it, and the outcome (the body and the bytes after it, an
//!    error, or waiting for more with the data so far) is the same whatever the pieces.
//! 2. A body chunked from the input (chunk sizes, hex case, leading zeros, extensions and
//!    trailers chosen by its bytes) decodes to the same bytes, in any pieces, and the
//!    decoder stops exactly at the end of the encoding.
#![no_main]

use std::fmt::Write;

use libfuzzer_sys::fuzz_target;
use metrics_server::kubelet::http1::ChunkedError;
use metrics_server::kubelet::http1::chunked::ChunkedDecoder;

/// Bytes sent after the encoded body (the next response on a kept connection).
const NEXT: &[u8] = b"HTTP/1.1 200 OK\r\n";

#[derive(Debug, PartialEq)]
enum Outcome {
    /// The body, and how many input bytes follow its end.
    Done(Vec<u8>, usize),
    Failed(ChunkedError),
    /// The input ended first; the data decoded so far.
    Waiting(Vec<u8>),
}

fuzz_target!(|data: &[u8]| {
    let Some((&piece, raw)) = data.split_first() else {
        return;
    };
    let whole = decode(raw, raw.len().max(1));
    assert_eq!(decode(raw, usize::from(piece) % 16 + 1), whole);
    assert_eq!(decode(raw, 1), whole);

    let encoded = encode(raw, piece);
    let want = Outcome::Done(raw.to_vec(), NEXT.len());
    assert_eq!(decode(&encoded, encoded.len()), want);
    assert_eq!(decode(&encoded, usize::from(piece) % 7 + 1), want);
});

/// Decodes `raw` delivered `piece` bytes at a time into one buffer, as the client does.
fn decode(raw: &[u8], piece: usize) -> Outcome {
    let mut decoder = ChunkedDecoder::new();
    let mut buf = Vec::with_capacity(raw.len());
    let mut decoded = 0;
    for (i, bytes) in raw.chunks(piece).enumerate() {
        buf.extend_from_slice(bytes);
        let pass = match decoder.decode_in_place(&mut buf, decoded) {
            Ok(pass) => pass,
            Err(e) => return Outcome::Failed(e),
        };
        assert!(pass.decoded <= pass.consumed && pass.consumed <= buf.len());
        if decoder.is_done() {
            let received = i * piece + bytes.len();
            let left = raw.len() - received + buf.len() - pass.consumed;
            buf.truncate(pass.decoded);
            return Outcome::Done(buf, left);
        }
        assert_eq!(
            pass.consumed,
            buf.len(),
            "stopped before the end of the body"
        );
        decoded = pass.decoded;
        buf.truncate(decoded);
    }
    Outcome::Waiting(buf)
}

/// `body` in the chunked coding, its shape chosen by `shape` and the body's bytes, followed
/// by [`NEXT`].
fn encode(body: &[u8], shape: u8) -> Vec<u8> {
    let mut out = String::new();
    let mut raw = Vec::new();
    let mut rest = body;
    while let Some(&first) = rest.first() {
        let size = (usize::from(first) % 33 + 1).min(rest.len());
        size_line(&mut out, size, shape ^ first);
        raw.append(&mut std::mem::take(&mut out).into_bytes());
        raw.extend_from_slice(&rest[..size]);
        raw.extend_from_slice(b"\r\n");
        rest = &rest[size..];
    }
    size_line(&mut out, 0, shape);
    if shape & 0x20 != 0 {
        out.push_str("Expires: never\r\nX-Checksum: 1\r\n");
    }
    out.push_str("\r\n");
    raw.extend_from_slice(out.as_bytes());
    raw.extend_from_slice(NEXT);
    raw
}

/// `<size>[;extension]\r\n`, in lowercase or uppercase hex, with or without leading zeros.
fn size_line(out: &mut String, size: usize, shape: u8) {
    let width = usize::from(shape & 0x03) * 4;
    let _ = match shape & 0x04 != 0 {
        true => write!(out, "{size:0width$X}"),
        false => write!(out, "{size:0width$x}"),
    };
    if shape & 0x08 != 0 {
        out.push_str(" ; name=\"value\";flag");
    }
    out.push_str("\r\n");
}
