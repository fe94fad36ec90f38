//! Decoders for the two kubelet payloads, turning a response body into a [`NodeBatch`].
//!
//! * [`decode_resource`]: `/metrics/resource`, Prometheus text, what metrics-server v0.6+
//!   scrapes (spec §3.3);
//! * [`decode_summary`]: `/stats/summary`, JSON, the v0.5 source (spec §3.1).
//!
//! Both apply the same completeness rules (spec §3.3 "Node validity", "Pod validity"; see
//! `builder.rs`) and fail the whole node on malformed input, with an error naming the line.
//! Pure code: no I/O, no async, no Kubernetes types; names borrow from the body.

mod builder;
mod error;
mod prometheus_text;
mod resource;
mod summary;

pub use error::{DecodeError, ErrorKind, LineProblem};
pub use prometheus_text::MAX_LABEL_VALUE;
pub use resource::{MAX_LINES, decode_resource};
pub use summary::decode_summary;

use crate::batch::NodeBatch;
use crate::time::Timestamp;

/// Which kubelet endpoint a body came from.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Source {
    /// `/metrics/resource`, Prometheus text format 0.0.4.
    Resource,
    /// `/stats/summary`, the kubelet Summary API (JSON).
    Summary,
}

/// The kubelet's Summary API path, spelled once for [`Source::path`] and
/// [`Source::request_target`].
macro_rules! summary_path {
    () => {
        "/stats/summary"
    };
}

impl Source {
    /// The kubelet path this source is served on.
    pub const fn path(self) -> &'static str {
        match self {
            Source::Resource => "/metrics/resource",
            Source::Summary => summary_path!(),
        }
    }

    /// What is asked of the kubelet for this source: the path, and for the Summary API the
    /// query that limits it to CPU and memory.
    pub const fn request_target(self) -> &'static str {
        match self {
            Source::Resource => self.path(),
            Source::Summary => concat!(summary_path!(), "?only_cpu_and_memory=true"),
        }
    }

    /// Decodes a body from this source (see [`decode`]).
    pub fn decode(
        self,
        body: &[u8],
        default_time: Timestamp,
    ) -> Result<NodeBatch<'_>, DecodeError> {
        decode(self, body, default_time)
    }
}

/// Decodes a kubelet response body from `source`. `default_time` stamps Prometheus samples
/// printed without a timestamp (the time the request was sent); the summary carries its own.
pub fn decode(
    source: Source,
    body: &[u8],
    default_time: Timestamp,
) -> Result<NodeBatch<'_>, DecodeError> {
    match source {
        Source::Resource => decode_resource(body, default_time),
        Source::Summary => decode_summary(body),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dispatches_on_source() {
        let text = b"node_cpu_usage_seconds_total 1\nnode_memory_working_set_bytes 2\n";
        let batch = decode(Source::Resource, text, Timestamp(7)).unwrap();
        assert_eq!(batch.node.unwrap().timestamp, Timestamp(7));
        assert!(decode(Source::Summary, text, Timestamp(7)).is_err());
        let json =
            br#"{"node": {"cpu": {"time": "1970-01-01T00:00:01Z", "usageCoreNanoSeconds": 1},
                                 "memory": {"workingSetBytes": 2}}}"#;
        let batch = decode(Source::Summary, json, Timestamp(7)).unwrap();
        assert_eq!(batch.node.unwrap().timestamp, Timestamp::from_secs(1));
    }

    #[test]
    fn paths_are_the_kubelet_ones() {
        assert_eq!(Source::Resource.path(), "/metrics/resource");
        assert_eq!(Source::Summary.path(), "/stats/summary");
        assert_eq!(Source::Resource.request_target(), "/metrics/resource");
        assert_eq!(
            Source::Summary.request_target(),
            "/stats/summary?only_cpu_and_memory=true"
        );
    }
}
