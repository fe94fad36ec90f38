use serde_json::json;

use super::*;

/// The fields of one protobuf message: (number, varint or bytes).
fn fields(mut b: &[u8]) -> Vec<(u32, Field<'_>)> {
    let mut out = Vec::new();
    while !b.is_empty() {
        let key = read_varint(&mut b);
        let number = u32::try_from(key >> 3).unwrap_or(0);
        let field = match key & 7 {
            0 => Field::Varint(read_varint(&mut b)),
            1 => {
                let (bits, rest) = b.split_at(8);
                b = rest;
                Field::Fixed(f64::from_le_bytes(bits.try_into().unwrap_or_default()))
            }
            2 => {
                let len = usize::try_from(read_varint(&mut b)).unwrap_or(0);
                let (bytes, rest) = b.split_at(len);
                b = rest;
                Field::Bytes(bytes)
            }
            other => panic!("wire type {other}"),
        };
        out.push((number, field));
    }
    out
}

#[derive(Debug, PartialEq)]
enum Field<'a> {
    Varint(u64),
    Fixed(f64),
    Bytes(&'a [u8]),
}

fn read_varint(b: &mut &[u8]) -> u64 {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let (byte, rest) = b.split_first().expect("truncated varint");
        *b = rest;
        v |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            break;
        }
    }
    v
}

/// Every length-delimited field `number` of a message.
fn all(b: &[u8], number: u32) -> Vec<&[u8]> {
    fields(b)
        .into_iter()
        .filter_map(|(n, f)| match f {
            Field::Bytes(bytes) if n == number => Some(bytes),
            _ => None,
        })
        .collect()
}

fn one(b: &[u8], number: u32) -> &[u8] {
    all(b, number)
        .first()
        .copied()
        .unwrap_or_else(|| panic!("no field {number}"))
}

fn text(b: &[u8], number: u32) -> String {
    String::from_utf8(one(b, number).to_vec()).expect("UTF-8")
}

/// The value of the `Named*` entry called `name` among the repeated field `number`.
fn entry<'a>(b: &'a [u8], number: u32, name: &str) -> Option<&'a [u8]> {
    all(b, number)
        .into_iter()
        .find(|named| text(named, 1) == name)
        .map(|named| one(named, 2))
}

fn pod_document() -> Value {
    json!({
        "swagger": "2.0",
        "info": {"title": "Kubernetes", "version": "v1.33.1"},
        "paths": {"/api/v1/namespaces/{namespace}/pods/{name}": {
            "parameters": [{"name": "name", "in": "path", "required": true, "type": "string"}],
            "patch": {
                "operationId": "patchCoreV1NamespacedPod",
                "parameters": [
                    {"name": "body", "in": "body", "required": true, "schema": {"$ref": "#/definitions/Patch"}},
                    {"name": "fieldValidation", "in": "query", "type": "string", "uniqueItems": true},
                ],
                "responses": {"200": {"description": "OK", "schema": {"$ref": "#/definitions/Pod"}}},
                "x-kubernetes-group-version-kind": {"group": "", "kind": "Pod", "version": "v1"},
            },
        }},
        "definitions": {
            "Pod": {"type": "object", "properties": {"spec": {"$ref": "#/definitions/PodSpec"}},
                    "x-kubernetes-group-version-kind": [{"group": "", "kind": "Pod", "version": "v1"}]},
            "Empty": {"type": "object", "properties": {}, "additionalProperties": false},
            "Limited": {"type": "integer", "maximum": 1.5, "maxLength": 300},
        },
    })
}

/// kubectl's walk for server-side field validation: the PATCH operation carrying the Pod's
/// group-version-kind, and its `fieldValidation` query parameter.
#[test]
fn kubectl_finds_field_validation_on_the_pod_patch() {
    let doc = document(&pod_document());
    assert_eq!(text(&doc, 1), "2.0");
    assert_eq!(text(one(&doc, 2), 1), "Kubernetes");
    let item = entry(
        one(&doc, 8),
        2,
        "/api/v1/namespaces/{namespace}/pods/{name}",
    )
    .expect("path");
    let path_param = one(one(one(one(item, 9), 1), 2), 4);
    assert_eq!(text(path_param, 4), "name");
    assert!(
        fields(path_param).contains(&(1, Field::Varint(1))),
        "required"
    );
    let patch = one(item, 8);
    let gvk = entry(patch, 13, "x-kubernetes-group-version-kind").expect("extension");
    let yaml: Value = serde_json::from_str(&text(gvk, 2)).expect("the YAML is JSON");
    assert_eq!(yaml["kind"], "Pod");
    let params = all(patch, 8);
    let body = one(one(params[0], 1), 1);
    assert_eq!(text(body, 3), "body");
    assert_eq!(text(one(body, 5), 1), "#/definitions/Patch");
    let query = one(one(one(params[1], 1), 2), 3);
    assert_eq!(text(query, 4), "fieldValidation");
    assert!(
        fields(query).contains(&(20, Field::Varint(1))),
        "uniqueItems"
    );
    let ok = entry(one(patch, 9), 1, "200").expect("200");
    assert_eq!(text(one(one(one(ok, 1), 2), 1), 1), "#/definitions/Pod");
}

#[test]
fn schemas_keep_types_properties_and_limits() {
    let doc = document(&pod_document());
    let defs = one(&doc, 9);
    let pod = entry(defs, 1, "Pod").expect("Pod");
    assert_eq!(text(one(pod, 22), 1), "object");
    let spec = entry(one(pod, 25), 1, "spec").expect("spec");
    assert_eq!(text(spec, 1), "#/definitions/PodSpec");
    let gvk = entry(pod, 31, "x-kubernetes-group-version-kind").expect("gvk");
    assert!(text(gvk, 2).contains("\"kind\":\"Pod\""));
    let empty = entry(defs, 1, "Empty").expect("Empty");
    assert_eq!(one(empty, 25), b"", "empty properties are present");
    assert_eq!(
        fields(one(empty, 21)),
        [(2, Field::Varint(0))],
        "additionalProperties: false"
    );
    let limited = entry(defs, 1, "Limited").expect("Limited");
    assert!(fields(limited).contains(&(7, Field::Fixed(1.5))));
    assert!(
        fields(limited).contains(&(11, Field::Varint(300))),
        "multi-byte varint"
    );
}
