//! The `metrics.k8s.io` API: request parsing, selectors, negotiation, encoding, errors, and
//! the handlers that join the metric snapshot with the watched cluster objects.

pub mod context;
pub mod discovery;
pub mod encode;
pub mod index;
pub mod list_cache;
pub mod metav1_status;
pub mod negotiate;
pub mod openapi;
pub mod query;
pub mod reply_body;
pub mod resources;
pub mod routes;
pub mod selector;
