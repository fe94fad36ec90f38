//! Query strings and selectors of the simulated apiserver: form decoding (`+` is a space),
//! label selectors (`=`, `==`, `!=`, `in`, `notin`, `key`, `!key`) and field selectors
//! (`=`, `==`, `!=` on the fields a resource supports), as kube-apiserver parses them.

use std::collections::HashMap;

/// The longest query string accepted.
const MAX_QUERY: usize = 16 * 1024;

/// Decoded query parameters (the last value of a repeated key wins).
pub(crate) fn parse_query(query: Option<&str>) -> Result<HashMap<String, String>, String> {
    let Some(q) = query else {
        return Ok(HashMap::new());
    };
    if q.len() > MAX_QUERY {
        return Err(format!("query string longer than {MAX_QUERY} bytes"));
    }
    q.split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            Ok((form_decode(k)?, form_decode(v)?))
        })
        .collect()
}

fn form_decode(s: &str) -> Result<String, String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = b
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok());
                let byte = hex.and_then(|h| u8::from_str_radix(h, 16).ok());
                out.push(byte.ok_or_else(|| format!("invalid percent-encoding in {s:?}"))?);
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| format!("query value {s:?} is not UTF-8"))
}

/// One requirement of a label selector.
#[derive(Debug, PartialEq, Eq)]
enum LabelReq {
    Eq(String, String),
    NotEq(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

/// A parsed label selector; empty matches everything.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct LabelSelector(Vec<LabelReq>);

impl LabelSelector {
    pub(crate) fn parse(s: &str) -> Result<Self, String> {
        split_terms(s)
            .into_iter()
            .map(|term| parse_label_term(term.trim()))
            .collect::<Result<_, _>>()
            .map(LabelSelector)
    }

    pub(crate) fn matches(&self, labels: &[(String, String)]) -> bool {
        let get = |k: &str| {
            labels
                .iter()
                .find(|(lk, _)| lk == k)
                .map(|(_, v)| v.as_str())
        };
        self.0.iter().all(|req| match req {
            LabelReq::Eq(k, v) => get(k) == Some(v),
            LabelReq::NotEq(k, v) => get(k) != Some(v),
            LabelReq::In(k, vs) => get(k).is_some_and(|x| vs.iter().any(|v| v == x)),
            LabelReq::NotIn(k, vs) => get(k).is_none_or(|x| vs.iter().all(|v| v != x)),
            LabelReq::Exists(k) => get(k).is_some(),
            LabelReq::NotExists(k) => get(k).is_none(),
        })
    }
}

/// Splits on commas outside parentheses, dropping empty terms.
fn split_terms(s: &str) -> Vec<&str> {
    let (mut terms, mut depth, mut start) = (Vec::new(), 0i32, 0);
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                terms.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    terms.push(&s[start..]);
    terms.into_iter().filter(|t| !t.trim().is_empty()).collect()
}

fn parse_label_term(t: &str) -> Result<LabelReq, String> {
    let bad = || format!("unable to parse requirement: {t:?}");
    if let Some(k) = t.strip_prefix('!') {
        return Ok(LabelReq::NotExists(k.trim().to_owned()));
    }
    for (op, neg) in [(" notin ", true), (" in ", false)] {
        if let Some((k, set)) = t.split_once(op) {
            let set = set
                .trim()
                .strip_prefix('(')
                .and_then(|s| s.strip_suffix(')'))
                .ok_or_else(bad)?;
            let values = set.split(',').map(|v| v.trim().to_owned()).collect();
            let k = k.trim().to_owned();
            return Ok(if neg {
                LabelReq::NotIn(k, values)
            } else {
                LabelReq::In(k, values)
            });
        }
    }
    match parse_op(t) {
        Some((k, v, false)) => Ok(LabelReq::Eq(k, v)),
        Some((k, v, true)) => Ok(LabelReq::NotEq(k, v)),
        None if t
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c)) =>
        {
            Ok(LabelReq::Exists(t.to_owned()))
        }
        None => Err(bad()),
    }
}

/// `k=v`, `k==v` or `k!=v` → (k, v, negated).
fn parse_op(t: &str) -> Option<(String, String, bool)> {
    let (k, v, neg) = if let Some((k, v)) = t.split_once("!=") {
        (k, v, true)
    } else if let Some((k, v)) = t.split_once("==") {
        (k, v, false)
    } else {
        let (k, v) = t.split_once('=')?;
        (k, v, false)
    };
    Some((k.trim().to_owned(), v.trim().to_owned(), neg))
}

/// A parsed field selector: `(field, value, negated)` terms, all of which must hold.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct FieldSelector(Vec<(String, String, bool)>);

impl FieldSelector {
    /// Parses and checks every field against `supported`.
    pub(crate) fn parse(s: &str, supported: &[&str]) -> Result<Self, String> {
        let terms = split_terms(s).into_iter().map(|t| {
            let (k, v, neg) = parse_op(t.trim())
                .ok_or_else(|| format!("invalid selector: {t:?}; can't understand {t:?}"))?;
            if supported.contains(&k.as_str()) {
                Ok((k, v, neg))
            } else {
                Err(format!("field label not supported: {k}"))
            }
        });
        terms.collect::<Result<_, _>>().map(FieldSelector)
    }

    /// True when every term holds; `field` gives an object's value for a field name.
    pub(crate) fn matches<'a>(&self, field: impl Fn(&str) -> Option<&'a str>) -> bool {
        self.0
            .iter()
            .all(|(k, v, neg)| (field(k) == Some(v.as_str())) != *neg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect()
    }

    #[test]
    fn query_is_form_decoded() {
        let q = parse_query(Some(
            "labelSelector=app+in+%28db%2Cx%29&fieldSelector=status.phase%3DRunning&watch",
        ))
        .unwrap();
        assert_eq!(q["labelSelector"], "app in (db,x)");
        assert_eq!(q["fieldSelector"], "status.phase=Running");
        assert_eq!(q["watch"], "");
        assert!(parse_query(Some("a=%zz")).is_err());
    }

    #[test]
    fn label_selectors_match_like_kubernetes() {
        let l = labels(&[("app", "web"), ("tier", "fe")]);
        for (sel, want) in [
            ("", true),
            ("app=web", true),
            ("app==web,tier=fe", true),
            ("app!=web", false),
            ("app in (db,web)", true),
            ("app notin (db,web)", false),
            ("zone notin (a)", true),
            ("tier", true),
            ("!tier", false),
            ("!zone", true),
        ] {
            assert_eq!(
                LabelSelector::parse(sel).unwrap().matches(&l),
                want,
                "{sel}"
            );
        }
        assert!(LabelSelector::parse("app in db").is_err());
    }

    #[test]
    fn field_selectors_check_supported_fields() {
        let fields = ["status.phase", "spec.nodeName"];
        let sel = FieldSelector::parse("status.phase=Running,spec.nodeName!=n1", &fields).unwrap();
        assert!(sel.matches(|f| Some(if f == "status.phase" { "Running" } else { "n2" })));
        assert!(!sel.matches(|f| Some(if f == "status.phase" { "Running" } else { "n1" })));
        let err = FieldSelector::parse("spec.foo=x", &fields).unwrap_err();
        assert_eq!(err, "field label not supported: spec.foo");
    }
}
