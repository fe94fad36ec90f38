//! The objects of the simulated cluster: nodes, pods, containers and their true usage.

use std::net::Ipv4Addr;

use metrics_server::time::Timestamp;

/// True usage: a CPU rate and a memory working set.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct TrueUsage {
    pub cpu_millicores: u64,
    pub memory_bytes: u64,
}

impl TrueUsage {
    /// The CPU rate in nanocores (the unit of the Metrics API).
    pub fn cpu_nanocores(self) -> u64 {
        self.cpu_millicores * 1_000_000
    }

    pub(crate) fn add(self, other: TrueUsage) -> TrueUsage {
        TrueUsage {
            cpu_millicores: self.cpu_millicores + other.cpu_millicores,
            memory_bytes: self.memory_bytes + other.memory_bytes,
        }
    }
}

/// A simulated node.
#[derive(Clone, Debug)]
pub struct SimNode {
    pub name: String,
    pub uid: String,
    pub ip: Ipv4Addr,
    /// Sorted by key.
    pub labels: Vec<(String, String)>,
    /// `spec.taints` (none on a generated node).
    pub taints: Vec<SimTaint>,
    pub created: Timestamp,
    /// Boot time: the node CPU counter starts here.
    pub boot: Timestamp,
    pub capacity: TrueUsage,
    pub allocatable: TrueUsage,
    /// System usage outside pods (kubelet, runtime, OS), part of the node's truth.
    pub overhead: TrueUsage,
    /// Stable lag of the kubelet's sample time behind "now", 0..2000 ms (cAdvisor housekeeping).
    pub sample_lag_ms: i64,
    /// Indexes into [`Workload::pods`] of the pods bound to this node.
    pub pods: Vec<usize>,
}

/// A node taint, as in `spec.taints`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimTaint {
    pub key: String,
    pub value: String,
    /// `NoSchedule`, `PreferNoSchedule` or `NoExecute`.
    pub effect: String,
}

/// Pod lifecycle phase (only the two the simulation uses).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum PodPhase {
    Running,
    Succeeded,
}

impl PodPhase {
    /// The `status.phase` string.
    pub fn as_str(self) -> &'static str {
        match self {
            PodPhase::Running => "Running",
            PodPhase::Succeeded => "Succeeded",
        }
    }
}

/// A simulated pod.
#[derive(Clone, Debug)]
pub struct SimPod {
    pub namespace: String,
    pub name: String,
    pub uid: String,
    /// Sorted by key: `app`, `pod-template-hash`.
    pub labels: Vec<(String, String)>,
    /// Index into [`Workload::nodes`].
    pub node: usize,
    pub created: Timestamp,
    pub phase: PodPhase,
    pub containers: Vec<SimContainer>,
}

/// A container of a simulated pod.
#[derive(Clone, Debug)]
pub struct SimContainer {
    pub name: String,
    /// First start; the counters of all later restarts are measured from the latest restart.
    pub first_start: Timestamp,
    /// Restart period in nanoseconds, for the few containers that crash-loop.
    pub restart_every_ns: Option<i64>,
    /// `resources.requests` for the pod spec.
    pub request: TrueUsage,
    /// Global index into the usage table (see [`Workload::container_id`]).
    pub id: ContainerId,
}

/// A container's index in the workload's usage table.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct ContainerId(pub usize);
