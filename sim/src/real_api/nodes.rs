//! Node registration and heartbeats, as a kubelet does them: the Node object (labels,
//! InternalIP and Hostname addresses on loopback, the kubelet endpoint port,
//! capacity/allocatable, Ready and the pressure conditions), a Lease in `kube-node-lease`
//! renewed every 10 s, and the Ready condition's heartbeat refreshed every 30 s, so the node
//! lifecycle controller keeps the node Ready and untainted.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Node;
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, Client};
use serde_json::{Value, json};

use crate::workload::SimNode;
use metrics_server::time::Timestamp;

/// Field manager of every write the agent makes.
pub const FIELD_MANAGER: &str = "metrics-server-sim-nodes";
/// Label put on every simulated node.
pub const SIMULATED_LABEL: &str = "sim.metrics-server-rs.io/simulated";
const LEASE_NAMESPACE: &str = "kube-node-lease";
const LEASE_DURATION_SECONDS: i32 = 40;
const LEASE_RENEW_EVERY: Duration = Duration::from_secs(10);
const STATUS_EVERY: Duration = Duration::from_secs(30);

/// A node to register and where its kubelet listens.
#[derive(Clone, Debug)]
pub struct NodeRegistration {
    pub node: SimNode,
    pub kubelet_port: u16,
    /// Kubernetes version the node reports as its kubelet's.
    pub kubelet_version: String,
}

/// Creates each node (or takes over an existing one of that name) and sets its status.
pub async fn register(client: &Client, nodes: &[NodeRegistration]) -> anyhow::Result<()> {
    let api = Api::<Node>::all(client.clone());
    for reg in nodes {
        let object: Node = serde_json::from_value(node_object(&reg.node))?;
        match api.create(&PostParams::default(), &object).await {
            Ok(_) => {
                tracing::info!(node = %reg.node.name, ip = %reg.node.ip, port = reg.kubelet_port, "node registered")
            }
            Err(kube::Error::Api(status)) if status.code == 409 => {
                tracing::info!(node = %reg.node.name, "node exists; taking it over")
            }
            Err(e) => return Err(anyhow::anyhow!("registering node {}: {e}", reg.node.name)),
        }
        patch_status(&api, reg).await?;
        renew_lease(client, &reg.node.name).await?;
    }
    Ok(())
}

/// Renews every node's lease and refreshes its status until the task is dropped.
pub async fn heartbeat(client: Client, nodes: Vec<NodeRegistration>) {
    let api = Api::<Node>::all(client.clone());
    let mut lease_tick = tokio::time::interval(LEASE_RENEW_EVERY);
    let mut status_tick = tokio::time::interval(STATUS_EVERY);
    lease_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    status_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = lease_tick.tick() => {
                for reg in &nodes {
                    if let Err(e) = renew_lease(&client, &reg.node.name).await {
                        tracing::warn!(node = %reg.node.name, error = %e, "lease renewal failed");
                    }
                }
            }
            _ = status_tick.tick() => {
                for reg in &nodes {
                    if let Err(e) = patch_status(&api, reg).await {
                        tracing::warn!(node = %reg.node.name, error = %e, "node status update failed");
                    }
                }
            }
        }
    }
}

fn node_object(node: &SimNode) -> Value {
    let mut labels: serde_json::Map<String, Value> = node
        .labels
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    labels.insert(SIMULATED_LABEL.to_owned(), Value::String("true".to_owned()));
    json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": { "name": node.name, "labels": labels },
        "spec": {},
    })
}

fn node_status(reg: &NodeRegistration, now: &str) -> Value {
    let node = &reg.node;
    let resources = |u: crate::workload::TrueUsage| {
        json!({
            "cpu": format!("{}m", u.cpu_millicores),
            "memory": format!("{}", u.memory_bytes),
            "pods": "110",
            "ephemeral-storage": "100Gi",
        })
    };
    let condition = |kind: &str, status: &str, reason: &str, message: &str| {
        json!({
            "type": kind, "status": status, "reason": reason, "message": message,
            "lastHeartbeatTime": now, "lastTransitionTime": now,
        })
    };
    let swap = if node.disk.has_swap {
        json!({ "capacity": SWAP_CAPACITY_BYTES })
    } else {
        Value::Null
    };
    json!({
        "status": {
            "capacity": resources(node.capacity),
            "allocatable": resources(node.allocatable),
            "addresses": [
                { "type": "InternalIP", "address": node.ip.to_string() },
                { "type": "Hostname", "address": node.name },
            ],
            "daemonEndpoints": { "kubeletEndpoint": { "Port": reg.kubelet_port } },
            "conditions": [
                condition("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
                condition("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
                condition("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
                condition("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
            ],
            "nodeInfo": {
                "machineID": node.uid, "systemUUID": node.uid, "bootID": node.uid,
                "kernelVersion": "6.1.0-sim", "osImage": "metrics-server-rs simulated node",
                "containerRuntimeVersion": "sim://1.0.0",
                "kubeletVersion": reg.kubelet_version, "kubeProxyVersion": "",
                "operatingSystem": "linux", "architecture": "amd64",
                "swap": swap,
            },
        }
    })
}

/// The size of a simulated node's swap, when it has any (`status.nodeInfo.swap.capacity`).
const SWAP_CAPACITY_BYTES: u64 = 4 << 30;

async fn patch_status(api: &Api<Node>, reg: &NodeRegistration) -> anyhow::Result<()> {
    let now = Timestamp::now().to_rfc3339_seconds();
    let params = PatchParams {
        field_manager: Some(FIELD_MANAGER.to_owned()),
        ..PatchParams::default()
    };
    api.patch_status(
        &reg.node.name,
        &params,
        &Patch::Merge(node_status(reg, &now)),
    )
    .await
    .map_err(|e| anyhow::anyhow!("updating the status of node {}: {e}", reg.node.name))?;
    Ok(())
}

async fn renew_lease(client: &Client, node: &str) -> anyhow::Result<()> {
    let api = Api::<Lease>::namespaced(client.clone(), LEASE_NAMESPACE);
    let now = micro_time(Timestamp::now());
    let lease = json!({
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": { "name": node, "namespace": LEASE_NAMESPACE },
        "spec": {
            "holderIdentity": node,
            "leaseDurationSeconds": LEASE_DURATION_SECONDS,
            "renewTime": now,
        },
    });
    let params = PatchParams::apply(FIELD_MANAGER).force();
    api.patch(node, &params, &Patch::Apply(lease))
        .await
        .map_err(|e| anyhow::anyhow!("renewing the lease of node {node}: {e}"))?;
    Ok(())
}

/// `metav1.MicroTime`: RFC 3339 with microseconds.
fn micro_time(t: Timestamp) -> String {
    let mut s = t.to_rfc3339_seconds();
    let micros = t.0.rem_euclid(metrics_server::time::NANOS_PER_SEC) / 1000;
    s.pop();
    format!("{s}.{micros:06}Z")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn micro_time_has_six_fraction_digits() {
        let t = Timestamp(1_633_252_712_000_123_456);
        assert_eq!(micro_time(t), "2021-10-03T09:18:32.000123Z");
    }
}
