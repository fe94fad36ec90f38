//! Talking to kubelets: address resolution, TLS and token, the HTTP/1.1 client and its
//! connection pool, and the payload decoders.

pub mod address;
pub mod client;
pub mod decode;
pub mod http1;
pub mod tls;
pub mod token;
pub mod verify;

pub use client::{Fetched, KubeletClient, KubeletClientConfig, ScrapeError, StorageFetched};
