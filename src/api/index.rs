//! `GET /` and every path nothing else serves (outside the group): the list of the paths
//! this server answers, as the apiserver's index handler writes it (indented, sorted; status
//! 200 for `/`, 404 as the fallback).

use super::discovery::{GROUP, JSON_CONTENT_TYPE};
use super::encode::json;
use super::routes::Reply;
use crate::server::health::{Endpoint, check_names};

/// Paths besides the health checks.
const PATHS: [&str; 8] = [
    "/apis",
    "/apis/metrics.k8s.io",
    "/apis/metrics.k8s.io/v1",
    "/apis/metrics.k8s.io/v1beta1",
    "/metrics",
    "/openapi/v2",
    "/openapi/v3",
    "/openapi/v3/",
];

/// Every path served, sorted.
pub fn paths() -> Vec<String> {
    debug_assert!(PATHS[1].ends_with(GROUP));
    let mut paths: Vec<String> = PATHS.iter().map(|p| (*p).to_owned()).collect();
    paths.push("/version".to_owned());
    for endpoint in [Endpoint::Healthz, Endpoint::Livez, Endpoint::Readyz] {
        let root = format!("/{}", endpoint.name());
        paths.extend(check_names(endpoint).iter().map(|c| format!("{root}/{c}")));
        paths.push(root);
    }
    paths.sort();
    paths
}

/// The index with `status`.
pub fn reply(status: u16) -> Reply {
    #[derive(serde::Serialize)]
    struct RootPaths {
        paths: Vec<String>,
    }
    let body = json::go_encode(&RootPaths { paths: paths() })
        .map(|compact| json::indent(&compact))
        .unwrap_or_default();
    Reply {
        status,
        content_type: JSON_CONTENT_TYPE,
        body: body.into(),
        indented: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_index_lists_every_path_sorted_and_indented_like_upstream() {
        let reply = reply(200);
        let body = String::from_utf8(reply.body.into_vec()).unwrap();
        assert!(
            body.starts_with("{\n  \"paths\": [\n    \"/apis\",\n"),
            "{body}"
        );
        assert!(body.ends_with("    \"/version\"\n  ]\n}"), "{body}");
        let paths = paths();
        for path in [
            "/healthz/ping",
            "/livez/metric-collection-timely",
            "/readyz/shutdown",
            "/apis/metrics.k8s.io/v1beta1",
        ] {
            assert!(paths.iter().any(|p| p == path), "{path}");
        }
        let mut sorted = paths.clone();
        sorted.sort();
        assert_eq!(paths, sorted);
    }
}
