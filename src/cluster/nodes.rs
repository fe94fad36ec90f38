//! Nodes: what the scraper needs to reach each kubelet (addresses, kubelet port, the
//! resource-metrics path annotation), whether it is a virtual node (its labels and the
//! virtual-kubelet taint, see `virtual_nodes`) and the labels the API serves. Everything else
//! is dropped: the node cache (node_store.rs) keeps a [`NodeInfo`] per node.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Node;

use super::virtual_nodes::{VirtualKind, virtual_kind};

/// Node annotation that replaces `/metrics/resource` for that node (upstream v0.7.0+).
pub const RESOURCE_METRICS_PATH_ANNOTATION: &str = "metrics.k8s.io/resource-metrics-path";

/// Where and how to scrape one node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeInfo {
    pub name: Arc<str>,
    /// `(type, address)` in `status.addresses` order.
    pub addresses: Vec<(String, String)>,
    /// `status.daemonEndpoints.kubeletEndpoint.port`, when non-zero.
    pub kubelet_port: Option<u16>,
    /// The resource-metrics path annotation, when set.
    pub metrics_path: Option<String>,
    pub labels: BTreeMap<String, String>,
    /// Set for a node that cannot be scraped by design (virtual-kubelet, EKS Fargate).
    pub virtual_kind: Option<VirtualKind>,
}

impl NodeInfo {
    /// Extracts what is kept of a Node (a watched one, or one listed by `diagnose`).
    pub fn of(node: &Node) -> NodeInfo {
        let status = node.status.as_ref();
        let addresses = status
            .and_then(|s| s.addresses.as_ref())
            .map(|a| {
                a.iter()
                    .map(|a| (a.type_.clone(), a.address.clone()))
                    .collect()
            })
            .unwrap_or_default();
        let kubelet_port = status
            .and_then(|s| s.daemon_endpoints.as_ref())
            .and_then(|d| d.kubelet_endpoint.as_ref())
            .and_then(|e| u16::try_from(e.port).ok())
            .filter(|p| *p != 0);
        let metrics_path = node
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(RESOURCE_METRICS_PATH_ANNOTATION))
            .cloned();
        let labels = super::labels_of(&node.metadata).clone();
        let taints = node.spec.as_ref().and_then(|s| s.taints.as_deref());
        NodeInfo {
            name: Arc::from(node.metadata.name.as_deref().unwrap_or_default()),
            addresses,
            kubelet_port,
            metrics_path,
            virtual_kind: virtual_kind(&labels, taints.unwrap_or_default()),
            labels,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{
        DaemonEndpoint, NodeAddress, NodeDaemonEndpoints, NodeSpec, NodeStatus, Taint,
    };
    use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

    fn node() -> Node {
        let mut n = Node::default();
        n.metadata.name = Some("n1".into());
        n.metadata.annotations = Some(
            [
                (
                    RESOURCE_METRICS_PATH_ANNOTATION.to_string(),
                    "/custom".to_string(),
                ),
                ("other".to_string(), "x".to_string()),
            ]
            .into(),
        );
        n.status = Some(NodeStatus {
            addresses: Some(vec![
                NodeAddress {
                    type_: "InternalIP".into(),
                    address: "127.0.1.2".into(),
                },
                NodeAddress {
                    type_: "Hostname".into(),
                    address: "n1".into(),
                },
            ]),
            daemon_endpoints: Some(NodeDaemonEndpoints {
                kubelet_endpoint: Some(DaemonEndpoint { port: 10255 }),
            }),
            capacity: Some([("cpu".to_string(), Quantity("4".into()))].into()),
            allocatable: Some([("cpu".to_string(), Quantity("3800m".into()))].into()),
            ..Default::default()
        });
        n
    }

    #[test]
    fn extracts_the_scrape_target_and_nothing_else_is_needed() {
        let info = NodeInfo::of(&node());
        assert_eq!(&*info.name, "n1");
        assert_eq!(info.kubelet_port, Some(10255));
        assert_eq!(info.metrics_path.as_deref(), Some("/custom"));
        assert_eq!(info.addresses[0], ("InternalIP".into(), "127.0.1.2".into()));
        assert_eq!(info.addresses.len(), 2);
        assert_eq!(info.virtual_kind, None);
    }

    #[test]
    fn a_virtual_kubelet_taint_marks_the_node() {
        let mut n = node();
        let taint = |key: &str| Taint {
            key: key.into(),
            value: Some("azure".into()),
            effect: "NoSchedule".into(),
            ..Taint::default()
        };
        n.spec = Some(NodeSpec {
            taints: Some(vec![taint("node.kubernetes.io/unreachable")]),
            ..NodeSpec::default()
        });
        assert_eq!(NodeInfo::of(&n).virtual_kind, None);
        n.spec = Some(NodeSpec {
            taints: Some(vec![
                taint("node.kubernetes.io/unreachable"),
                taint("virtual-kubelet.io/provider"),
            ]),
            provider_id: Some("azure:///x".into()),
            ..NodeSpec::default()
        });
        assert_eq!(
            NodeInfo::of(&n).virtual_kind,
            Some(VirtualKind::VirtualKubelet)
        );
    }
}
