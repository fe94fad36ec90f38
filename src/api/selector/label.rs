//! Label selectors: a port of apimachinery `labels.Parse` (lexer, recursive-descent parser,
//! `NewRequirement` validation, error texts) and `Requirement.Matches`.

use std::collections::{BTreeMap, BTreeSet};

use super::lexer::{Token, lex};
use super::validate::{label_key_errors, label_value_errors};
use super::{MAX_REQUIREMENTS, MAX_SELECTOR_BYTES, MAX_VALUES, SelectorError};
use crate::api::metav1_status::go_quote;

/// How a requirement relates a key to its values.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Operator {
    Equals,
    DoubleEquals,
    NotEquals,
    In,
    NotIn,
    Exists,
    DoesNotExist,
    GreaterThan,
    LessThan,
}

/// One `key <op> values` term; all terms of a selector must match.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Requirement {
    pub key: String,
    pub operator: Operator,
    /// Sorted and deduplicated (a Go `sets.String`).
    pub values: Vec<String>,
}

impl Requirement {
    /// `Requirement.Matches`: a missing key fails `=`/`in`/`>`/`<` and passes `!=`/`notin`.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        let value = labels.get(&self.key).map(String::as_str);
        let has = |v: &str| self.values.iter().any(|x| x == v);
        match (self.operator, value) {
            (Operator::In | Operator::Equals | Operator::DoubleEquals, v) => v.is_some_and(has),
            (Operator::NotIn | Operator::NotEquals, v) => !v.is_some_and(has),
            (Operator::Exists, v) => v.is_some(),
            (Operator::DoesNotExist, v) => v.is_none(),
            (Operator::GreaterThan | Operator::LessThan, None) => false,
            (op, Some(v)) => compare_integers(op, v, &self.values),
        }
    }
}

fn compare_integers(op: Operator, label: &str, values: &[String]) -> bool {
    let (Ok(have), [want]) = (label.parse::<i64>(), values) else {
        return false;
    };
    let Ok(want) = want.parse::<i64>() else {
        return false;
    };
    if op == Operator::GreaterThan {
        have > want
    } else {
        have < want
    }
}

/// A parsed label selector: the AND of its requirements, sorted by key.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LabelSelector {
    requirements: Vec<Requirement>,
}

impl LabelSelector {
    /// Matches everything (the empty selector).
    pub fn everything() -> Self {
        LabelSelector::default()
    }

    /// Parses `labelSelector` text; the empty string is [`LabelSelector::everything`].
    pub fn parse(text: &str) -> Result<Self, SelectorError> {
        if text.len() > MAX_SELECTOR_BYTES {
            return Err(SelectorError::TooLong {
                kind: "label",
                len: text.len(),
            });
        }
        let tokens = lex(text);
        let mut requirements = Parser {
            tokens: &tokens,
            pos: 0,
        }
        .parse()?;
        requirements.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(LabelSelector { requirements })
    }

    /// Both selectors must match (e.g. the request's and `--node-selector`).
    pub fn and(mut self, other: LabelSelector) -> Self {
        self.requirements.extend(other.requirements);
        self.requirements.sort_by(|a, b| a.key.cmp(&b.key));
        self
    }

    /// True when the labels satisfy every requirement.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.requirements.iter().all(|r| r.matches(labels))
    }

    /// Like [`LabelSelector::matches`], with absent labels treated as an empty map.
    pub fn matches_opt(&self, labels: Option<&BTreeMap<String, String>>) -> bool {
        static EMPTY: BTreeMap<String, String> = BTreeMap::new();
        self.matches(labels.unwrap_or(&EMPTY))
    }

    /// True when the selector does not restrict anything.
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// The requirements, sorted by key.
    pub fn requirements(&self) -> &[Requirement] {
        &self.requirements
    }
}

struct Parser<'t> {
    tokens: &'t [Token],
    pos: usize,
}

fn invalid(msg: String) -> SelectorError {
    SelectorError::Invalid(msg)
}

impl<'t> Parser<'t> {
    fn peek(&self) -> &'t Token {
        self.tokens.get(self.pos).unwrap_or(&Token::End)
    }

    fn next(&mut self) -> &'t Token {
        let t = self.peek();
        self.pos = (self.pos + 1).min(self.tokens.len());
        t
    }

    fn parse(&mut self) -> Result<Vec<Requirement>, SelectorError> {
        let mut requirements = Vec::new();
        loop {
            let t = self.peek();
            if *t == Token::End {
                return Ok(requirements);
            }
            if !t.is_identifier() && *t != Token::Not {
                return Err(invalid(format!(
                    "found '{}', expected: !, identifier, or 'end of string'",
                    t.literal()
                )));
            }
            let r = self.requirement().map_err(|e| match e {
                SelectorError::Invalid(m) => invalid(format!("unable to parse requirement: {m}")),
                other => other,
            })?;
            requirements.push(r);
            if requirements.len() > MAX_REQUIREMENTS {
                return Err(SelectorError::TooManyRequirements { kind: "label" });
            }
            match self.next() {
                Token::End => return Ok(requirements),
                Token::Comma => {
                    let t2 = self.peek();
                    if !t2.is_identifier() && *t2 != Token::Not {
                        return Err(invalid(format!(
                            "found '{}', expected: identifier after ','",
                            t2.literal()
                        )));
                    }
                }
                t => {
                    return Err(invalid(format!(
                        "found '{}', expected: ',' or 'end of string'",
                        t.literal()
                    )));
                }
            }
        }
    }

    fn requirement(&mut self) -> Result<Requirement, SelectorError> {
        let mut t = self.next();
        let negated = *t == Token::Not;
        if negated {
            t = self.next();
        }
        if !t.is_identifier() {
            return Err(invalid(format!(
                "found '{}', expected: identifier",
                t.literal()
            )));
        }
        let key = t.literal().to_owned();
        let errs = label_key_errors(&key);
        if !errs.is_empty() {
            return Err(invalid(format!(
                "<nil>: Invalid value: {}: {}",
                go_quote(&key),
                errs.join("; ")
            )));
        }
        if matches!(self.peek(), Token::End | Token::Comma) {
            let operator = if negated {
                Operator::DoesNotExist
            } else {
                Operator::Exists
            };
            return Ok(Requirement {
                key,
                operator,
                values: Vec::new(),
            });
        }
        let operator = self.operator()?;
        let values = match operator {
            Operator::In | Operator::NotIn => self.value_set(&key)?,
            _ => self.exact_value()?,
        };
        new_requirement(key, operator, values)
    }

    fn operator(&mut self) -> Result<Operator, SelectorError> {
        Ok(match self.next() {
            Token::In => Operator::In,
            Token::Equals => Operator::Equals,
            Token::DoubleEquals => Operator::DoubleEquals,
            Token::GreaterThan => Operator::GreaterThan,
            Token::LessThan => Operator::LessThan,
            Token::NotIn => Operator::NotIn,
            Token::NotEquals => Operator::NotEquals,
            t => {
                return Err(invalid(format!(
                    "found '{}', expected: in, notin, =, ==, !=, gt, lt",
                    t.literal()
                )));
            }
        })
    }

    /// `( v1, v2, … )`; empty entries are the empty value, like upstream.
    fn value_set(&mut self, key: &str) -> Result<BTreeSet<String>, SelectorError> {
        let t = self.next();
        if *t != Token::OpenPar {
            return Err(invalid(format!("found '{}' expected: '('", t.literal())));
        }
        let first = self.peek();
        if *first == Token::ClosedPar {
            self.next();
            return Ok(BTreeSet::from([String::new()]));
        }
        if !first.is_identifier() && *first != Token::Comma {
            return Err(invalid(format!(
                "found '{}', expected: ',', ')' or identifier",
                first.literal()
            )));
        }
        let set = self.identifiers(key)?;
        if *self.next() != Token::ClosedPar {
            return Err(invalid(format!(
                "found '{}', expected: ')'",
                first.literal()
            )));
        }
        Ok(set)
    }

    /// `parseIdentifiersList`.
    fn identifiers(&mut self, key: &str) -> Result<BTreeSet<String>, SelectorError> {
        let mut set = BTreeSet::new();
        loop {
            if set.len() > MAX_VALUES {
                return Err(SelectorError::TooManyValues {
                    key: key.to_owned(),
                });
            }
            let t = self.next();
            if t.is_identifier() {
                set.insert(t.literal().to_owned());
                match self.peek() {
                    Token::Comma => continue,
                    Token::ClosedPar => return Ok(set),
                    t2 => {
                        return Err(invalid(format!(
                            "found '{}', expected: ',' or ')'",
                            t2.literal()
                        )));
                    }
                }
            }
            if *t != Token::Comma {
                return Err(invalid(format!(
                    "found '{}', expected: ',', or identifier",
                    t.literal()
                )));
            }
            if set.is_empty() {
                set.insert(String::new());
            }
            match self.peek() {
                Token::ClosedPar => {
                    set.insert(String::new());
                    return Ok(set);
                }
                Token::Comma => {
                    self.next();
                    set.insert(String::new());
                }
                _ => {}
            }
        }
    }

    /// `parseExactValue`: one value, possibly empty (`a=` or `a=,b`).
    fn exact_value(&mut self) -> Result<BTreeSet<String>, SelectorError> {
        if matches!(self.peek(), Token::End | Token::Comma) {
            return Ok(BTreeSet::from([String::new()]));
        }
        let t = self.next();
        if t.is_identifier() {
            return Ok(BTreeSet::from([t.literal().to_owned()]));
        }
        Err(invalid(format!(
            "found '{}', expected: identifier",
            t.literal()
        )))
    }
}

/// `NewRequirement`: validates the values; several problems are reported as `[a, b]`.
fn new_requirement(
    key: String,
    operator: Operator,
    values: BTreeSet<String>,
) -> Result<Requirement, SelectorError> {
    if values.len() > MAX_VALUES {
        return Err(SelectorError::TooManyValues { key });
    }
    let mut errs: Vec<String> = Vec::new();
    let integer_op = matches!(operator, Operator::GreaterThan | Operator::LessThan);
    for (i, v) in values.iter().enumerate() {
        if integer_op && v.parse::<i64>().is_err() {
            errs.push(format!(
                "values[{i}]: Invalid value: {}: for 'Gt', 'Lt' operators, the value must be an integer",
                go_quote(v)
            ));
        }
    }
    for (i, v) in values.iter().enumerate() {
        let problems = label_value_errors(v);
        if !problems.is_empty() {
            errs.push(format!(
                "values[{i}][{key}]: Invalid value: {}: {}",
                go_quote(v),
                problems.join("; ")
            ));
        }
    }
    errs.dedup();
    match errs.len() {
        0 => Ok(Requirement {
            key,
            operator,
            values: values.into_iter().collect(),
        }),
        1 => Err(invalid(errs.remove(0))),
        _ => Err(invalid(format!("[{}]", errs.join(", ")))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn parses_every_operator() {
        let l = labels(&[("app", "db"), ("tier", "fe"), ("n", "5")]);
        let cases: &[(&str, bool)] = &[
            ("", true),
            ("app=db", true),
            ("app==db", true),
            ("app!=db", false),
            ("app in (db,x)", true),
            ("app notin (db,x)", false),
            ("app", true),
            ("!app", false),
            ("!missing", true),
            ("missing!=x", true),
            ("missing notin (x)", true),
            ("missing in (x)", false),
            ("n>4,n<6", true),
            ("n>5", false),
            ("app>1", false),
            ("  app = db ,  tier  ", true),
            ("app in (in,notin,db)", true),
            ("app=in", false),
            ("app in ()", false),
            ("tier=fe,app=x", false),
        ];
        for &(text, want) in cases {
            let s = LabelSelector::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(s.matches(&l), want, "{text}");
        }
    }

    #[test]
    fn error_texts_follow_upstream() {
        let cases: &[(&str, &str)] = &[
            ("app=", ""),
            ("a=b c", "found 'c', expected: ',' or 'end of string'"),
            (
                ",a",
                "found ',', expected: !, identifier, or 'end of string'",
            ),
            ("a,", "found '', expected: identifier after ','"),
            (
                "a in b",
                "unable to parse requirement: found 'b' expected: '('",
            ),
            (
                "a in (b",
                "unable to parse requirement: found '', expected: ',' or ')'",
            ),
            (
                "a (b)",
                "unable to parse requirement: found '(', expected: in, notin, =, ==, !=, gt, lt",
            ),
            (
                "a>x",
                "unable to parse requirement: values[0]: Invalid value: \"x\": for 'Gt', 'Lt' operators, the value must be an integer",
            ),
            (
                "!=a",
                "found '!=', expected: !, identifier, or 'end of string'",
            ),
        ];
        for &(text, want) in cases {
            match LabelSelector::parse(text) {
                Ok(_) if want.is_empty() => {}
                Ok(_) => panic!("{text} parsed"),
                Err(e) => assert_eq!(e.to_string(), want, "{text}"),
            }
        }
        let err = LabelSelector::parse("a=b#c").unwrap_err().to_string();
        assert!(err.starts_with("unable to parse requirement: values[0][a]: Invalid value: \"b#c\": a valid label must be"), "{err}");
        let err = LabelSelector::parse("-a").unwrap_err().to_string();
        assert!(
            err.starts_with(
                "unable to parse requirement: <nil>: Invalid value: \"-a\": name part must"
            ),
            "{err}"
        );
    }

    #[test]
    fn and_combines_and_empty_matches_missing_labels() {
        let s = LabelSelector::parse("zone=a")
            .unwrap()
            .and(LabelSelector::parse("app").unwrap());
        assert_eq!(s.requirements()[0].key, "app");
        assert!(s.matches(&labels(&[("zone", "a"), ("app", "")])));
        assert!(!s.matches_opt(None));
        assert!(LabelSelector::everything().matches_opt(None));
        assert!(LabelSelector::parse("!x").unwrap().matches_opt(None));
    }
}
