//! A reply's body: bytes encoded for this request, or a cached pod list read out in parts
//! ([`ListBody`], [`GzipListBody`]), so that serving a list of 150,000 pods never copies it
//! whole; and whether it is gzip-compressed. The server sends it as an HTTP body
//! (`server::response_body`).

use super::encode::gzip;
use super::list_cache::{GzipListBody, ListBody};

/// What a [`super::routes::Reply`] carries.
#[derive(Debug)]
pub enum Body {
    Bytes(Vec<u8>),
    /// A gzip member (`Content-Encoding: gzip`).
    Gzipped(Vec<u8>),
    List(ListBody),
    GzipList(GzipListBody),
}

impl Default for Body {
    fn default() -> Self {
        Body::Bytes(Vec::new())
    }
}

impl From<Vec<u8>> for Body {
    fn from(bytes: Vec<u8>) -> Self {
        Body::Bytes(bytes)
    }
}

impl From<ListBody> for Body {
    fn from(list: ListBody) -> Self {
        Body::List(list)
    }
}

impl From<GzipListBody> for Body {
    fn from(list: GzipListBody) -> Self {
        Body::GzipList(list)
    }
}

impl Body {
    /// The whole body in one buffer (compressed if it is).
    pub fn into_vec(self) -> Vec<u8> {
        match self {
            Body::Bytes(b) | Body::Gzipped(b) => b,
            Body::List(l) => l.into_vec(),
            Body::GzipList(l) => l.into_vec(),
        }
    }

    /// The `Content-Encoding` of the body, if any.
    pub fn content_encoding(&self) -> Option<&'static str> {
        matches!(self, Body::Gzipped(_) | Body::GzipList(_)).then_some("gzip")
    }

    /// Compresses an uncompressed buffer over the apiserver's threshold (its size decides, as
    /// upstream's first write does); everything else is returned as is.
    pub fn gzip_if_large(self) -> Result<Body, gzip::GzipError> {
        match self {
            Body::Bytes(b) if b.len() > gzip::THRESHOLD_BYTES => {
                Ok(Body::Gzipped(gzip::compress(&b)?))
            }
            other => Ok(other),
        }
    }
}
