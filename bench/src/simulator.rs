//! The simulated cluster as the harness runs it: one or more `sim-cluster` processes (shards,
//! see `shard.rs`) sharing one CA the harness creates. The kubelet-only shards start first;
//! shard 0 then learns their endpoints and starts the API server.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use anyhow::{Context, bail};

use super::manifest::ClusterManifest;
use super::process::{Proc, spawn, this_executable};
use super::procstat;
use metrics_server::pki::CertAuthority;
use metrics_server::time::Timestamp;

/// How long the simulated cluster may take to start (certificates for every node).
const SIM_START_TIMEOUT: Duration = Duration::from_secs(600);

/// The running simulator processes. Dropping it kills them all.
pub(super) struct Simulator {
    /// Kubelet-only shards first, shard 0 (the API server) last.
    shards: Vec<Proc>,
}

/// What every shard is started with.
pub(super) struct SimulatorSpec<'a> {
    pub(super) nodes: u32,
    pub(super) pods_per_node: u32,
    pub(super) shards: u32,
    pub(super) work: &'a Path,
}

impl Simulator {
    /// Starts every shard and returns once shard 0 has written `cluster.json`.
    pub(super) async fn start(spec: &SimulatorSpec<'_>) -> anyhow::Result<(Self, ClusterManifest)> {
        std::fs::create_dir_all(spec.work)
            .with_context(|| format!("creating {}", spec.work.display()))?;
        let (ca_cert, ca_key) = write_ca(spec.work)?;
        let created_ms = Timestamp::now().0 / 1_000_000;
        let flags = |shard: u32| {
            vec![
                "sim-cluster".to_string(),
                format!("--nodes={}", spec.nodes),
                format!("--pods-per-node={}", spec.pods_per_node),
                format!("--dir={}", spec.work.display()),
                format!("--shard={shard}"),
                format!("--shards={}", spec.shards),
                format!("--ca-cert={}", ca_cert.display()),
                format!("--ca-key={}", ca_key.display()),
                format!("--created-ms={created_ms}"),
            ]
        };
        let mut sim = Simulator { shards: Vec::new() };
        let mut waiting = Vec::new();
        for shard in 1..spec.shards {
            waiting.push((shard, sim.spawn_shard(flags(shard))?));
        }
        let mut main_flags = flags(0);
        for (shard, ready) in waiting {
            let file = await_ready(shard, ready).await?;
            main_flags.push(format!("--kubelets-from={}", file.display()));
        }
        let ready = sim.spawn_shard(main_flags)?;
        let manifest = ClusterManifest::read(&await_ready(0, ready).await?)?;
        Ok((sim, manifest))
    }

    fn spawn_shard(&mut self, flags: Vec<String>) -> anyhow::Result<ReadyLine> {
        let mut proc = spawn("sim-cluster", &this_executable()?, &flags, |cmd| {
            cmd.stdout(Stdio::piped());
        })?;
        let stdout = proc.child.stdout.take().context("simulator stdout")?;
        self.shards.push(proc);
        Ok(tokio::task::spawn_blocking(move || {
            for line in BufReader::new(stdout).lines() {
                if let Some(path) = line.ok()?.strip_prefix("READY ") {
                    return Some(PathBuf::from(path));
                }
            }
            None
        }))
    }

    /// How many processes simulate the cluster.
    pub(super) fn processes(&self) -> usize {
        self.shards.len()
    }

    /// CPU time of all the simulator processes so far.
    pub(super) fn cpu_time(&self) -> Duration {
        self.shards
            .iter()
            .filter_map(|p| procstat::cpu_time(p.pid()))
            .sum()
    }

    /// The exit status of the first simulator process that has exited, if any.
    pub(super) fn exited(&mut self) -> Option<ExitStatus> {
        self.shards.iter_mut().find_map(Proc::exited)
    }
}

/// A shard's `READY <path>` line, read by a blocking task.
type ReadyLine = tokio::task::JoinHandle<Option<PathBuf>>;

async fn await_ready(shard: u32, ready: ReadyLine) -> anyhow::Result<PathBuf> {
    match tokio::time::timeout(SIM_START_TIMEOUT, ready).await {
        Ok(Ok(Some(path))) => Ok(path),
        Ok(_) => bail!("simulator shard {shard} exited before it was ready"),
        Err(_) => bail!("simulator shard {shard} did not start within {SIM_START_TIMEOUT:?}"),
    }
}

/// Creates the CA every shard issues from and writes it to `work` (the key readable by the
/// owner only); returns the certificate and key paths.
fn write_ca(work: &Path) -> anyhow::Result<(PathBuf, PathBuf)> {
    use std::os::unix::fs::OpenOptionsExt;
    let ca = CertAuthority::new("metrics-server-bench-ca")?;
    let (cert, key) = (work.join("bench-ca.crt"), work.join("bench-ca.key"));
    std::fs::write(&cert, ca.cert_pem()).with_context(|| format!("writing {}", cert.display()))?;
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&key)
        .and_then(|mut f| f.write_all(ca.key_pem().as_bytes()))
        .with_context(|| format!("writing {}", key.display()))?;
    Ok((cert, key))
}
