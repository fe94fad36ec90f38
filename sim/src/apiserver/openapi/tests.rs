use serde_json::{Value, json};

use super::*;

const KUBECTL_V2: &str = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf";

#[test]
fn v2_is_protobuf_when_asked_json_by_default_and_406_otherwise() {
    assert_eq!(V2Format::negotiate(KUBECTL_V2), Some(V2Format::Protobuf));
    assert_eq!(
        V2Format::negotiate("application/json, */*"),
        Some(V2Format::Json)
    );
    assert_eq!(V2Format::negotiate(""), Some(V2Format::Json));
    assert_eq!(V2Format::negotiate("text/html"), None);
    assert!(offers_json("application/json;q=0.9"));
    assert!(!offers_json(KUBECTL_V2));
}

fn core_v3_doc() -> Value {
    serde_json::from_slice(core_v3()).expect("core v3 is JSON")
}

/// Every `$ref` of `v`.
fn refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            if let Some(Value::String(r)) = map.get("$ref") {
                out.push(r.clone());
            }
            map.values().for_each(|x| refs(x, out));
        }
        Value::Array(items) => items.iter().for_each(|x| refs(x, out)),
        _ => {}
    }
}

/// kubectl parses every definition: references resolve and arrays have their items.
#[test]
fn core_documents_are_whole() {
    for (doc, prefix, defs) in [
        (
            core_v3_doc(),
            "#/components/schemas/",
            "/components/schemas",
        ),
        (core_v2(), "#/definitions/", "/definitions"),
    ] {
        let defs = doc
            .pointer(defs)
            .and_then(Value::as_object)
            .expect("definitions");
        let mut found = Vec::new();
        refs(&doc, &mut found);
        assert!(found.len() > 40, "{} references", found.len());
        for r in found {
            let name = r.strip_prefix(prefix).unwrap_or_else(|| panic!("{r}"));
            assert!(defs.contains_key(name), "{r} is not defined");
        }
        for (name, schema) in defs {
            for (field, prop) in schema["properties"].as_object().into_iter().flatten() {
                if prop["type"] == "array" {
                    assert!(prop["items"].is_object(), "{name}.{field}");
                }
            }
        }
    }
}

/// What `kubectl explain pods` prints and what tells kubectl the server validates fields.
#[test]
fn core_v3_describes_pods_and_their_field_validation() {
    let doc = core_v3_doc();
    let pod = &doc["components"]["schemas"]["io.k8s.api.core.v1.Pod"];
    assert_eq!(
        pod["x-kubernetes-group-version-kind"],
        json!([{"group": "", "kind": "Pod", "version": "v1"}])
    );
    for field in ["metadata", "spec", "status"] {
        assert!(pod["properties"][field].is_object(), "{field}");
    }
    let patch = &doc["paths"]["/api/v1/namespaces/{namespace}/pods/{name}"]["patch"];
    assert_eq!(patch["x-kubernetes-group-version-kind"]["kind"], "Pod");
    let params = patch["parameters"].as_array().expect("parameters");
    assert!(
        params
            .iter()
            .any(|p| p["name"] == "fieldValidation" && p["in"] == "query")
    );
    for path in ["/api/v1/nodes/{name}", "/api/v1/namespaces/{name}"] {
        assert!(doc["paths"][path]["get"].is_object(), "{path}");
    }
}

#[test]
fn merged_v2_keeps_core_definitions_and_adds_the_aggregated_ones() {
    let mut doc = core_v2();
    let object_meta = doc["definitions"]["io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"].clone();
    let metrics = json!({
        "paths": {"/apis/metrics.k8s.io/v1beta1/nodes": {"get": {}}},
        "definitions": {
            "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta": {"type": "object", "properties": {}},
            "io.k8s.metrics.pkg.apis.metrics.v1beta1.NodeMetrics": {"type": "object"},
        },
    });
    merge_v2(&mut doc, &metrics);
    assert_eq!(
        doc["definitions"]["io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"],
        object_meta
    );
    assert!(doc["definitions"]["io.k8s.metrics.pkg.apis.metrics.v1beta1.NodeMetrics"].is_object());
    assert!(doc["paths"]["/apis/metrics.k8s.io/v1beta1/nodes"].is_object());
    assert!(doc["paths"]["/api/v1/nodes"].is_object());
}

#[test]
fn the_index_hash_is_upper_case_sha512() {
    let hash = content_hash(b"abc");
    assert_eq!(hash.len(), 128);
    assert!(hash.starts_with("DDAF35A193617ABA"), "{hash}");
}
