//! Pods of a node that was never scraped (its scrapes failed, or it is a virtual node that is
//! not scraped at all), known from the API ([`Store::expect_pods`]).

use std::borrow::Cow;

use super::{MissingReason, Store, StoreConfig};
use crate::batch::{ContainerBatch, MetricsPoint, NodeBatch, PodBatch};
use crate::time::{NANOS_PER_SEC, Timestamp};

/// A good scrape at `secs` of pods `default/<name>`, one container each.
fn batch(secs: i64, pods: &[&str]) -> NodeBatch<'static> {
    let point = MetricsPoint {
        timestamp: Timestamp(secs * NANOS_PER_SEC),
        start_time: Some(Timestamp(0)),
        cpu_ns: u64::try_from(secs).unwrap_or(0) * 1_000_000,
        memory_bytes: 1 << 20,
    };
    NodeBatch {
        node: Some(point),
        pods: pods
            .iter()
            .map(|name| PodBatch {
                namespace: Cow::Borrowed("default"),
                name: Cow::Owned((*name).to_owned()),
                containers: vec![ContainerBatch {
                    name: Cow::Borrowed("app"),
                    point,
                }],
                complete: true,
            })
            .collect(),
    }
}

fn on_default<'a>(names: &'a [&'a str]) -> impl Iterator<Item = (&'a str, &'a str)> {
    names.iter().map(|name| ("default", *name))
}

#[test]
fn pods_of_a_node_that_never_answered_read_its_failure() {
    let mut store = Store::new(StoreConfig::default());
    store.node_failed("dead");
    let never: Vec<_> = store
        .never_scraped_nodes()
        .map(|(n, skipped)| (n.to_string(), skipped))
        .collect();
    assert_eq!(never, [("dead".to_string(), false)]);
    assert!(store.expect_pods("dead", on_default(&["a", "b", "a"])));
    let snap = store.publish();
    for pod in ["a", "b"] {
        assert_eq!(
            snap.pod_missing_reason("default", pod),
            MissingReason::NodeFailed
        );
    }
    assert_eq!(
        snap.pod_missing_reason("default", "elsewhere"),
        MissingReason::NotScrapedYet
    );
    assert_eq!(snap.servable_pods(), 0);
}

#[test]
fn the_first_good_scrape_replaces_the_expected_pods() {
    let mut store = Store::new(StoreConfig::default());
    store.node_failed("n1");
    store.expect_pods("n1", on_default(&["a", "gone"]));
    store.apply_node("n1", &batch(100, &["a"]));
    assert_eq!(store.never_scraped_nodes().count(), 0);
    let snap = store.publish();
    assert_eq!(
        snap.pod_missing_reason("default", "a"),
        MissingReason::WaitingSecondSample
    );
    assert_eq!(
        snap.pod_missing_reason("default", "gone"),
        MissingReason::NotScrapedYet,
        "the kubelet's report is what counts now"
    );
    // Once scraped, a later failure keeps the kubelet's pods and ignores the API's.
    store.node_failed("n1");
    assert_eq!(store.never_scraped_nodes().count(), 0);
    assert!(!store.expect_pods("n1", on_default(&["other"])));
    assert!(!store.expect_pods("unknown", on_default(&["x"])));
    let snap = store.publish();
    assert_eq!(
        snap.pod_missing_reason("default", "a"),
        MissingReason::NodeFailed
    );
    assert_eq!(
        snap.pod_missing_reason("default", "other"),
        MissingReason::NotScrapedYet
    );
}

#[test]
fn a_pod_served_by_a_healthy_node_stays_served() {
    let mut store = Store::new(StoreConfig::default());
    store.apply_node("up", &batch(100, &["moved"]));
    store.apply_node("up", &batch(115, &["moved"]));
    store.node_failed("dead");
    store.expect_pods("dead", on_default(&["moved", "stuck"]));
    let snap = store.publish();
    assert!(snap.pod("default", "moved").is_some());
    assert_eq!(
        snap.pod_missing_reason("default", "stuck"),
        MissingReason::NodeFailed
    );
    // A later list replaces the earlier one; a node that leaves takes its pods along.
    store.expect_pods("dead", on_default(&["new"]));
    let snap = store.publish();
    assert_eq!(
        snap.pod_missing_reason("default", "stuck"),
        MissingReason::NotScrapedYet
    );
    assert_eq!(
        snap.pod_missing_reason("default", "new"),
        MissingReason::NodeFailed
    );
    store.retain_nodes(|name| name == "up");
    assert_eq!(store.never_scraped_nodes().count(), 0);
    let snap = store.publish();
    assert_eq!(
        snap.pod_missing_reason("default", "new"),
        MissingReason::NotScrapedYet
    );
}

#[test]
fn pods_of_a_skipped_node_read_node_not_scraped() {
    let mut store = Store::new(StoreConfig::default());
    store.apply_node("up", &batch(100, &["ok"]));
    store.apply_node("up", &batch(115, &["ok"]));
    store.node_skipped("virtual");
    let never: Vec<_> = store
        .never_scraped_nodes()
        .map(|(n, skipped)| (n.to_string(), skipped))
        .collect();
    assert_eq!(never, [("virtual".to_string(), true)]);
    assert!(store.expect_pods("virtual", on_default(&["aci-1", "aci-2"])));
    let snap = store.publish();
    assert_eq!(
        snap.node_missing_reason("virtual"),
        MissingReason::NodeNotScraped
    );
    for pod in ["aci-1", "aci-2"] {
        assert_eq!(
            snap.pod_missing_reason("default", pod),
            MissingReason::NodeNotScraped
        );
    }
    assert!(
        snap.pod("default", "ok").is_some(),
        "other nodes are served"
    );
    assert_eq!(snap.servable_nodes(), 1);
}

#[test]
fn a_node_skipped_after_being_scraped_takes_its_pods_from_the_api() {
    let mut store = Store::new(StoreConfig::default());
    store.apply_node("n1", &batch(100, &["a"]));
    store.apply_node("n1", &batch(115, &["a"]));
    store.node_skipped("n1");
    let snap = store.publish();
    assert_eq!(
        snap.node_missing_reason("n1"),
        MissingReason::NodeNotScraped
    );
    assert_eq!(
        snap.pod_missing_reason("default", "a"),
        MissingReason::NodeNotScraped
    );
    assert!(store.expect_pods("n1", on_default(&["b"])), "listed again");
    let snap = store.publish();
    assert_eq!(
        snap.pod_missing_reason("default", "b"),
        MissingReason::NodeNotScraped
    );
    // Scraped again (the skip turned off): its kubelet's report counts, and a failure reads
    // as a failure.
    store.apply_node("n1", &batch(130, &["a"]));
    assert_eq!(store.never_scraped_nodes().count(), 0);
    store.node_failed("n1");
    let snap = store.publish();
    assert_eq!(snap.node_missing_reason("n1"), MissingReason::NodeFailed);
}

/// What [`Store::never_scraped_nodes`] gives, as (name, skipped), in name order.
fn never_scraped(store: &Store) -> Vec<(String, bool)> {
    let tracked: Vec<(String, bool)> = store
        .never_scraped_nodes()
        .map(|(n, skipped)| (n.to_string(), skipped))
        .collect();
    // The tracked set agrees with every node's own state.
    let scanned: Vec<(String, bool)> = store
        .nodes
        .iter()
        .filter(|(_, state)| state.pods_from_api())
        .map(|(n, state)| (n.to_string(), state.skipped))
        .collect();
    assert_eq!(tracked, scanned);
    tracked
}

fn named(nodes: &[(&str, bool)]) -> Vec<(String, bool)> {
    nodes.iter().map(|(n, s)| (n.to_string(), *s)).collect()
}

#[test]
fn nodes_whose_pods_come_from_the_api_follow_every_change_of_state() {
    let mut store = Store::new(StoreConfig::default());
    store.apply_node("c", &batch(10, &["c1"]));
    store.node_failed("a");
    assert_eq!(never_scraped(&store), named(&[("a", false)]));
    store.node_skipped("b");
    assert_eq!(never_scraped(&store), named(&[("a", false), ("b", true)]));
    // A first good scrape: the node's own pods from now on.
    store.apply_node("a", &batch(10, &["a1"]));
    assert_eq!(never_scraped(&store), named(&[("b", true)]));
    // A node scraped once keeps its pods through failures.
    store.node_failed("c");
    store.node_failed("d");
    store.node_failed("d");
    assert_eq!(never_scraped(&store), named(&[("b", true), ("d", false)]));
    store.node_skipped("d");
    store.apply_node("b", &batch(20, &["b1"]));
    assert_eq!(never_scraped(&store), named(&[("d", true)]));
    // A skipped node that fails is a failing node again, still never scraped.
    store.node_failed("d");
    assert_eq!(never_scraped(&store), named(&[("d", false)]));
    store.retain_nodes(|name| name != "d");
    assert_eq!(never_scraped(&store), named(&[]));
    store.node_failed("d");
    assert_eq!(never_scraped(&store), named(&[("d", false)]));
}
