//! `metrics-server diagnose`'s kubelet checks against simulated kubelets on loopback, with the
//! server's own flags: a healthy node, a kubelet whose certificate has no IP SAN (reissued
//! while it runs), a clock two minutes ahead, a CA that did not issue the certificates, a
//! token the kubelet refuses, a port where nothing listens and a kubelet that never answers.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::sync::Arc;

use clap::Parser;
use metrics_server::cluster::NodeInfo;
use metrics_server::config::{Cli, Command, Config};
use metrics_server::diagnose::kubelets::Probe;
use metrics_server::diagnose::report::{Check, Status};
use metrics_server::pki::CertAuthority;
use metrics_server_sim::kubelet::{
    Fault, KubeletFleet, KubeletOptions, ServingNames, spawn_kubelets,
};
use metrics_server_sim::workload::{Workload, WorkloadSpec};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

const TOKEN: &str = "kubelet-token";

struct Kubelets {
    fleet: KubeletFleet,
    nodes: Vec<NodeInfo>,
    ca_file: tempfile::NamedTempFile,
}

async fn kubelets(count: usize) -> Kubelets {
    let workload = Workload::generate(WorkloadSpec {
        nodes: count,
        pods_per_node: 1,
        seed: 7,
    });
    let ca = Arc::new(CertAuthority::new("sim-kubelet-ca").unwrap());
    let options = KubeletOptions {
        ca: ca.clone(),
        required_bearer_token: Some(TOKEN.to_owned()),
        resource_endpoint_404: false,
    };
    let fleet = spawn_kubelets(Arc::new(workload), options).await.unwrap();
    let nodes = fleet
        .endpoints()
        .iter()
        .map(|e| NodeInfo {
            name: Arc::from(e.node.as_str()),
            addresses: vec![
                ("InternalIP".to_owned(), e.ip.to_string()),
                ("Hostname".to_owned(), e.node.clone()),
            ],
            kubelet_port: Some(e.port),
            metrics_path: None,
            labels: Default::default(),
            virtual_kind: None,
        })
        .collect();
    let ca_file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(ca_file.path(), ca.cert_pem()).unwrap();
    Kubelets {
        fleet,
        nodes,
        ca_file,
    }
}

/// The server's config from `flags`, as `metrics-server diagnose FLAGS` parses them.
fn config(flags: &[&str]) -> Config {
    let args = ["metrics-server", "diagnose"].iter().chain(flags);
    let Some(Command::Diagnose(args)) = Cli::try_parse_from(args).unwrap().command else {
        panic!("not diagnose");
    };
    args.serve.validate().unwrap()
}

fn flags<'a>(ca: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut all = vec![
        "--kubelet-certificate-authority",
        ca,
        "--kubelet-use-node-status-port",
        "--kubelet-preferred-address-types=InternalIP,Hostname",
        "--kubelet-metrics-source=resource",
    ];
    all.extend_from_slice(extra);
    all
}

fn api(token: &str) -> kube::Config {
    let mut api = kube::Config::new("https://127.0.0.1:1".parse().unwrap());
    api.auth_info.token = Some(token.to_owned().into());
    api
}

fn line<'a>(checks: &'a [Check], check: &str, node: &str) -> &'a Check {
    let object = format!("node/{node}");
    checks
        .iter()
        .find(|c| c.check == check && c.object == object)
        .unwrap_or_else(|| panic!("no {check} line for {node}: {checks:#?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_a_kubelet_without_an_ip_san_and_a_skewed_clock() {
    let k = kubelets(3).await;
    let names: Vec<String> = k.nodes.iter().map(|n| n.name.to_string()).collect();
    assert!(k.fleet.set_clock_skew(&names[1], 120_000));
    let reissued = k
        .fleet
        .serving_certs()
        .reissue(&names[2], ServingNames::NameOnly);
    assert!(reissued.unwrap());
    let ca = k.ca_file.path().to_str().unwrap().to_owned();
    let probe = Probe::new(&config(&flags(&ca, &[])), &api(TOKEN), false).unwrap();
    let checks = probe.check_nodes(&k.nodes).await;

    assert!(
        checks.iter().all(|c| c.status != Status::Fail),
        "{checks:#?}"
    );
    assert_eq!(line(&checks, "kubelet-tls", &names[0]).status, Status::Ok);
    for name in &names {
        let fetched = line(&checks, "kubelet-fetch", name);
        assert_eq!(fetched.status, Status::Ok, "{fetched:?}");
        assert!(
            fetched.cause.contains("GET /metrics/resource"),
            "{}",
            fetched.cause
        );
    }
    let no_ip_san = line(&checks, "kubelet-tls", &names[2]);
    assert_eq!(no_ip_san.status, Status::Warn);
    assert!(
        no_ip_san.cause.contains("has no IP SAN"),
        "{}",
        no_ip_san.cause
    );
    let fix = no_ip_san.fix.as_deref().unwrap();
    assert!(
        fix.contains("--kubelet-preferred-address-types=Hostname,InternalIP"),
        "{fix}"
    );
    assert_eq!(line(&checks, "node-clock", &names[0]).status, Status::Ok);
    let skewed = line(&checks, "node-clock", &names[1]);
    assert_eq!(skewed.status, Status::Warn);
    assert!(
        skewed.cause.contains("s ahead of this machine's clock"),
        "{}",
        skewed.cause
    );

    // Back to a certificate with the IP: the warning goes.
    let restored = k
        .fleet
        .serving_certs()
        .reissue(&names[2], ServingNames::NameAndIp);
    assert!(restored.unwrap());
    let checks = probe.check_nodes(&k.nodes[2..]).await;
    assert_eq!(line(&checks, "kubelet-tls", &names[2]).status, Status::Ok);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_ca_fails_every_node_and_names_the_issuer() {
    let k = kubelets(2).await;
    let other = tempfile::NamedTempFile::new().unwrap();
    let other_ca = CertAuthority::new("cluster-ca").unwrap();
    std::fs::write(other.path(), other_ca.cert_pem()).unwrap();
    let ca = other.path().to_str().unwrap().to_owned();
    let probe = Probe::new(&config(&flags(&ca, &[])), &api(TOKEN), false).unwrap();
    let checks = probe.check_nodes(&k.nodes).await;
    for node in &k.nodes {
        let tls = line(&checks, "kubelet-tls", &node.name);
        assert_eq!(tls.status, Status::Fail);
        assert!(
            tls.cause.contains("issued by CN=sim-kubelet-ca")
                && tls.cause.contains("CN=cluster-ca"),
            "{}",
            tls.cause
        );
        assert!(tls.fix.as_deref().unwrap().starts_with(
            "pass CN=sim-kubelet-ca's certificate with --kubelet-certificate-authority"
        ));
    }
    assert!(
        !checks.iter().any(|c| c.check == "kubelet-fetch"),
        "no request is sent to a kubelet that does not verify: {checks:#?}"
    );

    // With --kubelet-insecure-tls the same finding is a warning saying what would fail.
    let insecure = config(&[
        "--kubelet-insecure-tls",
        "--kubelet-use-node-status-port",
        "--kubelet-preferred-address-types=InternalIP",
    ]);
    let mut api = api(TOKEN);
    let der = CertificateDer::from_pem_slice(other_ca.cert_pem().as_bytes()).unwrap();
    api.root_cert = Some(vec![der.to_vec()]);
    let probe = Probe::new(&insecure, &api, false).unwrap();
    let checks = probe.check_nodes(&k.nodes).await;
    assert!(
        checks.iter().all(|c| c.status != Status::Fail),
        "{checks:#?}"
    );
    let tls = line(&checks, "kubelet-tls", &k.nodes[0].name);
    assert!(
        tls.cause.contains("verification would fail"),
        "{}",
        tls.cause
    );
    assert!(
        checks
            .iter()
            .any(|c| c.object == "flags/--kubelet-insecure-tls")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_tokens_closed_ports_and_hung_kubelets_are_told_apart() {
    let k = kubelets(3).await;
    let ca = k.ca_file.path().to_str().unwrap().to_owned();
    let names: Vec<String> = k.nodes.iter().map(|n| n.name.to_string()).collect();
    assert!(k.fleet.set_fault(&names[1], Fault::Hang));
    let mut nodes = k.nodes.clone();
    let closed = tokio::net::TcpListener::bind((nodes[2].addresses[0].1.as_str(), 0))
        .await
        .unwrap();
    nodes[2].kubelet_port = Some(closed.local_addr().unwrap().port());
    drop(closed);
    let cfg = config(&flags(&ca, &["--kubelet-request-timeout=1s"]));
    let probe = Probe::new(&cfg, &api("not-the-token"), false).unwrap();
    let checks = probe.check_nodes(&nodes).await;

    let unauthorized = line(&checks, "kubelet-fetch", &names[0]);
    assert_eq!(unauthorized.status, Status::Warn);
    assert!(
        unauthorized.cause.contains("401 Unauthorized"),
        "{}",
        unauthorized.cause
    );
    let hung = line(&checks, "kubelet-fetch", &names[1]);
    assert_eq!(hung.status, Status::Fail);
    assert!(hung.cause.contains("no answer within 1s"), "{}", hung.cause);
    let refused = line(&checks, "kubelet-reach", &names[2]);
    assert_eq!(refused.status, Status::Fail);
    assert!(
        refused.cause.contains("connection refused"),
        "{}",
        refused.cause
    );
}
