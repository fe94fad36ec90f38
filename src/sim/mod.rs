//! The simulated cluster: kubelets with known true usage and a minimal Kubernetes API.

pub mod agent;
pub mod apiserver;
pub mod demo;
pub mod kubelet;
pub mod net;
pub mod workload;
