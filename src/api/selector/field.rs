//! Field selectors: a port of apimachinery `fields.ParseSelector` (terms split on unescaped
//! commas and sorted, operators `!=`, `==`, `=`, values unescaped with `\\`, `\,`, `\=`)
//! followed by the apiserver's field-label check (`DefaultMetaV1FieldSelectorConversion`).

use super::{MAX_REQUIREMENTS, MAX_SELECTOR_BYTES, SelectorError};

/// `=`/`==` (equal) or `!=` (not equal).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum FieldOp {
    Equals,
    NotEquals,
}

/// One `field op value` term.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldTerm {
    pub field: String,
    pub op: FieldOp,
    pub value: String,
}

/// A parsed field selector: the AND of its terms, sorted like upstream.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldSelector {
    terms: Vec<FieldTerm>,
}

impl FieldSelector {
    /// Matches everything (the empty selector).
    pub fn everything() -> Self {
        FieldSelector::default()
    }

    /// Parses `fieldSelector` text; fields outside `allowed` give
    /// [`SelectorError::UnknownField`] (upstream's 400 text).
    pub fn parse(text: &str, allowed: &[&str]) -> Result<Self, SelectorError> {
        if text.len() > MAX_SELECTOR_BYTES {
            return Err(SelectorError::TooLong {
                kind: "field",
                len: text.len(),
            });
        }
        let mut parts = split_terms(text);
        if parts.len() > MAX_REQUIREMENTS {
            return Err(SelectorError::TooManyRequirements { kind: "field" });
        }
        parts.sort_unstable();
        let mut terms = Vec::with_capacity(parts.len());
        for part in parts.into_iter().filter(|p| !p.is_empty()) {
            let not_understood = || {
                SelectorError::Invalid(format!(
                    "invalid selector: '{text}'; can't understand '{part}'"
                ))
            };
            let (field, op, raw) = split_term(part).ok_or_else(not_understood)?;
            let value = unescape(raw)?;
            terms.push(FieldTerm {
                field: field.to_owned(),
                op,
                value,
            });
        }
        if let Some(t) = terms.iter().find(|t| !allowed.contains(&t.field.as_str())) {
            return Err(SelectorError::UnknownField {
                field: t.field.clone(),
                allowed: allowed.iter().map(|s| (*s).to_owned()).collect(),
            });
        }
        Ok(FieldSelector { terms })
    }

    /// True when every term holds; `get` returns a field's value (`None` reads as `""`,
    /// like a Go `fields.Set`).
    pub fn matches<'v>(&self, get: impl Fn(&str) -> Option<&'v str>) -> bool {
        self.terms.iter().all(|t| {
            let equal = get(&t.field).unwrap_or("") == t.value;
            (t.op == FieldOp::Equals) == equal
        })
    }

    /// The value an `=` term requires for `field`, for a direct lookup instead of a scan.
    pub fn requires_exact_match(&self, field: &str) -> Option<&str> {
        self.terms
            .iter()
            .find(|t| t.field == field && t.op == FieldOp::Equals)
            .map(|t| t.value.as_str())
    }

    /// True when the selector does not restrict anything.
    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// The terms, sorted by their text.
    pub fn terms(&self) -> &[FieldTerm] {
        &self.terms
    }
}

/// `splitTerms`: split on commas not escaped by a backslash.
fn split_terms(text: &str) -> Vec<&str> {
    if text.is_empty() {
        return Vec::new();
    }
    let mut terms = Vec::new();
    let (mut start, mut in_slash) = (0, false);
    for (i, c) in text.char_indices() {
        match c {
            _ if in_slash => in_slash = false,
            '\\' => in_slash = true,
            ',' => {
                terms.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    terms.push(&text[start..]);
    terms
}

/// `splitTerm`: at the first position where `!=`, `==` or `=` starts (tried in that order).
fn split_term(term: &str) -> Option<(&str, FieldOp, &str)> {
    term.char_indices().find_map(|(i, _)| {
        let rest = &term[i..];
        let (op, len) = if rest.starts_with("!=") {
            (FieldOp::NotEquals, 2)
        } else if rest.starts_with("==") {
            (FieldOp::Equals, 2)
        } else if rest.starts_with('=') {
            (FieldOp::Equals, 1)
        } else {
            return None;
        };
        Some((&term[..i], op, &rest[len..]))
    })
}

/// `UnescapeValue`: `\\`, `\,`, `\=` are escapes; a bare `,` or `=` or another escape is an error.
fn unescape(raw: &str) -> Result<String, SelectorError> {
    let mut out = String::with_capacity(raw.len());
    let mut in_slash = false;
    for c in raw.chars() {
        if in_slash {
            if !matches!(c, '\\' | ',' | '=') {
                return Err(SelectorError::Invalid(format!(
                    "invalid field selector: invalid escape sequence: \\{c}"
                )));
            }
            out.push(c);
            in_slash = false;
            continue;
        }
        match c {
            '\\' => in_slash = true,
            ',' | '=' => {
                return Err(SelectorError::Invalid(format!(
                    "invalid field selector: unescaped character '{c}'"
                )));
            }
            _ => out.push(c),
        }
    }
    if in_slash {
        return Err(SelectorError::Invalid(
            "invalid field selector: invalid escape sequence: \\".to_owned(),
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const POD_FIELDS: &[&str] = &["metadata.name", "metadata.namespace", "spec.nodeName"];

    fn pod_field<'a>(name: &'a str, ns: &'a str) -> impl Fn(&str) -> Option<&'a str> {
        move |f| match f {
            "metadata.name" => Some(name),
            "metadata.namespace" => Some(ns),
            _ => None,
        }
    }

    #[test]
    fn parses_and_matches() {
        let cases: &[(&str, bool)] = &[
            ("", true),
            ("metadata.name=web-2", true),
            ("metadata.name==web-2", true),
            ("metadata.name!=web-2", false),
            ("metadata.name=web-1", false),
            ("metadata.name!=web-1,metadata.namespace=default", true),
            ("metadata.namespace=kube-system", false),
            ("spec.nodeName=", true),
            ("spec.nodeName!=", false),
            (",metadata.name=web-2,", true),
        ];
        for &(text, want) in cases {
            let s =
                FieldSelector::parse(text, POD_FIELDS).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(s.matches(pod_field("web-2", "default")), want, "{text}");
        }
    }

    #[test]
    fn escapes_and_errors() {
        let s = FieldSelector::parse(r"metadata.name=a\,b\=c\\", POD_FIELDS).unwrap();
        assert_eq!(s.requires_exact_match("metadata.name"), Some(r"a,b=c\"));
        let errors: &[(&str, &str)] = &[
            (
                "metadata.name",
                "invalid selector: 'metadata.name'; can't understand 'metadata.name'",
            ),
            (
                "metadata.name=a=b",
                "invalid field selector: unescaped character '='",
            ),
            (
                r"metadata.name=a\x",
                r"invalid field selector: invalid escape sequence: \x",
            ),
            (
                r"metadata.name=a\",
                r"invalid field selector: invalid escape sequence: \",
            ),
            (
                "spec.foo=x",
                r#""spec.foo" is not a known field selector: only "metadata.name", "metadata.namespace", "spec.nodeName""#,
            ),
        ];
        for &(text, want) in errors {
            assert_eq!(
                FieldSelector::parse(text, POD_FIELDS)
                    .unwrap_err()
                    .to_string(),
                want,
                "{text}"
            );
        }
    }

    #[test]
    fn lone_bang_is_part_of_the_field() {
        assert_eq!(split_term("a!b=c"), Some(("a!b", FieldOp::Equals, "c")));
        assert_eq!(split_term("a!b!=c"), Some(("a!b", FieldOp::NotEquals, "c")));
        assert_eq!(split_term("abc"), None);
    }
}
