//! Talking to kubelets: address resolution, TLS and token, the HTTPS client, and the payload
//! decoders.

pub mod address;
pub mod client;
pub mod decode;
pub mod tls;
pub mod token;
pub mod verify;

pub use client::{Fetched, KubeletClient, KubeletClientConfig, ScrapeError};
