//! The report lines of the kubelet checks that are not a certificate verdict: a kubelet not
//! reached, a GET that failed, and how the lines of many nodes are summed up (every node one
//! by one in small clusters; else one line for the OK nodes and a bounded number of the others).

use super::peer_cert::PeekError;
use super::report::{Check, Status, name_list};
use crate::cluster::NodeInfo;
use crate::kubelet::ScrapeError;

/// Up to this many nodes, every node gets its own lines; above, OK nodes are summed up.
const NODES_LISTED_ONE_BY_ONE: usize = 10;
/// WARN and FAIL lines printed per check before the rest are summed up in one line.
const MAX_LINES_PER_CHECK: usize = 20;
/// The per-node checks, in the order they are printed.
const NODE_CHECKS: [(&str, &str); 5] = [
    ("kubelet-address", "an address of a preferred type"),
    ("kubelet-reach", "the kubelet answers"),
    (
        "kubelet-tls",
        "the kubelet certificate verifies for the address dialled",
    ),
    ("kubelet-fetch", "the kubelet answers with metrics"),
    (
        "node-clock",
        "the kubelet clock is within 30 s of this machine's",
    ),
];

/// The line of a kubelet that could not be reached. A refusal fails; no answer fails only
/// inside the cluster (outside, the node network may simply not be routed to this machine).
pub fn reach_check(
    in_cluster: bool,
    node: &NodeInfo,
    dialled: &str,
    port: u16,
    err: &PeekError,
) -> Check {
    let object = format!("node/{}", node.name);
    match err {
        PeekError::Refused => {
            let fix = match node.kubelet_port {
                Some(status_port) if status_port != port => format!(
                    "the node reports its kubelet on port {status_port}: pass \
                     --kubelet-use-node-status-port (or --kubelet-port {status_port})"
                ),
                _ => "check that the kubelet runs on the node and listens on this port \
                      (--kubelet-port, --kubelet-use-node-status-port)"
                    .to_owned(),
            };
            Check::fail(
                "kubelet-reach",
                object,
                format!("connection refused at {dialled}: nothing listens there"),
                fix,
            )
        }
        PeekError::Timeout(_) | PeekError::Unreachable(_) => {
            let not_ip = dialled
                .trim_start_matches('[')
                .split([']', ':'])
                .next()
                .is_some_and(|h| h.parse::<std::net::IpAddr>().is_err());
            let fix = match not_ip {
                true => {
                    "if the name does not resolve where the server runs, put InternalIP \
                         first in --kubelet-preferred-address-types; otherwise open the port \
                         from the metrics-server pods to the nodes (firewall, security group, \
                         NetworkPolicy egress)"
                }
                false => {
                    "open the kubelet port from the metrics-server pods to the nodes \
                          (firewall, cloud security group, NetworkPolicy egress)"
                }
            };
            let check = Check::fail(
                "kubelet-reach",
                object,
                format!("{dialled}: {err}"),
                format!("{fix}; run diagnose in a pod of the cluster to test the server's path"),
            );
            match in_cluster {
                true => check,
                false => Check {
                    cause: format!(
                        "{} (diagnose runs outside the cluster: the node network may just not \
                         be routed here)",
                        check.cause
                    ),
                    ..check.softened()
                },
            }
        }
        PeekError::Tls(detail) => Check::fail(
            "kubelet-reach",
            object,
            format!("{dialled} does not complete a TLS handshake: {detail}"),
            "check that --kubelet-port (or the node's status port) is the kubelet's HTTPS port",
        ),
    }
}

/// The line of a GET that failed after the certificate was judged.
pub fn fetch_failure(node: &NodeInfo, dialled: &str, err: &ScrapeError) -> Check {
    let object = format!("node/{}", node.name);
    match err {
        ScrapeError::HttpStatus(status) if status.as_u16() == 401 => Check::warn(
            "kubelet-fetch",
            object,
            format!("{dialled} answered 401 Unauthorized to the credentials diagnose runs with"),
            "if the server's log shows 401 too, the kubelet does not accept bearer tokens: \
             enable webhook authentication on the kubelets (authentication.webhook.enabled: \
             true, --authentication-token-webhook)",
        ),
        ScrapeError::HttpStatus(status) if status.as_u16() == 403 => Check::warn(
            "kubelet-fetch",
            object,
            format!(
                "{dialled} answered 403 Forbidden to the credentials diagnose runs with (the \
                 server's own access is the rbac check of nodes/metrics)"
            ),
            "run diagnose with a kubeconfig allowed to get nodes/metrics to measure the clock",
        ),
        ScrapeError::HttpStatus(status) if status.as_u16() == 404 => Check::fail(
            "kubelet-fetch",
            object,
            format!("{dialled} answered 404: the kubelet serves no resource metrics there"),
            "kubelets before 1.18 lack /metrics/resource: use --kubelet-metrics-source=auto or \
             summary; or fix the node's metrics.k8s.io/resource-metrics-path annotation",
        ),
        ScrapeError::Timeout(after) => Check::fail(
            "kubelet-fetch",
            object,
            format!("{dialled} took its TLS handshake but no answer within {after:?}"),
            "the kubelet is overloaded or stuck: look at the node; a larger \
             --kubelet-request-timeout only hides it",
        ),
        other => Check::fail(
            "kubelet-fetch",
            object,
            format!("{dialled}: {other}"),
            "the server fails this node the same way; see its log",
        ),
    }
}

/// Per check, in [`NODE_CHECKS`] order: nodes one by one when there are few; else one line
/// for the OK nodes and at most [`MAX_LINES_PER_CHECK`] lines of the others, the rest summed.
pub fn summarize(checks: Vec<Check>, nodes: usize) -> Vec<Check> {
    let mut out = Vec::new();
    for (id, what) in NODE_CHECKS {
        let (ok, bad): (Vec<Check>, Vec<Check>) = (checks.iter())
            .filter(|c| c.check == id)
            .cloned()
            .partition(|c| c.status == Status::Ok);
        if nodes <= NODES_LISTED_ONE_BY_ONE {
            out.extend(ok);
        } else if !ok.is_empty() {
            let names: Vec<&str> = ok.iter().map(|c| node_of(&c.object)).collect();
            out.push(Check::ok(
                id,
                "nodes",
                format!("{} nodes: {what} ({})", ok.len(), name_list(&names)),
            ));
        }
        let shown = bad.len().min(MAX_LINES_PER_CHECK);
        let rest = &bad[shown..];
        out.extend(bad[..shown].iter().cloned());
        if let Some(worst) = rest.iter().map(|c| c.status).max() {
            let names: Vec<&str> = rest.iter().map(|c| node_of(&c.object)).collect();
            let line = Check {
                status: worst,
                check: id,
                object: "nodes".to_owned(),
                cause: format!(
                    "{} more nodes fail this check ({})",
                    rest.len(),
                    name_list(&names)
                ),
                fix: Some(
                    "see the lines above for the causes; check these nodes with --node-selector"
                        .to_owned(),
                ),
            };
            out.push(line);
        }
    }
    out
}

fn node_of(object: &str) -> &str {
    object.strip_prefix("node/").unwrap_or(object)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnose::kubelets::tests::node;
    use std::time::Duration;

    #[test]
    fn an_unreachable_kubelet_fails_only_when_diagnose_runs_in_the_cluster() {
        let timeout = PeekError::Timeout(Duration::from_secs(5));
        let inside = reach_check(true, &node("n1"), "10.0.0.1:10250", 10250, &timeout);
        assert_eq!(inside.status, Status::Fail);
        let outside = reach_check(false, &node("n1"), "10.0.0.1:10250", 10250, &timeout);
        assert_eq!(outside.status, Status::Warn);
        assert!(
            outside.cause.contains("outside the cluster"),
            "{}",
            outside.cause
        );
        let refused = reach_check(
            false,
            &node("n1"),
            "10.0.0.1:10255",
            10255,
            &PeekError::Refused,
        );
        assert_eq!(refused.status, Status::Fail);
        assert!(
            refused
                .fix
                .unwrap()
                .contains("--kubelet-use-node-status-port")
        );
    }

    #[test]
    fn many_nodes_are_summed_up_and_failures_are_capped() {
        let mut checks = Vec::new();
        for i in 0..30 {
            checks.push(Check::ok("kubelet-tls", format!("node/ok{i}"), "fine"));
            checks.push(Check::fail(
                "kubelet-tls",
                format!("node/bad{i}"),
                "broken",
                "fix",
            ));
        }
        let out = summarize(checks, 60);
        assert_eq!(out.len(), 1 + MAX_LINES_PER_CHECK + 1);
        assert_eq!(out[0].status, Status::Ok);
        assert!(out[0].cause.starts_with("30 nodes: "), "{}", out[0].cause);
        let last = out.last().unwrap();
        assert_eq!(last.status, Status::Fail);
        assert!(
            last.cause
                .starts_with("10 more nodes fail this check (bad20"),
            "{}",
            last.cause
        );

        let few = vec![
            Check::ok("node-clock", "node/a", "+0.1 s"),
            Check::ok("kubelet-tls", "node/a", "fine"),
        ];
        let out = summarize(few, 1);
        assert_eq!(out[0].check, "kubelet-tls", "printed in check order");
        assert_eq!(out[1].cause, "+0.1 s", "few nodes keep their own lines");
    }
}
