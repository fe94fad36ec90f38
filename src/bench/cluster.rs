//! The hidden `sim-cluster` process: the simulated kubelets and the minimal API server of
//! `sim`, alone in their own process so the server under test is measured alone. Writes the
//! kubeconfig, the certificates and `cluster.json` into `--dir`, prints `READY <cluster.json>`
//! on stdout, and runs until stdin closes (the harness exits) or a signal arrives.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use super::manifest::{ClusterManifest, KubeletAddr, POD_SAMPLE};
use crate::config::SimClusterArgs;
use crate::pki::CertAuthority;
use crate::sim::apiserver::{ApiServerOptions, spawn_apiserver};
use crate::sim::demo::{DEMO_TOKEN, DemoFiles, extension_auth_data, write_kubeconfig};
use crate::sim::kubelet::{KubeletOptions, spawn_kubelets};
use crate::sim::workload::{Workload, WorkloadSpec};
use anyhow::Context;

/// Runs the simulated cluster until the harness goes away.
pub async fn run(args: SimClusterArgs) -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    std::fs::create_dir_all(&args.dir)
        .with_context(|| format!("creating {}", args.dir.display()))?;
    let ca = Arc::new(CertAuthority::new("metrics-server-bench-ca")?);
    let front_proxy_ca = CertAuthority::new("metrics-server-bench-front-proxy-ca")?;
    let workload = Arc::new(Workload::generate(WorkloadSpec {
        nodes: usize::try_from(args.nodes).unwrap_or(usize::MAX),
        pods_per_node: usize::try_from(args.pods_per_node).unwrap_or(usize::MAX),
        seed: 1,
    }));
    let kubelets = spawn_kubelets(
        workload.clone(),
        KubeletOptions {
            ca: ca.clone(),
            required_bearer_token: Some(DEMO_TOKEN.to_string()),
            resource_endpoint_404: false,
        },
    )
    .await
    .context("starting the simulated kubelets (is `ulimit -n` large enough?)")?;
    let loopback = [IpAddr::V4(Ipv4Addr::LOCALHOST)];
    let mut api_opts = ApiServerOptions::new(
        ca.issue_server("bench-apiserver", &["localhost"], &loopback)?,
        DEMO_TOKEN,
        workload.clone(),
    );
    api_opts.kubelets = kubelets.triples();
    // The front-proxy CA and headers, as kube-apiserver publishes them: the load generator
    // calls the server as the aggregator does.
    api_opts.extension_auth = Some(extension_auth_data(
        ca.cert_pem(),
        front_proxy_ca.cert_pem(),
    ));
    let apiserver = spawn_apiserver(api_opts).await?;

    let files = DemoFiles::new(&args.dir);
    let serving = ca.issue_server("metrics-server", &["localhost"], &loopback)?;
    let front_proxy = front_proxy_ca.issue_client("front-proxy-client", &[])?;
    files.write(&ca, &front_proxy_ca, &serving, &front_proxy)?;
    let kubeconfig = args.dir.join("kubeconfig");
    write_kubeconfig(&kubeconfig, &apiserver.url(), ca.cert_pem())?;

    let manifest = ClusterManifest {
        kubeconfig,
        ca: files.ca.clone(),
        serving_cert: files.serving_cert.clone(),
        serving_key: files.serving_key.clone(),
        front_proxy_cert: files.front_proxy_cert.clone(),
        front_proxy_key: files.front_proxy_key.clone(),
        front_proxy_ca: files.front_proxy_ca.clone(),
        token: DEMO_TOKEN.to_string(),
        nodes: workload.nodes().len(),
        running_pods: workload.running_pods().count(),
        containers: workload.running_pods().map(|p| p.containers.len()).sum(),
        kubelets: kubelets
            .endpoints()
            .iter()
            .map(|e| KubeletAddr {
                node: e.node.clone(),
                ip: e.ip,
                port: e.port,
            })
            .collect(),
        pod_sample: pod_sample(&workload),
    };
    let path = args.dir.join("cluster.json");
    manifest.write(&path)?;
    println!("READY {}", path.display());

    tokio::select! {
        () = stdin_closed() => {}
        () = crate::server::wait_for_signal() => {}
    }
    apiserver.shutdown().await;
    kubelets.shutdown().await;
    Ok(())
}

/// Running pods spread evenly over the workload.
fn pod_sample(workload: &Workload) -> Vec<(String, String)> {
    let running: Vec<_> = workload.running_pods().collect();
    let step = (running.len() / POD_SAMPLE).max(1);
    running
        .iter()
        .step_by(step)
        .take(POD_SAMPLE)
        .map(|p| (p.namespace.clone(), p.name.clone()))
        .collect()
}

/// Completes when stdin reaches end of file: the harness exited or closed our pipe.
pub(crate) async fn stdin_closed() {
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    std::thread::spawn(move || {
        use std::io::Read;
        let mut sink = [0u8; 64];
        let mut stdin = std::io::stdin();
        while matches!(stdin.read(&mut sink), Ok(n) if n > 0) {}
        let _ = tx.send(());
    });
    let _ = rx.await;
}
