//! `cluster.json`: what the `sim-cluster` process tells the harness about the cluster it
//! started (where its kubeconfig and certificates are, every kubelet, a sample of pods).

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};

/// The simulated cluster as the other bench processes see it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ClusterManifest {
    pub kubeconfig: PathBuf,
    /// CA of the apiserver, the kubelets and the server's serving certificate.
    pub ca: PathBuf,
    pub serving_cert: PathBuf,
    pub serving_key: PathBuf,
    /// Front-proxy client identity (what the aggregator presents to the server).
    pub front_proxy_cert: PathBuf,
    pub front_proxy_key: PathBuf,
    pub front_proxy_ca: PathBuf,
    /// Bearer token accepted by the apiserver and the kubelets.
    pub token: String,
    pub nodes: usize,
    pub running_pods: usize,
    pub containers: usize,
    pub kubelets: Vec<KubeletAddr>,
    /// Up to [`POD_SAMPLE`] Running pods as `(namespace, name)`, for single-pod GETs.
    pub pod_sample: Vec<(String, String)>,
}

/// How many pods [`ClusterManifest::pod_sample`] holds at most.
pub const POD_SAMPLE: usize = 2000;

/// One kubelet's address.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KubeletAddr {
    pub node: String,
    pub ip: IpAddr,
    pub port: u16,
}

impl ClusterManifest {
    pub fn write(&self, path: &Path) -> anyhow::Result<()> {
        write_json(self, path)
    }

    pub fn read(path: &Path) -> anyhow::Result<Self> {
        read_json(path)
    }
}

/// Writes `value` as JSON to `path` (the files the bench processes hand each other).
pub fn write_json(value: &impl Serialize, path: &Path) -> anyhow::Result<()> {
    let text = serde_json::to_vec(value)?;
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

/// Reads a JSON file written by [`write_json`].
pub fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> anyhow::Result<T> {
    let text = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_slice(&text).with_context(|| format!("parsing {}", path.display()))
}
