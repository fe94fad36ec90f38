//! Discovery documents for `metrics.k8s.io`, byte-exact with what the apiserver library
//! generates (upstream spec §2.1; kubectl-wire §2): `APIResourceList` per version, `APIGroup`,
//! `APIGroupList`, and aggregated discovery (`APIGroupDiscoveryList`, v2 and v2beta1).
//!
//! What kubectl needs from them (kubectl-wire §2.3): `singularName`/`singularResource` empty,
//! `namespaced`/`scope` right, `responseKind.kind` set, `freshness` Current, v1beta1 listed
//! first. Every document ends with `\n` like Go's encoder.
//!
//! The documents are serde types written by [`go_encode`]. k8s-openapi's `APIGroup`,
//! `APIResourceList` and `APIResource` serialize their fields in alphabetical order, and
//! kube-core's `APIResourceDiscovery` writes its empty `shortNames`/`categories`/`subresources`
//! (and upstream's `APIGroupDiscovery` metadata has only the name), so the containers here
//! are our own structs in Go's field order; the leaves whose bytes agree are the crates' own
//! (`GroupVersionForDiscovery`, `ListMeta`, the v2 `GroupVersionKind`).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{GroupVersionForDiscovery, ListMeta};
use kube::core::discovery::v2::GroupVersionKind;
use serde::Serialize;

use crate::api::encode::ApiVersion;
use crate::api::encode::json::go_encode;

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

/// Both served resources support these verbs.
const VERBS: [&str; 2] = ["get", "list"];

/// `metav1.TypeMeta`, in Go's order (kind first).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TypeMeta {
    kind: &'static str,
    api_version: &'static str,
}

impl TypeMeta {
    const fn v1(kind: &'static str) -> Self {
        TypeMeta {
            kind,
            api_version: "v1",
        }
    }
}

/// `metav1.APIResourceList`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ApiResourceList {
    #[serde(flatten)]
    type_meta: TypeMeta,
    group_version: &'static str,
    resources: Vec<ApiResource>,
}

/// `metav1.APIResource` with the fields metrics-server sets (`singularName` always written,
/// empty: kubectl derives it).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ApiResource {
    name: &'static str,
    singular_name: &'static str,
    namespaced: bool,
    kind: &'static str,
    verbs: [&'static str; 2],
}

/// `metav1.APIGroup`; without type meta inside an `APIGroupList`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ApiGroup {
    #[serde(flatten)]
    type_meta: Option<TypeMeta>,
    name: &'static str,
    versions: Vec<GroupVersionForDiscovery>,
    preferred_version: GroupVersionForDiscovery,
}

/// `metav1.APIGroupList`.
#[derive(Serialize)]
struct ApiGroupList {
    #[serde(flatten)]
    type_meta: TypeMeta,
    groups: [ApiGroup; 1],
}

/// `apidiscovery.APIGroupDiscoveryList`.
#[derive(Serialize)]
struct GroupDiscoveryList {
    #[serde(flatten)]
    type_meta: TypeMeta,
    metadata: ListMeta,
    items: Vec<GroupDiscovery>,
}

/// `apidiscovery.APIGroupDiscovery`.
#[derive(Serialize)]
struct GroupDiscovery {
    metadata: GroupDiscoveryMeta,
    versions: Vec<VersionDiscovery>,
}

/// The group's `ObjectMeta`: only the name, as upstream writes it.
#[derive(Serialize)]
struct GroupDiscoveryMeta {
    name: &'static str,
}

/// `apidiscovery.APIVersionDiscovery`.
#[derive(Serialize)]
struct VersionDiscovery {
    version: &'static str,
    resources: Vec<ResourceDiscovery>,
    freshness: &'static str,
}

/// `apidiscovery.APIResourceDiscovery`; the empty lists Go omits are not fields here.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ResourceDiscovery {
    resource: &'static str,
    response_kind: GroupVersionKind,
    scope: &'static str,
    singular_resource: &'static str,
    verbs: [&'static str; 2],
}

/// The compact document. serde_json cannot fail on these types; should it ever, the error
/// reaches the caller, which answers 500 (never a success with another body).
fn document(doc: &impl Serialize) -> Result<Vec<u8>, serde_json::Error> {
    go_encode(doc)
}

/// `GET /apis/metrics.k8s.io/<version>`.
pub fn api_resource_list(version: ApiVersion) -> Result<Vec<u8>, serde_json::Error> {
    document(&ApiResourceList {
        type_meta: TypeMeta::v1("APIResourceList"),
        group_version: version.group_version(),
        resources: RESOURCES
            .iter()
            .map(|r| ApiResource {
                name: r.name,
                singular_name: "",
                namespaced: r.namespaced,
                kind: r.kind,
                verbs: VERBS,
            })
            .collect(),
    })
}

/// The group: versions v1beta1 then v1, v1beta1 preferred.
fn group(type_meta: Option<TypeMeta>) -> ApiGroup {
    let discovery = |v: ApiVersion| GroupVersionForDiscovery {
        group_version: v.group_version().to_owned(),
        version: v.as_str().to_owned(),
    };
    ApiGroup {
        type_meta,
        name: GROUP,
        versions: ApiVersion::ALL.into_iter().map(discovery).collect(),
        preferred_version: discovery(ApiVersion::ALL[0]),
    }
}

/// `GET /apis/metrics.k8s.io`: versions v1beta1 then v1, v1beta1 preferred.
pub fn api_group() -> Result<Vec<u8>, serde_json::Error> {
    document(&group(Some(TypeMeta::v1("APIGroup"))))
}

/// `GET /apis` (legacy form): an `APIGroupList` with the one group.
pub fn api_group_list() -> Result<Vec<u8>, serde_json::Error> {
    document(&ApiGroupList {
        type_meta: TypeMeta::v1("APIGroupList"),
        groups: [group(None)],
    })
}

/// `GET /apis` with an aggregated-discovery Accept: one `APIGroupDiscovery` for
/// `metrics.k8s.io` with every served version, each `freshness: Current`.
pub fn aggregated_discovery(v: DiscoveryVersion) -> Result<Vec<u8>, serde_json::Error> {
    let group = GroupDiscovery {
        metadata: GroupDiscoveryMeta { name: GROUP },
        versions: ApiVersion::ALL.into_iter().map(version_discovery).collect(),
    };
    document(&discovery_list(v, vec![group]))
}

/// `GET /api` with an aggregated-discovery Accept: no core groups here (`items: []`).
pub fn core_aggregated_discovery_empty(v: DiscoveryVersion) -> Result<Vec<u8>, serde_json::Error> {
    document(&discovery_list(v, Vec::new()))
}

fn discovery_list(v: DiscoveryVersion, items: Vec<GroupDiscovery>) -> GroupDiscoveryList {
    GroupDiscoveryList {
        type_meta: TypeMeta {
            kind: "APIGroupDiscoveryList",
            api_version: v.api_version(),
        },
        metadata: ListMeta::default(),
        items,
    }
}

fn version_discovery(version: ApiVersion) -> VersionDiscovery {
    let resources = RESOURCES
        .iter()
        .map(|r| ResourceDiscovery {
            resource: r.name,
            // Upstream leaves the group and version empty (the resource's own).
            response_kind: GroupVersionKind {
                group: Some(String::new()),
                version: Some(String::new()),
                kind: Some(r.kind.to_owned()),
            },
            scope: if r.namespaced {
                "Namespaced"
            } else {
                "Cluster"
            },
            singular_resource: "",
            verbs: VERBS,
        })
        .collect();
    VersionDiscovery {
        version: version.as_str(),
        resources,
        freshness: "Current",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_list_matches_upstream_bytes() {
        let got = String::from_utf8(api_resource_list(ApiVersion::V1beta1).unwrap()).unwrap();
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
        let got = String::from_utf8(api_group().unwrap()).unwrap();
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
        let list: serde_json::Value = serde_json::from_slice(&api_group_list().unwrap()).unwrap();
        assert_eq!(list["groups"][0]["versions"][0]["version"], "v1beta1");
        assert!(list["groups"][0].get("kind").is_none());
    }

    #[test]
    fn group_list_and_aggregated_match_upstream_bytes() {
        assert_eq!(
            String::from_utf8(api_group_list().unwrap()).unwrap(),
            concat!(
                r#"{"kind":"APIGroupList","apiVersion":"v1","groups":[{"name":"metrics.k8s.io","versions":["#,
                r#"{"groupVersion":"metrics.k8s.io/v1beta1","version":"v1beta1"},"#,
                r#"{"groupVersion":"metrics.k8s.io/v1","version":"v1"}],"#,
                r#""preferredVersion":{"groupVersion":"metrics.k8s.io/v1beta1","version":"v1beta1"}}]}"#,
                "\n"
            )
        );
        let resources = |v: &str| {
            format!(
                concat!(
                    r#"{{"version":"{v}","resources":["#,
                    r#"{{"resource":"nodes","responseKind":{{"group":"","version":"","kind":"NodeMetrics"}},"#,
                    r#""scope":"Cluster","singularResource":"","verbs":["get","list"]}},"#,
                    r#"{{"resource":"pods","responseKind":{{"group":"","version":"","kind":"PodMetrics"}},"#,
                    r#""scope":"Namespaced","singularResource":"","verbs":["get","list"]}}],"freshness":"Current"}}"#
                ),
                v = v
            )
        };
        assert_eq!(
            String::from_utf8(aggregated_discovery(DiscoveryVersion::V2beta1).unwrap()).unwrap(),
            format!(
                concat!(
                    r#"{{"kind":"APIGroupDiscoveryList","apiVersion":"apidiscovery.k8s.io/v2beta1","metadata":{{}},"#,
                    r#""items":[{{"metadata":{{"name":"metrics.k8s.io"}},"versions":[{},{}]}}]}}"#,
                    "\n"
                ),
                resources("v1beta1"),
                resources("v1")
            )
        );
    }

    #[test]
    fn aggregated_has_what_kubectl_reads() {
        for v in [DiscoveryVersion::V2, DiscoveryVersion::V2beta1] {
            let doc: serde_json::Value =
                serde_json::from_slice(&aggregated_discovery(v).unwrap()).unwrap();
            assert_eq!(doc["apiVersion"], v.api_version());
            let versions = doc["items"][0]["versions"].as_array().unwrap();
            assert_eq!(versions[0]["version"], "v1beta1");
            assert_eq!(versions[1]["version"], "v1");
            let pods = &versions[0]["resources"][1];
            assert_eq!(pods["scope"], "Namespaced");
            assert_eq!(pods["singularResource"], "");
            assert_eq!(pods["responseKind"]["kind"], "PodMetrics");
            // As upstream: empty group and version mean the enclosing group version's.
            assert_eq!(versions[1]["resources"][0]["responseKind"]["version"], "");
            assert_eq!(versions[1]["resources"][0]["responseKind"]["group"], "");
            assert_eq!(versions[0]["freshness"], "Current");
            assert!(
                v.content_type()
                    .contains(v.api_version().trim_start_matches("apidiscovery.k8s.io/"))
            );
        }
        assert_eq!(
            core_aggregated_discovery_empty(DiscoveryVersion::V2).unwrap(),
            b"{\"kind\":\"APIGroupDiscoveryList\",\"apiVersion\":\"apidiscovery.k8s.io/v2\",\"metadata\":{},\"items\":[]}\n"
        );
    }
}
