//! Reviews against a counting API server on loopback: a flood of distinct SubjectAccessReviews
//! and TokenReviews opens a bounded set of connections to the API server and reuses them, and
//! identical reviews in flight are sent once.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use metrics_server::server::auth::attributes::RequestAttributes;
use metrics_server::server::auth::sar::{LANE_CONCURRENT, LANE_QUEUED};
use metrics_server::server::auth::{
    CachedAccessReviewer, CachedTokenReviewer, Credential, Identity, KubeAccessReviewer,
    KubeTokenReviewer, ReviewError,
};

/// What the fake API server saw.
#[derive(Default)]
struct Seen {
    connections: AtomicUsize,
    reviews: AtomicUsize,
}

/// An API server that answers every review after `delay`: allowed / authenticated.
async fn api_server(delay: Duration) -> (String, Arc<Seen>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Seen::default());
    let counter = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            counter.connections.fetch_add(1, Ordering::SeqCst);
            let seen = counter.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req: http::Request<Incoming>| {
                    let seen = seen.clone();
                    async move {
                        seen.reviews.fetch_add(1, Ordering::SeqCst);
                        let mut review: serde_json::Value = serde_json::from_slice(
                            &req.into_body().collect().await.unwrap().to_bytes(),
                        )
                        .unwrap();
                        tokio::time::sleep(delay).await;
                        review["status"] = serde_json::json!({
                            "allowed": true,
                            "authenticated": true,
                            "user": {"username": "someone"},
                        });
                        let body = Full::new(Bytes::from(review.to_string()));
                        Ok::<_, Infallible>(
                            http::Response::builder()
                                .status(201)
                                .header("content-type", "application/json")
                                .body(body)
                                .unwrap(),
                        )
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), service)
                    .await;
            });
        }
    });
    (url, seen)
}

fn client(url: &str) -> kube::Client {
    let config = kube::Config::new(url.parse().unwrap());
    kube::Client::try_from(config).unwrap()
}

fn attributes(i: usize) -> RequestAttributes {
    RequestAttributes::from_request(&http::Method::GET, &format!("/distinct/{i}"), None)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_distinct_access_reviews_uses_a_bounded_set_of_connections() {
    let (url, seen) = api_server(Duration::from_millis(20)).await;
    let ttl = Duration::from_secs(60);
    let reviewer = Arc::new(CachedAccessReviewer::new(
        Arc::new(KubeAccessReviewer::new(client(&url))),
        ttl,
        ttl,
    ));
    let anonymous = Identity::anonymous();
    let flood = (0..600).map(|i| {
        let (reviewer, who) = (reviewer.clone(), anonymous.clone());
        tokio::spawn(async move {
            reviewer
                .review(&who, &attributes(i), Credential::Anonymous)
                .await
        })
    });
    let (mut allowed, mut busy) = (0, 0);
    for answer in futures::future::join_all(flood).await {
        match answer.unwrap() {
            Ok(d) if d.allowed => allowed += 1,
            Err(ReviewError::Busy) => busy += 1,
            other => panic!("{other:?}"),
        }
    }
    let connections = seen.connections.load(Ordering::SeqCst);
    assert!(
        connections <= LANE_CONCURRENT,
        "{connections} connections to the API server for 600 reviews"
    );
    assert_eq!(allowed + busy, 600);
    // Every request that found a slot or a place in the queue was answered (a review takes
    // 20 ms, the queue waits up to 1 s); the rest were told to retry.
    assert!(
        allowed >= LANE_CONCURRENT + LANE_QUEUED,
        "{allowed} allowed, {busy} busy"
    );
    // The connections are kept and reused: another round opens none.
    for i in 0..50 {
        reviewer
            .review(&anonymous, &attributes(10_000 + i), Credential::Anonymous)
            .await
            .unwrap();
    }
    assert_eq!(seen.connections.load(Ordering::SeqCst), connections);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identical_token_reviews_in_flight_reach_the_api_server_once() {
    let (url, seen) = api_server(Duration::from_millis(100)).await;
    let tokens = Arc::new(CachedTokenReviewer::new(
        Arc::new(KubeTokenReviewer::new(client(&url))),
        Duration::ZERO,
    ));
    let same = (0..200).map(|_| {
        let tokens = tokens.clone();
        tokio::spawn(async move { tokens.review("one-token").await })
    });
    for answer in futures::future::join_all(same).await {
        assert_eq!(answer.unwrap().unwrap().unwrap().name, "someone");
    }
    assert_eq!(seen.reviews.load(Ordering::SeqCst), 1);
}
