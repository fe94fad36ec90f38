//! Every node's kubelet (or `--nodes N` of them, spread over the list by name), reached the
//! way the server reaches it: the address and port the `--kubelet-*` flags choose
//! ([`crate::kubelet::address`]), its certificate judged against the same CA
//! ([`super::kubelet_cert`]), then one GET through the server's own kubelet client (token,
//! deadline, body cap, Summary API fallback) whose newest sample time gives the node's clock
//! offset ([`super::clock`]). At most [`CONCURRENCY`] nodes at a time, each step within
//! `--kubelet-request-timeout`.

use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, ListParams};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};

use super::clock::clock_check;
use super::cluster_api;
use super::kubelet_cert::{Verdict, insecure_check, judge, tls_check};
use super::kubelet_lines::{fetch_failure, reach_check, summarize};
use super::peer_cert::{self, Identity, PeekError};
use super::report::{Check, Report, name_list};
use crate::cluster::NodeInfo;
use crate::config::Config;
use crate::kubelet::KubeletClient;
use crate::kubelet::address::{resolve_address, resolve_port, unbracketed};
use crate::kubelet::verify::NodeNames;
use crate::server::kube_setup;
use crate::usage::ExtraResources;

/// Nodes checked at the same time.
pub const CONCURRENCY: usize = 16;
/// Nodes read at most from the API.
const MAX_NODES: usize = 50_000;
/// How nodes are reached and judged, from the server's flags and the kubeconfig.
pub struct Probe {
    client: KubeletClient,
    roots: Vec<CertificateDer<'static>>,
    identity: Option<Identity>,
    preferred: Vec<String>,
    port: u16,
    use_node_status_port: bool,
    timeout: Duration,
    insecure: bool,
    plain_http: bool,
    in_cluster: bool,
}

fn clone_identity(identity: &Option<Identity>) -> Option<Identity> {
    identity
        .as_ref()
        .map(|(chain, key)| (chain.clone(), key.clone_key()))
}

impl Probe {
    /// The server's kubelet client and CA from its flags and `api`'s credentials;
    /// `in_cluster` says whether diagnose runs in a pod (an unreachable kubelet fails then).
    pub fn new(cfg: &Config, api: &kube::Config, in_cluster: bool) -> anyhow::Result<Probe> {
        probe(cfg, api, in_cluster)
    }

    /// The checks of `nodes`, summed up as [`summarize`] does.
    pub async fn check_nodes(&self, nodes: &[NodeInfo]) -> Vec<Check> {
        // As the scraper does: a kubelet dialled by IP may present its node's names.
        self.client.know_nodes(nodes);
        let mut checks = flag_warnings(self);
        let per_node: Vec<Vec<Check>> = futures::stream::iter(nodes.iter())
            .map(|node| check_node(self, node))
            .buffered(CONCURRENCY)
            .collect()
            .await;
        checks.extend(summarize(
            per_node.into_iter().flatten().collect(),
            nodes.len(),
        ));
        checks
    }
}

fn probe(cfg: &Config, api: &kube::Config, in_cluster: bool) -> anyhow::Result<Probe> {
    let tls = kube_setup::kubelet_tls(&cfg.kubelet, api)?;
    let roots = tls.roots.clone();
    let identity = clone_identity(&tls.identity);
    let node_names = NodeNames::new();
    let client_config = crate::kubelet::tls::client_config(tls, node_names.clone())?;
    let client = KubeletClient::new(
        // One GET of the metrics source: the reachability and TLS checks need no Summary
        // beside it.
        kube_setup::kubelet_client_config(
            cfg,
            kube_setup::kubelet_token(api),
            node_names,
            ExtraResources::default(),
        ),
        client_config,
    );
    Ok(Probe {
        client,
        roots,
        identity,
        preferred: cfg.kubelet.preferred_address_types.clone(),
        port: cfg.kubelet.port,
        use_node_status_port: cfg.kubelet.use_node_status_port,
        timeout: cfg.kubelet.request_timeout,
        insecure: cfg.kubelet.insecure_tls,
        plain_http: cfg.compat.kubelet_plain_http,
        in_cluster,
    })
}

/// Checks the kubelets of the nodes the server would scrape (`--node-selector`), or `sample`
/// of them when non-zero.
pub async fn check(
    client: &kube::Client,
    api: &kube::Config,
    cfg: &Config,
    sample: usize,
    in_cluster: bool,
    report: &mut Report,
) {
    let probe = match Probe::new(cfg, api, in_cluster) {
        Ok(probe) => probe,
        Err(err) => {
            report.push(Check::fail(
                "kubelet-config",
                "flags/kubelet",
                format!("the kubelet TLS settings do not load: {err:#}"),
                "fix the --kubelet-* flags (the server stops at start-up with the same error)",
            ));
            return;
        }
    };
    let Some(nodes) = list_nodes(client, cfg, report).await else {
        return;
    };
    let (nodes, skipped) = skip_virtual(nodes, cfg.kubelet.skip_virtual_nodes);
    if !skipped.is_empty() {
        report.push(Check::ok(
            "kubelet-nodes",
            "nodes",
            format!(
                "{} virtual nodes not scraped, as the server skips them \
                 (--kubelet-skip-virtual-nodes): {}",
                skipped.len(),
                name_list(&skipped)
            ),
        ));
    }
    let total = nodes.len();
    let nodes = spread(nodes, sample);
    report.push(Check::ok(
        "kubelet-nodes",
        "nodes",
        match nodes.len() < total {
            true => format!("checking {} of {total} nodes (--nodes)", nodes.len()),
            false => format!("checking all {total} nodes"),
        },
    ));
    report.extend(probe.check_nodes(&nodes).await);
}

async fn list_nodes(
    client: &kube::Client,
    cfg: &Config,
    report: &mut Report,
) -> Option<Vec<NodeInfo>> {
    let api: Api<Node> = Api::all(client.clone());
    let mut params = ListParams::default();
    if let Some(selector) = &cfg.node_selector {
        params = params.labels(selector);
    }
    let selected = match &cfg.node_selector {
        Some(selector) => format!(" matching --node-selector {selector}"),
        None => String::new(),
    };
    match cluster_api::list_capped(&api, params, MAX_NODES).await {
        Ok((nodes, _)) if nodes.is_empty() => {
            report.push(Check::fail(
                "kubelet-nodes",
                "nodes",
                format!("no nodes{selected}: the server has nothing to scrape"),
                "check --node-selector, and that the nodes registered (kubectl get nodes)",
            ));
            None
        }
        Ok((nodes, _)) => Some(nodes.iter().map(NodeInfo::of).collect()),
        Err(err) => {
            report.push(Check::warn(
                "kubelet-nodes",
                "nodes",
                format!("kubelets not checked: listing nodes failed: {err}"),
                "run diagnose with a kubeconfig that may list nodes",
            ));
            None
        }
    }
}

/// The nodes the server scrapes, and the names of the virtual ones it skips (`skip`).
pub fn skip_virtual(nodes: Vec<NodeInfo>, skip: bool) -> (Vec<NodeInfo>, Vec<String>) {
    if !skip {
        return (nodes, Vec::new());
    }
    let (kept, virtual_nodes): (Vec<NodeInfo>, Vec<NodeInfo>) =
        nodes.into_iter().partition(|n| n.virtual_kind.is_none());
    let names = virtual_nodes.iter().map(|n| n.name.to_string()).collect();
    (kept, names)
}

/// `n` nodes spread evenly over the list sorted by name (all of them when `n` is 0 or not
/// smaller than the list).
pub fn spread(mut nodes: Vec<NodeInfo>, n: usize) -> Vec<NodeInfo> {
    nodes.sort_by(|a, b| a.name.cmp(&b.name));
    let total = nodes.len();
    if n == 0 || n >= total {
        return nodes;
    }
    (0..n).map(|i| nodes[i * total / n].clone()).collect()
}

fn flag_warnings(reach: &Probe) -> Vec<Check> {
    let mut warnings = Vec::new();
    if reach.plain_http {
        warnings.push(Check::warn(
            "kubelet-tls",
            "flags/--deprecated-kubelet-completely-insecure",
            "kubelets are scraped over plain HTTP without credentials",
            "drop the flag; verify kubelets with their CA (--kubelet-certificate-authority)",
        ));
    } else if reach.insecure {
        warnings.push(Check::warn(
            "kubelet-tls",
            "flags/--kubelet-insecure-tls",
            "kubelet certificates are not verified: anything answering at a node's address is \
             trusted with the server's token",
            "see each node's kubelet-tls line for what verification with the cluster CA would \
             say",
        ));
    }
    warnings
}

fn address_text(node: &NodeInfo) -> String {
    let all: Vec<String> = (node.addresses.iter())
        .map(|(ty, address)| format!("{ty}={address}"))
        .collect();
    match all.is_empty() {
        true => "none".to_owned(),
        false => all.join(", "),
    }
}

/// All checks of one node, in [`NODE_CHECKS`] order.
async fn check_node(reach: &Probe, node: &NodeInfo) -> Vec<Check> {
    let object = format!("node/{}", node.name);
    let host = match resolve_address(node, &reach.preferred) {
        Ok(host) => host,
        Err(err) => {
            let types: Vec<&str> = node.addresses.iter().map(|(ty, _)| ty.as_str()).collect();
            return vec![Check::fail(
                "kubelet-address",
                object,
                format!("{err} (its addresses: {})", address_text(node)),
                format!(
                    "add one of its types to --kubelet-preferred-address-types (it has: {})",
                    types.join(",")
                ),
            )];
        }
    };
    let port = resolve_port(node, reach.port, reach.use_node_status_port);
    let dialled = match host.contains(':') {
        true => format!("[{host}]:{port}"),
        false => format!("{host}:{port}"),
    };
    let mut checks = Vec::new();
    if !reach.plain_http {
        match certificate(reach, node, host, port).await {
            Ok(verdict) => {
                let verified = matches!(
                    verdict,
                    Verdict::Verified | Verdict::VerifiedByNodeName { .. }
                );
                checks.push(match reach.insecure {
                    true => insecure_check(node, &dialled, &verdict, &reach.preferred),
                    false => tls_check(node, &dialled, &verdict, &reach.preferred),
                });
                if !verified && !reach.insecure {
                    return checks;
                }
            }
            Err(err) => {
                checks.push(reach_check(reach.in_cluster, node, &dialled, port, &err));
                return checks;
            }
        }
    }
    checks.extend(fetch(reach, node, &dialled).await);
    checks
}

async fn certificate(
    reach: &Probe,
    node: &NodeInfo,
    host: &str,
    port: u16,
) -> Result<Verdict, PeekError> {
    let bare = unbracketed(host);
    let server_name = ServerName::try_from(bare.to_owned())
        .map_err(|e| PeekError::Unreachable(format!("{bare}: {e}")))?;
    let chain = peer_cert::fetch_chain(
        bare,
        port,
        server_name,
        clone_identity(&reach.identity),
        reach.timeout,
    )
    .await?;
    Ok(judge(&chain, bare, node, &reach.roots, UnixTime::now()))
}

/// One GET through the server's kubelet client: the answer, and the clock offset.
async fn fetch(reach: &Probe, node: &NodeInfo, dialled: &str) -> Vec<Check> {
    let object = format!("node/{}", node.name);
    let fetched = match reach.client.fetch(node).await {
        Ok(fetched) => fetched,
        Err(err) => return vec![fetch_failure(node, dialled, &err)],
    };
    let path = fetched.source.path();
    match fetched.source.decode(&fetched.body, fetched.times) {
        Ok(decoded) => {
            let mut checks = vec![Check::ok(
                "kubelet-fetch",
                object,
                format!(
                    "GET {path} at {dialled}: the node and {}",
                    match decoded.batch.pods.len() {
                        1 => "1 pod".to_owned(),
                        n => format!("{n} pods"),
                    }
                ),
            )];
            if let Some(newest) = decoded.batch.newest_timestamp() {
                let offset_ns = newest.0.saturating_sub(fetched.times.received.0);
                checks.push(clock_check(&node.name, offset_ns as f64 / 1e9));
            }
            checks
        }
        Err(err) => vec![Check::fail(
            "kubelet-fetch",
            object,
            format!("GET {path} at {dialled}: the answer does not decode: {err}"),
            "the server fails this node the same way; see its log and the kubelet's version",
        )],
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use std::sync::Arc;

    /// A node with one InternalIP and the kubelet's default port.
    pub(in crate::diagnose) fn node(name: &str) -> NodeInfo {
        NodeInfo {
            name: Arc::from(name),
            addresses: vec![("InternalIP".into(), "10.0.0.1".into())],
            kubelet_port: Some(10250),
            metrics_path: None,
            labels: Default::default(),
            virtual_kind: None,
        }
    }

    #[test]
    fn virtual_nodes_are_skipped_as_the_server_skips_them() {
        let mut aci = node("aci");
        aci.virtual_kind = Some(crate::cluster::virtual_nodes::VirtualKind::VirtualKubelet);
        let (kept, skipped) = skip_virtual(vec![node("n1"), aci.clone()], true);
        assert_eq!((kept.len(), skipped), (1, vec!["aci".to_owned()]));
        let (kept, skipped) = skip_virtual(vec![node("n1"), aci], false);
        assert_eq!((kept.len(), skipped.len()), (2, 0));
    }

    #[test]
    fn a_sample_is_spread_over_the_sorted_names() {
        let nodes: Vec<NodeInfo> = (0..10).rev().map(|i| node(&format!("n{i}"))).collect();
        let names = |picked: Vec<NodeInfo>| -> Vec<String> {
            picked.iter().map(|n| n.name.to_string()).collect()
        };
        assert_eq!(names(spread(nodes.clone(), 3)), ["n0", "n3", "n6"]);
        assert_eq!(spread(nodes.clone(), 0).len(), 10);
        assert_eq!(spread(nodes, 50).len(), 10);
    }
}
