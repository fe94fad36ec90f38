//! `Accept-Encoding: gzip`, over real TLS against the demo cluster: cached pod lists come
//! compressed for clients that accept it (kubectl, client-go), other bodies over 128 KiB too,
//! and what decompresses is what an uncompressed request gets.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use std::io::Read;

use common::{Https, ready_demo};
use metrics_server::config::MetricsSource;
use serde_json::Value;

const PROTOBUF: &str = "application/vnd.kubernetes.protobuf";

fn gunzip(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(body)
        .read_to_end(&mut out)
        .expect("a valid gzip body");
    out
}

/// The JSON with every `creationTimestamp` removed (it is the time of the request, or of the
/// compressed list's encoding).
fn without_creation_times(body: &[u8]) -> Value {
    let mut v: Value = serde_json::from_slice(body).expect("JSON");
    if let Some(items) = v["items"].as_array_mut() {
        for item in items {
            item["metadata"]
                .as_object_mut()
                .unwrap()
                .remove("creationTimestamp")
                .expect("every item has a creationTimestamp");
        }
    }
    v
}

/// An uncompressed and a compressed GET of `url` (each with `extra` headers) from the same
/// snapshot: retried when a scrape lands between them.
async fn same_snapshot_pair(
    https: &Https,
    demo: &metrics_server_sim::demo::Demo,
    url: &str,
    extra: &[(&str, &str)],
) -> (
    (http::HeaderMap, bytes::Bytes),
    (http::HeaderMap, bytes::Bytes),
) {
    loop {
        let generation = demo.server.snapshot.load().generation();
        let (status, plain_headers, plain) = https.get_full(url, extra).await;
        assert_eq!(status, 200, "{url}");
        let mut with_gzip = extra.to_vec();
        with_gzip.push(("Accept-Encoding", "gzip"));
        let (status, headers, compressed) = https.get_full(url, &with_gzip).await;
        assert_eq!(status, 200, "{url}");
        if demo.server.snapshot.load().generation() == generation {
            return ((plain_headers, plain), (headers, compressed));
        }
    }
}

fn header(headers: &http::HeaderMap, name: http::header::HeaderName) -> Option<&str> {
    headers.get(name).map(|v| v.to_str().unwrap())
}

/// The headers of a compressed answer of `content_type`.
fn assert_compressed_headers(headers: &http::HeaderMap, content_type: &str) {
    assert_eq!(
        header(headers, http::header::CONTENT_ENCODING),
        Some("gzip")
    );
    assert_eq!(header(headers, http::header::VARY), Some("Accept-Encoding"));
    assert_eq!(
        header(headers, http::header::CONTENT_TYPE),
        Some(content_type)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gzip_clients_get_compressed_lists_that_match_the_uncompressed_ones() {
    let dir = tempfile::tempdir().unwrap();
    // 960 pods: the protobuf list of all pods is over the 128 KiB gzip threshold too.
    let demo = ready_demo(dir.path(), 12, 80, MetricsSource::Resource).await;
    let https = Https::as_aggregator(dir.path());
    let base = format!("https://127.0.0.1:{}", demo.server.local_addr.port());
    let gzip = ("Accept-Encoding", "gzip");

    for path in [
        "/apis/metrics.k8s.io/v1beta1/pods",
        "/apis/metrics.k8s.io/v1/namespaces/default/pods",
        "/apis/metrics.k8s.io/v1/namespaces/no-such-namespace/pods",
        // Not cached (a selector), over 128 KiB: compressed on the way out.
        "/apis/metrics.k8s.io/v1/pods?labelSelector=app",
    ] {
        let url = format!("{base}{path}");
        let ((plain_headers, plain), (headers, compressed)) =
            same_snapshot_pair(&https, &demo, &url, &[]).await;
        assert_eq!(header(&plain_headers, http::header::CONTENT_ENCODING), None);
        // As upstream: compressed only over 128 KiB, cached lists included.
        let over_threshold = plain.len() > 128 * 1024;
        assert_eq!(
            header(&headers, http::header::CONTENT_ENCODING),
            over_threshold.then_some("gzip"),
            "{path}: {} bytes",
            plain.len()
        );
        if !over_threshold {
            assert_eq!(
                without_creation_times(&compressed),
                without_creation_times(&plain)
            );
            continue;
        }
        assert_compressed_headers(&headers, "application/json");
        let content_length: usize = header(&headers, http::header::CONTENT_LENGTH)
            .expect("a Content-Length")
            .parse()
            .unwrap();
        assert_eq!(content_length, compressed.len());
        let decompressed = gunzip(&compressed);
        assert_eq!(
            without_creation_times(&decompressed),
            without_creation_times(&plain),
            "{path}"
        );
        if plain.len() > 100_000 {
            assert!(
                compressed.len() * 8 < plain.len(),
                "{path}: {} compressed of {}",
                compressed.len(),
                plain.len()
            );
        }
    }
    let all = https
        .get_full(&format!("{base}/apis/metrics.k8s.io/v1/pods"), &[])
        .await
        .2;
    assert!(all.len() > 128 * 1024, "the test needs a list over 128 KiB");

    // Protobuf (client-go with protobuf, compression on): same bytes but the creation times.
    let url = format!("{base}/apis/metrics.k8s.io/v1/pods");
    let ((plain_headers, plain), (headers, compressed)) =
        same_snapshot_pair(&https, &demo, &url, &[("Accept", PROTOBUF)]).await;
    assert_eq!(
        header(&plain_headers, http::header::CONTENT_TYPE),
        Some(PROTOBUF)
    );
    assert_eq!(header(&headers, http::header::CONTENT_TYPE), Some(PROTOBUF));
    assert!(
        plain.len() > 128 * 1024,
        "the test needs a protobuf list over 128 KiB"
    );
    assert_eq!(
        header(&headers, http::header::CONTENT_ENCODING),
        Some("gzip")
    );
    let decompressed = gunzip(&compressed);
    assert_eq!(decompressed.len(), plain.len());
    assert!(decompressed.starts_with(b"k8s\0"));
    let differing = decompressed
        .iter()
        .zip(&plain)
        .filter(|(a, b)| a != b)
        .count();
    assert!(
        differing <= 5 * demo.server.snapshot.load().servable_pods(),
        "only creation-time bytes may differ: {differing}"
    );

    // `?pretty` is indented, then compressed.
    let (_, headers, compressed) = https.get_full(&format!("{url}?pretty=true"), &[gzip]).await;
    assert_eq!(
        header(&headers, http::header::CONTENT_ENCODING),
        Some("gzip")
    );
    let pretty = String::from_utf8(gunzip(&compressed)).unwrap();
    assert!(
        pretty.starts_with("{\n  \"kind\": \"PodMetricsList\""),
        "{}",
        &pretty[..40]
    );

    // A refusal, another coding, or a small body that is not a cached list: uncompressed.
    for (url, extra) in [
        (url.clone(), ("Accept-Encoding", "gzip;q=0, identity")),
        (url.clone(), ("Accept-Encoding", "br")),
        (format!("{base}/apis/metrics.k8s.io/v1/nodes"), gzip),
    ] {
        let (status, headers, body) = https.get_full(&url, &[extra]).await;
        assert_eq!(status, 200);
        assert_eq!(
            header(&headers, http::header::CONTENT_ENCODING),
            None,
            "{extra:?}"
        );
        serde_json::from_slice::<Value>(&body).expect("plain JSON");
    }
}

/// The families and series of a `/metrics` text (values change between two reads).
fn series_names(text: &[u8]) -> std::collections::BTreeSet<String> {
    String::from_utf8(text.to_vec())
        .expect("UTF-8 text")
        .lines()
        .filter_map(|l| l.rsplit_once(' ').map(|(name, _)| name.to_owned()))
        .filter(|name| !name.contains("_bucket{") && !name.starts_with("# HELP"))
        .collect()
}

/// Prometheus asks for gzip: `/metrics` (8 MB of text at 5,000 nodes) comes compressed, as
/// upstream's handler sends it, and holds what the uncompressed text holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn self_metrics_come_compressed_to_a_client_that_accepts_gzip() {
    let dir = tempfile::tempdir().unwrap();
    let demo = ready_demo(dir.path(), 4, 5, MetricsSource::Resource).await;
    let https = Https::as_aggregator(dir.path());
    let url = format!(
        "https://127.0.0.1:{}/metrics",
        demo.server.local_addr.port()
    );

    let (status, headers, plain) = https.get_full(&url, &[]).await;
    assert_eq!(status, 200);
    assert_eq!(header(&headers, http::header::CONTENT_ENCODING), None);
    let (status, headers, compressed) = https.get_full(&url, &[("Accept-Encoding", "gzip")]).await;
    assert_eq!(status, 200);
    assert_compressed_headers(&headers, "text/plain; version=0.0.4; charset=utf-8");
    let text = gunzip(&compressed);
    assert!(
        compressed.len() * 4 < text.len(),
        "{} compressed of {}",
        compressed.len(),
        text.len()
    );
    let names = series_names(&text);
    assert!(
        names.contains("metrics_server_manager_tick_duration_seconds_count"),
        "{names:?}"
    );
    assert_eq!(names, series_names(&plain));
}
