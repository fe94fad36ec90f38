//! One served connection, from the accepted socket to its close: `TCP_NODELAY`, a place in
//! the [`ConnectionTable`], the TLS handshake under the read-header deadline, HTTP/1.1 or
//! HTTP/2 as ALPN chose (no sniffing of the first bytes), and a supervisor that closes the
//! connection when the deadline of its current phase passes (see [`deadline`]), when the table
//! evicts it, or after a bounded drain when the server shuts down.

pub mod activity;
pub mod deadline;
pub mod head_budget;
pub mod io;
pub mod long_head;
pub mod table;
pub mod tracked_body;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::graceful::GracefulConnection;
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

use self::activity::{Activity, RequestGuard, instant_of, now_ms};
use self::deadline::{Expiry, Protocol, deadline};
use self::head_budget::HeadBudget;
use self::io::{RECORD_PLAINTEXT, TrackedIo};
use self::table::ConnectionTable;
use self::tracked_body::TrackedBody;
use super::auth::ClientChain;
use super::http::{ConnInfo, Router};
use super::response_body::ResponseBody;
use crate::config::ConnectionLimits;

/// Largest request head: request line and every header line (the apiserver's
/// `MaxHeaderBytes`); HTTP/2 gets Go's allowance of 32 bytes per field for 10 fields on top.
pub const MAX_HEADER_BYTES: usize = 1024 * 1024;
/// Most header lines hyper's own parser takes in one HTTP/1.1 head; longer heads are parsed by
/// `long_head`, so any number of lines within [`MAX_HEADER_BYTES`] is read. hyper allocates
/// two tables of this many 32-byte entries for every parse of a head: kept just under the
/// allocator's mmap threshold they come from the heap at no measurable cost, while a table for
/// every line 1 MiB could hold (262,144) was two mappings per request and doubled the CPU of a
/// small GET (40 → 80 µs).
pub const MAX_HEADER_LINES: usize = crate::memory::MMAP_THRESHOLD / PARSE_ENTRY_BYTES - 1;
/// One entry of hyper's head-parse tables (`httparse::Header`, hyper's header indices).
const PARSE_ENTRY_BYTES: usize = 32;
const _: () = assert!(MAX_HEADER_LINES * PARSE_ENTRY_BYTES < crate::memory::MMAP_THRESHOLD);
const _: () = assert!(MAX_HEADER_LINES >= 8000, "thousands of groups must fit");
/// How long an HTTP/2 connection closed for idleness may take to send its GOAWAY.
const GOAWAY_GRACE: Duration = Duration::from_secs(1);
/// How often a connection whose request is still being handled is looked at again.
const HANDLING_RECHECK: Duration = Duration::from_secs(1);
/// Request bodies are never read: HTTP/2 flow-control windows stay small.
const HTTP2_STREAM_WINDOW: u32 = 64 * 1024;
const HTTP2_CONNECTION_WINDOW: u32 = 1024 * 1024;

/// What every connection of one listener shares.
pub struct Served<R> {
    pub acceptor: TlsAcceptor,
    pub router: Arc<R>,
    pub table: Arc<ConnectionTable>,
    pub limits: ConnectionLimits,
    pub http2: bool,
    pub http2_max_streams: u32,
    /// Becomes true when the server shuts down.
    pub stopping: watch::Receiver<bool>,
    /// How long open connections may take to finish after shutdown starts.
    pub drain: Duration,
    /// Bytes of large request heads all connections may hold at once.
    pub head_budget: Arc<HeadBudget>,
}

/// Serves one accepted connection until it closes.
pub async fn serve<R: Router>(tcp: TcpStream, peer: SocketAddr, served: Arc<Served<R>>) {
    // Responses end with small writes; Nagle's algorithm would hold them for the peer's
    // delayed ACK (~40 ms). Go sets this on every connection.
    if let Err(err) = tcp.set_nodelay(true) {
        tracing::debug!(%peer, error = %err, "Could not set TCP_NODELAY.");
    }
    let activity = Arc::new(Activity::with_head_budget(served.head_budget.clone()));
    let _place = served.table.register(activity.clone());
    let Some(tls) = handshake(tcp, peer, &activity, &served).await else {
        return;
    };
    activity.handshake_done();
    let (_, session) = tls.get_ref();
    let protocol = match session.alpn_protocol() {
        Some(b"h2") if served.http2 => Protocol::Http2,
        _ => Protocol::Http1,
    };
    let conn = Arc::new(ConnInfo {
        peer: Some(peer),
        client_certs: session
            .peer_certificates()
            .map(|certs| ClientChain::new(certs.to_vec())),
        activity: activity.clone(),
    });
    let io = match protocol {
        Protocol::Http1 => TrackedIo::new(tls, activity.clone()).holding_heads(),
        Protocol::Http2 => TrackedIo::new(tls, activity.clone()),
    };
    let io = TokioIo::new(io);
    let router = served.router.clone();
    let service = service_fn(move |req: http::Request<Incoming>| {
        let guard = conn.activity.request_started();
        let (router, conn) = (router.clone(), conn.clone());
        async move { Ok::<_, Infallible>(answer(&*router, &conn, req, guard).await) }
    });
    let supervisor = Supervisor {
        protocol,
        activity: &activity,
        served: &served,
        peer,
    };
    match protocol {
        Protocol::Http1 => {
            let conn = http1_builder().serve_connection(io, service);
            supervisor.run(conn).await;
        }
        Protocol::Http2 => {
            let conn = http2_builder(served.http2_max_streams).serve_connection(io, service);
            supervisor.run(conn).await;
        }
    }
}

/// The TLS handshake, within the read-header deadline; `None` when it failed, timed out, or
/// the connection was evicted or the server stopped meanwhile.
async fn handshake<R>(
    tcp: TcpStream,
    peer: SocketAddr,
    activity: &Activity,
    served: &Served<R>,
) -> Option<TlsStream<TcpStream>> {
    let handshake = tokio::time::timeout(served.limits.read_header, served.acceptor.accept(tcp));
    tokio::select! {
        done = handshake => match done {
            Ok(Ok(tls)) => Some(tls),
            Ok(Err(err)) => {
                tracing::debug!(%peer, error = %err, "TLS handshake failed.");
                None
            }
            Err(_) => None,
        },
        () = activity.evicted() => None,
        () = stopped(served.stopping.clone()) => None,
    }
}

/// HTTP/1.1: heads up to [`MAX_HEADER_BYTES`] and [`MAX_HEADER_LINES`]; the header deadline
/// is the supervisor's (hyper's own would also cut keep-alive idle short).
fn http1_builder() -> hyper::server::conn::http1::Builder {
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .header_read_timeout(None)
        .max_header_size(MAX_HEADER_BYTES)
        .max_buf_size(MAX_HEADER_BYTES + RECORD_PLAINTEXT)
        .max_headers(MAX_HEADER_LINES)
        .writev(true);
    builder
}

/// HTTP/2: the stream limit, a header list of [`MAX_HEADER_BYTES`] plus Go's allowance, a
/// send buffer of one piece per stream (a stream whose client does not read holds little)
/// and small receive windows.
fn http2_builder(max_streams: u32) -> hyper::server::conn::http2::Builder<TokioExecutor> {
    let mut builder = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
    builder
        .max_concurrent_streams(max_streams)
        .max_header_list_size(u32::try_from(MAX_HEADER_BYTES + 32 * 10).unwrap_or(u32::MAX))
        .max_send_buf_size(RECORD_PLAINTEXT)
        .initial_stream_window_size(HTTP2_STREAM_WINDOW)
        .initial_connection_window_size(HTTP2_CONNECTION_WINDOW);
    builder
}

/// One request: the router's response, tracked until its last byte; HEAD without a body.
async fn answer<R: Router>(
    router: &R,
    conn: &ConnInfo,
    req: http::Request<Incoming>,
    mut guard: RequestGuard,
) -> http::Response<TrackedBody<ResponseBody>> {
    let head_only = req.method() == http::Method::HEAD;
    // Nothing here takes a request body: it is dropped unread (HTTP/2 resets the stream's
    // upload, HTTP/1.1 closes the connection after the response).
    let (mut parts, _body) = req.into_parts();
    if parts.headers.remove(long_head::MARKER_NAME).is_some()
        && let Some(long) = conn.activity.take_long_head()
    {
        parts.headers = long.headers;
        guard.hold(long.loan);
    }
    let response = router.route(parts, conn).await;
    let (mut parts, body) = response.into_parts();
    if !head_only {
        return http::Response::from_parts(parts, TrackedBody::new(body, guard));
    }
    if let Some(len) = hyper::body::Body::size_hint(&body).exact() {
        parts
            .headers
            .entry(http::header::CONTENT_LENGTH)
            .or_insert_with(|| http::HeaderValue::from(len));
    }
    http::Response::from_parts(parts, TrackedBody::empty(guard))
}

/// Completes when the server starts shutting down.
async fn stopped(mut stopping: watch::Receiver<bool>) {
    let _ = stopping.wait_for(|stop| *stop).await;
}

/// Enforces one connection's deadlines while hyper serves it.
struct Supervisor<'a, R> {
    protocol: Protocol,
    activity: &'a Activity,
    served: &'a Served<R>,
    peer: SocketAddr,
}

impl<R> Supervisor<'_, R> {
    async fn run<C>(self, conn: C)
    where
        C: GracefulConnection,
        C::Error: std::fmt::Display,
    {
        let mut conn = std::pin::pin!(conn);
        let mut stopping = std::pin::pin!(stopped(self.served.stopping.clone()));
        loop {
            let next = deadline(
                self.protocol,
                &self.activity.snapshot(),
                &self.served.limits,
            );
            let wake = match next {
                Some((at, _)) => instant_of(at),
                None => std::time::Instant::now() + HANDLING_RECHECK,
            };
            tokio::select! {
                ended = conn.as_mut() => {
                    if let Err(err) = ended {
                        tracing::debug!(peer = %self.peer, error = %err, "Connection ended with an error.");
                    }
                    return;
                }
                () = self.activity.evicted() => return,
                () = &mut stopping => {
                    conn.as_mut().graceful_shutdown();
                    let _ = tokio::time::timeout(self.served.drain, conn.as_mut()).await;
                    return;
                }
                () = tokio::time::sleep_until(wake.into()) => {
                    if let Some(expiry) = self.expired() {
                        self.close(expiry, conn.as_mut()).await;
                        return;
                    }
                }
            }
        }
    }

    /// The deadline that has passed, if any.
    fn expired(&self) -> Option<Expiry> {
        let (at, expiry) = deadline(
            self.protocol,
            &self.activity.snapshot(),
            &self.served.limits,
        )?;
        (now_ms() >= at).then_some(expiry)
    }

    /// Closes the connection: an idle HTTP/2 connection first says GOAWAY.
    async fn close<C: GracefulConnection>(&self, expiry: Expiry, mut conn: Pin<&mut C>) {
        tracing::debug!(peer = %self.peer, ?expiry, "Closing the connection: its deadline passed.");
        if expiry == Expiry::Idle && self.protocol == Protocol::Http2 {
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(GOAWAY_GRACE, conn).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_head_parse_entry_is_as_large_as_assumed() {
        assert_eq!(
            std::mem::size_of::<httparse::Header<'static>>(),
            PARSE_ENTRY_BYTES
        );
    }
}
