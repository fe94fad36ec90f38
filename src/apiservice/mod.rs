//! The APIServices of `metrics.k8s.io`: what their `Available` condition means, whose they
//! are, and the running server's watch that tells both.
//!
//! Pure (no I/O, unit-tested alone):
//! - [`guidance`]: an `Available` condition (reason, message) explained in plain words, with
//!   the exact fixes.
//! - [`owner`]: does an APIService point at our Service, another provider's, or none; and
//!   `--apiservice-service`.
//! - [`tracker`]: what changed since the last look, as notices; [`report`]: their log lines
//!   and Events; [`event_gate`]: one Event per APIService per minute; [`failure_log`]: a
//!   missing permission logged once.
//!
//! With the API: [`watch`] (the watch loop, started by the server) and [`events`] (recording
//! an Event on an APIService).

pub mod event_gate;
pub mod events;
pub mod failure_log;
pub mod guidance;
pub mod owner;
pub mod report;
pub mod tracker;
pub mod watch;

pub use guidance::{
    Explanation, NetFailure, Problem, ServiceRef, Target, classify, explain, explain_condition,
};
pub use owner::{
    DEFAULT_SERVICE_PORT, OtherProvider, OurService, Owner, ServiceFlagError, ServiceTarget, owner,
    parse_service_flag,
};

/// The APIServices of the resource Metrics API this server serves.
pub const METRICS_API_SERVICES: [&str; 2] = ["v1beta1.metrics.k8s.io", "v1.metrics.k8s.io"];

/// The Service in front of this server when `--apiservice-service` is not given:
/// `metrics-server` on port 443 in `namespace` (the ServiceAccount's, as the manifests install
/// it).
pub fn default_service(namespace: &str) -> OurService {
    OurService::new(namespace, "metrics-server")
}
