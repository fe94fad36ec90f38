//! HTTP/1.1 request heads with more header lines than hyper's parse table holds
//! ([`super::MAX_HEADER_LINES`]). The apiserver reads any number of lines within its 1 MiB,
//! but hyper allocates its table for every request, and one that large doubled the CPU of a
//! small GET. So, while no request is in flight, the connection's reader holds a head back
//! until it is complete (`HeldHead`): a head that fits the table goes to hyper unchanged; a
//! longer one is parsed here into a header map kept for the connection's next request, and
//! hyper is handed the request line, the framing headers and [`MARKER`] instead. The request's
//! handler puts the map back (`Activity::take_long_head`).

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue};

/// The header a compact head carries in place of a long head's headers.
pub const MARKER: &str = "x-metrics-server-long-head";
/// [`MARKER`] as a header name (looked up on every request without parsing it each time).
pub const MARKER_NAME: HeaderName = HeaderName::from_static(MARKER);
/// What one parsed header line holds at most beyond its text (a map entry of 72 bytes, and up
/// to as much again while the map's storage doubles): a long head's map, and the head's text
/// its values point into, are charged to the shared head budget while the request lasts.
pub const PARSED_LINE_BYTES: usize = 128;
/// Headers hyper must still see to frame the body and keep the connection alive.
const FRAMING: [&str; 4] = [
    "content-length",
    "transfer-encoding",
    "connection",
    "expect",
];

/// The bytes of a head held back until it is complete.
#[derive(Debug, Default)]
pub struct HeldHead {
    buf: Vec<u8>,
    /// How far the search for the end of the head has looked.
    searched: usize,
}

/// The limits a held head is checked against.
#[derive(Copy, Clone, Debug)]
pub struct HeadLimits {
    /// Header lines hyper's own table takes.
    pub max_lines: usize,
    /// The whole head.
    pub max_bytes: usize,
    /// The request path (refused as soon as it is longer, before the rest arrives).
    pub max_path: usize,
}

/// A complete head, ready for hyper, or refused here.
#[derive(Debug)]
pub enum Released {
    /// The request path is longer than `max_path`: answered 414 without reading further.
    PathTooLong,
    /// As received: a head that fits hyper's table, or one hyper must refuse.
    Unchanged(Vec<u8>),
    /// A compact head followed by whatever came after the long one; `headers` are the long
    /// head's, `lines` how many.
    Parsed {
        bytes: Vec<u8>,
        headers: HeaderMap,
        lines: usize,
    },
}

impl HeldHead {
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Everything held, as it came (end of stream, or a request started meanwhile).
    pub fn release(&mut self) -> Vec<u8> {
        self.searched = 0;
        std::mem::take(&mut self.buf)
    }

    /// Adds `data`. Once the head is complete (or longer than `max_bytes`, which hyper will
    /// refuse), what to hand hyper: unchanged when it has at most `max_lines` header lines,
    /// else parsed if `parse_allowed(bytes)` says a map of that size may be kept.
    pub fn push(
        &mut self,
        data: &[u8],
        limits: &HeadLimits,
        parse_allowed: impl FnOnce(usize) -> bool,
    ) -> Option<Released> {
        self.buf.extend_from_slice(data);
        if path_len(&self.buf) > limits.max_path {
            self.release();
            return Some(Released::PathTooLong);
        }
        let Some(end) = head_end(&self.buf, self.searched) else {
            self.searched = self.buf.len();
            let too_long = self.buf.len() > limits.max_bytes;
            return too_long.then(|| Released::Unchanged(self.release()));
        };
        let buf = self.release();
        let lines = header_lines(&buf[..end]);
        if lines <= limits.max_lines
            || end > limits.max_bytes
            || !parse_allowed(parsed_bytes(lines, end))
        {
            return Some(Released::Unchanged(buf));
        }
        Some(parse_long(buf, end, lines))
    }
}

/// Where the head ends (just after its empty line), searching from `from` on; lines may end
/// in CRLF or LF, as hyper accepts both.
fn head_end(buf: &[u8], from: usize) -> Option<usize> {
    let start = from.saturating_sub(2);
    memchr::memchr_iter(b'\n', &buf[start..])
        .map(|i| start + i)
        .find_map(|nl| match &buf[nl + 1..] {
            [b'\n', ..] => Some(nl + 2),
            [b'\r', b'\n', ..] => Some(nl + 3),
            _ => None,
        })
}

/// How long the request path of `head` is so far: from after the method to the query, the
/// version or the end of the line (0 before the method ends).
fn path_len(head: &[u8]) -> usize {
    let line_end = memchr::memchr(b'\n', head).unwrap_or(head.len());
    let line = &head[..line_end];
    let Some(space) = memchr::memchr(b' ', line) else {
        return 0;
    };
    let target = &line[space + 1..];
    memchr::memchr3(b'?', b' ', b'\r', target).unwrap_or(target.len())
}

/// Header lines of a complete head: its lines less the request line and the empty line.
fn header_lines(head: &[u8]) -> usize {
    memchr::memchr_iter(b'\n', head).count().saturating_sub(2)
}

/// What the map of a head of `lines` lines and `len` bytes holds at most.
fn parsed_bytes(lines: usize, len: usize) -> usize {
    lines.saturating_mul(PARSED_LINE_BYTES).saturating_add(len)
}

/// The long head `buf[..end]` parsed; unchanged when it does not parse (hyper answers it).
fn parse_long(buf: Vec<u8>, end: usize, lines: usize) -> Released {
    let head = Bytes::copy_from_slice(&buf[..end]);
    let Some((compact, headers)) = compact(&head, lines) else {
        return Released::Unchanged(buf);
    };
    let mut bytes = compact;
    bytes.extend_from_slice(&buf[end..]);
    Released::Parsed {
        bytes,
        headers,
        lines,
    }
}

/// The request line, the framing headers and [`MARKER`] of `head`, and all its headers (their
/// values point into `head`).
fn compact(head: &Bytes, lines: usize) -> Option<(Vec<u8>, HeaderMap)> {
    let mut parsed = vec![httparse::EMPTY_HEADER; lines + 1];
    let mut req = httparse::Request::new(&mut parsed);
    match req.parse(head) {
        Ok(httparse::Status::Complete(n)) if n == head.len() => {}
        _ => return None,
    }
    let mut headers = HeaderMap::new();
    for h in req.headers.iter() {
        let name = HeaderName::from_bytes(h.name.as_bytes()).ok()?;
        let value = HeaderValue::from_maybe_shared(head.slice_ref(h.value)).ok()?;
        headers.try_append(name, value).ok()?;
    }
    let (method, path, version) = (req.method?, req.path?, req.version?);
    let mut out = format!("{method} {path} HTTP/1.{version}\r\n").into_bytes();
    for name in FRAMING {
        for value in headers.get_all(name) {
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
    }
    out.extend_from_slice(MARKER.as_bytes());
    out.extend_from_slice(b": 1\r\n\r\n");
    Some((out, headers))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX_BYTES: usize = 1024 * 1024;

    fn limits(max_lines: usize) -> HeadLimits {
        HeadLimits {
            max_lines,
            max_bytes: MAX_BYTES,
            max_path: 4096,
        }
    }

    fn head_with(lines: usize, tail: &str) -> Vec<u8> {
        let mut head = b"GET /apis/x?y=1 HTTP/1.1\r\nhost: h\r\ncontent-length: 3\r\n".to_vec();
        for i in 0..lines {
            head.extend_from_slice(format!("x-remote-group: g{i}\r\n").as_bytes());
        }
        head.extend_from_slice(b"\r\n");
        head.extend_from_slice(tail.as_bytes());
        head
    }

    fn push_all(held: &mut HeldHead, bytes: &[u8], max_lines: usize) -> Option<Released> {
        held.push(bytes, &limits(max_lines), |_| true)
    }

    #[test]
    fn a_head_within_the_table_passes_unchanged_once_complete() {
        let head = head_with(3, "abc");
        let mut held = HeldHead::default();
        assert!(push_all(&mut held, &head[..20], 100).is_none());
        assert!(push_all(&mut held, &head[20..40], 100).is_none());
        match push_all(&mut held, &head[40..], 100) {
            Some(Released::Unchanged(bytes)) => assert_eq!(bytes, head),
            other => panic!("{other:?}"),
        }
        assert!(held.is_empty());
    }

    #[test]
    fn a_long_head_is_parsed_and_hyper_gets_a_compact_one_with_its_framing() {
        let head = head_with(20_000, "abcNEXT");
        let mut held = HeldHead::default();
        let Some(Released::Parsed {
            bytes,
            headers,
            lines,
        }) = push_all(&mut held, &head, 8191)
        else {
            panic!("not parsed")
        };
        assert_eq!(lines, 20_002);
        assert_eq!(headers.get_all("x-remote-group").iter().count(), 20_000);
        assert_eq!(headers["host"], "h");
        let expected =
            format!("GET /apis/x?y=1 HTTP/1.1\r\ncontent-length: 3\r\n{MARKER}: 1\r\n\r\nabcNEXT");
        assert_eq!(String::from_utf8(bytes).unwrap(), expected);
    }

    #[test]
    fn a_path_over_the_limit_is_refused_before_the_rest_of_the_head_arrives() {
        let mut held = HeldHead::default();
        let path = "a".repeat(4096);
        let start = format!("GET /{path}");
        assert!(matches!(
            push_all(&mut held, start.as_bytes(), 100),
            Some(Released::PathTooLong)
        ));
        assert!(held.is_empty());
        // A long query is not a long path.
        let query = format!("GET /x?labelSelector={path}{path} HTTP/1.1\r\nhost: h\r\n\r\n");
        assert!(matches!(
            push_all(&mut held, query.as_bytes(), 100),
            Some(Released::Unchanged(_))
        ));
        let exact = format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(4095));
        assert!(matches!(
            push_all(&mut held, exact.as_bytes(), 100),
            Some(Released::Unchanged(_))
        ));
    }

    #[test]
    fn lf_only_heads_end_too() {
        let mut held = HeldHead::default();
        let head = b"GET / HTTP/1.1\nhost: h\n\n";
        assert!(matches!(
            push_all(&mut held, head, 100),
            Some(Released::Unchanged(_))
        ));
        // The end is found when it straddles two reads.
        assert!(push_all(&mut held, b"GET / HTTP/1.1\r\nhost: h\r\n\r", 100).is_none());
        assert!(push_all(&mut held, b"\n", 100).is_some());
    }

    #[test]
    fn what_hyper_must_refuse_is_handed_over_unchanged() {
        // Too long to be a head: no end within the limit.
        let mut held = HeldHead::default();
        let junk = vec![b'a'; MAX_BYTES + 1];
        assert!(matches!(
            push_all(&mut held, &junk, 100),
            Some(Released::Unchanged(b)) if b.len() == MAX_BYTES + 1
        ));
        // Long but malformed: hyper gives the error.
        let mut bad = head_with(200, "");
        bad.splice(30..30, b"bad header line without colon\r\n".iter().copied());
        assert!(matches!(
            push_all(&mut held, &bad, 100),
            Some(Released::Unchanged(_))
        ));
        // Long, but the budget for its map is spent.
        let head = head_with(200, "");
        assert!(matches!(
            held.push(&head, &limits(100), |_| false),
            Some(Released::Unchanged(_))
        ));
    }
}
