//! The bodies the API sends, checked byte-for-byte against upstream captures (upstream spec
//! §2.4, §2.6, §2.7) and kubectl's needs (kubectl-wire §2.3, §7).

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns unwrap on fixed inputs

use std::collections::BTreeMap;

use metrics_server::api::discovery::{self, DiscoveryVersion};
use metrics_server::api::encode::json::{
    indent, write_node_metrics, write_node_metrics_list, write_pod_metrics, write_pod_metrics_list,
};
use metrics_server::api::encode::table::{write_node_table, write_pod_table};
use metrics_server::api::encode::{
    ApiVersion, IncludeObject, NodeItem, ObjectMeta, PodItem, TableVersion,
};
use metrics_server::api::metav1_status::Status;
use metrics_server::time::Timestamp;
use metrics_server::usage::{ContainerUsage, NodeUsage, PodUsage, Usage};
use metrics_server::usage::{ExtraResources, ExtraUsage};

fn ts(s: &str) -> Timestamp {
    Timestamp::parse_rfc3339(s).unwrap()
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn text(out: Vec<u8>) -> String {
    let s = String::from_utf8(out).unwrap();
    let _: serde_json::Value = serde_json::from_str(&s).unwrap();
    assert!(
        s.ends_with("}\n"),
        "documents end with one newline like Go's encoder"
    );
    s
}

fn web1_usage() -> PodUsage {
    PodUsage {
        node: "node-a".into(),
        timestamp: ts("2026-11-25T22:41:01Z"),
        window_ns: 10_009_000_000,
        containers: smallvec::smallvec![
            ContainerUsage {
                name: "app".into(),
                usage: Usage {
                    cpu_nanocores: 2_345_678,
                    memory_bytes: 45_678 * 1024,
                },
            },
            ContainerUsage {
                name: "sidecar".into(),
                usage: Usage {
                    cpu_nanocores: 345_678,
                    memory_bytes: 12_345 * 1024,
                },
            },
        ],
    }
}

#[test]
fn node_metrics_list_reproduces_the_upstream_capture() {
    let usage = NodeUsage {
        timestamp: ts("2022-03-13T04:47:04Z"),
        window_ns: 20_021_000_000,
        usage: Usage {
            cpu_nanocores: 67_330_954,
            memory_bytes: 1_446_908 * 1024,
        },
    };
    let l = labels(&[
        ("kubernetes.io/os", "linux"),
        ("beta.kubernetes.io/arch", "amd64"),
        ("kubernetes.io/hostname", "10-23-184-141"),
    ]);
    let item = NodeItem {
        meta: ObjectMeta {
            name: "10-23-184-141",
            namespace: None,
            labels: Some(&l),
            encoded_labels: None,
            creation_timestamp: ts("2022-03-13T04:47:13Z"),
        },
        usage: &usage,
        extra: None,
    };
    let mut out = Vec::new();
    write_node_metrics_list(&mut out, ApiVersion::V1beta1, &[item]);
    assert_eq!(
        text(out),
        concat!(
            r#"{"kind":"NodeMetricsList","apiVersion":"metrics.k8s.io/v1beta1","metadata":{},"#,
            r#""items":[{"metadata":{"name":"10-23-184-141","creationTimestamp":"2022-03-13T04:47:13Z","#,
            r#""labels":{"beta.kubernetes.io/arch":"amd64","kubernetes.io/hostname":"10-23-184-141","kubernetes.io/os":"linux"}},"#,
            r#""timestamp":"2022-03-13T04:47:04Z","window":"20.021s","#,
            r#""usage":{"cpu":"67330954n","memory":"1446908Ki"}}]}"#,
            "\n"
        )
    );
}

#[test]
fn single_node_and_pod_objects_match_kubectl_wire_bodies() {
    let node_usage = NodeUsage {
        timestamp: ts("2026-11-25T22:41:03Z"),
        window_ns: 10_009_000_000,
        usage: Usage {
            cpu_nanocores: 123_456_789,
            memory_bytes: 1234 * 1024,
        },
    };
    let node_labels = labels(&[("zone", "a"), ("kubernetes.io/hostname", "node-a")]);
    let created = ts("2026-11-25T22:41:10Z");
    let node = NodeItem {
        meta: ObjectMeta {
            name: "node-a",
            namespace: None,
            labels: Some(&node_labels),
            encoded_labels: None,
            creation_timestamp: created,
        },
        usage: &node_usage,
        extra: None,
    };
    let mut out = Vec::new();
    write_node_metrics(&mut out, ApiVersion::V1beta1, &node);
    assert_eq!(
        text(out),
        concat!(
            r#"{"kind":"NodeMetrics","apiVersion":"metrics.k8s.io/v1beta1","metadata":{"name":"node-a","creationTimestamp":"2026-11-25T22:41:10Z","labels":{"kubernetes.io/hostname":"node-a","zone":"a"}},"timestamp":"2026-11-25T22:41:03Z","window":"10.009s","usage":{"cpu":"123456789n","memory":"1234Ki"}}"#,
            "\n"
        )
    );

    let pod_usage = web1_usage();
    let pod_labels = labels(&[("tier", "fe"), ("app", "x")]);
    let pod = PodItem {
        meta: ObjectMeta {
            name: "web-1",
            namespace: Some("default"),
            labels: Some(&pod_labels),
            encoded_labels: None,
            creation_timestamp: created,
        },
        usage: &pod_usage,
        extra: None,
    };
    let mut out = Vec::new();
    write_pod_metrics(&mut out, ApiVersion::V1beta1, &pod);
    assert_eq!(
        text(out),
        concat!(
            r#"{"kind":"PodMetrics","apiVersion":"metrics.k8s.io/v1beta1","metadata":{"name":"web-1","namespace":"default","creationTimestamp":"2026-11-25T22:41:10Z","labels":{"app":"x","tier":"fe"}},"timestamp":"2026-11-25T22:41:01Z","window":"10.009s","containers":[{"name":"app","usage":{"cpu":"2345678n","memory":"45678Ki"}},{"name":"sidecar","usage":{"cpu":"345678n","memory":"12345Ki"}}]}"#,
            "\n"
        )
    );
}

#[test]
fn lists_for_v1_empty_lists_and_unlabelled_items() {
    let mut out = Vec::new();
    write_pod_metrics_list(&mut out, ApiVersion::V1, &[]);
    assert_eq!(
        text(out),
        "{\"kind\":\"PodMetricsList\",\"apiVersion\":\"metrics.k8s.io/v1\",\"metadata\":{},\"items\":[]}\n"
    );

    let pod_usage = web1_usage();
    let empty = BTreeMap::new();
    let items = [
        PodItem {
            meta: ObjectMeta {
                name: "a",
                namespace: Some("ns"),
                labels: None,
                encoded_labels: None,
                creation_timestamp: Timestamp(0),
            },
            usage: &pod_usage,
            extra: None,
        },
        PodItem {
            meta: ObjectMeta {
                name: "b",
                namespace: Some("ns"),
                labels: Some(&empty),
                encoded_labels: None,
                creation_timestamp: Timestamp(0),
            },
            usage: &pod_usage,
            extra: None,
        },
    ];
    let mut out = Vec::new();
    write_pod_metrics_list(&mut out, ApiVersion::V1beta1, &items);
    let doc: serde_json::Value = serde_json::from_str(&text(out)).unwrap();
    for item in doc["items"].as_array().unwrap() {
        assert!(
            item.get("kind").is_none(),
            "list items carry no kind, like upstream"
        );
        assert!(
            item["metadata"].get("labels").is_none(),
            "empty labels are omitted"
        );
        assert_eq!(
            item["metadata"]["creationTimestamp"],
            "1970-01-01T00:00:00Z"
        );
    }
}

#[test]
fn pod_table_sums_containers_like_kubectl_wire_example() {
    let pod_usage = web1_usage();
    let pod_labels = labels(&[("app", "x"), ("tier", "fe")]);
    let pod = PodItem {
        meta: ObjectMeta {
            name: "web-1",
            namespace: Some("default"),
            labels: Some(&pod_labels),
            encoded_labels: None,
            creation_timestamp: ts("2026-11-25T22:41:10Z"),
        },
        usage: &pod_usage,
        extra: None,
    };
    let mut out = Vec::new();
    write_pod_table(
        &mut out,
        TableVersion::V1,
        &[pod],
        IncludeObject::Metadata,
        ApiVersion::V1beta1,
        ExtraResources::NONE,
    );
    // As in kubectl-wire §7, except `metadata` is `{}`: Go omits the empty resourceVersion.
    assert_eq!(
        text(out),
        concat!(
            r#"{"kind":"Table","apiVersion":"meta.k8s.io/v1","metadata":{},"columnDefinitions":["#,
            r#"{"name":"Name","type":"string","format":"name","description":"Name of the resource","priority":0},"#,
            r#"{"name":"cpu","type":"string","format":"quantity","description":"","priority":0},"#,
            r#"{"name":"memory","type":"string","format":"quantity","description":"","priority":0},"#,
            r#"{"name":"Window","type":"string","format":"duration","description":"","priority":0}],"#,
            r#""rows":[{"cells":["web-1","2691356n","58023Ki","10.009s"],"object":{"kind":"PartialObjectMetadata","apiVersion":"meta.k8s.io/v1","metadata":{"name":"web-1","namespace":"default","creationTimestamp":"2026-11-25T22:41:10Z","labels":{"app":"x","tier":"fe"}}}}]}"#,
            "\n"
        )
    );
}

#[test]
fn node_table_single_row_with_full_object() {
    let usage = NodeUsage {
        timestamp: ts("2026-11-25T22:41:03Z"),
        window_ns: 3_000,
        usage: Usage {
            cpu_nanocores: 1_000_000_000,
            memory_bytes: 5 << 20,
        },
    };
    let node = NodeItem {
        meta: ObjectMeta {
            name: "node-a",
            namespace: None,
            labels: None,
            encoded_labels: None,
            creation_timestamp: Timestamp(0),
        },
        usage: &usage,
        extra: None,
    };
    let mut out = Vec::new();
    write_node_table(
        &mut out,
        TableVersion::V1beta1,
        &[node],
        IncludeObject::Object,
        ApiVersion::V1,
        ExtraResources::NONE,
    );
    let doc: serde_json::Value = serde_json::from_str(&text(out)).unwrap();
    assert_eq!(doc["apiVersion"], "meta.k8s.io/v1beta1");
    assert_eq!(
        doc["rows"][0]["cells"],
        serde_json::json!(["node-a", "1", "5Mi", "3\u{b5}s"])
    );
    assert_eq!(doc["rows"][0]["object"]["kind"], "NodeMetrics");
    assert_eq!(doc["rows"][0]["object"]["apiVersion"], "metrics.k8s.io/v1");
}

#[test]
fn discovery_documents_have_what_kubectl_needs() {
    for v in ApiVersion::ALL {
        let doc: serde_json::Value =
            serde_json::from_slice(&discovery::api_resource_list(v).unwrap()).unwrap();
        assert_eq!(doc["groupVersion"], v.group_version());
        let resources = doc["resources"].as_array().unwrap();
        assert_eq!(resources.len(), 2);
        for (r, (name, kind, namespaced)) in resources.iter().zip([
            ("nodes", "NodeMetrics", false),
            ("pods", "PodMetrics", true),
        ]) {
            assert_eq!(r["name"], name);
            assert_eq!(r["kind"], kind);
            assert_eq!(r["namespaced"], namespaced);
            assert_eq!(r["singularName"], "");
            assert_eq!(r["verbs"], serde_json::json!(["get", "list"]));
        }
    }
    let group: serde_json::Value =
        serde_json::from_slice(&discovery::api_group().unwrap()).unwrap();
    assert_eq!(group["preferredVersion"]["version"], "v1beta1");
    let list: serde_json::Value =
        serde_json::from_slice(&discovery::api_group_list().unwrap()).unwrap();
    assert_eq!(list["groups"][0]["name"], "metrics.k8s.io");
    for v in [DiscoveryVersion::V2, DiscoveryVersion::V2beta1] {
        let agg: serde_json::Value =
            serde_json::from_slice(&discovery::aggregated_discovery(v).unwrap()).unwrap();
        assert_eq!(agg["kind"], "APIGroupDiscoveryList");
        let first = &agg["items"][0]["versions"][0];
        assert_eq!(first["version"], "v1beta1");
        assert_eq!(first["freshness"], "Current");
        let scopes: Vec<_> = first["resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["scope"].clone(),
                    r["responseKind"]["kind"].clone(),
                    r["singularResource"].clone(),
                )
            })
            .collect();
        assert_eq!(
            scopes,
            [
                (
                    serde_json::json!("Cluster"),
                    serde_json::json!("NodeMetrics"),
                    serde_json::json!("")
                ),
                (
                    serde_json::json!("Namespaced"),
                    serde_json::json!("PodMetrics"),
                    serde_json::json!("")
                ),
            ]
        );
        let core: serde_json::Value =
            serde_json::from_slice(&discovery::core_aggregated_discovery_empty(v).unwrap())
                .unwrap();
        assert_eq!(core["items"], serde_json::json!([]));
    }
}

#[test]
fn status_bodies_are_byte_exact() {
    let cases: &[(Status, &str)] = &[
        (
            Status::node_metrics_not_found("node-a", None),
            r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"nodemetrics.metrics.k8s.io \"node-a\" not found","reason":"NotFound","details":{"name":"node-a","group":"metrics.k8s.io","kind":"nodemetrics"},"code":404}"#,
        ),
        (
            Status::pod_not_found("web-1"),
            r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"pods \"web-1\" not found","reason":"NotFound","details":{"name":"web-1","kind":"pods"},"code":404}"#,
        ),
        (
            Status::unknown_field_selector(
                "spec.nodeName",
                &["metadata.name", "metadata.namespace"],
            ),
            r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"\"spec.nodeName\" is not a known field selector: only \"metadata.name\", \"metadata.namespace\"","reason":"BadRequest","code":400}"#,
        ),
        (
            Status::watch_not_supported("nodes.metrics.k8s.io"),
            r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"watch is not supported on resources of kind \"nodes.metrics.k8s.io\"","reason":"MethodNotAllowed","details":{"group":"metrics.k8s.io","kind":"nodes"},"code":405}"#,
        ),
        (
            Status::service_unavailable("the server is currently unable to handle the request"),
            r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"the server is currently unable to handle the request","reason":"ServiceUnavailable","code":503}"#,
        ),
        (
            Status::not_acceptable(&["application/json"]),
            r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"only the following media types are accepted: application/json","reason":"NotAcceptable","code":406}"#,
        ),
    ];
    for (status, want) in cases {
        assert_eq!(text(status.to_json()), format!("{want}\n"));
    }
}

#[test]
fn pretty_output_is_indented_and_equivalent() {
    let mut out = Vec::new();
    write_pod_metrics_list(&mut out, ApiVersion::V1beta1, &[]);
    let pretty = String::from_utf8(indent(&out)).unwrap();
    assert_eq!(
        pretty,
        "{\n  \"kind\": \"PodMetricsList\",\n  \"apiVersion\": \"metrics.k8s.io/v1beta1\",\n  \"metadata\": {},\n  \"items\": []\n}"
    );
    let status = Status::internal("x, y: {z}");
    let a: serde_json::Value = serde_json::from_slice(&indent(&status.to_json())).unwrap();
    let b: serde_json::Value = serde_json::from_slice(&status.to_json()).unwrap();
    assert_eq!(a, b);
}

/// Swap and ephemeral storage (`--extra-resources`): keys in a ResourceList's sorted order,
/// quantities in bytes like memory.
fn web1_figures() -> [ExtraUsage; 2] {
    [
        ExtraUsage {
            swap_bytes: Some(3 << 20),
            ephemeral_storage_bytes: Some(40 << 20),
        },
        ExtraUsage {
            swap_bytes: Some(0),
            ephemeral_storage_bytes: Some(1_000),
        },
    ]
}

#[test]
fn extra_resources_join_usage_in_key_order_as_byte_quantities() {
    let usage = web1_usage();
    let figures = web1_figures();
    let pod_labels = labels(&[("app", "x")]);
    let created = ts("2026-11-25T22:41:10Z");
    let pod =
        PodItem::new("default", "web-1", &pod_labels, created, &usage).with_extra(Some(&figures));
    let mut out = Vec::new();
    write_pod_metrics(&mut out, ApiVersion::V1, &pod);
    assert_eq!(
        text(out),
        concat!(
            r#"{"kind":"PodMetrics","apiVersion":"metrics.k8s.io/v1","metadata":{"name":"web-1","namespace":"default","creationTimestamp":"2026-11-25T22:41:10Z","labels":{"app":"x"}},"timestamp":"2026-11-25T22:41:01Z","window":"10.009s","containers":["#,
            r#"{"name":"app","usage":{"cpu":"2345678n","ephemeral-storage":"40Mi","memory":"45678Ki","swap":"3Mi"}},"#,
            r#"{"name":"sidecar","usage":{"cpu":"345678n","ephemeral-storage":"1k","memory":"12345Ki","swap":"0"}}]}"#,
            "\n"
        )
    );
    // Without figures: the same bytes as a server without extra resources.
    let (mut with_none, mut plain) = (Vec::new(), Vec::new());
    write_pod_metrics(&mut with_none, ApiVersion::V1, &pod.with_extra(None));
    let upstream = PodItem::new("default", "web-1", &pod_labels, created, &usage);
    write_pod_metrics(&mut plain, ApiVersion::V1, &upstream);
    assert_eq!(with_none, plain);

    let node_usage = NodeUsage {
        timestamp: ts("2026-11-25T22:41:03Z"),
        window_ns: 10_009_000_000,
        usage: Usage {
            cpu_nanocores: 123_456_789,
            memory_bytes: 1234 * 1024,
        },
    };
    let node_figures = ExtraUsage {
        swap_bytes: None,
        ephemeral_storage_bytes: Some(106_943_070_208),
    };
    let node = NodeItem {
        meta: ObjectMeta {
            name: "node-a",
            namespace: None,
            labels: None,
            encoded_labels: None,
            creation_timestamp: created,
        },
        usage: &node_usage,
        extra: Some(&node_figures),
    };
    let mut out = Vec::new();
    write_node_metrics(&mut out, ApiVersion::V1beta1, &node);
    let doc: serde_json::Value = serde_json::from_str(&text(out.clone())).unwrap();
    assert_eq!(
        doc["usage"],
        serde_json::json!({"cpu": "123456789n", "ephemeral-storage": "104436592Ki", "memory": "1234Ki"})
    );
    let yaml =
        String::from_utf8(metrics_server::api::encode::yaml::from_json(&out).unwrap()).unwrap();
    assert!(
        yaml.contains(
            "usage:\n  cpu: 123456789n\n  ephemeral-storage: 104436592Ki\n  memory: 1234Ki\n"
        ),
        "{yaml}"
    );

    let mut out = Vec::new();
    metrics_server::api::encode::protobuf::write_node_metrics(&mut out, ApiVersion::V1, &node);
    let unknown =
        <metrics_server::api::encode::protobuf::Unknown as prost::Message>::decode(&out[4..])
            .unwrap();
    let decoded = <metrics_server::api::encode::protobuf::NodeMetrics as prost::Message>::decode(
        &unknown.raw[..],
    )
    .unwrap();
    assert_eq!(decoded.usage["ephemeral-storage"].string, "104436592Ki");
    assert_eq!(decoded.usage.len(), 3);
}

#[test]
fn tables_get_a_column_per_extra_resource_served() {
    let usage = web1_usage();
    let figures = web1_figures();
    let empty = BTreeMap::new();
    let created = ts("2026-11-25T22:41:10Z");
    let with = PodItem::new("default", "web-1", &empty, created, &usage).with_extra(Some(&figures));
    let half = [figures[0], ExtraUsage::default()];
    let without_one =
        PodItem::new("default", "web-2", &empty, created, &usage).with_extra(Some(&half));
    let none = PodItem::new("default", "web-3", &empty, created, &usage);
    let mut out = Vec::new();
    write_pod_table(
        &mut out,
        TableVersion::V1,
        &[with, without_one, none],
        IncludeObject::None,
        ApiVersion::V1,
        ExtraResources::ALL,
    );
    let doc: serde_json::Value = serde_json::from_str(&text(out)).unwrap();
    let columns: Vec<&str> = doc["columnDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        columns,
        [
            "Name",
            "cpu",
            "ephemeral-storage",
            "memory",
            "swap",
            "Window"
        ]
    );
    assert_eq!(doc["columnDefinitions"][2]["format"], "quantity");
    // 40Mi + 1000 bytes; 3Mi + 0; each container lacking a figure makes the cell unknown.
    assert_eq!(
        doc["rows"][0]["cells"],
        serde_json::json!(["web-1", "2691356n", "41944040", "58023Ki", "3Mi", "10.009s"])
    );
    assert_eq!(
        doc["rows"][1]["cells"],
        serde_json::json!([
            "web-2",
            "2691356n",
            "<unknown>",
            "58023Ki",
            "<unknown>",
            "10.009s"
        ])
    );
    assert_eq!(doc["rows"][2]["cells"][2], "<unknown>");

    let swap_only = ExtraResources {
        swap: true,
        ..ExtraResources::NONE
    };
    let mut out = Vec::new();
    write_pod_table(
        &mut out,
        TableVersion::V1,
        &[with],
        IncludeObject::None,
        ApiVersion::V1,
        swap_only,
    );
    let doc: serde_json::Value = serde_json::from_str(&text(out)).unwrap();
    assert_eq!(
        doc["rows"][0]["cells"],
        serde_json::json!(["web-1", "2691356n", "58023Ki", "3Mi", "10.009s"])
    );
}
