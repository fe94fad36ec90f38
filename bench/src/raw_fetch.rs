//! The hidden `raw-fetch` process: the floor the server is compared with. Every interval it
//! GETs `/metrics/resource` from every kubelet of the simulated cluster, with the server's
//! start jitter, HTTP/1.1 transport and connection reuse (the server's own
//! [`Http1Client`](metrics_server::kubelet::http1::Http1Client): one kept connection per kubelet) and
//! bearer token, reads each body completely and drops it — no decoding, no storing. Its CPU is
//! measured from outside, exactly like the server's. Prints one `CYCLE ok=… failed=… seconds=…`
//! line per interval.

use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use tokio::task::JoinSet;

use super::manifest::ClusterManifest;
use crate::config::RawFetchArgs;
use metrics_server::kubelet::decode::Source;
use metrics_server::kubelet::http1::{Get, Http1Client};
use metrics_server::scraper::{max_jitter, start_delay};

/// The server's default `--kubelet-max-body-bytes`.
const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

pub async fn run(args: RawFetchArgs) -> anyhow::Result<()> {
    let manifest = ClusterManifest::read(&args.cluster)?;
    let interval = args
        .interval
        .to_std()
        .context("--interval must be positive")?;
    let ca_pem = std::fs::read_to_string(&manifest.ca)
        .with_context(|| format!("reading {}", manifest.ca.display()))?;
    let tls = metrics_server_sim::net::client_tls(&ca_pem, None)?;
    let fetcher = Arc::new(Fetcher {
        client: Http1Client::new(Some(tls)),
        token: manifest.token.clone(),
        kubelets: manifest
            .kubelets
            .iter()
            .map(|k| (k.ip.to_string(), k.port))
            .collect(),
    });
    tokio::spawn(async {
        super::sim_cluster::stdin_closed().await;
        std::process::exit(0);
    });
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        ticker.tick().await;
        let started = Instant::now();
        let (ok, failed) = cycle(&fetcher).await;
        println!(
            "CYCLE ok={ok} failed={failed} seconds={:.3}",
            started.elapsed().as_secs_f64()
        );
    }
}

/// What every cycle needs: the client and its kept connections, the token, the kubelets.
struct Fetcher {
    client: Http1Client,
    token: String,
    /// Host (the IP as text) and port of each kubelet.
    kubelets: Vec<(String, u16)>,
}

impl Fetcher {
    /// Fetches one kubelet's payload and drops it.
    async fn fetch(&self, i: usize) -> bool {
        let (host, port) = &self.kubelets[i];
        let get = Get {
            host,
            port: *port,
            path: Source::Resource.request_target(),
            bearer: Some(&self.token),
            max_body_bytes: MAX_BODY_BYTES,
        };
        self.client.get(&get).await.is_ok()
    }
}

async fn cycle(fetcher: &Arc<Fetcher>) -> (usize, usize) {
    let nodes = fetcher.kubelets.len();
    let window = max_jitter(nodes);
    let mut tasks = JoinSet::new();
    for i in 0..nodes {
        let fetcher = fetcher.clone();
        let delay = start_delay(window);
        tasks.spawn(async move {
            tokio::time::sleep(delay).await;
            fetcher.fetch(i).await
        });
    }
    let (mut ok, mut failed) = (0, 0);
    while let Some(done) = tasks.join_next().await {
        if matches!(done, Ok(true)) {
            ok += 1;
        } else {
            failed += 1;
        }
    }
    (ok, failed)
}
