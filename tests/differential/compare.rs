//! One request's two answers compared: status, content type, the headers clients use, and
//! the bodies (JSON, protobuf, YAML and text each in its own way).

use serde_json::Value;

use super::client::Answer;
use super::normalize::{self, Unstable};
use super::protobuf;

/// Headers compared by value.
const SAME_VALUE_HEADERS: [&str; 5] = [
    "cache-control",
    "content-encoding",
    "x-content-type-options",
    "retry-after",
    "www-authenticate",
];

/// One field where the answers differ.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Difference {
    pub field: String,
    pub ours: String,
    pub theirs: String,
}

impl Difference {
    pub fn new(field: impl Into<String>, ours: impl ToString, theirs: impl ToString) -> Self {
        Difference {
            field: field.into(),
            ours: ours.to_string(),
            theirs: theirs.to_string(),
        }
    }
}

/// Every difference between `ours` and `theirs` to the same request; `audit_id` is the one
/// the request carried, if any.
pub fn answers(
    ours: &Answer,
    theirs: &Answer,
    audit_id: Option<&str>,
    unstable: &Unstable,
) -> Vec<Difference> {
    let mut diffs = Vec::new();
    if ours.status != theirs.status {
        diffs.push(Difference::new("status", ours.status, theirs.status));
    }
    if ours.content_type() != theirs.content_type() {
        diffs.push(Difference::new(
            "content-type",
            ours.content_type(),
            theirs.content_type(),
        ));
    }
    headers(ours, theirs, audit_id, &mut diffs);
    bodies(ours, theirs, unstable, &mut diffs);
    diffs
}

fn headers(ours: &Answer, theirs: &Answer, audit_id: Option<&str>, diffs: &mut Vec<Difference>) {
    for name in SAME_VALUE_HEADERS {
        let (a, b) = (ours.header(name), theirs.header(name));
        if a != b {
            diffs.push(Difference::new(
                format!("header {name}"),
                a.unwrap_or("(none)"),
                b.unwrap_or("(none)"),
            ));
        }
    }
    let (a, b) = (
        audit_id_kind(ours, audit_id),
        audit_id_kind(theirs, audit_id),
    );
    if a != b {
        diffs.push(Difference::new("header audit-id", a, b));
    }
}

/// What an `Audit-Id` header is: the request's own echoed, a fresh UUID, or missing.
fn audit_id_kind(answer: &Answer, sent: Option<&str>) -> &'static str {
    match (answer.header("audit-id"), sent) {
        (None, _) => "(none)",
        (Some(got), Some(sent)) if got == sent => "the request's Audit-Id",
        (Some(got), _) if is_uuid(got) => "a UUID",
        (Some(_), _) => "not a UUID",
    }
}

fn is_uuid(text: &str) -> bool {
    let groups: Vec<&str> = text.split('-').collect();
    groups.iter().map(|g| g.len()).eq([8, 4, 4, 4, 12])
        && groups
            .iter()
            .all(|g| g.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// How a body is read.
#[derive(Debug, PartialEq, Eq)]
enum Format {
    Json,
    Protobuf,
    Yaml,
    PrometheusText,
    Text,
}

fn format_of(answer: &Answer) -> Format {
    let media = answer.content_type().split(';').next().unwrap_or("").trim();
    match media {
        "application/json" => Format::Json,
        "application/vnd.kubernetes.protobuf" => Format::Protobuf,
        "application/yaml" => Format::Yaml,
        "text/plain" if answer.content_type().contains("version=0.0.4") => Format::PrometheusText,
        _ => Format::Text,
    }
}

fn bodies(ours: &Answer, theirs: &Answer, unstable: &Unstable, diffs: &mut Vec<Difference>) {
    let format = format_of(theirs);
    if format_of(ours) != format {
        diffs.push(Difference::new(
            "body format",
            format!("{:?}", format_of(ours)),
            format!("{format:?}"),
        ));
        return;
    }
    match format {
        Format::Json => structured(ours, theirs, parse_json, unstable, diffs),
        Format::Yaml => {
            structured(ours, theirs, parse_yaml, unstable, diffs);
            yaml_layout(ours, theirs, diffs);
        }
        Format::Protobuf => {
            structured(ours, theirs, parse_protobuf, unstable, diffs);
            if ours.body != theirs.body {
                diffs.push(Difference::new(
                    "protobuf bytes",
                    format!("{} bytes", ours.body.len()),
                    format!("{} bytes", theirs.body.len()),
                ));
            }
        }
        Format::PrometheusText => super::prometheus::families(ours, theirs, diffs),
        Format::Text => {
            if ours.body != theirs.body {
                let text = |a: &Answer| String::from_utf8_lossy(&a.body).into_owned();
                diffs.push(Difference::new("body", text(ours), text(theirs)));
            }
        }
    }
}

fn parse_json(body: &[u8]) -> Result<Value, String> {
    serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))
}

fn parse_yaml(body: &[u8]) -> Result<Value, String> {
    let text = std::str::from_utf8(body).map_err(|e| format!("not UTF-8: {e}"))?;
    serde_saphyr::from_str(text).map_err(|e| format!("not YAML: {e}"))
}

fn parse_protobuf(body: &[u8]) -> Result<Value, String> {
    protobuf::decode(body).map_err(|e| e.to_string())
}

/// Compares the parsed, normalized bodies field by field, then (when they agree) the order
/// of list items, the keys' order and the indentation.
fn structured(
    ours: &Answer,
    theirs: &Answer,
    parse: fn(&[u8]) -> Result<Value, String>,
    unstable: &Unstable,
    diffs: &mut Vec<Difference>,
) {
    if ours.body.is_empty() && theirs.body.is_empty() {
        return;
    }
    let (a, b) = match (parse(&ours.body), parse(&theirs.body)) {
        (Ok(a), Ok(b)) => (a, b),
        (a, b) => {
            diffs.push(Difference::new(
                "body",
                a.err().unwrap_or_else(|| "parsed".into()),
                b.err().unwrap_or_else(|| "parsed".into()),
            ));
            return;
        }
    };
    let before = diffs.len();
    values(
        "body",
        &normalize::normalize(&a, unstable),
        &normalize::normalize(&b, unstable),
        diffs,
    );
    if diffs.len() > before {
        return;
    }
    let (order_a, order_b) = (
        normalize::item_order(&a, unstable),
        normalize::item_order(&b, unstable),
    );
    if order_a != order_b {
        diffs.push(Difference::new(
            "items order",
            order_a.join(" "),
            order_b.join(" "),
        ));
    }
    if format_of(theirs) == Format::Json {
        json_layout(ours, theirs, diffs);
    }
}

/// Field-by-field differences of two normalized values under `path`.
fn values(path: &str, ours: &Value, theirs: &Value, diffs: &mut Vec<Difference>) {
    match (ours, theirs) {
        (Value::Object(a), Value::Object(b)) => {
            let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            for key in keys {
                let field = format!("{path}.{key}");
                match (a.get(key), b.get(key)) {
                    (Some(x), Some(y)) => values(&field, x, y, diffs),
                    (x, y) => diffs.push(Difference::new(field, shown(x), shown(y))),
                }
            }
        }
        (Value::Array(a), Value::Array(b)) if path.ends_with(".paths") => {
            string_sets(path, a, b, diffs);
        }
        (Value::Array(a), Value::Array(b)) => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                values(&format!("{path}[{i}]"), x, y, diffs);
            }
            let longer = if a.len() > b.len() { a } else { b };
            for (i, extra) in longer.iter().enumerate().skip(a.len().min(b.len())) {
                let (x, y) = if a.len() > b.len() {
                    (Some(extra), None)
                } else {
                    (None, Some(extra))
                };
                diffs.push(Difference::new(format!("{path}[{i}]"), shown(x), shown(y)));
            }
        }
        (Value::String(a), Value::String(b))
            if normalize::is_usage(path) && normalize::usage_close(a, b) => {}
        (a, b) if a == b => {}
        (a, b) => diffs.push(Difference::new(path, compact(a), compact(b))),
    }
}

/// The index's paths: the order must match; a path only one side has is named.
fn string_sets(path: &str, a: &[Value], b: &[Value], diffs: &mut Vec<Difference>) {
    let only = |x: &[Value], y: &[Value]| -> Vec<Value> {
        x.iter().filter(|v| !y.contains(v)).cloned().collect()
    };
    for v in only(a, b) {
        diffs.push(Difference::new(
            format!("{path}[{v}]"),
            "present",
            "(absent)",
        ));
    }
    for v in only(b, a) {
        diffs.push(Difference::new(
            format!("{path}[{v}]"),
            "(absent)",
            "present",
        ));
    }
    let common = |x: &[Value], y: &[Value]| -> Vec<Value> {
        x.iter().filter(|v| y.contains(v)).cloned().collect()
    };
    if common(a, b) != common(b, a) {
        diffs.push(Difference::new(
            path,
            compact(&Value::Array(a.to_vec())),
            compact(&Value::Array(b.to_vec())),
        ));
    }
}

fn shown(value: Option<&Value>) -> String {
    value.map_or_else(|| "(absent)".to_owned(), compact)
}

/// A value on one line, cut to 300 characters.
fn compact(value: &Value) -> String {
    let text = value.to_string();
    match text.char_indices().nth(300) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}

/// JSON keys in the order sent, and whether the body is indented.
fn json_layout(ours: &Answer, theirs: &Answer, diffs: &mut Vec<Difference>) {
    let indented = |a: &Answer| a.body.starts_with(b"{\n") || a.body.starts_with(b"[\n");
    if indented(ours) != indented(theirs) {
        let says = |yes: bool| if yes { "indented" } else { "compact" };
        diffs.push(Difference::new(
            "layout",
            says(indented(ours)),
            says(indented(theirs)),
        ));
    }
    order(
        "key order",
        &json_keys(&ours.body),
        &json_keys(&theirs.body),
        diffs,
    );
}

/// Every object key in the order it appears.
fn json_keys(body: &[u8]) -> Vec<String> {
    let mut keys = Vec::new();
    let mut chars = std::str::from_utf8(body).unwrap_or("").chars().peekable();
    let mut current: Option<String> = None;
    while let Some(c) = chars.next() {
        match (current.as_mut(), c) {
            (Some(_), '\\') => {
                chars.next();
            }
            (Some(_), '"') => {
                let text = current.take().unwrap_or_default();
                while chars.peek().is_some_and(|c| c.is_whitespace()) {
                    chars.next();
                }
                if chars.peek() == Some(&':') {
                    keys.push(text);
                }
            }
            (Some(text), c) => text.push(c),
            (None, '"') => current = Some(String::new()),
            _ => {}
        }
    }
    keys
}

/// Compares the order of two sequences by their distinct adjacent pairs, so lists of other
/// lengths (an unstable pod more or less) still compare.
fn order(field: &str, ours: &[String], theirs: &[String], diffs: &mut Vec<Difference>) {
    let pairs = |s: &[String]| -> std::collections::BTreeSet<String> {
        s.windows(2)
            .map(|w| format!("{} → {}", w[0], w[1]))
            .collect()
    };
    let (a, b) = (pairs(ours), pairs(theirs));
    if a != b {
        let only = |x: &std::collections::BTreeSet<String>, y| {
            let v: Vec<&String> = x.difference(y).take(5).collect();
            format!("{v:?}")
        };
        diffs.push(Difference::new(field, only(&a, &b), only(&b, &a)));
    }
}

/// YAML lines with their values cut (keys, list dashes and indentation as sent), in order.
fn yaml_layout(ours: &Answer, theirs: &Answer, diffs: &mut Vec<Difference>) {
    let skeleton = |a: &Answer| -> Vec<String> {
        String::from_utf8_lossy(&a.body)
            .lines()
            .map(|line| match line.find(": ") {
                Some(i) => line[..=i].to_owned(),
                None if line.trim_end().ends_with(':') => line.to_owned(),
                None => {
                    let indent = line.len() - line.trim_start_matches([' ', '-']).len();
                    line[..indent].to_owned()
                }
            })
            .collect()
    };
    order("yaml layout", &skeleton(ours), &skeleton(theirs), diffs);
}
