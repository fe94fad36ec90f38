//! Live workloads: the pods a simulated node runs come from outside (a real apiserver's
//! scheduler binds them), so the set of pods changes over time. Each change yields a new
//! [`Workload`] derived from the previous one: containers that stay keep their counter history
//! (a changed usage takes effect from the change on), pods that leave keep their CPU in their
//! node's counter, so every counter a kubelet reports stays monotonic.

use std::collections::{HashMap, HashSet};

use super::{
    ContainerId, DiskTrack, DiskUsage, PodPhase, RateSegment, SimContainer, SimNode, SimPod,
    TrueUsage, UsageTrack, Workload, integral,
};
use metrics_server::time::Timestamp;

/// A container of a [`LivePod`]: its request and its true usage from now on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiveContainer {
    pub name: String,
    pub request: TrueUsage,
    pub usage: TrueUsage,
    /// Its swap and ephemeral storage (not growing).
    pub disk: DiskUsage,
}

/// A running pod bound to one of the workload's nodes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LivePod {
    pub namespace: String,
    pub name: String,
    /// Identity across updates: the same uid keeps its containers' counters.
    pub uid: String,
    pub labels: Vec<(String, String)>,
    /// Name of the node the pod is bound to (pods on unknown nodes are ignored).
    pub node: String,
    /// When its containers started.
    pub started: Timestamp,
    pub containers: Vec<LiveContainer>,
    /// Bytes in use in its `emptyDir` volumes.
    pub empty_dir_bytes: u64,
}

impl Workload {
    /// This workload's nodes running exactly `live` from `now` on (the nodes keep their
    /// identity, addresses and boot counters; pods are Running; nothing restarts).
    pub fn with_live_pods(&self, live: &[LivePod], now: Timestamp) -> Workload {
        let old_tracks = self.read_tracks();
        let old_by_uid: HashMap<&str, &SimPod> =
            self.pods.iter().map(|p| (p.uid.as_str(), p)).collect();
        let mut nodes: Vec<SimNode> = self
            .nodes
            .iter()
            .map(|n| SimNode {
                pods: Vec::new(),
                ..n.clone()
            })
            .collect();
        let mut pods = Vec::with_capacity(live.len());
        let mut tracks = Vec::new();
        let mut volumes = Vec::with_capacity(live.len());
        let mut seen = HashSet::new();
        for pod in live {
            let Some(&node) = self.node_index.get(&pod.node) else {
                continue;
            };
            if !seen.insert(pod.uid.as_str()) {
                continue;
            }
            let old = old_by_uid.get(pod.uid.as_str()).filter(|p| p.node == node);
            let containers = pod
                .containers
                .iter()
                .map(|lc| {
                    let prev = old.and_then(|p| p.containers.iter().find(|c| c.name == lc.name));
                    let id = ContainerId(tracks.len());
                    let (first_start, mut track) = match prev {
                        Some(c) => {
                            let mut track = old_tracks[c.id.0].clone();
                            apply_usage(&mut track, lc.usage, now);
                            (c.first_start, track)
                        }
                        None => (pod.started, new_track(pod.started, lc.usage)),
                    };
                    track.disk = DiskTrack {
                        at_since: lc.disk,
                        rootfs_growth_per_sec: 0,
                        since: first_start,
                    };
                    tracks.push(track);
                    SimContainer {
                        name: lc.name.clone(),
                        first_start,
                        restart_every_ns: None,
                        request: lc.request,
                        id,
                    }
                })
                .collect();
            nodes[node].pods.push(pods.len());
            volumes.push(pod.empty_dir_bytes);
            pods.push(SimPod {
                namespace: pod.namespace.clone(),
                name: pod.name.clone(),
                uid: pod.uid.clone(),
                labels: pod.labels.clone(),
                node,
                created: old.map_or(pod.started, |p| p.created),
                phase: PodPhase::Running,
                containers,
            });
        }
        let retired = self.retire_departed(&seen, &old_tracks, now);
        drop(old_tracks);
        Workload::from_parts(nodes, pods, (tracks, volumes), retired, self.created)
    }

    /// The per-node retired CPU after the pods not in `staying` leave at `now`.
    fn retire_departed(
        &self,
        staying: &HashSet<&str>,
        tracks: &[UsageTrack],
        now: Timestamp,
    ) -> Vec<u128> {
        let mut retired = self.retired_milli_ns.clone();
        let departed = self
            .pods
            .iter()
            .filter(|p| p.phase == PodPhase::Running && !staying.contains(p.uid.as_str()));
        for pod in departed {
            let cpu: u128 = pod
                .containers
                .iter()
                .map(|c| integral(&tracks[c.id.0], c.first_start, now))
                .sum();
            if let Some(slot) = retired.get_mut(pod.node) {
                *slot += cpu;
            }
        }
        retired
    }
}

fn new_track(from: Timestamp, usage: TrueUsage) -> UsageTrack {
    UsageTrack {
        segments: vec![RateSegment {
            from,
            millicores: usage.cpu_millicores,
        }],
        memory_bytes: usage.memory_bytes,
        disk: DiskTrack::default(),
    }
}

/// Sets the rate from `now` on (no new segment when it is unchanged) and the memory gauge.
fn apply_usage(track: &mut UsageTrack, usage: TrueUsage, now: Timestamp) {
    track.memory_bytes = usage.memory_bytes;
    match track.segments.last_mut() {
        Some(last) if last.millicores == usage.cpu_millicores => {}
        Some(last) if last.from >= now => last.millicores = usage.cpu_millicores,
        _ => track.segments.push(RateSegment {
            from: now,
            millicores: usage.cpu_millicores,
        }),
    }
}

#[cfg(test)]
mod tests;
