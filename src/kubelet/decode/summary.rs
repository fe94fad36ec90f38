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
//! * Completeness follows [`super::builder`]: a container without a non-zero CPU counter, a
//!   memory value or a time is left out and marks its pod incomplete.
//! * Pods without `podRef` name and namespace cannot be attributed and are skipped; pods that
//!   list no container are skipped too (the resource endpoint would not list them either).
//! * Malformed JSON and unparsable RFC 3339 times fail the node with serde_json's position.

use std::borrow::Cow;

use serde::{Deserialize, Deserializer};

use super::builder::{BatchBuilder, Sample};
use super::error::{DecodeError, excerpt};
use crate::batch::NodeBatch;
use crate::time::Timestamp;

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
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CpuStats {
    #[serde(default, deserialize_with = "sample_time")]
    time: Option<Timestamp>,
    #[serde(default)]
    usage_core_nano_seconds: Option<u64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MemoryStats {
    #[serde(default, deserialize_with = "sample_time")]
    time: Option<Timestamp>,
    #[serde(default)]
    working_set_bytes: Option<u64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PodStats<'a> {
    #[serde(borrow, default)]
    pod_ref: Option<PodRef<'a>>,
    #[serde(borrow, default)]
    containers: Option<Vec<ContainerStats<'a>>>,
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
    start_time: Option<Timestamp>,
    #[serde(default)]
    cpu: Option<CpuStats>,
    #[serde(default)]
    memory: Option<MemoryStats>,
}

/// Decodes a `/stats/summary` body (with or without `only_cpu_and_memory=true`).
pub fn decode_summary(body: &[u8]) -> Result<NodeBatch<'_>, DecodeError> {
    let summary: Summary<'_> = serde_json::from_slice(body).map_err(|e| DecodeError::json(&e))?;
    let mut builder = BatchBuilder::default();
    if let Some(node) = summary.node {
        builder.node = sample(node.cpu, node.memory, None);
    }
    for pod in summary.pods.into_iter().flatten() {
        add_pod(&mut builder, pod);
    }
    Ok(builder.finish())
}

fn add_pod<'a>(builder: &mut BatchBuilder<'a>, pod: PodStats<'a>) {
    let Some((namespace, name)) = pod.pod_ref.and_then(pod_key) else {
        return;
    };
    let containers = pod.containers.unwrap_or_default();
    if containers.is_empty() {
        return;
    }
    let index = builder.pod(namespace.clone(), name.clone());
    for container in containers {
        let container_name = container.name.map(|t| t.0).filter(|n| !n.is_empty());
        let Some(container_name) = container_name else {
            builder.mark_broken(index);
            continue;
        };
        *builder.container(namespace.clone(), name.clone(), container_name) =
            sample(container.cpu, container.memory, container.start_time);
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
) -> Sample {
    Sample {
        cpu_ns: cpu.as_ref().and_then(|c| c.usage_core_nano_seconds),
        cpu_time: cpu.and_then(|c| c.time),
        memory_bytes: memory.as_ref().and_then(|m| m.working_set_bytes),
        memory_time: memory.and_then(|m| m.time),
        start_time: start_time.filter(|t| t.0 > 0),
    }
}

/// An RFC 3339 time; `null` or a time before 1970 reads as `None`, anything unparsable is
/// an error (reported by serde_json with its position).
fn sample_time<'de, D: Deserializer<'de>>(de: D) -> Result<Option<Timestamp>, D::Error> {
    let Some(text) = Option::<Text<'de>>::deserialize(de)? else {
        return Ok(None);
    };
    match Timestamp::parse_rfc3339(&text.0) {
        Ok(t) => Ok((t.0 >= 0).then_some(t)),
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

#[cfg(test)]
mod tests;
