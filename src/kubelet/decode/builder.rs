//! Collects samples by pod and container while a payload is read, then applies the
//! completeness rules shared by both decoders (spec §3.3 "Node validity", "Pod validity"):
//!
//! * the node point exists only with a non-zero CPU counter, a memory value (0 allowed) and a
//!   timestamp;
//! * a container is kept only with the same three; one that lacks any of them (or was only
//!   seen in `container_start_time_seconds`) is left out and its pod marked incomplete;
//! * pods and containers keep first-seen order.
//!
//! The point timestamp is the memory sample's when there is one, else the CPU sample's:
//! upstream overwrites it with each series and memory is parsed last (spec §3.3).
//!
//! A sample marked [`Sample::invalid`] (a NaN, infinite or negative value) gives no point and
//! is listed in [`InvalidValues`], so the store withholds only its node or pod.
//!
//! Swap and ephemeral storage (`--extra-resources`) are collected beside the samples, only
//! when asked for ([`BatchBuilder::collect_extra`], see [`super::extra_samples`]): without
//! them a builder holds and allocates exactly what it did before they existed.

use std::borrow::Cow;
use std::collections::HashMap;

use super::extra_samples::{ExtraSample, ExtraSamples};
use crate::batch::{
    ContainerBatch, Decoded, ExtraBatch, InvalidValues, MetricsPoint, NodeBatch, PodBatch,
};
use crate::time::Timestamp;
use crate::usage::ExtraUsage;

/// What was seen so far for the node or one container.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct Sample {
    pub cpu_ns: Option<u64>,
    pub cpu_time: Option<Timestamp>,
    pub memory_bytes: Option<u64>,
    pub memory_time: Option<Timestamp>,
    pub start_time: Option<Timestamp>,
    /// The kubelet printed a value no reading can have (NaN, ±Inf, negative) for it.
    pub invalid: bool,
}

impl Sample {
    /// The point, when the sample is complete and valid: non-zero CPU, any memory, a
    /// timestamp.
    pub fn point(&self) -> Option<MetricsPoint> {
        if self.invalid {
            return None;
        }
        let cpu_ns = self.cpu_ns.filter(|&ns| ns != 0)?;
        Some(MetricsPoint {
            timestamp: self.memory_time.or(self.cpu_time)?,
            start_time: self.start_time,
            cpu_ns,
            memory_bytes: self.memory_bytes?,
        })
    }
}

/// One pod being collected.
pub(super) struct PodEntry<'a> {
    pub namespace: Cow<'a, str>,
    pub name: Cow<'a, str>,
    pub containers: Vec<(Cow<'a, str>, Sample)>,
    /// Set when the payload listed a container that cannot be used at all (e.g. no name).
    pub broken: bool,
}

type PodKey<'a> = (Cow<'a, str>, Cow<'a, str>);
pub(super) type ContainerKey<'a> = (Cow<'a, str>, Cow<'a, str>, Cow<'a, str>);
/// Seeded per process; SipHash over every metric line's key was 2 % of the server's CPU.
type FastHash = foldhash::fast::RandomState;

/// Accumulates one payload; call [`BatchBuilder::finish`] at the end.
#[derive(Default)]
pub(super) struct BatchBuilder<'a> {
    pub node: Sample,
    pods: Vec<PodEntry<'a>>,
    pod_index: HashMap<PodKey<'a>, usize, FastHash>,
    /// Each container's position in `seen`.
    container_index: HashMap<ContainerKey<'a>, usize, FastHash>,
    /// (pod, container) indices in first-seen order.
    seen: Vec<(usize, usize)>,
    /// Position in `seen` of the container returned last.
    last: Option<usize>,
    /// Swap and ephemeral storage, when asked for.
    extra: Option<Box<ExtraSamples>>,
}

impl<'a> BatchBuilder<'a> {
    /// A builder sized for about `containers` containers (the maps then never grow while a
    /// typical payload is read).
    pub fn with_capacity(containers: usize) -> Self {
        BatchBuilder {
            pods: Vec::with_capacity(containers),
            pod_index: HashMap::with_capacity_and_hasher(containers, FastHash::default()),
            container_index: HashMap::with_capacity_and_hasher(containers, FastHash::default()),
            seen: Vec::with_capacity(containers),
            ..BatchBuilder::default()
        }
    }

    /// Index of the pod, adding it on first sight.
    pub fn pod(&mut self, namespace: Cow<'a, str>, name: Cow<'a, str>) -> usize {
        let key = (namespace, name);
        if let Some(&index) = self.pod_index.get(&key) {
            return index;
        }
        let index = self.pods.len();
        self.pods.push(PodEntry {
            namespace: key.0.clone(),
            name: key.1.clone(),
            containers: Vec::new(),
            broken: false,
        });
        self.pod_index.insert(key, index);
        index
    }

    /// The sample of a container, adding the pod and the container on first sight.
    #[cfg(test)]
    pub fn container(
        &mut self,
        namespace: Cow<'a, str>,
        pod: Cow<'a, str>,
        container: Cow<'a, str>,
    ) -> &mut Sample {
        let position = self.position(namespace, pod, container);
        self.sample_at(position)
    }

    /// The position in first-seen order of a container, adding the pod and the container on
    /// first sight.
    pub fn position(
        &mut self,
        namespace: Cow<'a, str>,
        pod: Cow<'a, str>,
        container: Cow<'a, str>,
    ) -> usize {
        let key = (namespace.as_bytes(), pod.as_bytes(), container.as_bytes());
        match self.next_if_is(key.0, key.1, key.2) {
            Some(next) => next,
            None => self.find_or_add((namespace, pod, container)),
        }
    }

    /// Collects swap and ephemeral storage from now on (see [`Self::extra_at`]).
    pub fn collect_extra(&mut self) {
        self.extra.get_or_insert_with(Box::default);
    }

    /// The node's extra figures, when collected.
    pub fn node_extra(&mut self) -> Option<&mut ExtraUsage> {
        self.extra.as_mut().map(|e| &mut e.node)
    }

    /// The extra figures of the container at `position`, when collected; the container is
    /// remembered as the last one returned (see [`Self::next_if_is`]).
    pub fn extra_at(&mut self, position: usize) -> Option<&mut ExtraSample> {
        let extra = self.extra.as_mut()?;
        self.last = Some(position);
        Some(extra.container(position))
    }

    /// Records a pod's whole ephemeral storage (shared out over its containers at the end),
    /// when collected.
    pub fn set_pod_storage(&mut self, pod: usize, total: Option<u64>) {
        if let Some(extra) = self.extra.as_mut() {
            extra.set_pod_storage(pod, total);
        }
    }

    /// Every series lists the containers in the same order (the kubelet sorts each by its
    /// labels), so the container after the last one returned is checked before hashing: its
    /// position when it is this one. Compared as bytes: the stored names are UTF-8, so equal
    /// bytes are too, and a caller may skip validating a value that matches.
    pub fn next_if_is(&self, namespace: &[u8], pod: &[u8], container: &[u8]) -> Option<usize> {
        let next = self.last.map_or(0, |i| i + 1);
        let &(p, c) = self.seen.get(next)?;
        let entry = &self.pods[p];
        let found = entry.containers[c].0.as_bytes() == container
            && entry.name.as_bytes() == pod
            && entry.namespace.as_bytes() == namespace;
        found.then_some(next)
    }

    /// The sample of the container at `position` in first-seen order (from
    /// [`Self::next_if_is`]), remembered as the last one returned.
    pub fn sample_at(&mut self, position: usize) -> &mut Sample {
        self.last = Some(position);
        let (p, c) = self.seen[position];
        &mut self.pods[p].containers[c].1
    }

    /// Position in `seen` of the container, adding it (and its pod) on first sight.
    pub fn find_or_add(&mut self, key: ContainerKey<'a>) -> usize {
        if let Some(&position) = self.container_index.get(&key) {
            return position;
        }
        let p = self.pod(key.0.clone(), key.1.clone());
        let entry = &mut self.pods[p];
        entry.containers.push((key.2.clone(), Sample::default()));
        let position = self.seen.len();
        self.seen.push((p, entry.containers.len() - 1));
        self.container_index.insert(key, position);
        position
    }

    /// Marks a pod incomplete because one of its containers cannot be used.
    pub fn mark_broken(&mut self, pod: usize) {
        if let Some(entry) = self.pods.get_mut(pod) {
            entry.broken = true;
        }
    }

    /// Applies the completeness rules and returns the batch with the invalid items and the
    /// extra figures collected.
    pub fn finish(mut self) -> Decoded<'a> {
        let extra = match self.extra.take() {
            Some(collected) => collected.finish(&mut self.pods, &self.seen),
            None => ExtraBatch::default(),
        };
        let mut invalid = InvalidValues {
            node: self.node.invalid,
            pods: Vec::new(),
        };
        for pod in self.pods.iter().filter(|p| p.has_invalid_value()) {
            invalid.pods.push((pod.namespace.clone(), pod.name.clone()));
        }
        let pods = self.pods.into_iter().map(finish_pod).collect();
        let batch = NodeBatch {
            node: self.node.point(),
            pods,
        };
        Decoded {
            batch,
            invalid,
            extra,
        }
    }
}

impl PodEntry<'_> {
    fn has_invalid_value(&self) -> bool {
        self.containers.iter().any(|(_, sample)| sample.invalid)
    }
}

fn finish_pod(entry: PodEntry<'_>) -> PodBatch<'_> {
    let mut complete = !entry.broken;
    let mut containers = Vec::with_capacity(entry.containers.len());
    for (name, sample) in entry.containers {
        match sample.point() {
            Some(point) => containers.push(ContainerBatch { name, point }),
            None => complete = false,
        }
    }
    PodBatch {
        namespace: entry.namespace,
        name: entry.name,
        containers,
        complete,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full(cpu_ns: u64, memory: u64) -> Sample {
        Sample {
            cpu_ns: Some(cpu_ns),
            cpu_time: Some(Timestamp(1)),
            memory_bytes: Some(memory),
            memory_time: Some(Timestamp(2)),
            start_time: None,
            invalid: false,
        }
    }

    #[test]
    fn memory_time_wins_over_cpu_time() {
        assert_eq!(full(5, 0).point().unwrap().timestamp, Timestamp(2));
        let cpu_time_only = Sample {
            memory_time: None,
            ..full(5, 7)
        };
        assert_eq!(cpu_time_only.point().unwrap().timestamp, Timestamp(1));
    }

    #[test]
    fn zero_cpu_or_missing_parts_give_no_point() {
        assert!(full(0, 7).point().is_none());
        let no_memory = Sample {
            memory_bytes: None,
            ..full(5, 7)
        };
        assert!(no_memory.point().is_none());
        let no_time = Sample {
            cpu_time: None,
            memory_time: None,
            ..full(5, 7)
        };
        assert!(no_time.point().is_none());
    }

    #[test]
    fn incomplete_container_is_left_out_and_flags_its_pod() {
        let mut b = BatchBuilder::default();
        *b.container("ns".into(), "p".into(), "a".into()) = full(5, 0);
        b.container("ns".into(), "p".into(), "b".into()).cpu_ns = Some(3);
        *b.container("ns".into(), "q".into(), "a".into()) = full(6, 1);
        let batch = b.finish().batch;
        assert_eq!(batch.pods.len(), 2);
        assert!(!batch.pods[0].complete);
        assert_eq!(batch.pods[0].containers.len(), 1);
        assert_eq!(batch.pods[0].containers[0].point.memory_bytes, 0);
        assert!(batch.pods[1].complete);
        assert!(batch.node.is_none());
    }

    #[test]
    fn an_invalid_value_withholds_its_pod_only() {
        let mut b = BatchBuilder {
            node: full(9, 9),
            ..BatchBuilder::default()
        };
        *b.container("ns".into(), "p".into(), "a".into()) = full(5, 0);
        b.container("ns".into(), "p".into(), "b".into()).invalid = true;
        *b.container("ns".into(), "q".into(), "a".into()) = full(6, 1);
        let decoded = b.finish();
        assert!(decoded.batch.node.is_some());
        assert_eq!(decoded.invalid.pods, [("ns".into(), "p".into())]);
        assert!(!decoded.invalid.node);
        let [p, q] = &decoded.batch.pods[..] else {
            panic!("both pods are listed: {:?}", decoded.batch.pods);
        };
        assert!(!p.complete && p.containers.len() == 1);
        assert!(q.complete);
    }

    #[test]
    fn an_invalid_node_value_withholds_the_node_only() {
        let mut b = BatchBuilder {
            node: Sample {
                invalid: true,
                ..full(9, 9)
            },
            ..BatchBuilder::default()
        };
        *b.container("ns".into(), "q".into(), "a".into()) = full(6, 1);
        let decoded = b.finish();
        assert!(decoded.invalid.node && decoded.invalid.pods.is_empty());
        assert_eq!(decoded.batch.node, None);
        assert!(decoded.batch.pods[0].complete);
    }

    #[test]
    fn same_container_is_found_again_in_first_seen_order() {
        let mut b = BatchBuilder::default();
        b.container("ns".into(), "p".into(), "z".into()).cpu_ns = Some(1);
        b.container("ns".into(), "p".into(), "a".into()).cpu_ns = Some(2);
        b.container("ns".into(), "p".into(), "z".into())
            .memory_bytes = Some(3);
        b.container("ns".into(), String::from("p").into(), "a".into())
            .memory_bytes = Some(4);
        assert_eq!(b.pods.len(), 1);
        let names: Vec<_> = b.pods[0].containers.iter().map(|c| &c.0).collect();
        assert_eq!(names, ["z", "a"]);
        assert_eq!(b.pods[0].containers[0].1.memory_bytes, Some(3));
        assert_eq!(b.pods[0].containers[1].1.memory_bytes, Some(4));
    }
}
