//! The aggregator part of the simulated apiserver: every request under `/apis/metrics.k8s.io`
//! goes to the metrics backend over HTTPS (verified against its CA), presenting the
//! front-proxy client certificate and `X-Remote-User` / `X-Remote-Group` headers, with the
//! client's Accept passed through; status, Content-Type and body are streamed back. An absent
//! or unreachable backend gives 503 `the server is currently unable to handle the request`,
//! like kube-aggregator (upstream spec §2.11). The aggregator also reads the backend's OpenAPI
//! documents itself, to merge them into its own (see `openapi`).

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode, Uri, header};
use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Incoming;
use hyper_util::client::legacy::{Client, connect::HttpConnector};
use hyper_util::rt::TokioExecutor;

use super::{MetricsBackend, respond};
use crate::net::{self, Body, BoxError, SimError};

/// How long the backend may take to send response headers (and, for a document the
/// aggregator reads itself, its body).
const BACKEND_TIMEOUT: Duration = Duration::from_secs(30);
/// The largest document the aggregator reads from the backend (its OpenAPI).
const MAX_DOCUMENT: usize = 4 << 20;

/// Why a request to the backend got no usable answer.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BackendError {
    #[error("invalid request path")]
    BadPath,
    #[error("metrics backend unreachable: {0}")]
    Unreachable(String),
    #[error("metrics backend timed out")]
    Timeout,
    #[error("metrics backend answered {0}")]
    Status(StatusCode),
    #[error("reading the metrics backend's answer failed: {0}")]
    Body(String),
    #[error("the metrics backend's answer is not JSON: {0}")]
    Json(String),
}

/// A connected-on-demand client for the metrics backend.
pub(crate) struct Backend {
    base: String,
    client: Client<hyper_rustls::HttpsConnector<HttpConnector>, Empty<Bytes>>,
}

impl Backend {
    pub(crate) fn new(cfg: &MetricsBackend) -> Result<Self, SimError> {
        let bad = |reason: &str| SimError::BackendUrl {
            url: cfg.url.clone(),
            reason: reason.to_owned(),
        };
        let uri: Uri = cfg.url.parse().map_err(|_| bad("not a URL"))?;
        if uri.scheme_str() != Some("https") || uri.authority().is_none() {
            return Err(bad("expected https://host:port"));
        }
        let tls = net::client_tls(
            &cfg.ca_pem,
            Some((&cfg.client_cert_pem, &cfg.client_key_pem)),
        )?;
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_only()
            .enable_http1()
            .enable_http2()
            .wrap_connector(net::tcp_connector());
        Ok(Backend {
            base: cfg.url.trim_end_matches('/').to_owned(),
            client: Client::builder(TokioExecutor::new()).build(connector),
        })
    }

    /// Forwards a GET for `path_and_query` on behalf of `user`.
    pub(crate) async fn forward(
        &self,
        path_and_query: &str,
        accept: Option<&HeaderValue>,
        user: &str,
    ) -> Response<Body> {
        let resp = match self.send(path_and_query, accept, user).await {
            Ok(resp) => resp,
            Err(BackendError::BadPath) => return respond::bad_request("invalid request path"),
            Err(e) => {
                tracing::debug!(backend = %self.base, error = %e, "metrics backend unavailable");
                return respond::service_unavailable();
            }
        };
        let (parts, body) = resp.into_parts();
        let mut out = Response::new(body.map_err(|e| Box::new(e) as BoxError).boxed());
        *out.status_mut() = parts.status;
        if let Some(ct) = parts.headers.get(header::CONTENT_TYPE) {
            out.headers_mut().insert(header::CONTENT_TYPE, ct.clone());
        }
        out
    }

    /// The JSON document the backend serves at `path` (a 200 with at most
    /// [`MAX_DOCUMENT`] bytes), fetched on behalf of `user`.
    pub(crate) async fn fetch_json(
        &self,
        path: &str,
        user: &str,
    ) -> Result<serde_json::Value, BackendError> {
        let accept = HeaderValue::from_static("application/json");
        let resp = self.send(path, Some(&accept), user).await?;
        if resp.status() != StatusCode::OK {
            return Err(BackendError::Status(resp.status()));
        }
        let body = tokio::time::timeout(
            BACKEND_TIMEOUT,
            Limited::new(resp.into_body(), MAX_DOCUMENT).collect(),
        )
        .await
        .map_err(|_| BackendError::Timeout)?
        .map_err(|e| BackendError::Body(e.to_string()))?
        .to_bytes();
        serde_json::from_slice(&body).map_err(|e| BackendError::Json(e.to_string()))
    }

    async fn send(
        &self,
        path_and_query: &str,
        accept: Option<&HeaderValue>,
        user: &str,
    ) -> Result<Response<Incoming>, BackendError> {
        let mut req = Request::get(format!("{}{path_and_query}", self.base))
            .header("X-Remote-User", user)
            .header("X-Remote-Group", "system:authenticated");
        if let Some(accept) = accept {
            req = req.header(header::ACCEPT, accept);
        }
        let req = req.body(Empty::new()).map_err(|_| BackendError::BadPath)?;
        match tokio::time::timeout(BACKEND_TIMEOUT, self.client.request(req)).await {
            Ok(Ok(resp)) => Ok(resp),
            Ok(Err(e)) => Err(BackendError::Unreachable(e.to_string())),
            Err(_) => Err(BackendError::Timeout),
        }
    }
}
