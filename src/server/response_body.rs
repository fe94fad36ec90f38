//! The HTTP body of every response: one buffer, or a cached pod list yielded part by part
//! (its exact length is known up front, so clients still get a `Content-Length`), holding the
//! request's `--max-requests-inflight` slot until its last byte is taken. Made from the API's
//! reply body (`api::reply_body`) or the server's own responses; the connection then cuts it
//! into pieces (`connection::tracked_body`).

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use hyper::body::{Frame, SizeHint};

use super::limits::Slot;
use crate::api::list_cache::{GzipListBody, ListBody};
use crate::api::reply_body::Body;

/// A response body.
#[derive(Debug, Default)]
pub struct ResponseBody {
    content: Content,
    /// The in-flight slot of the request, released with the last byte.
    slot: Option<Slot>,
}

#[derive(Debug)]
enum Content {
    /// One buffer (none: empty), taken by the first poll.
    Full(Option<Bytes>),
    List(ListBody),
    GzipList(GzipListBody),
}

impl Default for Content {
    fn default() -> Self {
        Content::Full(None)
    }
}

impl ResponseBody {
    /// Holds `slot` until the body's last byte has been taken (or the body is dropped).
    pub fn holding(mut self, slot: Option<Slot>) -> Self {
        self.slot = slot;
        if hyper::body::Body::is_end_stream(&self) {
            self.slot = None;
        }
        self
    }
}

impl From<Content> for ResponseBody {
    fn from(content: Content) -> Self {
        ResponseBody {
            content,
            slot: None,
        }
    }
}

impl From<Bytes> for ResponseBody {
    fn from(bytes: Bytes) -> Self {
        Content::Full(Some(bytes)).into()
    }
}

impl From<Vec<u8>> for ResponseBody {
    fn from(bytes: Vec<u8>) -> Self {
        Bytes::from(bytes).into()
    }
}

impl From<String> for ResponseBody {
    fn from(text: String) -> Self {
        Bytes::from(text).into()
    }
}

impl From<Body> for ResponseBody {
    fn from(body: Body) -> Self {
        match body {
            Body::Bytes(b) | Body::Gzipped(b) => b.into(),
            Body::List(l) => Content::List(l).into(),
            Body::GzipList(l) => Content::GzipList(l).into(),
        }
    }
}

impl hyper::body::Body for ResponseBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        let next = match &mut this.content {
            Content::Full(bytes) => bytes.take().filter(|b| !b.is_empty()),
            Content::List(list) => list.next(),
            Content::GzipList(list) => list.next(),
        };
        if hyper::body::Body::is_end_stream(this) {
            this.slot = None;
        }
        Poll::Ready(next.map(|b| Ok(Frame::data(b))))
    }

    fn is_end_stream(&self) -> bool {
        self.size_hint().exact() == Some(0)
    }

    fn size_hint(&self) -> SizeHint {
        let len = match &self.content {
            Content::Full(bytes) => bytes.as_ref().map_or(0, Bytes::len),
            Content::List(list) => list.remaining(),
            Content::GzipList(list) => list.remaining(),
        };
        SizeHint::with_exact(u64::try_from(len).unwrap_or(u64::MAX))
    }
}

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt;

    use super::*;

    #[tokio::test]
    async fn a_full_body_is_yielded_once_with_its_exact_length() {
        let body = ResponseBody::from(b"hello".to_vec());
        assert_eq!(hyper::body::Body::size_hint(&body).exact(), Some(5));
        let collected = body.collect().await.unwrap().to_bytes();
        assert_eq!(&collected[..], b"hello");
        let empty = ResponseBody::from(Vec::new());
        assert!(hyper::body::Body::is_end_stream(&empty));
    }

    #[tokio::test]
    async fn the_in_flight_slot_is_held_until_the_last_byte_is_taken() {
        let limits = super::super::limits::Limits::new(1, std::time::Duration::from_secs(1));
        let slot = limits.admit(true).unwrap();
        let mut body = ResponseBody::from(b"hello".to_vec()).holding(slot);
        assert!(limits.admit(true).is_err());
        let frame = body.frame().await.unwrap().unwrap();
        assert_eq!(frame.into_data().unwrap(), "hello");
        assert!(limits.admit(true).is_ok(), "released with the last byte");
        let empty = ResponseBody::from(Vec::new()).holding(limits.admit(true).unwrap());
        assert!(limits.admit(true).is_ok(), "an empty body holds nothing");
        drop(empty);
    }
}
