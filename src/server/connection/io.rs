//! The byte stream under HTTP: records reads and write progress in the connection's
//! [`Activity`], gathers small writes into one TLS record's worth of plaintext before
//! handing them to TLS, so a response head, its body and their framing leave in as few
//! records (and TCP segments) as their size needs instead of one record per write, and, on
//! HTTP/1.1, holds each request head back until it is complete (see `long_head`).

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::activity::{Activity, LongHead};
use super::long_head::{HeadLimits, HeldHead, Released};
use super::{MAX_HEADER_BYTES, MAX_HEADER_LINES};
use crate::api::metav1_status::Status;
use crate::pending_bytes::PendingBytes;
use crate::server::limits::MAX_PATH_BYTES;

/// What a held HTTP/1.1 head is checked against.
const HEAD_LIMITS: HeadLimits = HeadLimits {
    max_lines: MAX_HEADER_LINES,
    max_bytes: MAX_HEADER_BYTES,
    max_path: MAX_PATH_BYTES,
};

/// Largest plaintext of one TLS record: what a write is gathered up to.
pub const RECORD_PLAINTEXT: usize = 16 * 1024;

/// A stream that tracks activity and coalesces writes until the next flush.
pub struct TrackedIo<T> {
    inner: T,
    activity: Arc<Activity>,
    /// Written by the caller, not yet handed to `inner` (from `pending_from` on).
    pending: Vec<u8>,
    pending_from: usize,
    /// HTTP/1.1: the request head being received while no request is in flight.
    held: Option<HeldHead>,
    /// Read, not yet handed to the caller.
    released: PendingBytes,
    /// A head was refused here: its answer is being written, then the connection ends.
    refused: Option<&'static str>,
}

impl<T> TrackedIo<T> {
    pub fn new(inner: T, activity: Arc<Activity>) -> Self {
        TrackedIo {
            inner,
            activity,
            pending: Vec::new(),
            pending_from: 0,
            held: None,
            released: PendingBytes::default(),
            refused: None,
        }
    }

    /// HTTP/1.1: request heads are held back until complete, and long ones parsed here.
    pub fn holding_heads(mut self) -> Self {
        self.held = Some(HeldHead::default());
        self
    }

    pub fn get_ref(&self) -> &T {
        &self.inner
    }

    fn pending_len(&self) -> usize {
        self.pending.len() - self.pending_from
    }

    /// Takes as much of `data` as fits in the pending record.
    fn gather(&mut self, data: &[u8]) -> usize {
        if self.pending.capacity() == 0 {
            self.pending.reserve_exact(RECORD_PLAINTEXT);
        }
        let room = RECORD_PLAINTEXT.saturating_sub(self.pending.len());
        let n = room.min(data.len());
        self.pending.extend_from_slice(&data[..n]);
        n
    }
}

impl<T: AsyncWrite + Unpin> TrackedIo<T> {
    /// Hands the pending bytes to `inner`; the buffer is freed once empty (idle connections
    /// keep none).
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.pending_len() > 0 {
            let n = ready!(
                Pin::new(&mut self.inner).poll_write(cx, &self.pending[self.pending_from..])
            )?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.activity.on_write();
            self.pending_from += n;
        }
        self.pending = Vec::new();
        self.pending_from = 0;
        Poll::Ready(Ok(()))
    }

    /// Writes `data` straight through (a write of at least a record, nothing pending).
    fn poll_write_through(&mut self, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        let n = ready!(Pin::new(&mut self.inner).poll_write(cx, data))?;
        if n > 0 {
            self.activity.on_write();
        }
        Poll::Ready(Ok(n))
    }
}

impl<T: AsyncRead + AsyncWrite + Unpin> TrackedIo<T> {
    /// Reads straight into the caller's buffer.
    fn poll_read_through(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        ready!(Pin::new(&mut self.inner).poll_read(cx, buf))?;
        let n = buf.filled().len() - before;
        if n > 0 {
            self.activity.on_read(n).map_err(io::Error::other)?;
        }
        Poll::Ready(Ok(()))
    }

    /// Reads into the held head until it is complete (or the stream ends), then releases it;
    /// a head refused here is answered instead (see [`TrackedIo::refuse`]).
    fn poll_hold(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Not zeroed: filling 16 KiB with zeros on every request was a tenth of the
        // instructions of a small GET; `ReadBuf` tracks what the read initialized.
        let mut scratch = [std::mem::MaybeUninit::<u8>::uninit(); RECORD_PLAINTEXT];
        loop {
            let mut read = ReadBuf::uninit(&mut scratch);
            ready!(Pin::new(&mut self.inner).poll_read(cx, &mut read))?;
            let data = read.filled();
            let n = data.len();
            let Some(held) = self.held.as_mut() else {
                return Poll::Ready(Ok(()));
            };
            if n == 0 {
                self.released.set(held.release());
                return Poll::Ready(Ok(()));
            }
            if self.activity.on_read(n).is_err() {
                held.release();
                return self.refuse(cx, Refusal::HeadBudget);
            }
            let activity = &self.activity;
            let mut loan = None;
            let allowed = |bytes: usize| match activity.lend(bytes) {
                Ok(lent) => {
                    loan = lent;
                    true
                }
                Err(_) => false,
            };
            match held.push(data, &HEAD_LIMITS, allowed) {
                None => continue,
                Some(Released::PathTooLong) => return self.refuse(cx, Refusal::PathTooLong),
                Some(Released::Unchanged(bytes)) => self.released.set(bytes),
                Some(Released::Parsed { bytes, headers, .. }) => {
                    activity.keep_long_head(LongHead { headers, loan });
                    self.released.set(bytes);
                }
            }
            return Poll::Ready(Ok(()));
        }
    }
}

/// Why a head was answered here rather than by hyper.
#[derive(Copy, Clone, Debug)]
enum Refusal {
    /// The request path is over the limit: 414, as the router would answer, without the
    /// cost of receiving and parsing the rest.
    PathTooLong,
    /// The shared head budget is spent: 431.
    HeadBudget,
}

impl Refusal {
    fn response(self) -> Vec<u8> {
        match self {
            Refusal::PathTooLong => {
                let body = Status::path_too_long(MAX_PATH_BYTES).to_json();
                let mut out = format!(
                    "HTTP/1.1 414 URI Too Long\r\ncontent-type: application/json\r\n\
                     content-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                )
                .into_bytes();
                out.extend_from_slice(&body);
                out
            }
            Refusal::HeadBudget => b"HTTP/1.1 431 Request Header Fields Too Large\r\n\
                content-length: 0\r\nconnection: close\r\n\r\n"
                .to_vec(),
        }
    }

    fn reason(self) -> &'static str {
        match self {
            Refusal::PathTooLong => "request path over the limit",
            Refusal::HeadBudget => "request heads hold the whole shared budget",
        }
    }
}

impl<T: AsyncWrite + Unpin> TrackedIo<T> {
    /// Answers a refused head on the connection (nothing else is being written: no request
    /// is in flight), then ends it with an error hyper closes on.
    fn refuse(&mut self, cx: &mut Context<'_>, refusal: Refusal) -> Poll<io::Result<()>> {
        self.pending = refusal.response();
        self.pending_from = 0;
        self.refused = Some(refusal.reason());
        self.poll_finish_refusal(cx)
    }

    fn poll_finish_refusal(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_drain(cx))?;
        ready!(Pin::new(&mut self.inner).poll_flush(cx))?;
        Poll::Ready(Err(io::Error::other(self.refused.unwrap_or("refused"))))
    }
}

impl<T: AsyncRead + AsyncWrite + Unpin> AsyncRead for TrackedIo<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.refused.is_some() {
            return this.poll_finish_refusal(cx);
        }
        if this.released.drain_into(buf) {
            return Poll::Ready(Ok(()));
        }
        let Some(held) = this.held.as_mut() else {
            return this.poll_read_through(cx, buf);
        };
        if !this.activity.is_idle() {
            // A request is in flight: its body, or a pipelined head hyper reads as it is.
            if !held.is_empty() {
                this.released.set(held.release());
                this.released.drain_into(buf);
                return Poll::Ready(Ok(()));
            }
            return this.poll_read_through(cx, buf);
        }
        ready!(this.poll_hold(cx))?;
        this.released.drain_into(buf);
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for TrackedIo<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.pending.len() >= RECORD_PLAINTEXT {
            ready!(this.poll_drain(cx))?;
        }
        if this.pending_len() == 0 && data.len() >= RECORD_PLAINTEXT {
            return this.poll_write_through(cx, data);
        }
        Poll::Ready(Ok(this.gather(data)))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.pending.len() >= RECORD_PLAINTEXT {
            ready!(this.poll_drain(cx))?;
        }
        let Some(first) = bufs.iter().find(|b| !b.is_empty()) else {
            return Poll::Ready(Ok(0));
        };
        if this.pending_len() == 0 && first.len() >= RECORD_PLAINTEXT {
            return this.poll_write_through(cx, first);
        }
        let mut taken = 0;
        for buf in bufs {
            let n = this.gather(buf);
            taken += n;
            if n < buf.len() {
                break;
            }
        }
        Poll::Ready(Ok(taken))
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::AsyncWriteExt;

    use super::*;

    /// Records the size of every write it receives.
    #[derive(Default)]
    struct Writes(Vec<usize>);

    impl AsyncWrite for Writes {
        fn poll_write(
            self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
            data: &[u8],
        ) -> Poll<io::Result<usize>> {
            self.get_mut().0.push(data.len());
            Poll::Ready(Ok(data.len()))
        }
        fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    #[tokio::test]
    async fn a_small_head_and_body_leave_in_one_write_at_the_flush() {
        let mut io = TrackedIo::new(Writes::default(), Arc::new(Activity::new()));
        io.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n")
            .await
            .unwrap();
        io.write_all(b"hello").await.unwrap();
        assert!(io.inner.0.is_empty(), "nothing leaves before the flush");
        io.flush().await.unwrap();
        assert_eq!(io.inner.0, [43]);
    }

    #[tokio::test]
    async fn vectored_writes_are_gathered_into_full_records() {
        let mut io = TrackedIo::new(Writes::default(), Arc::new(Activity::new()));
        let head = [b'h'; 200];
        let body = vec![b'b'; 40_000];
        let mut slices = [IoSlice::new(&head), IoSlice::new(&body)];
        let mut bufs = &mut slices[..];
        while !bufs.is_empty() {
            let n = io.write_vectored(bufs).await.unwrap();
            IoSlice::advance_slices(&mut bufs, n);
        }
        io.flush().await.unwrap();
        // The head fills its record with the start of the body; the rest goes through whole
        // (TLS cuts it into full records).
        assert_eq!(io.inner.0, [RECORD_PLAINTEXT, 40_200 - RECORD_PLAINTEXT]);
    }

    #[tokio::test]
    async fn a_large_write_with_nothing_pending_goes_straight_through() {
        let activity = Arc::new(Activity::new());
        let mut io = TrackedIo::new(Writes::default(), activity.clone());
        let before = activity.snapshot().last_write_ms;
        std::thread::sleep(std::time::Duration::from_millis(3));
        io.write_all(&vec![0u8; 100_000]).await.unwrap();
        assert_eq!(io.inner.0, [100_000]);
        assert!(activity.snapshot().last_write_ms > before);
    }
}
