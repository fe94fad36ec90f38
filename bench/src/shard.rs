//! Splitting the simulated cluster over several `sim-cluster` processes. Each simulated kubelet
//! costs its process about three file descriptors (its listener, the server's connection and
//! the raw fetcher's), so one process under a 20,000 hard open-files limit tops out near 6,000
//! nodes. Every shard generates the same workload and serves the kubelets of a contiguous range
//! of its nodes; the kubelet-only shards write their endpoints to a file
//! ([`ShardEndpoints`]), which shard 0 merges ([`merge_endpoints`]) before it starts the API
//! server that publishes every node's address and kubelet port.

use std::collections::HashMap;
use std::ops::Range;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::manifest::KubeletAddr;
use metrics_server_sim::workload::Workload;

/// The most nodes one simulator process serves, whatever its open-files limit allows: keeps
/// each process well under the limit and its certificate issuing short.
pub const MAX_NODES_PER_SIMULATOR: u32 = 4000;

/// Descriptors a simulator process holds per node: listener, server and raw-fetch connections.
pub const FILES_PER_SIMULATED_NODE: u64 = 3;

/// Descriptors any bench process needs besides its per-node ones (API clients, the load
/// generator's connections, logs, the runtime).
pub const FILES_RESERVE: u64 = 1000;

/// How many simulator processes `nodes` nodes need under the hard open-files limit
/// (`None`: unlimited or unknown).
pub fn shards_for(nodes: u32, hard_limit: Option<u64>) -> u32 {
    let by_files = hard_limit.map_or(u64::MAX, |hard| {
        (hard.saturating_sub(FILES_RESERVE) / FILES_PER_SIMULATED_NODE).max(1)
    });
    let per_process = u64::from(MAX_NODES_PER_SIMULATOR).min(by_files);
    let shards = u64::from(nodes).div_ceil(per_process).max(1);
    u32::try_from(shards).unwrap_or(u32::MAX)
}

/// Descriptors each kind of bench process needs for `nodes` nodes over `shards` simulator
/// processes: a simulator process three per node it serves, the server (and the raw fetcher)
/// one connection per kubelet; each plus [`FILES_RESERVE`].
pub fn files_needed(nodes: u32, shards: u32) -> [(&'static str, u64); 2] {
    let per_simulator = u64::from(nodes.div_ceil(shards.max(1)));
    [
        (
            "simulator",
            per_simulator * FILES_PER_SIMULATED_NODE + FILES_RESERVE,
        ),
        ("server", u64::from(nodes) + FILES_RESERVE),
    ]
}

/// Positions of the nodes shard `shard` of `shards` serves: a contiguous range, the ranges of
/// all shards covering `0..nodes` once (sizes differ by at most one).
pub fn node_positions(nodes: usize, shard: u32, shards: u32) -> Range<usize> {
    let shards = u64::from(shards.max(1));
    let shard = u64::from(shard).min(shards);
    let bound = |k: u64| usize::try_from(k * nodes as u64 / shards).unwrap_or(nodes);
    bound(shard)..bound(shard + 1)
}

/// What a kubelet-only shard tells shard 0: where its kubelets listen.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ShardEndpoints {
    pub shard: u32,
    pub shards: u32,
    pub kubelets: Vec<KubeletAddr>,
}

impl ShardEndpoints {
    /// The file shard `shard` writes into the work directory.
    pub fn file_name(shard: u32) -> String {
        format!("kubelets-{shard}.json")
    }

    pub fn write(&self, path: &Path) -> anyhow::Result<()> {
        super::manifest::write_json(self, path)
    }

    pub fn read(path: &Path) -> anyhow::Result<Self> {
        super::manifest::read_json(path)
    }
}

/// Why the shards' endpoints do not describe the cluster.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MergeError {
    #[error("node {0} is served by two shards")]
    Duplicate(String),
    #[error("node {0} is not in the workload")]
    Unknown(String),
    #[error("{missing} nodes have no kubelet (the first is {first}); is a shard missing?")]
    Missing { missing: usize, first: String },
}

/// Every node's kubelet, in workload order, from the shards' endpoint lists: each node of
/// `workload` must appear exactly once.
pub fn merge_endpoints(
    workload: &Workload,
    parts: impl IntoIterator<Item = Vec<KubeletAddr>>,
) -> Result<Vec<KubeletAddr>, MergeError> {
    let mut by_node: HashMap<String, KubeletAddr> = HashMap::new();
    for addr in parts.into_iter().flatten() {
        if workload.node(&addr.node).is_none() {
            return Err(MergeError::Unknown(addr.node));
        }
        if by_node.contains_key(&addr.node) {
            return Err(MergeError::Duplicate(addr.node));
        }
        by_node.insert(addr.node.clone(), addr);
    }
    let missing: Vec<&str> = workload
        .nodes()
        .iter()
        .map(|n| n.name.as_str())
        .filter(|name| !by_node.contains_key(*name))
        .collect();
    if let Some(first) = missing.first() {
        return Err(MergeError::Missing {
            missing: missing.len(),
            first: (*first).to_string(),
        });
    }
    Ok(workload
        .nodes()
        .iter()
        .filter_map(|n| by_node.remove(&n.name))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use metrics_server_sim::workload::WorkloadSpec;
    use std::net::{IpAddr, Ipv4Addr};

    #[test]
    fn shard_count_follows_nodes_and_the_files_limit() {
        let hard = Some(20_000);
        assert_eq!(shards_for(200, hard), 1);
        assert_eq!(shards_for(4000, hard), 1);
        assert_eq!(shards_for(5000, hard), 2);
        assert_eq!(shards_for(15_000, hard), 4);
        assert_eq!(shards_for(15_000, None), 4);
        // A low limit: (4,000 - 1,000) / 3 = 1,000 nodes a process.
        assert_eq!(shards_for(2500, Some(4000)), 3);
        assert_eq!(shards_for(10, Some(10)), 10);
    }

    #[test]
    fn the_chosen_shard_count_fits_under_the_files_limit() {
        let fits = |nodes, hard| {
            files_needed(nodes, shards_for(nodes, Some(hard)))
                .iter()
                .all(|&(_, needed)| needed <= hard)
        };
        assert!(fits(15_000, 20_000));
        assert!(fits(6000, 4000 + 6000));
        // One process for 15,000 kubelets would not fit; the server alone past 19,000 nodes.
        assert!(files_needed(15_000, 1)[0].1 > 20_000);
        assert!(!fits(19_500, 20_000));
    }

    #[test]
    fn shards_cover_every_node_once() {
        for (nodes, shards) in [(6, 2), (7, 3), (600, 3), (15_000, 4), (2, 3)] {
            let ranges: Vec<_> = (0..shards)
                .map(|s| node_positions(nodes, s, shards))
                .collect();
            assert_eq!(ranges[0].start, 0);
            assert_eq!(ranges[ranges.len() - 1].end, nodes);
            for pair in ranges.windows(2) {
                assert_eq!(pair[0].end, pair[1].start, "{nodes} nodes, {shards} shards");
            }
            let sizes: Vec<_> = ranges.iter().map(|r| r.len()).collect();
            let spread = sizes.iter().max().unwrap_or(&0) - sizes.iter().min().unwrap_or(&0);
            assert!(spread <= 1, "{sizes:?}");
        }
    }

    fn addr(node: &str, port: u16) -> KubeletAddr {
        KubeletAddr {
            node: node.to_string(),
            ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port,
        }
    }

    fn workload(nodes: usize) -> Workload {
        Workload::generate(WorkloadSpec {
            nodes,
            pods_per_node: 1,
            seed: 1,
        })
    }

    #[test]
    fn merge_puts_every_node_once_in_workload_order() {
        let w = workload(4);
        let names: Vec<&str> = w.nodes().iter().map(|n| n.name.as_str()).collect();
        let merged = merge_endpoints(
            &w,
            [
                vec![addr(names[2], 3), addr(names[3], 4)],
                vec![addr(names[0], 1), addr(names[1], 2)],
            ],
        )
        .unwrap();
        let got: Vec<_> = merged.iter().map(|a| (a.node.as_str(), a.port)).collect();
        assert_eq!(
            got,
            vec![(names[0], 1), (names[1], 2), (names[2], 3), (names[3], 4)]
        );
    }

    #[test]
    fn merge_rejects_missing_duplicate_and_unknown_nodes() {
        let w = workload(3);
        let names: Vec<&str> = w.nodes().iter().map(|n| n.name.as_str()).collect();
        assert_eq!(
            merge_endpoints(&w, [vec![addr(names[0], 1)]]),
            Err(MergeError::Missing {
                missing: 2,
                first: names[1].to_string()
            })
        );
        assert_eq!(
            merge_endpoints(&w, [vec![addr(names[0], 1)], vec![addr(names[0], 2)]]),
            Err(MergeError::Duplicate(names[0].to_string()))
        );
        assert_eq!(
            merge_endpoints(&w, [vec![addr("no-such-node", 1)]]),
            Err(MergeError::Unknown("no-such-node".to_string()))
        );
    }
}
