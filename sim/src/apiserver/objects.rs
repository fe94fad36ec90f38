//! Core objects of the simulated apiserver as Kubernetes JSON: Nodes (addresses, kubelet port,
//! capacity, allocatable, Ready), Pods (nodeName, requests, phase, Ready) and Namespaces, in
//! full or as `PartialObjectMetadata`, with selectors and `limit`/`continue` paging.

use std::collections::HashMap;
use std::net::IpAddr;

use serde_json::{Map, Value, json};

use super::select::{FieldSelector, LabelSelector};
use crate::workload::{PodPhase, SimNode, SimPod, TrueUsage, Workload};
use metrics_server::time::Timestamp;

/// The resources served.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Node,
    Pod,
    Namespace,
}

impl Kind {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::Node => "Node",
            Kind::Pod => "Pod",
            Kind::Namespace => "Namespace",
        }
    }

    /// The plural resource, as in `pods "x" not found`.
    pub(crate) fn plural(self) -> &'static str {
        match self {
            Kind::Node => "nodes",
            Kind::Pod => "pods",
            Kind::Namespace => "namespaces",
        }
    }

    /// Fields a field selector may use.
    pub(crate) fn selectable_fields(self) -> &'static [&'static str] {
        match self {
            Kind::Pod => &[
                "metadata.name",
                "metadata.namespace",
                "spec.nodeName",
                "status.phase",
            ],
            _ => &["metadata.name"],
        }
    }
}

/// Objects derived from the workload, with their resource versions.
pub(crate) struct Objects {
    workload: std::sync::Arc<Workload>,
    kubelet_ports: HashMap<String, u16>,
    namespaces: Vec<&'static str>,
}

/// A page of a list: the items and, when more may match, the raw index to continue from.
pub(crate) struct Page {
    pub(crate) items: Vec<Value>,
    pub(crate) next: Option<usize>,
}

/// What a list or watch selects.
pub(crate) struct Query {
    pub(crate) namespace: Option<String>,
    pub(crate) labels: LabelSelector,
    pub(crate) fields: FieldSelector,
    pub(crate) meta_only: bool,
}

impl Objects {
    pub(crate) fn new(
        workload: std::sync::Arc<Workload>,
        kubelets: &[(String, IpAddr, u16)],
    ) -> Self {
        let kubelet_ports = kubelets.iter().map(|(n, _, p)| (n.clone(), *p)).collect();
        let namespaces = workload.namespaces();
        Objects {
            workload,
            kubelet_ports,
            namespaces,
        }
    }

    /// Resource version of the newest object: objects are numbered nodes, namespaces, pods.
    pub(crate) fn resource_version(&self) -> u64 {
        (self.workload.nodes().len() + self.namespaces.len() + self.workload.pods().len()) as u64
    }

    fn count(&self, kind: Kind) -> usize {
        match kind {
            Kind::Node => self.workload.nodes().len(),
            Kind::Pod => self.workload.pods().len(),
            Kind::Namespace => self.namespaces.len(),
        }
    }

    /// Index of a named object.
    pub(crate) fn find(&self, kind: Kind, namespace: Option<&str>, name: &str) -> Option<usize> {
        match kind {
            Kind::Node => self.workload.node_position(name),
            Kind::Namespace => self.namespaces.iter().position(|n| *n == name),
            Kind::Pod => self.workload.pod_position(namespace?, name),
        }
    }

    /// Up to `limit` matching objects starting at raw index `from`.
    pub(crate) fn page(&self, kind: Kind, q: &Query, from: usize, limit: Option<usize>) -> Page {
        let limit = limit.filter(|l| *l > 0).unwrap_or(usize::MAX);
        let mut items = Vec::new();
        for i in from..self.count(kind) {
            if !self.matches(kind, i, q) {
                continue;
            }
            if items.len() == limit {
                return Page {
                    items,
                    next: Some(i),
                };
            }
            items.push(self.object(kind, i, q.meta_only));
        }
        Page { items, next: None }
    }

    fn matches(&self, kind: Kind, i: usize, q: &Query) -> bool {
        match kind {
            Kind::Node => {
                let n = &self.workload.nodes()[i];
                q.labels.matches(&n.labels) && q.fields.matches(|_| Some(n.name.as_str()))
            }
            Kind::Namespace => {
                let name = self.namespaces[i];
                let labels = [("kubernetes.io/metadata.name".to_owned(), name.to_owned())];
                q.labels.matches(&labels) && q.fields.matches(|_| Some(name))
            }
            Kind::Pod => {
                let p = &self.workload.pods()[i];
                if q.namespace.as_ref().is_some_and(|ns| *ns != p.namespace) {
                    return false;
                }
                let node = self.workload.nodes()[p.node].name.as_str();
                q.labels.matches(&p.labels)
                    && q.fields.matches(|f| match f {
                        "metadata.name" => Some(p.name.as_str()),
                        "metadata.namespace" => Some(p.namespace.as_str()),
                        "spec.nodeName" => Some(node),
                        "status.phase" => Some(p.phase.as_str()),
                        _ => None,
                    })
            }
        }
    }

    /// One object as JSON, with `kind` and `apiVersion`.
    pub(crate) fn object(&self, kind: Kind, i: usize, meta_only: bool) -> Value {
        let rv = self.object_rv(kind, i);
        let meta = match kind {
            Kind::Node => node_meta(&self.workload.nodes()[i], rv),
            Kind::Pod => pod_meta(&self.workload.pods()[i], rv),
            Kind::Namespace => namespace_meta(self.namespaces[i], self.workload.created(), rv),
        };
        if meta_only {
            return json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": meta});
        }
        let (spec, status) = match kind {
            Kind::Node => self.node_body(&self.workload.nodes()[i]),
            Kind::Pod => self.pod_body(&self.workload.pods()[i]),
            Kind::Namespace => (
                json!({"finalizers": ["kubernetes"]}),
                json!({"phase": "Active"}),
            ),
        };
        json!({"kind": kind.name(), "apiVersion": "v1", "metadata": meta, "spec": spec, "status": status})
    }

    fn object_rv(&self, kind: Kind, i: usize) -> u64 {
        let (nodes, nss) = (self.workload.nodes().len(), self.namespaces.len());
        1 + i as u64
            + match kind {
                Kind::Node => 0,
                Kind::Namespace => nodes as u64,
                Kind::Pod => (nodes + nss) as u64,
            }
    }

    fn node_body(&self, n: &SimNode) -> (Value, Value) {
        let port = self.kubelet_ports.get(&n.name).copied().unwrap_or(10250);
        let since = time(n.created);
        let status = json!({
            "capacity": resources(n.capacity, true),
            "allocatable": resources(n.allocatable, true),
            "conditions": [{
                "type": "Ready", "status": "True", "reason": "KubeletReady",
                "message": "kubelet is posting ready status",
                "lastHeartbeatTime": time(Timestamp::now()), "lastTransitionTime": since,
            }],
            "addresses": [
                {"type": "InternalIP", "address": n.ip.to_string()},
                {"type": "Hostname", "address": n.name},
            ],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": port}},
            "nodeInfo": {
                "machineID": n.uid.replace('-', ""), "systemUUID": n.uid, "bootID": n.uid,
                "kernelVersion": "6.8.0-sim", "osImage": "Simulated Linux", "operatingSystem": "linux",
                "architecture": "amd64", "containerRuntimeVersion": "containerd://2.1.1",
                "kubeletVersion": super::discovery::GIT_VERSION, "kubeProxyVersion": "",
            },
        });
        let taints: Vec<Value> = n
            .taints
            .iter()
            .map(|t| json!({"key": t.key, "value": t.value, "effect": t.effect}))
            .collect();
        let spec = match taints.is_empty() {
            true => json!({}),
            false => json!({"taints": taints}),
        };
        (spec, status)
    }

    fn pod_body(&self, p: &SimPod) -> (Value, Value) {
        let node = &self.workload.nodes()[p.node];
        let containers: Vec<Value> = p
            .containers
            .iter()
            .map(|c| {
                json!({"name": c.name, "image": format!("registry.example/{}:1.0", c.name),
                            "resources": {"requests": resources(c.request, false)}})
            })
            .collect();
        let running = p.phase == PodPhase::Running;
        let ready = if running { "True" } else { "False" };
        let spec =
            json!({"nodeName": node.name, "containers": containers, "restartPolicy": "Always"});
        let status = json!({
            "phase": p.phase.as_str(),
            "conditions": [{"type": "Ready", "status": ready, "lastTransitionTime": time(p.created)}],
            "hostIP": node.ip.to_string(),
            "startTime": time(p.created),
        });
        (spec, status)
    }
}

fn time(t: Timestamp) -> String {
    t.to_rfc3339_seconds()
}

fn labels(pairs: &[(String, String)]) -> Value {
    Value::Object(
        pairs
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect::<Map<_, _>>(),
    )
}

fn node_meta(n: &SimNode, rv: u64) -> Value {
    json!({"name": n.name, "uid": n.uid, "resourceVersion": rv.to_string(),
           "creationTimestamp": time(n.created), "labels": labels(&n.labels)})
}

fn pod_meta(p: &SimPod, rv: u64) -> Value {
    let rs = p
        .name
        .rsplit_once('-')
        .map_or(p.name.as_str(), |(rs, _)| rs);
    json!({"name": p.name, "namespace": p.namespace, "uid": p.uid, "resourceVersion": rv.to_string(),
           "creationTimestamp": time(p.created), "labels": labels(&p.labels),
           "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": rs,
                                "uid": p.uid, "controller": true, "blockOwnerDeletion": true}]})
}

fn namespace_meta(name: &str, created: Timestamp, rv: u64) -> Value {
    json!({"name": name, "uid": format!("00000000-0000-4000-8000-{:012x}", rv),
           "resourceVersion": rv.to_string(), "creationTimestamp": time(Timestamp::from_secs(created.secs() - 86_400)),
           "labels": {"kubernetes.io/metadata.name": name}})
}

/// Quantities as a kubelet reports them: CPU in cores or millicores, memory in Ki.
fn resources(u: TrueUsage, with_pods: bool) -> Value {
    let cpu = if u.cpu_millicores.is_multiple_of(1000) {
        (u.cpu_millicores / 1000).to_string()
    } else {
        format!("{}m", u.cpu_millicores)
    };
    let memory = if u.memory_bytes.is_multiple_of(1 << 20) && !with_pods {
        format!("{}Mi", u.memory_bytes >> 20)
    } else {
        format!("{}Ki", u.memory_bytes >> 10)
    };
    let mut v = json!({"cpu": cpu, "memory": memory});
    if with_pods {
        v["pods"] = json!("110");
    }
    v
}
