//! Path routing for the `metrics.k8s.io` API and discovery: which handler answers, in which
//! representation. Independent of hyper: request parts in, [`Reply`] out.

use super::context::ApiContext;
use super::discovery::{self, GROUP};
use super::encode::{ApiVersion, gzip, json, protobuf, yaml};
use super::index;
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
    /// Already indented (the index and the router's errors always are): `?pretty` leaves it.
    pub indented: bool,
}

impl Reply {
    pub fn ok(content_type: &'static str, body: impl Into<Body>) -> Self {
        Reply {
            status: 200,
            content_type,
            body: body.into(),
            indented: false,
        }
    }

    pub fn status(status: &Status) -> Self {
        Reply {
            status: status.code,
            content_type: discovery::JSON_CONTENT_TYPE,
            body: status.to_json().into(),
            indented: false,
        }
    }

    /// A Status written the way the apiserver writes errors raised before a handler runs
    /// (`WriteRawJSON`): indented, whoever asks.
    pub fn raw_status(status: &Status) -> Self {
        Reply {
            indented: true,
            body: json::indent(&status.to_json()).into(),
            ..Reply::status(status)
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
    let Some(route) = resolve(req.uri.path()) else {
        return not_found(req.uri.path());
    };
    if !route.allows(&req.method) {
        return Reply::status(&Status::method_not_allowed());
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
    let gzip = gzip::accepted_by(&req.headers);
    let answer = || {
        let mut reply = route_to(ctx, route, accept, &opts, gzip && !pretty);
        if reply.content_type == discovery::JSON_CONTENT_TYPE && pretty && !reply.indented {
            let body = std::mem::take(&mut reply.body).into_vec();
            reply.body = json::indent(&body).into();
        }
        if gzip {
            return compressed(reply);
        }
        reply
    };
    match is_large_list(ctx, route) {
        true => crate::blocking::cpu_heavy(answer),
        false => answer(),
    }
}

/// Lists over more items than this are answered off the async workers (a few milliseconds of
/// work at most stays on them). A list no cache holds (selectors, Tables, `?pretty`) is joined,
/// encoded and compressed in the request — the 150,000 pods of a 5,000-node cluster take a
/// quarter of a second — and every request queued on the same worker would wait for it.
pub const INLINE_LIST_MAX_ITEMS: usize = 1_000;

/// Whether `route` lists more than [`INLINE_LIST_MAX_ITEMS`] items of the current snapshot.
fn is_large_list(ctx: &ApiContext, route: Route<'_>) -> bool {
    let snapshot = ctx.snapshot.load();
    let items = match route {
        Route::Resource(Target::Nodes(_)) => snapshot.servable_nodes(),
        Route::Resource(Target::Pods(_, namespace)) => snapshot.pod_count(namespace),
        _ => return false,
    };
    items > INLINE_LIST_MAX_ITEMS
}

/// A path nothing serves: under the group (or `/version`), the router's 404 Status; anywhere
/// else the index of paths with status 404, as the apiserver's fallback handler answers.
fn not_found(path: &str) -> Reply {
    let group = format!("/apis/{GROUP}");
    let under = |root: &str| path == root || path.starts_with(&format!("{root}/"));
    if under(&group) || under("/version") {
        return Reply::status(&Status::not_found_path());
    }
    index::reply(404)
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
    /// `/`: the index of paths.
    Index,
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
    if path == "/" {
        return Some(Route::Index);
    }
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

impl Target<'_> {
    fn is_list(&self) -> bool {
        matches!(self, Target::Nodes(_) | Target::Pods(..))
    }
}

impl Route<'_> {
    /// Whether `method` is served: GET on the API and `/version` (HEAD and the rest get the
    /// router's 405), any method on the index and OpenAPI documents, as upstream.
    pub fn allows(&self, method: &http::Method) -> bool {
        match self {
            Route::Index
            | Route::OpenApiV2
            | Route::OpenApiV3
            | Route::OpenApiV3GroupVersion(_) => true,
            _ => method == http::Method::GET,
        }
    }
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

/// Answers `route`; `gzip`: a cached pod list may be answered gzip-compressed.
fn route_to(
    ctx: &ApiContext,
    route: Route<'_>,
    accept: Option<&str>,
    opts: &ListOptions,
    gzip: bool,
) -> Reply {
    match route {
        Route::Index => index::reply(200),
        Route::DiscoveryRoot => discovery_root(accept),
        Route::Group => discovery_doc(accept, discovery::api_group()),
        Route::GroupVersion(v) => discovery_doc(accept, discovery::api_resource_list(v)),
        Route::Resource(target) => resource(ctx, target, accept, opts, gzip),
        Route::Version => version(accept),
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
        Err(e) if target.is_list() => return Reply::raw_status(&e.to_list_status()),
        Err(e) => return Reply::raw_status(&e.to_status()),
    };
    if repr == Representation::Yaml {
        return as_yaml(resource(ctx, target, None, opts, false));
    }
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
            indented: false,
        },
        Err(status) => Reply::status(&status),
    }
}

fn discovery_root(accept: Option<&str>) -> Reply {
    match negotiate::choose(accept, Endpoint::DiscoveryRoot, false) {
        Ok(Representation::AggregatedDiscovery(v)) => {
            encoded_reply(v.content_type(), discovery::aggregated_discovery(v))
        }
        Ok(Representation::Yaml) => as_yaml(json_reply(discovery::api_group_list())),
        Ok(_) => json_reply(discovery::api_group_list()),
        Err(e) => Reply::raw_status(&e.to_status()),
    }
}

/// The group or a version's resource list, as JSON or YAML.
fn discovery_doc(accept: Option<&str>, doc: Result<Vec<u8>, serde_json::Error>) -> Reply {
    match negotiate::choose(accept, Endpoint::Discovery, false) {
        Ok(Representation::Yaml) => as_yaml(json_reply(doc)),
        Ok(_) => json_reply(doc),
        Err(e) => Reply::raw_status(&e.to_status()),
    }
}

/// A JSON reply (a document or a Status) rewritten as YAML; a body that does not convert is
/// a 500 Status.
fn as_yaml(reply: Reply) -> Reply {
    if reply.content_type != discovery::JSON_CONTENT_TYPE {
        return reply;
    }
    let Reply { status, body, .. } = reply;
    match yaml::from_json(&body.into_vec()) {
        Ok(body) => Reply {
            status,
            content_type: negotiate::YAML_CONTENT_TYPE,
            body: body.into(),
            indented: false,
        },
        Err(err) => {
            tracing::error!(error = %err, "Could not write a response as YAML.");
            Reply::status(&Status::internal(&format!("encoding the document: {err}")))
        }
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
fn version(accept: Option<&str>) -> Reply {
    if let Err(e) = negotiate::choose(accept, Endpoint::Other, false) {
        return Reply::raw_status(&e.to_status());
    }
    json_reply(json::go_encode(&VersionInfo::of_this_build()))
}

/// Kubernetes' `version.Info`, in Go's field order: this server's version (major and minor
/// from it), the commit and build date when the build was given them
/// (`METRICS_SERVER_GIT_COMMIT`, `METRICS_SERVER_BUILD_DATE`), `rustc` as the compiler.
/// k8s-openapi's `Info` writes its fields in alphabetical order, so it is not used.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct VersionInfo {
    major: &'static str,
    minor: &'static str,
    git_version: String,
    git_commit: &'static str,
    git_tree_state: &'static str,
    build_date: &'static str,
    go_version: &'static str,
    compiler: &'static str,
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
            git_commit: option_env!("METRICS_SERVER_GIT_COMMIT").unwrap_or(""),
            git_tree_state: option_env!("METRICS_SERVER_GIT_TREE_STATE").unwrap_or(""),
            build_date: option_env!("METRICS_SERVER_BUILD_DATE").unwrap_or("1970-01-01T00:00:00Z"),
            go_version: "",
            compiler: "rustc",
            platform: format!(
                "{}/{}",
                std::env::consts::OS,
                go_arch(std::env::consts::ARCH)
            ),
        }
    }
}

/// Go's name for an architecture (`GOARCH`), which clients parse from `platform`.
fn go_arch(rust_arch: &str) -> &str {
    match rust_arch {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

#[cfg(test)]
#[path = "large_lists_tests.rs"]
mod large_lists_tests;

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
    fn version_has_the_fields_of_kubernetes_version_info() {
        let reply = version(None);
        assert_eq!(
            (reply.status, reply.content_type),
            (200, "application/json")
        );
        let body = String::from_utf8(reply.body.into_vec()).unwrap();
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        let keys = [
            "major",
            "minor",
            "gitVersion",
            "gitCommit",
            "gitTreeState",
            "buildDate",
            "goVersion",
            "compiler",
            "platform",
        ];
        let mut at = 0;
        for key in keys {
            assert!(v.get(key).is_some_and(|f| f.is_string()), "{key} in {body}");
            let found = body.find(&format!("\"{key}\":")).unwrap();
            assert!(found > at || at == 0, "Go's order: {key} in {body}");
            at = found;
        }
        assert_eq!(v["gitVersion"], format!("v{}", env!("CARGO_PKG_VERSION")));
        assert_eq!(v["compiler"], "rustc");
        assert!(
            !v["platform"].as_str().unwrap().contains("x86_64"),
            "{body}"
        );
        assert_eq!(version(Some("text/html")).status, 406);
    }

    #[test]
    fn methods_other_than_get_get_upstreams_405_and_the_index_takes_any() {
        let get = http::Method::GET;
        assert!(Route::Version.allows(&get));
        assert!(!Route::Version.allows(&http::Method::HEAD));
        assert!(!Route::DiscoveryRoot.allows(&http::Method::POST));
        assert!(Route::Index.allows(&http::Method::POST));
        assert!(Route::OpenApiV2.allows(&http::Method::PUT));
        let status = Status::method_not_allowed();
        let body = String::from_utf8(status.to_json()).unwrap();
        assert_eq!(
            body,
            "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\",\
             \"message\":\"the server does not allow this method on the requested resource\",\
             \"reason\":\"MethodNotAllowed\",\"details\":{},\"code\":405}\n"
        );
    }

    #[test]
    fn unknown_paths_get_the_index_outside_the_group_and_a_status_inside() {
        let index = not_found("/api");
        assert_eq!(index.status, 404);
        let body = String::from_utf8(index.body.into_vec()).unwrap();
        assert!(
            body.starts_with("{\n  \"paths\": [\n    \"/apis\","),
            "{body}"
        );
        let status = not_found("/apis/metrics.k8s.io/v2");
        let body = String::from_utf8(status.body.into_vec()).unwrap();
        assert!(body.contains("the server could not find the requested resource"));
        assert_eq!(resolve("/"), Some(Route::Index));
    }
}
