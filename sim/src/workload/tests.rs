use super::*;
use metrics_server::time::NANOS_PER_SEC;
use std::net::Ipv4Addr;

const NOW: Timestamp = Timestamp(1_780_000_000 * NANOS_PER_SEC);

fn spec(nodes: usize, pods_per_node: usize, seed: u64) -> WorkloadSpec {
    WorkloadSpec {
        nodes,
        pods_per_node,
        seed,
    }
}

fn secs(s: i64) -> Timestamp {
    Timestamp(NOW.0 + s * NANOS_PER_SEC)
}

#[test]
fn same_seed_same_cluster_other_seed_other_names() {
    let a = Workload::generate_at(spec(4, 10, 7), NOW);
    let b = Workload::generate_at(spec(4, 10, 7), NOW);
    let c = Workload::generate_at(spec(4, 10, 8), NOW);
    let names = |w: &Workload| w.pods().iter().map(|p| p.name.clone()).collect::<Vec<_>>();
    assert_eq!(names(&a), names(&b));
    assert_ne!(names(&a), names(&c));
    for (pa, pb) in a.pods().iter().zip(b.pods()) {
        assert_eq!(pa.uid, pb.uid);
        assert_eq!(
            a.pod_truth(&pa.namespace, &pa.name),
            b.pod_truth(&pb.namespace, &pb.name)
        );
    }
}

#[test]
fn nodes_have_unique_loopback_addresses_never_127_0_0_x() {
    let w = Workload::generate_at(spec(MAX_NODES, 0, 1), NOW);
    assert_eq!(w.nodes().len(), MAX_NODES);
    let ips: std::collections::HashSet<_> = w.nodes().iter().map(|n| n.ip).collect();
    assert_eq!(ips.len(), MAX_NODES);
    assert!(w.nodes().iter().all(|n| n.ip.octets()[..3] != [127, 0, 0]));
    assert_eq!(w.nodes()[0].ip, Ipv4Addr::new(127, 0, 1, 2));
    assert_eq!(
        w.node("sim-node-250").map(|n| n.ip),
        Some(Ipv4Addr::new(127, 0, 2, 1))
    );
}

#[test]
fn pods_look_like_deployment_pods_spread_over_namespaces() {
    let w = Workload::generate_at(spec(3, 40, 3), NOW);
    assert_eq!(
        w.running_pods().count(),
        120,
        "pods_per_node counts Running pods"
    );
    assert!(w.pods().len() > 120, "completed pods come on top");
    for ns in NAMESPACES {
        assert!(w.pods().iter().any(|p| p.namespace == ns), "{ns}");
    }
    for (i, p) in w.pods().iter().enumerate() {
        let parts: Vec<&str> = p.name.rsplitn(3, '-').collect();
        assert_eq!(parts[0].len(), 5, "{}", p.name);
        assert_eq!(
            p.labels[1],
            ("pod-template-hash".to_owned(), parts[1].to_owned())
        );
        assert_eq!(p.labels[0], ("app".to_owned(), parts[2].to_owned()));
        assert!(p.created <= secs(-300), "pods are at least 5 minutes old");
        assert!(w.nodes()[p.node].pods.contains(&i));
    }
    let multi = w.pods().iter().filter(|p| p.containers.len() >= 2).count();
    assert!((3..60).contains(&multi), "{multi} multi-container pods");
    assert!(w.pods().iter().any(|p| p.phase == PodPhase::Succeeded));
}

#[test]
fn container_counter_advances_at_exactly_the_true_rate() {
    let w = Workload::generate_at(spec(2, 5, 11), NOW);
    for (pod, c) in w.containers().filter(|(_, c)| c.restart_every_ns.is_none()) {
        let (per, _) = w.pod_truth(&pod.namespace, &pod.name).unwrap_or_default();
        let truth = per
            .iter()
            .find(|(n, _)| *n == c.name)
            .map(|(_, u)| *u)
            .unwrap_or_default();
        let t0 = w.cpu_counter_ns(c.id, secs(0));
        let t1 = w.cpu_counter_ns(c.id, secs(10));
        assert_eq!(t1 - t0, truth.cpu_millicores * 10_000_000, "{}", c.name);
        let since_start = u64::try_from(secs(0).nanos_since(c.first_start)).unwrap_or(0);
        assert_eq!(t0, truth.cpu_millicores * since_start / 1000);
    }
}

#[test]
fn node_counter_is_overhead_plus_running_containers_and_never_resets() {
    let w = Workload::generate_at(spec(2, 60, 5), NOW);
    for node in w.nodes() {
        let truth = w.node_truth(&node.name).unwrap_or_default();
        let a = w.node_cpu_counter_ns(&node.name, secs(0)).unwrap_or(0);
        let b = w.node_cpu_counter_ns(&node.name, secs(1_800)).unwrap_or(0);
        assert_eq!(b - a, truth.cpu_millicores * 1_800_000_000);
        let s = w.sample_node(
            w.nodes()
                .iter()
                .position(|n| n.name == node.name)
                .unwrap_or(0),
            secs(0),
        );
        let running: usize = node
            .pods
            .iter()
            .filter(|&&i| w.pods()[i].phase == PodPhase::Running)
            .count();
        assert_eq!(s.pods.len(), running);
        assert_eq!(s.usage, truth);
    }
}

#[test]
fn restart_resets_the_counter_and_moves_the_start_time() {
    let w = Workload::generate_at(spec(2, 30, 9), NOW);
    let (_, c) = w
        .containers()
        .find(|(_, c)| c.restart_every_ns.is_some())
        .unwrap();
    let period = c.restart_every_ns.unwrap_or(1);
    let before = w.container_start(c.id, secs(0)).unwrap();
    assert!(secs(0).nanos_since(before) < period);
    let next = Timestamp(before.0 + period);
    assert_eq!(w.container_start(c.id, Timestamp(next.0 + 1)), Some(next));
    assert_eq!(w.cpu_counter_ns(c.id, next), 0);
    assert!(w.cpu_counter_ns(c.id, Timestamp(next.0 - NANOS_PER_SEC)) > 0);
    assert!(w.cpu_counter_ns(c.id, Timestamp(next.0 + NANOS_PER_SEC)) > 0);
}

#[test]
fn set_pod_usage_changes_the_rate_and_keeps_the_counter_continuous() {
    let w = Workload::generate_at(spec(1, 10, 2), NOW);
    let pod = w
        .pods()
        .iter()
        .find(|p| {
            p.containers.len() == 2 && p.containers.iter().all(|c| c.restart_every_ns.is_none())
        })
        .unwrap()
        .clone();
    let id = pod.containers[0].id;
    let before = w.cpu_counter_ns(id, secs(5));
    w.set_pod_usage_at(&pod.namespace, &pod.name, 1_001, 300 * 1024 * 1024, secs(5))
        .unwrap();
    assert_eq!(
        w.cpu_counter_ns(id, secs(5)),
        before,
        "no jump at the change"
    );
    let (per, total) = w.pod_truth(&pod.namespace, &pod.name).unwrap();
    assert_eq!(total.cpu_millicores, 1_001);
    assert_eq!(total.memory_bytes, 300 * 1024 * 1024);
    assert_eq!(per[0].1.cpu_millicores, 501);
    assert_eq!(w.cpu_counter_ns(id, secs(15)) - before, 501 * 10_000_000);
    let err = w.set_pod_usage("default", "nope", 1, 1).unwrap_err();
    assert_eq!(
        err.to_string(),
        "no pod default/nope in the simulated workload"
    );
}

/// `top node` never shows a generated node over its capacity: its pods and overhead stay
/// within 80 % of allocatable CPU and memory, however many pods it runs.
#[test]
fn generated_nodes_use_at_most_80_percent_of_what_they_have() {
    for (nodes, pods_per_node, seed) in [(200, 30, 1), (200, 30, 42), (50, 1, 3), (50, 5, 4)] {
        let w = Workload::generate_at(spec(nodes, pods_per_node, seed), NOW);
        assert_within_means(&w);
    }
    for (nodes, pods_per_node) in [(10, 110), (4, 500), (2, 2_000)] {
        let w = Workload::generate_at(spec(nodes, pods_per_node, 9), NOW);
        assert_within_means(&w);
    }
}

fn assert_within_means(w: &Workload) {
    for node in w.nodes() {
        let used = w.node_truth(&node.name).unwrap_or_default();
        assert!(
            used.cpu_millicores <= node.capacity.cpu_millicores
                && used.memory_bytes <= node.capacity.memory_bytes,
            "{} uses {used:?} of {:?}",
            node.name,
            node.capacity
        );
        assert!(
            used.cpu_millicores * 100 <= node.allocatable.cpu_millicores * 80,
            "{}: {}m of {}m allocatable",
            node.name,
            used.cpu_millicores,
            node.allocatable.cpu_millicores
        );
        assert!(
            used.memory_bytes * 100 <= node.allocatable.memory_bytes * 80,
            "{}: {} of {} bytes allocatable",
            node.name,
            used.memory_bytes,
            node.allocatable.memory_bytes
        );
    }
}

/// Busy nodes are not all alike (each draws its own load), and lightly loaded nodes keep
/// small pods' usage: a pod's CPU is never scaled to nothing.
#[test]
fn busy_nodes_differ_and_every_container_keeps_some_usage() {
    let w = Workload::generate_at(spec(20, 30, 1), NOW);
    let loads: std::collections::BTreeSet<u64> = w
        .nodes()
        .iter()
        .map(|n| w.node_truth(&n.name).unwrap_or_default().cpu_millicores * 100 / 7_910)
        .collect();
    assert!(loads.len() >= 10, "node CPU loads in %: {loads:?}");
    assert!(loads.iter().all(|&l| (35..=80).contains(&l)), "{loads:?}");
    for pod in w.running_pods() {
        let (per, _) = w.pod_truth(&pod.namespace, &pod.name).unwrap_or_default();
        assert!(
            per.iter()
                .all(|(_, u)| u.cpu_millicores >= 1 && u.memory_bytes >= 4096),
            "{}: {per:?}",
            pod.name
        );
    }
}
