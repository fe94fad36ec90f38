//! JSON responses and `Status` error bodies of the simulated apiserver, shaped like
//! kube-apiserver's (kubectl prints `Error from server (<reason>): <message>` from them).

use bytes::Bytes;
use futures::{Stream, StreamExt};
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use serde_json::json;

use crate::net::{self, Body, BoxError};

pub(crate) const JSON: &str = "application/json";

/// A streamed `application/json` body (a watch): each item of `chunks` is sent as it comes.
pub(crate) fn json_stream(
    chunks: impl Stream<Item = Bytes> + Send + Sync + 'static,
) -> Response<Body> {
    let frames = chunks.map(|b| Ok::<_, BoxError>(Frame::data(b)));
    let mut resp = Response::new(BodyExt::boxed(StreamBody::new(frames)));
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON));
    resp
}

/// A JSON body with the given Content-Type.
pub(crate) fn json_as(
    status: StatusCode,
    content_type: &str,
    body: &serde_json::Value,
) -> Response<Body> {
    // A `Value` always serializes (its keys are strings): no empty body stands in for it.
    let bytes = body.to_string().into_bytes();
    let mut resp = Response::new(net::full_body(bytes));
    *resp.status_mut() = status;
    let ct = HeaderValue::from_str(content_type).unwrap_or(HeaderValue::from_static(JSON));
    resp.headers_mut().insert(header::CONTENT_TYPE, ct);
    resp
}

/// A request body of at most `limit` bytes, as JSON; else a 400 `Status`.
pub(crate) async fn read_json(
    body: hyper::body::Incoming,
    limit: usize,
) -> Result<serde_json::Value, Response<Body>> {
    use http_body_util::BodyExt;
    let bytes = http_body_util::Limited::new(body, limit)
        .collect()
        .await
        .map_err(|_| bad_request("request body too large or unreadable"))?
        .to_bytes();
    serde_json::from_slice(&bytes).map_err(|e| bad_request(&format!("invalid JSON body: {e}")))
}

/// 200 with `application/json`.
pub(crate) fn ok(body: &serde_json::Value) -> Response<Body> {
    json_as(StatusCode::OK, JSON, body)
}

/// A `Status` failure.
pub(crate) fn status(
    code: StatusCode,
    reason: &str,
    message: &str,
    details: Option<serde_json::Value>,
) -> Response<Body> {
    let mut body = json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code.as_u16(),
    });
    if let Some(details) = details {
        body["details"] = details;
    }
    json_as(code, JSON, &body)
}

pub(crate) fn unauthorized() -> Response<Body> {
    status(
        StatusCode::UNAUTHORIZED,
        "Unauthorized",
        "Unauthorized",
        None,
    )
}

/// 404 for an unknown path.
pub(crate) fn no_route() -> Response<Body> {
    status(
        StatusCode::NOT_FOUND,
        "NotFound",
        "the server could not find the requested resource",
        Some(json!({})),
    )
}

/// 404 for a missing object: `pods "x" not found`.
pub(crate) fn not_found(kind: &str, name: &str) -> Response<Body> {
    status(
        StatusCode::NOT_FOUND,
        "NotFound",
        &format!("{kind} \"{name}\" not found"),
        Some(json!({"name": name, "kind": kind})),
    )
}

pub(crate) fn bad_request(message: &str) -> Response<Body> {
    status(StatusCode::BAD_REQUEST, "BadRequest", message, None)
}

pub(crate) fn method_not_allowed() -> Response<Body> {
    status(
        StatusCode::METHOD_NOT_ALLOWED,
        "MethodNotAllowed",
        "the server does not allow this method on the requested resource",
        Some(json!({})),
    )
}

/// What the aggregator answers when the metrics backend is unreachable or absent.
pub(crate) fn service_unavailable() -> Response<Body> {
    status(
        StatusCode::SERVICE_UNAVAILABLE,
        "ServiceUnavailable",
        "the server is currently unable to handle the request",
        Some(
            json!({"group": "metrics.k8s.io", "causes": [{"reason": "UnexpectedServerResponse", "message": "service unavailable"}]}),
        ),
    )
}
