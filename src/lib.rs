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
//! No arrow points back up: `cluster`, `kubelet`, `store`, `scraper`, `config` and `telemetry`
//! never use `api` or `server` (the serving end). What both ends need sits below both: `wire`
//! (JSON strings, protobuf fields, label sets encoded once), `go_duration`, `x509_name`,
//! `time`, `batch`, `usage`.
//!
//! Beside the flow, `apiservice` watches the `metrics.k8s.io` APIServices and explains their
//! `Available` condition (its `guidance` and `owner` are pure, for `diagnose` as well).
//!
//! `kubelet::decode`, `store`, `wire` and `api::encode` are pure: no tokio, no kube types, so
//! they are unit-tested, fuzzed and benchmarked alone. The simulated cluster
//! (`metrics-server-sim`) and the scale harness (`metrics-server-bench`) are crates of their own
//! that use this library.

#[macro_use]
mod tls_signatures;

pub mod api;
pub mod apiservice;
pub mod batch;
pub mod blocking;
pub mod certs;
pub mod cluster;
pub mod config;
pub mod diagnose;
pub mod go_duration;
pub mod kubelet;
pub mod logging;
pub mod memory;
pub mod pending_bytes;
pub mod pki;
pub mod prefetch;
pub mod scraper;
pub mod server;
pub mod store;
pub mod telemetry;
pub mod time;
pub mod usage;
pub mod wire;
pub mod x509_name;
