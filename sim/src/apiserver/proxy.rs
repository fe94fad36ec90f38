//! The aggregator part of the simulated apiserver: every request under `/apis/metrics.k8s.io`
//! goes to the metrics backend over HTTPS (verified against its CA), presenting the
//! front-proxy client certificate and `X-Remote-User` / `X-Remote-Group` headers, with the
//! client's Accept passed through; status, Content-Type and body are streamed back. An absent
//! or unreachable backend gives 503 `the server is currently unable to handle the request`,
//! like kube-aggregator (upstream spec §2.11).

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Request, Response, Uri, header};
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::{Client, connect::HttpConnector};
use hyper_util::rt::TokioExecutor;

use super::{MetricsBackend, respond};
use crate::net::{self, Body, BoxError, SimError};

/// How long the backend may take to send response headers.
const BACKEND_TIMEOUT: Duration = Duration::from_secs(30);

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
        let mut req = Request::get(format!("{}{path_and_query}", self.base))
            .header("X-Remote-User", user)
            .header("X-Remote-Group", "system:authenticated");
        if let Some(accept) = accept {
            req = req.header(header::ACCEPT, accept);
        }
        let Ok(req) = req.body(Empty::new()) else {
            return respond::bad_request("invalid request path");
        };
        let resp = match tokio::time::timeout(BACKEND_TIMEOUT, self.client.request(req)).await {
            Ok(Ok(resp)) => resp,
            Ok(Err(e)) => {
                tracing::debug!(backend = %self.base, error = %e, "metrics backend unreachable");
                return respond::service_unavailable();
            }
            Err(_) => {
                tracing::debug!(backend = %self.base, "metrics backend timed out");
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
}
