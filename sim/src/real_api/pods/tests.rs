#![allow(clippy::unwrap_used)]

use super::*;

const MIB: u64 = 1 << 20;

fn pod(value: serde_json::Value) -> Pod {
    serde_json::from_value(value).unwrap()
}

fn web_pod(annotations: serde_json::Value, status: serde_json::Value) -> Pod {
    pod(json!({
        "metadata": {
            "name": "web-1", "namespace": "shop", "uid": "u-1",
            "labels": { "app": "web" }, "annotations": annotations,
        },
        "spec": {
            "nodeName": "sim-node-1",
            "containers": [
                { "name": "app", "image": "registry.example/web:1",
                  "resources": { "requests": { "cpu": "100m", "memory": "64Mi" } } },
                { "name": "sidecar", "image": "registry.example/proxy:2" },
            ],
        },
        "status": status,
    }))
}

fn namespace(annotations: serde_json::Value) -> Namespace {
    serde_json::from_value(json!({ "metadata": { "name": "shop", "annotations": annotations } }))
        .unwrap()
}

const DEFAULTS: TrueUsage = TrueUsage {
    cpu_millicores: 5,
    memory_bytes: 16 * MIB,
};

#[test]
fn pending_pods_are_marked_running_and_running_ready_pods_are_left_alone() {
    let pending = web_pod(json!({}), json!({ "phase": "Pending" }));
    assert_eq!(action(&pending), PodAction::MarkRunning);
    let ready = web_pod(
        json!({}),
        json!({ "phase": "Running", "conditions": [{ "type": "Ready", "status": "True" }] }),
    );
    assert_eq!(action(&ready), PodAction::Nothing);
    let not_ready = web_pod(json!({}), json!({ "phase": "Running" }));
    assert_eq!(action(&not_ready), PodAction::MarkRunning);
    let mut deleting = ready.clone();
    deleting.metadata.deletion_timestamp = ready.metadata.creation_timestamp.clone().or(Some(
        k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(jiff_now()),
    ));
    assert_eq!(action(&deleting), PodAction::Finalize);
    let done = web_pod(json!({}), json!({ "phase": "Succeeded" }));
    assert_eq!(action(&done), PodAction::Nothing);
}

fn jiff_now() -> k8s_openapi::jiff::Timestamp {
    k8s_openapi::jiff::Timestamp::from_second(1_780_000_000).unwrap()
}

#[test]
fn usage_comes_from_the_pod_then_the_namespace_then_the_defaults() {
    let mut warnings = Vec::new();
    let annotated = web_pod(json!({ CPU_ANNOTATION: "150m" }), json!({}));
    let ns = namespace(json!({ CPU_ANNOTATION: "40m", MEMORY_ANNOTATION: "1Gi" }));
    assert_eq!(
        pod_usage(&annotated, Some(&ns), DEFAULTS, &mut warnings),
        TrueUsage {
            cpu_millicores: 150,
            memory_bytes: 1 << 30
        }
    );
    let plain = web_pod(json!({}), json!({}));
    assert_eq!(
        pod_usage(&plain, Some(&ns), DEFAULTS, &mut warnings).cpu_millicores,
        40
    );
    assert_eq!(pod_usage(&plain, None, DEFAULTS, &mut warnings), DEFAULTS);
    assert!(warnings.is_empty());
}

#[test]
fn a_bad_annotation_is_reported_and_the_next_source_used() {
    let mut warnings = Vec::new();
    let bad = web_pod(json!({ CPU_ANNOTATION: "lots" }), json!({}));
    let usage = pod_usage(&bad, None, DEFAULTS, &mut warnings);
    assert_eq!(usage.cpu_millicores, 5);
    assert_eq!(warnings.len(), 1);
    assert!(warnings[0].contains("pod annotation sim.metrics-server-rs.io/cpu"));
    assert!(warnings[0].contains("\"lots\""));
}

#[test]
fn disk_annotations_of_the_pod_then_its_namespace_else_zero() {
    let p = web_pod(
        json!({STORAGE_ANNOTATION: "64Mi", EMPTY_DIR_ANNOTATION: "bad"}),
        json!({}),
    );
    let ns = namespace(json!({SWAP_ANNOTATION: "1Mi", EMPTY_DIR_ANNOTATION: "8Ki"}));
    let mut warnings = Vec::new();
    let disk = pod_disk(&p, Some(&ns), &mut warnings);
    assert_eq!(
        disk,
        PodDiskNotes {
            swap_bytes: MIB,
            storage_bytes: 64 * MIB,
            empty_dir_bytes: 8 * 1024,
        }
    );
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert_eq!(pod_disk(&p, None, &mut warnings).swap_bytes, 0);
}

#[test]
fn the_live_pod_splits_usage_over_containers_and_keeps_requests() {
    let p = web_pod(json!({}), json!({}));
    let usage = TrueUsage {
        cpu_millicores: 151,
        memory_bytes: 64 * MIB,
    };
    let disk = PodDiskNotes {
        swap_bytes: 3,
        storage_bytes: 64 * MIB + 1,
        empty_dir_bytes: 5,
    };
    let live = live_pod(&p, "sim-node-1", Timestamp::from_secs(100), usage, disk);
    assert_eq!(live.namespace, "shop");
    let storage: Vec<(u64, u64)> = (live.containers.iter())
        .map(|c| (c.disk.rootfs_bytes, c.disk.swap_bytes))
        .collect();
    assert_eq!(storage, [(32 * MIB + 1, 2), (32 * MIB, 1)]);
    assert_eq!(live.empty_dir_bytes, 5);
    assert_eq!(live.uid, "u-1");
    assert_eq!(live.labels, vec![("app".to_owned(), "web".to_owned())]);
    let cpu: Vec<u64> = live
        .containers
        .iter()
        .map(|c| c.usage.cpu_millicores)
        .collect();
    assert_eq!(cpu, vec![76, 75]);
    assert_eq!(
        live.containers[0].request,
        TrueUsage {
            cpu_millicores: 100,
            memory_bytes: 64 * MIB
        }
    );
    assert_eq!(live.containers[1].request, TrueUsage::default());
}

#[test]
fn the_running_status_is_ready_with_one_running_status_per_container() {
    let p = web_pod(json!({}), json!({}));
    let status = running_status(
        &p,
        Ipv4Addr::new(127, 0, 1, 2),
        Ipv4Addr::new(10, 244, 1, 1),
        Timestamp::from_secs(1_780_000_000),
    );
    let s = &status["status"];
    assert_eq!(s["phase"], "Running");
    assert_eq!(s["hostIP"], "127.0.1.2");
    assert_eq!(s["podIP"], "10.244.1.1");
    assert!(
        s["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["type"] == "Ready" && c["status"] == "True")
    );
    let containers = s["containerStatuses"].as_array().unwrap();
    assert_eq!(containers.len(), 2);
    assert_eq!(containers[1]["name"], "sidecar");
    assert_eq!(
        containers[0]["state"]["running"]["startedAt"],
        s["startTime"]
    );
    // The status deserializes as a pod status the API would accept.
    let back: Pod = serde_json::from_value(status).unwrap();
    assert_eq!(back.status.unwrap().phase.as_deref(), Some("Running"));
}

#[test]
fn pod_ips_are_stable_per_pod_and_distinct_per_node() {
    let mut ips = PodIps::default();
    let n1 = NodeSlot {
        index: 0,
        ip: Ipv4Addr::new(127, 0, 1, 2),
    };
    let n2 = NodeSlot {
        index: 1,
        ip: Ipv4Addr::new(127, 0, 1, 3),
    };
    let a = ips.get("a", &n1);
    assert_eq!(a, Ipv4Addr::new(10, 244, 1, 1));
    assert_eq!(ips.get("a", &n1), a);
    assert_eq!(ips.get("b", &n1), Ipv4Addr::new(10, 244, 1, 2));
    assert_eq!(ips.get("c", &n2), Ipv4Addr::new(10, 244, 2, 1));
}
