use super::*;

fn sample(line: &str) -> SampleLine<'_> {
    parse_line(line.as_bytes()).unwrap().unwrap()
}

fn problem(line: &str) -> LineProblem {
    parse_line(line.as_bytes()).unwrap_err()
}

fn text(value: Option<RawValue<'_>>) -> Cow<'_, str> {
    value.unwrap().to_str().unwrap()
}

#[test]
fn comments_and_blank_lines_are_skipped() {
    for line in [
        "",
        "   ",
        "\t",
        "# HELP x [STABLE] y",
        "# TYPE x counter",
        "  # x",
    ] {
        assert_eq!(parse_line(line.as_bytes()), Ok(None), "{line:?}");
    }
}

#[test]
fn reads_name_labels_value_and_timestamp() {
    let s = sample(
        r#"container_cpu_usage_seconds_total{container="coredns",namespace="kube-system",pod="coredns-1"} 4.710169 1633253812125"#,
    );
    assert_eq!(s.name, b"container_cpu_usage_seconds_total");
    assert_eq!(text(s.labels.container), "coredns");
    assert_eq!(text(s.labels.namespace), "kube-system");
    assert_eq!(text(s.labels.pod), "coredns-1");
    assert_eq!(s.value, 4.710169);
    assert_eq!(s.timestamp_ms, Some(1633253812125));
}

#[test]
fn labels_in_any_order_with_others_ignored() {
    let s = sample(r#"m{pod="p", id="/x" ,namespace="n",container="c",} 1"#);
    assert_eq!(text(s.labels.pod), "p");
    assert_eq!(text(s.labels.namespace), "n");
    assert_eq!(text(s.labels.container), "c");
    assert_eq!(s.timestamp_ms, None);
}

#[test]
fn escaped_values_are_unescaped_and_owned() {
    let s = sample(r#"m{pod="a\"b\\c\nd\te",container="x,}y"} 1"#);
    let pod = text(s.labels.pod);
    assert_eq!(pod, "a\"b\\c\nd\\te");
    assert!(matches!(pod, Cow::Owned(_)));
    assert!(matches!(text(s.labels.container), Cow::Borrowed("x,}y")));
}

#[test]
fn value_forms() {
    assert_eq!(sample("m 1.253376e+07").value, 12_533_760.0);
    assert_eq!(sample("m 0").value, 0.0);
    assert_eq!(
        sample("m{} -6.7953645788713455e+09").value,
        -6.7953645788713455e+09
    );
    assert!(sample("m NaN").value.is_nan());
    assert_eq!(sample("m +Inf").value, f64::INFINITY);
    assert_eq!(sample("m -Inf 5").value, f64::NEG_INFINITY);
    assert_eq!(sample("m{a=\"b\"}7").value, 7.0);
}

#[test]
fn malformed_lines_say_what_is_wrong() {
    assert_eq!(problem("m"), LineProblem::MissingValue);
    assert_eq!(problem(r#"m{a="b"}"#), LineProblem::MissingValue);
    assert_eq!(problem("m abc"), LineProblem::InvalidValue("abc".into()));
    assert_eq!(problem("m 1 x"), LineProblem::InvalidTimestamp("x".into()));
    assert_eq!(
        problem("m 1 1.5"),
        LineProblem::InvalidTimestamp("1.5".into())
    );
    assert_eq!(
        problem("m 1 -0"),
        LineProblem::InvalidTimestamp("-0".into())
    );
    assert_eq!(
        problem("m 1 99999999999999999999"),
        LineProblem::InvalidTimestamp("99999999999999999999".into())
    );
    assert_eq!(problem("m 1 2 3"), LineProblem::TrailingText("3".into()));
    assert_eq!(
        problem(r#"m{a="b" 1"#),
        malformed("expected ',' or '}' after a label value")
    );
    assert_eq!(problem(r#"m{a="b","#), LineProblem::UnterminatedLabels);
    assert_eq!(problem("m{a"), LineProblem::UnterminatedLabels);
    assert_eq!(problem(r#"m{a="b} 1"#), LineProblem::UnterminatedQuote);
    assert_eq!(problem(r#"m{a="b\"} 1"#), LineProblem::UnterminatedQuote);
    assert_eq!(problem(r#"m{a="b\"#), LineProblem::UnterminatedQuote);
    assert_eq!(
        problem("m{a=b} 1"),
        malformed("expected a quoted label value")
    );
    assert_eq!(problem(r#"m{="b"} 1"#), malformed("expected a label name"));
    assert_eq!(
        problem(r#"m{1a="b"} 1"#),
        malformed("expected a label name")
    );
    assert_eq!(problem("9m 1"), LineProblem::InvalidMetricName("9m".into()));
    assert_eq!(
        problem("m-x 1"),
        LineProblem::InvalidMetricName("m-x".into())
    );
}

#[test]
fn negative_timestamp_is_its_own_error() {
    assert_eq!(
        problem("m 1 -62135596800000"),
        LineProblem::NegativeTimestamp(-62135596800000)
    );
}

#[test]
fn label_values_are_bounded() {
    let ok = format!("m{{pod=\"{}\"}} 1", "a".repeat(MAX_LABEL_VALUE));
    assert!(parse_line(ok.as_bytes()).is_ok());
    let long = format!("m{{pod=\"{}\"}} 1", "a".repeat(MAX_LABEL_VALUE + 1));
    assert_eq!(
        problem(&long),
        LineProblem::LabelValueTooLong {
            max: MAX_LABEL_VALUE
        }
    );
}

#[test]
fn non_utf8_label_value_is_reported_only_when_read() {
    let s = parse_line(b"m{pod=\"\xff\"} 1").unwrap().unwrap();
    assert_eq!(s.labels.pod.unwrap().to_str(), None);
}
