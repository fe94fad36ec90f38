//! The HTTPS server: TLS, health probes, routing to the API.

pub mod health;
pub mod tls;
