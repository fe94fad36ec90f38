use serde_json::Value;

use super::*;

fn parse(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).expect("valid JSON")
}

/// Every `$ref` in `doc` points at an entry of `defs` under `prefix`.
fn assert_refs_resolve(node: &Value, prefix: &str, defs: &Map<String, Value>) -> usize {
    match node {
        Value::Object(map) => {
            let mut n = 0;
            if let Some(Value::String(target)) = map.get("$ref") {
                let name = target
                    .strip_prefix(prefix)
                    .unwrap_or_else(|| panic!("{target}"));
                assert!(defs.contains_key(name), "dangling $ref {target}");
                n += 1;
            }
            n + map
                .values()
                .map(|v| assert_refs_resolve(v, prefix, defs))
                .sum::<usize>()
        }
        Value::Array(items) => items
            .iter()
            .map(|v| assert_refs_resolve(v, prefix, defs))
            .sum(),
        _ => 0,
    }
}

fn gvk_of(defs: &Map<String, Value>, name: &str) -> Value {
    defs[name]["x-kubernetes-group-version-kind"][0].clone()
}

#[test]
fn v2_has_every_kind_of_both_versions_with_group_version_kind() {
    let doc = parse(v2());
    assert_eq!(doc["swagger"], "2.0");
    assert_eq!(doc["info"]["title"], "Kubernetes metrics-server");
    assert_eq!(
        doc["info"]["version"],
        format!("v{}", env!("CARGO_PKG_VERSION"))
    );
    let defs = doc["definitions"].as_object().unwrap();
    for v in ["v1beta1", "v1"] {
        for kind in [
            "NodeMetrics",
            "NodeMetricsList",
            "PodMetrics",
            "PodMetricsList",
        ] {
            let name = format!("io.k8s.metrics.pkg.apis.metrics.{v}.{kind}");
            assert_eq!(
                gvk_of(defs, &name),
                serde_json::json!({"group": "metrics.k8s.io", "kind": kind, "version": v}),
                "{name}"
            );
        }
    }
    let node = &defs["io.k8s.metrics.pkg.apis.metrics.v1beta1.NodeMetrics"];
    assert_eq!(
        node["required"],
        serde_json::json!(["timestamp", "window", "usage"])
    );
    let refs = assert_refs_resolve(&doc, "#/definitions/", defs);
    assert!(refs > 20, "{refs} refs");
    let paths = doc["paths"].as_object().unwrap();
    assert_eq!(paths.len(), 10);
    let op = &paths["/apis/metrics.k8s.io/v1beta1/namespaces/{namespace}/pods/{name}"]["get"];
    assert_eq!(op["operationId"], "readMetricsV1beta1NamespacedPodMetrics");
    assert_eq!(op["x-kubernetes-action"], "get");
}

#[test]
fn v3_documents_are_per_group_version_with_components() {
    for v in ApiVersion::ALL {
        let doc = parse(v3_group_version(v));
        assert_eq!(doc["openapi"], "3.0.0");
        assert_eq!(doc["info"]["title"], TITLE);
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        let pod = format!("io.k8s.metrics.pkg.apis.metrics.{}.PodMetrics", v.as_str());
        assert_eq!(gvk_of(schemas, &pod)["version"], v.as_str());
        assert!(
            schemas
                .keys()
                .all(|k| !k.starts_with("io.k8s.metrics")
                    || k.contains(&format!(".{}.", v.as_str()))),
            "only {} types",
            v.as_str()
        );
        assert_refs_resolve(&doc, "#/components/schemas/", schemas);
        let list = &doc["paths"][format!("/apis/metrics.k8s.io/{}/pods", v.as_str())]["get"];
        let schema = &list["responses"]["200"]["content"]["application/json"]["schema"]["$ref"];
        assert!(schema.as_str().unwrap().ends_with("PodMetricsList"));
    }
}

#[test]
fn v3_index_names_each_document_with_its_hash() {
    let index = parse(v3_index());
    for v in ApiVersion::ALL {
        let key = format!("apis/metrics.k8s.io/{}", v.as_str());
        let url = index["paths"][&key]["serverRelativeURL"].as_str().unwrap();
        assert_eq!(
            url,
            format!(
                "/openapi/v3/{key}?hash={}",
                content_hash(v3_group_version(v))
            )
        );
    }
    assert_ne!(content_hash(b"a"), content_hash(b"b"));
}
