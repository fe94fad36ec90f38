//! Selectors as kubectl sends them (kubectl-wire §8 pitfall 7): raw query strings are
//! form-decoded, parsed and matched the way the apiserver does (upstream spec §2.3).

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns unwrap on fixed inputs

use std::collections::BTreeMap;

use metrics_server::api::query::parse_query;
use metrics_server::api::selector::{
    FieldSelector, LabelSelector, MAX_REQUIREMENTS, MAX_SELECTOR_BYTES, MAX_VALUES, SelectorError,
};

const POD_FIELDS: &[&str] = &["metadata.name", "metadata.namespace", "spec.nodeName"];

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn label_selector_from_query(raw: &str) -> LabelSelector {
    let opts = parse_query(Some(raw)).unwrap();
    LabelSelector::parse(opts.label_selector.as_deref().unwrap_or("")).unwrap()
}

#[test]
fn set_based_selector_from_kubectl() {
    let s = label_selector_from_query("labelSelector=app+in+%28db%2Cx%29");
    assert!(s.matches(&labels(&[("app", "db")])));
    assert!(s.matches(&labels(&[("app", "x"), ("tier", "fe")])));
    assert!(!s.matches(&labels(&[("app", "web")])));
    assert!(!s.matches(&labels(&[])));
}

#[test]
fn not_equals_and_exists_from_kubectl() {
    let s = label_selector_from_query("labelSelector=app%21%3Dx%2Ctier");
    assert!(s.matches(&labels(&[("app", "db"), ("tier", "fe")])));
    assert!(
        s.matches(&labels(&[("tier", "")])),
        "missing key satisfies !="
    );
    assert!(!s.matches(&labels(&[("app", "x"), ("tier", "fe")])));
    assert!(!s.matches(&labels(&[("app", "db")])), "tier must exist");
}

#[test]
fn does_not_exist_with_prefixed_key() {
    let s = label_selector_from_query("labelSelector=%21node-role.kubernetes.io%2Fcontrol-plane");
    assert!(s.matches(&labels(&[("kubernetes.io/hostname", "node-a")])));
    assert!(!s.matches(&labels(&[("node-role.kubernetes.io/control-plane", "")])));
    assert!(s.matches_opt(None));
}

#[test]
fn node_selector_flag_is_anded_in() {
    let s = label_selector_from_query("labelSelector=zone%3Da")
        .and(LabelSelector::parse("!node-role.kubernetes.io/control-plane").unwrap());
    assert!(s.matches(&labels(&[("zone", "a")])));
    assert!(!s.matches(&labels(&[
        ("zone", "a"),
        ("node-role.kubernetes.io/control-plane", "")
    ])));
    assert!(!s.matches(&labels(&[("zone", "b")])));
}

#[test]
fn field_selector_from_kubectl() {
    let opts = parse_query(Some("fieldSelector=metadata.name%3Dweb-2")).unwrap();
    let s = FieldSelector::parse(opts.field_selector.as_deref().unwrap(), POD_FIELDS).unwrap();
    let pod = |name: &'static str| move |f: &str| (f == "metadata.name").then_some(name);
    assert!(s.matches(pod("web-2")));
    assert!(!s.matches(pod("web-1")));
    assert_eq!(s.requires_exact_match("metadata.name"), Some("web-2"));

    let s = FieldSelector::parse("spec.nodeName!=node-a", POD_FIELDS).unwrap();
    assert!(s.matches(|f| (f == "spec.nodeName").then_some("node-b")));
    assert!(!s.matches(|f| (f == "spec.nodeName").then_some("node-a")));
}

#[test]
fn unknown_field_gives_the_apiserver_400() {
    let err = FieldSelector::parse("spec.nodeName=x", &["metadata.name", "metadata.namespace"])
        .unwrap_err();
    let status = err.to_status();
    assert_eq!((status.code, status.reason), (400, "BadRequest"));
    assert_eq!(
        status.message,
        r#""spec.nodeName" is not a known field selector: only "metadata.name", "metadata.namespace""#
    );
}

#[test]
fn invalid_label_selectors_are_400s_with_upstream_text() {
    let cases: &[(&str, &str)] = &[
        (
            "app in db",
            "unable to parse requirement: found 'db' expected: '('",
        ),
        ("app=x y", "found 'y', expected: ',' or 'end of string'"),
        ("app==", ""),
        (
            "=x",
            "found '=', expected: !, identifier, or 'end of string'",
        ),
        ("a,,b", "found ',', expected: identifier after ','"),
    ];
    for &(text, want) in cases {
        match LabelSelector::parse(text) {
            Ok(_) => assert!(want.is_empty(), "{text} should fail"),
            Err(e) => {
                assert_eq!(e.to_string(), want, "{text}");
                assert_eq!(e.to_status().code, 400);
            }
        }
    }
    for text in [
        "app=a b c",
        "bad key=x",
        "app=x/y",
        "a/b/c=x",
        "UPPER.io/x=y",
        "x in (a,b",
        "x notin a",
    ] {
        assert!(LabelSelector::parse(text).is_err(), "{text}");
    }
}

#[test]
fn bounds_are_enforced_with_clear_errors() {
    let long = format!("app={}", "a".repeat(MAX_SELECTOR_BYTES));
    let err = LabelSelector::parse(&long).unwrap_err();
    assert!(matches!(err, SelectorError::TooLong { .. }));
    assert!(err.to_string().contains("at most 16384 bytes"), "{err}");

    let many: Vec<String> = (0..=MAX_REQUIREMENTS).map(|i| format!("k{i}=v")).collect();
    assert!(matches!(
        LabelSelector::parse(&many.join(",")),
        Err(SelectorError::TooManyRequirements { .. })
    ));
    let ok: Vec<String> = (0..MAX_REQUIREMENTS).map(|i| format!("k{i}=v")).collect();
    assert!(LabelSelector::parse(&ok.join(",")).is_ok());

    let values: Vec<String> = (0..=MAX_VALUES).map(|i| format!("v{i}")).collect();
    let err = LabelSelector::parse(&format!("app in ({})", values.join(","))).unwrap_err();
    assert!(matches!(err, SelectorError::TooManyValues { .. }), "{err}");
    let values: Vec<String> = (0..MAX_VALUES).map(|i| format!("v{i}")).collect();
    assert!(LabelSelector::parse(&format!("app in ({})", values.join(","))).is_ok());

    let terms: Vec<String> = (0..=MAX_REQUIREMENTS)
        .map(|i| format!("metadata.name!=p{i}"))
        .collect();
    assert!(matches!(
        FieldSelector::parse(&terms.join(","), POD_FIELDS),
        Err(SelectorError::TooManyRequirements { .. })
    ));
    assert!(FieldSelector::parse(&"x".repeat(MAX_SELECTOR_BYTES + 1), POD_FIELDS).is_err());
}
