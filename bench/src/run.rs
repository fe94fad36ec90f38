//! One harness run: start the simulated cluster, the server and the raw fetcher as separate
//! processes, wait for the warm-up, measure for the duration under load, stop everything.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use super::cpu_breakdown::{CpuBreakdown, StageSeconds};
use super::https::{self, Identity, Protocols, timed_get};
use super::loadgen::{self, LoadResults, Target, percentile};
use super::manifest::ClusterManifest;
use super::process::{Proc, spawn, this_executable};
use super::procstat::{self, MachineCpu};
use super::report::Report;
use super::scrape_cycles::{CycleWindow, ScrapeCounters};
use super::server_metrics::MetricsReading;
use super::server_stderr::StderrTail;
use super::shard;
use super::simulator::{Simulator, SimulatorSpec};
use crate::config::BenchArgs;

/// How long the server may take to finish its first two cycles after the warm-up.
const READY_TIMEOUT: Duration = Duration::from_secs(600);

/// CPU readings of every process at one instant.
struct CpuReading {
    at: Instant,
    server: Duration,
    raw: Duration,
    sim: Duration,
    harness: Duration,
    machine: MachineCpu,
}

fn read_cpu(server: &Proc, raw: &Proc, sim: &Simulator) -> CpuReading {
    let cpu = |pid| procstat::cpu_time(pid).unwrap_or_default();
    CpuReading {
        at: Instant::now(),
        server: cpu(server.pid()),
        raw: cpu(raw.pid()),
        sim: sim.cpu_time(),
        harness: cpu(std::process::id()),
        machine: procstat::machine_cpu(),
    }
}

/// Runs the whole measurement for `nodes` nodes.
pub async fn run_once(args: &BenchArgs, nodes: u32) -> anyhow::Result<Report> {
    let resolution = args
        .metric_resolution
        .to_std()
        .context("--metric-resolution must be positive")?;
    let duration = args
        .duration
        .to_std()
        .context("--duration must be positive")?;
    let warmup = args.warmup.to_std().unwrap_or_default();
    let work = args
        .out
        .parent()
        .unwrap_or(Path::new("."))
        .join(format!("work-{nodes}"));
    let hard_limit = procstat::open_files_hard_limit();
    let shards = args
        .sim_shards
        .unwrap_or_else(|| shard::shards_for(nodes, hard_limit));
    warn_if_too_few_files(hard_limit, nodes, shards);
    tracing::info!(
        nodes,
        pods_per_node = args.pods_per_node,
        processes = shards,
        "Starting the simulated cluster."
    );
    let (mut sim, manifest) = Simulator::start(&SimulatorSpec {
        nodes,
        pods_per_node: args.pods_per_node,
        shards,
        work: &work,
    })
    .await?;
    let run = Run {
        args,
        manifest: &manifest,
        work: &work,
        resolution,
        duration,
        warmup,
    };
    let ours = measure(&run, &server_binary(args)?, &mut sim).await?;
    let Some(peer) = &args.peer else {
        return Ok(ours);
    };
    tracing::info!(peer = %peer.display(), "Measuring the peer server on the same cluster.");
    let theirs = measure(&run, peer, &mut sim).await?;
    Ok(ours.with_peer(theirs))
}

/// What every server of one run shares: the flags, the simulated cluster, the windows.
struct Run<'a> {
    args: &'a BenchArgs,
    manifest: &'a ClusterManifest,
    work: &'a Path,
    resolution: Duration,
    duration: Duration,
    warmup: Duration,
}

/// Starts `binary` with the server flags and the raw fetch beside it, waits for it to serve,
/// measures it without and with the API load, and stops both.
async fn measure(run: &Run<'_>, binary: &Path, sim: &mut Simulator) -> anyhow::Result<Report> {
    let Run {
        args,
        manifest,
        work,
        resolution,
        duration,
        warmup,
    } = *run;
    let manifest = manifest.clone();
    let started = Instant::now();
    let port = free_port()?;
    let tail = StderrTail::default();
    let mut server = start_server(binary, &manifest, port, args, &tail)?;
    let raw = spawn(
        "raw-fetch",
        &this_executable()?,
        &[
            "raw-fetch".into(),
            format!("--cluster={}", work.join("cluster.json").display()),
            format!("--interval={}s", resolution.as_secs_f64()),
        ],
        |_| {},
    )?;
    tracing::info!(port, "Server started; warming up.");
    wait_authorized(&manifest, port, &mut server, &tail).await?;
    let target = Arc::new(Target {
        base_url: format!("https://127.0.0.1:{port}"),
        identity: Identity::front_proxy(&manifest)?,
        pods: manifest.pod_sample.clone(),
        work_dir: work.to_path_buf(),
    });
    let metrics_client = https::client(&manifest.ca, Some(&target.identity), Protocols::Http1, 1)?;
    let read_metrics = || MetricsReading::read(&metrics_client, &target.base_url, &target.identity);
    let ready = Ready {
        warm_until: started + warmup,
        tail: &tail,
    };
    wait_ready(&ready, read_metrics, &mut server, sim).await?;
    // Four cycles: over two, one cycle's jitter moved the ratio by ±0.25 between runs.
    let no_load_window = resolution * 4;
    tracing::info!(
        seconds = no_load_window.as_secs(),
        "Measuring the scrape pipeline without API load."
    );
    // The counters are read just outside each CPU window: a `/metrics` answer walks every
    // pod for the coverage gauges and prints several series per node. The read that ends the
    // quiet window also starts the loaded one (only the load's clients are made in between).
    let quiet_metrics_before = read_metrics().await;
    let quiet_before = read_cpu(&server, &raw, sim);
    tokio::time::sleep(no_load_window).await;
    let quiet_after = read_cpu(&server, &raw, sim);
    let quiet_metrics_after = read_metrics().await;

    tracing::info!(seconds = duration.as_secs(), "Measuring under load.");
    let clients = usize::try_from(args.get_clients).unwrap_or(0);
    let list_client = load_clients(&manifest, &target.identity, 2)?;
    let get_client = load_clients(&manifest, &target.identity, clients)?;
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let before = read_cpu(&server, &raw, sim);
    let load = tokio::spawn(loadgen::run(
        target.clone(),
        list_client,
        get_client,
        clients,
        stop_rx,
    ));
    let mut rss_peak_kib = 0u64;
    while before.at.elapsed() < duration {
        tokio::time::sleep(Duration::from_secs(1)).await;
        if let Some(mem) = procstat::memory(server.pid()) {
            rss_peak_kib = rss_peak_kib.max(mem.rss_kib);
        }
        if let Some(status) = server.exited() {
            bail!(
                "the server exited during the run ({status}):\n{}",
                tail.text()
            );
        }
    }
    let after = read_cpu(&server, &raw, sim);
    let metrics_after = read_metrics().await;
    let _ = stop.send(true);
    let results = load.await.unwrap_or_default();
    let hwm_kib = procstat::memory(server.pid()).map_or(0, |m| m.hwm_kib);
    let code_kib = procstat::own_code_rss_kib(server.pid()).unwrap_or(0);
    let raw_hwm_kib = procstat::memory(raw.pid()).map_or(0, |m| m.hwm_kib);
    let sim_processes = sim.processes();
    drop(raw);
    drop(server);

    let cycles = match (&quiet_metrics_after.scrape, &metrics_after.scrape) {
        (Some(start), Some(end)) => {
            CycleWindow::between(start, end, after.at - before.at, resolution)
        }
        _ => bail!("the server's /metrics has no metrics_server_manager_tick_duration_seconds"),
    };
    let servable_pods = metrics_after.scrape.and_then(|s| s.pods_served);
    let mut report = build_report(&manifest, &before, &after, &cycles, &results);
    report.metric_resolution_seconds = resolution.as_secs_f64();
    report.servable_pods = servable_pods.map_or(0, |n| n as usize);
    report.server_rss_mib = hwm_kib as f64 / 1024.0;
    report.server_rss_sampled_peak_mib = rss_peak_kib as f64 / 1024.0;
    report.server_code_rss_mib = code_kib as f64 / 1024.0;
    report.server_metrics_text_bytes = metrics_after.text_bytes;
    report.server_metrics_wire_bytes = metrics_after.wire_bytes;
    report.rss_mib_per_node = report.server_rss_mib / report.nodes.max(1) as f64;
    report.raw_fetch_rss_mib = raw_hwm_kib as f64 / 1024.0;
    report.get_pod_clients = clients;
    report.simulator_processes = sim_processes;
    let quiet_wall = quiet_after.at - quiet_before.at;
    report.server_cpu_no_load_mcores = mcores(
        quiet_after.server.saturating_sub(quiet_before.server),
        quiet_wall,
    );
    report.raw_fetch_cpu_no_load_mcores =
        mcores(quiet_after.raw.saturating_sub(quiet_before.raw), quiet_wall);
    report.cpu_vs_raw_fetch_no_load = (report.raw_fetch_cpu_no_load_mcores > 0.0)
        .then(|| report.server_cpu_no_load_mcores / report.raw_fetch_cpu_no_load_mcores);
    report.server_cpu_api_load_mcores =
        (report.server_cpu_mcores - report.server_cpu_no_load_mcores).max(0.0);
    let breakdown = |before: Option<StageSeconds>, after: Option<StageSeconds>, wall, total| {
        Some(CpuBreakdown::between(&before?, &after?, wall, total))
    };
    report.server_cpu_breakdown_mcores = breakdown(
        quiet_metrics_after.stages.clone(),
        metrics_after.stages,
        after.at - before.at,
        report.server_cpu_mcores,
    );
    report.server_cpu_breakdown_no_load_mcores = breakdown(
        quiet_metrics_before.stages,
        quiet_metrics_after.stages,
        quiet_wall,
        report.server_cpu_no_load_mcores,
    );
    report.check_targets();
    Ok(report)
}

/// Warns when the hard open-files limit (inherited by every bench process) is too low for
/// a simulator process's share of the kubelets or for the server's connections to them.
fn warn_if_too_few_files(hard_limit: Option<u64>, nodes: u32, shards: u32) {
    let Some(hard) = hard_limit else {
        return;
    };
    let needs = shard::files_needed(nodes, shards);
    for (process, needed) in needs.into_iter().filter(|&(_, n)| n > hard) {
        tracing::warn!(
            hard_limit = hard,
            needed,
            process,
            simulator_processes = shards,
            "The open-files hard limit is too low for this many simulated kubelets; \
             expect failed scrapes (raise it with `ulimit -Hn` as root)."
        );
    }
}

/// A client per protocol, keeping up to `max_idle` connections (HTTP/2 needs one).
fn load_clients(
    m: &ClusterManifest,
    identity: &Identity,
    max_idle: usize,
) -> anyhow::Result<loadgen::Clients> {
    Ok(loadgen::Clients {
        http1: https::client(&m.ca, Some(identity), Protocols::Http1, max_idle)?,
        http2: https::client(&m.ca, Some(identity), Protocols::Http2, 1)?,
    })
}

fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener.local_addr()?.port())
}

/// The server with the flags an operator would use.
fn start_server(
    binary: &Path,
    m: &ClusterManifest,
    port: u16,
    args: &BenchArgs,
    tail: &StderrTail,
) -> anyhow::Result<Proc> {
    let mut flags = vec![
        format!("--kubeconfig={}", m.kubeconfig.display()),
        // Outside a cluster upstream's delegated authentication and authorization need their
        // kubeconfig named; ours uses --kubeconfig for both either way.
        format!("--authentication-kubeconfig={}", m.kubeconfig.display()),
        format!("--authorization-kubeconfig={}", m.kubeconfig.display()),
        format!("--kubelet-certificate-authority={}", m.ca.display()),
        "--kubelet-use-node-status-port".to_string(),
        "--kubelet-preferred-address-types=InternalIP".to_string(),
        format!("--metric-resolution={}", args.metric_resolution),
        "--bind-address=127.0.0.1".to_string(),
        format!("--secure-port={port}"),
        format!("--tls-cert-file={}", m.serving_cert.display()),
        format!("--tls-private-key-file={}", m.serving_key.display()),
    ];
    flags.extend(args.server_args.iter().cloned());
    let mut server = spawn("server", binary, &flags, |cmd| {
        cmd.env(
            "METRICS_BENCH_WRAP",
            args.server_wrapper.as_deref().unwrap_or_default(),
        )
        .stderr(Stdio::piped());
    })?;
    let stderr = server.child.stderr.take().context("server stderr")?;
    let tail = tail.clone();
    std::thread::spawn(move || tail.follow(stderr));
    Ok(server)
}

/// The server binary under test: `--server`, else `metrics-server` beside this executable
/// (both are built by `cargo build --release` in the workspace).
fn server_binary(args: &BenchArgs) -> anyhow::Result<PathBuf> {
    let path = match &args.server {
        Some(path) => path.clone(),
        None => this_executable()?.with_file_name("metrics-server"),
    };
    anyhow::ensure!(
        path.is_file(),
        "no server binary at {}: build it with `cargo build --release`, or pass --server PATH",
        path.display()
    );
    Ok(path)
}

/// Waits until the server accepts the front-proxy identity: it reads the front-proxy CA from
/// the cluster, which a loaded simulated API server may answer a minute late.
async fn wait_authorized(
    manifest: &ClusterManifest,
    port: u16,
    server: &mut Proc,
    tail: &StderrTail,
) -> anyhow::Result<()> {
    let identity = Identity::front_proxy(manifest)?;
    let client = https::client(&manifest.ca, Some(&identity), Protocols::Http1, 1)?;
    let Some((namespace, name)) = manifest.pod_sample.first() else {
        return Ok(());
    };
    let url = format!(
        "https://127.0.0.1:{port}/apis/metrics.k8s.io/v1beta1/namespaces/{namespace}/pods/{name}"
    );
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        let status = timed_get(&client, &url, &identity.headers, false, None)
            .await
            .map_or(0, |t| t.status);
        if status != 401 && status != 403 && status != 0 {
            return Ok(());
        }
        if let Some(exit) = server.exited() {
            bail!("the server exited ({exit}):\n{}", tail.text());
        }
        if Instant::now() >= deadline {
            bail!(
                "the server did not accept the front-proxy identity in time (last status {status})"
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// What [`wait_ready`] waits for.
struct Ready<'a> {
    warm_until: Instant,
    tail: &'a StderrTail,
}

/// Waits until the warm-up is over and the server has finished two scrape cycles since it
/// first served pods (its `/metrics`, read every second: cheap before the measurement).
async fn wait_ready<F, Fut>(
    ready: &Ready<'_>,
    read_metrics: F,
    server: &mut Proc,
    sim: &mut Simulator,
) -> anyhow::Result<()>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = MetricsReading>,
{
    let deadline = ready.warm_until + READY_TIMEOUT;
    let mut serving_since: Option<u64> = None;
    loop {
        if let Some(scrape) = read_metrics().await.scrape {
            if serving_since.is_none() && serves_pods(&scrape) {
                serving_since = Some(scrape.cycles);
            }
            let cycles_serving =
                serving_since.map_or(0, |first| scrape.cycles.saturating_sub(first));
            if Instant::now() >= ready.warm_until && cycles_serving >= 2 {
                return Ok(());
            }
        }
        if let Some(status) = server.exited() {
            bail!("the server exited ({status}):\n{}", ready.tail.text());
        }
        if let Some(status) = sim.exited() {
            bail!("a simulated cluster process exited ({status})");
        }
        if Instant::now() >= deadline {
            bail!(
                "the server did not serve pods in time:\n{}",
                ready.tail.text()
            );
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Whether the server serves pods: its own gauge, or for a server without it, any cycle
/// finished (the front-proxy identity was accepted before).
fn serves_pods(scrape: &ScrapeCounters) -> bool {
    scrape
        .pods_served
        .map_or(scrape.cycles > 0, |pods| pods > 0)
}

fn mcores(cpu: Duration, wall: Duration) -> f64 {
    cpu.as_secs_f64() / wall.as_secs_f64().max(1e-9) * 1000.0
}

fn build_report(
    m: &ClusterManifest,
    before: &CpuReading,
    after: &CpuReading,
    cycles: &CycleWindow,
    load: &LoadResults,
) -> Report {
    let wall = after.at - before.at;
    let server = mcores(after.server.saturating_sub(before.server), wall);
    let raw = mcores(after.raw.saturating_sub(before.raw), wall);
    let sim = mcores(after.sim.saturating_sub(before.sim), wall);
    let harness = mcores(after.harness.saturating_sub(before.harness), wall);
    let busy = procstat::busy_cores(before.machine, after.machine);
    let get = &load.get_pod_ms;
    let (gets, lists) = (&load.get_pod_by_protocol, &load.list_by_protocol);
    let (json_first, json_after) = loadgen::first_and_rest_p99(&load.list_json_ms);
    let (protobuf_first, protobuf_after) = loadgen::first_and_rest_p99(&load.list_protobuf_ms);
    Report {
        nodes: m.nodes,
        pods: m.running_pods,
        containers: m.containers,
        duration_seconds: wall.as_secs_f64(),
        server_cpu_mcores: server,
        server_cpu_mcores_per_node: server / m.nodes.max(1) as f64,
        scrape_cycle_p50_seconds: cycles.p50_seconds,
        scrape_cycle_p99_seconds: cycles.p99_seconds,
        cycles: cycles.cycles as usize,
        metric_freshness_p50_seconds: cycles.freshness_p50_seconds,
        metric_freshness_p99_seconds: cycles.freshness_p99_seconds,
        missed_cycles: cycles.missed as usize,
        failed_node_scrapes: cycles.failed_requests as usize,
        raw_fetch_cpu_mcores: raw,
        cpu_vs_raw_fetch: (raw > 0.0).then(|| server / raw),
        list_all_pods_json_p50_ms: percentile(&load.list_json_ms, 50.0),
        list_all_pods_json_p99_ms: percentile(&load.list_json_ms, 99.0),
        list_all_pods_json_bytes: load.list_json_bytes,
        list_all_pods_json_wire_bytes: load.list_json_wire_bytes,
        list_all_pods_json_items: load.list_json_items,
        list_all_pods_protobuf_p50_ms: percentile(&load.list_protobuf_ms, 50.0),
        list_all_pods_protobuf_p99_ms: percentile(&load.list_protobuf_ms, 99.0),
        list_all_pods_protobuf_bytes: load.protobuf_supported.then_some(load.list_protobuf_bytes),
        list_all_pods_protobuf_wire_bytes: load
            .protobuf_supported
            .then_some(load.list_protobuf_wire_bytes),
        list_all_pods_json_first_ms: json_first,
        list_all_pods_json_p99_after_first_ms: json_after,
        list_all_pods_protobuf_first_ms: protobuf_first,
        list_all_pods_protobuf_p99_after_first_ms: protobuf_after,
        get_pod_p50_ms: percentile(get, 50.0),
        get_pod_p99_ms: percentile(get, 99.0),
        get_pod_requests: get.len(),
        get_pod_http1_p99_ms: percentile(&gets.http1_ms, 99.0),
        get_pod_http2_p99_ms: percentile(&gets.http2_ms, 99.0),
        list_all_pods_http1_p99_ms: percentile(&lists.http1_ms, 99.0),
        list_all_pods_http2_p99_ms: percentile(&lists.http2_ms, 99.0),
        get_pod_at_or_over_20ms: gets.at_or_over(loadgen::SLOW_MS),
        list_all_pods_at_or_over_20ms: lists.at_or_over(loadgen::SLOW_MS),
        get_pod_not_found: load.get_pod_not_found,
        request_errors: load.errors,
        machine_cpus: procstat::cpu_count(),
        machine_busy_cores: busy,
        machine_other_busy_cores: (busy - (server + raw + sim + harness) / 1000.0).max(0.0),
        simulator_cpu_mcores: sim,
        harness_cpu_mcores: harness,
        load_average_1m: load_average(),
        ..Report::default()
    }
}

fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0)
}
