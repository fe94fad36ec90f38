use super::*;
use crate::batch::MetricsPoint;

fn ok(body: &str) -> NodeBatch<'_> {
    decode_summary(body.as_bytes()).unwrap()
}

fn t(s: &str) -> Timestamp {
    Timestamp::parse_rfc3339(s).unwrap()
}

const MINIMAL: &str = r#"{
  "node": {"nodeName": "n1", "cpu": {"time": "2026-01-13T18:40:14Z", "usageNanoCores": 5,
           "usageCoreNanoSeconds": 63349226000},
           "memory": {"time": "2026-01-13T18:40:15Z", "workingSetBytes": 898445312, "psi": {}}},
  "pods": [
    {"podRef": {"name": "web-0", "namespace": "default", "uid": "u"},
     "containers": [
       {"name": "app", "startTime": "2026-01-13T18:39:41Z",
        "cpu": {"time": "2026-01-13T18:40:16Z", "usageCoreNanoSeconds": 2756273000},
        "memory": {"time": "2026-01-13T18:40:17Z", "workingSetBytes": 0},
        "rootfs": {"usedBytes": 1}}
     ]}
  ]
}"#;

#[test]
fn reads_node_and_container_points() {
    let batch = ok(MINIMAL);
    let node = batch.node.unwrap();
    assert_eq!(
        node,
        MetricsPoint {
            timestamp: t("2026-01-13T18:40:15Z"),
            start_time: None,
            cpu_ns: 63_349_226_000,
            memory_bytes: 898_445_312,
        }
    );
    assert_eq!(batch.pods.len(), 1);
    let pod = &batch.pods[0];
    assert_eq!(
        (&*pod.namespace, &*pod.name, pod.complete),
        ("default", "web-0", true)
    );
    assert!(matches!(pod.name, Cow::Borrowed(_)));
    let c = &pod.containers[0];
    assert_eq!(c.name, "app");
    assert_eq!(
        c.point.timestamp,
        t("2026-01-13T18:40:17Z"),
        "memory time wins"
    );
    assert_eq!(c.point.start_time, Some(t("2026-01-13T18:39:41Z")));
    assert_eq!((c.point.cpu_ns, c.point.memory_bytes), (2_756_273_000, 0));
}

#[test]
fn cpu_time_is_used_without_memory_time() {
    let body = r#"{"node": {"cpu": {"time": "2026-01-13T18:40:14Z", "usageCoreNanoSeconds": 1},
                            "memory": {"workingSetBytes": 2}}}"#;
    assert_eq!(ok(body).node.unwrap().timestamp, t("2026-01-13T18:40:14Z"));
}

#[test]
fn everything_is_optional() {
    assert_eq!(ok("{}"), NodeBatch::default());
    assert_eq!(ok(r#"{"node": null, "pods": null}"#), NodeBatch::default());
    assert_eq!(ok(r#"{"node": {}, "pods": [{}]}"#), NodeBatch::default());
}

#[test]
fn node_needs_cpu_counter_memory_and_time() {
    let zero_cpu = r#"{"node": {"cpu": {"time": "2026-01-13T18:40:14Z", "usageCoreNanoSeconds": 0},
                                "memory": {"workingSetBytes": 2}}}"#;
    assert_eq!(ok(zero_cpu).node, None);
    let no_memory =
        r#"{"node": {"cpu": {"time": "2026-01-13T18:40:14Z", "usageCoreNanoSeconds": 1}}}"#;
    assert_eq!(ok(no_memory).node, None);
    let no_time =
        r#"{"node": {"cpu": {"usageCoreNanoSeconds": 1}, "memory": {"workingSetBytes": 2}}}"#;
    assert_eq!(ok(no_time).node, None);
}

#[test]
fn incomplete_containers_flag_the_pod() {
    let body = r#"{"pods": [
      {"podRef": {"name": "p", "namespace": "n"}, "containers": [
        {"name": "good", "cpu": {"time": "2026-01-13T18:40:14Z", "usageCoreNanoSeconds": 1},
         "memory": {"workingSetBytes": 0}},
        {"name": "nocpu", "memory": {"time": "2026-01-13T18:40:14Z", "workingSetBytes": 1}}]},
      {"podRef": {"name": "q", "namespace": "n"}, "containers": [
        {"name": "nomem", "cpu": {"time": "2026-01-13T18:40:14Z", "usageCoreNanoSeconds": 1}}]},
      {"podRef": {"name": "r", "namespace": "n"}, "containers": [
        {"cpu": {"time": "2026-01-13T18:40:14Z", "usageCoreNanoSeconds": 1},
         "memory": {"workingSetBytes": 1}}]},
      {"podRef": {"name": "s", "namespace": "n"}, "containers": [
        {"name": "zerotime", "cpu": {"time": "0001-01-01T00:00:00Z", "usageCoreNanoSeconds": 1},
         "memory": {"workingSetBytes": 1}}]}
    ]}"#;
    let batch = ok(body);
    let names: Vec<_> = batch.pods.iter().map(|p| &*p.name).collect();
    assert_eq!(names, ["p", "q", "r", "s"]);
    assert!(batch.pods.iter().all(|p| !p.complete));
    assert_eq!(batch.pods[0].containers.len(), 1);
    assert_eq!(batch.pods[0].containers[0].name, "good");
    assert_eq!(batch.container_count(), 1);
}

#[test]
fn unattributable_or_empty_pods_are_skipped() {
    let body = r#"{"pods": [
      {"podRef": {"name": "p"}, "containers": [{"name": "c"}]},
      {"podRef": {"name": "", "namespace": "n"}, "containers": [{"name": "c"}]},
      {"podRef": {"name": "q", "namespace": "n"}, "containers": []},
      {"podRef": {"name": "r", "namespace": "n"}}
    ]}"#;
    assert!(ok(body).pods.is_empty());
}

#[test]
fn zero_start_time_is_unknown() {
    let body = r#"{"pods": [{"podRef": {"name": "p", "namespace": "n"}, "containers": [
        {"name": "c", "startTime": "1970-01-01T00:00:00Z",
         "cpu": {"time": "2026-01-13T18:40:14Z", "usageCoreNanoSeconds": 1},
         "memory": {"workingSetBytes": 1}}]}]}"#;
    let batch = ok(body);
    assert_eq!(batch.pods[0].containers[0].point.start_time, None);
}

#[test]
fn escaped_names_are_unescaped() {
    let body = r#"{"pods": [{"podRef": {"name": "p\u0041", "namespace": "n"}, "containers": [
        {"name": "c", "cpu": {"time": "2026-01-13T18:40:14Z", "usageCoreNanoSeconds": 1},
         "memory": {"workingSetBytes": 1}}]}]}"#;
    assert_eq!(ok(body).pods[0].name, "pA");
}

#[test]
fn malformed_json_reports_serde_position() {
    let e = decode_summary(b"{\"node\": {\"cpu\": [}}").unwrap_err();
    assert!(
        e.to_string()
            .starts_with("invalid summary JSON at line 1 column "),
        "{e}"
    );
    let e = decode_summary(b"").unwrap_err();
    assert!(e.to_string().contains("EOF"), "{e}");
    let body = "{\n\"node\": {\"cpu\": {\"usageCoreNanoSeconds\": -1}}}";
    assert_eq!(
        decode_summary(body.as_bytes()).unwrap_err().line_number(),
        2
    );
}

#[test]
fn bad_timestamp_is_an_error_with_position() {
    let body = "{\"node\": {\n  \"memory\": {\"time\": \"yesterday\"}}}";
    let e = decode_summary(body.as_bytes()).unwrap_err();
    let text = e.to_string();
    assert!(
        text.starts_with("invalid summary JSON at line 2 column "),
        "{text}"
    );
    assert!(
        text.ends_with(r#"invalid RFC 3339 timestamp "yesterday""#),
        "{text}"
    );
}

#[test]
fn go_zero_time_reads_as_missing_but_garbage_does_not() {
    let body = r#"{"node": {"cpu": {"time": "0001-01-01T00:00:00Z", "usageCoreNanoSeconds": 1},
                            "memory": {"workingSetBytes": 2}}}"#;
    assert_eq!(ok(body).node, None);
    assert!(decode_summary(br#"{"node": {"cpu": {"time": "0001-01-01"}}}"#).is_err());
    assert!(decode_summary(br#"{"node": {"cpu": {"time": "2026"}}}"#).is_err());
}
