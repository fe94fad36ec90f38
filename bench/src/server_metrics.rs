//! One read of the server's `/metrics` (front-proxy identity: it needs authorization) and
//! what the bench takes from it: CPU by stage and the scrape-cycle counters. Read as
//! Prometheus reads it, accepting gzip: at 15,000 nodes the text is about 24 MB, which a
//! server may otherwise have to hold whole while it answers.

use super::cpu_breakdown::StageSeconds;
use super::https::{HttpsClient, Identity, timed_get};
use super::scrape_cycles::ScrapeCounters;

/// The server's counters at one moment; either is `None` when the text lacks it.
#[derive(Clone, Debug, Default)]
pub struct MetricsReading {
    pub stages: Option<StageSeconds>,
    pub scrape: Option<ScrapeCounters>,
    /// The text's size as received (compressed when the server gzipped it) and as read.
    pub wire_bytes: usize,
    pub text_bytes: usize,
}

/// What the read sends besides the identity's headers.
const ACCEPT_GZIP: (&str, &str) = ("Accept-Encoding", "gzip");

impl MetricsReading {
    pub async fn read(client: &HttpsClient, base_url: &str, identity: &Identity) -> Self {
        let url = format!("{base_url}/metrics");
        let mut headers = identity.headers.clone();
        headers.push(ACCEPT_GZIP);
        let got = match timed_get(client, &url, &headers, true, None).await {
            Ok(got) if got.status == 200 => got,
            _ => return MetricsReading::default(),
        };
        let Some(text) = got
            .body
            .as_deref()
            .and_then(|b| std::str::from_utf8(b).ok())
        else {
            return MetricsReading::default();
        };
        MetricsReading {
            stages: StageSeconds::parse(text),
            scrape: ScrapeCounters::parse(text),
            wire_bytes: got.wire_bytes,
            text_bytes: got.bytes,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::time::{Duration, Instant};

    use metrics_server_sim::demo::{self, DemoOptions};

    use super::*;
    use crate::https::{Protocols, client};

    /// The demo's aggregator identity (its front-proxy client certificate and a user).
    fn aggregator(dir: &std::path::Path) -> Identity {
        let read = |file: &str| std::fs::read_to_string(dir.join(file)).unwrap();
        Identity {
            cert_pem: read("demo-front-proxy-client.crt"),
            key_pem: read("demo-front-proxy-client.key"),
            headers: vec![
                ("X-Remote-User", "demo-user"),
                ("X-Remote-Group", "system:authenticated"),
            ],
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn counters_are_read_from_a_compressed_text() {
        let dir = tempfile::tempdir().unwrap();
        let demo = demo::start(DemoOptions::for_test(3, 4, dir.path().join("kubeconfig")))
            .await
            .unwrap();
        let identity = aggregator(dir.path());
        let https = client(
            &dir.path().join("demo-ca.crt"),
            Some(&identity),
            Protocols::Http2,
            1,
        )
        .unwrap();
        let base = format!("https://127.0.0.1:{}", demo.server.local_addr.port());
        let deadline = Instant::now() + Duration::from_secs(60);
        let reading = loop {
            let reading = MetricsReading::read(&https, &base, &identity).await;
            if reading.stages.is_some() && reading.scrape.is_some() {
                break reading;
            }
            assert!(Instant::now() < deadline, "no counters after 60 s");
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        // Asked for gzip, as Prometheus asks: the text comes compressed.
        assert!(reading.text_bytes > 0);
        assert!(
            reading.wire_bytes * 3 < reading.text_bytes,
            "{} bytes received for {} of text",
            reading.wire_bytes,
            reading.text_bytes
        );
    }
}
