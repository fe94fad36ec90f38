//! `application/vnd.kubernetes.protobuf` bodies for NodeMetrics, PodMetrics, their lists and
//! `Status` errors (upstream spec §2.5): the 4-byte magic `k8s\0`, then a `runtime.Unknown`
//! whose `raw` holds the object encoded with the field numbers of k8s.io/metrics'
//! `generated.proto` and apimachinery's `meta/v1` messages.
//!
//! Values are the same as in the JSON encoder: canonical quantity strings, `Time` with seconds
//! only (metav1's `ProtoTime` never writes nanos), `Duration` in nanoseconds, labels sorted.
//! The messages are hand-written `prost` structs holding only the fields we send; pods, the
//! bulk of every list, are written straight from the borrowed items ([`pod_entry`]).

pub(crate) mod pod_entry;

use std::collections::BTreeMap;

use prost::Message;

use super::{ApiVersion, NodeItem, ObjectMeta, PodItem, quantity};
use crate::api::metav1_status::Status;
use crate::time::Timestamp;
use crate::usage::{EPHEMERAL_STORAGE, ExtraUsage, SWAP, Usage};

/// The prefix of every Kubernetes protobuf body.
pub const MAGIC: &[u8; 4] = b"k8s\0";

/// `runtime.TypeMeta`.
#[derive(Clone, PartialEq, Message)]
pub struct TypeMeta {
    #[prost(string, tag = "1")]
    pub api_version: String,
    #[prost(string, tag = "2")]
    pub kind: String,
}

/// `runtime.Unknown`: the envelope after the magic.
#[derive(Clone, PartialEq, Message)]
pub struct Unknown {
    #[prost(message, optional, tag = "1")]
    pub type_meta: Option<TypeMeta>,
    #[prost(bytes = "vec", tag = "2")]
    pub raw: Vec<u8>,
    #[prost(string, tag = "3")]
    pub content_encoding: String,
    #[prost(string, tag = "4")]
    pub content_type: String,
}

/// `meta/v1.Time`: seconds only.
#[derive(Clone, PartialEq, Message)]
pub struct Time {
    #[prost(int64, tag = "1")]
    pub seconds: i64,
}

/// `meta/v1.Duration`: nanoseconds.
#[derive(Clone, PartialEq, Message)]
pub struct Duration {
    #[prost(int64, tag = "1")]
    pub duration: i64,
}

/// `resource.Quantity`: its canonical string.
#[derive(Clone, PartialEq, Message)]
pub struct Quantity {
    #[prost(string, tag = "1")]
    pub string: String,
}

/// `meta/v1.ObjectMeta`, the fields metrics objects carry.
#[derive(Clone, PartialEq, Message)]
pub struct ObjectMetaPb {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "3")]
    pub namespace: String,
    #[prost(message, optional, tag = "8")]
    pub creation_timestamp: Option<Time>,
    #[prost(btree_map = "string, string", tag = "11")]
    pub labels: BTreeMap<String, String>,
}

/// `meta/v1.ListMeta` (always empty here: lists have no resourceVersion or continue).
#[derive(Clone, PartialEq, Message)]
pub struct ListMeta {
    #[prost(string, tag = "1")]
    pub self_link: String,
    #[prost(string, tag = "2")]
    pub resource_version: String,
    #[prost(string, tag = "3")]
    pub continue_token: String,
}

/// `metrics/v1beta1.NodeMetrics` (same numbers in v1).
#[derive(Clone, PartialEq, Message)]
pub struct NodeMetrics {
    #[prost(message, optional, tag = "1")]
    pub metadata: Option<ObjectMetaPb>,
    #[prost(message, optional, tag = "2")]
    pub timestamp: Option<Time>,
    #[prost(message, optional, tag = "3")]
    pub window: Option<Duration>,
    #[prost(btree_map = "string, message", tag = "4")]
    pub usage: BTreeMap<String, Quantity>,
}

/// `metrics/v1beta1.ContainerMetrics`.
#[derive(Clone, PartialEq, Message)]
pub struct ContainerMetrics {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(btree_map = "string, message", tag = "2")]
    pub usage: BTreeMap<String, Quantity>,
}

/// `metrics/v1beta1.PodMetrics`.
#[derive(Clone, PartialEq, Message)]
pub struct PodMetrics {
    #[prost(message, optional, tag = "1")]
    pub metadata: Option<ObjectMetaPb>,
    #[prost(message, optional, tag = "2")]
    pub timestamp: Option<Time>,
    #[prost(message, optional, tag = "3")]
    pub window: Option<Duration>,
    #[prost(message, repeated, tag = "4")]
    pub containers: Vec<ContainerMetrics>,
}

/// `metrics/v1beta1.NodeMetricsList`.
#[derive(Clone, PartialEq, Message)]
pub struct NodeMetricsList {
    #[prost(message, optional, tag = "1")]
    pub metadata: Option<ListMeta>,
    #[prost(message, repeated, tag = "2")]
    pub items: Vec<NodeMetrics>,
}

/// `metrics/v1beta1.PodMetricsList`.
#[derive(Clone, PartialEq, Message)]
pub struct PodMetricsList {
    #[prost(message, optional, tag = "1")]
    pub metadata: Option<ListMeta>,
    #[prost(message, repeated, tag = "2")]
    pub items: Vec<PodMetrics>,
}

/// `meta/v1.StatusCause`.
#[derive(Clone, PartialEq, Message)]
pub struct StatusCause {
    #[prost(string, tag = "1")]
    pub reason: String,
    #[prost(string, tag = "2")]
    pub message: String,
    #[prost(string, tag = "3")]
    pub field: String,
}

/// `meta/v1.StatusDetails`.
#[derive(Clone, PartialEq, Message)]
pub struct StatusDetails {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub group: String,
    #[prost(string, tag = "3")]
    pub kind: String,
    #[prost(message, repeated, tag = "4")]
    pub causes: Vec<StatusCause>,
    #[prost(int32, tag = "5")]
    pub retry_after_seconds: i32,
}

/// `meta/v1.Status`.
#[derive(Clone, PartialEq, Message)]
pub struct StatusPb {
    #[prost(message, optional, tag = "1")]
    pub metadata: Option<ListMeta>,
    #[prost(string, tag = "2")]
    pub status: String,
    #[prost(string, tag = "3")]
    pub message: String,
    #[prost(string, tag = "4")]
    pub reason: String,
    #[prost(message, optional, tag = "5")]
    pub details: Option<StatusDetails>,
    #[prost(int32, tag = "6")]
    pub code: i32,
}

fn time(ts: Timestamp) -> Option<Time> {
    Some(Time { seconds: ts.secs() })
}

fn meta(m: &ObjectMeta<'_>) -> Option<ObjectMetaPb> {
    Some(ObjectMetaPb {
        name: m.name.to_owned(),
        namespace: m.namespace.unwrap_or_default().to_owned(),
        creation_timestamp: time(m.creation_timestamp),
        labels: m.labels.cloned().unwrap_or_default(),
    })
}

fn usage(u: &Usage, extra: Option<&ExtraUsage>) -> BTreeMap<String, Quantity> {
    let bytes = |b: u64| Quantity {
        string: quantity::format_memory(b),
    };
    let mut map = BTreeMap::from([
        (
            "cpu".to_owned(),
            Quantity {
                string: quantity::format_cpu(u.cpu_nanocores),
            },
        ),
        ("memory".to_owned(), bytes(u.memory_bytes)),
    ]);
    let extra = extra.copied().unwrap_or_default();
    if let Some(b) = extra.ephemeral_storage_bytes {
        map.insert(EPHEMERAL_STORAGE.to_owned(), bytes(b));
    }
    if let Some(b) = extra.swap_bytes {
        map.insert(SWAP.to_owned(), bytes(b));
    }
    map
}

fn node(item: &NodeItem<'_>) -> NodeMetrics {
    NodeMetrics {
        metadata: meta(&item.meta),
        timestamp: time(item.usage.timestamp),
        window: Some(Duration {
            duration: item.usage.window_ns,
        }),
        usage: usage(&item.usage.usage, item.extra),
    }
}

/// The `prost` message of a pod: what [`pod_entry`] writes without building it.
#[cfg(test)]
fn pod(item: &PodItem<'_>) -> PodMetrics {
    PodMetrics {
        metadata: meta(&item.meta),
        timestamp: time(item.usage.timestamp),
        window: Some(Duration {
            duration: item.usage.window_ns,
        }),
        containers: item
            .usage
            .containers
            .iter()
            .enumerate()
            .map(|(i, c)| ContainerMetrics {
                name: c.name.to_string(),
                usage: usage(&c.usage, item.container_extra(i)),
            })
            .collect(),
    }
}

/// Appends magic + `Unknown{typeMeta, raw}` around `object`.
fn envelope(out: &mut Vec<u8>, api_version: &str, kind: &str, object: &impl Message) {
    envelope_raw(out, api_version, kind, object.encode_to_vec());
}

/// Appends magic + `Unknown{typeMeta, raw}` around an encoded object.
fn envelope_raw(out: &mut Vec<u8>, api_version: &str, kind: &str, raw: Vec<u8>) {
    let unknown = Unknown {
        type_meta: Some(TypeMeta {
            api_version: api_version.to_owned(),
            kind: kind.to_owned(),
        }),
        raw,
        content_encoding: String::new(),
        content_type: String::new(),
    };
    out.reserve(MAGIC.len() + unknown.encoded_len());
    out.extend_from_slice(MAGIC);
    unknown.encode_raw(out);
}

/// A NodeMetrics GET body.
pub fn write_node_metrics(out: &mut Vec<u8>, api: ApiVersion, item: &NodeItem<'_>) {
    envelope(out, api.group_version(), "NodeMetrics", &node(item));
}

/// A NodeMetricsList body.
pub fn write_node_metrics_list(out: &mut Vec<u8>, api: ApiVersion, items: &[NodeItem<'_>]) {
    let list = NodeMetricsList {
        metadata: Some(ListMeta::default()),
        items: items.iter().map(node).collect(),
    };
    envelope(out, api.group_version(), "NodeMetricsList", &list);
}

/// A PodMetrics GET body.
pub fn write_pod_metrics(out: &mut Vec<u8>, api: ApiVersion, item: &PodItem<'_>) {
    let mut raw = Vec::with_capacity(256);
    pod_entry::write_pod(&mut raw, item);
    envelope_raw(out, api.group_version(), "PodMetrics", raw);
}

/// A PodMetricsList body.
pub fn write_pod_metrics_list(out: &mut Vec<u8>, api: ApiVersion, items: &[PodItem<'_>]) {
    let mut entries = Vec::with_capacity(items.len() * 192);
    for item in items {
        pod_entry::write_list_entry(&mut entries, item);
    }
    out.extend_from_slice(&pod_list_head(api, entries.len()));
    out.extend_from_slice(&entries);
}

/// Appends one `items` entry (field 2, length-delimited) of a PodMetricsList: the pieces a
/// cached list is made of.
pub fn write_pod_list_entry(out: &mut Vec<u8>, item: &PodItem<'_>) {
    pod_entry::write_list_entry(out, item);
}

/// The bytes of a PodMetricsList body before its entries, for entries of `entries_len` bytes:
/// magic, `Unknown.typeMeta`, the `raw` key and length, and the list's empty `metadata`.
/// Followed by the entries, this is byte-identical to [`write_pod_metrics_list`].
pub fn pod_list_head(api: ApiVersion, entries_len: usize) -> Vec<u8> {
    use prost::encoding::{WireType, encode_key, encode_varint};
    let type_meta = TypeMeta {
        api_version: api.group_version().to_owned(),
        kind: "PodMetricsList".to_owned(),
    };
    let mut list_meta = Vec::new();
    prost::encoding::message::encode(1, &ListMeta::default(), &mut list_meta);
    let mut out = Vec::with_capacity(64);
    out.extend_from_slice(MAGIC);
    prost::encoding::message::encode(1, &type_meta, &mut out);
    encode_key(2, WireType::LengthDelimited, &mut out);
    encode_varint((list_meta.len() + entries_len) as u64, &mut out);
    out.extend_from_slice(&list_meta);
    out
}

/// A `Status` error body for a client that negotiated protobuf (the apiserver encodes errors
/// with the negotiated serializer).
pub fn status(status: &Status) -> Vec<u8> {
    let details = status.details.as_ref().map(|d| StatusDetails {
        name: d.name.clone(),
        group: d.group.clone(),
        kind: d.kind.clone(),
        causes: d
            .causes
            .iter()
            .map(|m| StatusCause {
                message: m.clone(),
                ..StatusCause::default()
            })
            .collect(),
        retry_after_seconds: i32::try_from(d.retry_after_seconds).unwrap_or(i32::MAX),
    });
    let pb = StatusPb {
        metadata: Some(ListMeta::default()),
        status: "Failure".to_owned(),
        message: status.message.clone(),
        reason: status.reason.to_owned(),
        details,
        code: i32::from(status.code),
    };
    let mut out = Vec::new();
    envelope(&mut out, "v1", "Status", &pb);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_starts_with_magic_and_type_meta() {
        let mut out = Vec::new();
        envelope(
            &mut out,
            "metrics.k8s.io/v1beta1",
            "NodeMetricsList",
            &ListMeta::default(),
        );
        assert_eq!(&out[..4], b"k8s\0");
        let unknown = Unknown::decode(&out[4..]).unwrap();
        let tm = unknown.type_meta.unwrap();
        assert_eq!(tm.api_version, "metrics.k8s.io/v1beta1");
        assert_eq!(tm.kind, "NodeMetricsList");
        assert!(unknown.raw.is_empty());
    }

    #[test]
    fn pod_bodies_are_the_bytes_of_the_prost_messages() {
        let labels = BTreeMap::from([("app".to_owned(), "web".to_owned())]);
        let usages: Vec<_> = (1..=3)
            .map(crate::api::list_cache::test_items::usage)
            .collect();
        let items: Vec<_> = usages
            .iter()
            .enumerate()
            .map(|(i, u)| {
                let name = ["a", "b", "c"][i];
                PodItem::new(
                    "team-a",
                    name,
                    &labels,
                    Timestamp::from_secs(1_700_000_100),
                    u,
                )
            })
            .collect();
        for api in [ApiVersion::V1beta1, ApiVersion::V1] {
            let (mut ours, mut want) = (Vec::new(), Vec::new());
            write_pod_metrics_list(&mut ours, api, &items);
            let list = PodMetricsList {
                metadata: Some(ListMeta::default()),
                items: items.iter().map(pod).collect(),
            };
            envelope(&mut want, api.group_version(), "PodMetricsList", &list);
            assert_eq!(ours, want, "{api:?} list");
            let (mut ours, mut want) = (Vec::new(), Vec::new());
            write_pod_metrics(&mut ours, api, &items[1]);
            envelope(
                &mut want,
                api.group_version(),
                "PodMetrics",
                &pod(&items[1]),
            );
            assert_eq!(ours, want, "{api:?} get");
        }
    }

    #[test]
    fn time_has_seconds_only() {
        let ts = Timestamp(1_700_000_000_987_654_321);
        let bytes = time(ts).unwrap().encode_to_vec();
        // field 1 varint, nothing else
        assert_eq!(bytes[0], 0x08);
        assert_eq!(Time::decode(&bytes[..]).unwrap().seconds, 1_700_000_000);
    }
}
