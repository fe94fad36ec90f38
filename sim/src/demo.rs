//! `metrics-server-sim demo`: a whole simulated cluster on loopback — kubelets with known true
//! usage, a minimal Kubernetes API that also plays the aggregator, and this server running
//! through its normal code paths (flags, kube-rs watches, kubelet HTTPS, TLS serving).

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use base64::Engine;
use clap::Parser;

use super::apiserver::{
    ApiServerHandle, ApiServerOptions, KnownToken, MetricsBackend, spawn_apiserver,
};
use super::kubelet::{Fault, KubeletFleet, KubeletOptions, spawn_kubelets};
use super::workload::{SimTaint, Workload, WorkloadSpec};
use crate::config::DemoArgs;
use metrics_server::config::{Cli, MetricsSource};
use metrics_server::pki::{CertAuthority, PemPair};
use metrics_server::server::Running;
use metrics_server::usage::ExtraResources;

/// The token the demo user, the server and the kubelets share.
pub const DEMO_TOKEN: &str = "metrics-server-demo-token";
/// A token the TokenReview accepts for [`NO_RBAC_USER`], whom the access reviews deny.
pub const NO_RBAC_TOKEN: &str = "metrics-server-demo-token-without-rbac";
pub const NO_RBAC_USER: &str = "no-rbac-user";
/// The CN of the front-proxy client certificate the aggregator presents.
pub const FRONT_PROXY_CN: &str = "front-proxy-client";

/// What to start.
#[derive(Clone, Debug)]
pub struct DemoOptions {
    pub nodes: usize,
    pub pods_per_node: usize,
    /// Which kubelet endpoint the server reads.
    pub source: MetricsSource,
    /// Where the kubeconfig goes; the certificates are written beside it.
    pub kubeconfig_out: PathBuf,
    /// Our server's port on 127.0.0.1 (0 picks a free one).
    pub secure_port: u16,
    pub metric_resolution: Duration,
    /// What the server serves beyond CPU and memory (its `--extra-resources`).
    pub extra_resources: ExtraResources,
}

impl DemoOptions {
    /// The cluster most tests start: `nodes` × `pods_per_node` read from `/metrics/resource`
    /// every 10 s, CPU and memory only, the server on a free port; the kubeconfig (and the
    /// certificates beside it) written to `kubeconfig_out`. Tests change the other fields with
    /// struct update syntax.
    pub fn for_test(nodes: usize, pods_per_node: usize, kubeconfig_out: PathBuf) -> Self {
        DemoOptions {
            nodes,
            pods_per_node,
            source: MetricsSource::Resource,
            kubeconfig_out,
            secure_port: 0,
            metric_resolution: Duration::from_secs(10),
            extra_resources: ExtraResources::NONE,
        }
    }
}

/// How a test wants the demo cluster beyond [`DemoOptions`]; the default is a healthy
/// cluster and the server with the demo's flags.
#[derive(Clone, Debug, Default)]
pub struct DemoSetup {
    /// Kubelets faulty before the server's first scrape, by node position in the workload.
    pub faults: Vec<(usize, Fault)>,
    /// Labels put on nodes, by position.
    pub node_labels: Vec<(usize, String, String)>,
    /// Taints put on nodes, by position.
    pub node_taints: Vec<(usize, SimTaint)>,
    /// Server flags given after the demo's own (not one of those: a flag given twice fails).
    pub server_flags: Vec<String>,
}

/// A running demo cluster. Call [`Demo::shutdown`] to stop it.
pub struct Demo {
    pub kubeconfig: PathBuf,
    pub workload: Arc<Workload>,
    pub server: Running,
    pub apiserver: ApiServerHandle,
    pub kubelets: KubeletFleet,
}

impl Demo {
    pub async fn shutdown(self) {
        self.server.shutdown().await;
        self.apiserver.shutdown().await;
        self.kubelets.shutdown().await;
    }
}

/// Starts kubelets, the minimal API, and the server; writes the kubeconfig and certificates.
pub async fn start(opts: DemoOptions) -> anyhow::Result<Demo> {
    start_with_faults(opts, &[]).await
}

/// Like [`start`], with the kubelets of some nodes (by workload position) faulty before the
/// server's first scrape.
pub async fn start_with_faults(
    opts: DemoOptions,
    faults: &[(usize, Fault)],
) -> anyhow::Result<Demo> {
    let setup = DemoSetup {
        faults: faults.to_vec(),
        ..DemoSetup::default()
    };
    start_with(opts, &setup).await
}

/// Like [`start`], set up as `setup` says.
pub async fn start_with(opts: DemoOptions, setup: &DemoSetup) -> anyhow::Result<Demo> {
    // Before anything is written: a second demo on a port in use must not overwrite the
    // kubeconfig and certificates of the one running there.
    ensure_port_free(opts.secure_port)?;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let ca = Arc::new(CertAuthority::new("metrics-server-demo-ca")?);
    let front_proxy_ca = CertAuthority::new("metrics-server-demo-front-proxy-ca")?;
    let mut workload = Workload::generate(WorkloadSpec {
        nodes: opts.nodes,
        pods_per_node: opts.pods_per_node,
        seed: 1,
    });
    for (position, key, value) in &setup.node_labels {
        let labelled = workload.label_node(*position, key, value);
        anyhow::ensure!(labelled, "no node at position {position} to label");
    }
    for (position, taint) in &setup.node_taints {
        let tainted = workload.taint_node(*position, taint.clone());
        anyhow::ensure!(tainted, "no node at position {position} to taint");
    }
    let workload = Arc::new(workload);
    let kubelets = spawn_kubelets(
        workload.clone(),
        KubeletOptions {
            ca: ca.clone(),
            required_bearer_token: Some(DEMO_TOKEN.to_string()),
            resource_endpoint_404: false,
        },
    )
    .await?;
    for &(position, fault) in &setup.faults {
        let node = workload.nodes().get(position);
        let set = node.is_some_and(|n| kubelets.set_fault(&n.name, fault));
        anyhow::ensure!(set, "no node at position {position} to make faulty");
    }
    let loopback = [IpAddr::V4(Ipv4Addr::LOCALHOST)];
    let mut api_opts = ApiServerOptions::new(
        ca.issue_server("demo-apiserver", &["localhost"], &loopback)?,
        DEMO_TOKEN,
        workload.clone(),
    );
    api_opts.kubelets = kubelets.triples();
    api_opts.known_tokens = vec![KnownToken {
        token: NO_RBAC_TOKEN.to_owned(),
        user: NO_RBAC_USER.to_owned(),
        groups: vec!["system:authenticated".to_owned()],
    }];
    api_opts.extension_auth = Some(extension_auth_data(
        ca.cert_pem(),
        front_proxy_ca.cert_pem(),
    ));
    let apiserver = spawn_apiserver(api_opts).await?;

    let dir = opts
        .kubeconfig_out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let files = DemoFiles::new(dir);
    let serving = ca.issue_server(
        "metrics-server",
        &["localhost", "metrics-server.kube-system.svc"],
        &loopback,
    )?;
    let front_proxy = front_proxy_ca.issue_client(FRONT_PROXY_CN, &[])?;
    files.write(&ca, &front_proxy_ca, &serving, &front_proxy)?;
    write_kubeconfig(&opts.kubeconfig_out, &apiserver.url(), ca.cert_pem())?;

    let cfg = server_config(&opts, &files, &setup.server_flags)?;
    let server = metrics_server::server::start(cfg).await?;
    let backend = MetricsBackend {
        url: format!("https://127.0.0.1:{}", server.local_addr.port()),
        ca_pem: ca.cert_pem().to_string(),
        client_cert_pem: front_proxy.cert_pem.clone(),
        client_key_pem: front_proxy.key_pem.clone(),
    };
    apiserver.set_metrics_backend(Some(&backend))?;
    Ok(Demo {
        kubeconfig: opts.kubeconfig_out.clone(),
        workload,
        server,
        apiserver,
        kubelets,
    })
}

/// Fails, naming the port, when the server could not bind it on 127.0.0.1 (0: any port).
fn ensure_port_free(port: u16) -> anyhow::Result<()> {
    if port == 0 {
        return Ok(());
    }
    match std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, port)) {
        Ok(_) => Ok(()),
        Err(err) => Err(anyhow::anyhow!(
            "cannot use port {port} on 127.0.0.1 for the demo server ({err}); is another demo \
             running? Pass --secure-port with a free port"
        )),
    }
}

/// The `kube-system/extension-apiserver-authentication` data kube-apiserver would publish:
/// the cluster CA for client certificates, the front-proxy CA and its allowed name and headers.
pub fn extension_auth_data(
    client_ca_pem: &str,
    front_proxy_ca_pem: &str,
) -> std::collections::BTreeMap<String, String> {
    [
        ("client-ca-file", client_ca_pem.to_owned()),
        (
            "requestheader-client-ca-file",
            front_proxy_ca_pem.to_owned(),
        ),
        (
            "requestheader-allowed-names",
            format!("[\"{FRONT_PROXY_CN}\"]"),
        ),
        (
            "requestheader-username-headers",
            "[\"X-Remote-User\"]".to_owned(),
        ),
        (
            "requestheader-group-headers",
            "[\"X-Remote-Group\"]".to_owned(),
        ),
        (
            "requestheader-extra-headers-prefix",
            "[\"X-Remote-Extra-\"]".to_owned(),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// The server's configuration, parsed from flags exactly as a user would pass them. No
/// authentication flags: like in a cluster, the server reads the front-proxy CA from the
/// `extension-apiserver-authentication` ConfigMap and reviews tokens and access through the
/// API of `--kubeconfig`.
fn server_config(
    opts: &DemoOptions,
    files: &DemoFiles,
    extra_flags: &[String],
) -> anyhow::Result<metrics_server::config::Config> {
    let source = match opts.source {
        MetricsSource::Resource => "resource",
        MetricsSource::Summary => "summary",
        MetricsSource::Auto => "auto",
    };
    let resolution = metrics_server::go_duration::format_duration(
        i64::try_from(opts.metric_resolution.as_nanos()).unwrap_or(i64::MAX),
    );
    let extra: Vec<&str> = opts.extra_resources.names().collect();
    let args = [
        "metrics-server".to_string(),
        format!("--extra-resources={}", extra.join(",")),
        format!("--kubeconfig={}", opts.kubeconfig_out.display()),
        format!("--kubelet-certificate-authority={}", files.ca.display()),
        "--kubelet-use-node-status-port".to_string(),
        "--kubelet-preferred-address-types=InternalIP,Hostname".to_string(),
        "--kubelet-request-timeout=5s".to_string(),
        format!("--kubelet-metrics-source={source}"),
        format!("--metric-resolution={resolution}"),
        "--bind-address=127.0.0.1".to_string(),
        format!("--secure-port={}", opts.secure_port),
        format!("--tls-cert-file={}", files.serving_cert.display()),
        format!("--tls-private-key-file={}", files.serving_key.display()),
    ];
    let args = args.into_iter().chain(extra_flags.iter().cloned());
    let cli = Cli::try_parse_from(args).context("demo server flags")?;
    Ok(cli.serve.validate()?)
}

/// Files written beside the kubeconfig, so a person can also reach the server directly.
pub struct DemoFiles {
    pub ca: PathBuf,
    pub front_proxy_ca: PathBuf,
    pub front_proxy_cert: PathBuf,
    pub front_proxy_key: PathBuf,
    pub serving_cert: PathBuf,
    pub serving_key: PathBuf,
}

impl DemoFiles {
    pub fn new(dir: &Path) -> Self {
        DemoFiles {
            ca: dir.join("demo-ca.crt"),
            front_proxy_ca: dir.join("demo-front-proxy-ca.crt"),
            front_proxy_cert: dir.join("demo-front-proxy-client.crt"),
            front_proxy_key: dir.join("demo-front-proxy-client.key"),
            serving_cert: dir.join("demo-metrics-server.crt"),
            serving_key: dir.join("demo-metrics-server.key"),
        }
    }

    pub fn write(
        &self,
        ca: &CertAuthority,
        fp_ca: &CertAuthority,
        serving: &PemPair,
        fp: &PemPair,
    ) -> anyhow::Result<()> {
        for (path, text) in [
            (&self.ca, ca.cert_pem()),
            (&self.front_proxy_ca, fp_ca.cert_pem()),
            (&self.front_proxy_cert, &fp.cert_pem),
            (&self.front_proxy_key, &fp.key_pem),
            (&self.serving_cert, &serving.cert_pem),
            (&self.serving_key, &serving.key_pem),
        ] {
            std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
        }
        Ok(())
    }
}

pub fn write_kubeconfig(path: &Path, server: &str, ca_pem: &str) -> anyhow::Result<()> {
    let ca = base64::engine::general_purpose::STANDARD.encode(ca_pem);
    let text = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: demo\n  cluster:\n    server: {server}\n    \
         certificate-authority-data: {ca}\nusers:\n- name: demo-user\n  user:\n    token: {DEMO_TOKEN}\n\
         contexts:\n- name: demo\n  context:\n    cluster: demo\n    user: demo-user\n    namespace: default\n\
         current-context: demo\n"
    );
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

/// `metrics-server-sim demo`: start, print what to try, run until Ctrl-C.
pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    let opts = DemoOptions {
        nodes: usize::try_from(args.nodes).unwrap_or(usize::MAX),
        pods_per_node: usize::try_from(args.pods_per_node).unwrap_or(usize::MAX),
        source: args.kubelet_metrics_source,
        kubeconfig_out: args.kubeconfig_out.clone(),
        secure_port: args.secure_port,
        metric_resolution: args
            .metric_resolution
            .to_std()
            .context("--metric-resolution must be positive")?,
        extra_resources: args.extra_resources(),
    };
    let demo = start(opts.clone()).await?;
    print_instructions(&demo, &opts);
    metrics_server::server::wait_for_signal().await;
    demo.shutdown().await;
    Ok(())
}

fn print_instructions(demo: &Demo, opts: &DemoOptions) {
    let kc = demo.kubeconfig.display();
    let dir = opts
        .kubeconfig_out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let port = demo.server.local_addr.port();
    println!(
        "Simulated cluster: {} nodes, {} running pods; API at {}; metrics-server at https://127.0.0.1:{port}\n\
         Metrics appear after two scrapes (about {:?}). Try:\n\
         \n  kubectl --kubeconfig {kc} top nodes\
         \n  kubectl --kubeconfig {kc} top pods -A\
         \n  kubectl --kubeconfig {kc} top pods -n team-a -l app=checkout --containers\
         \n  kubectl --kubeconfig {kc} get podmetrics -A\
         \n  kubectl --kubeconfig {kc} explain podmetrics\
         \n  kubectl --kubeconfig {kc} get --raw /apis/metrics.k8s.io/v1/nodes\
         \n  curl --cacert {d}/demo-ca.crt --cert {d}/demo-front-proxy-client.crt --key {d}/demo-front-proxy-client.key \\\n      -H 'X-Remote-User: demo-user' https://127.0.0.1:{port}/apis/metrics.k8s.io/v1beta1/nodes\n\
         \nPress Ctrl-C to stop.",
        opts.nodes,
        demo.workload.running_pods().count(),
        demo.apiserver.url(),
        opts.metric_resolution * 2,
        d = dir.display(),
    );
}
