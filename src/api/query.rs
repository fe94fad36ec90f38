//! List/get query parameters (upstream spec §2.3): form decoding (`+` is a space, `%XX`),
//! the parameters metrics-server honours, and the ones it accepts and ignores (`limit`,
//! `continue`, `resourceVersion`, `resourceVersionMatch`, `timeoutSeconds`, `timeout`,
//! `allowWatchBookmarks`, anything unknown). The first occurrence of a parameter wins.

use crate::api::encode::IncludeObject;
use crate::api::metav1_status::Status;

/// Longest raw query string accepted.
pub const MAX_QUERY_BYTES: usize = 16 * 1024;

/// The parsed parameters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListOptions {
    /// `labelSelector`, decoded; `None` when absent or empty.
    pub label_selector: Option<String>,
    /// `fieldSelector`, decoded; `None` when absent or empty.
    pub field_selector: Option<String>,
    /// `watch`: Go's query bool, false only for `0`, `f`, `false` (any case).
    pub watch: bool,
    /// `includeObject` for Tables (default `Metadata`).
    pub include_object: IncludeObject,
    /// `pretty` when given (`strconv.ParseBool`; unparsable reads as false).
    pub pretty: Option<bool>,
}

impl ListOptions {
    /// Whether to indent the body: the explicit `pretty`, else true for curl, Wget and
    /// browsers, as the apiserver decides (`isPrettyPrint`).
    pub fn wants_pretty(&self, user_agent: Option<&str>) -> bool {
        self.pretty.unwrap_or_else(|| {
            user_agent.is_some_and(|ua| {
                ua.starts_with("curl") || ua.starts_with("Wget") || ua.starts_with("Mozilla/5.0")
            })
        })
    }
}

/// A query string that cannot be used; each becomes a 400.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    #[error("query string is {len} bytes long; at most {max} bytes are accepted", max = MAX_QUERY_BYTES)]
    TooLong { len: usize },
    #[error("invalid URL escape in query parameter {param:?}")]
    BadEscape { param: String },
    #[error("query parameter {param:?} is not valid UTF-8 after decoding")]
    NotUtf8 { param: String },
    #[error("unrecognized includeObject value: {0:?}")]
    IncludeObject(String),
}

impl QueryError {
    /// The 400 `BadRequest` Status to send.
    pub fn to_status(&self) -> Status {
        Status::bad_request(self.to_string())
    }
}

/// Parses the raw query (the part after `?`, not decoded; `None` when there is none).
pub fn parse_query(raw: Option<&str>) -> Result<ListOptions, QueryError> {
    let raw = raw.unwrap_or("");
    if raw.len() > MAX_QUERY_BYTES {
        return Err(QueryError::TooLong { len: raw.len() });
    }
    let mut opts = ListOptions::default();
    let mut seen = Seen::default();
    for pair in raw.split('&').filter(|p| !p.is_empty()) {
        let (raw_key, raw_value) = pair.split_once('=').unwrap_or((pair, ""));
        let key = form_decode(raw_key, raw_key)?;
        let value = || form_decode(raw_value, &key);
        match key.as_str() {
            "labelSelector" if !seen.label => {
                seen.label = true;
                opts.label_selector = Some(value()?).filter(|s| !s.is_empty());
            }
            "fieldSelector" if !seen.field => {
                seen.field = true;
                opts.field_selector = Some(value()?).filter(|s| !s.is_empty());
            }
            "watch" if !seen.watch => {
                seen.watch = true;
                opts.watch = go_query_bool(&value()?);
            }
            "includeObject" if !seen.include => {
                seen.include = true;
                opts.include_object = include_object(&value()?)?;
            }
            "pretty" if opts.pretty.is_none() => opts.pretty = Some(go_parse_bool(&value()?)),
            _ => {}
        }
    }
    Ok(opts)
}

#[derive(Default)]
struct Seen {
    label: bool,
    field: bool,
    watch: bool,
    include: bool,
}

/// `Convert_Slice_string_To_bool`: false only for `0`, `f`, `false` (case-insensitive).
fn go_query_bool(v: &str) -> bool {
    !(v == "0" || v.eq_ignore_ascii_case("f") || v.eq_ignore_ascii_case("false"))
}

/// `strconv.ParseBool`, with an unparsable value reading as false.
fn go_parse_bool(v: &str) -> bool {
    matches!(v, "1" | "t" | "T" | "true" | "TRUE" | "True")
}

fn include_object(v: &str) -> Result<IncludeObject, QueryError> {
    match v {
        "" | "Metadata" => Ok(IncludeObject::Metadata),
        "None" => Ok(IncludeObject::None),
        "Object" => Ok(IncludeObject::Object),
        other => Err(QueryError::IncludeObject(other.to_owned())),
    }
}

/// Form decoding (`url.QueryUnescape`): `+` is a space, `%XX` a byte; the result must be UTF-8.
/// `param` names the parameter in errors.
///
/// The bytes are decoded by `percent-encoding` (what `form_urlencoded` decodes with; that
/// crate only parses whole `&`-joined queries, and keys and values here are decoded one at a
/// time). Both crates accept what Go refuses: a `%` without two hex digits stays as written,
/// and `form_urlencoded` turns bytes that are not UTF-8 into U+FFFD. This wrapper refuses
/// both, with the 400 the server has always answered.
pub fn form_decode(raw: &str, param: &str) -> Result<String, QueryError> {
    if !raw.contains(['%', '+']) {
        return Ok(raw.to_owned());
    }
    if !escapes_are_complete(raw) {
        return Err(QueryError::BadEscape {
            param: param.to_owned(),
        });
    }
    // `+` before decoding: `%2B` is a literal plus.
    let spaced = raw.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8()
        .map(std::borrow::Cow::into_owned)
        .map_err(|_| QueryError::NotUtf8 {
            param: param.to_owned(),
        })
}

/// Every `%` is followed by two hex digits.
fn escapes_are_complete(raw: &str) -> bool {
    raw.split('%').skip(1).all(|after| {
        after
            .as_bytes()
            .get(..2)
            .is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubectl_queries() {
        let o = parse_query(Some("labelSelector=app+in+%28db%2Cx%29&limit=500")).unwrap();
        assert_eq!(o.label_selector.as_deref(), Some("app in (db,x)"));
        let o = parse_query(Some("fieldSelector=metadata.name%3Dweb-2")).unwrap();
        assert_eq!(o.field_selector.as_deref(), Some("metadata.name=web-2"));
        let o = parse_query(Some(
            "labelSelector=%21node-role.kubernetes.io%2Fcontrol-plane",
        ))
        .unwrap();
        assert_eq!(
            o.label_selector.as_deref(),
            Some("!node-role.kubernetes.io/control-plane")
        );
        assert_eq!(parse_query(None).unwrap(), ListOptions::default());
    }

    #[test]
    fn ignored_and_defaulted_parameters() {
        let o = parse_query(Some(
            "resourceVersion=0&resourceVersionMatch=NotOlderThan&continue=x&timeoutSeconds=5&timeout=32s&allowWatchBookmarks=true&labelSelector=&x",
        ))
        .unwrap();
        assert_eq!(o, ListOptions::default());
        assert_eq!(o.include_object, IncludeObject::Metadata);
    }

    #[test]
    fn watch_include_object_and_pretty() {
        for (q, want) in [
            ("watch=true", true),
            ("watch=1", true),
            ("watch=", true),
            ("watch=false", false),
            ("watch=0", false),
            ("watch=F", false),
        ] {
            assert_eq!(parse_query(Some(q)).unwrap().watch, want, "{q}");
        }
        assert_eq!(
            parse_query(Some("includeObject=Object"))
                .unwrap()
                .include_object,
            IncludeObject::Object
        );
        assert_eq!(
            parse_query(Some("includeObject=None"))
                .unwrap()
                .include_object,
            IncludeObject::None
        );
        assert_eq!(
            parse_query(Some("includeObject=All"))
                .unwrap_err()
                .to_status()
                .message,
            "unrecognized includeObject value: \"All\""
        );
        let o = parse_query(Some("pretty=true")).unwrap();
        assert!(o.wants_pretty(Some("kubectl/v1.33")));
        let o = parse_query(Some("pretty=false")).unwrap();
        assert!(!o.wants_pretty(Some("curl/8.5")));
        assert!(ListOptions::default().wants_pretty(Some("curl/8.5")));
        assert!(!ListOptions::default().wants_pretty(None));
    }

    #[test]
    fn first_occurrence_wins() {
        let o = parse_query(Some("labelSelector=a&labelSelector=b")).unwrap();
        assert_eq!(o.label_selector.as_deref(), Some("a"));
    }

    #[test]
    fn bad_input_is_rejected() {
        assert!(matches!(
            parse_query(Some("labelSelector=%zz")),
            Err(QueryError::BadEscape { .. })
        ));
        assert!(matches!(
            parse_query(Some("labelSelector=%4")),
            Err(QueryError::BadEscape { .. })
        ));
        assert!(matches!(
            parse_query(Some("labelSelector=%ff")),
            Err(QueryError::NotUtf8 { .. })
        ));
        let long = format!("labelSelector={}", "a".repeat(MAX_QUERY_BYTES));
        assert!(matches!(
            parse_query(Some(&long)),
            Err(QueryError::TooLong { .. })
        ));
        assert_eq!(form_decode("a%2Bb+c%C2%B5", "p").unwrap(), "a+b c\u{b5}");
    }

    #[test]
    fn what_the_decoding_crates_accept_is_still_refused() {
        // The crate leaves a bad escape as written (and can replace bytes that are not UTF-8).
        let lenient = |s: &str| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        };
        assert_eq!(lenient("%zz"), "%zz");
        assert_eq!(lenient("%ff"), "\u{fffd}");
        for (raw, bad_escape) in [
            ("%zz", true),
            ("a%", true),
            ("%4", true),
            ("%%41", true),
            ("%4g", true),
            ("+%", true),
            ("%ff", false),
            ("%C3", false),
            // A lone lead byte before a literal character, and a surrogate.
            ("%C3\u{e9}", false),
            ("%ED%A0%80", false),
        ] {
            let err = form_decode(raw, "p").unwrap_err();
            if bad_escape {
                assert_eq!(err, QueryError::BadEscape { param: "p".into() }, "{raw}");
            } else {
                assert_eq!(err, QueryError::NotUtf8 { param: "p".into() }, "{raw}");
            }
        }
        for (raw, want) in [
            ("%EF%BF%BD", "\u{fffd}"),
            ("%c3%a9+%C3%A9", "\u{e9} \u{e9}"),
            ("%25zz", "%zz"),
            ("a=b%3Dc", "a=b=c"),
            ("x&y%26", "x&y&"),
            ("+", " "),
            ("", ""),
        ] {
            assert_eq!(form_decode(raw, "p").as_deref(), Ok(want), "{raw}");
        }
    }
}
