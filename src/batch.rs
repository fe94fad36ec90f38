//! What one kubelet scrape yields: the decoders produce a [`NodeBatch`], the store consumes it.
//! Port of the shapes in metrics-server `pkg/storage/types.go` (`MetricsBatch`, `MetricsPoint`).
//!
//! Names borrow from the response body (`Cow::Borrowed`) so decoding allocates per pod and per
//! container, never per line; the store interns what it keeps.

use std::borrow::Cow;

use crate::time::Timestamp;
use crate::usage::ExtraUsage;

/// One sample of one node or container, as the kubelet reported it.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct MetricsPoint {
    /// When the kubelet took the sample (its clock); the rate window is measured between these.
    pub timestamp: Timestamp,
    /// Container start time, when known (never set for nodes).
    pub start_time: Option<Timestamp>,
    /// Cumulative CPU time in core-nanoseconds (a counter).
    pub cpu_ns: u64,
    /// Working-set memory in bytes (a gauge). Zero is a valid value.
    pub memory_bytes: u64,
}

/// Everything decoded from one node's kubelet response.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NodeBatch<'a> {
    /// The node's own usage, or `None` when the payload lacked a complete node sample.
    pub node: Option<MetricsPoint>,
    /// Pods in first-seen order.
    pub pods: Vec<PodBatch<'a>>,
}

/// One pod's containers from one node's response.
#[derive(Clone, Debug, PartialEq)]
pub struct PodBatch<'a> {
    pub namespace: Cow<'a, str>,
    pub name: Cow<'a, str>,
    /// Containers with a complete sample (CPU and memory present), in first-seen order.
    pub containers: Vec<ContainerBatch<'a>>,
    /// False when the kubelet listed a container of this pod without a complete sample
    /// (CPU counter or memory missing, or a CPU counter of 0). Such a pod is not served.
    pub complete: bool,
}

/// One container's sample.
#[derive(Clone, Debug, PartialEq)]
pub struct ContainerBatch<'a> {
    pub name: Cow<'a, str>,
    pub point: MetricsPoint,
}

/// A decoded kubelet response: the batch, and the items withheld because the kubelet reported
/// a value no reading can have.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Decoded<'a> {
    pub batch: NodeBatch<'a>,
    pub invalid: InvalidValues<'a>,
    /// Swap and ephemeral storage, when the decoder was asked for them (empty otherwise).
    pub extra: ExtraBatch<'a>,
}

/// The extra resources (`--extra-resources`) one response carried: gauges, read only when
/// asked for. Kept apart from [`NodeBatch`], so a server that serves CPU and memory only
/// decodes, stores and publishes exactly what it did before.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ExtraBatch<'a> {
    /// The node's own figures.
    pub node: ExtraUsage,
    /// Figures of the containers of [`NodeBatch::pods`] that had any, in first-seen order.
    pub containers: Vec<ContainerExtra<'a>>,
}

/// One container's extra figures.
#[derive(Clone, Debug, PartialEq)]
pub struct ContainerExtra<'a> {
    pub namespace: Cow<'a, str>,
    pub pod: Cow<'a, str>,
    pub container: Cow<'a, str>,
    pub usage: ExtraUsage,
}

impl<'a> ExtraBatch<'a> {
    /// True when the response carried no extra figure.
    pub fn is_empty(&self) -> bool {
        self.node.is_empty() && self.containers.is_empty()
    }

    /// Adds `other`'s figures (a second response of the same node, e.g. the Summary API's
    /// ephemeral storage beside `/metrics/resource`'s swap): a figure both have is taken
    /// from `self`. Containers are matched by the store.
    pub fn merge(&mut self, other: ExtraBatch<'a>) {
        self.node = self.node.or(other.node);
        self.containers.extend(other.containers);
    }
}

/// Items with a NaN, infinite or negative value. Upstream fails the whole node on a parse
/// error; one corrupt container must not hide the node and its other pods, so only the item
/// that carries the value is withheld (reason `invalid_value`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct InvalidValues<'a> {
    /// The node's own CPU or memory value was invalid.
    pub node: bool,
    /// (namespace, name) of each pod with an invalid value in one of its containers, in
    /// first-seen order. Such a pod is still listed in [`NodeBatch::pods`], as incomplete.
    pub pods: Vec<(Cow<'a, str>, Cow<'a, str>)>,
}

impl InvalidValues<'_> {
    /// True when no item was withheld.
    pub fn is_empty(&self) -> bool {
        !self.node && self.pods.is_empty()
    }
}

impl NodeBatch<'_> {
    /// Number of containers with a sample, over all pods.
    pub fn container_count(&self) -> usize {
        self.pods.iter().map(|p| p.containers.len()).sum()
    }

    /// The newest sample time in the batch (the node's own or any container's), by the
    /// kubelet's clock; `None` for a batch without samples.
    pub fn newest_timestamp(&self) -> Option<Timestamp> {
        let containers = self.pods.iter().flat_map(|p| &p.containers);
        let points = self.node.iter().chain(containers.map(|c| &c.point));
        points.map(|point| point.timestamp).max()
    }
}

/// Batches for the tests of the layers above (store, API).
#[cfg(test)]
pub(crate) mod test_batches {
    use super::*;

    /// A sample at `secs`: CPU growing by 1 ms a second since 1 s, 1 MiB of memory.
    pub fn point(secs: i64) -> MetricsPoint {
        MetricsPoint {
            timestamp: Timestamp::from_secs(secs),
            start_time: Some(Timestamp::from_secs(1)),
            cpu_ns: secs as u64 * 1_000_000,
            memory_bytes: 1 << 20,
        }
    }

    /// A complete pod with one container, `app`, sampled at `secs`.
    pub fn one_container_pod(
        namespace: impl Into<Cow<'static, str>>,
        name: impl Into<Cow<'static, str>>,
        secs: i64,
    ) -> PodBatch<'static> {
        PodBatch {
            namespace: namespace.into(),
            name: name.into(),
            containers: vec![ContainerBatch {
                name: Cow::Borrowed("app"),
                point: point(secs),
            }],
            complete: true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(secs: i64) -> MetricsPoint {
        MetricsPoint {
            timestamp: Timestamp::from_secs(secs),
            start_time: None,
            cpu_ns: 1,
            memory_bytes: 1,
        }
    }

    #[test]
    fn the_newest_sample_is_the_nodes_or_any_containers() {
        let container = |secs| ContainerBatch {
            name: Cow::Borrowed("app"),
            point: point(secs),
        };
        let mut batch = NodeBatch {
            node: Some(point(10)),
            pods: vec![PodBatch {
                namespace: Cow::Borrowed("ns"),
                name: Cow::Borrowed("p"),
                containers: vec![container(12), container(11)],
                complete: true,
            }],
        };
        assert_eq!(batch.newest_timestamp(), Some(Timestamp::from_secs(12)));
        batch.node = Some(point(20));
        assert_eq!(batch.newest_timestamp(), Some(Timestamp::from_secs(20)));
        assert_eq!(NodeBatch::default().newest_timestamp(), None);
    }
}
