//! Kubernetes `metav1.Status` error bodies, byte-exact with the apiserver (upstream spec §2.7;
//! constructors port apimachinery `pkg/api/errors`). kubectl prints
//! `Error from server (<reason>): <message>` from these.
//!
//! The body is a serde type written by [`go_encode`]: k8s-openapi's `Status` serializes its
//! fields alphabetically and kube-core's in another order, neither Go's, so the envelope is
//! our own struct; `details` is kube-core's `StatusDetails` (Go's order, empty fields
//! omitted) and `metadata` k8s-openapi's `ListMeta`.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ListMeta;
use kube::core::response::{StatusCause, StatusDetails, StatusSummary};
use serde::Serialize;

use crate::api::encode::json::go_encode;

/// The `details` object; empty fields are omitted like Go's `omitempty`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Details {
    pub name: String,
    pub group: String,
    pub kind: String,
    /// Each becomes `{"message":…}` in `causes`.
    pub causes: Vec<String>,
    pub retry_after_seconds: u32,
}

/// A failure Status. `reason` empty means `Unknown` (omitted from the JSON).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    pub code: u16,
    pub reason: &'static str,
    pub message: String,
    pub details: Option<Details>,
}

/// The metrics group, as it appears in `details.group`.
const METRICS_GROUP: &str = "metrics.k8s.io";

impl Status {
    fn new(code: u16, reason: &'static str, message: String, details: Option<Details>) -> Self {
        Status {
            code,
            reason,
            message,
            details,
        }
    }

    /// `NewNotFound`: `<resource> "<name>" not found`, details `{name, group, kind}`.
    fn not_found(group: &str, resource: &str, name: &str, why: Option<&str>) -> Self {
        let qualified = if group.is_empty() {
            resource.to_owned()
        } else {
            format!("{resource}.{group}")
        };
        let mut message = format!("{qualified} {} not found", go_quote(name));
        if let Some(why) = why {
            message.push_str(": ");
            message.push_str(why);
        }
        let details = Details {
            name: name.to_owned(),
            group: group.to_owned(),
            kind: resource.to_owned(),
            ..Details::default()
        };
        Status::new(404, "NotFound", message, Some(details))
    }

    /// GET of a node the cluster does not have: `node "X" not found` (singular, no group).
    pub fn node_not_found(name: &str) -> Self {
        Status::not_found("", "node", name, None)
    }

    /// GET of a node without servable metrics: `nodemetrics.metrics.k8s.io "X" not found`,
    /// plus `: <why>` when the reason is known (beyond upstream).
    pub fn node_metrics_not_found(name: &str, why: Option<&str>) -> Self {
        Status::not_found(METRICS_GROUP, "nodemetrics", name, why)
    }

    /// GET of a pod that is missing or not Running: `pods "X" not found`.
    pub fn pod_not_found(name: &str) -> Self {
        Status::not_found("", "pods", name, None)
    }

    /// GET of a Running pod without servable metrics:
    /// `podmetrics.metrics.k8s.io "ns/X" not found` (plus `: <why>` when known).
    pub fn pod_metrics_not_found(namespace: &str, name: &str, why: Option<&str>) -> Self {
        Status::not_found(
            METRICS_GROUP,
            "podmetrics",
            &format!("{namespace}/{name}"),
            why,
        )
    }

    /// 400 `BadRequest` with the message as given, no details.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Status::new(400, "BadRequest", message.into(), None)
    }

    /// 400 for a field selector over an unsupported field, upstream's text:
    /// `"spec.foo" is not a known field selector: only "metadata.name", "metadata.namespace"`.
    pub fn unknown_field_selector(field: &str, allowed: &[&str]) -> Self {
        let allowed: Vec<String> = allowed.iter().map(|f| go_quote(f)).collect();
        Status::bad_request(format!(
            "{} is not a known field selector: only {}",
            go_quote(field),
            allowed.join(", ")
        ))
    }

    /// 405 `NewMethodNotSupported`: `<action> is not supported on resources of kind
    /// "<resource>"`, details `{group, kind}`. `resource` is qualified: `pods.metrics.k8s.io`.
    pub fn method_not_supported(action: &str, resource: &str) -> Self {
        let (kind, group) = resource.split_once('.').unwrap_or((resource, ""));
        let details = Details {
            group: group.to_owned(),
            kind: kind.to_owned(),
            ..Details::default()
        };
        let message = format!(
            "{action} is not supported on resources of kind {}",
            go_quote(resource)
        );
        Status::new(405, "MethodNotAllowed", message, Some(details))
    }

    /// 405 for a method a path does not serve, as go-restful answers it in the apiserver.
    pub fn method_not_allowed() -> Self {
        let message = "the server does not allow this method on the requested resource".to_owned();
        Status::new(405, "MethodNotAllowed", message, Some(Details::default()))
    }

    /// 405 for `?watch=true` (metrics are not watchable).
    pub fn watch_not_supported(resource: &str) -> Self {
        Status::method_not_supported("watch", resource)
    }

    /// 404 for a path the server does not serve, as kube-apiserver answers it.
    pub fn not_found_path() -> Self {
        let message = "the server could not find the requested resource".to_owned();
        Status::new(404, "NotFound", message, Some(Details::default()))
    }

    /// 406 when no acceptable representation exists; `accepted` lists what we can send.
    pub fn not_acceptable(accepted: &[&str]) -> Self {
        let message = format!(
            "only the following media types are accepted: {}",
            accepted.join(", ")
        );
        Status::new(406, "NotAcceptable", message, None)
    }

    /// 406 from the apiserver's router when no `Accept` entry names a type the path
    /// `produces` (parameters ignored).
    pub fn not_acceptable_by_route(produces: &[&str]) -> Self {
        let message = format!(
            "406: Not Acceptable\n\nAvailable representations: {}",
            produces.join(", ")
        );
        Status::new(406, "NotAcceptable", message, Some(Details::default()))
    }

    /// 500 `NewInternalError`: `Internal error occurred: <msg>`, the message as a cause.
    pub fn internal(message: &str) -> Self {
        let details = Details {
            causes: vec![message.to_owned()],
            ..Details::default()
        };
        Status::new(
            500,
            "InternalError",
            format!("Internal error occurred: {message}"),
            Some(details),
        )
    }

    /// 500 with an empty (Unknown) reason: what the apiserver makes of a plain Go error.
    pub fn unknown(message: impl Into<String>) -> Self {
        Status::new(500, "", message.into(), None)
    }

    /// 429 `NewTooManyRequests`, telling the client when to retry.
    pub fn too_many_requests(retry_after_seconds: u32) -> Self {
        let details = Details {
            retry_after_seconds,
            ..Details::default()
        };
        let message = "Too many requests: please try again later".to_owned();
        Status::new(429, "TooManyRequests", message, Some(details))
    }

    /// 414: a request path longer than `limit` bytes, refused before any review (nothing the
    /// API serves has such a path; authorizing it would cache it).
    pub fn path_too_long(limit: usize) -> Self {
        let message = format!("the request path is longer than the {limit} bytes accepted");
        Status::new(414, "", message, None)
    }

    /// 503 `NewServiceUnavailable`.
    pub fn service_unavailable(message: impl Into<String>) -> Self {
        Status::new(503, "ServiceUnavailable", message.into(), None)
    }

    /// 401, as the apiserver's authentication filter answers.
    pub fn unauthorized() -> Self {
        Status::new(401, "Unauthorized", "Unauthorized".to_owned(), None)
    }

    /// 403 `NewForbidden` for `resource.group` (empty resource: no qualifier), `why` being
    /// the authorizer's text such as `User "x" cannot list resource "pods" …`.
    pub fn forbidden(group: &str, resource: &str, name: &str, why: &str) -> Self {
        let qualified = match (resource, group) {
            ("", _) => String::new(),
            (r, "") => r.to_owned(),
            (r, g) => format!("{r}.{g}"),
        };
        let message = match (qualified.as_str(), name) {
            ("", _) => format!("forbidden: {why}"),
            (q, "") => format!("{q} is forbidden: {why}"),
            (q, n) => format!("{q} {} is forbidden: {why}", go_quote(n)),
        };
        let details = Details {
            name: name.to_owned(),
            group: group.to_owned(),
            kind: resource.to_owned(),
            ..Details::default()
        };
        Status::new(403, "Forbidden", message, Some(details))
    }

    /// The body: compact JSON in `metav1.Status` field order, then `\n`.
    pub fn to_json(&self) -> Vec<u8> {
        let details = self.details.as_ref().map(|d| StatusDetails {
            name: d.name.clone(),
            group: d.group.clone(),
            kind: d.kind.clone(),
            uid: String::new(),
            causes: d
                .causes
                .iter()
                .map(|message| StatusCause {
                    reason: String::new(),
                    message: message.clone(),
                    field: String::new(),
                })
                .collect(),
            retry_after_seconds: d.retry_after_seconds,
        });
        let body = StatusBody {
            kind: "Status",
            api_version: "v1",
            metadata: ListMeta::default(),
            status: StatusSummary::Failure,
            message: &self.message,
            reason: self.reason,
            details,
            code: self.code,
        };
        go_encode(&body).unwrap_or_else(|err| {
            tracing::error!(error = %err, code = self.code, "Could not encode a Status.");
            UNENCODABLE.to_vec()
        })
    }
}

/// `metav1.Status` in Go's field order; `message` and `reason` omitted when empty.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct StatusBody<'a> {
    kind: &'static str,
    api_version: &'static str,
    metadata: ListMeta,
    status: StatusSummary,
    #[serde(skip_serializing_if = "str::is_empty")]
    message: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    reason: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    details: Option<StatusDetails>,
    code: u16,
}

/// The body sent should a Status ever fail to encode (serde_json fails only on non-string map
/// keys or a failing `Serialize` impl, neither of which [`StatusBody`] has): a 500 rather than
/// an empty body. The tests check it is what [`Status::to_json`] writes for this Status.
const UNENCODABLE: &[u8] = b"{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\",\"message\":\"Internal error occurred: the status could not be encoded\",\"reason\":\"InternalError\",\"details\":{\"causes\":[{\"message\":\"the status could not be encoded\"}]},\"code\":500}\n";

/// Go's `%q` / `strconv.Quote` for the message texts (names come from request paths).
pub fn go_quote(s: &str) -> String {
    use std::fmt::Write;
    let mut q = String::with_capacity(s.len() + 2);
    q.push('"');
    for c in s.chars() {
        match c {
            '"' => q.push_str("\\\""),
            '\\' => q.push_str("\\\\"),
            '\u{7}' => q.push_str("\\a"),
            '\u{8}' => q.push_str("\\b"),
            '\u{c}' => q.push_str("\\f"),
            '\n' => q.push_str("\\n"),
            '\r' => q.push_str("\\r"),
            '\t' => q.push_str("\\t"),
            '\u{b}' => q.push_str("\\v"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                let _ = write!(q, "\\x{:02x}", c as u32);
            }
            c if c.is_control() || (c.is_whitespace() && c != ' ') => {
                if (c as u32) <= 0xffff {
                    let _ = write!(q, "\\u{:04x}", c as u32);
                } else {
                    let _ = write!(q, "\\U{:08x}", c as u32);
                }
            }
            c => q.push(c),
        }
    }
    q.push('"');
    q
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(s: &Status) -> String {
        String::from_utf8(s.to_json()).unwrap()
    }

    #[test]
    fn not_found_bodies_match_upstream() {
        assert_eq!(
            body(&Status::node_not_found("node-x")),
            r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"node \"node-x\" not found","reason":"NotFound","details":{"name":"node-x","kind":"node"},"code":404}
"#
        );
        assert_eq!(
            body(&Status::pod_metrics_not_found("default", "web-2", None)),
            r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"podmetrics.metrics.k8s.io \"default/web-2\" not found","reason":"NotFound","details":{"name":"default/web-2","group":"metrics.k8s.io","kind":"podmetrics"},"code":404}
"#
        );
        let why = Status::node_metrics_not_found("node-a", Some("no second scrape yet"));
        assert_eq!(
            why.message,
            "nodemetrics.metrics.k8s.io \"node-a\" not found: no second scrape yet"
        );
        assert_eq!(Status::pod_not_found("p").message, "pods \"p\" not found");
    }

    #[test]
    fn method_and_selector_errors_match_upstream_text() {
        assert_eq!(
            body(&Status::watch_not_supported("pods.metrics.k8s.io")),
            r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"watch is not supported on resources of kind \"pods.metrics.k8s.io\"","reason":"MethodNotAllowed","details":{"group":"metrics.k8s.io","kind":"pods"},"code":405}
"#
        );
        let s = Status::unknown_field_selector(
            "spec.nodeName",
            &["metadata.name", "metadata.namespace"],
        );
        assert_eq!(
            s.message,
            r#""spec.nodeName" is not a known field selector: only "metadata.name", "metadata.namespace""#
        );
        assert_eq!((s.code, s.reason, s.details), (400, "BadRequest", None));
    }

    #[test]
    fn generic_errors() {
        assert_eq!(
            body(&Status::not_found_path()),
            r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"the server could not find the requested resource","reason":"NotFound","details":{},"code":404}
"#
        );
        assert_eq!(
            body(&Status::internal("boom")),
            r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Internal error occurred: boom","reason":"InternalError","details":{"causes":[{"message":"boom"}]},"code":500}
"#
        );
        assert_eq!(
            body(&Status::unknown("failed listing nodes: x")),
            r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"failed listing nodes: x","code":500}
"#
        );
        assert!(
            body(&Status::too_many_requests(1))
                .contains(r#""details":{"retryAfterSeconds":1},"code":429"#)
        );
        assert_eq!(Status::not_acceptable(&["application/json"]).code, 406);
        assert_eq!(
            Status::service_unavailable("x").reason,
            "ServiceUnavailable"
        );
        assert_eq!(
            Status::forbidden("metrics.k8s.io", "pods", "", "User \"u\" cannot list").message,
            "pods.metrics.k8s.io is forbidden: User \"u\" cannot list"
        );
    }

    #[test]
    fn the_fallback_body_is_an_encoded_status() {
        assert_eq!(
            Status::internal("the status could not be encoded").to_json(),
            UNENCODABLE
        );
    }

    #[test]
    fn names_are_quoted_like_go() {
        assert_eq!(go_quote("a\"b\\c\n\u{1}é"), r#""a\"b\\c\n\x01é""#);
        let s = Status::node_not_found("<x>");
        let v: serde_json::Value = serde_json::from_slice(&s.to_json()).unwrap();
        assert_eq!(v["message"], "node \"<x>\" not found");
        assert!(body(&s).contains(r"\u003cx\u003e"));
    }
}
