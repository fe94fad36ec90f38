use super::*;
use crate::batch::{MetricsPoint, NodeBatch, PodBatch};

const DEFAULT: Timestamp = Timestamp(1_700_000_000_000_000_000);

fn ok(body: &str) -> NodeBatch<'_> {
    let decoded = decode_resource(body.as_bytes(), DEFAULT).unwrap();
    assert!(decoded.invalid.is_empty(), "{:?}", decoded.invalid);
    decoded.batch
}

fn err(body: &str) -> String {
    decode_resource(body.as_bytes(), DEFAULT)
        .unwrap_err()
        .to_string()
}

fn ms(ms: i64) -> Timestamp {
    Timestamp::from_millis(ms)
}

fn pod<'b>(batch: &'b NodeBatch<'_>, name: &str) -> &'b PodBatch<'b> {
    batch.pods.iter().find(|p| p.name == name).unwrap()
}

/// The shape of a kubelet 1.21 response (old `[ALPHA]` HELP, timestamps everywhere).
const ALPHA: &str = r#"# HELP container_cpu_usage_seconds_total [ALPHA] Cumulative cpu time consumed by the container in core-seconds
# TYPE container_cpu_usage_seconds_total counter
container_cpu_usage_seconds_total{container="coredns",namespace="kube-system",pod="coredns-1"} 4.710169 1633253812125
# HELP container_memory_working_set_bytes [ALPHA] Current working set of the container in bytes
# TYPE container_memory_working_set_bytes gauge
container_memory_working_set_bytes{container="coredns",namespace="kube-system",pod="coredns-1"} 1.253376e+07 1633253812126
# HELP container_start_time_seconds [ALPHA] Start time of the container since unix epoch in seconds
# TYPE container_start_time_seconds gauge
container_start_time_seconds{container="coredns",namespace="kube-system",pod="coredns-1"} 1.633252712e+09 1633253812127
# HELP node_cpu_usage_seconds_total [ALPHA] Cumulative cpu time consumed by the node in core-seconds
# TYPE node_cpu_usage_seconds_total counter
node_cpu_usage_seconds_total 357.35491 1633253809720
# HELP node_memory_working_set_bytes [ALPHA] Current working set of the node in bytes
# TYPE node_memory_working_set_bytes gauge
node_memory_working_set_bytes 1.616273408e+09 1633253809721
# HELP pod_cpu_usage_seconds_total [ALPHA] Cumulative cpu time consumed by the pod in core-seconds
# TYPE pod_cpu_usage_seconds_total counter
pod_cpu_usage_seconds_total{namespace="kube-system",pod="coredns-1"} 4.67812 1633253803935
# HELP scrape_error [ALPHA] 1 if there was an error while getting container metrics, 0 otherwise
# TYPE scrape_error gauge
scrape_error 0
"#;

/// The shape of a current kubelet (`[STABLE]`, swap, start time without timestamp).
const STABLE: &str = r#"# HELP container_cpu_usage_seconds_total [STABLE] Cumulative cpu time consumed by the container in core-seconds
# TYPE container_cpu_usage_seconds_total counter
container_cpu_usage_seconds_total{container="app",namespace="default",pod="web-0"} 12.5 1750000000000
# HELP container_memory_working_set_bytes [STABLE] Current working set of the container in bytes
# TYPE container_memory_working_set_bytes gauge
container_memory_working_set_bytes{container="app",namespace="default",pod="web-0"} 2.097152e+07 1750000000500
# HELP container_start_time_seconds [STABLE] Start time of the container since unix epoch in seconds
# TYPE container_start_time_seconds gauge
container_start_time_seconds{container="app",namespace="default",pod="web-0"} 1.7499e+09
# HELP container_swap_usage_bytes [ALPHA] Current amount of the container swap usage in bytes. Reported only on non-windows systems
# TYPE container_swap_usage_bytes gauge
container_swap_usage_bytes{container="app",namespace="default",pod="web-0"} 0 1750000000500
# HELP node_cpu_usage_seconds_total [STABLE] Cumulative cpu time consumed by the node in core-seconds
# TYPE node_cpu_usage_seconds_total counter
node_cpu_usage_seconds_total 100 1750000000000
# HELP node_memory_working_set_bytes [STABLE] Current working set of the node in bytes
# TYPE node_memory_working_set_bytes gauge
node_memory_working_set_bytes 1e+09 1750000000000
# HELP node_swap_usage_bytes [ALPHA] Current swap usage of the node in bytes. Reported only on non-windows systems
# TYPE node_swap_usage_bytes gauge
node_swap_usage_bytes 0 1750000000000
# HELP resource_scrape_error [STABLE] 1 if there was an error while getting container metrics, 0 otherwise
# TYPE resource_scrape_error gauge
resource_scrape_error 0
# HELP scrape_error [ALPHA] 1 if there was an error while getting container metrics, 0 otherwise
# TYPE scrape_error gauge
scrape_error 0
"#;

#[test]
fn old_alpha_payload_decodes_like_upstream_normal_case() {
    let batch = ok(ALPHA);
    let node = batch.node.unwrap();
    assert_eq!(node.cpu_ns, 357_354_910_000);
    assert_eq!(node.memory_bytes, 1_616_273_408);
    assert_eq!(node.timestamp, ms(1633253809721), "memory's timestamp");
    assert_eq!(node.start_time, None);
    assert_eq!(batch.pods.len(), 1);
    let p = &batch.pods[0];
    assert_eq!(
        (&*p.namespace, &*p.name, p.complete),
        ("kube-system", "coredns-1", true)
    );
    assert!(matches!(p.name, Cow::Borrowed(_)));
    assert_eq!(p.containers.len(), 1);
    assert_eq!(p.containers[0].name, "coredns");
    let point = p.containers[0].point;
    assert_eq!(
        point,
        MetricsPoint {
            timestamp: ms(1633253812126),
            start_time: Some(Timestamp::from_secs(1_633_252_712)),
            cpu_ns: 4_710_169_000,
            memory_bytes: 12_533_760,
        }
    );
}

#[test]
fn current_stable_payload_decodes_and_ignores_extra_series() {
    let batch = ok(STABLE);
    let node = batch.node.unwrap();
    assert_eq!(
        (node.cpu_ns, node.memory_bytes),
        (100 * NANOS_PER_SEC as u64, 1_000_000_000)
    );
    let p = pod(&batch, "web-0");
    assert!(p.complete);
    let point = p.containers[0].point;
    assert_eq!(point.start_time, Some(Timestamp::from_secs(1_749_900_000)));
    assert_eq!(point.timestamp, ms(1750000000500));
    assert_eq!(point.memory_bytes, 20_971_520);
}

#[test]
fn crlf_line_ends_are_accepted() {
    let crlf = ALPHA.replace('\n', "\r\n");
    assert_eq!(ok(&crlf), ok(ALPHA));
}

#[test]
fn missing_timestamps_use_the_default_time() {
    let batch = ok("node_cpu_usage_seconds_total 1\nnode_memory_working_set_bytes 2");
    assert_eq!(batch.node.unwrap().timestamp, DEFAULT);
}

#[test]
fn memory_timestamp_wins_whatever_the_line_order() {
    let body = "node_memory_working_set_bytes 2 2000\nnode_cpu_usage_seconds_total 1 3000\n";
    assert_eq!(ok(body).node.unwrap().timestamp, ms(2000));
}

#[test]
fn start_time_sample_timestamp_is_ignored_and_non_positive_start_is_unknown() {
    let body = r#"container_cpu_usage_seconds_total{container="c",namespace="n",pod="a"} 1 5000
container_memory_working_set_bytes{container="c",namespace="n",pod="a"} 1 5000
container_start_time_seconds{container="c",namespace="n",pod="a"} 4 9999
container_cpu_usage_seconds_total{container="c",namespace="n",pod="b"} 1 5000
container_memory_working_set_bytes{container="c",namespace="n",pod="b"} 1 5000
container_start_time_seconds{container="c",namespace="n",pod="b"} -6.7953645788713455e+09
container_cpu_usage_seconds_total{container="c",namespace="n",pod="z"} 1 5000
container_memory_working_set_bytes{container="c",namespace="n",pod="z"} 1 5000
container_start_time_seconds{container="c",namespace="n",pod="z"} 0
"#;
    let batch = ok(body);
    let a = pod(&batch, "a").containers[0].point;
    assert_eq!(
        (a.timestamp, a.start_time),
        (ms(5000), Some(Timestamp::from_secs(4)))
    );
    assert_eq!(pod(&batch, "b").containers[0].point.start_time, None);
    assert_eq!(pod(&batch, "z").containers[0].point.start_time, None);
    assert!(batch.pods.iter().all(|p| p.complete));
}

#[test]
fn metric_names_must_match_exactly() {
    let body = r#"container_cpu_usage_seconds_total_foo{container="c",namespace="n",pod="p"} 1
container_memory_working_set_bytes{container="c",namespace="n",pod="p"} 1
node_cpu_usage_seconds_totalx 5
node_memory_working_set_bytes 5
"#;
    let batch = ok(body);
    assert_eq!(batch.node, None, "no node CPU was given");
    assert!(!batch.pods[0].complete, "no container CPU was given");
    assert!(batch.pods[0].containers.is_empty());
}

#[test]
fn labels_in_any_order_and_escapes() {
    let body = r#"container_cpu_usage_seconds_total{pod="p\"q",id="/kubepods",container="c",namespace="n"} 2 10
container_memory_working_set_bytes{namespace="n",container="c",pod="p\"q"} 3 10
"#;
    let batch = ok(body);
    assert_eq!(batch.pods.len(), 1);
    assert_eq!(batch.pods[0].name, "p\"q");
    assert_eq!(batch.pods[0].containers[0].point.cpu_ns, 2_000_000_000);
    assert_eq!(batch.pods[0].containers[0].point.memory_bytes, 3);
}

#[test]
fn incomplete_containers_flag_their_pod_but_the_pod_stays() {
    let body = r#"container_cpu_usage_seconds_total{container="ok",namespace="n",pod="p"} 1
container_memory_working_set_bytes{container="ok",namespace="n",pod="p"} 0
container_memory_working_set_bytes{container="nocpu",namespace="n",pod="p"} 5
container_cpu_usage_seconds_total{container="zero",namespace="n",pod="q"} 0
container_memory_working_set_bytes{container="zero",namespace="n",pod="q"} 5
container_start_time_seconds{container="started",namespace="n",pod="r"} 1e9
container_cpu_usage_seconds_total{container="nomem",namespace="n",pod="s"} 1
"#;
    let batch = ok(body);
    let names: Vec<_> = batch.pods.iter().map(|p| &*p.name).collect();
    assert_eq!(names, ["p", "q", "r", "s"]);
    assert!(batch.pods.iter().all(|p| !p.complete));
    let p = pod(&batch, "p");
    assert_eq!(p.containers.len(), 1);
    assert_eq!(
        (&*p.containers[0].name, p.containers[0].point.memory_bytes),
        ("ok", 0)
    );
    assert!(batch.pods[1..].iter().all(|p| p.containers.is_empty()));
}

#[test]
fn node_needs_non_zero_cpu_and_a_memory_value() {
    let zero_cpu = "node_cpu_usage_seconds_total 0 1\nnode_memory_working_set_bytes 5 1\n";
    assert_eq!(ok(zero_cpu).node, None);
    assert_eq!(ok("node_cpu_usage_seconds_total 1 1\n").node, None);
    let zero_memory = "node_cpu_usage_seconds_total 1 1\nnode_memory_working_set_bytes 0 1\n";
    assert_eq!(ok(zero_memory).node.unwrap().memory_bytes, 0);
}

#[test]
fn pods_and_containers_keep_first_seen_order() {
    let mut body = String::new();
    for series in [
        "container_cpu_usage_seconds_total",
        "container_memory_working_set_bytes",
    ] {
        for (pod, container) in [("b", "y"), ("a", "x"), ("b", "x")] {
            body +=
                &format!("{series}{{container=\"{container}\",namespace=\"n\",pod=\"{pod}\"}} 1\n");
        }
    }
    let batch = ok(&body);
    let names: Vec<_> = batch.pods.iter().map(|p| &*p.name).collect();
    assert_eq!(names, ["b", "a"]);
    let containers: Vec<_> = batch.pods[0].containers.iter().map(|c| &*c.name).collect();
    assert_eq!(containers, ["y", "x"]);
    assert_eq!(batch.container_count(), 3);
}

#[test]
fn ignored_series_may_carry_any_valid_value() {
    let body = "pod_cpu_usage_seconds_total{namespace=\"n\",pod=\"p\"} NaN\n\
                container_swap_usage_bytes{container=\"c\",namespace=\"n\",pod=\"p\"} -1\n\
                node_memory_commit_bytes +Inf\nresource_scrape_error 1\nsomething_else -Inf 5\n";
    assert_eq!(ok(body), NodeBatch::default());
}

#[test]
fn empty_and_comment_only_input_give_an_empty_batch() {
    assert_eq!(ok(""), NodeBatch::default());
    assert_eq!(ok("\n\r\n# HELP x y\n"), NodeBatch::default());
}

#[test]
fn errors_name_the_line() {
    let bad_value = format!("{}node_cpu_usage_seconds_total abc 1\n", "# c\n".repeat(16));
    assert_eq!(err(&bad_value), r#"line 17: invalid sample value "abc""#);
    let body = "# HELP x\n\nm{a=\"b\"} 1 -62135596800000\n";
    assert_eq!(err(body), "line 3: negative timestamp -62135596800000");
    assert_eq!(err("x 1\ny{a=\"b\n"), "line 2: unterminated label value");
    assert_eq!(
        err("x 1\r\ny 2 3 4\r\n"),
        "line 2: unexpected text \"4\" after the sample"
    );
}

/// One kubelet body: the node, pod `ok` and pod `bad` (containers `a` and `b`), with `value`
/// as `b`'s `series`.
fn with_bad_value(series: &str, value: &str) -> String {
    let mut body =
        String::from("node_cpu_usage_seconds_total 10\nnode_memory_working_set_bytes 5\n");
    for (pod, container) in [("ok", "a"), ("bad", "a"), ("bad", "b")] {
        for name in [
            "container_cpu_usage_seconds_total",
            "container_memory_working_set_bytes",
            "container_start_time_seconds",
        ] {
            let value = if (pod, container, name) == ("bad", "b", series) {
                value
            } else {
                "7"
            };
            body += &format!(
                "{name}{{container=\"{container}\",namespace=\"n\",pod=\"{pod}\"}} {value}\n"
            );
        }
    }
    body
}

#[test]
fn bad_values_on_used_series_withhold_only_their_pod() {
    for (series, value) in [
        ("container_cpu_usage_seconds_total", "NaN"),
        ("container_cpu_usage_seconds_total", "+Inf"),
        ("container_memory_working_set_bytes", "-5"),
        ("container_memory_working_set_bytes", "-Inf"),
        ("container_start_time_seconds", "NaN"),
    ] {
        let body = with_bad_value(series, value);
        let decoded = decode_resource(body.as_bytes(), DEFAULT).unwrap();
        let case = format!("{series} {value}");
        assert!(decoded.batch.node.is_some(), "{case}: the node stays");
        assert!(!decoded.invalid.node, "{case}");
        assert_eq!(decoded.invalid.pods, [("n".into(), "bad".into())], "{case}");
        let ok_pod = pod(&decoded.batch, "ok");
        assert!(ok_pod.complete && ok_pod.containers.len() == 1, "{case}");
        let bad_pod = pod(&decoded.batch, "bad");
        assert!(!bad_pod.complete, "{case}");
        let kept: Vec<_> = bad_pod.containers.iter().map(|c| &*c.name).collect();
        assert_eq!(
            kept,
            ["a"],
            "{case}: only the container with the value is left out"
        );
    }
}

#[test]
fn a_bad_node_value_withholds_only_the_node() {
    for body in [
        "node_cpu_usage_seconds_total NaN\nnode_memory_working_set_bytes 5\n",
        "node_cpu_usage_seconds_total 1\nnode_memory_working_set_bytes -1\n",
    ] {
        let body = format!("{body}{}", with_bad_value("none", "7"));
        let decoded = decode_resource(body.as_bytes(), DEFAULT).unwrap();
        assert!(decoded.invalid.node && decoded.invalid.pods.is_empty());
        assert_eq!(decoded.batch.node, None);
        assert!(decoded.batch.pods.iter().all(|p| p.complete));
    }
}

#[test]
fn a_negative_start_time_is_unknown_not_invalid() {
    let body = with_bad_value("container_start_time_seconds", "-1");
    let batch = ok(&body);
    let bad = pod(&batch, "bad");
    assert!(bad.complete);
    assert_eq!(bad.containers[1].point.start_time, None);
}

#[test]
fn container_series_need_their_labels() {
    assert_eq!(
        err("container_cpu_usage_seconds_total{container=\"c\",namespace=\"n\"} 1"),
        "line 1: container_cpu_usage_seconds_total without a \"pod\" label"
    );
    assert_eq!(
        err("container_cpu_usage_seconds_total{container=\"\",namespace=\"n\",pod=\"p\"} 1"),
        "line 1: container_cpu_usage_seconds_total without a \"container\" label"
    );
    let not_utf8 =
        b"container_cpu_usage_seconds_total{container=\"\xff\",namespace=\"n\",pod=\"p\"} 1";
    let e = decode_resource(not_utf8, DEFAULT).unwrap_err();
    assert_eq!(
        e.to_string(),
        "line 1: label \"container\" of container_cpu_usage_seconds_total is not valid UTF-8"
    );
}

#[test]
fn line_count_is_bounded() {
    let body = "\n".repeat(MAX_LINES);
    assert!(decode_resource(body.as_bytes(), DEFAULT).is_ok());
    let body = "\n".repeat(MAX_LINES + 1);
    let e = decode_resource(body.as_bytes(), DEFAULT).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("line {}: more than {MAX_LINES} lines", MAX_LINES + 1)
    );
}

#[test]
fn a_malformed_line_of_an_unused_series_fails_the_node() {
    let valid = "container_cpu_usage_seconds_total{container=\"c\",namespace=\"n\",pod=\"p\"} 1 1\n\
                 container_memory_working_set_bytes{container=\"c\",namespace=\"n\",pod=\"p\"} 1 1\n\
                 pod_cpu_usage_seconds_total{namespace=\"n\",pod=\"p\"} 1 1\n";
    let cases = [
        (
            "pod_cpu_usage_seconds_total{namespace=\"n\",pod=\"q} 1",
            "unterminated label value",
        ),
        (
            "pod_cpu_usage_seconds_total{namespace=\"n\" pod=\"q\"} 1",
            "malformed label set: expected ',' or '}' after a label value",
        ),
        (
            "pod_cpu_usage_seconds_total{namespace=\"n\",pod=\"q\"} 12abc 1",
            "invalid sample value \"12abc\"",
        ),
        (
            "pod_cpu_usage_seconds_total{namespace=\"n\",pod=\"q\"}",
            "missing sample value",
        ),
        (
            "pod_cpu_usage_seconds_total 1 x",
            "invalid sample timestamp \"x\"",
        ),
        ("pod_cpu_usage_seconds_total 1 -5", "negative timestamp -5"),
        (
            "pod_cpu_usage_seconds_total 1 99999999999999999999",
            "invalid sample timestamp \"99999999999999999999\"",
        ),
        (
            "pod_cpu_usage_seconds_total 1 2 3",
            "unexpected text \"3\" after the sample",
        ),
        (
            "pod_cpu_usage_seconds_total-x 1",
            "invalid metric name \"pod_cpu_usage_seconds_total-x\"",
        ),
        (
            "container_swap_usage_bytes{container=\"c\",namespace=\"n\",pod=} 1",
            "malformed label set: expected a quoted label value",
        ),
        ("scrape_error{} NaNx", "invalid sample value \"NaNx\""),
    ];
    for (line, problem) in cases {
        let body = format!("{valid}{line}\n");
        assert_eq!(err(&body), format!("line 4: {problem}"), "{line}");
    }
}

#[test]
fn valid_lines_of_unused_series_are_skipped() {
    let body = "container_cpu_usage_seconds_total{container=\"c\",namespace=\"n\",pod=\"p\"} 1 1\n\
                container_cpu_usage_seconds_total_foo{container=\"c\",namespace=\"n\",pod=\"p\"} 0\n\
                container_memory_working_set_bytes{container=\"c\",namespace=\"n\",pod=\"p\"} 7 2\n\
                container_memory_working_set_bytes_x{container=\"c\",namespace=\"n\",pod=\"p\"} 9 3\n\
                pod_cpu_usage_seconds_total{namespace=\"n\",pod=\"p\"}\t1e+07\t1750000000000\n\
                pod_cpu_usage_seconds_total{namespace=\"n\",pod=\"ghost\",} -Inf\n\
                container_swap_usage_bytes{container=\"x\",namespace=\"n\",pod=\"p\"} 5 1\n";
    let batch = ok(body);
    let [p] = &batch.pods[..] else {
        panic!("one pod: {:?}", batch.pods);
    };
    assert!(p.complete && p.containers.len() == 1);
    let point = p.containers[0].point;
    assert_eq!((point.cpu_ns, point.memory_bytes), (1_000_000_000, 7));
    assert_eq!(
        point.timestamp,
        ms(2),
        "the longer-named series did not count"
    );
}
