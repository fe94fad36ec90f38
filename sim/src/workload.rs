//! The ground truth of the simulated cluster: nodes, pods and containers with known true CPU
//! and memory usage, and the cumulative counters a kubelet would report for them.
//!
//! A generated node is busy but within its means: its running pods and its system overhead
//! use between 40 and 80 % of its allocatable CPU and memory when it has many pods (less when
//! it has few), never more.
//!
//! Pure (no tokio, no I/O). Built once by [`Workload::generate`], shared as `Arc<Workload>`
//! between the simulated kubelets and the simulated apiserver. The objects never change; only
//! the true usage can be overridden at run time ([`Workload::set_pod_usage`]), behind a
//! `std::sync::RwLock`. A live workload (pods that come and go, as on a real apiserver) is a
//! sequence of workloads, each derived from the previous one by [`Workload::with_live_pods`]
//! so that counters stay continuous.
//!
//! Counters follow the kubelet's `/metrics/resource` semantics (upstream spec §3.3): a
//! container's CPU counter is `rate × (t − start)` since its latest (re)start, so the rate a
//! consumer computes between two samples equals the truth up to nanosecond truncation; the node
//! counter runs from node boot and never resets. A rate change is integrated piecewise, so
//! counters stay continuous. Memory is a gauge equal to the truth.
//!
//! Node addresses: node `i` (1-based) is `127.0.<i / 250 + 1>.<i % 250 + 1>`, so node 1 is
//! `127.0.1.2`, node 249 is `127.0.1.250`, node 250 is `127.0.2.1`, node 15,000 is
//! `127.0.61.1`; never `127.0.0.x`. Linux routes all of 127.0.0.0/8 to the loopback device.

mod generate;
mod live;
mod model;
mod node_budget;
mod track;

use std::collections::HashMap;
use std::sync::{PoisonError, RwLock};

pub use self::live::{LiveContainer, LivePod};
pub use self::model::{ContainerId, PodPhase, SimContainer, SimNode, SimPod, SimTaint, TrueUsage};
use self::track::{
    RateSegment, UsageTrack, current_usage, integral, latest_start, sample_container, to_ns,
};
use metrics_server::time::Timestamp;

/// The largest cluster [`Workload::generate`] builds (limited by the address plan above).
pub const MAX_NODES: usize = 15_000;

/// The namespaces pods are spread over.
pub const NAMESPACES: [&str; 4] = ["default", "kube-system", "team-a", "team-b"];

/// What to generate.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct WorkloadSpec {
    /// Number of nodes, clamped to `1..=MAX_NODES`.
    pub nodes: usize,
    /// Pods bound to each node.
    pub pods_per_node: usize,
    /// Seed of every random choice: same seed and instant, same cluster.
    pub seed: u64,
}

/// The cluster and its true usage.
#[derive(Debug)]
pub struct Workload {
    nodes: Vec<SimNode>,
    pods: Vec<SimPod>,
    node_index: HashMap<String, usize>,
    pod_index: HashMap<(String, String), usize>,
    created: Timestamp,
    tracks: RwLock<Vec<UsageTrack>>,
    /// Per node, the CPU (millicore-nanoseconds) of pods that left it, so that the node
    /// counter never goes backwards when a live workload drops a pod.
    retired_milli_ns: Vec<u128>,
}

/// A container's state at one instant, as a kubelet would report it.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct ContainerSample {
    /// Start of the current run (moves on each restart).
    pub start: Timestamp,
    pub cpu_counter_ns: u64,
    pub usage: TrueUsage,
}

/// A node's state at one instant, with its running pods.
#[derive(Clone, Debug)]
pub struct NodeSample {
    pub at: Timestamp,
    pub cpu_counter_ns: u64,
    pub usage: TrueUsage,
    /// `(pod index, one sample per container in spec order)`, running pods only.
    pub pods: Vec<(usize, Vec<ContainerSample>)>,
}

/// The error of an override naming an unknown pod.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("no pod {namespace}/{name} in the simulated workload")]
pub struct UnknownPod {
    pub namespace: String,
    pub name: String,
}

impl Workload {
    /// A deterministic cluster whose times are relative to now.
    pub fn generate(spec: WorkloadSpec) -> Workload {
        Self::generate_at(spec, Timestamp::now())
    }

    /// A deterministic cluster whose times are relative to `now`.
    pub fn generate_at(spec: WorkloadSpec, now: Timestamp) -> Workload {
        let (nodes, pods, tracks) = generate::build(spec, now);
        let retired = vec![0; nodes.len()];
        Self::from_parts(nodes, pods, tracks, retired, now)
    }

    /// A workload of these nodes and pods, indexed by name.
    fn from_parts(
        nodes: Vec<SimNode>,
        pods: Vec<SimPod>,
        tracks: Vec<UsageTrack>,
        retired_milli_ns: Vec<u128>,
        created: Timestamp,
    ) -> Workload {
        let node_index = nodes.iter().enumerate().map(|(i, n)| (n.name.clone(), i));
        let pod_index = pods
            .iter()
            .enumerate()
            .map(|(i, p)| ((p.namespace.clone(), p.name.clone()), i));
        Workload {
            node_index: node_index.collect(),
            pod_index: pod_index.collect(),
            retired_milli_ns,
            nodes,
            pods,
            created,
            tracks: RwLock::new(tracks),
        }
    }

    /// When the workload was generated (objects' ages are relative to it).
    pub fn created(&self) -> Timestamp {
        self.created
    }

    pub fn nodes(&self) -> &[SimNode] {
        &self.nodes
    }

    pub fn pods(&self) -> &[SimPod] {
        &self.pods
    }

    pub fn node(&self, name: &str) -> Option<&SimNode> {
        self.node_index.get(name).map(|&i| &self.nodes[i])
    }

    pub fn pod(&self, namespace: &str, name: &str) -> Option<&SimPod> {
        self.pod_position(namespace, name).map(|i| &self.pods[i])
    }

    /// Index of a node in [`Workload::nodes`].
    pub fn node_position(&self, name: &str) -> Option<usize> {
        self.node_index.get(name).copied()
    }

    /// Sets a label on the node at `position` (replacing one of the same key); false if there
    /// is no such node. For setting a cluster up, before it is shared.
    pub fn label_node(&mut self, position: usize, key: &str, value: &str) -> bool {
        let Some(node) = self.nodes.get_mut(position) else {
            return false;
        };
        node.labels.retain(|(k, _)| k != key);
        node.labels.push((key.to_owned(), value.to_owned()));
        node.labels.sort();
        true
    }

    /// Adds a taint to the node at `position`; false if there is no such node.
    pub fn taint_node(&mut self, position: usize, taint: SimTaint) -> bool {
        match self.nodes.get_mut(position) {
            Some(node) => {
                node.taints.push(taint);
                true
            }
            None => false,
        }
    }

    /// The pods in phase Running.
    pub fn running_pods(&self) -> impl Iterator<Item = &SimPod> {
        self.pods.iter().filter(|p| p.phase == PodPhase::Running)
    }

    /// Every container: `(pod, container)`.
    pub fn containers(&self) -> impl Iterator<Item = (&SimPod, &SimContainer)> {
        self.pods
            .iter()
            .flat_map(|p| p.containers.iter().map(move |c| (p, c)))
    }

    /// The namespaces in use, sorted.
    pub fn namespaces(&self) -> Vec<&'static str> {
        let mut v = NAMESPACES.to_vec();
        v.sort_unstable();
        v
    }

    /// Index of a pod in [`Workload::pods`].
    pub fn pod_position(&self, namespace: &str, name: &str) -> Option<usize> {
        self.pod_index
            .get(&(namespace.to_owned(), name.to_owned()))
            .copied()
    }

    /// The id of a container, for [`Workload::cpu_counter_ns`].
    pub fn container_id(&self, namespace: &str, pod: &str, container: &str) -> Option<ContainerId> {
        let pod = self.pod(namespace, pod)?;
        pod.containers
            .iter()
            .find(|c| c.name == container)
            .map(|c| c.id)
    }

    /// True usage of each container of a pod, in spec order, with the pod total.
    pub fn pod_truth(
        &self,
        namespace: &str,
        name: &str,
    ) -> Option<(Vec<(String, TrueUsage)>, TrueUsage)> {
        let pod = self.pod(namespace, name)?;
        let tracks = self.read_tracks();
        let per: Vec<(String, TrueUsage)> = pod
            .containers
            .iter()
            .map(|c| (c.name.clone(), current_usage(&tracks[c.id.0])))
            .collect();
        let total = per
            .iter()
            .fold(TrueUsage::default(), |acc, (_, u)| acc.add(*u));
        Some((per, total))
    }

    /// True usage of a node: its running containers plus its system overhead.
    pub fn node_truth(&self, name: &str) -> Option<TrueUsage> {
        let node = self.node(name)?;
        let tracks = self.read_tracks();
        Some(self.running_containers(node).fold(node.overhead, |acc, c| {
            acc.add(current_usage(&tracks[c.id.0]))
        }))
    }

    /// Cumulative CPU of a container since its latest (re)start, at `at`.
    pub fn cpu_counter_ns(&self, id: ContainerId, at: Timestamp) -> u64 {
        let Some(c) = self.container_by_id(id) else {
            return 0;
        };
        let tracks = self.read_tracks();
        sample_container(c, &tracks[id.0], at).cpu_counter_ns
    }

    /// Start of the container's current run at `at`.
    pub fn container_start(&self, id: ContainerId, at: Timestamp) -> Option<Timestamp> {
        self.container_by_id(id).map(|c| latest_start(c, at))
    }

    fn container_by_id(&self, id: ContainerId) -> Option<&SimContainer> {
        // Containers are numbered in pod order, so a binary search on the first id finds the pod.
        let pi = self
            .pods
            .partition_point(|p| p.containers.first().is_some_and(|c| c.id.0 <= id.0));
        let pod = self.pods.get(pi.checked_sub(1)?)?;
        pod.containers.iter().find(|c| c.id == id)
    }

    /// Cumulative CPU of a node since boot, at `at`.
    pub fn node_cpu_counter_ns(&self, name: &str, at: Timestamp) -> Option<u64> {
        self.node_index
            .get(name)
            .map(|&i| self.sample_node(i, at).cpu_counter_ns)
    }

    /// Everything a kubelet reports for node `index` at `at`, under one read lock.
    pub fn sample_node(&self, index: usize, at: Timestamp) -> NodeSample {
        let node = &self.nodes[index.min(self.nodes.len() - 1)];
        let tracks = self.read_tracks();
        let since_boot = u128::try_from(at.nanos_since(node.boot).max(0)).unwrap_or(0);
        let retired = self.retired_milli_ns.get(index).copied().unwrap_or(0);
        let mut milli_ns = u128::from(node.overhead.cpu_millicores) * since_boot + retired;
        let mut usage = node.overhead;
        let mut pods = Vec::with_capacity(node.pods.len());
        for &pi in &node.pods {
            let pod = &self.pods[pi];
            // A pod whose containers start after the sample time is not known to it yet.
            let not_started = pod.containers.iter().any(|c| c.first_start > at);
            if pod.phase != PodPhase::Running || not_started {
                continue;
            }
            let samples = pod.containers.iter().map(|c| {
                let track = &tracks[c.id.0];
                milli_ns += integral(track, c.first_start, at);
                usage = usage.add(current_usage(track));
                sample_container(c, track, at)
            });
            pods.push((pi, samples.collect()));
        }
        NodeSample {
            at,
            cpu_counter_ns: to_ns(milli_ns),
            usage,
            pods,
        }
    }

    /// Overrides a pod's true usage from now on, split evenly over its containers.
    pub fn set_pod_usage(
        &self,
        namespace: &str,
        name: &str,
        cpu_millicores: u64,
        memory_bytes: u64,
    ) -> Result<(), UnknownPod> {
        self.set_pod_usage_at(
            namespace,
            name,
            cpu_millicores,
            memory_bytes,
            Timestamp::now(),
        )
    }

    /// [`Workload::set_pod_usage`] taking effect at `at` (later than any earlier override).
    pub fn set_pod_usage_at(
        &self,
        namespace: &str,
        name: &str,
        cpu_millicores: u64,
        memory_bytes: u64,
        at: Timestamp,
    ) -> Result<(), UnknownPod> {
        let pod = self.pod(namespace, name).ok_or_else(|| UnknownPod {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        })?;
        let n = pod.containers.len().max(1) as u64;
        let mut tracks = self.tracks.write().unwrap_or_else(PoisonError::into_inner);
        for (i, c) in pod.containers.iter().enumerate() {
            let first = i == 0;
            let cpu = cpu_millicores / n + if first { cpu_millicores % n } else { 0 };
            let mem = memory_bytes / n + if first { memory_bytes % n } else { 0 };
            let track = &mut tracks[c.id.0];
            track.memory_bytes = mem;
            match track.segments.last_mut() {
                Some(last) if last.from >= at => last.millicores = cpu,
                _ => track.segments.push(RateSegment {
                    from: at,
                    millicores: cpu,
                }),
            }
        }
        Ok(())
    }

    fn running_containers<'a>(
        &'a self,
        node: &'a SimNode,
    ) -> impl Iterator<Item = &'a SimContainer> {
        node.pods
            .iter()
            .map(|&i| &self.pods[i])
            .filter(|p| p.phase == PodPhase::Running)
            .flat_map(|p| p.containers.iter())
    }

    fn read_tracks(&self) -> std::sync::RwLockReadGuard<'_, Vec<UsageTrack>> {
        self.tracks.read().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests;
