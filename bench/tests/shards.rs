//! The simulated cluster split over shards (as `metrics-server-bench` splits it over processes
//! when one process's open-files limit is too small): a kubelet-only shard serves exactly its
//! nodes, and shard 0 publishes every node once, with the right kubelet port, in
//! `cluster.json` and in the API server's Node objects.

#![allow(clippy::unwrap_used, clippy::expect_used)] // helpers outside #[test] fns unwrap on test inputs

#[path = "../../tests/common/mod.rs"]
mod common;

use std::path::{Path, PathBuf};

use common::Https;
use metrics_server::pki::CertAuthority;
use metrics_server_bench::config::SimClusterArgs;
use metrics_server_bench::manifest::{ClusterManifest, KubeletAddr};
use metrics_server_bench::shard::ShardEndpoints;
use metrics_server_bench::sim_cluster;
use metrics_server_sim::workload::{Workload, WorkloadSpec};

const NODES: usize = 6;
const CREATED_MS: i64 = 1_700_000_000_000;

/// Writes a CA both shards issue from; returns (certificate, key).
fn shared_ca(dir: &Path) -> (PathBuf, PathBuf) {
    let ca = CertAuthority::new("shard-test-ca").unwrap();
    let (cert, key) = (dir.join("ca.crt"), dir.join("ca.key"));
    std::fs::write(&cert, ca.cert_pem()).unwrap();
    std::fs::write(&key, ca.key_pem()).unwrap();
    (cert, key)
}

fn shard_args(dir: &Path, shard: u32, kubelets_from: Vec<PathBuf>) -> SimClusterArgs {
    SimClusterArgs {
        nodes: NODES as u32,
        pods_per_node: 2,
        dir: dir.to_path_buf(),
        shard,
        shards: 2,
        ca_cert: Some(dir.join("ca.crt")),
        ca_key: Some(dir.join("ca.key")),
        created_ms: Some(CREATED_MS),
        kubelets_from,
    }
}

fn node_names() -> Vec<String> {
    let workload = Workload::generate(WorkloadSpec {
        nodes: NODES,
        pods_per_node: 2,
        seed: 1,
    });
    workload.nodes().iter().map(|n| n.name.clone()).collect()
}

fn names(addrs: &[KubeletAddr]) -> Vec<String> {
    addrs.iter().map(|a| a.node.clone()).collect()
}

/// The API server's URL, from the kubeconfig shard 0 wrote.
fn apiserver_url(kubeconfig: &Path) -> String {
    let text = std::fs::read_to_string(kubeconfig).unwrap();
    let line = text
        .lines()
        .find(|l| l.trim().starts_with("server:"))
        .unwrap();
    line.trim()
        .trim_start_matches("server:")
        .trim()
        .trim_matches('"')
        .to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn shards_serve_their_nodes_and_shard_zero_publishes_every_node_once() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    shared_ca(dir.path());
    let all_nodes = node_names();

    // Shard 1 of 2 serves the second half of the nodes, nothing else, and says so in its file.
    let kubelet_shard = sim_cluster::start(&shard_args(dir.path(), 1, Vec::new()))
        .await
        .unwrap();
    let served: Vec<String> = kubelet_shard
        .kubelets()
        .endpoints()
        .iter()
        .map(|e| e.node.clone())
        .collect();
    assert_eq!(served, all_nodes[NODES / 2..]);
    let written = ShardEndpoints::read(&kubelet_shard.ready_file).unwrap();
    assert_eq!(names(&written.kubelets), served);
    assert!(!dir.path().join("cluster.json").exists());

    // Shard 0 serves the first half and merges shard 1's endpoints into the manifest.
    let main_shard = sim_cluster::start(&shard_args(
        dir.path(),
        0,
        vec![kubelet_shard.ready_file.clone()],
    ))
    .await
    .unwrap();
    assert_eq!(main_shard.kubelets().endpoints().len(), NODES / 2);
    let manifest = ClusterManifest::read(&main_shard.ready_file).unwrap();
    assert_eq!(
        names(&manifest.kubelets),
        all_nodes,
        "every node once, in order"
    );
    assert_eq!(manifest.kubelets[NODES / 2..], written.kubelets[..]);

    // Every kubelet of the manifest answers for its own node, under the one shared CA.
    let https = Https::trusting(&manifest.ca);
    let bearer = format!("Bearer {}", manifest.token);
    for kubelet in &manifest.kubelets {
        let url = format!("https://{}:{}/stats/summary", kubelet.ip, kubelet.port);
        let got = https
            .get_with(&url, &[("Authorization", bearer.as_str())])
            .await;
        assert_eq!(got.status, 200, "{url}");
        let node_name = format!("{{\"node\":{{\"nodeName\":\"{}\"", kubelet.node);
        assert!(got.body.starts_with(&node_name), "{url}: {}", got.body);
    }

    // The API server publishes each node's kubelet port, shard 1's included.
    let url = format!("{}/api/v1/nodes", apiserver_url(&manifest.kubeconfig));
    let got = https
        .get_with(&url, &[("Authorization", bearer.as_str())])
        .await;
    assert_eq!(got.status, 200);
    let list: serde_json::Value = serde_json::from_str(&got.body).unwrap();
    let published: Vec<(String, u64)> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            (
                n["metadata"]["name"].as_str().unwrap().to_string(),
                n["status"]["daemonEndpoints"]["kubeletEndpoint"]["Port"]
                    .as_u64()
                    .unwrap(),
            )
        })
        .collect();
    let expected: Vec<(String, u64)> = manifest
        .kubelets
        .iter()
        .map(|k| (k.node.clone(), u64::from(k.port)))
        .collect();
    assert_eq!(published, expected);

    main_shard.shutdown().await;
    kubelet_shard.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn shard_zero_refuses_a_cluster_with_a_shard_missing() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    shared_ca(dir.path());
    let Err(err) = sim_cluster::start(&shard_args(dir.path(), 0, Vec::new())).await else {
        panic!("shard 0 started without shard 1's kubelets");
    };
    assert!(
        format!("{err:#}").contains("nodes have no kubelet"),
        "{err:#}"
    );
    assert!(!dir.path().join("cluster.json").exists());
}
