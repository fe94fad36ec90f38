//! Flags of `metrics-server certs`: make a CA and a serving certificate for the Service's DNS
//! names, for users who bring their own certificates (see `certs/README.md`).

use std::path::PathBuf;

use clap::Args;

use super::GoDuration;

/// Flags of `metrics-server certs`.
#[derive(Debug, Args)]
pub struct CertsArgs {
    /// Name of the Service in front of the server
    #[arg(long, default_value = "metrics-server")]
    pub service_name: String,
    /// Namespace of the Service
    #[arg(long, default_value = "kube-system")]
    pub namespace: String,
    /// Cluster domain for the fully qualified Service name
    #[arg(long, default_value = "cluster.local")]
    pub cluster_domain: String,
    /// Directory the files are written to (ca.crt, ca.key, tls.crt, tls.key)
    #[arg(long, value_name = "DIR", default_value = "./metrics-server-certs")]
    pub out_dir: PathBuf,
    /// Validity of the serving certificate
    #[arg(long, value_name = "DURATION", default_value = "8760h", value_parser = GoDuration::parse)]
    pub validity: GoDuration,
    /// Validity of the CA
    #[arg(long, value_name = "DURATION", default_value = "87600h", value_parser = GoDuration::parse)]
    pub ca_validity: GoDuration,
    /// Overwrite existing files
    #[arg(long)]
    pub force: bool,
}
