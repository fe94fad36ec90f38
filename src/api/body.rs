//! A reply's body: bytes encoded for this request, or a cached pod list read out in chunks
//! ([`ListBody`]), so that serving a list of 150,000 pods never copies it whole.

use super::list_cache::ListBody;

/// What a [`super::routes::Reply`] carries.
#[derive(Debug)]
pub enum Body {
    Bytes(Vec<u8>),
    List(ListBody),
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

impl Body {
    /// The whole body in one buffer.
    pub fn into_vec(self) -> Vec<u8> {
        match self {
            Body::Bytes(b) => b,
            Body::List(l) => l.into_vec(),
        }
    }
}
