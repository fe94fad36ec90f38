//! The install manifests (upstream spec §5.1): the rendered single-file manifests are up to
//! date with the kustomize overlays, carry upstream's objects, arguments and security context,
//! and each overlay adds what it promises. The server accepts the arguments they pass.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;

use clap::Parser;
use metrics_server::config::Cli;
use serde_json::{Value, json};

fn manifests() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/manifests"))
}

fn load(file: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(manifests().join(file)).unwrap();
    serde_saphyr::from_multiple::<Value>(&text)
        .unwrap()
        .into_iter()
        .filter(|v| !v.is_null())
        .collect()
}

fn find<'a>(objects: &'a [Value], kind: &str, name: &str) -> &'a Value {
    objects
        .iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name}"))
}

fn container(objects: &[Value]) -> &Value {
    &find(objects, "Deployment", "metrics-server")["spec"]["template"]["spec"]["containers"][0]
}

fn args(objects: &[Value]) -> Vec<String> {
    container(objects)["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn rendered_manifests_are_up_to_date() {
    let out = Command::new("sh")
        .arg(manifests().join("render.sh"))
        .arg("--check")
        .output()
        .expect("run manifests/render.sh --check (needs kubectl)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn components_yaml_has_upstreams_objects_args_and_security_context() {
    let objects = load("components.yaml");
    let mut kinds: Vec<String> = objects
        .iter()
        .map(|o| {
            format!(
                "{}/{}",
                o["kind"].as_str().unwrap(),
                o["metadata"]["name"].as_str().unwrap()
            )
        })
        .collect();
    kinds.sort();
    assert_eq!(
        kinds,
        [
            "APIService/v1.metrics.k8s.io",
            "APIService/v1beta1.metrics.k8s.io",
            "ClusterRole/system:aggregated-metrics-reader",
            "ClusterRole/system:metrics-server",
            "ClusterRoleBinding/metrics-server:system:auth-delegator",
            "ClusterRoleBinding/system:metrics-server",
            "Deployment/metrics-server",
            "Role/metrics-server-events",
            "RoleBinding/metrics-server-auth-reader",
            "RoleBinding/metrics-server-events",
            "Service/metrics-server",
            "ServiceAccount/metrics-server",
        ]
    );
    for o in &objects {
        assert_eq!(
            o["metadata"]["labels"]["k8s-app"], "metrics-server",
            "{}",
            o["kind"]
        );
    }
    let c = container(&objects);
    assert_eq!(
        c["securityContext"],
        json!({
            "allowPrivilegeEscalation": false,
            "readOnlyRootFilesystem": true,
            "runAsNonRoot": true,
            "runAsUser": 1000,
            "seccompProfile": {"type": "RuntimeDefault"},
            "capabilities": {"drop": ["ALL"]}
        })
    );
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/livez");
    let a = args(&objects);
    for upstream in [
        "--cert-dir=/tmp",
        "--secure-port=10250",
        "--kubelet-preferred-address-types=InternalIP,ExternalIP,Hostname",
        "--kubelet-use-node-status-port",
        "--metric-resolution=15s",
    ] {
        assert!(a.iter().any(|x| x == upstream), "{upstream} missing: {a:?}");
    }
    let cli = Cli::try_parse_from(std::iter::once("metrics-server".to_owned()).chain(a)).unwrap();
    cli.serve.validate().unwrap();
    let svc = find(&objects, "APIService", "v1beta1.metrics.k8s.io");
    assert_eq!(svc["spec"]["insecureSkipTLSVerify"], true);
}

#[test]
fn high_availability_runs_two_spread_replicas_with_a_budget() {
    let objects = load("high-availability.yaml");
    let deploy = find(&objects, "Deployment", "metrics-server");
    assert_eq!(deploy["spec"]["replicas"], 2);
    assert_eq!(
        deploy["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"],
        1
    );
    let anti = &deploy["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
        [0];
    assert_eq!(anti["topologyKey"], "kubernetes.io/hostname");
    let pod_labels = &deploy["spec"]["template"]["metadata"]["labels"];
    assert_eq!(
        anti["labelSelector"]["matchLabels"]["k8s-app"],
        pod_labels["k8s-app"]
    );
    let pdb = find(&objects, "PodDisruptionBudget", "metrics-server");
    assert_eq!(pdb["apiVersion"], "policy/v1");
    assert_eq!(pdb["spec"]["minAvailable"], 1);
    assert_eq!(
        pdb["spec"]["selector"]["matchLabels"]["k8s-app"],
        pod_labels["k8s-app"]
    );
    assert_eq!(container(&objects)["securityContext"]["runAsNonRoot"], true);
}

/// One RBAC rule: (apiGroups, resources, resourceNames, verbs).
type Rule = (Vec<String>, Vec<String>, Vec<String>, Vec<String>);

fn rules(object: &Value) -> Vec<Rule> {
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| a.iter().map(|s| s.as_str().unwrap().to_owned()).collect())
            .unwrap_or_default()
    };
    object["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                strings(&r["apiGroups"]),
                strings(&r["resources"]),
                strings(&r["resourceNames"]),
                strings(&r["verbs"]),
            )
        })
        .collect()
}

#[test]
fn self_managed_ca_overlay_passes_the_flag_and_grants_exactly_what_it_needs() {
    let objects = load("self-managed-ca.yaml");
    assert!(args(&objects).iter().any(|a| a == "--self-managed-ca"));
    for name in ["v1beta1.metrics.k8s.io", "v1.metrics.k8s.io"] {
        let svc = find(&objects, "APIService", name);
        assert!(svc["spec"].get("insecureSkipTLSVerify").is_none(), "{name}");
    }
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let role = find(&objects, "Role", "metrics-server-ca");
    assert_eq!(role["metadata"]["namespace"], "kube-system");
    assert_eq!(
        rules(role),
        [
            (
                s(&[""]),
                s(&["secrets"]),
                s(&["metrics-server-ca"]),
                s(&["get", "update"])
            ),
            (s(&[""]), s(&["secrets"]), vec![], s(&["create"])),
        ]
    );
    let cluster_role = find(&objects, "ClusterRole", "system:metrics-server-apiservices");
    assert_eq!(
        rules(cluster_role),
        [(
            s(&["apiregistration.k8s.io"]),
            s(&["apiservices"]),
            s(&["v1beta1.metrics.k8s.io", "v1.metrics.k8s.io"]),
            s(&["get", "patch", "update"]),
        )]
    );
    for (kind, name, role_kind) in [
        ("RoleBinding", "metrics-server-ca", "Role"),
        (
            "ClusterRoleBinding",
            "system:metrics-server-apiservices",
            "ClusterRole",
        ),
    ] {
        let binding = find(&objects, kind, name);
        assert_eq!(binding["roleRef"]["kind"], role_kind);
        assert_eq!(binding["subjects"][0]["name"], "metrics-server");
        assert_eq!(binding["subjects"][0]["namespace"], "kube-system");
    }
}

#[test]
fn the_server_may_watch_its_two_apiservices_and_record_events_on_them() {
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    for file in [
        "components.yaml",
        "high-availability.yaml",
        "self-managed-ca.yaml",
    ] {
        let objects = load(file);
        let role = find(&objects, "ClusterRole", "system:metrics-server");
        let watch = (
            s(&["apiregistration.k8s.io"]),
            s(&["apiservices"]),
            s(&["v1beta1.metrics.k8s.io", "v1.metrics.k8s.io"]),
            s(&["get", "list", "watch"]),
        );
        assert!(rules(role).contains(&watch), "{file}: {:?}", rules(role));
        let events = find(&objects, "Role", "metrics-server-events");
        assert_eq!(events["metadata"]["namespace"], "default", "{file}");
        assert_eq!(
            rules(events),
            [(
                s(&["events.k8s.io"]),
                s(&["events"]),
                vec![],
                s(&["create", "patch"])
            )],
            "{file}"
        );
        let binding = find(&objects, "RoleBinding", "metrics-server-events");
        assert_eq!(binding["metadata"]["namespace"], "default");
        assert_eq!(binding["roleRef"]["name"], "metrics-server-events");
        assert_eq!(binding["subjects"][0]["name"], "metrics-server");
        assert_eq!(binding["subjects"][0]["namespace"], "kube-system");
    }
    // The server's default Service is the one the manifests' APIServices name.
    for api in &load("components.yaml") {
        if api["kind"] == "APIService" {
            assert_eq!(api["spec"]["service"]["namespace"], "kube-system");
            assert_eq!(api["spec"]["service"]["name"], "metrics-server");
            assert!(
                api["spec"]["service"].get("port").is_none(),
                "443 by default"
            );
        }
    }
    let ours = metrics_server::apiservice::default_service("kube-system");
    assert_eq!(ours.service.to_string(), "kube-system/metrics-server");
    assert_eq!(ours.port, 443);
}
