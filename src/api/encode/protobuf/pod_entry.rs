//! PodMetrics written straight from the borrowed item, without building `prost` messages: a
//! pod list of 150,000 items otherwise clones every name, label set and container name into
//! owned messages and frees them again. The bytes are those `prost` writes for
//! [`super::PodMetrics`] (fields in tag order, empty strings and zero numbers left out, map
//! entries sorted by key), which the tests check.

use crate::api::encode::{ObjectMeta, PodItem, quantity};
use crate::usage::{EPHEMERAL_STORAGE, ExtraUsage, SWAP, Usage};
use crate::wire::labels;
use crate::wire::protobuf_field::{delimited, int64, string};

/// Appends a PodMetricsList `items` entry (field 2) for `item`.
pub fn write_list_entry(out: &mut Vec<u8>, item: &PodItem<'_>) {
    delimited(out, 2, |out| write_pod(out, item));
}

/// Appends the fields of the PodMetrics message for `item`.
pub fn write_pod(out: &mut Vec<u8>, item: &PodItem<'_>) {
    delimited(out, 1, |out| object_meta(out, &item.meta));
    delimited(out, 2, |out| int64(out, 1, item.usage.timestamp.secs()));
    delimited(out, 3, |out| int64(out, 1, item.usage.window_ns));
    for (i, container) in item.usage.containers.iter().enumerate() {
        delimited(out, 4, |out| {
            string(out, 1, &container.name);
            usage(out, 2, &container.usage, item.container_extra(i));
        });
    }
}

fn object_meta(out: &mut Vec<u8>, meta: &ObjectMeta<'_>) {
    string(out, 1, meta.name);
    string(out, 3, meta.namespace.unwrap_or_default());
    delimited(out, 8, |out| int64(out, 1, meta.creation_timestamp.secs()));
    match (meta.encoded_labels, meta.labels) {
        (Some(encoded), _) => out.extend_from_slice(encoded.protobuf()),
        (None, Some(set)) => labels::write_protobuf(out, set),
        (None, None) => {}
    }
}

/// A `map<string, Quantity>` of CPU and memory, and of `extra`'s swap and ephemeral storage
/// when present (entries in key order).
fn usage(out: &mut Vec<u8>, tag: u32, usage: &Usage, extra: Option<&ExtraUsage>) {
    let extra = extra.copied().unwrap_or_default();
    delimited(out, tag, |out| {
        string(out, 1, "cpu");
        delimited(out, 2, |out| {
            delimited(out, 1, |out| quantity::write_cpu(out, usage.cpu_nanocores));
        });
    });
    if let Some(bytes) = extra.ephemeral_storage_bytes {
        bytes_entry(out, tag, EPHEMERAL_STORAGE, bytes);
    }
    bytes_entry(out, tag, "memory", usage.memory_bytes);
    if let Some(bytes) = extra.swap_bytes {
        bytes_entry(out, tag, SWAP, bytes);
    }
}

/// One map entry of a quantity in bytes.
fn bytes_entry(out: &mut Vec<u8>, tag: u32, key: &str, bytes: u64) {
    delimited(out, tag, |out| {
        string(out, 1, key);
        delimited(out, 2, |out| {
            delimited(out, 1, |out| quantity::write_memory(out, bytes));
        });
    });
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use prost::Message;

    use super::*;
    use crate::api::encode::protobuf::{PodMetrics, pod};
    use crate::time::Timestamp;
    use crate::usage::{ContainerUsage, PodUsage};

    fn container(name: &str, cpu_nanocores: u64, memory_bytes: u64) -> ContainerUsage {
        ContainerUsage {
            name: name.into(),
            usage: Usage {
                cpu_nanocores,
                memory_bytes,
            },
        }
    }

    /// What `prost` writes for the same pod, as a list entry.
    fn prost_entry(item: &PodItem<'_>) -> Vec<u8> {
        let mut out = Vec::new();
        prost::encoding::message::encode(2, &pod(item), &mut out);
        out
    }

    #[test]
    fn entries_are_the_bytes_prost_writes() {
        let long_value = "v".repeat(300);
        let label_sets = [
            BTreeMap::new(),
            BTreeMap::from([("app".to_owned(), "web".to_owned())]),
            // An empty value (left out inside the entry) and a value long enough for a
            // two-byte length at every level around it.
            BTreeMap::from([
                ("a".to_owned(), String::new()),
                ("big".to_owned(), long_value.clone()),
            ]),
        ];
        let usages = [
            PodUsage {
                node: "n".into(),
                timestamp: Timestamp::from_secs(1_700_000_000),
                window_ns: 15_004_000_000,
                containers: smallvec::smallvec![container("app", 12_345_678, 40 << 20)],
            },
            // Zero usage, zero window and time (left out), three containers.
            PodUsage {
                node: "n".into(),
                timestamp: Timestamp(0),
                window_ns: 0,
                containers: smallvec::smallvec![
                    container("app", 0, 0),
                    container("istio-proxy", 5_000_000, 1536),
                    container("log-shipper", u64::MAX, u64::MAX),
                ],
            },
        ];
        for labels in &label_sets {
            for usage in &usages {
                for (namespace, created) in [("team-a", 1_700_000_100), ("", 0)] {
                    let item = PodItem::new(
                        namespace,
                        "web-6d8f9c7b5d-x2x9z",
                        labels,
                        Timestamp::from_secs(created),
                        usage,
                    );
                    let mut ours = Vec::new();
                    write_list_entry(&mut ours, &item);
                    assert_eq!(ours, prost_entry(&item), "labels {labels:?}, {usage:?}");
                }
            }
        }
    }

    #[test]
    fn entries_with_extra_resources_are_the_bytes_prost_writes() {
        let labels = BTreeMap::new();
        let usage = PodUsage {
            node: "n".into(),
            timestamp: Timestamp::from_secs(1_700_000_000),
            window_ns: 15_004_000_000,
            containers: smallvec::smallvec![
                container("app", 12_345_678, 40 << 20),
                container("sidecar", 5_000_000, 1536)
            ],
        };
        let figures = [
            ExtraUsage {
                swap_bytes: Some(3 << 20),
                ephemeral_storage_bytes: Some(40 << 20),
            },
            ExtraUsage {
                swap_bytes: None,
                ephemeral_storage_bytes: Some(0),
            },
        ];
        for extra in [&figures[..], &figures[..1], &[ExtraUsage::default(); 2][..]] {
            let item = PodItem::new("ns", "p", &labels, Timestamp::from_secs(1), &usage)
                .with_extra(Some(extra));
            let mut ours = Vec::new();
            write_list_entry(&mut ours, &item);
            assert_eq!(ours, prost_entry(&item), "{extra:?}");
        }
        let item = PodItem::new("ns", "p", &labels, Timestamp::from_secs(1), &usage)
            .with_extra(Some(&figures));
        let mut raw = Vec::new();
        write_pod(&mut raw, &item);
        let decoded = PodMetrics::decode(&raw[..]).unwrap();
        let app = &decoded.containers[0].usage;
        let keys: Vec<_> = app.keys().map(String::as_str).collect();
        assert_eq!(keys, ["cpu", "ephemeral-storage", "memory", "swap"]);
        assert_eq!(app["ephemeral-storage"].string, "40Mi");
        assert_eq!(app["swap"].string, "3Mi");
        let sidecar = &decoded.containers[1].usage;
        assert_eq!(sidecar["ephemeral-storage"].string, "0");
        assert!(!sidecar.contains_key("swap"));
        // Without figures: the bytes of a pod without extra resources.
        let plain = PodItem::new("ns", "p", &labels, Timestamp::from_secs(1), &usage);
        let (mut with_none, mut without) = (Vec::new(), Vec::new());
        write_list_entry(&mut with_none, &plain.with_extra(None));
        write_list_entry(&mut without, &plain);
        assert_eq!(with_none, without);
    }

    #[test]
    fn a_written_pod_decodes_to_its_values() {
        let labels = BTreeMap::from([("app".to_owned(), "web".to_owned())]);
        let usage = PodUsage {
            node: "n".into(),
            timestamp: Timestamp::from_secs(1_700_000_000),
            window_ns: 15_004_000_000,
            containers: smallvec::smallvec![
                container("app", 12_345_678, 40 << 20),
                container("sidecar", 5_000_000, 1536)
            ],
        };
        let item = PodItem::new(
            "team-a",
            "web-1",
            &labels,
            Timestamp::from_secs(1_700_000_100),
            &usage,
        );
        let mut raw = Vec::new();
        write_pod(&mut raw, &item);
        let decoded = PodMetrics::decode(&raw[..]).unwrap();
        let meta = decoded.metadata.unwrap();
        assert_eq!(
            (meta.namespace.as_str(), meta.name.as_str()),
            ("team-a", "web-1")
        );
        assert_eq!(meta.labels, labels);
        assert_eq!(decoded.timestamp.unwrap().seconds, 1_700_000_000);
        assert_eq!(decoded.window.unwrap().duration, 15_004_000_000);
        let names: Vec<_> = decoded.containers.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["app", "sidecar"]);
        let sidecar = &decoded.containers[1].usage;
        assert_eq!(sidecar["cpu"].string, "5m");
        assert_eq!(sidecar["memory"].string, "1536");
    }
}
