//! Talking to kubelets: address resolution, the HTTPS client, and the payload decoders.

pub mod decode;
