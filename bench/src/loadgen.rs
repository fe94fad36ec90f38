//! The API load during the measured window: a JSON list of all pods and a protobuf list of all
//! pods, each every [`LIST_INTERVAL`] (what `kubectl top pods -A` and dashboards do), and
//! `clients` concurrent clients each getting one random pod every [`GET_INTERVAL`] on its own
//! connection (what many HPAs and VPAs do). Latencies are measured to the last body byte.
//!
//! Both protocols: every other get client, and every other pair of lists (JSON, protobuf),
//! goes over HTTP/2 (one multiplexed connection, as kube-aggregator sends), the rest over
//! HTTP/1.1; each protocol's latencies are kept apart.
//!
//! Compression as the real clients ask for it: both lists accept gzip, as kubectl and every
//! client-go client do by default (a VPA recommender lists all pods in protobuf through
//! client-go), and are timed to the last decompressed byte. (kube-controller-manager turns
//! compression off, but its HPA lists one namespace's pods by label selector, which no cache
//! serves.)

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinSet;

use super::https::{HttpsClient, Identity, Protocols, timed_get};

pub const LIST_INTERVAL: Duration = Duration::from_secs(2);
pub const GET_INTERVAL: Duration = Duration::from_secs(1);
const PROTOBUF: &str = "application/vnd.kubernetes.protobuf";
const PODS_PATH: &str = "/apis/metrics.k8s.io/v1beta1/pods";
/// A response this slow on loopback is an outlier (a delayed ACK behind Nagle's algorithm
/// costs ~40 ms).
pub const SLOW_MS: f64 = 20.0;

/// One client per protocol.
#[derive(Clone)]
pub struct Clients {
    pub http1: HttpsClient,
    pub http2: HttpsClient,
}

impl Clients {
    fn over(&self, protocol: Protocols) -> &HttpsClient {
        match protocol {
            Protocols::Http1 => &self.http1,
            Protocols::Http2 => &self.http2,
        }
    }
}

/// Latencies (ms) of one kind of request by the protocol that carried it.
#[derive(Debug, Default)]
pub struct ByProtocol {
    pub http1_ms: Vec<f64>,
    pub http2_ms: Vec<f64>,
}

impl ByProtocol {
    fn push(&mut self, protocol: Protocols, ms: f64) {
        match protocol {
            Protocols::Http1 => self.http1_ms.push(ms),
            Protocols::Http2 => self.http2_ms.push(ms),
        }
    }

    fn append(&mut self, other: &mut ByProtocol) {
        self.http1_ms.append(&mut other.http1_ms);
        self.http2_ms.append(&mut other.http2_ms);
    }

    /// Responses that took at least `ms`, over both protocols.
    pub fn at_or_over(&self, ms: f64) -> usize {
        self.http1_ms
            .iter()
            .chain(&self.http2_ms)
            .filter(|v| **v >= ms)
            .count()
    }
}

/// What the load generator saw.
#[derive(Debug, Default)]
pub struct LoadResults {
    pub list_json_ms: Vec<f64>,
    pub list_json_bytes: usize,
    /// The JSON list as received (gzip-compressed when the server compresses).
    pub list_json_wire_bytes: usize,
    pub list_json_items: usize,
    /// Empty when the server does not answer protobuf.
    pub list_protobuf_ms: Vec<f64>,
    pub list_protobuf_bytes: usize,
    pub list_protobuf_wire_bytes: usize,
    pub protobuf_supported: bool,
    pub get_pod_ms: Vec<f64>,
    /// The same gets by protocol.
    pub get_pod_by_protocol: ByProtocol,
    /// Every list (JSON and protobuf) by protocol.
    pub list_by_protocol: ByProtocol,
    /// Gets answered 404: the sampled pod has no metrics to serve right now (a container
    /// without a second sample or a valid rate) — the server's correct answer, not a failure.
    pub get_pod_not_found: usize,
    pub errors: usize,
}

/// Everything the load needs to reach the server.
pub struct Target {
    pub base_url: String,
    pub identity: Identity,
    pub pods: Vec<(String, String)>,
    /// Where list bodies that do not decompress are saved.
    pub work_dir: std::path::PathBuf,
}

/// Runs the load until `stop` turns true.
pub async fn run(
    target: Arc<Target>,
    list_client: Clients,
    get_client: Clients,
    clients: usize,
    stop: watch::Receiver<bool>,
) -> LoadResults {
    let mut results = LoadResults::default();
    let lists = tokio::spawn(list_loop(target.clone(), list_client, stop.clone()));
    let mut gets = JoinSet::new();
    for i in 0..clients {
        let offset = GET_INTERVAL * u32::try_from(i).unwrap_or(0) / clients.max(1) as u32;
        let protocol = if i % 2 == 0 {
            Protocols::Http1
        } else {
            Protocols::Http2
        };
        gets.spawn(get_loop(
            target.clone(),
            get_client.over(protocol).clone(),
            protocol,
            offset,
            stop.clone(),
        ));
    }
    while let Some(done) = gets.join_next().await {
        if let Ok(mut got) = done {
            results.get_pod_ms.extend(&got.latencies_ms);
            results.get_pod_by_protocol.append(&mut got.by_protocol);
            results.get_pod_not_found += got.not_found;
            results.errors += got.errors;
        }
    }
    if let Ok(list) = lists.await {
        let errors = results.errors;
        results = LoadResults {
            get_pod_ms: std::mem::take(&mut results.get_pod_ms),
            get_pod_by_protocol: std::mem::take(&mut results.get_pod_by_protocol),
            get_pod_not_found: results.get_pod_not_found,
            errors: errors + list.errors,
            ..list
        };
    }
    results
}

async fn list_loop(
    target: Arc<Target>,
    clients: Clients,
    mut stop: watch::Receiver<bool>,
) -> LoadResults {
    let mut out = LoadResults::default();
    let url = format!("{}{PODS_PATH}", target.base_url);
    let mut tick = tokio::time::interval(LIST_INTERVAL / 2);
    let mut turn = 0u64;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.wait_for(|s| *s) => break,
        }
        // JSON then protobuf over HTTP/1.1, then both over HTTP/2.
        let protobuf_turn = turn % 2 == 1;
        let protocol = if turn % 4 < 2 {
            Protocols::Http1
        } else {
            Protocols::Http2
        };
        turn += 1;
        let wants_json = !protobuf_turn;
        let accept = if protobuf_turn {
            "application/vnd.kubernetes.protobuf,application/json"
        } else {
            "application/json"
        };
        let mut headers = target.identity.headers.clone();
        headers.push(("Accept", accept));
        headers.push(("Accept-Encoding", "gzip"));
        let keep_body = wants_json && out.list_json_items == 0;
        let client = clients.over(protocol);
        match timed_get(client, &url, &headers, keep_body, Some(&target.work_dir)).await {
            Ok(t) if t.status == 200 && t.content_type.starts_with(PROTOBUF) => {
                out.list_by_protocol.push(protocol, ms(t.elapsed));
                out.protobuf_supported = true;
                out.list_protobuf_ms.push(ms(t.elapsed));
                out.list_protobuf_bytes = t.bytes;
                out.list_protobuf_wire_bytes = t.wire_bytes;
            }
            Ok(t) if t.status == 200 && wants_json => {
                out.list_by_protocol.push(protocol, ms(t.elapsed));
                out.list_json_ms.push(ms(t.elapsed));
                out.list_json_bytes = t.bytes;
                out.list_json_wire_bytes = t.wire_bytes;
                if let Some(body) = t.body {
                    out.list_json_items = memchr::memmem::find_iter(&body, b"\"metadata\"")
                        .count()
                        .saturating_sub(1);
                }
            }
            Ok(t) if t.status == 200 => {} // protobuf asked, JSON answered: not supported
            Ok(t) => {
                tracing::warn!(status = t.status, "list pods failed");
                out.errors += 1;
            }
            Err(err) => {
                tracing::warn!(error = %err, "list pods failed");
                out.errors += 1;
            }
        }
    }
    out
}

/// What one get client saw.
#[derive(Default)]
struct Gets {
    latencies_ms: Vec<f64>,
    by_protocol: ByProtocol,
    not_found: usize,
    errors: usize,
}

async fn get_loop(
    target: Arc<Target>,
    client: HttpsClient,
    protocol: Protocols,
    offset: Duration,
    mut stop: watch::Receiver<bool>,
) -> Gets {
    let mut out = Gets::default();
    if target.pods.is_empty() {
        return out;
    }
    tokio::time::sleep(offset).await;
    let mut tick = tokio::time::interval(GET_INTERVAL);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.wait_for(|s| *s) => break,
        }
        let (ns, name) = &target.pods[fastrand::usize(..target.pods.len())];
        let url = format!(
            "{}/apis/metrics.k8s.io/v1beta1/namespaces/{ns}/pods/{name}",
            target.base_url
        );
        let mut headers = target.identity.headers.clone();
        headers.push(("Accept", "application/json"));
        match timed_get(&client, &url, &headers, false, None).await {
            Ok(t) if t.status == 200 => {
                out.latencies_ms.push(ms(t.elapsed));
                out.by_protocol.push(protocol, ms(t.elapsed));
            }
            Ok(t) if t.status == 404 => out.not_found += 1,
            Ok(t) => {
                tracing::warn!(status = t.status, %url, "get pod failed");
                out.errors += 1;
            }
            Err(err) => {
                tracing::warn!(error = %err, %url, "get pod failed");
                out.errors += 1;
            }
        }
    }
    out
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The `p`-th percentile (0–100) by nearest rank; `None` for no samples.
pub fn percentile(samples: &[f64], p: f64) -> Option<f64> {
    if samples.is_empty() {
        return None;
    }
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.clamp(1, sorted.len()) - 1).copied()
}

/// The first sample and the p99 of the ones after it. A server that caches lists builds
/// the first list of a format in its request (no list is read before the window); the later
/// ones find the list built when the snapshot was published.
pub fn first_and_rest_p99(samples: &[f64]) -> (Option<f64>, Option<f64>) {
    let rest = samples.get(1..).unwrap_or_default();
    (samples.first().copied(), percentile(rest, 99.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_list_is_set_apart_from_the_rest() {
        assert_eq!(
            first_and_rest_p99(&[217.0, 41.0, 64.0, 40.0]),
            (Some(217.0), Some(64.0))
        );
        assert_eq!(first_and_rest_p99(&[9.0]), (Some(9.0), None));
        assert_eq!(first_and_rest_p99(&[]), (None, None));
    }

    #[test]
    fn nearest_rank_percentiles() {
        let s: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&s, 50.0), Some(50.0));
        assert_eq!(percentile(&s, 99.0), Some(99.0));
        assert_eq!(percentile(&s, 100.0), Some(100.0));
        assert_eq!(percentile(&[7.0], 99.0), Some(7.0));
        assert_eq!(percentile(&[], 50.0), None);
    }

    #[test]
    fn slow_responses_are_counted_over_both_protocols() {
        let mut by = ByProtocol::default();
        for (protocol, ms) in [
            (Protocols::Http1, 0.8),
            (Protocols::Http1, 44.0),
            (Protocols::Http2, 20.0),
            (Protocols::Http2, 19.9),
        ] {
            by.push(protocol, ms);
        }
        assert_eq!(by.at_or_over(SLOW_MS), 2);
        assert_eq!((by.http1_ms.len(), by.http2_ms.len()), (2, 2));
    }
}
