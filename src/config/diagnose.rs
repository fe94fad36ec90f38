//! Flags of `metrics-server diagnose`: which Service and ServiceAccount to check, how to
//! print, how many nodes to try, and every flag of the server (so the Deployment's arguments
//! can be pasted as they are: the kubelet flags decide how nodes are dialled and verified,
//! `--kubelet-metrics-source` which kubelet permissions are needed).

use std::fmt;
use std::str::FromStr;

use clap::{Args, ValueEnum};

use super::ServeArgs;

/// Flags of `metrics-server diagnose`.
#[derive(Debug, Args)]
pub struct DiagnoseArgs {
    /// The Service the metrics APIServices should point at, NAMESPACE/NAME [default: the
    /// server's --apiservice-service, else kube-system/metrics-server]
    #[arg(long, value_name = "NAMESPACE/NAME")]
    pub service: Option<ObjectName>,
    /// The ServiceAccount the server runs as, NAMESPACE/NAME
    #[arg(
        long,
        value_name = "NAMESPACE/NAME",
        default_value = "kube-system/metrics-server"
    )]
    pub service_account: ObjectName,
    /// Read the serving certificate from this kubernetes.io/tls Secret (NAMESPACE/NAME)
    /// instead of a TLS handshake with an endpoint of the Service
    #[arg(long, value_name = "NAMESPACE/NAME")]
    pub serving_cert_secret: Option<ObjectName>,
    /// Check this many nodes' kubelets, spread over the node list by name (0: every node)
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub nodes: usize,
    /// Output format
    #[arg(short = 'o', long = "output", value_enum, default_value = "text")]
    pub output: OutputFormat,
    /// Flags of the server, accepted as the Deployment passes them.
    #[command(
        flatten,
        next_help_heading = "Flags of the server (as its Deployment passes them)"
    )]
    pub serve: ServeArgs,
}

/// How the report is printed.
#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// One line per check
    Text,
    /// One JSON document with the same checks
    Json,
}

/// A namespaced object name given as `NAMESPACE/NAME`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectName {
    pub namespace: String,
    pub name: String,
}

impl FromStr for ObjectName {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.split_once('/') {
            Some((namespace, name))
                if !namespace.is_empty() && !name.is_empty() && !name.contains('/') =>
            {
                Ok(ObjectName {
                    namespace: namespace.to_owned(),
                    name: name.to_owned(),
                })
            }
            _ => Err(format!("{text:?} is not NAMESPACE/NAME")),
        }
    }
}

impl fmt::Display for ObjectName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Cli, Command};
    use clap::Parser;

    fn diagnose(args: &[&str]) -> Result<DiagnoseArgs, clap::Error> {
        let argv = ["metrics-server", "diagnose"].iter().chain(args);
        match Cli::try_parse_from(argv)?.command {
            Some(Command::Diagnose(args)) => Ok(*args),
            other => panic!("not diagnose: {other:?}"),
        }
    }

    #[test]
    fn takes_the_deployment_s_flags_as_they_are() {
        let args = diagnose(&[
            "--cert-dir=/tmp",
            "--secure-port=10250",
            "--kubelet-preferred-address-types=InternalIP,ExternalIP,Hostname",
            "--kubelet-use-node-status-port",
            "--metric-resolution=15s",
            "--service",
            "monitoring/ms",
            "-o",
            "json",
            "--nodes=5",
        ])
        .unwrap();
        assert_eq!(args.service.unwrap().to_string(), "monitoring/ms");
        assert_eq!(
            args.service_account.to_string(),
            "kube-system/metrics-server"
        );
        assert_eq!((args.output, args.nodes), (OutputFormat::Json, 5));
        let cfg = args.serve.validate().unwrap();
        assert_eq!(cfg.kubelet.preferred_address_types[0], "InternalIP");
        assert!(cfg.kubelet.use_node_status_port);
        let defaults = diagnose(&[]).unwrap();
        assert_eq!(defaults.output, OutputFormat::Text);
        assert_eq!(defaults.nodes, 0);
        assert_eq!(defaults.service, None);
        assert!(diagnose(&["--service", "metrics-server"]).is_err());
        assert!(diagnose(&["-o", "yaml"]).is_err());
    }

    #[test]
    fn object_names_need_both_parts() {
        let parsed: ObjectName = "monitoring/adapter".parse().unwrap();
        assert_eq!(parsed.namespace, "monitoring");
        assert_eq!(parsed.name, "adapter");
        assert_eq!(parsed.to_string(), "monitoring/adapter");
        for bad in ["adapter", "/adapter", "monitoring/", "a/b/c", ""] {
            assert!(bad.parse::<ObjectName>().is_err(), "{bad}");
        }
    }
}
