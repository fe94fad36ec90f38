//! Path routing for the `metrics.k8s.io` API and discovery: which handler answers, in which
//! representation. Independent of hyper: request parts in, [`Reply`] out.

use super::context::ApiContext;
use super::discovery::{self, GROUP};
use super::encode::{ApiVersion, gzip, json, protobuf};
use super::metav1_status::Status;
use super::negotiate::{self, Endpoint, Representation};
use super::openapi;
use super::query::{ListOptions, parse_query};
use super::reply_body::Body;
use super::resources;

/// A finished response.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Body,
}

impl Reply {
    pub fn ok(content_type: &'static str, body: impl Into<Body>) -> Self {
        Reply {
            status: 200,
            content_type,
            body: body.into(),
        }
    }

    pub fn status(status: &Status) -> Self {
        Reply {
            status: status.code,
            content_type: discovery::JSON_CONTENT_TYPE,
            body: status.to_json().into(),
        }
    }
}

/// A metrics resource request, parsed from the path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target<'a> {
    Nodes(ApiVersion),
    Node(ApiVersion, &'a str),
    Pods(ApiVersion, Option<&'a str>),
    Pod(ApiVersion, &'a str, &'a str),
}

/// Answers one request.
pub fn handle(ctx: &ApiContext, req: &http::request::Parts) -> Reply {
    if req.method != http::Method::GET && req.method != http::Method::HEAD {
        return Reply::status(&Status::method_not_supported(
            req.method.as_str(),
            "the path",
        ));
    }
    let accept = req
        .headers
        .get(http::header::ACCEPT)
        .and_then(|v| v.to_str().ok());
    let user_agent = req
        .headers
        .get(http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok());
    let opts = match parse_query(req.uri.query()) {
        Ok(o) => o,
        Err(e) => return Reply::status(&e.to_status()),
    };
    let pretty = opts.wants_pretty(user_agent);
    // `?pretty` re-indents the body here, so the list comes uncompressed and is compressed after.
    let gzip = req
        .headers
        .get(http::header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(gzip::accepted);
    let mut reply = route(ctx, req.uri.path(), accept, &opts, gzip && !pretty);
    if reply.status == 200 && reply.content_type == discovery::JSON_CONTENT_TYPE && pretty {
        let body = std::mem::take(&mut reply.body).into_vec();
        reply.body = json::indent(&body).into();
    }
    if gzip {
        return compressed(reply);
    }
    reply
}

/// `reply` with its body compressed when large; a compression failure is a 500 (never a
/// truncated body).
fn compressed(mut reply: Reply) -> Reply {
    match std::mem::take(&mut reply.body).gzip_if_large() {
        Ok(body) => Reply { body, ..reply },
        Err(err) => {
            tracing::error!(error = %err, "Could not compress a response.");
            Reply::status(&Status::internal(&format!(
                "compressing the response: {err}"
            )))
        }
    }
}

/// What a path asks for, before the method, query and representation are looked at. Public
/// so the fuzz targets can check it against the authorization attributes of the same path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route<'a> {
    /// `/apis`: the group list, or aggregated discovery.
    DiscoveryRoot,
    /// `/apis/metrics.k8s.io`.
    Group,
    /// `/apis/metrics.k8s.io/{version}`: its resource list.
    GroupVersion(ApiVersion),
    /// NodeMetrics or PodMetrics.
    Resource(Target<'a>),
    /// `/version`.
    Version,
    /// `/openapi/v2`.
    OpenApiV2,
    /// `/openapi/v3`.
    OpenApiV3,
    /// `/openapi/v3/apis/metrics.k8s.io/{version}`.
    OpenApiV3GroupVersion(ApiVersion),
}

/// The route of `path` (not percent-decoded, as the apiserver routes it); `None` for a 404.
pub fn resolve(path: &str) -> Option<Route<'_>> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    Some(match segments.as_slice() {
        ["apis"] => Route::DiscoveryRoot,
        ["apis", GROUP] => Route::Group,
        ["apis", GROUP, version] => Route::GroupVersion(ApiVersion::from_segment(version)?),
        ["apis", GROUP, version, rest @ ..] => {
            Route::Resource(target(ApiVersion::from_segment(version)?, rest)?)
        }
        ["version"] => Route::Version,
        ["openapi", "v2"] => Route::OpenApiV2,
        ["openapi", "v3"] => Route::OpenApiV3,
        ["openapi", "v3", "apis", GROUP, version] => {
            Route::OpenApiV3GroupVersion(ApiVersion::from_segment(version)?)
        }
        _ => return None,
    })
}

/// The resource named by the path segments after `/apis/metrics.k8s.io/{version}`.
fn target<'a>(v: ApiVersion, rest: &[&'a str]) -> Option<Target<'a>> {
    Some(match *rest {
        ["nodes"] => Target::Nodes(v),
        ["nodes", name] => Target::Node(v, name),
        ["pods"] => Target::Pods(v, None),
        ["namespaces", ns, "pods"] => Target::Pods(v, Some(ns)),
        ["namespaces", ns, "pods", name] => Target::Pod(v, ns, name),
        _ => return None,
    })
}

/// Routes `path`; `gzip`: a cached pod list may be answered gzip-compressed.
fn route(
    ctx: &ApiContext,
    path: &str,
    accept: Option<&str>,
    opts: &ListOptions,
    gzip: bool,
) -> Reply {
    let Some(route) = resolve(path) else {
        return Reply::status(&Status::not_found_path());
    };
    match route {
        Route::DiscoveryRoot => discovery_root(accept),
        Route::Group => json_reply(discovery::api_group()),
        Route::GroupVersion(v) => json_reply(discovery::api_resource_list(v)),
        Route::Resource(target) => resource(ctx, target, accept, opts, gzip),
        Route::Version => version(),
        Route::OpenApiV2 => json_reply(Ok(openapi::v2().to_vec())),
        Route::OpenApiV3 => json_reply(Ok(openapi::v3_index().to_vec())),
        Route::OpenApiV3GroupVersion(v) => json_reply(Ok(openapi::v3_group_version(v).to_vec())),
    }
}

/// A NodeMetrics or PodMetrics request, answered in the representation `accept` asks for.
fn resource(
    ctx: &ApiContext,
    target: Target<'_>,
    accept: Option<&str>,
    opts: &ListOptions,
    gzip: bool,
) -> Reply {
    let repr = match negotiate::choose(accept, Endpoint::Resource, true) {
        Ok(r) => r,
        Err(e) => return Reply::status(&e.to_status()),
    };
    let result = match target {
        Target::Nodes(v) => resources::list_nodes(ctx, v, opts, repr).map(Body::from),
        Target::Node(v, name) => resources::get_node(ctx, v, name, opts, repr).map(Body::from),
        Target::Pods(v, ns) => resources::list_pods(ctx, v, ns, opts, repr, gzip),
        Target::Pod(v, ns, name) => {
            resources::get_pod(ctx, v, ns, name, opts, repr).map(Body::from)
        }
    };
    match result {
        Ok(body) => Reply::ok(repr.content_type(), body),
        Err(status) if repr == Representation::Protobuf => Reply {
            status: status.code,
            content_type: negotiate::PROTOBUF_CONTENT_TYPE,
            body: protobuf::status(&status).into(),
        },
        Err(status) => Reply::status(&status),
    }
}

fn discovery_root(accept: Option<&str>) -> Reply {
    match negotiate::choose(accept, Endpoint::DiscoveryRoot, false) {
        Ok(Representation::AggregatedDiscovery(v)) => {
            encoded_reply(v.content_type(), discovery::aggregated_discovery(v))
        }
        Ok(_) => json_reply(discovery::api_group_list()),
        Err(e) => Reply::status(&e.to_status()),
    }
}

/// A JSON document, or a 500 Status when it could not be encoded.
fn json_reply(body: Result<Vec<u8>, serde_json::Error>) -> Reply {
    encoded_reply(discovery::JSON_CONTENT_TYPE, body)
}

/// A document of `content_type`, or a 500 Status when it could not be encoded.
fn encoded_reply(content_type: &'static str, body: Result<Vec<u8>, serde_json::Error>) -> Reply {
    match body {
        Ok(body) => Reply::ok(content_type, body),
        Err(err) => {
            tracing::error!(error = %err, "Could not encode a JSON document.");
            Reply::status(&Status::internal(&format!("encoding the document: {err}")))
        }
    }
}

/// `/version`: this server's version in the apiserver's `version.Info` shape.
fn version() -> Reply {
    json_reply(json::go_encode(&VersionInfo::of_this_build()))
}

/// `version.Info` with the fields this server fills, in Go's order. k8s-openapi's `Info`
/// writes every field (the build ones empty) in alphabetical order, so it is not used.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct VersionInfo {
    major: &'static str,
    minor: &'static str,
    git_version: String,
    platform: String,
}

impl VersionInfo {
    fn of_this_build() -> Self {
        let v = env!("CARGO_PKG_VERSION");
        let mut parts = v.split('.');
        VersionInfo {
            major: parts.next().unwrap_or("0"),
            minor: parts.next().unwrap_or("0"),
            git_version: format!("v{v}"),
            platform: format!("{}/{}", std::env::consts::OS, std::env::consts::ARCH),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_document_that_could_not_be_encoded_is_a_500_status_not_a_success() {
        let failed = serde_json::from_str::<u8>("not a number").map(|_| Vec::new());
        let reply = encoded_reply("application/json", failed);
        assert_eq!(reply.status, 500);
        let good = encoded_reply("application/json", Ok(b"{}\n".to_vec()));
        assert_eq!(good.status, 200);
    }

    #[test]
    fn paths_resolve_to_routes() {
        let v = ApiVersion::V1beta1;
        let cases = [
            ("/apis", Some(Route::DiscoveryRoot)),
            ("/apis/metrics.k8s.io/", Some(Route::Group)),
            (
                "/apis/metrics.k8s.io/v1",
                Some(Route::GroupVersion(ApiVersion::V1)),
            ),
            (
                "/apis/metrics.k8s.io/v1beta1/nodes",
                Some(Route::Resource(Target::Nodes(v))),
            ),
            (
                "/apis/metrics.k8s.io/v1beta1/nodes/n1",
                Some(Route::Resource(Target::Node(v, "n1"))),
            ),
            (
                "/apis/metrics.k8s.io/v1beta1/pods",
                Some(Route::Resource(Target::Pods(v, None))),
            ),
            (
                "/apis/metrics.k8s.io/v1beta1/namespaces/a/pods/p",
                Some(Route::Resource(Target::Pod(v, "a", "p"))),
            ),
            (
                "/openapi/v3/apis/metrics.k8s.io/v1",
                Some(Route::OpenApiV3GroupVersion(ApiVersion::V1)),
            ),
            ("/apis/metrics.k8s.io/v2/nodes", None),
            ("/apis/metrics.k8s.io/v1beta1/namespaces/a", None),
            ("/apis/metrics.k8s.io/v1beta1/nodes/n1/x", None),
            ("/api/v1/nodes", None),
        ];
        for (path, want) in cases {
            assert_eq!(resolve(path), want, "{path}");
        }
    }

    #[test]
    fn version_has_the_apiservers_shape() {
        let reply = version();
        assert_eq!(
            (reply.status, reply.content_type),
            (200, "application/json")
        );
        let v = env!("CARGO_PKG_VERSION");
        let (major, rest) = v.split_once('.').unwrap();
        let minor = rest.split('.').next().unwrap();
        let want = format!(
            "{{\"major\":\"{major}\",\"minor\":\"{minor}\",\"gitVersion\":\"v{v}\",\"platform\":\"{}/{}\"}}\n",
            std::env::consts::OS,
            std::env::consts::ARCH
        );
        assert_eq!(reply.body.into_vec(), want.as_bytes());
    }
}
