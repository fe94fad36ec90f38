//! A response body as the connection sends it: cut into pieces of at most one TLS record, so
//! HTTP/2 takes the next piece only when the client's flow-control window has room (a client
//! that does not read pins at most a piece per stream, not the whole response), with the
//! request's [`RequestGuard`] released at the last byte, or when the body is dropped. HEAD
//! responses keep their headers and drop the body on both protocols.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};

use super::activity::RequestGuard;
use super::io::RECORD_PLAINTEXT;

/// A body with its request's guard.
pub struct TrackedBody<B> {
    /// `None` once ended (the inner body and what it holds, such as an in-flight slot, are
    /// released then).
    inner: Option<B>,
    /// The rest of a frame larger than a piece.
    rest: Bytes,
    guard: Option<RequestGuard>,
}

impl<B: Body<Data = Bytes> + Unpin> TrackedBody<B> {
    /// Starts the response: from now on it must make write progress.
    pub fn new(inner: B, mut guard: RequestGuard) -> Self {
        guard.responding();
        let mut body = TrackedBody {
            inner: Some(inner),
            rest: Bytes::new(),
            guard: Some(guard),
        };
        if body.inner.as_ref().is_some_and(Body::is_end_stream) {
            body.finish();
        }
        body
    }

    /// A HEAD response: no body, the request ends now.
    pub fn empty(guard: RequestGuard) -> Self {
        drop(guard);
        TrackedBody {
            inner: None,
            rest: Bytes::new(),
            guard: None,
        }
    }

    fn finish(&mut self) {
        self.inner = None;
        self.guard = None;
    }

    /// The next piece of at most [`RECORD_PLAINTEXT`] bytes of `bytes` (the rest is kept).
    fn piece(&mut self, mut bytes: Bytes) -> Bytes {
        if bytes.len() > RECORD_PLAINTEXT {
            self.rest = bytes.split_off(RECORD_PLAINTEXT);
        }
        bytes
    }
}

impl<B> Body for TrackedBody<B>
where
    B: Body<Data = Bytes> + Unpin,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = self.get_mut();
        if !this.rest.is_empty() {
            let rest = std::mem::take(&mut this.rest);
            let piece = this.piece(rest);
            if this.rest.is_empty() && this.inner.as_ref().is_some_and(Body::is_end_stream) {
                this.finish();
            }
            return Poll::Ready(Some(Ok(Frame::data(piece))));
        }
        let Some(inner) = this.inner.as_mut() else {
            return Poll::Ready(None);
        };
        let frame = match Pin::new(inner).poll_frame(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(None) => {
                this.finish();
                return Poll::Ready(None);
            }
            Poll::Ready(Some(Err(e))) => {
                this.finish();
                return Poll::Ready(Some(Err(e)));
            }
            Poll::Ready(Some(Ok(frame))) => frame,
        };
        let frame = match frame.into_data() {
            Ok(data) => Frame::data(this.piece(data)),
            Err(other) => other,
        };
        if this.rest.is_empty() && this.inner.as_ref().is_some_and(Body::is_end_stream) {
            this.finish();
        }
        Poll::Ready(Some(Ok(frame)))
    }

    fn is_end_stream(&self) -> bool {
        self.rest.is_empty() && self.inner.as_ref().is_none_or(Body::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        let rest = self.rest.len() as u64;
        match &self.inner {
            None => SizeHint::with_exact(rest),
            Some(inner) => {
                let h = inner.size_hint();
                let mut hint = SizeHint::new();
                hint.set_lower(h.lower() + rest);
                if let Some(upper) = h.upper() {
                    hint.set_upper(upper + rest);
                }
                hint
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use http_body_util::BodyExt;

    use super::*;
    use crate::server::connection::activity::Activity;

    fn full(len: usize) -> http_body_util::Full<Bytes> {
        http_body_util::Full::new(Bytes::from(vec![7u8; len]))
    }

    #[tokio::test]
    async fn a_large_body_is_sent_in_record_sized_pieces_and_keeps_its_length() {
        let activity = Arc::new(Activity::new());
        let mut body = TrackedBody::new(full(40_000), activity.request_started());
        assert_eq!(body.size_hint().exact(), Some(40_000));
        let mut sizes = Vec::new();
        while let Some(frame) = body.frame().await {
            sizes.push(frame.unwrap().into_data().unwrap().len());
        }
        assert_eq!(sizes, [16_384, 16_384, 7_232]);
        assert!(activity.is_idle(), "the request ended at the last byte");
    }

    #[tokio::test]
    async fn the_request_ends_at_its_last_piece_not_when_the_body_is_dropped() {
        let activity = Arc::new(Activity::new());
        let mut body = TrackedBody::new(full(20_000), activity.request_started());
        assert_eq!(activity.snapshot().responding, 1);
        body.frame().await.unwrap().unwrap();
        assert!(!activity.is_idle());
        body.frame().await.unwrap().unwrap();
        assert!(activity.is_idle());
        assert_eq!(activity.snapshot().responding, 0);
    }

    #[tokio::test]
    async fn an_abandoned_response_ends_its_request() {
        let activity = Arc::new(Activity::new());
        let body = TrackedBody::new(full(20_000), activity.request_started());
        drop(body);
        assert!(activity.is_idle());
        let head = TrackedBody::<http_body_util::Full<Bytes>>::empty(activity.request_started());
        assert!(activity.is_idle());
        assert!(head.is_end_stream());
    }
}
