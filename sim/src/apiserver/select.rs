//! Query strings and selectors of the simulated apiserver, parsed with the server's own grammar
//! (`api::query::form_decode`, `api::selector`), with kube-apiserver's error text for fields
//! a core resource does not support.

use std::collections::{BTreeMap, HashMap};

use metrics_server::api::query::form_decode;
use metrics_server::api::selector::{self, SelectorError};

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
            let key = form_decode(k, k).map_err(|e| e.to_string())?;
            let value = form_decode(v, &key).map_err(|e| e.to_string())?;
            Ok((key, value))
        })
        .collect()
}

/// A parsed label selector.
#[derive(Debug)]
pub(crate) struct LabelSelector(selector::LabelSelector);

impl LabelSelector {
    pub(crate) fn parse(s: &str) -> Result<Self, String> {
        selector::LabelSelector::parse(s)
            .map(LabelSelector)
            .map_err(|e| e.to_string())
    }

    /// True when the object's labels satisfy every requirement.
    pub(crate) fn matches(&self, labels: &[(String, String)]) -> bool {
        let map: BTreeMap<String, String> = labels.iter().cloned().collect();
        self.0.matches(&map)
    }
}

/// A parsed field selector over the fields a resource supports.
#[derive(Debug)]
pub(crate) struct FieldSelector(selector::FieldSelector);

impl FieldSelector {
    /// Parses and checks every field against `supported`.
    pub(crate) fn parse(s: &str, supported: &[&str]) -> Result<Self, String> {
        selector::FieldSelector::parse(s, supported)
            .map(FieldSelector)
            .map_err(|e| match e {
                SelectorError::UnknownField { field, .. } => {
                    format!("field label not supported: {field}")
                }
                other => other.to_string(),
            })
    }

    /// True when every term holds; `field` gives an object's value for a field name.
    pub(crate) fn matches<'a>(&self, field: impl Fn(&str) -> Option<&'a str>) -> bool {
        self.0.matches(field)
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
