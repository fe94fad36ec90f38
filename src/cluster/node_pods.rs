//! The Running pods of one node, listed from the API (metadata only, `fieldSelector=
//! spec.nodeName=<node>,status.phase=Running`).
//!
//! The pod watch is metadata-only, so it never says where a pod runs: the store learns a pod's
//! node from the kubelet's response. A node whose kubelet never answered has given none, and
//! its pods would read "not scraped yet" instead of "its node failed". The scraper asks this
//! list for such nodes only (see `scraper::failed_node_pods`), so the usual cost stays one
//! watch for all pods.

use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};
use kube::core::PartialObjectMeta;

/// Most pods taken from one list: the API returns at most this many in the one page asked
/// for, which bounds the response (a metadata item is well under 1 KiB once managed fields
/// are gone; kubelets run at most 110 pods by default, a few hundred when raised).
pub const MAX_PODS_PER_LIST: u32 = 1_000;

/// A list of one node's pods failed. Never read as an empty node.
#[derive(Debug, thiserror::Error)]
pub enum NodePodsError {
    #[error("listing the pods of node {node} failed: {source}")]
    Api {
        node: String,
        #[source]
        source: Box<kube::Error>,
    },
    #[error("listing the pods of node {node} took longer than {timeout:?}")]
    Timeout { node: String, timeout: Duration },
}

/// One Running pod of the listed node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodName {
    pub namespace: String,
    pub name: String,
}

/// Lists one node's Running pods; cheap to clone (one API client).
#[derive(Clone)]
pub struct NodePodLister {
    api: Api<PartialObjectMeta<Pod>>,
}

impl NodePodLister {
    pub fn new(client: kube::Client) -> Self {
        NodePodLister {
            api: Api::all(client),
        }
    }

    /// The Running pods the API places on `node`: at most [`MAX_PODS_PER_LIST`], within
    /// `timeout`.
    pub async fn running_on(
        &self,
        node: &str,
        timeout: Duration,
    ) -> Result<Vec<PodName>, NodePodsError> {
        let params = list_params(node);
        let listed = tokio::time::timeout(timeout, self.api.list_metadata(&params)).await;
        let list = match listed {
            Err(_) => {
                return Err(NodePodsError::Timeout {
                    node: node.to_owned(),
                    timeout,
                });
            }
            Ok(Err(source)) => {
                return Err(NodePodsError::Api {
                    node: node.to_owned(),
                    source: Box::new(source),
                });
            }
            Ok(Ok(list)) => list,
        };
        let names = list.items.into_iter().filter_map(|pod| {
            let meta = pod.metadata;
            Some(PodName {
                namespace: meta.namespace?,
                name: meta.name?,
            })
        });
        Ok(names.take(MAX_PODS_PER_LIST as usize).collect())
    }
}

/// The list's parameters: the node's Running pods, one bounded page.
fn list_params(node: &str) -> ListParams {
    let fields = format!(
        "spec.nodeName={},status.phase=Running",
        escape_field_value(node)
    );
    ListParams::default()
        .fields(&fields)
        .limit(MAX_PODS_PER_LIST)
}

/// A field selector value with `\`, `,` and `=` escaped (apimachinery `fields.EscapeValue`).
fn escape_field_value(value: &str) -> String {
    let mut escaped = String::with_capacity(value.len());
    for c in value.chars() {
        if matches!(c, '\\' | ',' | '=') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_selects_the_nodes_running_pods_in_one_bounded_page() {
        let params = list_params("node-1.example");
        assert_eq!(
            params.field_selector.as_deref(),
            Some("spec.nodeName=node-1.example,status.phase=Running")
        );
        assert_eq!(params.limit, Some(MAX_PODS_PER_LIST));
    }

    #[test]
    fn separators_in_a_node_name_are_escaped() {
        assert_eq!(escape_field_value(r"a,b=c\d"), r"a\,b\=c\\d");
    }
}
