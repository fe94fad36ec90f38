//! The APIService watch the server runs (kube-rs `watch_object`: list, then watch from the
//! list's resourceVersion) against the simulated apiserver, as against a real one: it gets the
//! object, then a later patch of it as a change.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::kube_aggregator::pkg::apis::apiregistration::v1::APIService;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::watcher;
use metrics_server::config::MetricsSource;
use metrics_server::server::kube_setup::kube_config;

mod common;

const NAME: &str = "v1.metrics.k8s.io";

fn ca_bundle(service: &APIService) -> Option<Vec<u8>> {
    service
        .spec
        .as_ref()?
        .ca_bundle
        .as_ref()
        .map(|b| b.0.clone())
}

async fn within_10s<T>(answer: impl Future<Output = Option<T>>) -> T {
    tokio::time::timeout(Duration::from_secs(10), answer)
        .await
        .expect("an answer within 10 s")
        .expect("the watch goes on")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_of_an_apiservice_gets_it_and_then_its_patch() {
    let dir = tempfile::tempdir().unwrap();
    let demo = common::ready_demo(dir.path(), 1, 1, MetricsSource::Resource).await;
    let client =
        kube::Client::try_from(kube_config(Some(&demo.kubeconfig)).await.unwrap()).unwrap();
    let api: Api<APIService> = Api::all(client);
    let mut seen = watcher::watch_object(api.clone(), NAME).boxed();
    let first: Option<APIService> = within_10s(seen.next()).await.unwrap();
    let first = first.expect("the APIService exists");
    assert_eq!(first.metadata.name.as_deref(), Some(NAME));
    assert_eq!(ca_bundle(&first), None);

    let patch = serde_json::json!({"spec": {"caBundle": "Zm9v"}});
    api.patch(NAME, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    let changed: Option<APIService> = within_10s(seen.next()).await.unwrap();
    let changed = changed.expect("still there");
    assert_eq!(ca_bundle(&changed), Some(b"foo".to_vec()));
    assert_ne!(
        changed.metadata.resource_version, first.metadata.resource_version,
        "a write gives a new resourceVersion"
    );
}
