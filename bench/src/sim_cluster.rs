//! The hidden `sim-cluster` process: the simulated kubelets and the minimal API server of
//! `sim`, alone in their own process so the server under test is measured alone. Writes the
//! kubeconfig, the certificates and `cluster.json` into `--dir`, prints `READY <cluster.json>`
//! on stdout, and runs until stdin closes (the harness exits) or a signal arrives.
//!
//! A large cluster is split over several processes (`--shard I --shards K`, see `shard.rs`):
//! shards 1..K serve only their nodes' kubelets, write `kubelets-<I>.json` and print
//! `READY <that file>`; shard 0 serves its own nodes, reads the others' files
//! (`--kubelets-from`) and runs the API server. All shards issue from the CA of `--ca-cert`.

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};

use super::manifest::{ClusterManifest, KubeletAddr, POD_SAMPLE};
use super::shard::{self, ShardEndpoints};
use crate::config::SimClusterArgs;
use metrics_server::pki::CertAuthority;
use metrics_server::time::Timestamp;
use metrics_server_sim::apiserver::{ApiServerHandle, ApiServerOptions, spawn_apiserver};
use metrics_server_sim::demo::{DEMO_TOKEN, DemoFiles, extension_auth_data, write_kubeconfig};
use metrics_server_sim::kubelet::{KubeletFleet, KubeletOptions, spawn_kubelet_subset};
use metrics_server_sim::workload::{Workload, WorkloadSpec};

/// Runs the simulated cluster (or one shard of it) until the harness goes away.
pub async fn run(args: SimClusterArgs) -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let shard = start(&args).await?;
    println!("READY {}", shard.ready_file.display());

    tokio::select! {
        () = stdin_closed() => {}
        () = metrics_server::server::wait_for_signal() => {}
    }
    shard.shutdown().await;
    Ok(())
}

/// One running shard of the simulated cluster. Dropping it stops it.
pub struct RunningShard {
    /// `cluster.json` (shard 0) or this shard's `kubelets-<I>.json`.
    pub ready_file: PathBuf,
    kubelets: KubeletFleet,
    apiserver: Option<ApiServerHandle>,
}

impl RunningShard {
    /// The kubelets this shard serves.
    pub fn kubelets(&self) -> &KubeletFleet {
        &self.kubelets
    }

    /// Stops the API server (if any) and the kubelets.
    pub async fn shutdown(self) {
        if let Some(apiserver) = self.apiserver {
            apiserver.shutdown().await;
        }
        self.kubelets.shutdown().await;
    }
}

/// Starts the kubelets of this shard's nodes and, on shard 0, the API server; writes the
/// shard's files into `--dir`.
pub async fn start(args: &SimClusterArgs) -> anyhow::Result<RunningShard> {
    if args.shard >= args.shards {
        bail!(
            "--shard {} out of range for --shards {}",
            args.shard,
            args.shards
        );
    }
    std::fs::create_dir_all(&args.dir)
        .with_context(|| format!("creating {}", args.dir.display()))?;
    let ca = Arc::new(load_ca(args)?);
    let workload = Arc::new(Workload::generate_at(
        WorkloadSpec {
            nodes: usize::try_from(args.nodes).unwrap_or(usize::MAX),
            pods_per_node: usize::try_from(args.pods_per_node).unwrap_or(usize::MAX),
            seed: 1,
        },
        args.created_ms
            .map_or_else(Timestamp::now, Timestamp::from_millis),
    ));
    let positions: Vec<usize> =
        shard::node_positions(workload.nodes().len(), args.shard, args.shards).collect();
    let kubelets = spawn_kubelet_subset(
        workload.clone(),
        &positions,
        KubeletOptions {
            ca: ca.clone(),
            required_bearer_token: Some(DEMO_TOKEN.to_string()),
            resource_endpoint_404: false,
        },
    )
    .await
    .context("starting the simulated kubelets (is `ulimit -n` large enough?)")?;
    let own = kubelet_addrs(&kubelets);

    if args.shard > 0 {
        let path = args.dir.join(ShardEndpoints::file_name(args.shard));
        ShardEndpoints {
            shard: args.shard,
            shards: args.shards,
            kubelets: own,
        }
        .write(&path)?;
        return Ok(RunningShard {
            ready_file: path,
            kubelets,
            apiserver: None,
        });
    }
    let mut parts = vec![own];
    for path in &args.kubelets_from {
        parts.push(ShardEndpoints::read(path)?.kubelets);
    }
    let every_kubelet = shard::merge_endpoints(&workload, parts)?;
    let (apiserver, ready_file) =
        start_control_plane(&args.dir, &ca, &workload, every_kubelet).await?;
    Ok(RunningShard {
        ready_file,
        kubelets,
        apiserver: Some(apiserver),
    })
}

/// The CA of `--ca-cert`/`--ca-key`, or a new one (a single process only: shards must share
/// the CA the server trusts).
fn load_ca(args: &SimClusterArgs) -> anyhow::Result<CertAuthority> {
    match (&args.ca_cert, &args.ca_key) {
        (Some(cert), Some(key)) => {
            let read = |p: &PathBuf| {
                std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))
            };
            Ok(CertAuthority::from_pem(&read(cert)?, &read(key)?)?)
        }
        _ if args.shards > 1 => bail!("--shards > 1 needs the shared CA (--ca-cert, --ca-key)"),
        _ => Ok(CertAuthority::new("metrics-server-bench-ca")?),
    }
}

fn kubelet_addrs(kubelets: &KubeletFleet) -> Vec<KubeletAddr> {
    kubelets
        .endpoints()
        .iter()
        .map(|e| KubeletAddr {
            node: e.node.clone(),
            ip: e.ip,
            port: e.port,
        })
        .collect()
}

/// The API server publishing every kubelet, the certificates, the kubeconfig and
/// `cluster.json` (returned with the server).
async fn start_control_plane(
    dir: &Path,
    ca: &CertAuthority,
    workload: &Arc<Workload>,
    kubelets: Vec<KubeletAddr>,
) -> anyhow::Result<(ApiServerHandle, PathBuf)> {
    let front_proxy_ca = CertAuthority::new("metrics-server-bench-front-proxy-ca")?;
    let loopback = [IpAddr::V4(Ipv4Addr::LOCALHOST)];
    let mut api_opts = ApiServerOptions::new(
        ca.issue_server("bench-apiserver", &["localhost"], &loopback)?,
        DEMO_TOKEN,
        workload.clone(),
    );
    api_opts.kubelets = kubelets
        .iter()
        .map(|k| (k.node.clone(), k.ip, k.port))
        .collect();
    // The front-proxy CA and headers, as kube-apiserver publishes them: the load generator
    // calls the server as the aggregator does.
    api_opts.extension_auth = Some(extension_auth_data(
        ca.cert_pem(),
        front_proxy_ca.cert_pem(),
    ));
    let apiserver = spawn_apiserver(api_opts).await?;

    let files = DemoFiles::new(dir);
    let serving = ca.issue_server("metrics-server", &["localhost"], &loopback)?;
    let front_proxy = front_proxy_ca.issue_client("front-proxy-client", &[])?;
    files.write(ca, &front_proxy_ca, &serving, &front_proxy)?;
    let kubeconfig = dir.join("kubeconfig");
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
        kubelets,
        pod_sample: pod_sample(workload),
    };
    let path = dir.join("cluster.json");
    manifest.write(&path)?;
    Ok((apiserver, path))
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
