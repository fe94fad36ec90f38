//! Schemas of the core objects the simulated apiserver serves (Pod, Node, Namespace and their
//! lists), with the apimachinery types they use. A subset of kube-apiserver's: the fields the
//! simulator fills in and the common ones a manifest sets, under upstream's definition names
//! and with upstream's descriptions shortened, enough for `kubectl explain pods` and friends.

use serde_json::{Map, Value, json};

use super::flavor::{Flavor, boolean, integer, string, string_map, strings};

const META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1";
const CORE: &str = "io.k8s.api.core.v1";
const QUANTITY: &str = "io.k8s.apimachinery.pkg.api.resource.Quantity";

/// The definition name of a core kind (`Pod` → `io.k8s.api.core.v1.Pod`).
pub(super) fn core(kind: &str) -> String {
    format!("{CORE}.{kind}")
}

/// The definition name of an apimachinery meta type.
pub(super) fn meta(kind: &str) -> String {
    format!("{META}.{kind}")
}

fn object(description: &str, required: &[&str], props: Vec<(&str, Value)>) -> Value {
    let properties: Map<String, Value> =
        props.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
    let mut schema =
        json!({ "description": description, "type": "object", "properties": properties });
    if !required.is_empty() {
        schema["required"] = json!(required);
    }
    schema
}

fn type_meta() -> Vec<(&'static str, Value)> {
    vec![
        (
            "apiVersion",
            string(
                "APIVersion defines the versioned schema of this representation of an object. Servers should convert recognized schemas to the latest internal value, and may reject unrecognized values.",
            ),
        ),
        (
            "kind",
            string(
                "Kind is a string value representing the REST resource this object represents. Servers may infer this from the endpoint the client submits requests to. In CamelCase.",
            ),
        ),
    ]
}

/// `kind` (with metadata, spec and status) and its list.
fn top_level(f: Flavor, kind: &str, description: &str) -> [(String, Value); 2] {
    let mut props = type_meta();
    props.push((
        "metadata",
        f.field(&meta("ObjectMeta"), "Standard object's metadata."),
    ));
    props.push((
        "spec",
        f.field(
            &core(&format!("{kind}Spec")),
            &format!("Spec defines the behavior of the {}.", kind.to_lowercase()),
        ),
    ));
    props.push((
        "status",
        f.field(
            &core(&format!("{kind}Status")),
            &format!(
                "Most recently observed status of the {}. Populated by the system. Read-only.",
                kind.to_lowercase()
            ),
        ),
    ));
    let mut item = object(description, &[], props);
    item["x-kubernetes-group-version-kind"] = gvk(kind);
    let list_kind = format!("{kind}List");
    let mut props = type_meta();
    props.push((
        "metadata",
        f.field(&meta("ListMeta"), "Standard list metadata."),
    ));
    props.push((
        "items",
        f.array_of(&core(kind), &format!("List of {}s.", kind.to_lowercase())),
    ));
    let mut list = object(
        &format!("{list_kind} is a list of {kind}s."),
        &["items"],
        props,
    );
    list["x-kubernetes-group-version-kind"] = gvk(&list_kind);
    [(core(kind), item), (core(&list_kind), list)]
}

fn gvk(kind: &str) -> Value {
    json!([{ "group": "", "kind": kind, "version": "v1" }])
}

/// Every definition of the core document.
pub(super) fn definitions(f: Flavor) -> Map<String, Value> {
    let mut defs = Map::new();
    defs.extend(meta_definitions(f));
    defs.extend(pod_definitions(f));
    defs.extend(node_definitions(f));
    defs.extend(namespace_definitions(f));
    defs
}

fn meta_definitions(f: Flavor) -> Vec<(String, Value)> {
    let time = |d: &str| f.field(&meta("Time"), d);
    vec![
        (
            QUANTITY.to_owned(),
            json!({ "description": "Quantity is a fixed-point representation of a number: CPU in cores (\"250m\", \"2\"), memory in bytes (\"128Mi\", \"1Gi\").", "type": "string" }),
        ),
        (
            meta("Time"),
            json!({ "description": "Time is a wrapper around time.Time which supports correct marshaling to YAML and JSON (RFC 3339).", "type": "string", "format": "date-time" }),
        ),
        (
            meta("Patch"),
            json!({ "description": "Patch is provided to give a concrete name and type to the Kubernetes PATCH request body.", "type": "object" }),
        ),
        (
            meta("ObjectMeta"),
            object(
                "ObjectMeta is metadata that all persisted resources must have, which includes all objects users must create.",
                &[],
                vec![
                    (
                        "annotations",
                        string_map(
                            "Annotations is an unstructured key value map stored with a resource that may be set by external tools to store and retrieve arbitrary metadata.",
                        ),
                    ),
                    (
                        "creationTimestamp",
                        time(
                            "CreationTimestamp is a timestamp representing the server time when this object was created. Populated by the system. Read-only.",
                        ),
                    ),
                    (
                        "deletionTimestamp",
                        time(
                            "DeletionTimestamp is RFC 3339 date and time at which this resource will be deleted. Populated by the system when a graceful deletion is requested. Read-only.",
                        ),
                    ),
                    (
                        "finalizers",
                        strings("Must be empty before the object is deleted from the registry."),
                    ),
                    (
                        "generateName",
                        string(
                            "GenerateName is an optional prefix, used by the server, to generate a unique name ONLY IF the Name field has not been provided.",
                        ),
                    ),
                    (
                        "generation",
                        integer(
                            "int64",
                            "A sequence number representing a specific generation of the desired state. Populated by the system. Read-only.",
                        ),
                    ),
                    (
                        "labels",
                        string_map(
                            "Map of string keys and values that can be used to organize and categorize (scope and select) objects.",
                        ),
                    ),
                    (
                        "name",
                        string("Name must be unique within a namespace. Cannot be updated."),
                    ),
                    (
                        "namespace",
                        string(
                            "Namespace defines the space within which each name must be unique. Not all objects are required to be scoped to a namespace.",
                        ),
                    ),
                    (
                        "ownerReferences",
                        f.array_of(
                            &meta("OwnerReference"),
                            "List of objects depended by this object.",
                        ),
                    ),
                    (
                        "resourceVersion",
                        string(
                            "An opaque value that represents the internal version of this object. Populated by the system. Read-only.",
                        ),
                    ),
                    (
                        "uid",
                        string(
                            "UID is the unique in time and space value for this object. Populated by the system. Read-only.",
                        ),
                    ),
                ],
            ),
        ),
        (
            meta("OwnerReference"),
            object(
                "OwnerReference contains enough information to let you identify an owning object.",
                &["apiVersion", "kind", "name", "uid"],
                vec![
                    ("apiVersion", string("API version of the referent.")),
                    (
                        "blockOwnerDeletion",
                        boolean(
                            "If true, AND if the owner has the \"foregroundDeletion\" finalizer, then the owner cannot be deleted from the key-value store until this reference is removed.",
                        ),
                    ),
                    (
                        "controller",
                        boolean("If true, this reference points to the managing controller."),
                    ),
                    ("kind", string("Kind of the referent.")),
                    ("name", string("Name of the referent.")),
                    ("uid", string("UID of the referent.")),
                ],
            ),
        ),
        (
            meta("ListMeta"),
            object(
                "ListMeta describes metadata that synthetic resources must have, including lists and various status objects.",
                &[],
                vec![
                    (
                        "continue",
                        string(
                            "continue may be set if the user set a limit on the number of items returned, and indicates that the server has more data available.",
                        ),
                    ),
                    (
                        "remainingItemCount",
                        integer(
                            "int64",
                            "The number of subsequent items in the list which are not included in this list response.",
                        ),
                    ),
                    (
                        "resourceVersion",
                        string(
                            "String that identifies the server's internal version of this object that can be used by clients to determine when objects have changed.",
                        ),
                    ),
                ],
            ),
        ),
    ]
}

fn pod_definitions(f: Flavor) -> Vec<(String, Value)> {
    let quantities = |d: &str| f.map_of(QUANTITY, d);
    let mut defs: Vec<(String, Value)> = top_level(f, "Pod", "Pod is a collection of containers that can run on a host. This resource is created by clients and scheduled onto hosts.").into();
    defs.extend([
        (core("PodSpec"), object("PodSpec is a description of a pod.", &["containers"], vec![
            ("containers", f.array_of(&core("Container"), "List of containers belonging to the pod. There must be at least one container in a Pod. Cannot be updated.")),
            ("nodeName", string("NodeName indicates in which node this pod is scheduled.")),
            ("nodeSelector", string_map("NodeSelector is a selector which must be true for the pod to fit on a node.")),
            ("restartPolicy", string("Restart policy for all containers within the pod. One of Always, OnFailure, Never. Default to Always.")),
            ("serviceAccountName", string("ServiceAccountName is the name of the ServiceAccount to use to run this pod.")),
            ("terminationGracePeriodSeconds", integer("int64", "Optional duration in seconds the pod needs to terminate gracefully.")),
        ])),
        (core("Container"), object("A single application container that you want to run within a pod.", &["name"], vec![
            ("args", strings("Arguments to the entrypoint.")),
            ("command", strings("Entrypoint array. Not executed within a shell.")),
            ("image", string("Container image name.")),
            ("name", string("Name of the container specified as a DNS_LABEL. Each container in a pod must have a unique name. Cannot be updated.")),
            ("resources", f.field(&core("ResourceRequirements"), "Compute Resources required by this container. Cannot be updated.")),
        ])),
        (core("ResourceRequirements"), object("ResourceRequirements describes the compute resource requirements.", &[], vec![
            ("limits", quantities("Limits describes the maximum amount of compute resources allowed.")),
            ("requests", quantities("Requests describes the minimum amount of compute resources required.")),
        ])),
        (core("PodStatus"), object("PodStatus represents information about the status of a pod.", &[], vec![
            ("conditions", f.array_of(&core("PodCondition"), "Current service state of pod.")),
            ("hostIP", string("hostIP holds the IP address of the host to which the pod is assigned.")),
            ("phase", string("The phase of a Pod is a simple, high-level summary of where the Pod is in its lifecycle: Pending, Running, Succeeded, Failed or Unknown.")),
            ("podIP", string("podIP address allocated to the pod.")),
            ("startTime", f.field(&meta("Time"), "RFC 3339 date and time at which the object was acknowledged by the Kubelet.")),
        ])),
        (core("PodCondition"), object("PodCondition contains details for the current condition of this pod.", &["type", "status"], vec![
            ("lastTransitionTime", f.field(&meta("Time"), "Last time the condition transitioned from one status to another.")),
            ("message", string("Human-readable message indicating details about last transition.")),
            ("reason", string("Unique, one-word, CamelCase reason for the condition's last transition.")),
            ("status", string("Status is the status of the condition. Can be True, False, Unknown.")),
            ("type", string("Type is the type of the condition.")),
        ])),
    ]);
    defs
}

fn node_definitions(f: Flavor) -> Vec<(String, Value)> {
    let quantities = |d: &str| f.map_of(QUANTITY, d);
    let mut defs: Vec<(String, Value)> = top_level(f, "Node", "Node is a worker node in Kubernetes. Each node will have a unique identifier in the cache (i.e. in etcd).").into();
    let info = [
        ("architecture", "The Architecture reported by the node."),
        ("bootID", "Boot ID reported by the node."),
        (
            "containerRuntimeVersion",
            "ContainerRuntime Version reported by the node through runtime remote API (e.g. containerd://1.4.2).",
        ),
        (
            "kernelVersion",
            "Kernel Version reported by the node from 'uname -r'.",
        ),
        (
            "kubeProxyVersion",
            "Deprecated: KubeProxy Version reported by the node.",
        ),
        ("kubeletVersion", "Kubelet Version reported by the node."),
        ("machineID", "MachineID reported by the node."),
        (
            "operatingSystem",
            "The Operating System reported by the node.",
        ),
        (
            "osImage",
            "OS Image reported by the node from /etc/os-release.",
        ),
        ("systemUUID", "SystemUUID reported by the node."),
    ];
    let info_names: Vec<&str> = info.iter().map(|(name, _)| *name).collect();
    defs.extend([
        (core("NodeSpec"), object("NodeSpec describes the attributes that a node is created with.", &[], vec![
            ("podCIDR", string("PodCIDR represents the pod IP range assigned to the node.")),
            ("providerID", string("ID of the node assigned by the cloud provider.")),
            ("unschedulable", boolean("Unschedulable controls node schedulability of new pods. By default, node is schedulable.")),
        ])),
        (core("NodeStatus"), object("NodeStatus is information about the current status of a node.", &[], vec![
            ("addresses", f.array_of(&core("NodeAddress"), "List of addresses reachable to the node.")),
            ("allocatable", quantities("Allocatable represents the resources of a node that are available for scheduling. Defaults to Capacity.")),
            ("capacity", quantities("Capacity represents the total resources of a node.")),
            ("conditions", f.array_of(&core("NodeCondition"), "Conditions is an array of current observed node conditions.")),
            ("daemonEndpoints", f.field(&core("NodeDaemonEndpoints"), "Endpoints of daemons running on the Node.")),
            ("nodeInfo", f.field(&core("NodeSystemInfo"), "Set of ids/uuids to uniquely identify the node.")),
        ])),
        (core("NodeAddress"), object("NodeAddress contains information for the node's address.", &["type", "address"], vec![
            ("address", string("The node address.")),
            ("type", string("Node address type, one of Hostname, ExternalIP or InternalIP.")),
        ])),
        (core("NodeCondition"), object("NodeCondition contains condition information for a node.", &["type", "status"], vec![
            ("lastHeartbeatTime", f.field(&meta("Time"), "Last time we got an update on a given condition.")),
            ("lastTransitionTime", f.field(&meta("Time"), "Last time the condition transit from one status to another.")),
            ("message", string("Human readable message indicating details about last transition.")),
            ("reason", string("(brief) reason for the condition's last transition.")),
            ("status", string("Status of the condition, one of True, False, Unknown.")),
            ("type", string("Type of node condition.")),
        ])),
        (core("NodeDaemonEndpoints"), object("NodeDaemonEndpoints lists ports opened by daemons running on the Node.", &[], vec![
            ("kubeletEndpoint", f.field(&core("DaemonEndpoint"), "Endpoint on which Kubelet is listening.")),
        ])),
        (core("DaemonEndpoint"), object("DaemonEndpoint contains information about a single Daemon endpoint.", &["Port"], vec![
            ("Port", integer("int32", "Port number of the given endpoint.")),
        ])),
        (core("NodeSystemInfo"), object("NodeSystemInfo is a set of ids/uuids to uniquely identify the node.", &info_names,
            info.iter().map(|(name, d)| (*name, string(d))).collect())),
    ]);
    defs
}

fn namespace_definitions(f: Flavor) -> Vec<(String, Value)> {
    let mut defs: Vec<(String, Value)> = top_level(
        f,
        "Namespace",
        "Namespace provides a scope for Names. Use of multiple namespaces is optional.",
    )
    .into();
    defs.extend([
        (core("NamespaceSpec"), object("NamespaceSpec describes the attributes on a Namespace.", &[], vec![
            ("finalizers", strings("Finalizers is an opaque list of values that must be empty to permanently remove object from storage.")),
        ])),
        (core("NamespaceStatus"), object("NamespaceStatus is information about the current status of a Namespace.", &[], vec![
            ("phase", string("Phase is the current lifecycle phase of the namespace: Active or Terminating.")),
        ])),
    ]);
    defs
}
