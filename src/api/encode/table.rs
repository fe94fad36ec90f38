//! Server-side `meta.k8s.io` Tables for `kubectl get nodemetrics|podmetrics` (upstream spec
//! §2.6, ports metrics-server's `pkg/api/table.go` and the apiserver's `asTable`).
//!
//! Columns: `Name` (format name), `cpu`, `memory` (format quantity), `Window` (format
//! duration). With extra resources served (`--extra-resources`), their columns come among the
//! quantities in name order, as upstream's table.go orders the keys of any usage map:
//! `cpu`, `ephemeral-storage`, `memory`, `swap`; a node or pod without that figure (a pod:
//! when one of its containers lacks it) shows `<unknown>`, as `kubectl top` does for a missing
//! item. Pod cells are the exact sum over containers, then formatted. Row `object` is a
//! `PartialObjectMetadata` of the Table's own group version (the default), the full object
//! (`includeObject=Object`) or `null` (`includeObject=None`). `metadata` is `{}` because the
//! Table's `resourceVersion` is empty and Go omits it.
//!
//! One deliberate difference: upstream takes the columns from the first row, so an empty
//! Table has `"columnDefinitions":null,"rows":null`; here the four columns and `"rows":[]` are
//! always written (kubectl prints "No resources found" for both).

use super::json::Doc;
use super::{ApiVersion, IncludeObject, NodeItem, ObjectMeta, PodItem, TableVersion, quantity};
use crate::usage::{ExtraResources, ExtraUsage, Usage};

const NAME_COLUMN: &str = r#"{"name":"Name","type":"string","format":"name","description":"Name of the resource","priority":0},"#;
const CPU_COLUMN: &str =
    r#"{"name":"cpu","type":"string","format":"quantity","description":"","priority":0},"#;
const STORAGE_COLUMN: &str = r#"{"name":"ephemeral-storage","type":"string","format":"quantity","description":"","priority":0},"#;
const MEMORY_COLUMN: &str =
    r#"{"name":"memory","type":"string","format":"quantity","description":"","priority":0},"#;
const SWAP_COLUMN: &str =
    r#"{"name":"swap","type":"string","format":"quantity","description":"","priority":0},"#;
const WINDOW_COLUMN: &str =
    r#"{"name":"Window","type":"string","format":"duration","description":"","priority":0}"#;

/// A cell of an extra resource that a row lacks.
const UNKNOWN: &str = "<unknown>";

/// One row's quantities: exact totals (see [`quantity::cpu_value`]); an extra one is `None`
/// when not a column, `Some(None)` when the row lacks it.
struct Quantities {
    cpu: u128,
    memory: u128,
    storage: Option<Option<u128>>,
    swap: Option<Option<u128>>,
}

/// A Table of NodeMetrics (a list, or one row for a single-object GET), followed by `\n`;
/// `extra`: the extra resources served (their columns).
pub fn write_node_table(
    out: &mut Vec<u8>,
    version: TableVersion,
    items: &[NodeItem<'_>],
    include: IncludeObject,
    api: ApiVersion,
    extra: ExtraResources,
) {
    write_table(out, version, items, extra, |doc, item| {
        let usage = &item.usage.usage;
        let figures = item.extra.copied().unwrap_or_default();
        let quantities = Quantities {
            cpu: cpu_of(usage),
            memory: memory_of(usage),
            storage: extra
                .ephemeral_storage
                .then(|| figures.ephemeral_storage_bytes.map(quantity::memory_value)),
            swap: extra
                .swap
                .then(|| figures.swap_bytes.map(quantity::memory_value)),
        };
        cells(doc, item.meta.name, &quantities, item.usage.window_ns);
        doc.raw(",\"object\":");
        match include {
            IncludeObject::None => doc.raw("null"),
            IncludeObject::Metadata => partial_metadata(doc, version, &item.meta),
            IncludeObject::Object => doc.node(item, Some(api)),
        }
    });
}

/// A Table of PodMetrics (cells hold the sum over containers), followed by `\n`; `extra`:
/// the extra resources served (their columns).
pub fn write_pod_table(
    out: &mut Vec<u8>,
    version: TableVersion,
    items: &[PodItem<'_>],
    include: IncludeObject,
    api: ApiVersion,
    extra: ExtraResources,
) {
    write_table(out, version, items, extra, |doc, item| {
        let containers = &item.usage.containers;
        let extra_sum = |figure: fn(&ExtraUsage) -> Option<u64>| {
            (0..containers.len())
                .map(|i| item.container_extra(i).and_then(figure))
                .map(|bytes| bytes.map(quantity::memory_value))
                .sum::<Option<u128>>()
        };
        let quantities = Quantities {
            cpu: containers.iter().map(|c| cpu_of(&c.usage)).sum(),
            memory: containers.iter().map(|c| memory_of(&c.usage)).sum(),
            storage: extra
                .ephemeral_storage
                .then(|| extra_sum(|f| f.ephemeral_storage_bytes)),
            swap: extra.swap.then(|| extra_sum(|f| f.swap_bytes)),
        };
        cells(doc, item.meta.name, &quantities, item.usage.window_ns);
        doc.raw(",\"object\":");
        match include {
            IncludeObject::None => doc.raw("null"),
            IncludeObject::Metadata => partial_metadata(doc, version, &item.meta),
            IncludeObject::Object => doc.pod(item, Some(api)),
        }
    });
}

fn cpu_of(usage: &Usage) -> u128 {
    quantity::cpu_value(usage.cpu_nanocores)
}

fn memory_of(usage: &Usage) -> u128 {
    quantity::memory_value(usage.memory_bytes)
}

/// The Table envelope; `row` writes `"cells":[…],"object":…` for one item.
fn write_table<T>(
    out: &mut Vec<u8>,
    version: TableVersion,
    items: &[T],
    extra: ExtraResources,
    mut row: impl FnMut(&mut Doc<'_>, &T),
) {
    let mut doc = Doc::new(out);
    doc.raw("{\"kind\":\"Table\",\"apiVersion\":\"");
    doc.raw(version.group_version());
    doc.raw("\",\"metadata\":{},");
    doc.raw("\"columnDefinitions\":[");
    doc.raw(NAME_COLUMN);
    doc.raw(CPU_COLUMN);
    if extra.ephemeral_storage {
        doc.raw(STORAGE_COLUMN);
    }
    doc.raw(MEMORY_COLUMN);
    if extra.swap {
        doc.raw(SWAP_COLUMN);
    }
    doc.raw(WINDOW_COLUMN);
    doc.raw("],\"rows\":[");
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            doc.raw(",");
        }
        doc.raw("{");
        row(&mut doc, item);
        doc.raw("}");
    }
    doc.raw("]}\n");
}

/// `"cells":[name, cpu, memory, window]`, with the extra columns' cells in their places.
fn cells(doc: &mut Doc<'_>, name: &str, q: &Quantities, window_ns: i64) {
    doc.raw("\"cells\":[");
    doc.string(name);
    doc.raw(",\"");
    quantity::write_cpu_total(doc.out, q.cpu);
    if let Some(storage) = q.storage {
        bytes_cell(doc, storage);
    }
    doc.raw("\",\"");
    quantity::write_memory_total(doc.out, q.memory);
    if let Some(swap) = q.swap {
        bytes_cell(doc, swap);
    }
    doc.raw("\",");
    doc.duration(window_ns);
    doc.raw("]");
}

/// `","<bytes or <unknown>>`: closes the previous cell's quote and leaves this one's open.
fn bytes_cell(doc: &mut Doc<'_>, total: Option<u128>) {
    doc.raw("\",\"");
    match total {
        Some(total) => quantity::write_memory_total(doc.out, total),
        None => doc.raw(UNKNOWN),
    }
}

/// `{"kind":"PartialObjectMetadata","apiVersion":"meta.k8s.io/<table version>","metadata":…}`.
fn partial_metadata(doc: &mut Doc<'_>, version: TableVersion, meta: &ObjectMeta<'_>) {
    doc.raw("{\"kind\":\"PartialObjectMetadata\",\"apiVersion\":\"");
    doc.raw(version.group_version());
    doc.raw("\",\"metadata\":");
    doc.object_meta(meta);
    doc.raw("}");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Timestamp;
    use crate::usage::{ContainerUsage, NodeUsage, PodUsage};

    fn node_usage() -> NodeUsage {
        NodeUsage {
            timestamp: Timestamp::from_secs(1_000),
            window_ns: 1_000,
            usage: Usage {
                cpu_nanocores: 10_000_000,
                memory_bytes: 5 << 20,
            },
        }
    }

    fn meta(name: &str) -> ObjectMeta<'_> {
        ObjectMeta {
            name,
            namespace: None,
            labels: None,
            encoded_labels: None,
            creation_timestamp: Timestamp(0),
        }
    }

    fn table(items: &[NodeItem<'_>], include: IncludeObject, v: TableVersion) -> serde_json::Value {
        let mut out = Vec::new();
        write_node_table(
            &mut out,
            v,
            items,
            include,
            ApiVersion::V1beta1,
            ExtraResources::NONE,
        );
        assert_eq!(out.last(), Some(&b'\n'));
        serde_json::from_slice(&out).unwrap()
    }

    #[test]
    fn node_row_cells_match_upstream_table_test() {
        let usage = node_usage();
        let t = table(
            &[NodeItem {
                meta: meta("n1"),
                usage: &usage,
                extra: None,
            }],
            IncludeObject::Metadata,
            TableVersion::V1,
        );
        assert_eq!(
            t["rows"][0]["cells"],
            serde_json::json!(["n1", "10m", "5Mi", "1\u{b5}s"])
        );
        assert_eq!(t["rows"][0]["object"]["kind"], "PartialObjectMetadata");
        assert_eq!(t["rows"][0]["object"]["apiVersion"], "meta.k8s.io/v1");
        assert_eq!(t["metadata"], serde_json::json!({}));
        let names: Vec<_> = t["columnDefinitions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].clone())
            .collect();
        assert_eq!(names, ["Name", "cpu", "memory", "Window"]);
    }

    #[test]
    fn include_object_variants() {
        let usage = node_usage();
        let items = [NodeItem {
            meta: meta("n1"),
            usage: &usage,
            extra: None,
        }];
        let none = table(&items, IncludeObject::None, TableVersion::V1beta1);
        assert!(none["rows"][0]["object"].is_null());
        assert_eq!(none["apiVersion"], "meta.k8s.io/v1beta1");
        let full = table(&items, IncludeObject::Object, TableVersion::V1);
        assert_eq!(full["rows"][0]["object"]["kind"], "NodeMetrics");
        assert_eq!(
            full["rows"][0]["object"]["apiVersion"],
            "metrics.k8s.io/v1beta1"
        );
        assert_eq!(full["rows"][0]["object"]["usage"]["memory"], "5Mi");
        let partial = table(&items, IncludeObject::Metadata, TableVersion::V1beta1);
        assert_eq!(
            partial["rows"][0]["object"]["apiVersion"],
            "meta.k8s.io/v1beta1"
        );
    }

    #[test]
    fn empty_table_keeps_columns_and_has_no_rows() {
        let t = table(&[], IncludeObject::Metadata, TableVersion::V1);
        assert_eq!(t["rows"], serde_json::json!([]));
        assert_eq!(t["columnDefinitions"].as_array().unwrap().len(), 4);
    }

    #[test]
    fn pod_cells_sum_containers_even_when_empty() {
        let pod = PodUsage {
            node: "n1".into(),
            timestamp: Timestamp(0),
            window_ns: 15_004_000_000,
            containers: smallvec::smallvec![ContainerUsage {
                name: "a".into(),
                usage: Usage::default(),
            }],
        };
        let mut out = Vec::new();
        let items = [PodItem {
            meta: meta("p"),
            usage: &pod,
            extra: None,
        }];
        write_pod_table(
            &mut out,
            TableVersion::V1,
            &items,
            IncludeObject::None,
            ApiVersion::V1,
            ExtraResources::NONE,
        );
        let t: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(
            t["rows"][0]["cells"],
            serde_json::json!(["p", "0", "0", "15.004s"])
        );
    }
}
