//! The Helm chart under manifests/helm/metrics-server-rs (upstream spec §5.2).
//!
//! Always: every `.Values.…` path a template reads exists in values.yaml, and values.yaml has
//! the upstream chart's main values. When a `helm` binary is available (`$HELM`, `PATH`, or
//! `~/go/bin/helm`): `helm lint`, and `helm template` with upstream-style values renders the
//! objects those values promise, with arguments this server accepts.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use clap::Parser;
use metrics_server::config::Cli;
use serde_json::Value;

fn chart() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("manifests/helm/metrics-server-rs")
}

fn values() -> Value {
    let text = std::fs::read_to_string(chart().join("values.yaml")).unwrap();
    serde_saphyr::from_str::<Value>(&text).unwrap()
}

/// `.Values.a.b.c` references in the templates (ranges over `$.Values` too).
fn value_paths() -> Vec<(String, String)> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(chart().join("templates")).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        for (at, _) in text.match_indices(".Values.") {
            let rest = &text[at + ".Values.".len()..];
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '.' || c == '_'))
                .unwrap_or(rest.len());
            found.push((file.clone(), rest[..end].trim_end_matches('.').to_owned()));
        }
    }
    found
}

#[test]
fn templates_read_only_values_that_exist() {
    let values = values();
    let refs = value_paths();
    assert!(refs.len() > 50, "{} references", refs.len());
    for (file, path) in refs {
        let mut node = &values;
        for key in path.split('.') {
            assert!(
                node.as_object().is_some_and(|o| o.contains_key(key)),
                "{file}: .Values.{path} is not in values.yaml"
            );
            node = &node[key];
        }
    }
}

#[test]
fn values_accept_the_upstream_charts_main_keys() {
    let v = values();
    for path in [
        "args",
        "defaultArgs",
        "replicas",
        "apiService.create",
        "apiService.insecureSkipTLSVerify",
        "apiService.caBundle",
        "tls.type",
        "hostNetwork.enabled",
        "resources.requests.cpu",
        "livenessProbe.httpGet.path",
        "readinessProbe.httpGet.path",
        "podDisruptionBudget.enabled",
        "podDisruptionBudget.minAvailable",
        "securityContext.readOnlyRootFilesystem",
        "image.repository",
        "containerPort",
        "metrics.enabled",
        "nodeSelector",
        "tolerations",
        "affinity",
    ] {
        let mut node = &v;
        for key in path.split('.') {
            assert!(node.get(key).is_some(), "values.yaml lacks {path}");
            node = &node[key];
        }
    }
    assert_eq!(v["defaultArgs"].as_array().unwrap().len(), 4);
}

fn helm() -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("HELM").map(PathBuf::from),
        Some(PathBuf::from("helm")),
        std::env::var_os("HOME").map(|h| Path::new(&h).join("go/bin/helm")),
    ];
    candidates.into_iter().flatten().find(|p| {
        Command::new(p)
            .arg("version")
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

fn template(helm: &Path, sets: &[&str]) -> Vec<Value> {
    let mut cmd = Command::new(helm);
    cmd.args(["template", "metrics-server"])
        .arg(chart())
        .args(["--namespace", "kube-system"]);
    for s in sets {
        cmd.args(["--set", s]);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    serde_saphyr::from_multiple::<Value>(&text)
        .unwrap()
        .into_iter()
        .filter(|v| !v.is_null())
        .collect()
}

fn one<'a>(objects: &'a [Value], kind: &str) -> Vec<&'a Value> {
    objects.iter().filter(|o| o["kind"] == kind).collect()
}

fn container_args(objects: &[Value]) -> Vec<String> {
    one(objects, "Deployment")[0]["spec"]["template"]["spec"]["containers"][0]["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn helm_renders_the_upstream_value_shapes() {
    let Some(helm) = helm() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must install helm (.ci/run does)"
        );
        eprintln!("helm not installed: only the static chart checks ran");
        return;
    };
    let lint = Command::new(&helm)
        .arg("lint")
        .arg(chart())
        .output()
        .unwrap();
    assert!(
        lint.status.success(),
        "{}",
        String::from_utf8_lossy(&lint.stdout)
    );

    let objects = template(&helm, &[]);
    let args = container_args(&objects);
    assert_eq!(args[0], "--secure-port=10250");
    assert_eq!(
        args[1],
        "--apiservice-service=kube-system/metrics-server:443"
    );
    assert_eq!(args.len(), 6, "{args:?}");
    Cli::try_parse_from(std::iter::once("metrics-server".to_owned()).chain(args.clone()))
        .unwrap()
        .serve
        .validate()
        .unwrap();
    let services = one(&objects, "APIService");
    assert_eq!(services.len(), 2);
    assert!(
        services
            .iter()
            .all(|s| s["spec"]["insecureSkipTLSVerify"] == true)
    );
    assert!(one(&objects, "PodDisruptionBudget").is_empty());
    assert!(one(&objects, "Secret").is_empty());
    // The flag names the Service the APIServices point at.
    let service = &services[0]["spec"]["service"];
    assert_eq!(
        args[1],
        format!(
            "--apiservice-service={}/{}:{}",
            service["namespace"].as_str().unwrap(),
            service["name"].as_str().unwrap(),
            service["port"]
        )
    );
    // RBAC to watch the two APIServices and to record Events on them (in default).
    let cluster_role = one(&objects, "ClusterRole")
        .into_iter()
        .find(|r| r["metadata"]["name"] == "system:metrics-server")
        .unwrap();
    assert!(
        cluster_role["rules"].as_array().unwrap().iter().any(|r| {
            r["resources"][0] == "apiservices"
                && r["resourceNames"].as_array().unwrap().len() == 2
                && r["verbs"] == serde_json::json!(["get", "list", "watch"])
        }),
        "{cluster_role}"
    );
    let role = one(&objects, "Role")[0];
    assert_eq!(role["metadata"]["namespace"], "default");
    assert_eq!(role["rules"][0]["apiGroups"][0], "events.k8s.io");
    assert_eq!(
        role["rules"][0]["verbs"],
        serde_json::json!(["create", "patch"])
    );
    let binding = one(&objects, "RoleBinding")
        .into_iter()
        .find(|b| b["roleRef"]["name"] == role["metadata"]["name"])
        .unwrap();
    assert_eq!(binding["metadata"]["namespace"], "default");
    assert_eq!(binding["subjects"][0]["namespace"], "kube-system");

    let objects = template(
        &helm,
        &[
            "replicas=2",
            "podDisruptionBudget.enabled=true",
            "podDisruptionBudget.minAvailable=1",
            "hostNetwork.enabled=true",
            "args={--kubelet-insecure-tls,--v=2}",
            "tls.type=helm",
            "resources.requests.cpu=200m",
        ],
    );
    let deploy = one(&objects, "Deployment")[0];
    assert_eq!(deploy["spec"]["replicas"], 2);
    assert_eq!(deploy["spec"]["template"]["spec"]["hostNetwork"], true);
    let c = &deploy["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(c["resources"]["requests"]["cpu"], "200m");
    assert_eq!(c["securityContext"]["runAsNonRoot"], true);
    let args = container_args(&objects);
    for want in [
        "--kubelet-insecure-tls",
        "--v=2",
        "--tls-cert-file=/tmp/tls-certs/tls.crt",
        "--tls-private-key-file=/tmp/tls-certs/tls.key",
    ] {
        assert!(args.iter().any(|a| a == want), "{want}: {args:?}");
    }
    assert_eq!(
        one(&objects, "PodDisruptionBudget")[0]["spec"]["minAvailable"],
        1
    );
    let secret = one(&objects, "Secret")[0];
    let ca = secret["data"]["ca.crt"].as_str().unwrap();
    for s in one(&objects, "APIService") {
        assert_eq!(s["spec"]["caBundle"], ca);
        assert!(s["spec"].get("insecureSkipTLSVerify").is_none());
    }
}
