//! The `metrics.k8s.io` API: request parsing, selectors, negotiation, encoding, errors.

pub mod discovery;
pub mod encode;
pub mod negotiate;
pub mod query;
pub mod selector;
pub mod status;
