//! The requests both servers are asked: every resource and scope, both versions, selectors
//! valid and invalid, missing objects, every representation, compression, `?pretty`,
//! unsupported methods, watch, discovery, health, `/metrics`, `/`, `/api`, `/version`.

use http::Method;

/// What the cluster offers to ask about.
pub struct Subjects {
    pub node: String,
    /// A Running pod whose containers never restart: `(namespace, name)`.
    pub pod: (String, String),
    /// A pod that has completed (phase Succeeded): known to the cluster, without metrics.
    pub completed_pod: Option<(String, String)>,
    pub namespace: String,
    /// The `app` label of `pod`.
    pub app: String,
}

/// One request.
#[derive(Clone, Debug)]
pub struct Case {
    /// A short name, used by the allow-list and in the report.
    pub id: String,
    pub method: Method,
    pub path: String,
    pub headers: Vec<(&'static str, String)>,
}

impl Case {
    fn get(id: impl Into<String>, path: impl Into<String>) -> Self {
        Case {
            id: id.into(),
            method: Method::GET,
            path: path.into(),
            headers: Vec::new(),
        }
    }

    fn with(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    fn method(mut self, method: Method) -> Self {
        self.method = method;
        self
    }
}

pub const PROTOBUF: &str = "application/vnd.kubernetes.protobuf";
/// What `kubectl top` 1.32+ and the HPA ask for.
pub const PROTOBUF_FIRST: &str = "application/vnd.kubernetes.protobuf,application/json";
/// What `kubectl get podmetrics` asks for.
pub const TABLE: &str = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";
pub const AGGREGATED_V2: &str =
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json";
pub const AGGREGATED_V2BETA1: &str =
    "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";

/// Every request, in order.
pub fn all(s: &Subjects) -> Vec<Case> {
    let mut cases = resources(s, "v1beta1");
    cases.extend(resources(s, "v1").into_iter().take(5));
    cases.extend(selectors(s));
    cases.extend(missing(s));
    cases.extend(representations(s));
    cases.extend(methods(s));
    cases.extend(discovery());
    cases.extend(health());
    cases.extend(other_paths());
    cases
}

/// Every resource and scope of `version`, as JSON.
fn resources(s: &Subjects, version: &str) -> Vec<Case> {
    let base = format!("/apis/metrics.k8s.io/{version}");
    let (ns, pod) = &s.pod;
    vec![
        Case::get(format!("{version} nodes"), format!("{base}/nodes")),
        Case::get(
            format!("{version} node"),
            format!("{base}/nodes/{}", s.node),
        ),
        Case::get(format!("{version} pods"), format!("{base}/pods")),
        Case::get(
            format!("{version} namespace pods"),
            format!("{base}/namespaces/{}/pods", s.namespace),
        ),
        Case::get(
            format!("{version} pod"),
            format!("{base}/namespaces/{ns}/pods/{pod}"),
        ),
        Case::get(
            format!("{version} pods in a namespace without pods"),
            format!("{base}/namespaces/no-such-namespace/pods"),
        ),
    ]
}

fn selectors(s: &Subjects) -> Vec<Case> {
    let base = "/apis/metrics.k8s.io/v1beta1";
    let ns = &s.namespace;
    let (pod_ns, pod) = &s.pod;
    let app = &s.app;
    let mut cases = vec![
        Case::get(
            "label selector on nodes",
            format!("{base}/nodes?labelSelector=topology.kubernetes.io%2Fzone%3Dzone-a"),
        ),
        Case::get(
            "set-based label selector on nodes",
            format!("{base}/nodes?labelSelector=topology.kubernetes.io%2Fzone+in+(zone-b,zone-c)"),
        ),
        Case::get(
            "label selector on pods",
            format!("{base}/namespaces/{ns}/pods?labelSelector=app%3D{app}"),
        ),
        Case::get(
            "label selector on all pods",
            format!("{base}/pods?labelSelector=app%21%3D{app},app"),
        ),
        Case::get(
            "label selector matching nothing",
            format!("{base}/pods?labelSelector=app%3Dnothing-has-this"),
        ),
        Case::get(
            "field selector metadata.name on nodes",
            format!("{base}/nodes?fieldSelector=metadata.name%3D{}", s.node),
        ),
        Case::get(
            "field selector metadata.name on pods",
            format!("{base}/namespaces/{pod_ns}/pods?fieldSelector=metadata.name%3D{pod}"),
        ),
        Case::get(
            "field selector metadata.namespace",
            format!("{base}/pods?fieldSelector=metadata.namespace%3D{ns}"),
        ),
        Case::get(
            "field selector metadata.name!=",
            format!("{base}/nodes?fieldSelector=metadata.name%21%3D{}", s.node),
        ),
        Case::get(
            "field selector spec.nodeName",
            format!("{base}/pods?fieldSelector=spec.nodeName%3D{}", s.node),
        ),
        Case::get(
            "field selector on an unknown field",
            format!("{base}/pods?fieldSelector=status.phase%3DRunning"),
        ),
        Case::get(
            "field selector on an unknown node field",
            format!("{base}/nodes?fieldSelector=spec.unschedulable%3Dfalse"),
        ),
    ];
    for (id, selector) in [
        ("invalid label selector", "app%3D%3D%3Dx"),
        ("label selector with a bad value", "app%3Dnot%20valid"),
        ("label selector with a bad operator", "app+notin+x"),
    ] {
        cases.push(Case::get(
            id,
            format!("{base}/pods?labelSelector={selector}"),
        ));
    }
    cases.push(Case::get(
        "invalid field selector",
        format!("{base}/pods?fieldSelector=metadata.name"),
    ));
    cases
}

fn missing(s: &Subjects) -> Vec<Case> {
    let base = "/apis/metrics.k8s.io/v1beta1";
    let mut cases = vec![
        Case::get("missing node", format!("{base}/nodes/no-such-node")),
        Case::get(
            "missing pod",
            format!("{base}/namespaces/{}/pods/no-such-pod", s.namespace),
        ),
        Case::get(
            "pod in a missing namespace",
            format!("{base}/namespaces/no-such-namespace/pods/{}", s.pod.1),
        ),
        Case::get(
            "missing node as protobuf",
            format!("{base}/nodes/no-such-node"),
        )
        .with("Accept", PROTOBUF_FIRST),
        Case::get(
            "missing node as a Table",
            format!("{base}/nodes/no-such-node"),
        )
        .with("Accept", TABLE),
    ];
    if let Some((ns, name)) = &s.completed_pod {
        cases.push(Case::get(
            "completed pod",
            format!("{base}/namespaces/{ns}/pods/{name}"),
        ));
    }
    cases
}

fn representations(s: &Subjects) -> Vec<Case> {
    let base = "/apis/metrics.k8s.io/v1beta1";
    let node = format!("{base}/nodes/{}", s.node);
    let pod = format!("{base}/namespaces/{}/pods/{}", s.pod.0, s.pod.1);
    let ns_pods = format!("{base}/namespaces/{}/pods", s.namespace);
    let mut cases = Vec::new();
    for (what, path) in [
        ("nodes", format!("{base}/nodes")),
        ("node", node.clone()),
        ("pods", format!("{base}/pods")),
        ("namespace pods", ns_pods.clone()),
        ("pod", pod.clone()),
    ] {
        cases.push(Case::get(format!("{what} as protobuf"), &path).with("Accept", PROTOBUF_FIRST));
        cases.push(Case::get(format!("{what} as a Table"), &path).with("Accept", TABLE));
        cases.push(Case::get(format!("{what} as YAML"), &path).with("Accept", "application/yaml"));
    }
    cases.extend([
        Case::get("protobuf only", &node).with("Accept", PROTOBUF),
        Case::get("protobuf then anything (HPA)", &pod)
            .with("Accept", "application/vnd.kubernetes.protobuf, */*"),
        Case::get("v1beta1 Table", &node).with(
            "Accept",
            "application/json;as=Table;v=v1beta1;g=meta.k8s.io",
        ),
        Case::get(
            "Table with the whole object",
            format!("{node}?includeObject=Object"),
        )
        .with("Accept", TABLE),
        Case::get(
            "Table without objects",
            format!("{ns_pods}?includeObject=None"),
        )
        .with("Accept", TABLE),
        Case::get("Table of an unknown version", &node)
            .with("Accept", "application/json;as=Table;v=v2;g=meta.k8s.io"),
        Case::get("unacceptable type", &node).with("Accept", "text/html"),
        Case::get("anything", &node).with("Accept", "*/*"),
        Case::get("gzip pods", format!("{base}/pods")).with("Accept-Encoding", "gzip"),
        Case::get("gzip namespace pods", &ns_pods).with("Accept-Encoding", "gzip"),
        Case::get("gzip node (small)", &node).with("Accept-Encoding", "gzip"),
        Case::get("gzip pods as protobuf", format!("{base}/pods"))
            .with("Accept-Encoding", "gzip")
            .with("Accept", PROTOBUF_FIRST),
        Case::get("pretty node", format!("{node}?pretty=true")),
        Case::get("pretty pod list", format!("{ns_pods}?pretty=1")),
        Case::get("pretty=false for curl", format!("{node}?pretty=false"))
            .with("User-Agent", "curl/8.5.0"),
        Case::get("curl gets pretty output", &pod).with("User-Agent", "curl/8.5.0"),
        Case::get(
            "curl gets a pretty 404",
            format!("{base}/nodes/no-such-node"),
        )
        .with("User-Agent", "curl/8.5.0"),
        Case::get(
            "resourceVersion ignored",
            format!("{base}/nodes?resourceVersion=0"),
        ),
        Case::get("limit ignored", format!("{ns_pods}?limit=1")),
    ]);
    cases
}

fn methods(s: &Subjects) -> Vec<Case> {
    let base = "/apis/metrics.k8s.io/v1beta1";
    let node = format!("{base}/nodes/{}", s.node);
    vec![
        Case::get("POST nodes", format!("{base}/nodes")).method(Method::POST),
        Case::get("PUT node", &node).method(Method::PUT),
        Case::get(
            "DELETE pod",
            format!("{base}/namespaces/{}/pods/{}", s.pod.0, s.pod.1),
        )
        .method(Method::DELETE),
        Case::get("PATCH node", &node).method(Method::PATCH),
        Case::get("HEAD node", &node).method(Method::HEAD),
        Case::get("POST discovery", "/apis").method(Method::POST),
        Case::get("POST version", "/version").method(Method::POST),
        Case::get("watch nodes", format!("{base}/nodes?watch=true")),
        Case::get("watch pods", format!("{base}/pods?watch=1")),
        Case::get("watch a node", format!("{node}?watch=true")),
    ]
}

fn discovery() -> Vec<Case> {
    vec![
        Case::get("/apis", "/apis"),
        Case::get("/apis aggregated v2", "/apis").with("Accept", AGGREGATED_V2),
        Case::get("/apis aggregated v2beta1", "/apis").with("Accept", AGGREGATED_V2BETA1),
        Case::get("/apis as YAML", "/apis").with("Accept", "application/yaml"),
        Case::get("/apis unacceptable", "/apis").with("Accept", "text/html"),
        Case::get("group", "/apis/metrics.k8s.io"),
        Case::get("v1beta1 resources", "/apis/metrics.k8s.io/v1beta1"),
        Case::get("v1beta1 resources as YAML", "/apis/metrics.k8s.io/v1beta1")
            .with("Accept", "application/yaml"),
        Case::get("v1 resources", "/apis/metrics.k8s.io/v1"),
        Case::get("unknown version", "/apis/metrics.k8s.io/v2"),
        Case::get("unknown group", "/apis/other.k8s.io"),
        Case::get("unknown resource", "/apis/metrics.k8s.io/v1beta1/services"),
        Case::get(
            "too deep a path",
            "/apis/metrics.k8s.io/v1beta1/namespaces/default/pods/a/b",
        ),
    ]
}

fn health() -> Vec<Case> {
    let mut cases = Vec::new();
    for endpoint in ["/healthz", "/livez", "/readyz"] {
        cases.push(Case::get(endpoint, endpoint));
        cases.push(Case::get(
            format!("{endpoint}?verbose"),
            format!("{endpoint}?verbose"),
        ));
        cases.push(Case::get(
            format!("{endpoint}?exclude=ping&verbose"),
            format!("{endpoint}?exclude=ping&verbose"),
        ));
        cases.push(Case::get(
            format!("{endpoint}/ping"),
            format!("{endpoint}/ping"),
        ));
        cases.push(Case::get(
            format!("{endpoint}/no-such-check"),
            format!("{endpoint}/no-such-check"),
        ));
    }
    cases.push(Case::get(
        "/readyz/metric-storage-ready",
        "/readyz/metric-storage-ready",
    ));
    cases.push(Case::get(
        "/livez/metric-collection-timely",
        "/livez/metric-collection-timely",
    ));
    cases
}

fn other_paths() -> Vec<Case> {
    vec![
        Case::get("/", "/"),
        Case::get("/api", "/api"),
        Case::get("unknown path", "/no/such/path"),
        Case::get("/version", "/version"),
        Case::get("/version unacceptable", "/version").with("Accept", "text/html"),
        Case::get("/metrics", "/metrics"),
    ]
}
