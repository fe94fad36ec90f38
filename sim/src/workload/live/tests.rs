use super::*;
use crate::workload::WorkloadSpec;
use metrics_server::time::NANOS_PER_SEC;

const NOW: Timestamp = Timestamp(1_780_000_000 * NANOS_PER_SEC);
const MIB: u64 = 1 << 20;

fn secs(s: i64) -> Timestamp {
    Timestamp(NOW.0 + s * NANOS_PER_SEC)
}

fn nodes_only(n: usize) -> Workload {
    Workload::generate_at(
        WorkloadSpec {
            nodes: n,
            pods_per_node: 0,
            seed: 5,
        },
        NOW,
    )
}

fn usage(cpu_millicores: u64, memory_mib: u64) -> TrueUsage {
    TrueUsage {
        cpu_millicores,
        memory_bytes: memory_mib * MIB,
    }
}

fn pod(name: &str, node: &str, started: Timestamp, cpu: &[u64]) -> LivePod {
    LivePod {
        namespace: "default".into(),
        name: name.into(),
        uid: format!("uid-{name}"),
        labels: vec![("app".into(), "web".into())],
        node: node.into(),
        started,
        containers: cpu
            .iter()
            .enumerate()
            .map(|(i, &c)| LiveContainer {
                name: format!("c{i}"),
                request: usage(100, 64),
                usage: usage(c, 32),
                disk: Default::default(),
            })
            .collect(),
        empty_dir_bytes: 0,
    }
}

fn counter(w: &Workload, pod: &str, container: &str, at: Timestamp) -> u64 {
    let id = w.container_id("default", pod, container).unwrap();
    w.cpu_counter_ns(id, at)
}

#[test]
fn live_pods_run_on_their_nodes_and_unknown_nodes_are_ignored() {
    let w = nodes_only(2).with_live_pods(
        &[
            pod("a", "sim-node-1", secs(0), &[100]),
            pod("b", "sim-node-2", secs(0), &[50, 20]),
            pod("lost", "elsewhere", secs(0), &[10]),
        ],
        secs(0),
    );
    assert_eq!(w.running_pods().count(), 2);
    assert!(w.pod("default", "lost").is_none());
    let b = w.pod("default", "b").unwrap();
    assert_eq!(w.nodes()[b.node].name, "sim-node-2");
    assert_eq!(w.pod_truth("default", "b").unwrap().1, usage(70, 64));
    assert_eq!(counter(&w, "a", "c0", secs(10)), 1_000_000_000);
}

#[test]
fn a_kept_pod_keeps_its_counter_and_a_new_usage_applies_from_the_change_on() {
    let first = nodes_only(1).with_live_pods(&[pod("a", "sim-node-1", secs(0), &[100])], secs(0));
    let second = first.with_live_pods(&[pod("a", "sim-node-1", secs(0), &[300])], secs(10));
    // 10 s at 100m, then 5 s at 300m.
    assert_eq!(counter(&second, "a", "c0", secs(15)), 2_500_000_000);
    assert_eq!(second.pod_truth("default", "a").unwrap().1, usage(300, 32));
}

#[test]
fn the_node_counter_never_goes_back_when_a_pod_leaves() {
    let first = nodes_only(1).with_live_pods(
        &[
            pod("a", "sim-node-1", secs(0), &[500]),
            pod("b", "sim-node-1", secs(0), &[100]),
        ],
        secs(0),
    );
    let before = first.sample_node(0, secs(20)).cpu_counter_ns;
    let second = first.with_live_pods(&[pod("b", "sim-node-1", secs(0), &[100])], secs(20));
    let after = second.sample_node(0, secs(20)).cpu_counter_ns;
    assert_eq!(after, before);
    let overhead = second.nodes()[0].overhead.cpu_millicores;
    let later = second.sample_node(0, secs(30)).cpu_counter_ns;
    assert_eq!(later - after, (100 + overhead) * 10_000_000);
    assert_eq!(second.sample_node(0, secs(30)).pods.len(), 1);
}

#[test]
fn a_pod_is_not_reported_before_its_containers_start() {
    let w = nodes_only(1).with_live_pods(&[pod("a", "sim-node-1", secs(5), &[100])], secs(5));
    assert!(w.sample_node(0, secs(4)).pods.is_empty());
    assert_eq!(w.sample_node(0, secs(6)).pods.len(), 1);
}
