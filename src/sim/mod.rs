//! The simulated cluster: kubelets with known true usage and a minimal Kubernetes API.

pub mod apiserver;
pub mod kubelet;
pub mod workload;
