//! Which address and port to dial for a node (the paths to fetch are
//! [`super::decode::Source::request_target`]).
//! Port of metrics-server `pkg/utils/address_resolver.go` (spec §1.2, §3.2).

use crate::cluster::NodeInfo;

/// The node's addresses matched none of the preferred types.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no address matched types [{}]", .0.join(" "))]
pub struct NoAddress(pub Vec<String>);

/// For each preferred type in order, the first address of that type in status order wins.
pub fn resolve_address<'a>(node: &'a NodeInfo, preferred: &[String]) -> Result<&'a str, NoAddress> {
    preferred
        .iter()
        .find_map(|ty| {
            node.addresses
                .iter()
                .find(|(t, _)| t == ty)
                .map(|(_, a)| a.as_str())
        })
        .ok_or_else(|| NoAddress(preferred.to_vec()))
}

/// The port: the node's reported kubelet port when asked for and known, else the flag.
pub fn resolve_port(node: &NodeInfo, default_port: u16, use_node_status_port: bool) -> u16 {
    match node.kubelet_port {
        Some(p) if use_node_status_port => p,
        _ => default_port,
    }
}

/// `host` without the brackets of an IPv6 literal (`[fd00::1]` → `fd00::1`), as a socket
/// address, a TLS server name or an IP parse wants it; any other host unchanged.
pub fn unbracketed(host: &str) -> &str {
    host.strip_prefix('[')
        .and_then(|inner| inner.strip_suffix(']'))
        .unwrap_or(host)
}

/// The names a kubelet dialled at an IP may present instead of it (see [`super::verify`]):
/// the node's name and its `Hostname`, `InternalDNS` and `ExternalDNS` addresses.
pub fn certificate_names(node: &NodeInfo) -> Vec<&str> {
    let mut names: Vec<&str> = vec![&node.name];
    names.extend(
        node.addresses
            .iter()
            .filter(|(t, _)| t == "Hostname" || t == "InternalDNS" || t == "ExternalDNS")
            .map(|(_, a)| a.as_str()),
    );
    names
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn node(addrs: &[(&str, &str)], port: Option<u16>) -> NodeInfo {
        NodeInfo {
            name: Arc::from("n"),
            addresses: addrs
                .iter()
                .map(|(t, a)| (t.to_string(), a.to_string()))
                .collect(),
            kubelet_port: port,
            metrics_path: None,
            labels: Default::default(),
            virtual_kind: None,
        }
    }

    fn types(t: &[&str]) -> Vec<String> {
        t.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn preferred_type_order_beats_status_order() {
        let n = node(
            &[
                ("Hostname", "n"),
                ("InternalIP", "10.0.0.1"),
                ("InternalIP", "10.0.0.2"),
            ],
            None,
        );
        assert_eq!(
            resolve_address(&n, &types(&["InternalIP", "Hostname"])),
            Ok("10.0.0.1")
        );
        assert_eq!(
            resolve_address(&n, &types(&["ExternalIP", "Hostname"])),
            Ok("n")
        );
        let err = resolve_address(&n, &types(&["ExternalIP"])).unwrap_err();
        assert_eq!(err.to_string(), "no address matched types [ExternalIP]");
    }

    #[test]
    fn node_status_port_only_when_asked_and_known() {
        assert_eq!(resolve_port(&node(&[], Some(1234)), 10250, true), 1234);
        assert_eq!(resolve_port(&node(&[], Some(1234)), 10250, false), 10250);
        assert_eq!(resolve_port(&node(&[], None), 10250, true), 10250);
    }

    #[test]
    fn an_ipv6_literal_loses_its_brackets_and_other_hosts_are_kept() {
        assert_eq!(unbracketed("[fd00::1]"), "fd00::1");
        assert_eq!(unbracketed("fd00::1"), "fd00::1");
        assert_eq!(unbracketed("10.0.0.1"), "10.0.0.1");
        assert_eq!(unbracketed("node-1.example"), "node-1.example");
        // Not a bracketed literal: left for the caller's parse to reject.
        assert_eq!(unbracketed("[fd00::1"), "[fd00::1");
        assert_eq!(unbracketed("[]"), "");
    }
}
