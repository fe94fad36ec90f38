//! The request line and headers we send, and the response head we read back (status line
//! and header fields via `httparse`): how the body is framed and whether the connection may be
//! kept.

use super::Http1Error;

/// Most bytes of a response head (status line and header fields).
pub const MAX_HEAD_BYTES: usize = 64 * 1024;
/// Most header fields in a response head.
pub const MAX_HEADERS: usize = 100;

const USER_AGENT: &str = concat!("metrics-server-rs/", env!("CARGO_PKG_VERSION"));

/// How the response body ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// `Content-Length` bytes.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// When the server closes the connection.
    UntilEof,
}

/// What the client needs from a response head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    pub status: u16,
    /// Bytes of the head, the blank line included.
    pub len: usize,
    pub framing: Framing,
    /// HTTP/1.1 without `Connection: close`, framed unambiguously.
    pub keep_alive: bool,
}

impl Head {
    /// A 1xx answer other than 101: the real response follows it.
    pub fn is_interim(&self) -> bool {
        (100..200).contains(&self.status) && self.status != 101
    }
}

/// `GET <path>` for `authority` (`host:port`, IPv6 bracketed), with the bearer token when
/// given. Refuses values that would break the request apart (control characters, spaces).
pub fn request(authority: &str, path: &str, bearer: Option<&str>) -> Result<Vec<u8>, Http1Error> {
    let visible = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_graphic());
    if !visible(path) || !path.starts_with('/') {
        return Err(Http1Error::InvalidRequest("path"));
    }
    if !visible(authority) {
        return Err(Http1Error::InvalidRequest("host"));
    }
    if bearer.is_some_and(|t| !visible(t)) {
        return Err(Http1Error::InvalidRequest("bearer token"));
    }
    let mut head = Vec::with_capacity(128 + path.len() + bearer.map_or(0, str::len));
    for part in [
        "GET ",
        path,
        " HTTP/1.1\r\nHost: ",
        authority,
        "\r\nUser-Agent: ",
        USER_AGENT,
        "\r\nAccept: */*\r\n",
    ] {
        head.extend_from_slice(part.as_bytes());
    }
    if let Some(token) = bearer {
        for part in ["Authorization: Bearer ", token, "\r\n"] {
            head.extend_from_slice(part.as_bytes());
        }
    }
    head.extend_from_slice(b"\r\n");
    Ok(head)
}

/// Parses the response head at the start of `buf`: `None` while it is incomplete.
pub fn parse(buf: &[u8]) -> Result<Option<Head>, Http1Error> {
    let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut fields);
    let len = match response.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => {
            return Err(Http1Error::TooManyHeaders(MAX_HEADERS));
        }
        Err(e) => return Err(Http1Error::BadHead(e.to_string())),
    };
    let (Some(version), Some(status)) = (response.version, response.code) else {
        return Err(Http1Error::BadHead("no status line".into()));
    };
    if status < 100 {
        return Err(Http1Error::BadHead(format!("status {status}")));
    }
    let fields = Fields::read(response.headers)?;
    let framing = match (fields.transfer_encoding, fields.content_length) {
        (Some(true), _) => Framing::Chunked,
        (Some(false), _) => Framing::UntilEof,
        (None, Some(n)) => Framing::Length(n),
        (None, None) => Framing::UntilEof,
    };
    // Both framings at once is a smuggling sign (RFC 9112 §6.1): read it, but do not reuse.
    let ambiguous = fields.transfer_encoding.is_some() && fields.content_length.is_some();
    Ok(Some(Head {
        status,
        len,
        framing,
        keep_alive: version == 1 && !fields.close && !ambiguous,
    }))
}

/// The header fields that matter to the client.
#[derive(Default)]
struct Fields {
    content_length: Option<u64>,
    /// Whether `chunked` is the final transfer coding, when `Transfer-Encoding` is present.
    transfer_encoding: Option<bool>,
    close: bool,
}

impl Fields {
    fn read(headers: &[httparse::Header<'_>]) -> Result<Fields, Http1Error> {
        let mut fields = Fields::default();
        for header in headers {
            let name = header.name;
            if name.eq_ignore_ascii_case("content-length") {
                let length = content_length(header.value)?;
                if fields.content_length.is_some_and(|seen| seen != length) {
                    return Err(Http1Error::BadHead("conflicting Content-Length".into()));
                }
                fields.content_length = Some(length);
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                let last = tokens(header.value).last();
                fields.transfer_encoding =
                    Some(last.is_some_and(|t| t.eq_ignore_ascii_case("chunked")));
            } else if name.eq_ignore_ascii_case("connection") {
                fields.close |= tokens(header.value).any(|t| t.eq_ignore_ascii_case("close"));
            }
        }
        Ok(fields)
    }
}

fn content_length(value: &[u8]) -> Result<u64, Http1Error> {
    let digits = value.trim_ascii();
    let bad = || Http1Error::BadHead("invalid Content-Length".into());
    if digits.is_empty() || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
        return Err(bad());
    }
    std::str::from_utf8(digits)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(bad)
}

/// The comma-separated tokens of a header value, trimmed, empty ones skipped.
fn tokens(value: &[u8]) -> impl Iterator<Item = &str> {
    std::str::from_utf8(value)
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(text: &str) -> Head {
        parse(text.as_bytes()).unwrap().expect("complete head")
    }

    #[test]
    fn request_has_host_agent_and_token() {
        let req = request("[fd00::1]:10250", "/metrics/resource", Some("abc.def")).unwrap();
        let text = String::from_utf8(req).unwrap();
        assert_eq!(
            text,
            format!(
                "GET /metrics/resource HTTP/1.1\r\nHost: [fd00::1]:10250\r\nUser-Agent: \
                 metrics-server-rs/{}\r\nAccept: */*\r\nAuthorization: Bearer abc.def\r\n\r\n",
                env!("CARGO_PKG_VERSION")
            )
        );
        let plain = String::from_utf8(request("h:1", "/x?a=b", None).unwrap()).unwrap();
        assert!(!plain.contains("Authorization"), "{plain}");
    }

    #[test]
    fn request_refuses_header_injection() {
        let err = request("h:1", "/x", Some("tok\r\nX-Evil: 1")).unwrap_err();
        assert_eq!(err.to_string(), "invalid bearer token for an HTTP request");
        assert!(request("h:1", "/x y", None).is_err());
        assert!(request("h\n:1", "/x", None).is_err());
        assert!(request("h:1", "x", None).is_err());
    }

    #[test]
    fn framing_from_the_headers() {
        let h = head("HTTP/1.1 200 OK\r\nContent-Length: 30\r\n\r\nbody");
        assert_eq!((h.status, h.len, h.framing), (200, 39, Framing::Length(30)));
        assert!(h.keep_alive);
        let h = head("HTTP/1.1 200 OK\r\ntransfer-encoding: gzip, Chunked\r\n\r\n");
        assert_eq!(h.framing, Framing::Chunked);
        let h = head("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n");
        assert_eq!(h.framing, Framing::UntilEof);
        let h = head("HTTP/1.1 200 OK\r\n\r\n");
        assert_eq!(h.framing, Framing::UntilEof);
        let h = head("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n");
        assert_eq!(h.framing, Framing::Length(5));
    }

    #[test]
    fn keep_alive_only_for_unambiguous_http11_without_close() {
        assert!(!head("HTTP/1.1 200 OK\r\nConnection: keep-alive, close\r\n\r\n").keep_alive);
        assert!(!head("HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n").keep_alive);
        let both = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert_eq!(head(both).framing, Framing::Chunked);
        assert!(!head(both).keep_alive);
    }

    #[test]
    fn incomplete_heads_wait_for_more() {
        assert_eq!(parse(b"").unwrap(), None);
        assert_eq!(parse(b"HTTP/1.1 200 OK\r\nContent-Le").unwrap(), None);
    }

    #[test]
    fn bad_heads_are_errors() {
        for bad in [
            "HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n",
            "HTTP/1.1 099 Odd\r\n\r\n",
            "SSH-2.0-OpenSSH\r\n\r\n",
        ] {
            let err = parse(bad.as_bytes()).unwrap_err();
            assert!(matches!(err, Http1Error::BadHead(_)), "{bad:?}: {err}");
        }
    }

    #[test]
    fn more_than_100_headers_is_a_clear_error() {
        let mut text = "HTTP/1.1 200 OK\r\n".to_string();
        for i in 0..=MAX_HEADERS {
            text.push_str(&format!("X-{i}: v\r\n"));
        }
        text.push_str("\r\n");
        let err = parse(text.as_bytes()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "response head has more than 100 header fields"
        );
    }

    #[test]
    fn interim_answers_are_skipped_but_not_101() {
        assert!(head("HTTP/1.1 100 Continue\r\n\r\n").is_interim());
        assert!(head("HTTP/1.1 103 Early Hints\r\n\r\n").is_interim());
        assert!(!head("HTTP/1.1 101 Switching Protocols\r\n\r\n").is_interim());
        assert!(!head("HTTP/1.1 200 OK\r\n\r\n").is_interim());
    }
}
