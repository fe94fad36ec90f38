//! The kubelet client's HTTP/1.1 response head parser, which the client calls again each time
//! more bytes arrive, and its request writer:
//!
//! * an accepted head lies within the input and ends with its blank line, has a status of
//!   at least 100, keeps the connection only for HTTP/1.1, and parses the same from exactly
//!   its own bytes and with more bytes after it (the body);
//! * no prefix of an accepted head is an error or a head (the client would act on it before
//!   the rest arrived), a prefix of an incomplete head is incomplete, and more bytes never
//!   turn an error into a head;
//! * a request the writer accepts (authority, path and token from the input's lines) is one
//!   complete request that parses back to those values.
#![no_main]

use libfuzzer_sys::fuzz_target;
use metrics_server::kubelet::http1::head::{self, Head};

fuzz_target!(|data: &[u8]| {
    check_response_head(data);
    check_request(data);
});

fn check_response_head(data: &[u8]) {
    match head::parse(data) {
        Ok(Some(head)) => check_accepted(data, head),
        Ok(None) => {
            for cut in cuts(data, data.len()) {
                assert!(
                    matches!(head::parse(&data[..cut]), Ok(None)),
                    "cut at {cut}"
                );
            }
        }
        Err(e) => {
            let more = [data, b"\r\n\r\n".as_slice()].concat();
            assert!(head::parse(&more).is_err(), "{e} until more bytes came");
        }
    }
}

fn check_accepted(data: &[u8], head: Head) {
    let own = &data[..head.len];
    // The blank line, CRLF or a bare LF (httparse accepts either, even mixed).
    assert!(
        own.ends_with(b"\n\n") || own.ends_with(b"\n\r\n"),
        "{own:?}"
    );
    assert!(head.status >= 100);
    // Empty lines before the status line are skipped (RFC 9112 §2.2).
    let status_line = own.trim_ascii_start();
    assert!(!head.keep_alive || status_line.starts_with(b"HTTP/1.1"));
    assert_eq!(head::parse(own).ok(), Some(Some(head)));
    let with_body = [data, b"HTTP/1.1 200 OK\r\n\r\nbody".as_slice()].concat();
    assert_eq!(head::parse(&with_body).ok(), Some(Some(head)));
    for cut in cuts(data, head.len) {
        assert!(
            matches!(head::parse(&data[..cut]), Ok(None)),
            "cut at {cut}"
        );
    }
}

/// A few prefix lengths below `len`, one of them chosen by the input.
fn cuts(data: &[u8], len: usize) -> impl Iterator<Item = usize> {
    let chosen = data.first().map_or(0, |&b| usize::from(b) * len / 256);
    [0, len / 2, len.saturating_sub(1), chosen]
        .into_iter()
        .filter(move |&cut| cut < len)
}

fn check_request(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut lines = text.split('\n');
    let (Some(authority), Some(path)) = (lines.next(), lines.next()) else {
        return;
    };
    let bearer = lines.next();
    let Ok(request) = head::request(authority, path, bearer) else {
        return;
    };
    let mut fields = [httparse::EMPTY_HEADER; 8];
    let mut parsed = httparse::Request::new(&mut fields);
    let len = match parsed.parse(&request) {
        Ok(httparse::Status::Complete(len)) => len,
        other => panic!("{other:?}: {}", String::from_utf8_lossy(&request)),
    };
    assert_eq!(len, request.len());
    assert_eq!((parsed.method, parsed.path), (Some("GET"), Some(path)));
    let field = |name: &str| {
        let mut values = parsed
            .headers
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case(name));
        let value = values.next().map(|h| h.value);
        assert!(values.next().is_none(), "{name} twice");
        value
    };
    assert_eq!(field("host"), Some(authority.as_bytes()));
    let token = bearer.map(|t| format!("Bearer {t}"));
    assert_eq!(field("authorization"), token.as_deref().map(str::as_bytes));
}
