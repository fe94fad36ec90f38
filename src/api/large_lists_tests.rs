//! Large lists are answered off the async workers: requests queued behind one go on.

use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use k8s_openapi::api::core::v1::Pod;
use kube::core::PartialObjectMeta;
use kube::runtime::watcher::Event;

use super::*;
use crate::api::list_cache::PodListCache;
use crate::api::selector::LabelSelector;
use crate::batch::NodeBatch;
use crate::batch::test_batches::{one_container_pod, point};
use crate::cluster::{ClusterCache, NodeStore, PodStore, Synced};
use crate::store::{Store, StoreConfig};
use crate::telemetry::Metrics;

const PODS_PER_NODE: usize = 100;

/// Node `node`'s report at `secs`: pods `p{node}-{i}` of namespace `ns{node % 2}`.
fn batch(node: usize, secs: i64) -> NodeBatch<'static> {
    let pods = (0..PODS_PER_NODE)
        .map(|i| one_container_pod(format!("ns{}", node % 2), format!("p{node}-{i}"), secs));
    NodeBatch {
        node: Some(point(secs)),
        pods: pods.collect(),
    }
}

/// The handlers' context over `nodes` × [`PODS_PER_NODE`] pods labelled `app=web`, all
/// servable.
fn context(nodes: usize) -> ApiContext {
    let mut store = Store::new(StoreConfig::default());
    let pods = PodStore::default();
    for node in 0..nodes {
        let name = format!("n{node}");
        store.apply_node(&name, &batch(node, 1_000));
        store.apply_node(&name, &batch(node, 1_015));
        for i in 0..PODS_PER_NODE {
            let mut pod = PartialObjectMeta::<Pod>::default();
            pod.metadata.namespace = Some(format!("ns{}", node % 2));
            pod.metadata.name = Some(format!("p{node}-{i}"));
            pod.metadata.labels = Some([("app".to_owned(), "web".to_owned())].into());
            pods.apply(&Event::Apply(pod));
        }
    }
    let synced = Synced::already();
    ApiContext {
        snapshot: Arc::new(ArcSwap::from_pointee(store.publish())),
        cluster: ClusterCache::new(NodeStore::default(), pods, synced.clone(), synced),
        node_selector: LabelSelector::everything(),
        metrics: Arc::new(Metrics::new(std::time::Duration::from_secs(15))),
        pod_lists: Arc::new(PodListCache::default()),
    }
}

fn get(path: &str) -> http::request::Parts {
    http::Request::get(path).body(()).unwrap().into_parts().0
}

#[test]
fn lists_over_the_inline_limit_are_large_counting_only_their_namespace() {
    let ctx = context(INLINE_LIST_MAX_ITEMS / PODS_PER_NODE + 2);
    let pods = ctx.snapshot.load().pod_count(None);
    assert!(pods > INLINE_LIST_MAX_ITEMS, "{pods} pods");
    let large = |path| is_large_list(&ctx, resolve(path).unwrap());
    assert!(large("/apis/metrics.k8s.io/v1beta1/pods"));
    assert!(!large("/apis/metrics.k8s.io/v1beta1/namespaces/ns0/pods"));
    assert!(!large("/apis/metrics.k8s.io/v1/namespaces/ns0/pods/p0-0"));
    assert!(!large("/apis/metrics.k8s.io/v1beta1/nodes"));
}

/// One worker: a list of 20,000 pods by label selector (no cache holds it) starts first, a
/// get arrives while it is being built. On the worker the get would wait for the whole list.
#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn a_get_is_answered_while_a_large_uncached_list_is_built() {
    let ctx = Arc::new(context(200));
    let finished = Arc::new(Mutex::new(Vec::new()));
    let (started, list_started) = tokio::sync::oneshot::channel();
    let list = tokio::spawn({
        let (ctx, finished) = (ctx.clone(), finished.clone());
        async move {
            let _ = started.send(());
            let reply = handle(
                &ctx,
                &get("/apis/metrics.k8s.io/v1beta1/pods?labelSelector=app%3Dweb"),
            );
            finished.lock().unwrap().push("list");
            reply
        }
    });
    list_started.await.unwrap();
    let one = tokio::spawn({
        let (ctx, finished) = (ctx.clone(), finished.clone());
        async move {
            let reply = handle(
                &ctx,
                &get("/apis/metrics.k8s.io/v1/namespaces/ns1/pods/p7-3"),
            );
            finished.lock().unwrap().push("get");
            reply
        }
    });
    let (list, one) = (list.await.unwrap(), one.await.unwrap());
    assert_eq!((list.status, one.status), (200, 200));
    let items: serde_json::Value = serde_json::from_slice(&list.body.into_vec()).unwrap();
    assert_eq!(items["items"].as_array().map(Vec::len), Some(20_000));
    assert_eq!(*finished.lock().unwrap(), ["get", "list"]);
}
