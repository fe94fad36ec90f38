//! The simulated cluster: kubelets with known true usage and a minimal Kubernetes API, the
//! `demo` that runs the server against them, and simulated nodes on a real API (`real_api`).
//! A tool beside the server: it uses the server's library, the server never uses it.

pub mod apiserver;
pub mod config;
pub mod demo;
pub mod kubelet;
pub mod net;
pub mod real_api;
pub mod workload;
