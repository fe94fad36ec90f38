//! Decoders for the two kubelet payloads, turning a response body into a [`NodeBatch`].
//!
//! * [`decode_resource`]: `/metrics/resource`, Prometheus text, what metrics-server v0.6+
//!   scrapes (spec §3.3);
//! * [`decode_summary`]: `/stats/summary`, JSON, the v0.5 source (spec §3.1).
//!
//! Both apply the same completeness rules (spec §3.3 "Node validity", "Pod validity"; see
//! `builder.rs`) and fail the whole node on malformed input, with an error naming the line;
//! a value no reading can have (NaN, ±Inf, negative) withholds only its node or pod.
//! Pure code: no I/O, no async, no Kubernetes types; names borrow from the body.

mod builder;
mod error;
mod extra_samples;
mod pod_storage;
mod prometheus_text;
mod resource;
mod summary;

pub use error::{DecodeError, ErrorKind, LineProblem};
pub use prometheus_text::MAX_LABEL_VALUE;
pub use resource::{MAX_LINES, decode_resource, decode_resource_with};
pub use summary::{decode_summary, decode_summary_with};

use crate::batch::Decoded;
use crate::time::Timestamp;
use crate::usage::ExtraResources;

/// When a kubelet request was sent and its response arrived (our clock).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct ResponseTimes {
    /// Stamps Prometheus samples printed without a timestamp (as upstream).
    pub requested: Timestamp,
    /// Places the Summary API's whole-second sample times within their second.
    pub received: Timestamp,
}

impl ResponseTimes {
    /// A request answered at the instant it was sent (tests, benchmarks).
    pub fn at(t: Timestamp) -> Self {
        ResponseTimes {
            requested: t,
            received: t,
        }
    }
}

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

    /// What is asked of the kubelet for this source when `extra` resources are served too:
    /// the whole Summary API, whose CPU-and-memory form has no filesystem figures and, on
    /// kubelets reading containers through cAdvisor, no container swap.
    pub const fn request_target_with(self, extra: ExtraResources) -> &'static str {
        match self {
            Source::Summary if extra.swap || extra.ephemeral_storage => summary_path!(),
            _ => self.request_target(),
        }
    }

    /// The extra resources this source has: all for the Summary API, swap for
    /// `/metrics/resource` (its ephemeral storage comes from a Summary API request beside it).
    pub const fn extra_resources(self, served: ExtraResources) -> ExtraResources {
        match self {
            Source::Resource => ExtraResources {
                swap: served.swap,
                ephemeral_storage: false,
            },
            Source::Summary => served,
        }
    }

    /// Decodes a body from this source (see [`decode`]).
    pub fn decode(self, body: &[u8], times: ResponseTimes) -> Result<Decoded<'_>, DecodeError> {
        decode(self, body, times)
    }

    /// Decodes a body from this source with the `extra` resources it has (see [`decode_with`]).
    pub fn decode_with(
        self,
        body: &[u8],
        times: ResponseTimes,
        extra: ExtraResources,
    ) -> Result<Decoded<'_>, DecodeError> {
        decode_with(self, body, times, extra)
    }
}

/// Decodes a kubelet response body from `source`, fetched at `times`.
pub fn decode(
    source: Source,
    body: &[u8],
    times: ResponseTimes,
) -> Result<Decoded<'_>, DecodeError> {
    decode_with(source, body, times, ExtraResources::NONE)
}

/// [`decode`], also reading those of the `extra` resources that `source` has.
pub fn decode_with(
    source: Source,
    body: &[u8],
    times: ResponseTimes,
    extra: ExtraResources,
) -> Result<Decoded<'_>, DecodeError> {
    let extra = source.extra_resources(extra);
    match source {
        Source::Resource => decode_resource_with(body, times.requested, extra),
        Source::Summary => decode_summary_with(body, times.received, extra),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dispatches_on_source() {
        let text = b"node_cpu_usage_seconds_total 1\nnode_memory_working_set_bytes 2\n";
        let times = ResponseTimes {
            requested: Timestamp(7),
            received: Timestamp(1_000_000_500),
        };
        let decoded = decode(Source::Resource, text, times).unwrap();
        assert_eq!(decoded.batch.node.unwrap().timestamp, Timestamp(7));
        assert!(decode(Source::Summary, text, times).is_err());
        let json =
            br#"{"node": {"cpu": {"time": "1970-01-01T00:00:01Z", "usageCoreNanoSeconds": 1},
                                 "memory": {"workingSetBytes": 2}}}"#;
        let decoded = decode(Source::Summary, json, times).unwrap();
        assert_eq!(
            decoded.batch.node.unwrap().timestamp,
            Timestamp(1_000_000_500),
            "the whole-second time, placed by the arrival"
        );
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
