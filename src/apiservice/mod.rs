//! The APIServices of `metrics.k8s.io`: what their `Available` condition means and whose they
//! are.
//!
//! - [`guidance`]: an `Available` condition (reason, message) explained in plain words, with
//!   the exact fixes (pure).
//! - [`owner`]: does an APIService point at our Service, another provider's, or none (pure).

pub mod guidance;
pub mod owner;

pub use guidance::{
    Explanation, NetFailure, Problem, ServiceRef, Target, classify, explain, explain_condition,
};
pub use owner::{DEFAULT_SERVICE_PORT, OtherProvider, OurService, Owner, ServiceTarget, owner};

/// The APIServices of the resource Metrics API this server serves.
pub const METRICS_API_SERVICES: [&str; 2] = ["v1beta1.metrics.k8s.io", "v1.metrics.k8s.io"];
