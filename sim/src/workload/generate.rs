//! Deterministic generation of the simulated cluster from a seed: node names, addresses and
//! labels, Deployment-style pod names, container counts, true usage and restart schedules.
//! Each node's usage is then fitted to its capacity (see `node_budget`).

use std::collections::HashSet;
use std::net::Ipv4Addr;

use super::node_budget;
use super::{
    ContainerId, MAX_NODES, PodPhase, RateSegment, SimContainer, SimNode, SimPod, TrueUsage,
    UsageTrack, WorkloadSpec,
};
use metrics_server::time::{NANOS_PER_SEC, Timestamp};

const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;
const ZONES: [&str; 3] = ["zone-a", "zone-b", "zone-c"];
/// The alphabet Kubernetes uses for generated name suffixes and template hashes.
const NAME_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
const DEPLOYMENTS: [(&str, &[&str]); 4] = [
    ("default", &["web", "api", "worker", "cache"]),
    (
        "kube-system",
        &["coredns", "metrics-server", "konnectivity-agent"],
    ),
    ("team-a", &["frontend", "checkout", "search"]),
    ("team-b", &["ingest", "billing", "reports"]),
];
const SIDECARS: [&str; 2] = ["sidecar", "log-shipper"];
/// One container in this many crash-loops.
const RESTART_ONE_IN: usize = 50;
const RESTART_PERIOD_NS: i64 = 600 * NANOS_PER_SEC;
/// One pod in this many has completed (phase Succeeded) and is not reported by its kubelet;
/// such pods come in addition to the requested Running pods per node.
const SUCCEEDED_ONE_IN: usize = 40;

struct Deployment {
    namespace: &'static str,
    name: &'static str,
    hash: String,
}

/// Address of node `i` (1-based): `127.0.<i/250+1>.<i%250+1>`.
pub(super) fn node_ip(i: usize) -> Ipv4Addr {
    let third = u8::try_from(i / 250 + 1).unwrap_or(u8::MAX);
    let fourth = u8::try_from(i % 250 + 1).unwrap_or(u8::MAX);
    Ipv4Addr::new(127, 0, third, fourth)
}

/// Nodes, pods (bound to nodes in order) and the initial usage of every container.
pub(super) fn build(
    spec: WorkloadSpec,
    now: Timestamp,
) -> (Vec<SimNode>, Vec<SimPod>, Vec<UsageTrack>) {
    let mut rng = fastrand::Rng::with_seed(spec.seed);
    let mut targets = node_budget::targets_rng(spec.seed);
    let deployments = deployments(&mut rng);
    let node_count = spec.nodes.clamp(1, MAX_NODES);
    let mut names = HashSet::new();
    let mut nodes = Vec::with_capacity(node_count);
    let mut pods = Vec::with_capacity(node_count * spec.pods_per_node);
    let mut tracks = Vec::with_capacity(node_count * spec.pods_per_node * 5 / 4);
    for i in 1..=node_count {
        let mut node = make_node(&mut rng, i, now);
        // `pods_per_node` counts Running pods; completed pods come on top, as in a real cluster.
        let mut running = 0;
        while running < spec.pods_per_node {
            let dep = &deployments[rng.usize(..deployments.len())];
            let pod = make_pod(
                &mut rng,
                dep,
                &mut names,
                &node,
                pods.len(),
                now,
                &mut tracks,
            );
            if matches!(pod.phase, PodPhase::Running) {
                running += 1;
            }
            node.pods.push(pods.len());
            pods.push(SimPod { node: i - 1, ..pod });
        }
        node_budget::fit_node(&mut targets, &node, &pods, &mut tracks);
        nodes.push(node);
    }
    (nodes, pods, tracks)
}

fn deployments(rng: &mut fastrand::Rng) -> Vec<Deployment> {
    DEPLOYMENTS
        .iter()
        .flat_map(|(ns, names)| names.iter().map(move |n| (*ns, *n)))
        .map(|(namespace, name)| Deployment {
            namespace,
            name,
            hash: random_name(rng, 10),
        })
        .collect()
}

fn random_name(rng: &mut fastrand::Rng, len: usize) -> String {
    (0..len)
        .map(|_| char::from(NAME_ALPHABET[rng.usize(..NAME_ALPHABET.len())]))
        .collect()
}

fn uid(rng: &mut fastrand::Rng) -> String {
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        rng.u32(..),
        rng.u16(..),
        rng.u16(..0x1000),
        rng.u16(0x8000..0xc000),
        rng.u64(..1 << 48)
    )
}

fn seconds_ago(now: Timestamp, secs: i64) -> Timestamp {
    Timestamp::from_secs(now.secs() - secs)
}

fn make_node(rng: &mut fastrand::Rng, i: usize, now: Timestamp) -> SimNode {
    let name = format!("sim-node-{i}");
    let created = seconds_ago(now, rng.i64(3_600..=172_800));
    let labels = [
        ("kubernetes.io/arch", "amd64"),
        ("kubernetes.io/hostname", name.as_str()),
        ("kubernetes.io/os", "linux"),
        ("node.kubernetes.io/instance-type", "sim.2xlarge"),
        ("topology.kubernetes.io/zone", ZONES[(i - 1) % ZONES.len()]),
    ];
    SimNode {
        uid: uid(rng),
        ip: node_ip(i),
        labels: labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        taints: Vec::new(),
        created,
        boot: Timestamp(created.0 - 20 * NANOS_PER_SEC),
        capacity: TrueUsage {
            cpu_millicores: 8_000,
            memory_bytes: 32 * GIB,
        },
        allocatable: TrueUsage {
            cpu_millicores: 7_910,
            memory_bytes: 32 * GIB - 1_124 * MIB,
        },
        overhead: TrueUsage {
            cpu_millicores: rng.u64(50..=150),
            memory_bytes: rng.u64(300 * MIB..=600 * MIB) & !4095,
        },
        sample_lag_ms: rng.i64(0..2_000),
        pods: Vec::new(),
        name,
    }
}

fn container_count(pod_index: usize) -> usize {
    match pod_index {
        i if i % 29 == 5 => 3,
        i if i % 7 == 3 => 2,
        _ => 1,
    }
}

fn make_pod(
    rng: &mut fastrand::Rng,
    dep: &Deployment,
    names: &mut HashSet<String>,
    node: &SimNode,
    pod_index: usize,
    now: Timestamp,
    tracks: &mut Vec<UsageTrack>,
) -> SimPod {
    let name = loop {
        let candidate = format!("{}-{}-{}", dep.name, dep.hash, random_name(rng, 5));
        if names.insert(format!("{}/{candidate}", dep.namespace)) {
            break candidate;
        }
    };
    let node_age = now.secs() - node.created.secs();
    let created = seconds_ago(now, rng.i64(300..=node_age.max(301) - 1));
    let containers = (0..container_count(pod_index))
        .map(|k| make_container(rng, k, dep.name, created, tracks))
        .collect();
    SimPod {
        namespace: dep.namespace.to_owned(),
        uid: uid(rng),
        labels: vec![
            ("app".to_owned(), dep.name.to_owned()),
            ("pod-template-hash".to_owned(), dep.hash.clone()),
        ],
        node: 0,
        created,
        phase: if pod_index % SUCCEEDED_ONE_IN == SUCCEEDED_ONE_IN - 1 {
            PodPhase::Succeeded
        } else {
            PodPhase::Running
        },
        containers,
        name,
    }
}

fn make_container(
    rng: &mut fastrand::Rng,
    k: usize,
    app: &str,
    pod_created: Timestamp,
    tracks: &mut Vec<UsageTrack>,
) -> SimContainer {
    let id = ContainerId(tracks.len());
    let first_start = Timestamp(pod_created.0 + rng.i64(NANOS_PER_SEC..6 * NANOS_PER_SEC));
    let millicores = rng.u64(1..=500);
    tracks.push(UsageTrack {
        segments: vec![RateSegment {
            from: first_start,
            millicores,
        }],
        memory_bytes: rng.u64(10 * MIB..=500 * MIB) & !4095,
    });
    SimContainer {
        name: if k == 0 {
            app.to_owned()
        } else {
            SIDECARS[(k - 1) % 2].to_owned()
        },
        first_start,
        restart_every_ns: (id.0 % RESTART_ONE_IN == RESTART_ONE_IN / 3)
            .then_some(RESTART_PERIOD_NS),
        request: TrueUsage {
            cpu_millicores: [50, 100, 200, 250][rng.usize(..4)],
            memory_bytes: [64, 128, 256][rng.usize(..3)] * MIB,
        },
        id,
    }
}
