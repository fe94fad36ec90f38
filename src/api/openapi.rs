//! OpenAPI documents for the aggregator (upstream spec §2.11): `/openapi/v2`, the `/openapi/v3`
//! index and `/openapi/v3/apis/metrics.k8s.io/{v1beta1,v1}`, titled `Kubernetes
//! metrics-server` with our version. kube-apiserver merges v2 into the cluster document and
//! proxies the v3 group-version documents, which is what `kubectl explain podmetrics` reads.
//!
//! Definitions follow upstream's generated ones (`NodeMetrics` requires `timestamp`, `window`,
//! `usage`), with `x-kubernetes-group-version-kind` on the four top-level kinds. The documents
//! are built once, on first use, and served from memory.

use std::sync::OnceLock;

use serde_json::{Map, Value, json};

use super::encode::ApiVersion;

/// `info.title` of every document (upstream's).
pub const TITLE: &str = "Kubernetes metrics-server";

const META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1";
const QUANTITY: &str = "io.k8s.apimachinery.pkg.api.resource.Quantity";

/// Definition name prefix of the metrics types of `v`.
fn metrics_prefix(v: ApiVersion) -> String {
    format!("io.k8s.metrics.pkg.apis.metrics.{}", v.as_str())
}

fn version() -> String {
    format!("v{}", env!("CARGO_PKG_VERSION"))
}

/// Builds `$ref` values for one document flavour (`#/definitions/` or `#/components/schemas/`).
struct Refs(&'static str);

impl Refs {
    fn to(&self, name: &str) -> Value {
        json!({ "$ref": format!("{}{name}", self.0) })
    }

    /// A reference with a default, in the form each OpenAPI version allows.
    fn with_default(&self, name: &str) -> Value {
        if self.0.starts_with("#/components") {
            json!({ "allOf": [self.to(name)], "default": {} })
        } else {
            let mut r = self.to(name);
            r["default"] = json!({});
            r
        }
    }
}

fn gvk(v: ApiVersion, kind: &str) -> Value {
    json!([{ "group": "metrics.k8s.io", "kind": kind, "version": v.as_str() }])
}

fn type_meta_props(props: &mut Map<String, Value>) {
    props.insert("apiVersion".into(), json!({
        "description": "APIVersion defines the versioned schema of this representation of an object. Servers should convert recognized schemas to the latest internal value, and may reject unrecognized values. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources",
        "type": "string"
    }));
    props.insert("kind".into(), json!({
        "description": "Kind is a string value representing the REST resource this object represents. Servers may infer this from the endpoint the client submits requests to. Cannot be updated. In CamelCase. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds",
        "type": "string"
    }));
}

fn usage(r: &Refs) -> Value {
    json!({
        "description": "The memory usage is the memory working set.",
        "type": "object",
        "additionalProperties": r.with_default(QUANTITY)
    })
}

fn metrics_definitions(v: ApiVersion, r: &Refs) -> Map<String, Value> {
    let p = metrics_prefix(v);
    let interval = "The following fields define time interval from which metrics were collected from the interval [Timestamp-Window, Timestamp].";
    let mut node_props = Map::new();
    type_meta_props(&mut node_props);
    node_props.insert("metadata".into(), meta_ref(r, "ObjectMeta", "Standard object's metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata"));
    node_props.insert(
        "timestamp".into(),
        described(r.with_default(&format!("{META}.Time")), interval),
    );
    node_props.insert("window".into(), r.with_default(&format!("{META}.Duration")));
    let mut pod_props = node_props.clone();
    node_props.insert("usage".into(), usage(r));
    pod_props.insert(
        "containers".into(),
        json!({
            "description": "Metrics for all containers are collected within the same time window.",
            "type": "array",
            "items": r.with_default(&format!("{p}.ContainerMetrics")),
            "x-kubernetes-list-type": "atomic"
        }),
    );
    let mut defs = Map::new();
    defs.insert(format!("{p}.ContainerMetrics"), json!({
        "description": "ContainerMetrics sets resource usage metrics of a container.",
        "type": "object",
        "required": ["name", "usage"],
        "properties": {
            "name": { "description": "Container name corresponding to the one from pod.spec.containers.", "type": "string", "default": "" },
            "usage": usage(r)
        }
    }));
    defs.insert(
        format!("{p}.NodeMetrics"),
        json!({
            "description": "NodeMetrics sets resource usage metrics of a node.",
            "type": "object",
            "required": ["timestamp", "window", "usage"],
            "properties": node_props,
            "x-kubernetes-group-version-kind": gvk(v, "NodeMetrics")
        }),
    );
    defs.insert(
        format!("{p}.PodMetrics"),
        json!({
            "description": "PodMetrics sets resource usage metrics of a pod.",
            "type": "object",
            "required": ["timestamp", "window", "containers"],
            "properties": pod_props,
            "x-kubernetes-group-version-kind": gvk(v, "PodMetrics")
        }),
    );
    for (kind, item, what) in [
        ("NodeMetricsList", "NodeMetrics", "node"),
        ("PodMetricsList", "PodMetrics", "pod"),
    ] {
        let mut props = Map::new();
        type_meta_props(&mut props);
        props.insert("metadata".into(), meta_ref(r, "ListMeta", "Standard list metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds"));
        props.insert(
            "items".into(),
            json!({
                "description": format!("List of {what} metrics."),
                "type": "array",
                "items": r.with_default(&format!("{p}.{item}"))
            }),
        );
        defs.insert(
            format!("{p}.{kind}"),
            json!({
                "description": format!("{kind} is a list of {item}."),
                "type": "object",
                "required": ["items"],
                "properties": props,
                "x-kubernetes-group-version-kind": gvk(v, kind)
            }),
        );
    }
    defs
}

fn described(mut schema: Value, description: &str) -> Value {
    schema["description"] = json!(description);
    schema
}

fn meta_ref(r: &Refs, name: &str, description: &str) -> Value {
    described(r.with_default(&format!("{META}.{name}")), description)
}

/// The apimachinery types the metrics types refer to (the fields these objects use).
fn meta_definitions(r: &Refs) -> Map<String, Value> {
    let string = |d: &str| json!({ "description": d, "type": "string" });
    let mut defs = Map::new();
    defs.insert(QUANTITY.into(), json!({
        "description": "Quantity is a fixed-point representation of a number. It provides convenient marshaling/unmarshaling in JSON and YAML, in addition to String() and AsInt64() accessors. CPU is in cores (\"250m\", \"67330954n\"), memory in bytes (\"12240Ki\").",
        "type": "string"
    }));
    defs.insert(format!("{META}.Time"), json!({
        "description": "Time is a wrapper around time.Time which supports correct marshaling to YAML and JSON. Wrappers are provided for many of the factory methods that the time package offers.",
        "type": "string",
        "format": "date-time"
    }));
    defs.insert(format!("{META}.Duration"), json!({
        "description": "Duration is a wrapper around time.Duration which supports correct marshaling to YAML and JSON. In particular, it marshals into strings, which can be used as map keys in json.",
        "type": "string"
    }));
    defs.insert(format!("{META}.ObjectMeta"), json!({
        "description": "ObjectMeta is metadata that all persisted resources must have, which includes all objects users must create.",
        "type": "object",
        "properties": {
            "name": string("Name must be unique within a namespace."),
            "namespace": string("Namespace defines the space within which each name must be unique."),
            "creationTimestamp": described(r.with_default(&format!("{META}.Time")), "CreationTimestamp is a timestamp representing the server time when this object was created. For metrics, the time of the request."),
            "labels": {
                "description": "Map of string keys and values that can be used to organize and categorize (scope and select) objects: the labels of the node or pod.",
                "type": "object",
                "additionalProperties": { "type": "string", "default": "" }
            }
        }
    }));
    defs.insert(format!("{META}.ListMeta"), json!({
        "description": "ListMeta describes metadata that synthetic resources must have, including lists and various status objects.",
        "type": "object",
        "properties": {
            "continue": string("continue may be set if the user set a limit on the number of items returned (never, here)."),
            "resourceVersion": string("String that identifies the server's internal version of this object (always empty, here)."),
            "selfLink": string("Deprecated: selfLink is a legacy read-only field that is no longer populated by the system.")
        }
    }));
    defs
}

fn definitions(versions: &[ApiVersion], r: &Refs) -> Map<String, Value> {
    let mut defs = meta_definitions(r);
    for v in versions {
        defs.extend(metrics_definitions(*v, r));
    }
    defs
}

/// (path, kind returned, is list, path parameters)
fn operations(v: ApiVersion) -> Vec<(String, &'static str, bool, &'static [&'static str])> {
    let base = format!("/apis/metrics.k8s.io/{}", v.as_str());
    vec![
        (format!("{base}/nodes"), "NodeMetricsList", true, &[]),
        (
            format!("{base}/nodes/{{name}}"),
            "NodeMetrics",
            false,
            &["name"],
        ),
        (format!("{base}/pods"), "PodMetricsList", true, &[]),
        (
            format!("{base}/namespaces/{{namespace}}/pods"),
            "PodMetricsList",
            true,
            &["namespace"],
        ),
        (
            format!("{base}/namespaces/{{namespace}}/pods/{{name}}"),
            "PodMetrics",
            false,
            &["namespace", "name"],
        ),
    ]
}

fn path_item(v: ApiVersion, r: &Refs, kind: &str, list: bool, params: &[&str], v3: bool) -> Value {
    let schema = r.to(&format!("{}.{kind}", metrics_prefix(v)));
    let ok = if v3 {
        json!({ "description": "OK", "content": { "application/json": { "schema": schema } } })
    } else {
        json!({ "description": "OK", "schema": schema })
    };
    let item = kind.trim_end_matches("List");
    let action = if list { "list" } else { "read" };
    let op_kind = if list && !params.contains(&"namespace") && item == "PodMetrics" {
        format!("{item}ForAllNamespaces")
    } else if params.contains(&"namespace") {
        format!("Namespaced{item}")
    } else {
        item.to_owned()
    };
    let version = v.as_str();
    let cap = format!("{}{}", version[..1].to_uppercase(), &version[1..]);
    let mut parameters: Vec<Value> = params
        .iter()
        .map(|p| {
            let mut param = json!({ "name": p, "in": "path", "required": true, "description": format!("{p} of the object") });
            if v3 {
                param["schema"] = json!({ "type": "string", "uniqueItems": true });
            } else {
                param["type"] = json!("string");
                param["uniqueItems"] = json!(true);
            }
            param
        })
        .collect();
    if list {
        for (name, desc) in [
            (
                "labelSelector",
                "A selector to restrict the list of returned objects by their labels.",
            ),
            (
                "fieldSelector",
                "A selector to restrict the list of returned objects by their fields: metadata.name, metadata.namespace, and spec.nodeName for pods.",
            ),
        ] {
            let mut param = json!({ "name": name, "in": "query", "description": desc });
            if v3 {
                param["schema"] = json!({ "type": "string", "uniqueItems": true });
            } else {
                param["type"] = json!("string");
                param["uniqueItems"] = json!(true);
            }
            parameters.push(param);
        }
    }
    let mut get = json!({
        "description": format!("{action} {item}"),
        "operationId": format!("{action}Metrics{cap}{op_kind}"),
        "tags": [format!("metrics_{version}")],
        "responses": { "200": ok, "401": { "description": "Unauthorized" } },
        "x-kubernetes-action": if list { "list" } else { "get" },
        "x-kubernetes-group-version-kind": { "group": "metrics.k8s.io", "kind": item, "version": version }
    });
    if !v3 {
        get["produces"] = json!(["application/json", "application/vnd.kubernetes.protobuf"]);
        get["schemes"] = json!(["https"]);
    }
    json!({ "get": get, "parameters": parameters })
}

fn paths(versions: &[ApiVersion], r: &Refs, v3: bool) -> Map<String, Value> {
    let mut paths = Map::new();
    for v in versions {
        for (path, kind, list, params) in operations(*v) {
            paths.insert(path, path_item(*v, r, kind, list, params, v3));
        }
    }
    paths
}

/// The compact JSON of `doc`. A `Value` always serializes (its keys are strings), and its
/// `Display` says so by having no failure branch: no empty document can be served.
fn to_bytes(doc: &Value) -> Vec<u8> {
    doc.to_string().into_bytes()
}

/// `GET /openapi/v2`: both versions, Swagger 2.0.
pub fn v2() -> &'static [u8] {
    static DOC: OnceLock<Vec<u8>> = OnceLock::new();
    DOC.get_or_init(|| {
        let r = Refs("#/definitions/");
        to_bytes(&json!({
            "swagger": "2.0",
            "info": { "title": TITLE, "version": version() },
            "paths": paths(&ApiVersion::ALL, &r, false),
            "definitions": definitions(&ApiVersion::ALL, &r),
            "securityDefinitions": { "BearerToken": { "type": "apiKey", "name": "authorization", "in": "header", "description": "Bearer Token authentication" } },
            "security": [{ "BearerToken": [] }]
        }))
    })
}

/// `GET /openapi/v3/apis/metrics.k8s.io/{v}`: one group version, OpenAPI 3.0.
pub fn v3_group_version(v: ApiVersion) -> &'static [u8] {
    static DOCS: [OnceLock<Vec<u8>>; 2] = [OnceLock::new(), OnceLock::new()];
    let slot = match v {
        ApiVersion::V1beta1 => &DOCS[0],
        ApiVersion::V1 => &DOCS[1],
    };
    slot.get_or_init(|| {
        let r = Refs("#/components/schemas/");
        to_bytes(&json!({
            "openapi": "3.0.0",
            "info": { "title": TITLE, "version": version() },
            "paths": paths(&[v], &r, true),
            "components": {
                "schemas": definitions(&[v], &r),
                "securitySchemes": { "BearerToken": { "type": "apiKey", "name": "authorization", "in": "header", "description": "Bearer Token authentication" } }
            }
        }))
    })
}

/// A stable content hash (FNV-1a, hex) for the `?hash=` of the v3 index.
pub fn content_hash(bytes: &[u8]) -> String {
    let hash = bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    format!("{hash:016X}")
}

/// `GET /openapi/v3`: the index of group-version documents.
pub fn v3_index() -> &'static [u8] {
    static DOC: OnceLock<Vec<u8>> = OnceLock::new();
    DOC.get_or_init(|| {
        let mut paths = Map::new();
        for v in ApiVersion::ALL {
            let path = format!("apis/metrics.k8s.io/{}", v.as_str());
            let hash = content_hash(v3_group_version(v));
            paths.insert(
                path.clone(),
                json!({ "serverRelativeURL": format!("/openapi/v3/{path}?hash={hash}") }),
            );
        }
        to_bytes(&json!({ "paths": paths }))
    })
}

#[cfg(test)]
mod tests;
