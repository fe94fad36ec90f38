//! Flags of `metrics-server-bench` (the scale harness) and of the two hidden helper processes
//! it starts by re-executing this binary: `sim-cluster` (the simulated cluster) and
//! `raw-fetch` (the plain HTTPS client that sets the CPU floor).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use metrics_server::config::GoDuration;

/// The `metrics-server-bench` command line: the harness's flags, or a helper process.
#[derive(Debug, Parser)]
#[command(
    name = "metrics-server-bench",
    version,
    about = "Measures metrics-server at scale against a simulated cluster and writes a report",
    args_conflicts_with_subcommands = true
)]
pub struct BenchCli {
    #[command(subcommand)]
    pub helper: Option<BenchHelper>,
    #[command(flatten)]
    pub bench: BenchArgs,
}

/// The helper processes the harness starts from this binary.
#[derive(Debug, Subcommand)]
pub enum BenchHelper {
    /// Run only the simulated cluster
    #[command(hide = true)]
    SimCluster(SimClusterArgs),
    /// Fetch every kubelet's payload and discard it
    #[command(hide = true)]
    RawFetch(RawFetchArgs),
}

/// Flags of `metrics-server-bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Number of simulated nodes (one kubelet per loopback address, at most 15000)
    #[arg(long, default_value_t = 1000)]
    pub nodes: u32,
    /// Running pods on each node
    #[arg(long, default_value_t = 30)]
    pub pods_per_node: u32,
    /// How long to measure, after the warm-up
    #[arg(long, value_name = "DURATION", default_value = "120s", value_parser = GoDuration::parse)]
    pub duration: GoDuration,
    /// How long to run before measuring (at least two scrape cycles are waited for as well)
    #[arg(long, value_name = "DURATION", default_value = "20s", value_parser = GoDuration::parse)]
    pub warmup: GoDuration,
    /// The server's --metric-resolution
    #[arg(long, value_name = "DURATION", default_value = "15s", value_parser = GoDuration::parse)]
    pub metric_resolution: GoDuration,
    /// Where to write the JSON report (the human table goes to stdout; a sweep also writes a
    /// PNG next to it)
    #[arg(long, value_name = "PATH", default_value = "target/bench/scale.json")]
    pub out: PathBuf,
    /// Run once per node count (comma-separated) and plot CPU and RSS per node against nodes
    #[arg(long, value_name = "NODES", value_delimiter = ',')]
    pub sweep: Vec<u32>,
    /// Concurrent clients of the get-pod load
    #[arg(long, default_value_t = 200)]
    pub get_clients: u32,
    /// The metrics-server binary under test (default: `metrics-server` beside this executable)
    #[arg(long, value_name = "PATH")]
    pub server: Option<PathBuf>,
    /// Another metrics-server binary that takes upstream's flags (e.g. upstream v0.9.0),
    /// measured alone right after ours on the same cluster with the same flags and load; the
    /// report carries its figures (`peer`) and ours divided by them
    #[arg(long, value_name = "PATH")]
    pub peer: Option<PathBuf>,
    /// Extra flags passed to the server (repeatable), e.g. --server-arg=--v=2
    #[arg(long = "server-arg", value_name = "FLAG", allow_hyphen_values = true)]
    pub server_args: Vec<String>,
    /// Runs the server under this command for profiling, e.g. "heaptrack -o target/bench/heap"
    /// or "perf record -g -o target/bench/perf.data" (CPU and RSS then include the wrapper)
    #[arg(long, value_name = "COMMAND")]
    pub server_wrapper: Option<String>,
    /// Splits the simulated kubelets over this many processes instead of the count chosen from
    /// the node count and the open-files limit (to test the split at small scale)
    #[arg(long, value_name = "N", hide = true, value_parser = clap::value_parser!(u32).range(1..))]
    pub sim_shards: Option<u32>,
}

/// Flags of the hidden `sim-cluster` process.
#[derive(Debug, Args)]
pub struct SimClusterArgs {
    #[arg(long)]
    pub nodes: u32,
    #[arg(long)]
    pub pods_per_node: u32,
    /// Directory for the kubeconfig, certificates and `cluster.json` (or, for a kubelet-only
    /// shard, `kubelets-<shard>.json`)
    #[arg(long, value_name = "DIR")]
    pub dir: PathBuf,
    /// This process's share of the nodes: shard 0 also runs the API server and writes
    /// `cluster.json`, the others only serve kubelets
    #[arg(long, default_value_t = 0)]
    pub shard: u32,
    /// How many processes the nodes are split over
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub shards: u32,
    /// CA certificate (PEM) issuing every certificate; with several shards all must share one.
    /// Without it a new CA is created.
    #[arg(long, value_name = "PATH", requires = "ca_key")]
    pub ca_cert: Option<PathBuf>,
    /// The private key (PEM) of --ca-cert
    #[arg(long, value_name = "PATH", requires = "ca_cert")]
    pub ca_key: Option<PathBuf>,
    /// When the workload was generated, in Unix milliseconds (shards must agree; default now)
    #[arg(long, value_name = "MS")]
    pub created_ms: Option<i64>,
    /// Endpoint files written by the kubelet-only shards (shard 0 only; repeatable)
    #[arg(long, value_name = "PATH")]
    pub kubelets_from: Vec<PathBuf>,
}

/// Flags of the hidden `raw-fetch` process.
#[derive(Debug, Args)]
pub struct RawFetchArgs {
    /// The `cluster.json` written by `sim-cluster`
    #[arg(long, value_name = "PATH")]
    pub cluster: PathBuf,
    /// Fetch interval (the server's resolution)
    #[arg(long, value_name = "DURATION", default_value = "15s", value_parser = GoDuration::parse)]
    pub interval: GoDuration,
}
