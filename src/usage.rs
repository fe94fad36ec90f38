//! Computed usage the store publishes and the API encodes: rates, not counters.

use std::sync::Arc;

use crate::time::Timestamp;

/// CPU and memory usage over a window.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// Average CPU over the window, in nanocores (1e-9 cores). Never negative by type.
    pub cpu_nanocores: u64,
    /// Working set at the end of the window, in bytes.
    pub memory_bytes: u64,
}

/// A node's servable usage.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeUsage {
    /// Kubelet sample time of the newer point (the end of the window).
    pub timestamp: Timestamp,
    /// Length of the window in nanoseconds (always > 0).
    pub window_ns: i64,
    pub usage: Usage,
}

/// One container's servable usage.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerUsage {
    pub name: Arc<str>,
    pub usage: Usage,
}

/// A pod's containers' usage.
pub type Containers = smallvec::SmallVec<[ContainerUsage; 1]>;

/// A pod's servable usage: only published with its complete container set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodUsage {
    /// The node whose kubelet reported the pod (what `spec.nodeName` field selectors match).
    pub node: Arc<str>,
    /// The earliest end-of-window timestamp among the containers (upstream's rule).
    pub timestamp: Timestamp,
    /// The window of that same container, in nanoseconds (always > 0).
    pub window_ns: i64,
    /// Containers sorted by name (one inline: most pods have one container, and this saves
    /// an allocation per pod per scrape).
    pub containers: Containers,
}

/// Identity of a pod in the store and the API: namespace and name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PodKey {
    pub namespace: Arc<str>,
    pub name: Arc<str>,
}
