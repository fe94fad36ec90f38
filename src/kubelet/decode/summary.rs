//! Decodes the kubelet's `/stats/summary` JSON into a [`NodeBatch`], the source metrics-server
//! v0.5 used (spec §3.1, `pkg/scraper/client/summary/decode.go`): cumulative
//! `usageCoreNanoSeconds` and `workingSetBytes` for the node and each container.
//!
//! Only the fields used are read; unknown fields are skipped and every field is optional,
//! because kubelets 1.22 to 1.35 differ (PSI, swap, io blocks). Names borrow from the body
//! unless JSON escapes force a copy.
//!
//! * The point time is `memory.time` when present, else `cpu.time`, matching the resource
//!   decoder (spec §3.3 "last series parsed wins"). A time before 1970 (such as Go's zero
//!   time `0001-01-01T00:00:00Z`) counts as missing, and so does a container `startTime` ≤ 0.
//! * Sample times with whole seconds only are placed within their second by when the response
//!   arrived (see [`KubeletTime::sample_instant`]); times with a fraction are used as printed.
//! * A negative or out-of-range (beyond `u64`) CPU counter or working set marks only
//!   its node or container invalid (see [`crate::batch::InvalidValues`]); JSON has no NaN.
//! * Completeness follows [`super::builder`]: a container without a non-zero CPU counter, a
//!   memory value or a time is left out and marks its pod incomplete.
//! * Pods without `podRef` name and namespace cannot be attributed and are skipped; pods that
//!   list no container are skipped too (the resource endpoint would not list them either).
//! * Malformed JSON and unparsable RFC 3339 times fail the node with serde_json's position.
//! * With extra resources asked for (`--extra-resources`, the full Summary API): swap from
//!   `swap.swapUsageBytes` (node and containers); ephemeral storage of a container from
//!   `rootfs.usedBytes + logs.usedBytes`, of a pod from `ephemeral-storage.usedBytes`
//!   (shared out over its containers, see [`super::pod_storage`]), of the node from
//!   `fs.usedBytes` (the node's root filesystem, where the kubelet keeps volumes and logs,
//!   whose size is the node's `ephemeral-storage` capacity; a separate `runtime.imageFs`
//!   holds images and is not added). An extra figure that is missing, negative, out of
//!   range or of another shape is left out; it never fails or withholds anything else
//!   (see `figures`).

use std::borrow::Cow;

use serde::{Deserialize, Deserializer};

use super::builder::{BatchBuilder, Sample};
use super::error::{DecodeError, excerpt};
use crate::batch::Decoded;
use crate::time::{NANOS_PER_SEC, Timestamp};
use crate::usage::{ExtraResources, ExtraUsage};
use figures::{FsBlock, SwapBlock};

/// A sample `time` as the kubelet printed it.
///
/// The kubelet serialises these as `metav1.Time`, RFC 3339 with whole seconds, truncated: the
/// sample was taken somewhere in `[at, at + 1 s)`. A CPU rate over a 15 s interval measured
/// between two such times is off by up to ±1 s, ±6.7 % (upstream v0.5 had this error).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
struct KubeletTime {
    at: Timestamp,
    /// No fractional seconds were printed.
    whole_second: bool,
}

impl KubeletTime {
    /// When the sample was taken, as precisely as we can tell.
    ///
    /// A time with a fraction is used as printed. For a whole-second time, the sample was
    /// taken in `[at, at + 1 s)` and before the response arrived at `received_at`, so the
    /// estimate is `received_at` clamped into that second:
    ///
    /// * a sample read when the request was served (the CRI stats path, and the simulated
    ///   kubelets) lands within the response latency of its true time, so a rate over 15 s is
    ///   off by latency jitter, well under 1 %, whatever the sub-second phase;
    /// * an older, cached sample (cAdvisor housekeeping) ends at `at + 1 s`, a bound as good
    ///   as the truncated time it replaces: never worse than using `at`.
    ///
    /// Not `usageNanoCores`: it is the kubelet's own rate over its housekeeping window (about
    /// 10 s, computed whenever any client asks), not over the window this server reports, and
    /// the `/metrics/resource` source has only the cumulative counter; both sources keep the
    /// same counter-based rule (upstream since v0.5).
    fn sample_instant(self, received_at: Timestamp) -> Timestamp {
        if !self.whole_second {
            return self.at;
        }
        let end_of_second = self.at.0.saturating_add(NANOS_PER_SEC - 1);
        Timestamp(received_at.0.clamp(self.at.0, end_of_second))
    }
}

/// A counter or gauge as printed: a usable value, or a number no reading can have.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Reading {
    Value(u64),
    /// Negative, or beyond `u64`: marks its node or container invalid.
    Invalid,
}

impl Reading {
    fn value(self) -> Option<u64> {
        match self {
            Reading::Value(v) => Some(v),
            Reading::Invalid => None,
        }
    }

    fn is_invalid(reading: Option<Self>) -> bool {
        reading == Some(Reading::Invalid)
    }
}

impl<'de> Deserialize<'de> for Reading {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        de.deserialize_any(ReadingVisitor)
    }
}

/// Accepts any JSON number; anything else stays a type error that fails the node.
struct ReadingVisitor;

impl serde::de::Visitor<'_> for ReadingVisitor {
    type Value = Reading;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a number")
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Reading, E> {
        Ok(Reading::Value(v))
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Reading, E> {
        Ok(u64::try_from(v).map_or(Reading::Invalid, Reading::Value))
    }

    /// Truncated like the resource decoder's values.
    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Reading, E> {
        let in_range = v.is_finite() && (0.0..u64::MAX as f64).contains(&v);
        Ok(if in_range {
            Reading::Value(v as u64)
        } else {
            Reading::Invalid
        })
    }
}

/// A string that borrows from the body when it has no escapes.
#[derive(Deserialize)]
struct Text<'a>(#[serde(borrow)] Cow<'a, str>);

#[derive(Deserialize)]
struct Summary<'a> {
    #[serde(default)]
    node: Option<NodeStats>,
    #[serde(borrow, default)]
    pods: Option<Vec<PodStats<'a>>>,
}

#[derive(Deserialize)]
struct NodeStats {
    #[serde(default)]
    cpu: Option<CpuStats>,
    #[serde(default)]
    memory: Option<MemoryStats>,
    #[serde(default)]
    swap: Option<SwapBlock>,
    #[serde(default)]
    fs: Option<FsBlock>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CpuStats {
    #[serde(default, deserialize_with = "sample_time")]
    time: Option<KubeletTime>,
    #[serde(default)]
    usage_core_nano_seconds: Option<Reading>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MemoryStats {
    #[serde(default, deserialize_with = "sample_time")]
    time: Option<KubeletTime>,
    #[serde(default)]
    working_set_bytes: Option<Reading>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PodStats<'a> {
    #[serde(borrow, default)]
    pod_ref: Option<PodRef<'a>>,
    #[serde(borrow, default)]
    containers: Option<Vec<ContainerStats<'a>>>,
    #[serde(default, rename = "ephemeral-storage")]
    ephemeral_storage: Option<FsBlock>,
}

#[derive(Deserialize)]
struct PodRef<'a> {
    #[serde(borrow, default)]
    name: Option<Text<'a>>,
    #[serde(borrow, default)]
    namespace: Option<Text<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ContainerStats<'a> {
    #[serde(borrow, default)]
    name: Option<Text<'a>>,
    #[serde(default, deserialize_with = "sample_time")]
    start_time: Option<KubeletTime>,
    #[serde(default)]
    cpu: Option<CpuStats>,
    #[serde(default)]
    memory: Option<MemoryStats>,
    #[serde(default)]
    swap: Option<SwapBlock>,
    #[serde(default)]
    rootfs: Option<FsBlock>,
    #[serde(default)]
    logs: Option<FsBlock>,
}

impl ContainerStats<'_> {
    /// `rootfs.usedBytes + logs.usedBytes`, when either is reported (a missing one counts 0).
    fn storage_bytes(&self) -> Option<u64> {
        let used = |fs: &Option<FsBlock>| fs.as_ref().and_then(|f| f.bytes);
        match (used(&self.rootfs), used(&self.logs)) {
            (None, None) => None,
            (rootfs, logs) => rootfs.unwrap_or(0).checked_add(logs.unwrap_or(0)),
        }
    }
}

/// Decodes a `/stats/summary` body (with or without `only_cpu_and_memory=true`);
/// `received_at` is when the response arrived (see [`KubeletTime::sample_instant`]).
pub fn decode_summary(body: &[u8], received_at: Timestamp) -> Result<Decoded<'_>, DecodeError> {
    decode_summary_with(body, received_at, ExtraResources::NONE)
}

/// [`decode_summary`], also reading the `extra` resources (see the module docs).
pub fn decode_summary_with(
    body: &[u8],
    received_at: Timestamp,
    extra: ExtraResources,
) -> Result<Decoded<'_>, DecodeError> {
    let summary: Summary<'_> = serde_json::from_slice(body).map_err(|e| DecodeError::json(&e))?;
    let mut builder = BatchBuilder::default();
    if extra.any() {
        builder.collect_extra();
    }
    if let Some(node) = summary.node {
        builder.node = sample(node.cpu, node.memory, None, received_at);
        if let Some(figures) = builder.node_extra() {
            if extra.swap {
                figures.swap_bytes = node.swap.and_then(|s| s.bytes);
            }
            if extra.ephemeral_storage {
                figures.ephemeral_storage_bytes = node.fs.and_then(|fs| fs.bytes);
            }
        }
    }
    for pod in summary.pods.into_iter().flatten() {
        add_pod(&mut builder, pod, received_at, extra);
    }
    Ok(builder.finish())
}

fn add_pod<'a>(
    builder: &mut BatchBuilder<'a>,
    pod: PodStats<'a>,
    received_at: Timestamp,
    extra: ExtraResources,
) {
    let Some((namespace, name)) = pod.pod_ref.and_then(pod_key) else {
        return;
    };
    let containers = pod.containers.unwrap_or_default();
    if containers.is_empty() {
        return;
    }
    let index = builder.pod(namespace.clone(), name.clone());
    if extra.ephemeral_storage {
        let total = pod.ephemeral_storage.and_then(|fs| fs.bytes);
        builder.set_pod_storage(index, total);
    }
    for container in containers {
        let storage_bytes = container.storage_bytes();
        let container_name = container.name.map(|t| t.0).filter(|n| !n.is_empty());
        let Some(container_name) = container_name else {
            builder.mark_broken(index);
            continue;
        };
        let start_time = container.start_time.map(|t| t.at);
        let swap_bytes = container.swap.and_then(|s| s.bytes);
        let position = builder.position(namespace.clone(), name.clone(), container_name);
        *builder.sample_at(position) =
            sample(container.cpu, container.memory, start_time, received_at);
        if let Some(figures) = builder.extra_at(position) {
            figures.core = true;
            figures.usage = ExtraUsage {
                swap_bytes: swap_bytes.filter(|_| extra.swap),
                ephemeral_storage_bytes: storage_bytes.filter(|_| extra.ephemeral_storage),
            };
        }
    }
}

fn pod_key(pod_ref: PodRef<'_>) -> Option<(Cow<'_, str>, Cow<'_, str>)> {
    let namespace = pod_ref.namespace?.0;
    let name = pod_ref.name?.0;
    (!namespace.is_empty() && !name.is_empty()).then_some((namespace, name))
}

fn sample(
    cpu: Option<CpuStats>,
    memory: Option<MemoryStats>,
    start_time: Option<Timestamp>,
    received_at: Timestamp,
) -> Sample {
    let cpu_counter = cpu.as_ref().and_then(|c| c.usage_core_nano_seconds);
    let working_set = memory.as_ref().and_then(|m| m.working_set_bytes);
    let instant = |time: KubeletTime| time.sample_instant(received_at);
    Sample {
        cpu_ns: cpu_counter.and_then(Reading::value),
        cpu_time: cpu.and_then(|c| c.time).map(instant),
        memory_bytes: working_set.and_then(Reading::value),
        memory_time: memory.and_then(|m| m.time).map(instant),
        start_time: start_time.filter(|t| t.0 > 0),
        invalid: Reading::is_invalid(cpu_counter) || Reading::is_invalid(working_set),
    }
}

/// An RFC 3339 time; `null` or a time before 1970 reads as `None`, anything unparsable is
/// an error (reported by serde_json with its position).
fn sample_time<'de, D: Deserializer<'de>>(de: D) -> Result<Option<KubeletTime>, D::Error> {
    let Some(text) = Option::<Text<'de>>::deserialize(de)? else {
        return Ok(None);
    };
    // Only a fraction of a second has a '.' in RFC 3339.
    let whole_second = !text.0.contains('.');
    match Timestamp::parse_rfc3339(&text.0) {
        Ok(at) => Ok((at.0 >= 0).then_some(KubeletTime { at, whole_second })),
        // Go's zero time (year 1) is outside the i64 nanosecond range.
        Err(_) if year_before_1970(&text.0) => Ok(None),
        Err(_) => Err(serde::de::Error::custom(format_args!(
            "invalid RFC 3339 timestamp {:?}",
            excerpt(text.0.as_bytes())
        ))),
    }
}

/// True for a well-formed RFC 3339 time whose year is before 1970.
fn year_before_1970(text: &str) -> bool {
    let (Some(year), Some(rest)) = (text.get(..4), text.get(4..)) else {
        return false;
    };
    let digits = year.bytes().all(|b| b.is_ascii_digit());
    let early = digits && year.parse::<u16>().is_ok_and(|y| y < 1970);
    early && Timestamp::parse_rfc3339(&format!("1970{rest}")).is_ok()
}

mod figures;
#[cfg(test)]
mod tests;
