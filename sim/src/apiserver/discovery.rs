//! Discovery documents of the simulated apiserver: `/version`, `/api`, `/apis`, `/api/v1`,
//! with aggregated discovery negotiated on Accept exactly as kubectl needs it
//! (kubectl-wire §2.1, §7, §9.2): v2 if the client lists it, else v2beta1 if listed, else the
//! legacy `APIVersions` / `APIGroupList`; the format is announced in the Content-Type.

use std::net::SocketAddr;

use http::{Response, StatusCode};
use serde_json::{Value, json};

use super::respond;
use crate::net::Body;

pub(crate) const GIT_VERSION: &str = "v1.33.1";

/// Which discovery format a client asked for.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum DiscoveryFormat {
    V2,
    V2Beta1,
    Legacy,
}

impl DiscoveryFormat {
    /// Negotiates on the `Accept` header.
    pub(crate) fn negotiate(accept: &str) -> Self {
        let offered = |version: &str| {
            accept.split(',').any(|range| {
                let params: Vec<&str> = range.split(';').map(str::trim).collect();
                params.contains(&"g=apidiscovery.k8s.io")
                    && params.contains(&"as=APIGroupDiscoveryList")
                    && params.contains(&format!("v={version}").as_str())
            })
        };
        if offered("v2") {
            DiscoveryFormat::V2
        } else if offered("v2beta1") {
            DiscoveryFormat::V2Beta1
        } else {
            DiscoveryFormat::Legacy
        }
    }

    fn version(self) -> &'static str {
        match self {
            DiscoveryFormat::V2Beta1 => "v2beta1",
            _ => "v2",
        }
    }
}

pub(crate) fn version() -> Response<Body> {
    respond::ok(&json!({
        "major": "1",
        "minor": "33",
        "emulationMajor": "1",
        "emulationMinor": "33",
        "gitVersion": GIT_VERSION,
        "gitCommit": "8adc0f041b8e7ad1d30e29cc59c6ae7a15e19828",
        "gitTreeState": "clean",
        "buildDate": "2025-05-15T08:19:08Z",
        "goVersion": "go1.24.2",
        "compiler": "gc",
        "platform": "linux/amd64"
    }))
}

fn aggregated(format: DiscoveryFormat, items: Vec<Value>) -> Response<Body> {
    let v = format.version();
    let content_type =
        format!("application/json;g=apidiscovery.k8s.io;v={v};as=APIGroupDiscoveryList");
    let body = json!({
        "kind": "APIGroupDiscoveryList",
        "apiVersion": format!("apidiscovery.k8s.io/{v}"),
        "metadata": {},
        "items": items,
    });
    respond::json_as(StatusCode::OK, &content_type, &body)
}

fn resource(
    name: &str,
    singular: &str,
    group: &str,
    version: &str,
    kind: &str,
    namespaced: bool,
    verbs: &[&str],
) -> Value {
    json!({
        "resource": name,
        "responseKind": {"group": group, "version": version, "kind": kind},
        "scope": if namespaced { "Namespaced" } else { "Cluster" },
        "singularResource": singular,
        "verbs": verbs,
    })
}

const READ: [&str; 3] = ["get", "list", "watch"];

/// `GET /api`: the core group.
pub(crate) fn core_groups(format: DiscoveryFormat, addr: SocketAddr) -> Response<Body> {
    if format == DiscoveryFormat::Legacy {
        return respond::ok(&json!({
            "kind": "APIVersions",
            "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": addr.to_string()}],
        }));
    }
    let resources = vec![
        resource(
            "namespaces",
            "namespace",
            "",
            "v1",
            "Namespace",
            false,
            &READ,
        ),
        resource("nodes", "node", "", "v1", "Node", false, &READ),
        resource("pods", "pod", "", "v1", "Pod", true, &READ),
    ];
    let core = json!({
        "metadata": {"creationTimestamp": null},
        "versions": [{"version": "v1", "resources": resources, "freshness": "Current"}],
    });
    aggregated(format, vec![core])
}

/// Served metrics.k8s.io versions, preferred first.
const METRICS_VERSIONS: [&str; 2] = ["v1beta1", "v1"];

/// `GET /apis`: the metrics.k8s.io group (empty singular names, kubectl-wire §2.3).
pub(crate) fn groups(format: DiscoveryFormat) -> Response<Body> {
    if format == DiscoveryFormat::Legacy {
        let versions: Vec<Value> = METRICS_VERSIONS
            .iter()
            .map(|v| json!({"groupVersion": format!("metrics.k8s.io/{v}"), "version": v}))
            .collect();
        return respond::ok(&json!({
            "kind": "APIGroupList",
            "apiVersion": "v1",
            "groups": [{"name": "metrics.k8s.io", "versions": versions, "preferredVersion": versions[0]}],
        }));
    }
    let versions: Vec<Value> = METRICS_VERSIONS
        .iter()
        .map(|v| {
            let resources = vec![
                resource(
                    "nodes",
                    "",
                    "metrics.k8s.io",
                    v,
                    "NodeMetrics",
                    false,
                    &["get", "list"],
                ),
                resource(
                    "pods",
                    "",
                    "metrics.k8s.io",
                    v,
                    "PodMetrics",
                    true,
                    &["get", "list"],
                ),
            ];
            json!({"version": v, "resources": resources, "freshness": "Current"})
        })
        .collect();
    let group = json!({"metadata": {"name": "metrics.k8s.io", "creationTimestamp": null}, "versions": versions});
    aggregated(format, vec![group])
}

/// `GET /api/v1`.
pub(crate) fn core_v1_resources() -> Response<Body> {
    let entry = |name: &str, singular: &str, kind: &str, namespaced: bool, short: &str| {
        json!({"name": name, "singularName": singular, "namespaced": namespaced, "kind": kind,
               "verbs": READ, "shortNames": [short]})
    };
    respond::ok(&json!({
        "kind": "APIResourceList",
        "groupVersion": "v1",
        "resources": [
            entry("namespaces", "namespace", "Namespace", false, "ns"),
            entry("nodes", "node", "Node", false, "no"),
            entry("pods", "pod", "Pod", true, "po"),
        ],
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const AGG_OLD: &str = "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";
    const AGG_NEW: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";

    #[test]
    fn negotiation_prefers_v2_then_v2beta1_then_legacy() {
        assert_eq!(DiscoveryFormat::negotiate(AGG_NEW), DiscoveryFormat::V2);
        assert_eq!(
            DiscoveryFormat::negotiate(AGG_OLD),
            DiscoveryFormat::V2Beta1
        );
        assert_eq!(
            DiscoveryFormat::negotiate("application/json, */*"),
            DiscoveryFormat::Legacy
        );
        let spaced = "application/json; as=APIGroupDiscoveryList; v=v2beta1; g=apidiscovery.k8s.io";
        assert_eq!(DiscoveryFormat::negotiate(spaced), DiscoveryFormat::V2Beta1);
    }
}
