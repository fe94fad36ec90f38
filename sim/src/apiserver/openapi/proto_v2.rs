//! A Swagger 2.0 document (JSON) in the protobuf form kubectl asks `/openapi/v2` for
//! (`application/com.github.proto-openapi.spec.v2@v1.0+protobuf`): the `openapi.v2.Document`
//! message of gnostic's `OpenAPIv2.proto`, the only form kubectl reads that document in.
//!
//! Written by hand (protobuf wire format: varints and length-delimited fields) for the parts
//! of the schema kube-apiserver documents use: info, paths with their operations, parameters
//! and responses, schemas, security, and `x-` vendor extensions (an `Any` holding the value's
//! YAML; JSON is YAML). Keys outside the schema are left out, as gnostic does.

use serde_json::{Map, Value};

/// A protobuf message being written.
#[derive(Default)]
struct Pb(Vec<u8>);

impl Pb {
    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.0.push((v as u8 & 0x7f) | 0x80);
            v >>= 7;
        }
        self.0.push(v as u8);
    }

    fn key(&mut self, field: u32, wire_type: u8) {
        self.varint(u64::from(field) << 3 | u64::from(wire_type));
    }

    fn bytes(&mut self, field: u32, bytes: &[u8]) {
        self.key(field, 2);
        self.varint(bytes.len() as u64);
        self.0.extend_from_slice(bytes);
    }

    /// A nested message, written even when empty (its presence can matter).
    fn message(&mut self, field: u32, m: Pb) {
        self.bytes(field, &m.0);
    }

    fn string(&mut self, field: u32, s: &str) {
        if !s.is_empty() {
            self.bytes(field, s.as_bytes());
        }
    }

    fn boolean(&mut self, field: u32, b: bool) {
        if b {
            self.key(field, 0);
            self.varint(1);
        }
    }

    fn int64(&mut self, field: u32, i: i64) {
        if i != 0 {
            self.key(field, 0);
            self.varint(i as u64);
        }
    }

    fn double(&mut self, field: u32, d: f64) {
        if d != 0.0 {
            self.key(field, 1);
            self.0.extend_from_slice(&d.to_le_bytes());
        }
    }
}

/// How a JSON key of an object is written.
#[derive(Copy, Clone)]
enum Wire {
    Str,
    Bool,
    Int,
    Float,
    /// An array of strings (or one string).
    Strs,
    /// A value as `openapi.v2.Any`.
    Any,
    /// An array of values, each as `Any`.
    Anys,
    /// An object, as the message the function writes.
    Msg(fn(&Value) -> Pb),
    /// An array of objects, each as the message the function writes.
    Msgs(fn(&Value) -> Pb),
}

/// A message kind: its known keys and the field number of its vendor extensions.
struct Message {
    fields: &'static [(&'static str, u32, Wire)],
    extensions: Option<u32>,
}

fn encode(v: &Value, m: &Message) -> Pb {
    let mut pb = Pb::default();
    let Some(obj) = v.as_object() else { return pb };
    for &(key, field, wire) in m.fields {
        if let Some(value) = obj.get(key) {
            write(&mut pb, field, wire, value);
        }
    }
    if let Some(field) = m.extensions {
        extensions(&mut pb, field, obj);
    }
    pb
}

fn write(pb: &mut Pb, field: u32, wire: Wire, v: &Value) {
    match wire {
        Wire::Str => pb.string(field, v.as_str().unwrap_or_default()),
        Wire::Bool => pb.boolean(field, v.as_bool().unwrap_or_default()),
        Wire::Int => pb.int64(field, v.as_i64().unwrap_or_default()),
        Wire::Float => pb.double(field, v.as_f64().unwrap_or_default()),
        Wire::Strs => match v {
            Value::Array(items) => items
                .iter()
                .filter_map(Value::as_str)
                .for_each(|s| pb.bytes(field, s.as_bytes())),
            Value::String(s) => pb.bytes(field, s.as_bytes()),
            _ => {}
        },
        Wire::Any => pb.message(field, any(v)),
        Wire::Anys => each(v).for_each(|item| pb.message(field, any(item))),
        Wire::Msg(f) => pb.message(field, f(v)),
        Wire::Msgs(f) => each(v).for_each(|item| pb.message(field, f(item))),
    }
}

fn each(v: &Value) -> impl Iterator<Item = &Value> {
    v.as_array().into_iter().flatten()
}

/// `x-` keys as repeated `NamedAny`.
fn extensions(pb: &mut Pb, field: u32, obj: &Map<String, Value>) {
    for (name, value) in obj.iter().filter(|(k, _)| k.starts_with("x-")) {
        pb.message(field, named(name, any(value)));
    }
}

/// A `Named*` entry: name 1, value 2.
fn named(name: &str, value: Pb) -> Pb {
    let mut pb = Pb::default();
    pb.string(1, name);
    pb.message(2, value);
    pb
}

/// Every entry of a JSON object as a `Named*` entry of `field` (vendor extensions skipped).
fn named_map(v: &Value, field: u32, value: fn(&Value) -> Pb) -> Pb {
    let mut pb = Pb::default();
    for (name, item) in v.as_object().into_iter().flatten() {
        if !name.starts_with("x-") {
            pb.message(field, named(name, value(item)));
        }
    }
    pb
}

/// `Any { yaml = 2 }`.
fn any(v: &Value) -> Pb {
    let mut pb = Pb::default();
    pb.string(2, &serde_json::to_string(v).unwrap_or_default());
    pb
}

/// The whole `openapi.v2.Document`.
pub(super) fn document(v: &Value) -> Vec<u8> {
    const DOCUMENT: Message = Message {
        fields: &[
            ("swagger", 1, Wire::Str),
            ("info", 2, Wire::Msg(info)),
            ("host", 3, Wire::Str),
            ("basePath", 4, Wire::Str),
            ("schemes", 5, Wire::Strs),
            ("consumes", 6, Wire::Strs),
            ("produces", 7, Wire::Strs),
            ("paths", 8, Wire::Msg(paths)),
            ("definitions", 9, Wire::Msg(definitions)),
            ("parameters", 10, Wire::Msg(parameter_definitions)),
            ("security", 12, Wire::Msgs(security_requirement)),
            ("securityDefinitions", 13, Wire::Msg(security_definitions)),
        ],
        extensions: Some(16),
    };
    encode(v, &DOCUMENT).0
}

fn info(v: &Value) -> Pb {
    const INFO: Message = Message {
        fields: &[
            ("title", 1, Wire::Str),
            ("version", 2, Wire::Str),
            ("description", 3, Wire::Str),
        ],
        extensions: Some(7),
    };
    encode(v, &INFO)
}

fn paths(v: &Value) -> Pb {
    let mut pb = named_map(v, 2, path_item);
    if let Some(obj) = v.as_object() {
        extensions(&mut pb, 1, obj);
    }
    pb
}

fn path_item(v: &Value) -> Pb {
    const PATH_ITEM: Message = Message {
        fields: &[
            ("$ref", 1, Wire::Str),
            ("get", 2, Wire::Msg(operation)),
            ("put", 3, Wire::Msg(operation)),
            ("post", 4, Wire::Msg(operation)),
            ("delete", 5, Wire::Msg(operation)),
            ("options", 6, Wire::Msg(operation)),
            ("head", 7, Wire::Msg(operation)),
            ("patch", 8, Wire::Msg(operation)),
            ("parameters", 9, Wire::Msgs(parameters_item)),
        ],
        extensions: Some(10),
    };
    encode(v, &PATH_ITEM)
}

fn operation(v: &Value) -> Pb {
    const OPERATION: Message = Message {
        fields: &[
            ("tags", 1, Wire::Strs),
            ("summary", 2, Wire::Str),
            ("description", 3, Wire::Str),
            ("operationId", 5, Wire::Str),
            ("produces", 6, Wire::Strs),
            ("consumes", 7, Wire::Strs),
            ("parameters", 8, Wire::Msgs(parameters_item)),
            ("responses", 9, Wire::Msg(responses)),
            ("schemes", 10, Wire::Strs),
            ("deprecated", 11, Wire::Bool),
        ],
        extensions: Some(13),
    };
    encode(v, &OPERATION)
}

/// `ParametersItem`: a `JsonReference` (2) or a `Parameter` (1).
fn parameters_item(v: &Value) -> Pb {
    let mut pb = Pb::default();
    if v.get("$ref").is_some() {
        pb.message(2, json_reference(v));
    } else {
        pb.message(1, parameter(v));
    }
    pb
}

fn json_reference(v: &Value) -> Pb {
    const REFERENCE: Message = Message {
        fields: &[("$ref", 1, Wire::Str), ("description", 2, Wire::Str)],
        extensions: None,
    };
    encode(v, &REFERENCE)
}

/// `Parameter`: a `BodyParameter` (1) or a `NonBodyParameter` (2) holding the sub-schema of
/// its location (header 1, formData 2, query 3, path 4).
fn parameter(v: &Value) -> Pb {
    const BODY: Message = Message {
        fields: &[
            ("description", 1, Wire::Str),
            ("name", 2, Wire::Str),
            ("in", 3, Wire::Str),
            ("required", 4, Wire::Bool),
            ("schema", 5, Wire::Msg(schema)),
        ],
        extensions: Some(6),
    };
    // Query and formData sub-schemas share their numbering, as do header and path.
    const QUERY: Message = Message {
        fields: &[
            ("required", 1, Wire::Bool),
            ("in", 2, Wire::Str),
            ("description", 3, Wire::Str),
            ("name", 4, Wire::Str),
            ("allowEmptyValue", 5, Wire::Bool),
            ("type", 6, Wire::Str),
            ("format", 7, Wire::Str),
            ("collectionFormat", 9, Wire::Str),
            ("default", 10, Wire::Any),
            ("uniqueItems", 20, Wire::Bool),
            ("enum", 21, Wire::Anys),
        ],
        extensions: Some(23),
    };
    const PATH: Message = Message {
        fields: &[
            ("required", 1, Wire::Bool),
            ("in", 2, Wire::Str),
            ("description", 3, Wire::Str),
            ("name", 4, Wire::Str),
            ("type", 5, Wire::Str),
            ("format", 6, Wire::Str),
            ("collectionFormat", 8, Wire::Str),
            ("default", 9, Wire::Any),
            ("uniqueItems", 19, Wire::Bool),
            ("enum", 20, Wire::Anys),
        ],
        extensions: Some(22),
    };
    let mut pb = Pb::default();
    let location = v.get("in").and_then(Value::as_str).unwrap_or_default();
    if location == "body" {
        pb.message(1, encode(v, &BODY));
        return pb;
    }
    let (field, message) = match location {
        "header" => (1, &PATH),
        "formData" => (2, &QUERY),
        "path" => (4, &PATH),
        _ => (3, &QUERY),
    };
    let mut non_body = Pb::default();
    non_body.message(field, encode(v, message));
    pb.message(2, non_body);
    pb
}

fn parameter_definitions(v: &Value) -> Pb {
    named_map(v, 1, parameter)
}

fn responses(v: &Value) -> Pb {
    let mut pb = named_map(v, 1, response_value);
    if let Some(obj) = v.as_object() {
        extensions(&mut pb, 2, obj);
    }
    pb
}

/// `ResponseValue`: a `Response` (1) or a `JsonReference` (2).
fn response_value(v: &Value) -> Pb {
    const RESPONSE: Message = Message {
        fields: &[
            ("description", 1, Wire::Str),
            ("schema", 2, Wire::Msg(schema_item)),
        ],
        extensions: Some(5),
    };
    let mut pb = Pb::default();
    if v.get("$ref").is_some() {
        pb.message(2, json_reference(v));
    } else {
        pb.message(1, encode(v, &RESPONSE));
    }
    pb
}

/// `SchemaItem { schema = 1 }`.
fn schema_item(v: &Value) -> Pb {
    let mut pb = Pb::default();
    pb.message(1, schema(v));
    pb
}

fn definitions(v: &Value) -> Pb {
    named_map(v, 1, schema)
}

fn schema(v: &Value) -> Pb {
    const SCHEMA: Message = Message {
        fields: &[
            ("$ref", 1, Wire::Str),
            ("format", 2, Wire::Str),
            ("title", 3, Wire::Str),
            ("description", 4, Wire::Str),
            ("default", 5, Wire::Any),
            ("multipleOf", 6, Wire::Float),
            ("maximum", 7, Wire::Float),
            ("exclusiveMaximum", 8, Wire::Bool),
            ("minimum", 9, Wire::Float),
            ("exclusiveMinimum", 10, Wire::Bool),
            ("maxLength", 11, Wire::Int),
            ("minLength", 12, Wire::Int),
            ("pattern", 13, Wire::Str),
            ("maxItems", 14, Wire::Int),
            ("minItems", 15, Wire::Int),
            ("uniqueItems", 16, Wire::Bool),
            ("maxProperties", 17, Wire::Int),
            ("minProperties", 18, Wire::Int),
            ("required", 19, Wire::Strs),
            ("enum", 20, Wire::Anys),
            ("additionalProperties", 21, Wire::Msg(additional_properties)),
            ("type", 22, Wire::Msg(type_item)),
            ("items", 23, Wire::Msg(items_item)),
            ("allOf", 24, Wire::Msgs(schema)),
            ("properties", 25, Wire::Msg(properties)),
            ("discriminator", 26, Wire::Str),
            ("readOnly", 27, Wire::Bool),
            ("example", 30, Wire::Any),
        ],
        extensions: Some(31),
    };
    encode(v, &SCHEMA)
}

/// `AdditionalPropertiesItem`: a `Schema` (1) or a boolean (2, written even when false).
fn additional_properties(v: &Value) -> Pb {
    let mut pb = Pb::default();
    match v {
        Value::Bool(b) => {
            pb.key(2, 0);
            pb.varint(u64::from(*b));
        }
        _ => pb.message(1, schema(v)),
    }
    pb
}

/// `TypeItem { repeated string value = 1 }`.
fn type_item(v: &Value) -> Pb {
    let mut pb = Pb::default();
    write(&mut pb, 1, Wire::Strs, v);
    pb
}

/// `ItemsItem { repeated Schema schema = 1 }`: one schema or several.
fn items_item(v: &Value) -> Pb {
    let mut pb = Pb::default();
    match v {
        Value::Array(items) => items.iter().for_each(|s| pb.message(1, schema(s))),
        _ => pb.message(1, schema(v)),
    }
    pb
}

fn properties(v: &Value) -> Pb {
    let mut pb = Pb::default();
    for (name, item) in v.as_object().into_iter().flatten() {
        pb.message(1, named(name, schema(item)));
    }
    pb
}

/// `SecurityRequirement { repeated NamedStringArray additional_properties = 1 }`.
fn security_requirement(v: &Value) -> Pb {
    named_map(v, 1, |scopes| {
        let mut pb = Pb::default();
        write(&mut pb, 1, Wire::Strs, scopes);
        pb
    })
}

/// `SecurityDefinitions`, each an `ApiKeySecurity` (2) or a `BasicAuthenticationSecurity` (1);
/// OAuth2 schemes are left out.
fn security_definitions(v: &Value) -> Pb {
    named_map(v, 1, |item| {
        const API_KEY: Message = Message {
            fields: &[
                ("type", 1, Wire::Str),
                ("name", 2, Wire::Str),
                ("in", 3, Wire::Str),
                ("description", 4, Wire::Str),
            ],
            extensions: Some(5),
        };
        const BASIC: Message = Message {
            fields: &[("type", 1, Wire::Str), ("description", 2, Wire::Str)],
            extensions: Some(3),
        };
        let mut pb = Pb::default();
        match item.get("type").and_then(Value::as_str) {
            Some("apiKey") => pb.message(2, encode(item, &API_KEY)),
            Some("basic") => pb.message(1, encode(item, &BASIC)),
            _ => {}
        }
        pb
    })
}

#[cfg(test)]
mod tests;
