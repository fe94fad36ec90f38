use super::*;
use crate::batch::{MetricsPoint, NodeBatch};

/// When the test responses arrive: before every sample time in them (a kubelet clock ahead of
/// ours), so whole-second times stay as printed, the start of their second.
const RECEIVED: Timestamp = Timestamp(0);

fn ok(body: &str) -> NodeBatch<'_> {
    let decoded = decode_summary(body.as_bytes(), RECEIVED).unwrap();
    assert!(decoded.invalid.is_empty(), "{:?}", decoded.invalid);
    decoded.batch
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
    let e = decode_summary(b"{\"node\": {\"cpu\": [}}", RECEIVED).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("invalid summary JSON at line 1 column "),
        "{e}"
    );
    let e = decode_summary(b"", RECEIVED).unwrap_err();
    assert!(e.to_string().contains("EOF"), "{e}");
    let body = "{\n\"node\": {\"cpu\": {\"usageCoreNanoSeconds\": \"1\"}}}";
    assert_eq!(
        decode_summary(body.as_bytes(), RECEIVED)
            .unwrap_err()
            .line_number(),
        2
    );
}

#[test]
fn bad_timestamp_is_an_error_with_position() {
    let body = "{\"node\": {\n  \"memory\": {\"time\": \"yesterday\"}}}";
    let e = decode_summary(body.as_bytes(), RECEIVED).unwrap_err();
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
    assert!(decode_summary(br#"{"node": {"cpu": {"time": "0001-01-01"}}}"#, RECEIVED).is_err());
    assert!(decode_summary(br#"{"node": {"cpu": {"time": "2026"}}}"#, RECEIVED).is_err());
}

const SECOND: i64 = NANOS_PER_SEC;

fn node_time(time: &str, received: Timestamp) -> Timestamp {
    let body = format!(
        r#"{{"node": {{"cpu": {{"time": "{time}", "usageCoreNanoSeconds": 1}},
                     "memory": {{"workingSetBytes": 2}}}}}}"#
    );
    let decoded = decode_summary(body.as_bytes(), received).unwrap();
    decoded.batch.node.unwrap().timestamp
}

#[test]
fn a_whole_second_time_is_placed_by_the_arrival_within_its_second() {
    let second = t("2026-01-13T18:40:14Z");
    let within = Timestamp(second.0 + 300_000_000);
    assert_eq!(node_time("2026-01-13T18:40:14Z", within), within);
    let late = Timestamp(second.0 + 5 * SECOND);
    assert_eq!(
        node_time("2026-01-13T18:40:14Z", late),
        Timestamp(second.0 + SECOND - 1),
        "an older sample ends at its second's last instant"
    );
    let early = Timestamp(second.0 - SECOND);
    assert_eq!(node_time("2026-01-13T18:40:14Z", early), second);
}

#[test]
fn a_time_with_a_fraction_is_used_as_printed() {
    let printed = t("2026-01-13T18:40:14.25Z");
    let received = Timestamp(printed.0 + 500_000_000);
    assert_eq!(node_time("2026-01-13T18:40:14.25Z", received), printed);
    let zero_fraction = t("2026-01-13T18:40:14Z");
    assert_eq!(
        node_time("2026-01-13T18:40:14.000Z", received),
        zero_fraction,
        "a printed fraction, even .000, is a precise time"
    );
}

#[test]
fn start_times_are_not_moved() {
    let body = r#"{"pods": [{"podRef": {"name": "p", "namespace": "n"}, "containers": [
        {"name": "c", "startTime": "2026-01-13T18:39:41Z",
         "cpu": {"time": "2026-01-13T18:40:14Z", "usageCoreNanoSeconds": 1},
         "memory": {"workingSetBytes": 1}}]}]}"#;
    let received = Timestamp(t("2026-01-13T18:40:14Z").0 + 400_000_000);
    let decoded = decode_summary(body.as_bytes(), received).unwrap();
    let point = decoded.batch.pods[0].containers[0].point;
    assert_eq!(point.start_time, Some(t("2026-01-13T18:39:41Z")));
    assert_eq!(point.timestamp, received);
}

#[test]
fn impossible_numbers_withhold_only_their_item() {
    let body = r#"{"node": {"cpu": {"time": "2026-01-13T18:40:14Z", "usageCoreNanoSeconds": 9},
                            "memory": {"workingSetBytes": 2}},
      "pods": [
      {"podRef": {"name": "bad", "namespace": "n"}, "containers": [
        {"name": "a", "cpu": {"time": "2026-01-13T18:40:14Z", "usageCoreNanoSeconds": 1},
         "memory": {"workingSetBytes": 1}},
        {"name": "b", "cpu": {"time": "2026-01-13T18:40:14Z", "usageCoreNanoSeconds": -3},
         "memory": {"workingSetBytes": 1}}]},
      {"podRef": {"name": "huge", "namespace": "n"}, "containers": [
        {"name": "a", "cpu": {"time": "2026-01-13T18:40:14Z", "usageCoreNanoSeconds": 1},
         "memory": {"workingSetBytes": 1e30}}]},
      {"podRef": {"name": "ok", "namespace": "n"}, "containers": [
        {"name": "a", "cpu": {"time": "2026-01-13T18:40:14Z", "usageCoreNanoSeconds": 2.0e3},
         "memory": {"workingSetBytes": 1}}]}
    ]}"#;
    let decoded = decode_summary(body.as_bytes(), RECEIVED).unwrap();
    assert!(decoded.batch.node.is_some());
    assert!(!decoded.invalid.node);
    assert_eq!(
        decoded.invalid.pods,
        [("n".into(), "bad".into()), ("n".into(), "huge".into())]
    );
    let ok_pod = &decoded.batch.pods[2];
    assert!(ok_pod.complete);
    assert_eq!(ok_pod.containers[0].point.cpu_ns, 2_000);
    let node_invalid = r#"{"node": {"cpu": {"time": "2026-01-13T18:40:14Z",
                                            "usageCoreNanoSeconds": -1},
                                    "memory": {"workingSetBytes": 2}}}"#;
    let decoded = decode_summary(node_invalid.as_bytes(), RECEIVED).unwrap();
    assert!(decoded.invalid.node);
    assert_eq!(decoded.batch.node, None);
}
