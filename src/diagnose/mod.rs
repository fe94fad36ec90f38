//! `metrics-server diagnose`: checks an installation the way the server and the aggregator
//! depend on it, and prints for each check OK, WARN or FAIL with the object, the cause and the
//! fix (pain points 1, 2, 4, 12, 13, 14: a metrics server that fails without saying why).
//!
//! In order, each family in a module of its own:
//!
//! * [`apiservice`]: `v1beta1` and `v1.metrics.k8s.io` exist, point at our Service (else:
//!   which provider owns them), and are Available (else: what the condition means, from
//!   [`crate::apiservice::guidance`]);
//! * [`service`]: the Service has the port they send to, with ready endpoints;
//! * [`serving_cert`]: the certificate an endpoint serves ([`serving_endpoint`],
//!   [`peer_cert`]) or its Secret holds names `NAME.NAMESPACE.svc`, and each `caBundle`
//!   verifies it;
//! * [`rbac`]: the ServiceAccount's permissions ([`rbac_needs`]) by SubjectAccessReview, and
//!   the aggregated reader ClusterRole;
//! * [`kubelets`]: each node's kubelet reached as the server's flags say, its certificate
//!   ([`kubelet_cert`]) and its clock ([`clock`]); the other lines, and how many nodes' lines
//!   are summed up, in [`kubelet_lines`].
//!
//! Read-only: the only objects created are SubjectAccessReviews, which are not stored. Every
//! API call and handshake has a deadline ([`cluster_api`]), lists are paged and capped, node
//! checks run [`kubelets::CONCURRENCY`] at a time, kubelet bodies are capped like the
//! server's. The report ([`report`]) is text, one line per check, or JSON with the same
//! checks; the exit code is 1 on any failure, 0 otherwise (warnings alone do not fail).

pub mod apiservice;
pub mod clock;
pub mod cluster_api;
pub mod kubelet_cert;
pub mod kubelet_lines;
pub mod kubelets;
pub mod peer_cert;
pub mod rbac;
pub mod rbac_needs;
pub mod report;
pub mod service;
pub mod serving_cert;
pub mod serving_endpoint;

use std::path::Path;

use anyhow::Context;
use k8s_openapi::kube_aggregator::pkg::apis::apiregistration::v1::APIService;
use kube::api::Api;

use crate::config::diagnose::{DiagnoseArgs, ObjectName, OutputFormat};
use crate::config::{Config, ServeArgs};
use cluster_api::ReadError;
use report::{Check, Report};

/// Runs every check and prints the report; returns the exit code.
pub fn main(args: DiagnoseArgs) -> u8 {
    let output = args.output;
    let report = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime.block_on(run(args)),
        Err(err) => {
            let mut report = Report::default();
            report.push(Check::fail(
                "diagnose",
                "process",
                format!("cannot start the async runtime: {err}"),
                "check the process limits (threads, memory)",
            ));
            report
        }
    };
    match output {
        OutputFormat::Text => print!("{}", report.to_text()),
        OutputFormat::Json => println!("{}", report.to_json()),
    }
    report.exit_code()
}

/// Runs every check; a flag error or an unreachable API server is a failed check too.
pub async fn run(args: DiagnoseArgs) -> Report {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut report = Report::default();
    let (cfg, api_cfg, client) = match connect(args.serve).await {
        Ok((cfg, api_cfg, client, reached)) => {
            report.push(reached);
            (cfg, api_cfg, client)
        }
        Err(failed) => {
            report.push(failed);
            return report;
        }
    };
    let in_cluster = std::env::var_os("KUBERNETES_SERVICE_HOST").is_some();
    let service = our_service(args.service, &cfg);
    let apiservices: Api<APIService> = Api::all(client.clone());
    let ours = apiservice::check(&apiservices, &service, &mut report).await;
    let port = ours.first().map_or(
        crate::apiservice::DEFAULT_SERVICE_PORT,
        apiservice::Ours::port,
    );
    let endpoints = service::check(&client, &service, port, &mut report).await;
    let source = match &args.serving_cert_secret {
        Some(secret) => serving_cert::Source::Secret(secret),
        None => serving_cert::Source::Endpoints(&endpoints),
    };
    serving_cert::check(&client, &service, source, in_cluster, &ours, &mut report).await;
    rbac::check(&client, &cfg, &args.service_account, &mut report).await;
    kubelets::check(&client, &api_cfg, &cfg, args.nodes, in_cluster, &mut report).await;
    report
}

/// `--service`, else the server's `--apiservice-service`, else `kube-system/metrics-server`.
fn our_service(flag: Option<ObjectName>, cfg: &Config) -> ObjectName {
    flag.unwrap_or_else(|| match &cfg.apiservice_service {
        Some(ours) => ObjectName {
            namespace: ours.service.namespace.clone(),
            name: ours.service.name.clone(),
        },
        None => ObjectName {
            namespace: "kube-system".to_owned(),
            name: "metrics-server".to_owned(),
        },
    })
}

/// The server's config from its flags, and a client of the API server that answered (with
/// the OK line saying so); else the failed check that stops diagnose.
async fn connect(serve: ServeArgs) -> Result<(Config, kube::Config, kube::Client, Check), Check> {
    let cfg = serve.validate().map_err(|err| {
        Check::fail(
            "flags",
            "flags",
            err.to_string(),
            "pass the server's flags as its Deployment does",
        )
    })?;
    let api_cfg = kube_config(cfg.kubeconfig.as_deref())
        .await
        .map_err(|err| {
            Check::fail(
                "api-server",
                "kubeconfig",
                format!("{err:#}"),
                "pass --kubeconfig, or run inside the cluster",
            )
        })?;
    let server = api_cfg.cluster_url.to_string();
    let client = kube::Client::try_from(api_cfg.clone()).map_err(|err| {
        Check::fail(
            "api-server",
            server.clone(),
            format!("cannot build a client: {err}"),
            "check the kubeconfig",
        )
    })?;
    match cluster_api::call(client.apiserver_version()).await {
        Ok(version) => {
            let reached = Check::ok(
                "api-server",
                server,
                format!("Kubernetes {}", version.git_version),
            );
            Ok((cfg, api_cfg, client, reached))
        }
        Err(ReadError::Forbidden(why)) => Err(Check::fail(
            "api-server",
            server,
            format!("the API server refuses diagnose's credentials: {why}"),
            "use a kubeconfig with valid credentials (a token that has not expired)",
        )),
        Err(err) => Err(Check::fail(
            "api-server",
            server,
            format!("cannot reach the API server: {err}"),
            "check the kubeconfig's server address",
        )),
    }
}

/// `--kubeconfig`, else what kube-rs infers (in-cluster, `$KUBECONFIG`, `~/.kube/config`),
/// with the per-call deadline on the connection too.
async fn kube_config(path: Option<&Path>) -> anyhow::Result<kube::Config> {
    let mut config = match path {
        Some(path) => crate::server::kube_setup::kube_config(Some(path)).await?,
        None => kube::Config::infer()
            .await
            .context("no --kubeconfig given, and none found in the cluster or the environment")?,
    };
    config.connect_timeout = Some(cluster_api::CALL_TIMEOUT);
    config.read_timeout = Some(cluster_api::CALL_TIMEOUT);
    Ok(config)
}
