//! The hidden `raw-fetch` process: the floor the server is compared with. Every interval it
//! GETs `/metrics/resource` from every kubelet of the simulated cluster, with the server's
//! start jitter, connection pooling (HTTP/1.1 keep-alive, as the server) and bearer token, reads each
//! body completely and drops it — no decoding, no storing. Its CPU is measured from outside,
//! exactly like the server's. Prints one `CYCLE ok=… failed=… seconds=…` line per interval.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::task::JoinSet;

use super::https::{self, HttpsClient, Protocols, timed_get};
use super::manifest::ClusterManifest;
use crate::config::RawFetchArgs;
use crate::scraper::max_jitter;

pub async fn run(args: RawFetchArgs) -> anyhow::Result<()> {
    let manifest = ClusterManifest::read(&args.cluster)?;
    let interval = args
        .interval
        .to_std()
        .context("--interval must be positive")?;
    let client = https::client(&manifest.ca, None, Protocols::Http1, 2)?;
    let auth = format!("Bearer {}", manifest.token);
    let auth: &'static str = Box::leak(auth.into_boxed_str());
    let urls: Arc<Vec<String>> = Arc::new(
        manifest
            .kubelets
            .iter()
            .map(|k| format!("https://{}:{}/metrics/resource", k.ip, k.port))
            .collect(),
    );
    tokio::spawn(async {
        super::cluster::stdin_closed().await;
        std::process::exit(0);
    });
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        ticker.tick().await;
        let started = Instant::now();
        let (ok, failed) = cycle(&client, &urls, auth).await;
        println!(
            "CYCLE ok={ok} failed={failed} seconds={:.3}",
            started.elapsed().as_secs_f64()
        );
    }
}

async fn cycle(
    client: &HttpsClient,
    urls: &Arc<Vec<String>>,
    auth: &'static str,
) -> (usize, usize) {
    let jitter_ms = u64::try_from(max_jitter(urls.len()).as_millis()).unwrap_or(0);
    let mut tasks = JoinSet::new();
    for i in 0..urls.len() {
        let (client, urls) = (client.clone(), urls.clone());
        let delay = Duration::from_millis(fastrand::u64(0..jitter_ms.max(1)));
        tasks.spawn(async move {
            tokio::time::sleep(delay).await;
            let headers = [("Authorization", auth)];
            matches!(timed_get(&client, &urls[i], &headers, false).await, Ok(t) if t.status == 200)
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
