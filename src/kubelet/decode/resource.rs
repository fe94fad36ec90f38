//! Decodes the kubelet's `/metrics/resource` (Prometheus text 0.0.4) into a [`NodeBatch`].
//! Port of metrics-server `pkg/scraper/client/resource/decode.go` (spec §3.3):
//!
//! * series are picked by exact metric name: `node_cpu_usage_seconds_total`,
//!   `node_memory_working_set_bytes`, and `container_cpu_usage_seconds_total`,
//!   `container_memory_working_set_bytes`, `container_start_time_seconds` keyed by their
//!   `namespace`, `pod`, `container` labels; everything else (`pod_*`, `*scrape_error`,
//!   swap, commit bytes, unknown series) is only checked for syntax;
//! * with swap asked for (`--extra-resources`), `node_swap_usage_bytes` and
//!   `container_swap_usage_bytes` too, as gauges truncated to bytes: a swap value no reading
//!   can have (or a line without a container's labels) leaves out only that figure, and a
//!   container seen only in the swap series is not a container (see
//!   [`super::extra_samples`]);
//! * CPU is `value * 1e9` truncated to nanoseconds, memory `value` truncated to bytes;
//! * a missing sample timestamp means the request time (`default_time`); the point time is
//!   the memory sample's (see [`super::builder`]); the start time series' own timestamp is
//!   ignored, a start value ≤ 0 means "unknown";
//! * any malformed line or a negative timestamp fails the whole node;
//! * a NaN, infinite or negative value on a series used (negative start times excepted: they
//!   mean "unknown") marks only its node or container invalid (see [`InvalidValues`]): the
//!   node's own point, or the container's pod, is withheld and everything else is kept.
//!
//! [`InvalidValues`]: crate::batch::InvalidValues
//!
//! One pass over the body, lines found with `memchr`; nothing is allocated per line.

use std::borrow::Cow;

use memchr::memchr;

use super::builder::{BatchBuilder, Sample};
use super::error::{DecodeError, LineProblem};
use super::prometheus_text::{
    LineReader, PodLabels, RawValue, SampleLine, check_sample, read_sample,
};
use crate::batch::Decoded;
use crate::time::{NANOS_PER_SEC, Timestamp};
use crate::usage::ExtraResources;

/// Most lines read from one body (a 110-pod node prints about 800).
pub const MAX_LINES: usize = 1_000_000;

/// The series this decoder uses.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Series {
    NodeCpu,
    NodeMemory,
    ContainerCpu,
    ContainerMemory,
    ContainerStart,
    NodeSwap,
    ContainerSwap,
}

impl Series {
    /// The series called `name`, among those `extra` asks for beyond CPU and memory.
    fn from_name(name: &[u8], extra: ExtraResources) -> Option<Self> {
        Some(match name {
            b"node_cpu_usage_seconds_total" => Series::NodeCpu,
            b"node_memory_working_set_bytes" => Series::NodeMemory,
            b"container_cpu_usage_seconds_total" => Series::ContainerCpu,
            b"container_memory_working_set_bytes" => Series::ContainerMemory,
            b"container_start_time_seconds" => Series::ContainerStart,
            b"node_swap_usage_bytes" if extra.swap => Series::NodeSwap,
            b"container_swap_usage_bytes" if extra.swap => Series::ContainerSwap,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Series::NodeCpu => "node_cpu_usage_seconds_total",
            Series::NodeMemory => "node_memory_working_set_bytes",
            Series::ContainerCpu => "container_cpu_usage_seconds_total",
            Series::ContainerMemory => "container_memory_working_set_bytes",
            Series::ContainerStart => "container_start_time_seconds",
            Series::NodeSwap => "node_swap_usage_bytes",
            Series::ContainerSwap => "container_swap_usage_bytes",
        }
    }

    /// A series of the extra resources: its values never withhold anything.
    fn is_extra(self) -> bool {
        matches!(self, Series::NodeSwap | Series::ContainerSwap)
    }
}

/// Decodes a `/metrics/resource` body. `default_time` stamps samples printed without a
/// timestamp (upstream uses the time the request was sent). Empty input gives an empty batch.
pub fn decode_resource(body: &[u8], default_time: Timestamp) -> Result<Decoded<'_>, DecodeError> {
    decode_resource_with(body, default_time, ExtraResources::NONE)
}

/// [`decode_resource`], also reading the `extra` resources this endpoint has (swap).
pub fn decode_resource_with(
    body: &[u8],
    default_time: Timestamp,
    extra: ExtraResources,
) -> Result<Decoded<'_>, DecodeError> {
    let mut builder = BatchBuilder::with_capacity(expected_containers(body.len()));
    if extra.swap {
        builder.collect_extra();
    }
    let mut lines = Lines {
        reader: LineReader::default(),
        series: None,
        extra,
    };
    let mut rest = body;
    let mut line_number = 0;
    while !rest.is_empty() {
        let (line, next) = match memchr(b'\n', rest) {
            Some(end) => (&rest[..end], &rest[end + 1..]),
            None => (rest, &rest[rest.len()..]),
        };
        rest = next;
        line_number += 1;
        if line_number > MAX_LINES {
            let problem = LineProblem::TooManyLines { max: MAX_LINES };
            return Err(DecodeError::line(line_number, problem));
        }
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        lines
            .apply(&mut builder, line, default_time)
            .map_err(|problem| DecodeError::line(line_number, problem))?;
    }
    Ok(builder.finish())
}

/// A kubelet prints about 500 bytes per container (its three series, with their pod's and
/// HELP/TYPE lines); capped so an odd payload does not reserve much.
fn expected_containers(body_len: usize) -> usize {
    (body_len / 448).min(4_096)
}

/// The lines of one payload: the names read so far, and the series of the last one.
struct Lines<'a> {
    reader: LineReader<'a>,
    /// The series of the last sample line's name (`None`: a series not used).
    series: Option<Series>,
    extra: ExtraResources,
}

impl<'a> Lines<'a> {
    /// Reads one line into `builder`; a line of a series not used is only checked.
    fn apply(
        &mut self,
        builder: &mut BatchBuilder<'a>,
        line: &'a [u8],
        default_time: Timestamp,
    ) -> Result<(), LineProblem> {
        let Some(named) = self.reader.name(line)? else {
            return Ok(());
        };
        if !named.repeated {
            self.series = Series::from_name(named.name, self.extra);
        }
        match self.series {
            Some(series) => apply_sample(builder, series, read_sample(line, named)?, default_time),
            None => check_sample(line, named),
        }
    }
}

fn apply_sample<'a>(
    builder: &mut BatchBuilder<'a>,
    series: Series,
    sample: SampleLine<'a>,
    default_time: Timestamp,
) -> Result<(), LineProblem> {
    let time = sample
        .timestamp_ms
        .map_or(default_time, Timestamp::from_millis);
    let value = sample.value;
    if series.is_extra() {
        return record_swap(builder, series, &sample.labels, value);
    }
    let target = match series {
        Series::NodeCpu | Series::NodeMemory => &mut builder.node,
        _ => {
            let position = container_position(builder, series, &sample.labels)?;
            if let Some(extra) = builder.extra_at(position) {
                extra.core = true;
            }
            builder.sample_at(position)
        }
    };
    if is_reading(series, value) {
        record(target, series, value, time);
    } else {
        target.invalid = true;
    }
    Ok(())
}

/// Stores one value in the node's or a container's sample.
fn record(target: &mut Sample, series: Series, value: f64, time: Timestamp) {
    match series {
        Series::NodeCpu | Series::ContainerCpu => {
            target.cpu_ns = Some((value * 1e9) as u64);
            target.cpu_time = Some(time);
        }
        Series::NodeMemory | Series::ContainerMemory => {
            target.memory_bytes = Some(value as u64);
            target.memory_time = Some(time);
        }
        Series::ContainerStart => {
            let nanos = (value * NANOS_PER_SEC as f64) as i64;
            target.start_time = (nanos > 0).then_some(Timestamp(nanos));
        }
        Series::NodeSwap | Series::ContainerSwap => {}
    }
}

/// Stores a swap value, truncated to bytes; one no reading can have, or a line without the
/// labels of a container, is left out (a swap figure never fails the node).
fn record_swap<'a>(
    builder: &mut BatchBuilder<'a>,
    series: Series,
    labels: &PodLabels<'a>,
    value: f64,
) -> Result<(), LineProblem> {
    let in_range = value.is_finite() && (0.0..u64::MAX as f64).contains(&value);
    let bytes = in_range.then_some(value as u64);
    if series == Series::NodeSwap {
        if let Some(node) = builder.node_extra() {
            node.swap_bytes = bytes;
        }
        return Ok(());
    }
    let Ok(position) = container_position(builder, series, labels) else {
        return Ok(());
    };
    if let Some(extra) = builder.extra_at(position) {
        extra.usage.swap_bytes = bytes;
    }
    Ok(())
}

/// Whether `value` can be a reading of `series`: NaN and infinities cannot on any series used,
/// negative values on all but the start time (where they mean "unknown", as a zero start
/// time does).
fn is_reading(series: Series, value: f64) -> bool {
    value.is_finite() && (value >= 0.0 || series == Series::ContainerStart)
}

/// The position of the container a line's labels name (see [`BatchBuilder::position`]).
fn container_position<'a>(
    builder: &mut BatchBuilder<'a>,
    series: Series,
    labels: &PodLabels<'a>,
) -> Result<usize, LineProblem> {
    let unescaped = |raw: Option<RawValue<'a>>| raw.and_then(RawValue::unescaped_bytes);
    let raw = (
        unescaped(labels.namespace),
        unescaped(labels.pod),
        unescaped(labels.container),
    );
    if let (Some(ns), Some(pod), Some(container)) = raw
        && let Some(position) = builder.next_if_is(ns, pod, container)
    {
        return Ok(position);
    }
    let namespace = label(series, "namespace", labels.namespace)?;
    let pod = label(series, "pod", labels.pod)?;
    let container = label(series, "container", labels.container)?;
    // Not `builder.position`: its expected-next check is the one just made on the bytes.
    Ok(builder.find_or_add((namespace, pod, container)))
}

/// A required, non-empty, UTF-8 label value.
fn label<'a>(
    series: Series,
    label: &'static str,
    raw: Option<RawValue<'a>>,
) -> Result<Cow<'a, str>, LineProblem> {
    let series = series.name();
    let text = match raw.map(RawValue::to_str) {
        None => None,
        Some(None) => return Err(LineProblem::LabelNotUtf8 { series, label }),
        Some(Some(text)) => Some(text).filter(|t| !t.is_empty()),
    };
    text.ok_or(LineProblem::MissingLabel { series, label })
}

#[cfg(test)]
mod tests;
