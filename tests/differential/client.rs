//! One HTTPS client for both servers: the aggregator's identity (the front-proxy client
//! certificate and `X-Remote-User`), any method, the body kept as sent (gzip is undone
//! here, after the `Content-Encoding` header has been recorded).

use std::io::Read;
use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// How long one request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// A response, read whole.
#[derive(Clone, Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: http::HeaderMap,
    /// The body, decompressed when it came gzip-encoded.
    pub body: Bytes,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn content_type(&self) -> &str {
        self.header("content-type").unwrap_or("")
    }
}

/// Why a request got no answer.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    #[error("building the request: {0}")]
    Build(#[from] http::Error),
    #[error("sending the request: {0}")]
    Send(#[from] hyper_util::client::legacy::Error),
    #[error("reading the body: {0}")]
    Body(#[from] hyper::Error),
    #[error("no answer within {REQUEST_TIMEOUT:?}")]
    Timeout,
    #[error("the gzip body does not decompress: {0}")]
    Gzip(std::io::Error),
}

pub struct Aggregator {
    client: Client<hyper_rustls::HttpsConnector<HttpConnector>, Empty<Bytes>>,
}

/// What the aggregator adds to every request it proxies.
const IDENTITY_HEADERS: [(&str, &str); 2] = [
    ("X-Remote-User", "demo-user"),
    ("X-Remote-Group", "system:authenticated"),
];

impl Aggregator {
    /// The demo's front-proxy identity, trusting the demo CA (files in `demo_dir`).
    pub fn new(demo_dir: &Path) -> Result<Self, Box<dyn std::error::Error>> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_file_iter(demo_dir.join("demo-ca.crt"))? {
            roots.add(cert?)?;
        }
        let chain = CertificateDer::pem_file_iter(demo_dir.join("demo-front-proxy-client.crt"))?
            .collect::<Result<Vec<_>, _>>()?;
        let key = PrivateKeyDer::from_pem_file(demo_dir.join("demo-front-proxy-client.key"))?;
        let tls = rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_client_auth_cert(chain, key)?;
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_only()
            .enable_http1()
            .enable_http2()
            .build();
        Ok(Aggregator {
            client: Client::builder(TokioExecutor::new()).build(connector),
        })
    }

    /// `method` on `base` + `path_and_query` with `headers` besides the identity.
    pub async fn send(
        &self,
        base: &str,
        method: &http::Method,
        path_and_query: &str,
        headers: &[(&str, &str)],
    ) -> Result<Answer, RequestError> {
        let mut req = http::Request::builder()
            .method(method.clone())
            .uri(format!("{base}{path_and_query}"));
        for (name, value) in IDENTITY_HEADERS.iter().chain(headers) {
            req = req.header(*name, *value);
        }
        let req = req.body(Empty::new())?;
        let exchange = async {
            let resp = self.client.request(req).await?;
            let status = resp.status().as_u16();
            let headers = resp.headers().clone();
            let body = resp.into_body().collect().await?.to_bytes();
            Ok::<_, RequestError>((status, headers, body))
        };
        let (status, headers, body) = tokio::time::timeout(REQUEST_TIMEOUT, exchange)
            .await
            .map_err(|_| RequestError::Timeout)??;
        let body = match headers.get("content-encoding").map(|v| v.as_bytes()) {
            Some(b"gzip") => gunzip(&body)?,
            _ => body,
        };
        Ok(Answer {
            status,
            headers,
            body,
        })
    }
}

fn gunzip(body: &[u8]) -> Result<Bytes, RequestError> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(body)
        .read_to_end(&mut out)
        .map_err(RequestError::Gzip)?;
    Ok(out.into())
}
