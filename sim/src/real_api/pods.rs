//! The kubelet's part for pods the scheduler binds to a simulated node: the pod is reported
//! Running and Ready (status with pod IP, conditions and running container statuses), its
//! true usage comes from annotations, and a pod being deleted is finalized (deleted with a
//! zero grace period and a uid precondition, as the kubelet does once its containers stopped).
//!
//! Usage of a pod, first match wins: the pod's annotations `sim.metrics-server-rs.io/cpu` and
//! `sim.metrics-server-rs.io/memory` (Kubernetes quantities such as `150m`, `64Mi`), the same
//! annotations on its namespace, the agent's defaults. The pod total is split evenly over its
//! containers. A change takes effect at the next reconciliation (well under a second).
//!
//! Swap and ephemeral storage the same way, 0 by default: `sim.metrics-server-rs.io/swap` and
//! `sim.metrics-server-rs.io/ephemeral-storage` (the containers' root filesystems, split
//! evenly), `sim.metrics-server-rs.io/empty-dir` (the pod's `emptyDir` volumes). The kubelet's
//! ephemeral storage of the pod is these two plus 4 KiB (its `/etc/hosts`).

use std::collections::{HashMap, HashSet};
use std::net::Ipv4Addr;

use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::api::{DeleteParams, Patch, PatchParams, Preconditions};
use kube::{Api, Client};
use serde_json::{Value, json};

use super::nodes::FIELD_MANAGER;
use super::quantity::{parse_bytes, parse_millicores};
use crate::workload::{DiskUsage, LiveContainer, LivePod, TrueUsage};
use metrics_server::time::Timestamp;

/// Annotation with a pod's (or a namespace's pods') true CPU usage.
pub const CPU_ANNOTATION: &str = "sim.metrics-server-rs.io/cpu";
/// Annotation with a pod's (or a namespace's pods') true memory working set.
pub const MEMORY_ANNOTATION: &str = "sim.metrics-server-rs.io/memory";
/// Annotation with a pod's (or a namespace's pods') true swap in use.
pub const SWAP_ANNOTATION: &str = "sim.metrics-server-rs.io/swap";
/// Annotation with the ephemeral storage a pod's (or a namespace's pods') containers use.
pub const STORAGE_ANNOTATION: &str = "sim.metrics-server-rs.io/ephemeral-storage";
/// Annotation with the bytes a pod's (or a namespace's pods') `emptyDir` volumes use.
pub const EMPTY_DIR_ANNOTATION: &str = "sim.metrics-server-rs.io/empty-dir";

/// A pod's true swap and ephemeral storage, from its annotations.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct PodDiskNotes {
    pub swap_bytes: u64,
    /// Its containers' root filesystems together.
    pub storage_bytes: u64,
    pub empty_dir_bytes: u64,
}

/// A simulated node as the pod side needs it.
#[derive(Clone, Debug)]
pub struct NodeSlot {
    pub index: usize,
    pub ip: Ipv4Addr,
}

/// What a pod bound to one of our nodes needs next.
#[derive(Debug, PartialEq, Eq)]
pub enum PodAction {
    /// Report it Running and Ready.
    MarkRunning,
    /// It is being deleted: finalize it.
    Finalize,
    /// Running already (or terminal): nothing to write.
    Nothing,
}

/// What to do with a pod bound to one of our nodes.
pub fn action(pod: &Pod) -> PodAction {
    if pod.metadata.deletion_timestamp.is_some() {
        return PodAction::Finalize;
    }
    let status = pod.status.as_ref();
    let phase = status.and_then(|s| s.phase.as_deref());
    if matches!(phase, Some("Succeeded" | "Failed")) {
        return PodAction::Nothing;
    }
    let ready = status
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
    if phase == Some("Running") && ready {
        PodAction::Nothing
    } else {
        PodAction::MarkRunning
    }
}

/// The value of annotation `key`: the pod's, else the namespace's, else `default`; a bad one
/// is reported in `warnings`.
fn annotation(
    pod: &Pod,
    namespace: Option<&Namespace>,
    key: &str,
    parse: fn(&str) -> Result<u64, super::quantity::QuantityError>,
    default: u64,
    warnings: &mut Vec<String>,
) -> u64 {
    let pod_notes = pod.metadata.annotations.as_ref();
    let ns_notes = namespace.and_then(|n| n.metadata.annotations.as_ref());
    for (source, notes) in [("pod", pod_notes), ("namespace", ns_notes)] {
        let Some(text) = notes.and_then(|n| n.get(key)) else {
            continue;
        };
        match parse(text) {
            Ok(v) => return v,
            Err(e) => warnings.push(format!("{source} annotation {key}: {e}")),
        }
    }
    default
}

/// The pod's true usage (see the module doc); a bad annotation is reported in `warnings`.
pub fn pod_usage(
    pod: &Pod,
    namespace: Option<&Namespace>,
    defaults: TrueUsage,
    warnings: &mut Vec<String>,
) -> TrueUsage {
    let mut pick = |key, parse, default| annotation(pod, namespace, key, parse, default, warnings);
    TrueUsage {
        cpu_millicores: pick(CPU_ANNOTATION, parse_millicores, defaults.cpu_millicores),
        memory_bytes: pick(MEMORY_ANNOTATION, parse_bytes, defaults.memory_bytes),
    }
}

/// The pod's true swap and ephemeral storage (see the module doc), 0 where not annotated.
pub fn pod_disk(
    pod: &Pod,
    namespace: Option<&Namespace>,
    warnings: &mut Vec<String>,
) -> PodDiskNotes {
    let mut pick = |key| annotation(pod, namespace, key, parse_bytes, 0, warnings);
    PodDiskNotes {
        swap_bytes: pick(SWAP_ANNOTATION),
        storage_bytes: pick(STORAGE_ANNOTATION),
        empty_dir_bytes: pick(EMPTY_DIR_ANNOTATION),
    }
}

/// The pod as the live workload runs it, usage and disk split evenly over its containers.
pub fn live_pod(
    pod: &Pod,
    node: &str,
    started: Timestamp,
    usage: TrueUsage,
    disk: PodDiskNotes,
) -> LivePod {
    let containers = pod
        .spec
        .as_ref()
        .map(|s| s.containers.as_slice())
        .unwrap_or_default();
    let n = containers.len().max(1) as u64;
    let share = |total: u64, first: bool| total / n + if first { total % n } else { 0 };
    LivePod {
        namespace: pod.metadata.namespace.clone().unwrap_or_default(),
        name: pod.metadata.name.clone().unwrap_or_default(),
        uid: pod.metadata.uid.clone().unwrap_or_default(),
        labels: pod
            .metadata
            .labels
            .iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        node: node.to_owned(),
        started,
        containers: containers
            .iter()
            .enumerate()
            .map(|(i, c)| LiveContainer {
                name: c.name.clone(),
                request: container_request(c),
                usage: TrueUsage {
                    cpu_millicores: share(usage.cpu_millicores, i == 0),
                    memory_bytes: share(usage.memory_bytes, i == 0),
                },
                disk: DiskUsage {
                    rootfs_bytes: share(disk.storage_bytes, i == 0),
                    logs_bytes: 0,
                    swap_bytes: share(disk.swap_bytes, i == 0),
                },
            })
            .collect(),
        empty_dir_bytes: disk.empty_dir_bytes,
    }
}

fn container_request(c: &k8s_openapi::api::core::v1::Container) -> TrueUsage {
    let requests = c.resources.as_ref().and_then(|r| r.requests.as_ref());
    let get = |key: &str, parse: fn(&str) -> Result<u64, _>| {
        requests
            .and_then(|r| r.get(key))
            .and_then(|q| parse(&q.0).ok())
            .unwrap_or(0)
    };
    TrueUsage {
        cpu_millicores: get("cpu", parse_millicores),
        memory_bytes: get("memory", parse_bytes),
    }
}

/// When the pod's containers started: what its status says, else `now` to the second.
pub fn started_at(pod: &Pod, now: Timestamp) -> Timestamp {
    pod.status
        .as_ref()
        .and_then(|s| s.start_time.as_ref())
        .and_then(|t| i64::try_from(t.0.as_nanosecond()).ok())
        .map_or_else(|| Timestamp::from_secs(now.secs()), Timestamp)
}

/// Pod IPs handed out per node: `10.244.<node index + 1>.<n>` (never dialed: metadata only).
#[derive(Debug, Default)]
pub struct PodIps {
    by_uid: HashMap<String, Ipv4Addr>,
    next: HashMap<usize, u8>,
}

impl PodIps {
    pub fn get(&mut self, uid: &str, node: &NodeSlot) -> Ipv4Addr {
        if let Some(ip) = self.by_uid.get(uid) {
            return *ip;
        }
        let counter = self.next.entry(node.index).or_insert(1);
        let ip = Ipv4Addr::new(
            10,
            244,
            u8::try_from(node.index + 1).unwrap_or(255),
            *counter,
        );
        *counter = if *counter >= 254 { 1 } else { *counter + 1 };
        self.by_uid.insert(uid.to_owned(), ip);
        ip
    }

    pub fn forget(&mut self, live: &HashSet<String>) {
        self.by_uid.retain(|uid, _| live.contains(uid));
    }
}

/// The status of a Running, Ready pod whose containers started at `started`.
pub fn running_status(pod: &Pod, host_ip: Ipv4Addr, pod_ip: Ipv4Addr, started: Timestamp) -> Value {
    let at = started.to_rfc3339_seconds();
    let uid = pod.metadata.uid.as_deref().unwrap_or_default();
    let condition =
        |kind: &str| json!({ "type": kind, "status": "True", "lastTransitionTime": at });
    let containers: Vec<Value> = pod
        .spec
        .iter()
        .flat_map(|s| s.containers.iter())
        .map(|c| {
            let image = c.image.clone().unwrap_or_default();
            json!({
                "name": c.name,
                "ready": true,
                "started": true,
                "restartCount": 0,
                "image": image,
                "imageID": format!("sim://{image}"),
                "containerID": format!("sim://{uid}-{}", c.name),
                "state": { "running": { "startedAt": at } },
            })
        })
        .collect();
    json!({
        "status": {
            "phase": "Running",
            "hostIP": host_ip.to_string(),
            "hostIPs": [{ "ip": host_ip.to_string() }],
            "podIP": pod_ip.to_string(),
            "podIPs": [{ "ip": pod_ip.to_string() }],
            "startTime": at,
            "conditions": [
                condition("PodReadyToStartContainers"),
                condition("Initialized"),
                condition("Ready"),
                condition("ContainersReady"),
                condition("PodScheduled"),
            ],
            "containerStatuses": containers,
        }
    })
}

/// Writes the Running status.
pub async fn mark_running(client: &Client, pod: &Pod, status: Value) -> anyhow::Result<()> {
    let (ns, name) = pod_key(pod);
    let params = PatchParams {
        field_manager: Some(FIELD_MANAGER.to_owned()),
        ..PatchParams::default()
    };
    Api::<Pod>::namespaced(client.clone(), ns)
        .patch_status(name, &params, &Patch::Merge(status))
        .await
        .map_err(|e| anyhow::anyhow!("reporting pod {ns}/{name} running: {e}"))?;
    Ok(())
}

/// Deletes a terminating pod for good (its containers "stopped"); a pod already gone is fine.
pub async fn finalize(client: &Client, pod: &Pod) -> anyhow::Result<()> {
    let (ns, name) = pod_key(pod);
    let params = DeleteParams {
        grace_period_seconds: Some(0),
        preconditions: Some(Preconditions {
            uid: pod.metadata.uid.clone(),
            resource_version: None,
        }),
        ..DeleteParams::default()
    };
    match Api::<Pod>::namespaced(client.clone(), ns)
        .delete(name, &params)
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => Ok(()),
        Err(e) => Err(anyhow::anyhow!("deleting terminated pod {ns}/{name}: {e}")),
    }
}

fn pod_key(pod: &Pod) -> (&str, &str) {
    (
        pod.metadata.namespace.as_deref().unwrap_or("default"),
        pod.metadata.name.as_deref().unwrap_or_default(),
    )
}

#[cfg(test)]
mod tests;
