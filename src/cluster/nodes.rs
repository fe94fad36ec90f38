//! Nodes: what the scraper needs to reach each kubelet (addresses, kubelet port, the
//! resource-metrics path annotation), whether it is a virtual node (its labels and the
//! virtual-kubelet taint, see `virtual_nodes`) and the labels the API serves. Everything else
//! is stripped before caching.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Node, NodeSpec};

use super::virtual_nodes::{VirtualKind, is_virtual_kubelet_taint, virtual_kind};

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

/// Extracts the scrape target from a cached Node.
pub fn node_info(node: &Node) -> NodeInfo {
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

/// Drops what neither the scraper nor the API reads (images, conditions, volumes, capacity,
/// the spec but for the virtual-kubelet taint, ...).
pub fn strip(node: &mut Node) {
    let m = &mut node.metadata;
    m.managed_fields = None;
    m.owner_references = None;
    m.finalizers = None;
    if let Some(a) = m.annotations.as_mut() {
        a.retain(|k, _| k == RESOURCE_METRICS_PATH_ANNOTATION);
    }
    let kept_taints = node
        .spec
        .take()
        .and_then(|spec| spec.taints)
        .map(|taints| {
            taints
                .into_iter()
                .filter(is_virtual_kubelet_taint)
                .collect()
        })
        .filter(|taints: &Vec<_>| !taints.is_empty());
    node.spec = kept_taints.map(|taints| NodeSpec {
        taints: Some(taints),
        ..NodeSpec::default()
    });
    if let Some(s) = node.status.as_mut() {
        s.images = None;
        s.volumes_attached = None;
        s.volumes_in_use = None;
        s.conditions = None;
        s.node_info = None;
        s.config = None;
        s.features = None;
        s.runtime_handlers = None;
        s.capacity = None;
        s.allocatable = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{
        DaemonEndpoint, NodeAddress, NodeDaemonEndpoints, NodeStatus, Taint,
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
    fn extracts_scrape_target_and_keeps_it_after_stripping() {
        let mut n = node();
        strip(&mut n);
        let info = node_info(&n);
        assert_eq!(&*info.name, "n1");
        assert_eq!(info.kubelet_port, Some(10255));
        assert_eq!(info.metrics_path.as_deref(), Some("/custom"));
        assert_eq!(info.addresses[0], ("InternalIP".into(), "127.0.1.2".into()));
        assert_eq!(n.metadata.annotations.unwrap().len(), 1);
        let status = n.status.unwrap_or_default();
        assert!(status.capacity.is_none() && status.allocatable.is_none());
        assert!(n.spec.is_none(), "nothing of the spec is needed");
        assert_eq!(info.virtual_kind, None);
    }

    #[test]
    fn a_virtual_kubelet_taint_survives_stripping_and_marks_the_node() {
        let mut n = node();
        let taint = |key: &str| Taint {
            key: key.into(),
            value: Some("azure".into()),
            effect: "NoSchedule".into(),
            ..Taint::default()
        };
        n.spec = Some(NodeSpec {
            taints: Some(vec![
                taint("node.kubernetes.io/unreachable"),
                taint("virtual-kubelet.io/provider"),
            ]),
            provider_id: Some("azure:///x".into()),
            ..NodeSpec::default()
        });
        strip(&mut n);
        let spec = n.spec.clone().unwrap_or_default();
        assert_eq!(spec.provider_id, None);
        let kept: Vec<&str> = spec
            .taints
            .iter()
            .flatten()
            .map(|t| t.key.as_str())
            .collect();
        assert_eq!(kept, ["virtual-kubelet.io/provider"]);
        assert_eq!(
            node_info(&n).virtual_kind,
            Some(VirtualKind::VirtualKubelet)
        );
    }
}
