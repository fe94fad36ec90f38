//! The server process: wires the cluster watch, the kubelet client, the scrape loop, the
//! store and the HTTPS API together, and shuts them down in order on SIGTERM.

pub mod app;
pub mod audit_headers;
pub mod auth;
pub mod connection;
pub mod health;
pub mod housekeeping;
pub mod http;
pub mod kube_setup;
pub mod limits;
pub mod log_limit;
pub mod open_files;
pub mod response;
pub mod response_body;
pub mod self_ca;
pub mod serving;
pub mod tls;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;
use arc_swap::ArcSwap;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::api::selector::LabelSelector;
use crate::config::Config;
use crate::kubelet::KubeletClient;
use crate::scraper::backoff::{BackoffPolicy, NodeBackoff};
use crate::scraper::{ScrapeClock, Scraper, SnapshotOutlet};
use crate::store::{Snapshot, Store, StoreConfig};

/// How long in-flight requests may take to finish after shutdown starts.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// A started server; dropping it does not stop it, call [`Running::shutdown`].
pub struct Running {
    /// The HTTPS address actually bound (useful with `--secure-port=0`).
    pub local_addr: SocketAddr,
    /// The latest published snapshot (what the API serves).
    pub snapshot: Arc<ArcSwap<Snapshot>>,
    stop: watch::Sender<bool>,
    serving: tokio::task::JoinHandle<()>,
    background: Vec<tokio::task::JoinHandle<()>>,
    shutting_down: Arc<AtomicBool>,
    /// The periodic chores' thread; stops with the server.
    _housekeeping: housekeeping::Housekeeper,
}

impl Running {
    /// Makes `/readyz` fail while everything keeps serving (the start of a graceful shutdown).
    pub fn fail_readiness(&self) {
        self.shutting_down.store(true, Ordering::Release);
    }

    /// Fails readiness at once, stops accepting, drains in-flight requests, stops the loops.
    pub async fn shutdown(self) {
        self.shutting_down.store(true, Ordering::Release);
        let _ = self.stop.send(true);
        let _ = self.serving.await;
        for task in self.background {
            task.abort();
        }
    }
}

/// Starts everything and returns once the HTTPS listener is bound.
pub async fn start(cfg: Config) -> anyhow::Result<Running> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    warn_ignored_flags(&cfg);
    let descriptors = open_files::raise_soft_limit();
    let node_selector = match cfg.node_selector.as_deref() {
        Some(s) => {
            LabelSelector::parse(s).map_err(|e| anyhow::anyhow!("invalid --node-selector: {e}"))?
        }
        None => LabelSelector::everything(),
    };
    let api_cfg = kube_setup::kube_config(cfg.kubeconfig.as_deref()).await?;
    let kubelet_tls = kube_setup::kubelet_tls(&cfg.kubelet, &api_cfg)?;
    if cfg.kubelet.insecure_tls {
        tracing::warn!("Kubelet serving certificates are NOT verified (--kubelet-insecure-tls).");
    }
    let token = kube_setup::kubelet_token(&api_cfg);
    let client = kube::Client::try_from(api_cfg).context("building the Kubernetes API client")?;

    let mut chores = housekeeping::Chores::default();
    let auth = auth::setup::build(&cfg.auth, &client, &mut chores).await?;
    let self_managed = match cfg.auth.self_managed_ca {
        true => Some(self_ca::SelfManaged::setup(client.clone(), &self_ca::own_namespace()).await?),
        false => None,
    };
    let apiservice_watch = crate::apiservice::watch::run(client.clone(), our_service(&cfg));
    let (cluster, watch_fut) = crate::cluster::watch(client);
    let mut background = vec![tokio::spawn(watch_fut)];
    background.extend(auth.tasks.into_iter().map(tokio::spawn));
    background.push(tokio::spawn(apiservice_watch));

    let node_names = crate::kubelet::verify::NodeNames::new();
    let kubelet = KubeletClient::new(
        kube_setup::kubelet_client_config(&cfg, token, node_names.clone(), cfg.extra_resources),
        crate::kubelet::tls::client_config(kubelet_tls, node_names)?,
    );
    let snapshot = Arc::new(ArcSwap::from_pointee(Snapshot::empty()));
    let metrics = Arc::new(crate::telemetry::Metrics::new(cfg.metric_resolution));
    let clock = Arc::new(ScrapeClock::default());
    let store = Store::new(StoreConfig {
        ring_depth: cfg.storage_ring_depth,
        metric_resolution_ns: i64::try_from(cfg.metric_resolution.as_nanos()).unwrap_or(i64::MAX),
        extra_resources: cfg.extra_resources,
    });
    let outlet = SnapshotOutlet::new(snapshot.clone());
    // Taken before the scraper runs: the prebuild hears of every publish.
    let publishes = outlet.subscribe();
    let scraper = Scraper {
        client: Arc::new(kubelet),
        cluster: cluster.clone(),
        selects_node: {
            let node_selector = node_selector.clone();
            Box::new(move |labels| node_selector.matches(labels))
        },
        resolution: cfg.metric_resolution,
        store,
        published: outlet,
        clock: clock.clone(),
        metrics: metrics.clone(),
        publish_cost: Duration::ZERO,
        backoff: NodeBackoff::new(BackoffPolicy {
            resolution: cfg.metric_resolution,
            max_wait: cfg.kubelet.max_backoff,
        }),
        skip_virtual_nodes: cfg.kubelet.skip_virtual_nodes,
        known_nodes: None,
    };
    let scraping =
        crate::scraper::own_thread::start(scraper).context("starting the scraper thread")?;
    background.push(tokio::spawn(scraping));

    let pair = match &self_managed {
        Some(ca) => ca.issue_serving()?,
        None => tls::load_or_generate_serving_cert(&cfg.serving.cert)?,
    };
    let serving_cert = serving::ServingCert::new(&pair)?;
    let mut tls_config = serving::server_config(&cfg.auth.tls, serving_cert.clone())?;
    if cfg.compat.disable_http2 {
        let mut http1_only = (*tls_config).clone();
        http1_only.alpn_protocols = vec![b"http/1.1".to_vec()];
        tls_config = Arc::new(http1_only);
    }
    if let Some(files) = cfg.serving.cert.files.clone() {
        let mut reload = serving::CertReload::new(files, serving_cert.clone());
        chores.every(
            "serving certificate files",
            serving::RELOAD_INTERVAL,
            move || reload.check(),
        );
    }
    let addr = SocketAddr::new(cfg.serving.bind_address, cfg.serving.secure_port);
    let listener =
        bind(addr, cfg.compat.permit_port_sharing).with_context(|| format!("binding {addr}"))?;
    let local_addr = listener.local_addr()?;
    // After binding: a new caBundle makes the aggregator check us at once, and connections
    // wait in the listen queue rather than being refused (an APIService that flaps on every
    // start otherwise).
    if let Some(ca) = self_managed {
        if let Err(e) = ca.publish_ca_bundle().await {
            tracing::warn!(error = %format!("{e:#}"), "Could not set the APIService caBundle (grant apiservices get/patch, see manifests/overlays/self-managed-ca).");
        }
        background.push(tokio::spawn(ca.maintain(serving_cert.clone())));
    }
    let shutting_down = Arc::new(AtomicBool::new(false));
    let pod_lists = Arc::new(crate::api::list_cache::PodListCache::default());
    let unread_lists = pod_lists.clone();
    let resolution = cfg.metric_resolution;
    chores.every("unread list caches", resolution, move || {
        unread_lists.release_unread(resolution * 2)
    });
    background.push(tokio::spawn(pod_lists.clone().prebuild_on_publish(
        snapshot.clone(),
        publishes,
        cluster.clone(),
    )));
    let app = Arc::new(app::App::new(app::AppState {
        snapshot: snapshot.clone(),
        cluster,
        node_selector,
        clock,
        resolution: cfg.metric_resolution,
        shutting_down: shutting_down.clone(),
        gate: auth.gate,
        limits: limits::Limits::new(cfg.auth.max_requests_inflight, cfg.auth.request_timeout),
        metrics,
        pod_lists,
    }));
    let (stop, mut stop_rx) = watch::channel(false);
    let stopped = async move {
        let _ = stop_rx.wait_for(|s| *s).await;
    };
    let serve_opts = http::ServeOptions {
        drain: DRAIN_TIMEOUT,
        http2: !cfg.compat.disable_http2,
        http2_max_streams: cfg.compat.http2_max_streams,
        limits: open_files::fit_connection_cap(cfg.serving.connections, descriptors),
        head_budget_bytes: connection::head_budget::DEFAULT_BUDGET_BYTES,
    };
    let housekeeping = chores
        .start(housekeeping::TICK)
        .context("starting the housekeeping thread")?;
    let serving = tokio::spawn(http::serve(listener, tls_config, app, stopped, serve_opts));
    tracing::info!(address = %local_addr, "Serving metrics.k8s.io.");
    Ok(Running {
        local_addr,
        snapshot,
        stop,
        serving,
        background,
        shutting_down,
        _housekeeping: housekeeping,
    })
}

/// Runs until SIGTERM or Ctrl-C, then shuts down gracefully.
pub async fn run(cfg: Config) -> anyhow::Result<()> {
    let delay = cfg.compat.shutdown_delay;
    let running = start(cfg).await?;
    wait_for_signal().await;
    running.fail_readiness();
    if !delay.is_zero() {
        tracing::info!(delay = ?delay, "Shutdown requested; readiness fails, serving continues for --shutdown-delay-duration.");
        tokio::time::sleep(delay).await;
    }
    tracing::info!("Shutting down.");
    running.shutdown().await;
    Ok(())
}

/// Binds the HTTPS listener: SO_REUSEADDR as std does on Unix, SO_REUSEPORT with
/// `--permit-port-sharing`.
fn bind(addr: SocketAddr, reuse_port: bool) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    #[cfg(unix)]
    socket.set_reuseaddr(true)?;
    #[cfg(unix)]
    socket.set_reuseport(reuse_port)?;
    #[cfg(not(unix))]
    let _ = reuse_port;
    socket.bind(addr)?;
    socket.listen(1024)
}

/// The Service the metrics APIServices should point at: `--apiservice-service`, else
/// `metrics-server:443` in the ServiceAccount's namespace.
fn our_service(cfg: &Config) -> crate::apiservice::OurService {
    cfg.apiservice_service
        .clone()
        .unwrap_or_else(|| crate::apiservice::default_service(&self_ca::own_namespace()))
}

/// Logs one warning per upstream flag given that has no effect here.
fn warn_ignored_flags(cfg: &Config) {
    for warning in cfg.compat.ignored.warnings() {
        tracing::warn!("{warning}.");
    }
}

/// Completes on SIGTERM or SIGINT.
pub async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
