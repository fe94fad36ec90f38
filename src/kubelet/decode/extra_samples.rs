//! Swap and ephemeral storage collected beside a payload's samples (`--extra-resources`),
//! indexed like the builder's containers (first-seen order) and pods, then turned into an
//! [`ExtraBatch`] when the payload ends.
//!
//! They take no part in the completeness rules: an extra figure that is missing or invalid is
//! just left out, and a container seen only in an extra series (swap) is no container at all
//! (it is dropped, with its pod when that was its only one). A pod's own ephemeral storage,
//! beyond its containers', is shared out over them by [`super::pod_storage`].

use super::builder::PodEntry;
use super::pod_storage;
use crate::batch::{ContainerExtra, ExtraBatch};
use crate::usage::ExtraUsage;

/// The extra figures of one payload.
#[derive(Debug, Default)]
pub(super) struct ExtraSamples {
    pub node: ExtraUsage,
    /// By container position (first-seen order); shorter when the last were never touched.
    containers: Vec<ExtraSample>,
    /// By pod index: the pod's whole ephemeral storage.
    pod_storage: Vec<Option<u64>>,
}

/// One container's extra figures.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct ExtraSample {
    pub usage: ExtraUsage,
    /// Seen in a CPU, memory or start-time series (or listed by the Summary API): a container
    /// of the CPU and memory view.
    pub core: bool,
}

impl ExtraSamples {
    /// The figures of the container at `position`.
    pub fn container(&mut self, position: usize) -> &mut ExtraSample {
        if self.containers.len() <= position {
            self.containers.resize(position + 1, ExtraSample::default());
        }
        &mut self.containers[position]
    }

    pub fn set_pod_storage(&mut self, pod: usize, total: Option<u64>) {
        if self.pod_storage.len() <= pod {
            self.pod_storage.resize(pod + 1, None);
        }
        self.pod_storage[pod] = total;
    }

    /// The figures of every container of the CPU and memory view that gives a point, each
    /// pod's own storage shared out first; removes from `pods` the containers seen only in an
    /// extra series, and the pods left without any. `seen`: each position's (pod, container).
    pub fn finish<'a>(
        self,
        pods: &mut Vec<PodEntry<'a>>,
        seen: &[(usize, usize)],
    ) -> ExtraBatch<'a> {
        let mut by_pod: Vec<Vec<ExtraSample>> = pods
            .iter()
            .map(|p| {
                vec![
                    ExtraSample {
                        core: true,
                        ..Default::default()
                    };
                    p.containers.len()
                ]
            })
            .collect();
        for (position, sample) in self.containers.iter().enumerate() {
            if let Some(&(p, c)) = seen.get(position) {
                by_pod[p][c] = *sample;
            }
        }
        let mut batch = ExtraBatch {
            node: self.node,
            containers: Vec::new(),
        };
        for (p, (pod, figures)) in pods.iter().zip(&mut by_pod).enumerate() {
            if let Some(total) = self.pod_storage.get(p).copied().flatten() {
                share_storage(pod, figures, total);
            }
            let containers = pod.containers.iter().zip(figures.iter());
            for ((name, sample), figure) in containers {
                if !figure.core || sample.point().is_none() || figure.usage.is_empty() {
                    continue;
                }
                batch.containers.push(ContainerExtra {
                    namespace: pod.namespace.clone(),
                    pod: pod.name.clone(),
                    container: name.clone(),
                    usage: figure.usage,
                });
            }
        }
        drop_extra_only(pods, &by_pod);
        batch
    }
}

/// Adds the pod's storage beyond its containers' to the containers that report theirs.
fn share_storage(pod: &PodEntry<'_>, figures: &mut [ExtraSample], total: u64) {
    let mut reporting: Vec<(&str, &mut u64)> = pod
        .containers
        .iter()
        .zip(figures.iter_mut())
        .filter(|(_, f)| f.core)
        .filter_map(|((name, _), f)| {
            Some((name.as_ref(), f.usage.ephemeral_storage_bytes.as_mut()?))
        })
        .collect();
    pod_storage::share(&mut reporting, total);
}

/// Removes the containers seen only in an extra series, then the pods left without any.
fn drop_extra_only(pods: &mut Vec<PodEntry<'_>>, by_pod: &[Vec<ExtraSample>]) {
    for (pod, figures) in pods.iter_mut().zip(by_pod) {
        if figures.iter().all(|f| f.core) {
            continue;
        }
        let mut core = figures.iter().map(|f| f.core);
        pod.containers.retain(|_| core.next().unwrap_or(true));
    }
    pods.retain(|p| p.broken || !p.containers.is_empty());
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::*;
    use crate::kubelet::decode::builder::{BatchBuilder, Sample};
    use crate::time::Timestamp;

    fn full() -> Sample {
        Sample {
            cpu_ns: Some(5),
            cpu_time: Some(Timestamp(1)),
            memory_bytes: Some(7),
            memory_time: Some(Timestamp(2)),
            start_time: None,
            invalid: false,
        }
    }

    fn storage(bytes: u64) -> ExtraSample {
        ExtraSample {
            usage: ExtraUsage {
                swap_bytes: None,
                ephemeral_storage_bytes: Some(bytes),
            },
            core: true,
        }
    }

    #[test]
    fn pod_storage_is_shared_and_extra_only_containers_vanish() {
        let mut b = BatchBuilder::default();
        b.collect_extra();
        for (pod, container, bytes) in [("p", "b", 300), ("p", "a", 100), ("q", "a", 8)] {
            let position = b.position(Cow::Borrowed("ns"), pod.into(), container.into());
            *b.sample_at(position) = full();
            *b.extra_at(position).unwrap() = storage(bytes);
        }
        b.set_pod_storage(0, Some(500));
        // Seen only in swap: neither a container nor a pod.
        let ghost = b.position("ns".into(), "ghost".into(), "x".into());
        b.extra_at(ghost).unwrap().usage.swap_bytes = Some(1);
        let lone = b.position("ns".into(), "q".into(), "swap-only".into());
        b.extra_at(lone).unwrap().usage.swap_bytes = Some(2);
        let decoded = b.finish();
        let figures: Vec<(&str, &str, Option<u64>)> = (decoded.extra.containers.iter())
            .map(|c| (&*c.pod, &*c.container, c.usage.ephemeral_storage_bytes))
            .collect();
        // 100 more than the containers' 400: 75 and 25, in proportion.
        assert_eq!(
            figures,
            [
                ("p", "b", Some(375)),
                ("p", "a", Some(125)),
                ("q", "a", Some(8))
            ]
        );
        let pods: Vec<(&str, usize, bool)> = (decoded.batch.pods.iter())
            .map(|p| (&*p.name, p.containers.len(), p.complete))
            .collect();
        assert_eq!(pods, [("p", 2, true), ("q", 1, true)]);
    }

    #[test]
    fn without_collecting_nothing_is_kept() {
        let mut b = BatchBuilder::default();
        let position = b.position("ns".into(), "p".into(), "a".into());
        *b.sample_at(position) = full();
        assert!(b.extra_at(position).is_none());
        assert!(b.node_extra().is_none());
        b.set_pod_storage(0, Some(5));
        assert!(b.finish().extra.is_empty());
    }
}
