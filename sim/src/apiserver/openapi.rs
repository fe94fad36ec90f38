//! OpenAPI of the simulated apiserver, served as kube-apiserver with an aggregated API serves
//! it, for `kubectl explain` and the validation of `kubectl create -f`:
//!
//! - `/openapi/v3`: the index, `api/v1` (our core document) plus the metrics.k8s.io group
//!   versions the metrics backend lists in its own index (left out while it is unreachable);
//! - `/openapi/v3/api/v1`: the core document (see `core_schemas`, `core_paths`), JSON;
//! - `/openapi/v3/apis/metrics.k8s.io/<version>`: proxied to the backend (in the router);
//! - `/openapi/v2`: the core document merged with the backend's `/openapi/v2` (the core's
//!   definitions win a name both have), as JSON or as the protobuf kubectl asks for
//!   (`proto_v2`); 406 for any other type.

mod core_paths;
mod core_schemas;
mod flavor;
mod proto_v2;

use std::sync::{Arc, OnceLock};

use http::{HeaderValue, Response, StatusCode, header};
use serde_json::{Map, Value, json};

use super::discovery::GIT_VERSION;
use super::proxy::Backend;
use super::respond;
use crate::net::{self, Body};
use flavor::Flavor;

/// The path of the core group-version document.
pub(crate) const CORE_V3: &str = "/openapi/v3/api/v1";
/// Where the metrics group-version documents are (proxied).
pub(crate) const METRICS_V3_PREFIX: &str = "/openapi/v3/apis/metrics.k8s.io/";
const METRICS_INDEX_PREFIX: &str = "apis/metrics.k8s.io/";
/// The protobuf media types of `/openapi/v2`: kubectl asks for the first; the answer is
/// labelled with the second, which Go's media-type parser accepts (it rejects the `@`).
const PROTOBUF_TYPES: [&str; 2] = [
    "application/com.github.proto-openapi.spec.v2@v1.0+protobuf",
    "application/com.github.proto-openapi.spec.v2.v1.0+protobuf",
];

/// Whether the router sends `path` here.
pub(crate) fn serves(path: &str) -> bool {
    path == "/openapi/v2" || path == "/openapi/v3" || path == CORE_V3
}

/// Answers a GET of an OpenAPI path this module serves.
pub(crate) async fn respond(
    path: &str,
    accept: &str,
    backend: Option<Arc<Backend>>,
    user: &str,
) -> Response<Body> {
    match path {
        "/openapi/v2" => v2(accept, backend, user).await,
        "/openapi/v3" => v3_index(backend, user).await,
        _ if offers_json(accept) => bytes(core_v3(), respond::JSON),
        _ => not_acceptable(respond::JSON),
    }
}

fn info() -> Value {
    json!({ "title": "Kubernetes", "version": GIT_VERSION })
}

fn bearer_token() -> Value {
    json!({ "BearerToken": { "type": "apiKey", "name": "authorization", "in": "header", "description": "Bearer Token authentication" } })
}

/// The core document in OpenAPI 3.0, built once.
fn core_v3() -> &'static [u8] {
    static DOC: OnceLock<Vec<u8>> = OnceLock::new();
    DOC.get_or_init(|| {
        let doc = json!({
            "openapi": "3.0.0",
            "info": info(),
            "paths": core_paths::paths(Flavor::V3),
            "components": {
                "schemas": core_schemas::definitions(Flavor::V3),
                "securitySchemes": bearer_token(),
            },
        });
        serde_json::to_vec(&doc).unwrap_or_default()
    })
}

/// The core document in Swagger 2.0.
fn core_v2() -> Value {
    json!({
        "swagger": "2.0",
        "info": info(),
        "paths": core_paths::paths(Flavor::V2),
        "definitions": core_schemas::definitions(Flavor::V2),
        "securityDefinitions": bearer_token(),
        "security": [{ "BearerToken": [] }],
    })
}

/// The `?hash=` of a document in the v3 index: upper-case hex SHA-512, like kube-apiserver's.
fn content_hash(bytes: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA512, bytes)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect()
}

async fn v3_index(backend: Option<Arc<Backend>>, user: &str) -> Response<Body> {
    let mut paths = Map::new();
    let core_url = format!("{CORE_V3}?hash={}", content_hash(core_v3()));
    paths.insert(
        "api/v1".to_owned(),
        json!({ "serverRelativeURL": core_url }),
    );
    if let Some(index) = fetch(backend, "/openapi/v3", user).await {
        let metrics = index["paths"].as_object().into_iter().flatten();
        paths.extend(
            metrics
                .filter(|(name, _)| name.starts_with(METRICS_INDEX_PREFIX))
                .map(|(name, entry)| (name.clone(), entry.clone())),
        );
    }
    respond::ok(&json!({ "paths": paths }))
}

async fn v2(accept: &str, backend: Option<Arc<Backend>>, user: &str) -> Response<Body> {
    let Some(format) = V2Format::negotiate(accept) else {
        return not_acceptable(&format!("{}, {}", respond::JSON, PROTOBUF_TYPES[1]));
    };
    let mut doc = core_v2();
    if let Some(aggregated) = fetch(backend, "/openapi/v2", user).await {
        merge_v2(&mut doc, &aggregated);
    }
    match format {
        V2Format::Json => respond::ok(&doc),
        V2Format::Protobuf => bytes(&proto_v2::document(&doc), PROTOBUF_TYPES[1]),
    }
}

/// Adds the paths and definitions of `aggregated` that `doc` does not have.
fn merge_v2(doc: &mut Value, aggregated: &Value) {
    for key in ["paths", "definitions"] {
        let Some(into) = doc[key].as_object_mut() else {
            continue;
        };
        for (name, value) in aggregated[key].as_object().into_iter().flatten() {
            into.entry(name.clone()).or_insert_with(|| value.clone());
        }
    }
}

/// The backend's document at `path`, or `None` (logged) when there is none to be had.
async fn fetch(backend: Option<Arc<Backend>>, path: &str, user: &str) -> Option<Value> {
    match backend?.fetch_json(path, user).await {
        Ok(doc) => Some(doc),
        Err(e) => {
            tracing::debug!(%path, error = %e, "metrics backend OpenAPI left out");
            None
        }
    }
}

/// The representation of `/openapi/v2` a client asked for.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum V2Format {
    Json,
    Protobuf,
}

impl V2Format {
    /// The first media range of `accept` we serve (no Accept: JSON).
    fn negotiate(accept: &str) -> Option<Self> {
        if accept.trim().is_empty() {
            return Some(V2Format::Json);
        }
        media_types(accept).find_map(|media| {
            if PROTOBUF_TYPES.iter().any(|t| t.eq_ignore_ascii_case(media)) {
                Some(V2Format::Protobuf)
            } else {
                is_json(media).then_some(V2Format::Json)
            }
        })
    }
}

/// The media types of an Accept header, in order, without their parameters.
fn media_types(accept: &str) -> impl Iterator<Item = &str> {
    accept
        .split(',')
        .map(|range| range.split(';').next().unwrap_or("").trim())
}

fn is_json(media: &str) -> bool {
    ["application/json", "application/*", "*/*"]
        .iter()
        .any(|t| t.eq_ignore_ascii_case(media))
}

fn offers_json(accept: &str) -> bool {
    accept.trim().is_empty() || media_types(accept).any(is_json)
}

fn bytes(body: &[u8], content_type: &'static str) -> Response<Body> {
    let mut resp = Response::new(net::full_body(body.to_vec()));
    let headers = resp.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::VARY, HeaderValue::from_static("Accept"));
    resp
}

/// 406, naming the media types `offered`.
fn not_acceptable(offered: &str) -> Response<Body> {
    respond::status(
        StatusCode::NOT_ACCEPTABLE,
        "NotAcceptable",
        &format!("only the following media types are accepted: {offered}"),
        None,
    )
}

#[cfg(test)]
mod tests;
