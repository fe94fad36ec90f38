//! A small HTTP/1.1 client for kubelet scrapes: one `GET` at a time per kubelet, over TLS (or
//! plain TCP), with at most one kept-alive connection per kubelet.
//!
//! Why not hyper-util's pooled client: at 5,000 nodes each of its idle connections kept
//! ~46 KB of read buffer (its adaptive read strategy grows and never shrinks), a connection
//! task and a dispatch channel (~8 KB each) — 280 MB of the fetcher's 424 MiB. Here an idle
//! connection is only the socket and the rustls session (a few KB): the response head and body
//! are read into buffers owned by the request, and the body is handed out as one `Bytes`.
//!
//! A kept connection the kubelet closed while it was idle (it fails before any response byte)
//! is retried once on a new connection; a request whose response had started is never
//! retried.

// `chunked` and `head` are public, hidden from the docs, for the fuzz targets only.
#[doc(hidden)]
pub mod chunked;
mod conn;
mod exchange;
#[doc(hidden)]
pub mod head;
mod pool;
mod tls_stream;

use std::io;
use std::time::Instant;

use bytes::Bytes;

pub use chunked::ChunkedError;
use conn::{Conn, Connector};
use exchange::{Exchanged, exchange};
use pool::{IDLE_TIMEOUT, Key, Pool};

/// One `GET`.
#[derive(Debug, Clone, Copy)]
pub struct Get<'a> {
    /// A DNS name or an IP (IPv6 with or without brackets).
    pub host: &'a str,
    pub port: u16,
    /// Path and query, starting with `/`.
    pub path: &'a str,
    /// Sent as `Authorization: Bearer …` when given.
    pub bearer: Option<&'a str>,
    /// Most bytes of (decoded) body accepted.
    pub max_body_bytes: usize,
}

/// Why a `GET` failed.
#[derive(Debug, thiserror::Error)]
pub enum Http1Error {
    #[error("invalid {0} for an HTTP request")]
    InvalidRequest(&'static str),
    #[error("TCP connect to {authority} failed: {source}")]
    Connect {
        authority: String,
        source: io::Error,
    },
    #[error("{0}")]
    Handshake(io::Error),
    #[error("sending the request failed: {0}")]
    Send(io::Error),
    #[error("the connection closed before a response arrived")]
    ClosedBeforeResponse,
    #[error("reading the response failed: {0}")]
    Receive(io::Error),
    #[error("invalid response head: {0}")]
    BadHead(String),
    #[error("response head larger than {0} bytes")]
    HeadTooLarge(usize),
    #[error("response head has more than {0} header fields")]
    TooManyHeaders(usize),
    #[error("status {0}")]
    Status(u16),
    #[error("response body larger than {0} bytes")]
    BodyTooLarge(usize),
    #[error("{0}")]
    BodyRead(io::Error),
    #[error("connection closed in the middle of the body: {0}")]
    BodyTruncated(String),
    #[error("invalid chunked body: {0}")]
    Chunked(ChunkedError),
}

impl Http1Error {
    /// The I/O error behind this one, if any (where a TLS alert or rustls error would be).
    pub fn io_error(&self) -> Option<&io::Error> {
        match self {
            Http1Error::Connect { source: e, .. }
            | Http1Error::Handshake(e)
            | Http1Error::Send(e)
            | Http1Error::Receive(e)
            | Http1Error::BodyRead(e) => Some(e),
            _ => None,
        }
    }
}

/// The client: how to connect, and the idle connections.
pub struct Http1Client {
    connector: Connector,
    pool: Pool<Conn>,
}

impl Http1Client {
    /// TLS with `tls` (ALPN set to `http/1.1`), or plain TCP when `None`.
    pub fn new(tls: Option<rustls::ClientConfig>) -> Self {
        Http1Client {
            connector: Connector::new(tls),
            pool: Pool::new(IDLE_TIMEOUT),
        }
    }

    /// GETs `get.path`, requiring status 200, and returns the whole body.
    pub async fn get(&self, get: &Get<'_>) -> Result<Bytes, Http1Error> {
        let host = crate::kubelet::address::unbracketed(get.host);
        let request = head::request(&authority(host, get.port), get.path, get.bearer)?;
        let key = Key::new(host, get.port);
        if let Some(mut conn) = self.checkout(&key) {
            match exchange(&mut conn, &request, get.max_body_bytes).await {
                Ok(done) => return Ok(self.finish(key, conn, done)),
                Err(failure) if failure.is_stale_connection() => {
                    tracing::debug!(host, port = get.port, error = %failure.error, "Kept kubelet connection was closed; retrying on a new one.");
                }
                Err(failure) => return Err(failure.error),
            }
        }
        let mut conn = self.connector.connect(host, get.port).await?;
        let done = exchange(&mut conn, &request, get.max_body_bytes)
            .await
            .map_err(|failure| failure.error)?;
        Ok(self.finish(key, conn, done))
    }

    /// The kept connection to `key`, unless the kubelet already closed it.
    fn checkout(&self, key: &Key) -> Option<Conn> {
        let mut conn = self.pool.checkout(key, Instant::now())?;
        conn.is_quiet().then_some(conn)
    }

    /// Keeps the connection if the response allows it, and returns the body.
    fn finish(&self, key: Key, mut conn: Conn, done: Exchanged) -> Bytes {
        if done.reusable && conn.is_quiet() {
            self.pool.checkin(key, conn, Instant::now());
        }
        done.body
    }
}

/// `host:port`, an IPv6 `host` bracketed.
pub fn authority(host: &str, port: u16) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_authorities_are_bracketed() {
        assert_eq!(authority("fd00::1", 10250), "[fd00::1]:10250");
        assert_eq!(authority("[fd00::1]", 10250), "[fd00::1]:10250");
        assert_eq!(authority("127.0.1.2", 10250), "127.0.1.2:10250");
        assert_eq!(authority("node-a", 10255), "node-a:10255");
    }
}
