//! Nodes that cannot be scraped by design, told apart by the labels and taints their
//! controllers put on them:
//!
//! - virtual-kubelet nodes (Azure Container Instances, and other providers): the label
//!   `type=virtual-kubelet`, or a taint with the key `virtual-kubelet.io/provider`. The node is
//!   a process standing for a remote service; it serves no kubelet resource metrics.
//! - EKS Fargate nodes (one per pod): the label `eks.amazonaws.com/compute-type=fargate`. Their
//!   kubelet does not answer metrics requests from the cluster in the usual setups
//!   (kubernetes-sigs/metrics-server#694, #1422, aws/containers-roadmap#1798).
//!
//! Scraping them fails every cycle: the scraper skips them unless
//! `--kubelet-skip-virtual-nodes=false`, and their pods read `node_not_scraped`.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Taint;

/// The label virtual-kubelet puts on its nodes: `type=virtual-kubelet`.
pub const VIRTUAL_KUBELET_LABEL: (&str, &str) = ("type", "virtual-kubelet");
/// The key of the taint virtual-kubelet puts on its nodes (the value names the provider).
pub const VIRTUAL_KUBELET_TAINT_KEY: &str = "virtual-kubelet.io/provider";
/// The label EKS puts on Fargate nodes: `eks.amazonaws.com/compute-type=fargate`.
pub const FARGATE_LABEL: (&str, &str) = ("eks.amazonaws.com/compute-type", "fargate");

/// Why a node is not scraped.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum VirtualKind {
    VirtualKubelet,
    Fargate,
}

impl VirtualKind {
    /// Every kind, in the order their counts are exported.
    pub const ALL: [VirtualKind; 2] = [VirtualKind::VirtualKubelet, VirtualKind::Fargate];

    /// The `kind` label of `metrics_rs_nodes_not_scraped`.
    pub fn as_str(self) -> &'static str {
        match self {
            VirtualKind::VirtualKubelet => "virtual-kubelet",
            VirtualKind::Fargate => "fargate",
        }
    }
}

/// The kind of virtual node `labels` and `taints` describe, `None` for an ordinary node.
pub fn virtual_kind(labels: &BTreeMap<String, String>, taints: &[Taint]) -> Option<VirtualKind> {
    let has = |(key, value): (&str, &str)| labels.get(key).is_some_and(|v| v == value);
    if has(VIRTUAL_KUBELET_LABEL) || taints.iter().any(is_virtual_kubelet_taint) {
        Some(VirtualKind::VirtualKubelet)
    } else if has(FARGATE_LABEL) {
        Some(VirtualKind::Fargate)
    } else {
        None
    }
}

/// Whether `taint` is the one virtual-kubelet puts on its nodes.
fn is_virtual_kubelet_taint(taint: &Taint) -> bool {
    taint.key == VIRTUAL_KUBELET_TAINT_KEY
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn taint(key: &str, value: &str) -> Taint {
        Taint {
            key: key.into(),
            value: Some(value.into()),
            effect: "NoSchedule".into(),
            ..Taint::default()
        }
    }

    #[test]
    fn virtual_kubelet_nodes_are_known_by_their_label_or_their_taint() {
        let by_label = labels(&[("type", "virtual-kubelet"), ("kubernetes.io/role", "agent")]);
        assert_eq!(
            virtual_kind(&by_label, &[]),
            Some(VirtualKind::VirtualKubelet)
        );
        let aci = [taint("virtual-kubelet.io/provider", "azure")];
        assert_eq!(
            virtual_kind(&labels(&[]), &aci),
            Some(VirtualKind::VirtualKubelet)
        );
    }

    #[test]
    fn fargate_nodes_are_known_by_their_compute_type() {
        let fargate = labels(&[("eks.amazonaws.com/compute-type", "fargate")]);
        assert_eq!(virtual_kind(&fargate, &[]), Some(VirtualKind::Fargate));
        // EKS hybrid and EC2 nodes have real kubelets.
        for other in ["ec2", "hybrid", "auto"] {
            let node = labels(&[("eks.amazonaws.com/compute-type", other)]);
            assert_eq!(virtual_kind(&node, &[]), None, "{other}");
        }
    }

    #[test]
    fn ordinary_nodes_are_not_virtual() {
        let node = labels(&[("type", "worker"), ("kubernetes.io/os", "linux")]);
        let tainted = [taint("node-role.kubernetes.io/control-plane", "")];
        assert_eq!(virtual_kind(&node, &tainted), None);
        assert_eq!(virtual_kind(&labels(&[]), &[]), None);
    }
}
