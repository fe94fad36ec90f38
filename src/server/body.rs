//! The HTTP body of every response: one buffer, or a cached pod list yielded part by part
//! (its exact length is known up front, so clients still get a `Content-Length`).

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use hyper::body::{Frame, SizeHint};

use crate::api::body::Body;
use crate::api::list_cache::{GzipListBody, ListBody};

/// A response body.
#[derive(Debug)]
pub enum ResponseBody {
    /// One buffer (none: empty), taken by the first poll.
    Full(Option<Bytes>),
    List(ListBody),
    GzipList(GzipListBody),
}

impl Default for ResponseBody {
    fn default() -> Self {
        ResponseBody::Full(None)
    }
}

impl From<Bytes> for ResponseBody {
    fn from(bytes: Bytes) -> Self {
        ResponseBody::Full(Some(bytes))
    }
}

impl From<Vec<u8>> for ResponseBody {
    fn from(bytes: Vec<u8>) -> Self {
        ResponseBody::Full(Some(bytes.into()))
    }
}

impl From<String> for ResponseBody {
    fn from(text: String) -> Self {
        ResponseBody::Full(Some(text.into()))
    }
}

impl From<Body> for ResponseBody {
    fn from(body: Body) -> Self {
        match body {
            Body::Bytes(b) | Body::Gzipped(b) => b.into(),
            Body::List(l) => ResponseBody::List(l),
            Body::GzipList(l) => ResponseBody::GzipList(l),
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
        let next = match self.get_mut() {
            ResponseBody::Full(bytes) => bytes.take().filter(|b| !b.is_empty()),
            ResponseBody::List(list) => list.next(),
            ResponseBody::GzipList(list) => list.next(),
        };
        Poll::Ready(next.map(|b| Ok(Frame::data(b))))
    }

    fn is_end_stream(&self) -> bool {
        self.size_hint().exact() == Some(0)
    }

    fn size_hint(&self) -> SizeHint {
        let len = match self {
            ResponseBody::Full(bytes) => bytes.as_ref().map_or(0, Bytes::len),
            ResponseBody::List(list) => list.remaining(),
            ResponseBody::GzipList(list) => list.remaining(),
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
}
