//! `metrics-server-sim demo` started twice on one port: the second fails at once, naming the
//! port, and leaves the first demo's kubeconfig and certificates as they were.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use metrics_server_sim::demo::{self, DemoOptions};

#[tokio::test]
async fn a_demo_on_a_port_in_use_fails_before_writing_anything() {
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    let running_demo = "the running demo's kubeconfig";
    std::fs::write(&kubeconfig, running_demo).unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();

    let Err(err) = demo::start(DemoOptions {
        secure_port: port,
        metric_resolution: Duration::from_secs(15),
        ..DemoOptions::for_test(1, 1, kubeconfig.clone())
    })
    .await
    else {
        panic!("a demo started on a port in use");
    };

    let message = format!("{err:#}");
    assert!(message.contains(&format!("port {port}")), "{message}");
    assert_eq!(std::fs::read_to_string(&kubeconfig).unwrap(), running_demo);
    let written: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(written.len(), 1, "files were written: {written:?}");
}
