//! Raw HTTP/2 frames (RFC 9113) for clients no library would be: ones that reset every
//! stream they open, never end a header block, flood control frames or never read. Header
//! blocks are HPACK literals without indexing (RFC 7541 §6.2.2), no Huffman coding: what any
//! decoder must accept.

use std::time::Instant;

use tokio::io::{AsyncRead, AsyncReadExt};

pub const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

const DATA: u8 = 0x0;
const HEADERS: u8 = 0x1;
const RST_STREAM: u8 = 0x3;
const SETTINGS: u8 = 0x4;
const PING: u8 = 0x6;
const GOAWAY: u8 = 0x7;
const WINDOW_UPDATE: u8 = 0x8;
const CONTINUATION: u8 = 0x9;

const END_STREAM: u8 = 0x1;
const END_HEADERS: u8 = 0x4;

pub const SETTINGS_INITIAL_WINDOW_SIZE: u16 = 0x4;
/// The largest flow-control window (2^31 - 1).
pub const MAX_WINDOW: u32 = 0x7fff_ffff;
/// The connection window every HTTP/2 connection starts with.
const DEFAULT_WINDOW: u32 = 65_535;
pub const CANCEL: u32 = 0x8;

/// One frame: its 9-byte header, then `payload`.
pub fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = u32::try_from(payload.len()).expect("frame length");
    assert!(len < 1 << 24, "frame payload too long");
    let mut out = Vec::with_capacity(9 + payload.len());
    out.extend_from_slice(&len.to_be_bytes()[1..]);
    out.push(kind);
    out.push(flags);
    out.extend_from_slice(&(stream & 0x7fff_ffff).to_be_bytes());
    out.extend_from_slice(payload);
    out
}

pub fn settings(pairs: &[(u16, u32)]) -> Vec<u8> {
    let mut payload = Vec::new();
    for (id, value) in pairs {
        payload.extend_from_slice(&id.to_be_bytes());
        payload.extend_from_slice(&value.to_be_bytes());
    }
    frame(SETTINGS, 0, 0, &payload)
}

pub fn window_update(stream: u32, increment: u32) -> Vec<u8> {
    frame(WINDOW_UPDATE, 0, stream, &increment.to_be_bytes())
}

pub fn ping(n: u64) -> Vec<u8> {
    frame(PING, 0, 0, &n.to_be_bytes())
}

pub fn rst_stream(stream: u32, code: u32) -> Vec<u8> {
    frame(RST_STREAM, 0, stream, &code.to_be_bytes())
}

/// A HEADERS frame with the whole `block`, ending the stream (a request without a body).
pub fn request_headers(stream: u32, block: &[u8]) -> Vec<u8> {
    frame(HEADERS, END_STREAM | END_HEADERS, stream, block)
}

/// A HEADERS frame that starts a header block and does not end it.
pub fn open_headers(stream: u32, block: &[u8]) -> Vec<u8> {
    frame(HEADERS, END_STREAM, stream, block)
}

/// A CONTINUATION frame; `last` ends the header block.
pub fn continuation(stream: u32, block: &[u8], last: bool) -> Vec<u8> {
    frame(
        CONTINUATION,
        if last { END_HEADERS } else { 0 },
        stream,
        block,
    )
}

/// The client preface, then SETTINGS with the largest stream window and a connection
/// window raised to the largest: a client that says it can take everything at once.
pub fn greedy_preface() -> Vec<u8> {
    let mut out = PREFACE.to_vec();
    out.extend(settings(&[(SETTINGS_INITIAL_WINDOW_SIZE, MAX_WINDOW)]));
    out.extend(window_update(0, MAX_WINDOW - DEFAULT_WINDOW));
    out
}

/// The preface and an empty SETTINGS frame.
pub fn plain_preface() -> Vec<u8> {
    let mut out = PREFACE.to_vec();
    out.extend(settings(&[]));
    out
}

/// A GET's header block: the pseudo-headers, then `extra` fields (names in lower case).
pub fn get_block(path: &str, extra: &[(&str, &[u8])]) -> Vec<u8> {
    let mut block = Vec::new();
    for (name, value) in [
        (":method", b"GET".as_slice()),
        (":scheme", b"https"),
        (":authority", b"localhost"),
        (":path", path.as_bytes()),
    ]
    .into_iter()
    .chain(extra.iter().copied())
    {
        literal(&mut block, name.as_bytes(), value);
    }
    block
}

/// One header field as a literal without indexing, with a literal name.
pub fn literal(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.push(0x00);
    string(out, name);
    string(out, value);
}

/// An HPACK string literal, not Huffman-coded: its length (7-bit prefix), then its bytes.
fn string(out: &mut Vec<u8>, s: &[u8]) {
    integer(out, 7, 0x00, s.len());
    out.extend_from_slice(s);
}

/// An HPACK integer (RFC 7541 §5.1) with an `n`-bit prefix in a first byte carrying `flags`.
fn integer(out: &mut Vec<u8>, n: u32, flags: u8, mut value: usize) {
    let max = (1usize << n) - 1;
    if value < max {
        out.push(flags | value as u8);
        return;
    }
    out.push(flags | max as u8);
    value -= max;
    while value >= 128 {
        out.push((value % 128) as u8 | 0x80);
        value /= 128;
    }
    out.push(value as u8);
}

/// What a client saw of the server's frames.
#[derive(Debug, Default)]
pub struct Seen {
    pub frames: u64,
    pub data_bytes: u64,
    /// The error code of the server's GOAWAY, if it sent one.
    pub goaway: Option<u32>,
    /// When the connection ended (end of stream or an error), if it did.
    pub closed_at: Option<Instant>,
}

/// Reads and discards frames until the connection ends, noting a GOAWAY.
pub async fn read_frames<R: AsyncRead + Unpin>(r: &mut R) -> Seen {
    let mut seen = Seen::default();
    let mut head = [0u8; 9];
    loop {
        if r.read_exact(&mut head).await.is_err() {
            break;
        }
        let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
        let mut payload = vec![0u8; len];
        if r.read_exact(&mut payload).await.is_err() {
            break;
        }
        seen.frames += 1;
        match head[3] {
            DATA => seen.data_bytes += len as u64,
            GOAWAY if len >= 8 => {
                seen.goaway = Some(u32::from_be_bytes([
                    payload[4], payload[5], payload[6], payload[7],
                ]));
            }
            _ => {}
        }
    }
    seen.closed_at = Some(Instant::now());
    seen
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hpack_integers_follow_rfc_7541_c_1() {
        let mut out = Vec::new();
        integer(&mut out, 5, 0, 10);
        assert_eq!(out, [10]);
        out.clear();
        integer(&mut out, 5, 0, 1337);
        assert_eq!(out, [31, 154, 10]);
    }
}
