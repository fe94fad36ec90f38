//! Discovery documents for `metrics.k8s.io`, byte-exact with what the apiserver library
//! generates (upstream spec §2.1; kubectl-wire §2): `APIResourceList` per version, `APIGroup`,
//! `APIGroupList`, and aggregated discovery (`APIGroupDiscoveryList`, v2 and v2beta1).
//!
//! What kubectl needs from them (kubectl-wire §2.3): `singularName`/`singularResource` empty,
//! `namespaced`/`scope` right, `responseKind.kind` set, `freshness` Current, v1beta1 listed
//! first. Every document ends with `\n` like Go's encoder.

use crate::api::encode::ApiVersion;

/// Content-Type of the legacy discovery documents and of every other JSON body.
pub const JSON_CONTENT_TYPE: &str = "application/json";

/// The `metrics.k8s.io` group name.
pub const GROUP: &str = "metrics.k8s.io";

/// Aggregated discovery version, as negotiated from the Accept header.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum DiscoveryVersion {
    V2,
    V2beta1,
}

impl DiscoveryVersion {
    /// The body's `apiVersion`.
    pub fn api_version(self) -> &'static str {
        match self {
            DiscoveryVersion::V2 => "apidiscovery.k8s.io/v2",
            DiscoveryVersion::V2beta1 => "apidiscovery.k8s.io/v2beta1",
        }
    }

    /// The response Content-Type; kubectl decides the format from it, not from the body.
    pub fn content_type(self) -> &'static str {
        match self {
            DiscoveryVersion::V2 => {
                "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
            }
            DiscoveryVersion::V2beta1 => {
                "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"
            }
        }
    }
}

/// One served resource.
struct Resource {
    name: &'static str,
    kind: &'static str,
    namespaced: bool,
}

/// Sorted by path, like the installer.
const RESOURCES: [Resource; 2] = [
    Resource {
        name: "nodes",
        kind: "NodeMetrics",
        namespaced: false,
    },
    Resource {
        name: "pods",
        kind: "PodMetrics",
        namespaced: true,
    },
];

/// `GET /apis/metrics.k8s.io/<version>`.
pub fn api_resource_list(version: ApiVersion) -> Vec<u8> {
    let mut out = String::with_capacity(400);
    out.push_str(r#"{"kind":"APIResourceList","apiVersion":"v1","groupVersion":""#);
    out.push_str(version.group_version());
    out.push_str(r#"","resources":["#);
    for (i, r) in RESOURCES.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&format!(
            r#"{{"name":"{}","singularName":"","namespaced":{},"kind":"{}","verbs":["get","list"]}}"#,
            r.name, r.namespaced, r.kind
        ));
    }
    out.push_str("]}\n");
    out.into_bytes()
}

/// The `APIGroup` object without its type meta (as it appears inside `APIGroupList`).
fn group_body(out: &mut String) {
    out.push_str(r#""name":"metrics.k8s.io","versions":["#);
    for (i, v) in ApiVersion::ALL.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_group_version(out, *v);
    }
    out.push_str(r#"],"preferredVersion":"#);
    push_group_version(out, ApiVersion::ALL[0]);
}

fn push_group_version(out: &mut String, v: ApiVersion) {
    out.push_str(&format!(
        r#"{{"groupVersion":"{}","version":"{}"}}"#,
        v.group_version(),
        v.as_str()
    ));
}

/// `GET /apis/metrics.k8s.io`: versions v1beta1 then v1, v1beta1 preferred.
pub fn api_group() -> Vec<u8> {
    let mut out = String::from(r#"{"kind":"APIGroup","apiVersion":"v1","#);
    group_body(&mut out);
    out.push_str("}\n");
    out.into_bytes()
}

/// `GET /apis` (legacy form): an `APIGroupList` with the one group.
pub fn api_group_list() -> Vec<u8> {
    let mut out = String::from(r#"{"kind":"APIGroupList","apiVersion":"v1","groups":[{"#);
    group_body(&mut out);
    out.push_str("}]}\n");
    out.into_bytes()
}

/// `GET /apis` with an aggregated-discovery Accept: one `APIGroupDiscovery` for
/// `metrics.k8s.io` with every served version, each `freshness: Current`.
pub fn aggregated_discovery(v: DiscoveryVersion) -> Vec<u8> {
    let mut out = list_head(v);
    out.push_str(r#"{"metadata":{"name":"metrics.k8s.io","creationTimestamp":null},"versions":["#);
    for (i, version) in ApiVersion::ALL.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_version_discovery(&mut out, *version);
    }
    out.push_str("]}]}\n");
    out.into_bytes()
}

/// `GET /api` with an aggregated-discovery Accept: no core groups here (`items: []`).
pub fn core_aggregated_discovery_empty(v: DiscoveryVersion) -> Vec<u8> {
    let mut out = list_head(v);
    out.push_str("]}\n");
    out.into_bytes()
}

/// `{"kind":"APIGroupDiscoveryList","apiVersion":…,"metadata":{},"items":[`.
fn list_head(v: DiscoveryVersion) -> String {
    let mut out = String::with_capacity(1024);
    out.push_str(r#"{"kind":"APIGroupDiscoveryList","apiVersion":""#);
    out.push_str(v.api_version());
    out.push_str(r#"","metadata":{},"items":["#);
    out
}

fn push_version_discovery(out: &mut String, version: ApiVersion) {
    out.push_str(&format!(
        r#"{{"version":"{}","resources":["#,
        version.as_str()
    ));
    for (i, r) in RESOURCES.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let scope = if r.namespaced {
            "Namespaced"
        } else {
            "Cluster"
        };
        out.push_str(&format!(
            concat!(
                r#"{{"resource":"{}","responseKind":{{"group":"{}","version":"{}","kind":"{}"}},"#,
                r#""scope":"{}","singularResource":"","verbs":["get","list"]}}"#
            ),
            r.name,
            GROUP,
            version.as_str(),
            r.kind,
            scope
        ));
    }
    out.push_str(r#"],"freshness":"Current"}"#);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_list_matches_upstream_bytes() {
        let got = String::from_utf8(api_resource_list(ApiVersion::V1beta1)).unwrap();
        assert_eq!(
            got,
            concat!(
                r#"{"kind":"APIResourceList","apiVersion":"v1","groupVersion":"metrics.k8s.io/v1beta1","#,
                r#""resources":[{"name":"nodes","singularName":"","namespaced":false,"kind":"NodeMetrics","verbs":["get","list"]},"#,
                r#"{"name":"pods","singularName":"","namespaced":true,"kind":"PodMetrics","verbs":["get","list"]}]}"#,
                "\n"
            )
        );
    }

    #[test]
    fn group_lists_v1beta1_first_and_prefers_it() {
        let got = String::from_utf8(api_group()).unwrap();
        assert_eq!(
            got,
            concat!(
                r#"{"kind":"APIGroup","apiVersion":"v1","name":"metrics.k8s.io","versions":["#,
                r#"{"groupVersion":"metrics.k8s.io/v1beta1","version":"v1beta1"},"#,
                r#"{"groupVersion":"metrics.k8s.io/v1","version":"v1"}],"#,
                r#""preferredVersion":{"groupVersion":"metrics.k8s.io/v1beta1","version":"v1beta1"}}"#,
                "\n"
            )
        );
        let list: serde_json::Value = serde_json::from_slice(&api_group_list()).unwrap();
        assert_eq!(list["groups"][0]["versions"][0]["version"], "v1beta1");
        assert!(list["groups"][0].get("kind").is_none());
    }

    #[test]
    fn aggregated_has_what_kubectl_reads() {
        for v in [DiscoveryVersion::V2, DiscoveryVersion::V2beta1] {
            let doc: serde_json::Value = serde_json::from_slice(&aggregated_discovery(v)).unwrap();
            assert_eq!(doc["apiVersion"], v.api_version());
            let versions = doc["items"][0]["versions"].as_array().unwrap();
            assert_eq!(versions[0]["version"], "v1beta1");
            assert_eq!(versions[1]["version"], "v1");
            let pods = &versions[0]["resources"][1];
            assert_eq!(pods["scope"], "Namespaced");
            assert_eq!(pods["singularResource"], "");
            assert_eq!(pods["responseKind"]["kind"], "PodMetrics");
            assert_eq!(versions[1]["resources"][0]["responseKind"]["version"], "v1");
            assert_eq!(versions[0]["freshness"], "Current");
            assert!(
                v.content_type()
                    .contains(v.api_version().trim_start_matches("apidiscovery.k8s.io/"))
            );
        }
        assert_eq!(
            core_aggregated_discovery_empty(DiscoveryVersion::V2),
            b"{\"kind\":\"APIGroupDiscoveryList\",\"apiVersion\":\"apidiscovery.k8s.io/v2\",\"metadata\":{},\"items\":[]}\n"
        );
    }
}
