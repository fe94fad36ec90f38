//! Response heads that cannot go out wrong: a status code or header value that HTTP cannot
//! carry becomes a logged 500 Status, never an empty 200. Fixed header values are
//! [`HeaderValue`] constants, checked when the program is compiled.

use http::header::{self, HeaderName, HeaderValue};
use http::{Response, StatusCode};

use super::response_body::ResponseBody;
use crate::api::metav1_status::Status;

/// `Content-Type` of Status bodies.
pub const JSON: HeaderValue = HeaderValue::from_static("application/json");

/// Why a response head could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeadError {
    #[error("status code {0} is not an HTTP status")]
    Status(u16),
    #[error("{name} value {value:?} is not a valid header value")]
    Header { name: HeaderName, value: String },
}

/// A response with status `code` around `body`.
pub fn with_status(
    code: u16,
    body: impl Into<ResponseBody>,
) -> Result<Response<ResponseBody>, HeadError> {
    let status = StatusCode::from_u16(code).map_err(|_| HeadError::Status(code))?;
    let mut response = Response::new(body.into());
    *response.status_mut() = status;
    Ok(response)
}

/// A response with status `code` and `Content-Type: content_type` around `body`.
pub fn with_content_type(
    code: u16,
    content_type: &str,
    body: impl Into<ResponseBody>,
) -> Result<Response<ResponseBody>, HeadError> {
    let mut response = with_status(code, body)?;
    insert(&mut response, header::CONTENT_TYPE, content_type)?;
    Ok(response)
}

/// Sets header `name` to `value`, or says why `value` cannot be a header value.
pub fn insert(
    response: &mut Response<ResponseBody>,
    name: HeaderName,
    value: &str,
) -> Result<(), HeadError> {
    match HeaderValue::from_str(value) {
        Ok(value) => {
            response.headers_mut().insert(name, value);
            Ok(())
        }
        Err(_) => Err(HeadError::Header {
            name,
            value: value.to_owned(),
        }),
    }
}

/// The response that was built, or a 500 Status in its place (the failure is logged).
pub fn or_internal_error(
    built: Result<Response<ResponseBody>, HeadError>,
) -> Response<ResponseBody> {
    built.unwrap_or_else(|err| internal_error(&err))
}

/// A 500 `InternalError` Status for a response that could not be built.
pub fn internal_error(err: &HeadError) -> Response<ResponseBody> {
    tracing::error!(error = %err, "Could not build a response; answering 500.");
    let body = Status::internal(&err.to_string()).to_json();
    let mut response = Response::new(ResponseBody::from(body));
    *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    response.headers_mut().insert(header::CONTENT_TYPE, JSON);
    response
}

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt;

    use super::*;

    async fn text(response: Response<ResponseBody>) -> String {
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn a_valid_head_keeps_its_status_type_and_body() {
        let response = or_internal_error(with_content_type(404, "text/plain", "gone".to_owned()));
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        assert_eq!(response.headers()[header::CONTENT_TYPE], "text/plain");
        assert_eq!(text(response).await, "gone");
    }

    #[tokio::test]
    async fn a_content_type_that_cannot_be_a_header_gives_a_500_status_not_an_empty_200() {
        let built = with_content_type(200, "text/plain\r\nx-injected: 1", "secret".to_owned());
        assert!(matches!(built, Err(HeadError::Header { .. })), "{built:?}");
        let response = or_internal_error(built);
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
        assert!(response.headers().get("x-injected").is_none());
        let body = text(response).await;
        assert!(body.contains("\"reason\":\"InternalError\""), "{body}");
        assert!(!body.contains("secret"), "{body}");
    }

    #[tokio::test]
    async fn a_status_code_outside_http_gives_a_500_status() {
        let built = with_status(1000, "data".to_owned());
        assert_eq!(built.as_ref().err(), Some(&HeadError::Status(1000)));
        let response = or_internal_error(built);
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(text(response).await.contains("status code 1000"));
    }
}
