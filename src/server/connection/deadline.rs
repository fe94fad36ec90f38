//! Which deadline a connection is under, given what it is doing: the phases of Go's
//! `http.Server` and x/net/http2 server (`ReadHeaderTimeout`, `IdleTimeout`, the HTTP/2
//! preface timeout), plus a write-progress deadline Go's apiserver does not have.

use super::activity::ActivitySnapshot;
use crate::config::ConnectionLimits;

/// The HTTP/2 client preface: `PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n`.
const HTTP2_PREFACE_LEN: u64 = 24;

/// The protocol chosen by ALPN.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Protocol {
    Http1,
    Http2,
}

/// Why a connection is closed when its deadline passes.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Expiry {
    /// HTTP/1.1: no complete request head in time (the first one, or one that started).
    RequestHead,
    /// HTTP/2: no client preface in time.
    Preface,
    /// No request in flight for the idle timeout (HTTP/2: sent GOAWAY first).
    Idle,
    /// Responses pending and no byte written for the write-stall timeout.
    WriteStall,
}

/// The deadline in force (milliseconds on `activity::now_ms`'s clock) and what passing it
/// means; `None` while a request is being handled (the request timeout bounds that).
pub fn deadline(
    protocol: Protocol,
    s: &ActivitySnapshot,
    limits: &ConnectionLimits,
) -> Option<(u64, Expiry)> {
    let ms = |d: std::time::Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    if s.responding > 0 {
        let progress = s.last_write_ms.max(s.responding_since_ms);
        return Some((
            progress.saturating_add(ms(limits.write_stall)),
            Expiry::WriteStall,
        ));
    }
    if s.in_flight > 0 {
        return None;
    }
    let (since, limit, expiry) = match protocol {
        Protocol::Http1 if !s.served => (s.opened_ms, limits.read_header, Expiry::RequestHead),
        Protocol::Http1 if s.head_started_ms != 0 => {
            (s.head_started_ms, limits.read_header, Expiry::RequestHead)
        }
        Protocol::Http2 if s.read_bytes < HTTP2_PREFACE_LEN => {
            (s.opened_ms, limits.http2_preface, Expiry::Preface)
        }
        Protocol::Http1 | Protocol::Http2 => (s.idle_since_ms, limits.idle, Expiry::Idle),
    };
    Some((since.saturating_add(ms(limit)), expiry))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn limits() -> ConnectionLimits {
        ConnectionLimits {
            read_header: Duration::from_secs(32),
            http2_preface: Duration::from_secs(10),
            idle: Duration::from_secs(90),
            write_stall: Duration::from_secs(30),
            max_connections: 10,
        }
    }

    fn opened_at(ms: u64) -> ActivitySnapshot {
        ActivitySnapshot {
            opened_ms: ms,
            idle_since_ms: ms,
            last_write_ms: ms,
            ..ActivitySnapshot::default()
        }
    }

    #[test]
    fn a_new_http1_connection_must_send_its_first_head_within_the_header_timeout() {
        let s = opened_at(1_000);
        assert_eq!(
            deadline(Protocol::Http1, &s, &limits()),
            Some((33_000, Expiry::RequestHead))
        );
    }

    #[test]
    fn the_first_http1_head_counts_from_the_handshake_even_once_it_has_begun() {
        let mut s = opened_at(1_000);
        s.head_started_ms = 20_000;
        assert_eq!(
            deadline(Protocol::Http1, &s, &limits()),
            Some((33_000, Expiry::RequestHead))
        );
    }

    #[test]
    fn a_kept_alive_http1_connection_idles_90s_then_has_32s_from_the_first_byte() {
        let mut s = opened_at(1_000);
        s.served = true;
        s.idle_since_ms = 5_000;
        assert_eq!(
            deadline(Protocol::Http1, &s, &limits()),
            Some((95_000, Expiry::Idle))
        );
        s.head_started_ms = 80_000;
        assert_eq!(
            deadline(Protocol::Http1, &s, &limits()),
            Some((112_000, Expiry::RequestHead))
        );
    }

    #[test]
    fn http2_needs_its_preface_within_10s_then_idles_90s_without_streams() {
        let mut s = opened_at(1_000);
        s.read_bytes = 23;
        assert_eq!(
            deadline(Protocol::Http2, &s, &limits()),
            Some((11_000, Expiry::Preface))
        );
        s.read_bytes = 200;
        s.idle_since_ms = 2_000;
        assert_eq!(
            deadline(Protocol::Http2, &s, &limits()),
            Some((92_000, Expiry::Idle))
        );
    }

    #[test]
    fn a_request_being_handled_has_no_connection_deadline() {
        let mut s = opened_at(1_000);
        s.in_flight = 1;
        assert_eq!(deadline(Protocol::Http2, &s, &limits()), None);
        assert_eq!(deadline(Protocol::Http1, &s, &limits()), None);
    }

    #[test]
    fn a_response_must_make_write_progress() {
        let mut s = opened_at(1_000);
        s.in_flight = 3;
        s.responding = 1;
        s.responding_since_ms = 4_000;
        s.last_write_ms = 2_000;
        assert_eq!(
            deadline(Protocol::Http2, &s, &limits()),
            Some((34_000, Expiry::WriteStall))
        );
        s.last_write_ms = 50_000;
        assert_eq!(
            deadline(Protocol::Http1, &s, &limits()),
            Some((80_000, Expiry::WriteStall))
        );
    }
}
