//! Flags of `metrics-server-sim`: `demo` (a simulated cluster plus the server on loopback) and
//! `nodes` (simulated nodes registered on a real Kubernetes API, see `crate::real_api`).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use metrics_server::config::{GoDuration, MetricsSource};
use metrics_server::usage::ExtraResources;

/// The `metrics-server-sim` command line.
#[derive(Debug, Parser)]
#[command(
    name = "metrics-server-sim",
    version,
    about = "A simulated Kubernetes cluster for metrics-server: kubelets with known true usage, \
             a minimal API with the aggregator's proxy, and the server itself"
)]
pub struct SimCli {
    #[command(subcommand)]
    pub command: SimCommand,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum SimCommand {
    /// Run a simulated cluster plus the server on loopback
    Demo(DemoArgs),
    /// Register simulated nodes on a real Kubernetes API and act as their kubelets
    Nodes(SimNodesArgs),
}

/// Flags of `metrics-server-sim demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Number of simulated nodes
    #[arg(long, default_value_t = 3)]
    pub nodes: u32,
    /// Running pods on each node (pods that have completed come on top of these)
    #[arg(long, default_value_t = 10)]
    pub pods_per_node: u32,
    /// Endpoint the simulated kubelets serve: resource or summary
    #[arg(long, default_value = "resource", value_parser = parse_demo_source)]
    pub kubelet_metrics_source: MetricsSource,
    /// Where to write a kubeconfig that reaches the demo server
    #[arg(long, value_name = "PATH", default_value = "./demo.kubeconfig")]
    pub kubeconfig_out: PathBuf,
    /// Port of the demo server on 127.0.0.1
    #[arg(long, default_value_t = 8443)]
    pub secure_port: u16,
    /// Scrape interval of the demo server
    #[arg(long, value_name = "DURATION", default_value = "15s", value_parser = GoDuration::parse)]
    pub metric_resolution: GoDuration,
    /// Resources the demo server serves beyond cpu and memory (its --extra-resources):
    /// swap, ephemeral-storage
    #[arg(long = "extra-resources", value_name = "RESOURCES", value_delimiter = ',',
          value_parser = parse_extra_resource,
          action = clap::ArgAction::Append)]
    extra_resources_list: Vec<ExtraResources>,
}

impl DemoArgs {
    /// The `--extra-resources` set.
    pub fn extra_resources(&self) -> ExtraResources {
        self.extra_resources_list
            .iter()
            .fold(ExtraResources::NONE, |set, one| ExtraResources {
                swap: set.swap || one.swap,
                ephemeral_storage: set.ephemeral_storage || one.ephemeral_storage,
            })
    }
}

/// One `--extra-resources` name.
fn parse_extra_resource(text: &str) -> Result<ExtraResources, String> {
    ExtraResources::NONE
        .with(text.trim())
        .ok_or_else(|| format!("{text:?} is not swap or ephemeral-storage"))
}

/// The demo's kubelets serve one endpoint, so `auto` is not offered.
fn parse_demo_source(text: &str) -> Result<MetricsSource, String> {
    match text {
        "resource" => Ok(MetricsSource::Resource),
        "summary" => Ok(MetricsSource::Summary),
        _ => Err(format!("{text:?} is not one of: resource, summary")),
    }
}

/// Flags of `metrics-server-sim nodes`.
#[derive(Debug, Args)]
pub struct SimNodesArgs {
    /// Kubeconfig of an identity that may manage nodes, leases and pods and create
    /// TokenReviews and SubjectAccessReviews (a cluster admin in tests)
    #[arg(long, value_name = "PATH")]
    pub kubeconfig: PathBuf,
    /// Number of nodes to register (sim-node-1 ... sim-node-N, on 127.0.<i/250+1>.<i%250+1>)
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=250))]
    pub nodes: u32,
    /// Where to write the CA certificate (PEM) that issued the kubelets' serving certificates
    #[arg(long, value_name = "PATH")]
    pub kubelet_ca_out: PathBuf,
    /// Authorize kubelet requests like a real kubelet in webhook mode (TokenReview, then a
    /// SubjectAccessReview for nodes/metrics or nodes/stats); false serves every caller
    #[arg(long, value_name = "BOOL", default_value_t = true, action = clap::ArgAction::Set)]
    pub authorize: bool,
    /// CPU of a pod without a usage annotation on itself or its namespace
    #[arg(long, value_name = "QUANTITY", default_value = "5m")]
    pub default_cpu: String,
    /// Memory of a pod without a usage annotation on itself or its namespace
    #[arg(long, value_name = "QUANTITY", default_value = "16Mi")]
    pub default_memory: String,
    /// Seed of the nodes' generated properties (system overhead, sample lag)
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// File read every second for per-node faults, clock skews and serving certificates, one
    /// line per node: `NODE [fault=none|hang|status500|garbage|down] [clock-skew=DURATION]
    /// [serving-cert=ip|no-ip-san]` (`down` stops the node's kubelet; `no-ip-san` serves a
    /// certificate naming the node but not its IP; a node not named is healthy)
    #[arg(long, value_name = "PATH")]
    pub control_file: Option<PathBuf>,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::time::Duration;

    use clap::Parser;

    use super::*;

    fn demo(args: &[&str]) -> Result<DemoArgs, clap::Error> {
        let cli = SimCli::try_parse_from(["metrics-server-sim", "demo"].iter().chain(args))?;
        match cli.command {
            SimCommand::Demo(demo) => Ok(demo),
            SimCommand::Nodes(_) => panic!("not the demo"),
        }
    }

    #[test]
    fn demo_flags_and_defaults() {
        let args = [
            "--nodes",
            "20",
            "--pods-per-node",
            "30",
            "--kubeconfig-out",
            "X",
        ];
        let d = demo(&args).unwrap();
        assert_eq!((d.nodes, d.pods_per_node), (20, 30));
        assert_eq!(d.kubeconfig_out, PathBuf::from("X"));
        assert_eq!(d.kubelet_metrics_source, MetricsSource::Resource);
        assert_eq!(d.secure_port, 8443);
        assert_eq!(d.metric_resolution.to_std(), Some(Duration::from_secs(15)));

        let d = demo(&[]).unwrap();
        assert_eq!((d.nodes, d.pods_per_node), (3, 10));
        assert_eq!(d.kubeconfig_out, PathBuf::from("./demo.kubeconfig"));

        let d = demo(&["--kubelet-metrics-source=summary"]).unwrap();
        assert_eq!(d.kubelet_metrics_source, MetricsSource::Summary);
        // The demo's kubelets serve one endpoint: `auto` is refused.
        assert!(demo(&["--kubelet-metrics-source=auto"]).is_err());
        // Server flags do not silently apply to the demo.
        assert!(demo(&["--kubelet-insecure-tls"]).is_err());
        assert_eq!(d.extra_resources(), ExtraResources::NONE);
        let d = demo(&[
            "--extra-resources=swap",
            "--extra-resources",
            "ephemeral-storage",
        ]);
        assert_eq!(d.unwrap().extra_resources(), ExtraResources::ALL);
        assert!(demo(&["--extra-resources=cpu"]).is_err());
    }
}
