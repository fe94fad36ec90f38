//! Virtual nodes are not scraped by default: a node labelled `type=virtual-kubelet`, one with
//! a `virtual-kubelet.io/provider` taint and one labelled
//! `eks.amazonaws.com/compute-type=fargate` get no request, are counted by kind, are never
//! logged as failures, and they and their pods answer `node_not_scraped` with a message that
//! says why. With `--kubelet-skip-virtual-nodes=false` they are scraped like any node.

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;
mod logs;

use std::time::Duration;

use common::{Https, metric_value};
use logs::Logs;
use metrics_server_sim::demo::{self, Demo, DemoOptions, DemoSetup};
use metrics_server_sim::workload::SimTaint;
use tokio::time::Instant;

const WHY: &str = "its node is a virtual node (virtual-kubelet or EKS Fargate)";

fn options(dir: &std::path::Path) -> DemoOptions {
    DemoOptions::for_test(4, 3, dir.join("kubeconfig"))
}

/// Node 1 labelled as virtual-kubelet, node 2 tainted as one, node 3 labelled as Fargate;
/// node 0 an ordinary node. Every node has a working simulated kubelet.
fn virtual_setup(server_flags: &[&str]) -> DemoSetup {
    DemoSetup {
        node_labels: vec![
            (1, "type".into(), "virtual-kubelet".into()),
            (3, "eks.amazonaws.com/compute-type".into(), "fargate".into()),
        ],
        node_taints: vec![(
            2,
            SimTaint {
                key: "virtual-kubelet.io/provider".into(),
                value: "azure".into(),
                effect: "NoSchedule".into(),
            },
        )],
        server_flags: server_flags.iter().map(|f| f.to_string()).collect(),
        ..DemoSetup::default()
    }
}

fn pods_on(demo: &Demo, nodes: std::ops::Range<usize>) -> usize {
    demo.workload
        .running_pods()
        .filter(|p| nodes.contains(&p.node))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn virtual_nodes_are_skipped_counted_and_their_pods_say_why() {
    let logs = Logs::capture();
    let dir = tempfile::tempdir().unwrap();
    let demo = demo::start_with(options(dir.path()), &virtual_setup(&[]))
        .await
        .expect("demo starts");
    common::wait_for(&demo, 1, pods_on(&demo, 0..1)).await;
    let https = Https::as_aggregator(dir.path());
    let base = format!("https://127.0.0.1:{}", demo.server.local_addr.port());
    let on_virtual = pods_on(&demo, 1..4);
    assert!(on_virtual > 0);

    // Their pods are learned from the API beside the scrape cycle: allow a cycle or two.
    let pods_not_scraped =
        "metrics_rs_items_without_metrics{kind=\"pod\",reason=\"node_not_scraped\"}";
    let deadline = Instant::now() + Duration::from_secs(30);
    let text = loop {
        let text = https.get(&format!("{base}/metrics"), None).await.body;
        if metric_value(&text, pods_not_scraped) == Some(on_virtual as f64) {
            break text;
        }
        assert!(
            Instant::now() < deadline,
            "the {on_virtual} pods of virtual nodes are not counted as node_not_scraped:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    for (series, want) in [
        (
            "metrics_rs_nodes_not_scraped{kind=\"virtual-kubelet\"}",
            2.0,
        ),
        ("metrics_rs_nodes_not_scraped{kind=\"fargate\"}", 1.0),
        (
            "metrics_rs_items_without_metrics{kind=\"node\",reason=\"node_not_scraped\"}",
            3.0,
        ),
        (
            "metrics_rs_items_without_metrics{kind=\"node\",reason=\"node_failed\"}",
            0.0,
        ),
        (
            "metrics_rs_items_without_metrics{kind=\"pod\",reason=\"not_scraped_yet\"}",
            0.0,
        ),
        ("metrics_rs_items{kind=\"node\",state=\"served\"}", 1.0),
    ] {
        assert_eq!(metric_value(&text, series), Some(want), "{series}:\n{text}");
    }
    for node in &demo.workload.nodes()[1..] {
        assert_eq!(demo.kubelets.requests(&node.name), Some(0), "{}", node.name);
        assert!(
            !text.contains(&format!("node=\"{}\"", node.name)),
            "no series"
        );
    }
    assert!(demo.kubelets.requests(&demo.workload.nodes()[0].name) > Some(0));

    let pod = demo.workload.running_pods().find(|p| p.node == 1).unwrap();
    let got = https
        .get(
            &format!(
                "{base}/apis/metrics.k8s.io/v1beta1/namespaces/{}/pods/{}",
                pod.namespace, pod.name
            ),
            None,
        )
        .await;
    assert_eq!(got.status, 404);
    assert!(got.body.contains(WHY), "{}", got.body);
    let fargate = &demo.workload.nodes()[3].name;
    let got = https
        .get(
            &format!("{base}/apis/metrics.k8s.io/v1beta1/nodes/{fargate}"),
            None,
        )
        .await;
    assert_eq!(got.status, 404);
    assert!(got.body.contains(WHY), "{}", got.body);
    let listed = https
        .get(&format!("{base}/apis/metrics.k8s.io/v1beta1/nodes"), None)
        .await
        .body;
    let names: serde_json::Value = serde_json::from_str(&listed).unwrap();
    let names: Vec<&str> = names["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| i["metadata"]["name"].as_str())
        .collect();
    assert_eq!(names, [demo.workload.nodes()[0].name.as_str()]);
    assert_eq!(logs.lines_with(&["Failed to scrape node."]), 0);
    demo.shutdown().await;

    // Turned off, the same nodes are scraped: their simulated kubelets answer.
    let dir = tempfile::tempdir().unwrap();
    let flags = ["--kubelet-skip-virtual-nodes=false"];
    let demo = demo::start_with(options(dir.path()), &virtual_setup(&flags))
        .await
        .expect("demo starts");
    common::wait_for(&demo, 4, demo.workload.running_pods().count()).await;
    for node in demo.workload.nodes() {
        assert!(
            demo.kubelets.requests(&node.name) > Some(0),
            "{}",
            node.name
        );
    }
    demo.shutdown().await;
}
