//! The request line of an API call (`<method> <path?query>`, then an optional `Accept` value
//! on the next line), through what the server does with it:
//!
//! 1. the route the API answers and the authorization attributes the same request is reviewed
//!    with agree: a served NodeMetrics/PodMetrics request is reviewed as exactly that resource
//!    (group, version, resource, namespace, name, verb), everything else served as a
//!    non-resource path;
//! 2. a resource's canonical path resolves back to the same resource;
//! 3. the whole handler on an empty cluster never panics, answers 200 only on a route, and
//!    every JSON answer (data or `Status`) is valid JSON.
#![no_main]

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use arc_swap::ArcSwap;
use http::Method;
use http::uri::PathAndQuery;
use libfuzzer_sys::fuzz_target;
use metrics_server::api::context::ApiContext;
use metrics_server::api::encode::ApiVersion;
use metrics_server::api::list_cache::PodListCache;
use metrics_server::api::routes::{Route, Target, handle, resolve};
use metrics_server::api::selector::LabelSelector;
use metrics_server::cluster::{ClusterCache, NodeStore, PodStore, Synced};
use metrics_server::server::auth::RequestAttributes;
use metrics_server::store::Snapshot;
use metrics_server::telemetry::Metrics;

fuzz_target!(|data: &[u8]| {
    let mut lines = data.splitn(2, |&b| b == b'\n');
    let request_line = lines.next().unwrap_or_default();
    let accept = lines.next();
    let Some((method, target)) = parse_request_line(request_line) else {
        return;
    };
    let (path, query) = (target.path(), target.query());
    let route = resolve(path);
    check_attributes(&method, path, query, route);
    if let Some(Route::Resource(resource)) = route {
        let canonical = canonical_path(resource);
        assert_eq!(resolve(&canonical), route, "{canonical}");
    }
    check_handler(method, target.clone(), accept, route.is_some());
});

/// `<method> <path?query>`, as hyper would hand them over.
fn parse_request_line(line: &[u8]) -> Option<(Method, PathAndQuery)> {
    let space = line.iter().position(|&b| b == b' ')?;
    let method = Method::from_bytes(&line[..space]).ok()?;
    let target = PathAndQuery::try_from(&line[space + 1..]).ok()?;
    Some((method, target))
}

fn check_attributes(method: &Method, path: &str, query: Option<&str>, route: Option<Route<'_>>) {
    let attributes = RequestAttributes::from_request(method, path, query);
    assert_eq!(attributes.path, path);
    let target = match route {
        Some(Route::Resource(target)) => target,
        Some(other) => {
            assert_eq!(
                attributes.resource, None,
                "{other:?} is a non-resource path"
            );
            return;
        }
        None => return,
    };
    let Some(resource) = attributes.resource else {
        panic!("{target:?} is authorized as the non-resource path {path:?}");
    };
    let (version, kind, namespace, name) = parts(target);
    assert_eq!(
        (
            resource.group.as_str(),
            resource.version.as_str(),
            resource.resource.as_str(),
            resource.subresource.as_str(),
            resource.namespace.as_str(),
            resource.name.as_str(),
        ),
        (
            "metrics.k8s.io",
            version.as_str(),
            kind,
            "",
            namespace,
            name
        ),
        "{target:?}"
    );
    if matches!(*method, Method::GET | Method::HEAD) {
        let watch = metrics_server::api::query::parse_query(query).is_ok_and(|q| q.watch);
        let verb = match (watch, name.is_empty()) {
            (true, _) => "watch",
            (false, true) => "list",
            (false, false) => "get",
        };
        assert_eq!(attributes.verb, verb, "{target:?} {query:?}");
    }
}

/// Version, resource, namespace (`""`: cluster scope) and name (`""`: a list).
fn parts(target: Target<'_>) -> (ApiVersion, &'static str, &str, &str) {
    match target {
        Target::Nodes(v) => (v, "nodes", "", ""),
        Target::Node(v, name) => (v, "nodes", "", name),
        Target::Pods(v, namespace) => (v, "pods", namespace.unwrap_or(""), ""),
        Target::Pod(v, namespace, name) => (v, "pods", namespace, name),
    }
}

fn canonical_path(target: Target<'_>) -> String {
    let (version, kind, namespace, name) = parts(target);
    let mut path = format!("/apis/metrics.k8s.io/{}", version.as_str());
    if let Target::Pods(_, Some(_)) | Target::Pod(..) = target {
        path = format!("{path}/namespaces/{namespace}");
    }
    path = format!("{path}/{kind}");
    if !name.is_empty() {
        path = format!("{path}/{name}");
    }
    path
}

fn check_handler(method: Method, target: PathAndQuery, accept: Option<&[u8]>, routed: bool) {
    let mut request = http::Request::builder().method(method).uri(target);
    if let Some(accept) = accept {
        request = request.header(http::header::ACCEPT, accept);
    }
    // An Accept value http refuses never reaches the handler.
    let Ok(request) = request.body(()) else {
        return;
    };
    let reply = handle(empty_api(), &request.into_parts().0);
    assert!(routed || reply.status != 200, "200 without a route");
    assert!((200..600).contains(&reply.status));
    if reply.content_type.starts_with("application/json") {
        let body = reply.body.into_vec();
        if let Err(e) = serde_json::from_slice::<serde_json::Value>(&body) {
            panic!("invalid JSON ({e}): {}", String::from_utf8_lossy(&body));
        }
    }
}

/// The API over an empty cluster and an empty snapshot, built once.
fn empty_api() -> &'static ApiContext {
    static API: OnceLock<ApiContext> = OnceLock::new();
    API.get_or_init(|| {
        let nodes = NodeStore::default();
        let synced = Synced::already();
        ApiContext {
            snapshot: Arc::new(ArcSwap::from_pointee(Snapshot::empty())),
            cluster: ClusterCache::new(nodes, PodStore::default(), synced.clone(), synced),
            node_selector: LabelSelector::everything(),
            metrics: Arc::new(Metrics::new(Duration::from_secs(15))),
            pod_lists: Arc::new(PodListCache::default()),
        }
    })
}
