//! End to end: the demo cluster (simulated kubelets, minimal API + aggregator proxy, this
//! server on its normal code paths) queried by every installed real `kubectl`, 1.27 to 1.33.
//! Every simulated node and pod must appear, with CPU within 5% of the simulator's truth and
//! no node over 80 % of what it has; `explain`, the probes and the validation of
//! `create -f` work as against a real cluster.

#![allow(clippy::expect_used, clippy::unwrap_used)] // test helpers: a panic is the failure report

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use metrics_server::config::MetricsSource;
use metrics_server_sim::demo::Demo;

/// The acceptance scenario: 20 nodes, 600 running pods.
const NODES: usize = 20;
const PODS_PER_NODE: usize = 30;

/// Versioned kubectl binaries (`kubectl.1.27` …) from the kubectl package, else `kubectl`.
fn installed_kubectls() -> Vec<PathBuf> {
    let listed = Command::new("dpkg").args(["-L", "kubectl"]).output();
    let mut found: Vec<PathBuf> = listed
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .map(PathBuf::from)
                .collect::<Vec<_>>()
        })
        .unwrap_or_default()
        .into_iter()
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("kubectl.1."))
        })
        .filter(|p| p.is_file())
        .collect();
    found.sort();
    if found.is_empty() {
        found.push(PathBuf::from("kubectl"));
    }
    found
}

struct Kubectl<'a> {
    bin: &'a Path,
    kubeconfig: &'a Path,
    home: &'a Path,
}

impl Kubectl<'_> {
    fn run(&self, args: &[&str]) -> String {
        let out = Command::new(self.bin)
            .arg("--kubeconfig")
            .arg(self.kubeconfig)
            .args(args)
            .env("HOME", self.home)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", self.bin.display()));
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "{} {args:?} failed: {}\n{stdout}",
            self.bin.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    }
}

/// `top` rows keyed by the first `key_cols` columns joined with '/', value = remaining cells.
fn rows(table: &str, key_cols: usize) -> BTreeMap<String, Vec<String>> {
    table
        .lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let cells: Vec<String> = l.split_whitespace().map(str::to_string).collect();
            (cells[..key_cols].join("/"), cells[key_cols..].to_vec())
        })
        .collect()
}

fn millicores(cell: &str) -> u64 {
    cell.strip_suffix('m')
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("not millicores: {cell}"))
}

fn mebibytes(cell: &str) -> u64 {
    cell.strip_suffix("Mi")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("not Mi: {cell}"))
}

fn assert_cpu_close(what: &str, shown_m: u64, truth_m: u64) {
    let tolerance = (truth_m as f64 * 0.05).max(1.0);
    assert!(
        (shown_m as f64 - truth_m as f64).abs() <= tolerance,
        "{what}: kubectl shows {shown_m}m, simulator truth is {truth_m}m"
    );
}

/// A `top` percentage cell (`"45%"`).
fn percent(cell: &str) -> u64 {
    cell.strip_suffix('%')
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("not a percentage: {cell}"))
}

fn check_top_nodes(k: &Kubectl<'_>, demo: &Demo) {
    let shown = rows(&k.run(&["top", "nodes"]), 1);
    assert_eq!(shown.len(), NODES, "top nodes rows: {shown:?}");
    for node in demo.workload.nodes() {
        let cells = shown
            .get(&node.name)
            .unwrap_or_else(|| panic!("node {} missing", node.name));
        let truth = demo.workload.node_truth(&node.name).expect("truth");
        assert_cpu_close(&node.name, millicores(&cells[0]), truth.cpu_millicores);
        // A busy simulated node uses at most 80 % of its allocatable (84 % with the 5 %
        // measurement tolerance above), never more than it has.
        assert!(
            percent(&cells[1]) <= 84 && percent(&cells[3]) <= 84,
            "{} is overloaded: {cells:?}",
            node.name
        );
        assert_eq!(
            mebibytes(&cells[2]),
            truth.memory_bytes >> 20,
            "{} memory",
            node.name
        );
    }
}

fn check_top_pods_all(k: &Kubectl<'_>, demo: &Demo) {
    let shown = rows(&k.run(&["top", "pods", "-A"]), 2);
    let running: Vec<_> = demo.workload.running_pods().collect();
    assert_eq!(running.len(), NODES * PODS_PER_NODE);
    assert_eq!(shown.len(), running.len(), "top pods -A rows");
    for pod in running {
        let key = format!("{}/{}", pod.namespace, pod.name);
        let cells = shown
            .get(&key)
            .unwrap_or_else(|| panic!("pod {key} missing"));
        let (_, total) = demo
            .workload
            .pod_truth(&pod.namespace, &pod.name)
            .expect("truth");
        assert_cpu_close(&key, millicores(&cells[0]), total.cpu_millicores);
        assert_eq!(
            mebibytes(&cells[1]),
            total.memory_bytes >> 20,
            "{key} memory"
        );
    }
}

fn check_label_selector(k: &Kubectl<'_>, demo: &Demo) {
    let pod = demo.workload.running_pods().next().expect("a running pod");
    let app = pod
        .labels
        .iter()
        .find(|(k, _)| k == "app")
        .map(|(_, v)| v.clone())
        .expect("app label");
    let selector = format!("app={app}");
    let shown = rows(
        &k.run(&["top", "pods", "-n", &pod.namespace, "-l", &selector]),
        1,
    );
    let mut expected: Vec<&str> = demo
        .workload
        .running_pods()
        .filter(|p| {
            p.namespace == pod.namespace && p.labels.iter().any(|(k, v)| k == "app" && *v == app)
        })
        .map(|p| p.name.as_str())
        .collect();
    expected.sort_unstable();
    assert!(!expected.is_empty());
    assert_eq!(
        shown.keys().map(String::as_str).collect::<Vec<_>>(),
        expected,
        "-l {selector}"
    );
}

fn check_containers(k: &Kubectl<'_>, demo: &Demo) {
    let pod = demo
        .workload
        .running_pods()
        .max_by_key(|p| p.containers.len())
        .expect("a pod");
    assert!(
        pod.containers.len() >= 2,
        "the demo has multi-container pods"
    );
    let shown = rows(
        &k.run(&[
            "top",
            "pod",
            &pod.name,
            "-n",
            &pod.namespace,
            "--containers",
        ]),
        2,
    );
    let (per, _) = demo
        .workload
        .pod_truth(&pod.namespace, &pod.name)
        .expect("truth");
    assert_eq!(shown.len(), per.len(), "--containers rows");
    for (name, truth) in per {
        let cells = shown
            .get(&format!("{}/{name}", pod.name))
            .unwrap_or_else(|| panic!("container {name}"));
        assert_cpu_close(&name, millicores(&cells[0]), truth.cpu_millicores);
    }
}

fn check_raw_v1(k: &Kubectl<'_>) {
    let body = k.run(&["get", "--raw", "/apis/metrics.k8s.io/v1/nodes"]);
    let v: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(v["kind"], "NodeMetricsList");
    assert_eq!(v["apiVersion"], "metrics.k8s.io/v1");
    assert_eq!(v["items"].as_array().map(Vec::len), Some(NODES));
}

fn check_get_podmetrics(k: &Kubectl<'_>, demo: &Demo) {
    let out = k.run(&["get", "podmetrics", "-A"]);
    let header: Vec<&str> = out
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert_eq!(header, ["NAMESPACE", "NAME", "CPU", "MEMORY", "WINDOW"]);
    let shown = rows(&out, 2);
    assert_eq!(
        shown.len(),
        demo.workload.running_pods().count(),
        "get podmetrics -A rows"
    );
    for cells in shown.values() {
        assert!(
            cells[2].ends_with('s'),
            "window is a Go duration: {cells:?}"
        );
    }
}

/// A canonical CPU quantity cell (`"8"`, `"250m"`, `"2500u"`, `"67330954n"`) in millicores.
fn quantity_millicores(cell: &str) -> u64 {
    let (digits, per_milli) = match cell.as_bytes().last() {
        Some(b'n') => (&cell[..cell.len() - 1], 0.000_001),
        Some(b'u') => (&cell[..cell.len() - 1], 0.001),
        Some(b'm') => (&cell[..cell.len() - 1], 1.0),
        _ => (cell, 1000.0),
    };
    let n: f64 = digits
        .parse()
        .unwrap_or_else(|_| panic!("not a quantity: {cell}"));
    (n * per_milli).round() as u64
}

fn check_get_nodemetrics(k: &Kubectl<'_>, demo: &Demo) {
    let out = k.run(&["get", "nodemetrics"]);
    let header: Vec<&str> = out
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert_eq!(header, ["NAME", "CPU", "MEMORY", "WINDOW"]);
    let shown = rows(&out, 1);
    assert_eq!(shown.len(), NODES, "get nodemetrics rows");
    for node in demo.workload.nodes() {
        let cells = shown
            .get(&node.name)
            .unwrap_or_else(|| panic!("node {} missing", node.name));
        let truth = demo.workload.node_truth(&node.name).expect("truth");
        assert_cpu_close(
            &node.name,
            quantity_millicores(&cells[0]),
            truth.cpu_millicores,
        );
        assert!(
            cells[1].ends_with("Ki") || cells[1].ends_with("Mi"),
            "memory: {cells:?}"
        );
        assert!(
            cells[2].ends_with('s'),
            "window is a Go duration: {cells:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_installed_kubectl_sees_every_node_and_pod() {
    let dir = tempfile::tempdir().expect("tempdir");
    let demo = common::ready_demo(dir.path(), NODES, PODS_PER_NODE, MetricsSource::Resource).await;
    let kubeconfig = demo.kubeconfig.clone();
    let kubectls = installed_kubectls();
    let checked = tokio::task::block_in_place(|| {
        for bin in &kubectls {
            let home = tempfile::tempdir().expect("home");
            let k = Kubectl {
                bin,
                kubeconfig: &kubeconfig,
                home: home.path(),
            };
            check_top_nodes(&k, &demo);
            check_top_pods_all(&k, &demo);
            check_label_selector(&k, &demo);
            check_containers(&k, &demo);
            check_raw_v1(&k);
            check_get_podmetrics(&k, &demo);
            check_get_nodemetrics(&k, &demo);
        }
        kubectls.len()
    });
    eprintln!("checked {checked} kubectl binaries: {kubectls:?}");
    demo.shutdown().await;
}

/// `kubectl explain` of the metrics types prints their fields (1.27 and 1.28 first read the
/// protobuf `/openapi/v2`, every version then the `/openapi/v3` documents).
fn check_explain(k: &Kubectl<'_>) {
    let cases: [(&str, &str, &[&str]); 5] = [
        (
            "podmetrics",
            "PodMetrics",
            &["containers", "timestamp", "window"],
        ),
        (
            "nodemetrics",
            "NodeMetrics",
            &["usage", "timestamp", "window"],
        ),
        ("podmetrics.containers", "PodMetrics", &["name", "usage"]),
        ("pods", "Pod", &["metadata", "spec", "status"]),
        ("nodes.status", "Node", &["allocatable", "capacity"]),
    ];
    for (what, kind, fields) in cases {
        let out = k.run(&["explain", what]);
        assert!(
            out.lines()
                .any(|l| l.starts_with("KIND:") && l.ends_with(kind)),
            "explain {what}:\n{out}"
        );
        for field in fields {
            let listed = out
                .lines()
                .any(|l| l.split_whitespace().next() == Some(field));
            assert!(listed, "explain {what} lacks {field}:\n{out}");
        }
    }
}

/// The apiserver's probes, through kubectl.
fn check_probes(k: &Kubectl<'_>) {
    assert_eq!(k.run(&["get", "--raw", "/readyz"]), "ok");
    let verbose = k.run(&["get", "--raw", "/livez?verbose"]);
    assert!(verbose.ends_with("livez check passed\n"), "{verbose}");
}

/// `kubectl create -f` validates the manifest against the server's OpenAPI before anything
/// else; a client-side dry run then prints what it would create.
fn check_create_dry_run(k: &Kubectl<'_>, manifest: &Path) {
    let out = k.run(&[
        "create",
        "--dry-run=client",
        "-f",
        &manifest.to_string_lossy(),
    ]);
    assert_eq!(out.trim(), "pod/hello created (dry run)");
}

const POD_MANIFEST: &str = "apiVersion: v1
kind: Pod
metadata:
  name: hello
  namespace: default
  labels: {app: hello}
spec:
  containers:
  - name: hello
    image: registry.example/hello:1.0
    resources:
      requests: {cpu: 100m, memory: 64Mi}
    securityContext: {runAsNonRoot: true}
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_installed_kubectl_explains_probes_and_validates_through_the_demo() {
    let dir = tempfile::tempdir().expect("tempdir");
    let demo = common::ready_demo(dir.path(), 2, 3, MetricsSource::Resource).await;
    let kubeconfig = demo.kubeconfig.clone();
    let manifest = dir.path().join("pod.yaml");
    std::fs::write(&manifest, POD_MANIFEST).expect("manifest");
    let kubectls = installed_kubectls();
    tokio::task::block_in_place(|| {
        for bin in &kubectls {
            let home = tempfile::tempdir().expect("home");
            let k = Kubectl {
                bin,
                kubeconfig: &kubeconfig,
                home: home.path(),
            };
            check_explain(&k);
            check_probes(&k);
            check_create_dry_run(&k, &manifest);
        }
    });
    demo.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn summary_api_source_serves_the_same_truth() {
    let dir = tempfile::tempdir().expect("tempdir");
    let demo = common::ready_demo(dir.path(), NODES, PODS_PER_NODE, MetricsSource::Summary).await;
    let kubeconfig = demo.kubeconfig.clone();
    let bin = installed_kubectls().pop().expect("a kubectl");
    tokio::task::block_in_place(|| {
        let home = tempfile::tempdir().expect("home");
        let k = Kubectl {
            bin: &bin,
            kubeconfig: &kubeconfig,
            home: home.path(),
        };
        check_top_nodes(&k, &demo);
        check_top_pods_all(&k, &demo);
    });
    demo.shutdown().await;
}
