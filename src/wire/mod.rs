//! The byte writers that the cluster cache and the API encoders share, below both: Go's JSON
//! strings, protobuf fields, and label sets in both formats. The cluster cache keeps a label
//! set encoded once for the many pods that share it; `api::encode` writes everything else.
//! Pure: no I/O, no async, no HTTP or kube types.

pub mod json_string;
pub mod labels;
pub mod protobuf_field;
