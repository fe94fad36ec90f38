//! metrics-server-rs: the Kubernetes resource Metrics API (`metrics.k8s.io`) in Rust.
//!
//! Data flows one way, one module per stage:
//!
//! ```text
//! cluster (watch nodes, pod metadata) ──▶ scraper ──▶ kubelet::client ──bytes──▶ kubelet::decode
//!                                                                                   │ NodeBatch
//!                                             store (rings, rates, snapshots) ◀─────┘
//!                                                │ Arc<Snapshot>, lock-free load
//!                                  api (routes, selectors, encode json/table) ──▶ server (TLS, health)
//! ```
//!
//! `kubelet::decode`, `store` and `api::encode` are pure: no tokio, no kube types, so they are
//! unit-tested, fuzzed and benchmarked alone. `sim` is the simulated cluster behind `demo`.

#[macro_use]
mod tls_signatures;

pub mod api;
pub mod batch;
pub mod bench;
pub mod certs;
pub mod cluster;
pub mod config;
pub mod kubelet;
pub mod memory;
pub mod offload;
pub mod pki;
pub mod prefetch;
pub mod scraper;
pub mod server;
pub mod sim;
pub mod store;
pub mod telemetry;
pub mod time;
pub mod usage;
