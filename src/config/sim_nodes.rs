//! Flags of `metrics-server sim-nodes`: simulated nodes registered on a real Kubernetes API
//! (see `crate::sim::agent`).

use std::path::PathBuf;

use clap::Args;

/// Flags of `metrics-server sim-nodes`.
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
}
