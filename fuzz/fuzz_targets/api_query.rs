//! The query string and the label and field selectors in it. The input is read three ways: as
//! a raw query string, and as label and as field selector text.
//!
//! * Accepted options survive a round trip: written back as a percent-encoded query, they
//!   parse to the same options.
//! * An accepted label selector obeys the grammar (valid keys and values, sorted requirements,
//!   sorted distinct values, the bounds, integer values for `>`/`<`), prints back to text
//!   that parses to the same selector, and each `in`/`=`/exists requirement matches exactly
//!   the label sets its `notin`/`!=`/`!` counterpart does not.
//! * An accepted field selector only names allowed fields and prints back (values escaped) to
//!   text that parses to the same terms.
#![no_main]

use std::collections::BTreeMap;
use std::fmt::Write;

use libfuzzer_sys::fuzz_target;
use metrics_server::api::encode::IncludeObject;
use metrics_server::api::query::{ListOptions, parse_query};
use metrics_server::api::selector::{
    FieldOp, FieldSelector, FieldTerm, LabelSelector, MAX_REQUIREMENTS, MAX_VALUES, Operator,
    Requirement,
};

/// The fields pod lists can be selected by (the largest allowed set).
const POD_FIELDS: &[&str] = &["metadata.name", "metadata.namespace", "spec.nodeName"];

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(options) = parse_query(Some(text)) {
        check_query_round_trip(&options);
        if let Some(selector) = &options.label_selector {
            check_label_selector(selector, data);
        }
        if let Some(selector) = &options.field_selector {
            check_field_selector(selector);
        }
    }
    check_label_selector(text, data);
    check_field_selector(text);
});

fn check_query_round_trip(options: &ListOptions) {
    assert!(
        options
            .label_selector
            .as_ref()
            .is_none_or(|s| !s.is_empty())
    );
    assert!(
        options
            .field_selector
            .as_ref()
            .is_none_or(|s| !s.is_empty())
    );
    let query = to_query(options);
    match parse_query(Some(&query)) {
        Ok(again) => assert_eq!(&again, options, "{query}"),
        Err(e) => panic!("{query}: {e}"),
    }
}

/// The options as a query string, every value percent-encoded.
fn to_query(options: &ListOptions) -> String {
    let include = match options.include_object {
        IncludeObject::None => "None",
        IncludeObject::Metadata => "Metadata",
        IncludeObject::Object => "Object",
    };
    let mut query = format!("includeObject={include}&watch={}", options.watch);
    if let Some(s) = &options.label_selector {
        query.push_str("&labelSelector=");
        percent_encode(&mut query, s);
    }
    if let Some(s) = &options.field_selector {
        query.push_str("&fieldSelector=");
        percent_encode(&mut query, s);
    }
    if let Some(pretty) = options.pretty {
        let _ = write!(query, "&pretty={pretty}");
    }
    query
}

/// Every byte but the unreserved ones as `%XX`.
fn percent_encode(out: &mut String, text: &str) {
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
}

fn check_label_selector(text: &str, data: &[u8]) {
    let Ok(selector) = LabelSelector::parse(text) else {
        return;
    };
    let requirements = selector.requirements();
    assert!(requirements.len() <= MAX_REQUIREMENTS);
    assert!(requirements.is_sorted_by(|a, b| a.key <= b.key));
    for r in requirements {
        check_requirement(r);
    }
    let printed = print_label_selector(requirements);
    match LabelSelector::parse(&printed) {
        Ok(again) => assert_eq!(again, selector, "{text:?} printed as {printed:?}"),
        Err(e) => panic!("{text:?} printed as {printed:?}: {e}"),
    }
    check_negations(requirements, data);
}

/// Keys `[prefix/]name`, values label values, and the value count each operator implies.
fn check_requirement(r: &Requirement) {
    let (prefix, name) = r.key.rsplit_once('/').unwrap_or(("", &r.key));
    let dns_byte = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'.');
    assert!(
        prefix.len() <= 253 && prefix.bytes().all(dns_byte),
        "{:?}",
        r.key
    );
    assert!(!name.is_empty() && name.len() <= 63 && name.bytes().all(is_name_byte));
    assert!(r.values.len() <= MAX_VALUES);
    assert!(r.values.is_sorted_by(|a, b| a < b), "{:?}", r.values);
    for v in &r.values {
        assert!(v.len() <= 63 && v.bytes().all(is_name_byte), "{v:?}");
    }
    match r.operator {
        Operator::Exists | Operator::DoesNotExist => assert!(r.values.is_empty()),
        Operator::In | Operator::NotIn => assert!(!r.values.is_empty()),
        Operator::Equals | Operator::DoubleEquals | Operator::NotEquals => {
            assert_eq!(r.values.len(), 1)
        }
        Operator::GreaterThan | Operator::LessThan => {
            assert!(r.values.len() == 1 && r.values[0].parse::<i64>().is_ok())
        }
    }
}

fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.')
}

fn print_label_selector(requirements: &[Requirement]) -> String {
    let mut text = String::new();
    for (i, r) in requirements.iter().enumerate() {
        if i > 0 {
            text.push(',');
        }
        let (key, values) = (&r.key, r.values.join(","));
        let _ = match r.operator {
            Operator::Exists => write!(text, "{key}"),
            Operator::DoesNotExist => write!(text, "!{key}"),
            Operator::Equals => write!(text, "{key}={values}"),
            Operator::DoubleEquals => write!(text, "{key}=={values}"),
            Operator::NotEquals => write!(text, "{key}!={values}"),
            Operator::In => write!(text, "{key} in ({values})"),
            Operator::NotIn => write!(text, "{key} notin ({values})"),
            Operator::GreaterThan => write!(text, "{key}>{values}"),
            Operator::LessThan => write!(text, "{key}<{values}"),
        };
    }
    text
}

/// Labels made from the requirements' own keys and values (so they match some of them),
/// chosen by the input bytes; then each requirement against its complement.
fn check_negations(requirements: &[Requirement], data: &[u8]) {
    let mut labels = BTreeMap::new();
    for (r, choice) in requirements.iter().zip(data.iter().rev()) {
        let value = match (choice % 3, r.values.first()) {
            (0, _) => continue,
            (1, Some(v)) => v.clone(),
            _ => "x".to_owned(),
        };
        labels.insert(r.key.clone(), value);
    }
    for r in requirements {
        let Some(operator) = complement(r.operator) else {
            continue;
        };
        let opposite = Requirement {
            operator,
            ..r.clone()
        };
        assert_ne!(
            r.matches(&labels),
            opposite.matches(&labels),
            "{r:?} {labels:?}"
        );
    }
}

fn complement(operator: Operator) -> Option<Operator> {
    Some(match operator {
        Operator::In => Operator::NotIn,
        Operator::NotIn => Operator::In,
        Operator::Equals | Operator::DoubleEquals => Operator::NotEquals,
        Operator::NotEquals => Operator::Equals,
        Operator::Exists => Operator::DoesNotExist,
        Operator::DoesNotExist => Operator::Exists,
        Operator::GreaterThan | Operator::LessThan => return None,
    })
}

fn check_field_selector(text: &str) {
    let Ok(selector) = FieldSelector::parse(text, POD_FIELDS) else {
        return;
    };
    let terms = selector.terms();
    assert!(terms.len() <= MAX_REQUIREMENTS);
    assert!(terms.iter().all(|t| POD_FIELDS.contains(&t.field.as_str())));
    let printed = print_field_selector(terms);
    match FieldSelector::parse(&printed, POD_FIELDS) {
        Ok(again) => assert_eq!(
            sorted(again.terms()),
            sorted(terms),
            "{text:?} printed as {printed:?}"
        ),
        Err(e) => panic!("{text:?} printed as {printed:?}: {e}"),
    }
}

fn print_field_selector(terms: &[FieldTerm]) -> String {
    let mut text = String::new();
    for (i, t) in terms.iter().enumerate() {
        if i > 0 {
            text.push(',');
        }
        text.push_str(&t.field);
        text.push_str(match t.op {
            FieldOp::Equals => "=",
            FieldOp::NotEquals => "!=",
        });
        for c in t.value.chars() {
            if matches!(c, '\\' | ',' | '=') {
                text.push('\\');
            }
            text.push(c);
        }
    }
    text
}

/// The terms in a fixed order (the parser sorts them by their text, which printing changes).
fn sorted(terms: &[FieldTerm]) -> Vec<(&str, bool, &str)> {
    let mut terms: Vec<_> = terms
        .iter()
        .map(|t| (t.field.as_str(), t.op == FieldOp::Equals, t.value.as_str()))
        .collect();
    terms.sort_unstable();
    terms
}
