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

/// Number texts of the shapes a kubelet prints and around them: digits, at most one dot,
/// an exponent with or without sign, now and then too many digits or a stray byte.
fn number_text(rng: &mut fastrand::Rng) -> String {
    let digits = |rng: &mut fastrand::Rng, most: usize| -> String {
        let n = rng.usize(..most);
        (0..n).map(|_| char::from(b'0' + rng.u8(..10))).collect()
    };
    let mut text = digits(rng, 18);
    if rng.bool() {
        text.push('.');
        text += &digits(rng, 18);
    }
    if rng.u8(..3) == 0 {
        text.push(if rng.bool() { 'e' } else { 'E' });
        text += ["", "+", "-"][rng.usize(..3)];
        text += &digits(rng, 5);
    }
    if rng.u8(..20) == 0 {
        text.insert(
            rng.usize(..=text.len()),
            ['-', '+', 'x', '.', '_'][rng.usize(..5)],
        );
    }
    text
}

#[test]
fn the_fast_float_path_gives_the_general_parsers_value() {
    let mut rng = fastrand::Rng::with_seed(11);
    let mut fast = 0;
    let fixed = [
        "4.710169",
        "1.253376e+07",
        "0",
        "5.",
        ".5",
        "1e22",
        "1e23",
        "1e-22",
        "1e-23",
    ];
    let more = [
        "123456789012345",
        "1234567890123456",
        "9007199254740993",
        "0.1",
        "3e0",
    ];
    let texts = fixed
        .iter()
        .chain(&more)
        .map(|t| t.to_string())
        .chain((0..200_000).map(|_| number_text(&mut rng)));
    for text in texts {
        let general: Option<f64> = text.parse().ok();
        if let Some(value) = plain_decimal(text.as_bytes()) {
            assert_eq!(Some(value.to_bits()), general.map(f64::to_bits), "{text}");
            fast += 1;
        }
        let parsed = parse_float(text.as_bytes()).map(f64::to_bits);
        assert_eq!(parsed, general.map(f64::to_bits), "{text}");
    }
    assert!(fast > 60_000, "the fast path took only {fast} texts");
    assert_eq!(plain_decimal(b"4.710169"), Some(4.710169));
    assert_eq!(plain_decimal(b"1.253376e+07"), Some(12_533_760.0));
}

/// Lines of every shape the grammar knows, valid and malformed, for comparing the two ways a
/// sample line is read.
const LINES: [&str; 30] = [
    r#"container_cpu_usage_seconds_total{container="c",namespace="n",pod="p"} 4.710169 1633253812125"#,
    r#"pod_cpu_usage_seconds_total{namespace="n",pod="p"} 1.253376e+07 1750000000000"#,
    r#"m{pod="a\"b\\c\nd",container="x,}y", id = "/x" ,} 1"#,
    "m NaN",
    "m\t-Inf\t5",
    "m 1.6509742024191372e+09",
    "m",
    r#"m{a="b"}"#,
    "m abc",
    "m 12abc 1",
    "m 1e1234",
    "m 1 x",
    "m 1 1.5",
    "m 1 -0",
    "m 1 -62135596800000",
    "m 1 99999999999999999999",
    "m 1 1234567890123456789",
    "m 1 2 3",
    r#"m{a="b" 1"#,
    r#"m{a="b","#,
    "m{a",
    r#"m{a="b} 1"#,
    r#"m{a="b\"} 1"#,
    "m{a=b} 1",
    r#"m{="b"} 1"#,
    r#"m{1a="b"} 1"#,
    r#"m{pod ="b"} 1"#,
    r#"m{container="b",namespaces="c"} 1"#,
    "m-x 1",
    "m 1 \t",
];

#[test]
fn checking_a_line_finds_what_reading_it_finds() {
    for line in LINES {
        let named = LineReader::default().name(line.as_bytes());
        let Ok(Some(named)) = named else {
            assert!(named.is_err(), "{line:?} is a sample line or a bad name");
            continue;
        };
        let read = read_sample(line.as_bytes(), named).map(|_| ());
        assert_eq!(check_sample(line.as_bytes(), named), read, "{line:?}");
    }
    let named = LineReader::default().name(b"m 1 x").unwrap().unwrap();
    assert_eq!(
        check_sample(b"m 1 x", named),
        Err(LineProblem::InvalidTimestamp("x".into())),
        "an unused line is checked, not skipped"
    );
}

#[test]
fn a_repeated_name_is_still_a_whole_name() {
    let mut reader = LineReader::default();
    let first = reader.name(b"node_cpu 1").unwrap().unwrap();
    assert!(!first.repeated);
    let again = reader.name(b"node_cpu{a=\"b\"} 2").unwrap().unwrap();
    assert!(again.repeated && again.name == b"node_cpu");
    let longer = reader.name(b"node_cpu_total 3").unwrap().unwrap();
    assert!(!longer.repeated, "a longer name is another name");
    assert_eq!(longer.name, b"node_cpu_total");
    assert_eq!(
        reader.name(b"node_cpu_total-x 3").unwrap_err(),
        LineProblem::InvalidMetricName("node_cpu_total-x".into())
    );
    assert!(reader.name(b"# node_cpu_total").unwrap().is_none());
    assert!(reader.name(b"node_cpu_total 4").unwrap().unwrap().repeated);
}

#[test]
fn timestamps_read_in_one_pass_are_the_timestamps_of_the_token() {
    let mut rng = fastrand::Rng::with_seed(5);
    for _ in 0..50_000 {
        let mut text: String = (0..rng.usize(..24))
            .map(|_| char::from(b'0' + rng.u8(..10)))
            .collect();
        if rng.u8(..8) == 0 {
            text.insert(
                rng.usize(..=text.len()),
                ['-', 'x', '.', ' '][rng.usize(..4)],
            );
        }
        let line = format!("m 1 {text}");
        let named = LineReader::default()
            .name(line.as_bytes())
            .unwrap()
            .unwrap();
        let (token_text, end) = token(line.as_bytes(), skip_blanks(line.as_bytes(), 4));
        let expected = match token_text {
            [] => Ok(None),
            t => parse_timestamp(t).map(Some),
        };
        let expected = expected.and_then(|ts| expect_end(line.as_bytes(), end).map(|()| ts));
        let read = read_sample(line.as_bytes(), named).map(|s| s.timestamp_ms);
        assert_eq!(read, expected, "{line:?}");
    }
}

#[test]
fn values_read_in_one_pass_are_the_values_of_the_token() {
    let mut rng = fastrand::Rng::with_seed(7);
    for _ in 0..50_000 {
        let text = number_text(&mut rng);
        let blank = [" ", "\t", "  "][rng.usize(..3)];
        let line = format!("m {text}{blank}5");
        let named = LineReader::default()
            .name(line.as_bytes())
            .unwrap()
            .unwrap();
        let read = read_sample(line.as_bytes(), named).map(|s| (s.value.to_bits(), s.value_text));
        let expected = match parse_float(text.as_bytes()) {
            _ if text.is_empty() => Err(LineProblem::InvalidTimestamp(String::new())),
            Some(v) => Ok((v.to_bits(), text.as_bytes())),
            None => Err(LineProblem::InvalidValue(excerpt(text.as_bytes()))),
        };
        match (&read, &expected) {
            // An empty value: the timestamp is read as the value.
            (Ok((v, _)), Err(LineProblem::InvalidTimestamp(_))) => assert_eq!(*v, 5f64.to_bits()),
            _ => assert_eq!(read, expected, "{line:?}"),
        }
    }
}
