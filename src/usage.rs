//! Computed usage the store publishes and the API encodes: rates, not counters.

use arcstr::ArcStr;

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
    /// Shared with the store and every other usage of a container of that name.
    pub name: ArcStr,
    pub usage: Usage,
}

/// A pod's containers' usage.
pub type Containers = smallvec::SmallVec<[ContainerUsage; 1]>;

/// A pod's servable usage: only published with its complete container set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodUsage {
    /// The node whose kubelet reported the pod (what `spec.nodeName` field selectors match).
    pub node: ArcStr,
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
    /// Shared by every pod of the namespace.
    pub namespace: ArcStr,
    /// Shared with the store's entry for the pod.
    pub name: ArcStr,
}

/// The resources served beyond CPU and memory (`--extra-resources`): none by default.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct ExtraResources {
    /// `swap`: swap in use, from `/metrics/resource` (or the Summary API when it is the
    /// source).
    pub swap: bool,
    /// `ephemeral-storage`: local ephemeral storage in use, from the Summary API.
    pub ephemeral_storage: bool,
}

impl ExtraResources {
    /// CPU and memory only: what upstream serves.
    pub const NONE: ExtraResources = ExtraResources {
        swap: false,
        ephemeral_storage: false,
    };
    /// Both extra resources.
    pub const ALL: ExtraResources = ExtraResources {
        swap: true,
        ephemeral_storage: true,
    };
    /// The resource names accepted by `--extra-resources`.
    pub const NAMES: [&'static str; 2] = [SWAP, EPHEMERAL_STORAGE];

    /// Whether any extra resource is served.
    pub fn any(self) -> bool {
        self.swap || self.ephemeral_storage
    }

    /// The names of the resources in the set, as `--extra-resources` takes them.
    pub fn names(self) -> impl Iterator<Item = &'static str> {
        let served = [self.swap, self.ephemeral_storage];
        Self::NAMES
            .into_iter()
            .zip(served)
            .filter_map(|(n, s)| s.then_some(n))
    }

    /// The set with the resource `name` (a `NAMES` entry) added; `None` for another name.
    pub fn with(self, name: &str) -> Option<ExtraResources> {
        match name {
            SWAP => Some(ExtraResources { swap: true, ..self }),
            EPHEMERAL_STORAGE => Some(ExtraResources {
                ephemeral_storage: true,
                ..self
            }),
            _ => None,
        }
    }
}

/// The Kubernetes resource name of swap.
pub const SWAP: &str = "swap";
/// The Kubernetes resource name of local ephemeral storage.
pub const EPHEMERAL_STORAGE: &str = "ephemeral-storage";

/// One node's or container's usage of the extra resources, in bytes: gauges, each present only
/// when it is served and the kubelet reported it.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct ExtraUsage {
    pub swap_bytes: Option<u64>,
    pub ephemeral_storage_bytes: Option<u64>,
}

impl ExtraUsage {
    /// True when no figure is present.
    pub fn is_empty(&self) -> bool {
        self.swap_bytes.is_none() && self.ephemeral_storage_bytes.is_none()
    }

    /// Each figure of `self`, else `other`'s.
    pub fn or(self, other: ExtraUsage) -> ExtraUsage {
        ExtraUsage {
            swap_bytes: self.swap_bytes.or(other.swap_bytes),
            ephemeral_storage_bytes: self
                .ephemeral_storage_bytes
                .or(other.ephemeral_storage_bytes),
        }
    }

    /// Only the figures of the resources in `served`.
    pub fn only(self, served: ExtraResources) -> ExtraUsage {
        ExtraUsage {
            swap_bytes: self.swap_bytes.filter(|_| served.swap),
            ephemeral_storage_bytes: self
                .ephemeral_storage_bytes
                .filter(|_| served.ephemeral_storage),
        }
    }
}
