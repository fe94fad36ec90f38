//! Protobuf bodies decoded with an independent decoder (`k8s-pb`) into the JSON shape of the
//! same object, so both servers' answers compare field by field as client-go sees them: a
//! field left out and a field sent with its zero value decode alike.

use std::collections::BTreeMap;

use k8s_pb::apimachinery::pkg::api::resource::Quantity;
use k8s_pb::apimachinery::pkg::apis::meta::v1 as meta;
use k8s_pb::apimachinery::pkg::runtime::Unknown;
use k8s_pb::metrics::pkg::apis::metrics::v1beta1 as pb;
use metrics_server::go_duration::format_duration;
use metrics_server::time::Timestamp;
use prost::Message;
use serde_json::{Map, Value, json};

/// Why a body is not a Kubernetes protobuf object.
#[derive(Debug, thiserror::Error)]
pub enum ProtobufError {
    #[error("no `k8s\\0` magic")]
    Magic,
    #[error("not decodable: {0}")]
    Decode(#[from] prost::DecodeError),
    #[error("an object of kind {0:?}, which this test does not decode")]
    Kind(String),
}

/// The object in `body`, as JSON with `apiVersion` and `kind`.
pub fn decode(body: &[u8]) -> Result<Value, ProtobufError> {
    let raw = body.strip_prefix(b"k8s\0").ok_or(ProtobufError::Magic)?;
    let unknown = Unknown::decode(raw)?;
    let type_meta = unknown.type_meta.unwrap_or_default();
    let kind = type_meta.kind.unwrap_or_default();
    let inner = unknown.raw.unwrap_or_default();
    let mut object = match kind.as_str() {
        "NodeMetrics" => object(node(&pb::NodeMetrics::decode(inner.as_slice())?)),
        "PodMetrics" => object(pod(&pb::PodMetrics::decode(inner.as_slice())?)),
        "NodeMetricsList" => {
            let list = pb::NodeMetricsList::decode(inner.as_slice())?;
            list_json(list.metadata.as_ref(), list.items.iter().map(node))
        }
        "PodMetricsList" => {
            let list = pb::PodMetricsList::decode(inner.as_slice())?;
            list_json(list.metadata.as_ref(), list.items.iter().map(pod))
        }
        "Status" => status(&meta::Status::decode(inner.as_slice())?),
        _ => return Err(ProtobufError::Kind(kind)),
    };
    object.insert(
        "apiVersion".into(),
        json!(type_meta.api_version.unwrap_or_default()),
    );
    object.insert("kind".into(), json!(kind));
    object.insert(
        "envelope".into(),
        json!({
            "contentEncoding": unknown.content_encoding.unwrap_or_default(),
            "contentType": unknown.content_type.unwrap_or_default(),
        }),
    );
    Ok(Value::Object(object))
}

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// Inserts `value` unless it is the zero value Go's JSON would omit.
fn put(object: &mut Map<String, Value>, key: &str, value: Value) {
    let zero = match &value {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Number(n) => n.as_i64() == Some(0),
        Value::Object(o) => o.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Bool(b) => !b,
    };
    if !zero {
        object.insert(key.to_owned(), value);
    }
}

fn text(s: &Option<String>) -> Value {
    json!(s.clone().unwrap_or_default())
}

fn time(t: Option<&meta::Time>) -> Value {
    let (seconds, nanos) = t.map_or((0, 0), |t| (t.seconds.unwrap_or(0), t.nanos.unwrap_or(0)));
    if seconds == 0 && nanos == 0 {
        return Value::Null;
    }
    json!(Timestamp::from_secs(seconds).to_rfc3339_seconds())
}

fn object_meta(m: Option<&meta::ObjectMeta>) -> Value {
    let Some(m) = m else {
        return json!({});
    };
    let mut out = Map::new();
    put(&mut out, "name", text(&m.name));
    put(&mut out, "generateName", text(&m.generate_name));
    put(&mut out, "namespace", text(&m.namespace));
    put(&mut out, "selfLink", text(&m.self_link));
    put(&mut out, "uid", text(&m.uid));
    put(&mut out, "resourceVersion", text(&m.resource_version));
    put(&mut out, "generation", json!(m.generation.unwrap_or(0)));
    // Go writes a zero creationTimestamp as null, and always writes the field.
    out.insert(
        "creationTimestamp".into(),
        time(m.creation_timestamp.as_ref()),
    );
    put(
        &mut out,
        "deletionTimestamp",
        time(m.deletion_timestamp.as_ref()),
    );
    put(&mut out, "labels", json!(m.labels));
    put(&mut out, "annotations", json!(m.annotations));
    put(&mut out, "ownerReferences", json!(m.owner_references.len()));
    Value::Object(out)
}

fn usage(u: &BTreeMap<String, Quantity>) -> Value {
    let map: BTreeMap<&String, String> = u
        .iter()
        .map(|(k, q)| (k, q.string.clone().unwrap_or_default()))
        .collect();
    json!(map)
}

fn window(d: Option<&meta::Duration>) -> Value {
    json!(format_duration(d.and_then(|d| d.duration).unwrap_or(0)))
}

fn node(n: &pb::NodeMetrics) -> Value {
    json!({
        "metadata": object_meta(n.metadata.as_ref()),
        "timestamp": time(n.timestamp.as_ref()),
        "window": window(n.window.as_ref()),
        "usage": usage(&n.usage),
    })
}

fn pod(p: &pb::PodMetrics) -> Value {
    let containers: Vec<Value> = p
        .containers
        .iter()
        .map(|c| json!({"name": text(&c.name), "usage": usage(&c.usage)}))
        .collect();
    json!({
        "metadata": object_meta(p.metadata.as_ref()),
        "timestamp": time(p.timestamp.as_ref()),
        "window": window(p.window.as_ref()),
        "containers": containers,
    })
}

fn list_meta(m: Option<&meta::ListMeta>) -> Value {
    let mut out = Map::new();
    if let Some(m) = m {
        put(&mut out, "selfLink", text(&m.self_link));
        put(&mut out, "resourceVersion", text(&m.resource_version));
        put(&mut out, "continue", text(&m.r#continue));
        put(
            &mut out,
            "remainingItemCount",
            json!(m.remaining_item_count.unwrap_or(0)),
        );
    }
    Value::Object(out)
}

fn list_json(
    metadata: Option<&meta::ListMeta>,
    items: impl Iterator<Item = Value>,
) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert("metadata".into(), list_meta(metadata));
    out.insert("items".into(), Value::Array(items.collect()));
    out
}

fn status(s: &meta::Status) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert("metadata".into(), list_meta(s.metadata.as_ref()));
    put(&mut out, "status", text(&s.status));
    put(&mut out, "message", text(&s.message));
    put(&mut out, "reason", text(&s.reason));
    if let Some(d) = &s.details {
        let causes: Vec<Value> = d
            .causes
            .iter()
            .map(|c| json!({"reason": text(&c.reason), "message": text(&c.message), "field": text(&c.field)}))
            .collect();
        let mut details = Map::new();
        put(&mut details, "name", text(&d.name));
        put(&mut details, "group", text(&d.group));
        put(&mut details, "kind", text(&d.kind));
        put(&mut details, "uid", text(&d.uid));
        put(&mut details, "causes", Value::Array(causes));
        put(
            &mut details,
            "retryAfterSeconds",
            json!(d.retry_after_seconds.unwrap_or(0)),
        );
        out.insert("details".into(), Value::Object(details));
    }
    put(&mut out, "code", json!(s.code.unwrap_or(0)));
    out
}
