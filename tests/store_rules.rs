//! The store's serving rules, one test per rule of upstream spec §4.3/§4.4 and per rule where
//! we go beyond upstream, driven only through the public API (`Store`, `Snapshot`).

use std::borrow::Cow;

use metrics_server::batch::{ContainerBatch, MetricsPoint, NodeBatch, PodBatch};
use metrics_server::store::{MAX_CPU_NANOCORES, MissingReason, Snapshot, Store, StoreConfig};
use metrics_server::time::{NANOS_PER_SEC, Timestamp};
use proptest::prelude::*;

const S: i64 = NANOS_PER_SEC;
/// An arbitrary wall-clock origin (seconds).
const T0: i64 = 1_700_000_000;
/// Start time of long-running containers: far older than any resolution.
const OLD_START: i64 = T0 - 86_400;
const CORE_SEC: u64 = 1_000_000_000;

fn point(ts: i64, start: Option<i64>, cpu_ns: u64, memory: u64) -> MetricsPoint {
    MetricsPoint {
        timestamp: Timestamp::from_secs(ts),
        start_time: start.map(Timestamp::from_secs),
        cpu_ns,
        memory_bytes: memory,
    }
}

fn node_point(ts: i64, cpu_ns: u64) -> MetricsPoint {
    point(ts, None, cpu_ns, 4 << 30)
}

fn container(name: &'static str, p: MetricsPoint) -> ContainerBatch<'static> {
    ContainerBatch {
        name: Cow::Borrowed(name),
        point: p,
    }
}

fn pod(
    ns: &'static str,
    name: &'static str,
    cs: Vec<ContainerBatch<'static>>,
) -> PodBatch<'static> {
    PodBatch {
        namespace: Cow::Borrowed(ns),
        name: Cow::Borrowed(name),
        containers: cs,
        complete: true,
    }
}

fn batch(node: Option<MetricsPoint>, pods: Vec<PodBatch<'static>>) -> NodeBatch<'static> {
    NodeBatch { node, pods }
}

/// A node sample plus pod `default/web` with one long-running container `app`.
fn simple(ts: i64, cpu_ns: u64) -> NodeBatch<'static> {
    let app = container("app", point(ts, Some(OLD_START), cpu_ns, 1000));
    batch(
        Some(node_point(ts, cpu_ns * 4)),
        vec![pod("default", "web", vec![app])],
    )
}

fn store() -> Store {
    Store::new(StoreConfig::default())
}

fn store_with_resolution(secs: i64) -> Store {
    Store::new(StoreConfig {
        metric_resolution_ns: secs * S,
        ..StoreConfig::default()
    })
}

fn apply_all(store: &mut Store, node: &str, batches: &[NodeBatch<'static>]) -> Snapshot {
    for b in batches {
        store.apply_node(node, b);
    }
    store.publish()
}

fn web_window(snap: &Snapshot) -> Option<i64> {
    snap.pod("default", "web").map(|p| p.window_ns)
}

#[test]
fn two_scrapes_are_needed_before_serving() {
    let mut st = store();
    let snap = apply_all(&mut st, "n1", &[simple(T0, CORE_SEC)]);
    assert!(snap.node("n1").is_none());
    assert!(snap.pod("default", "web").is_none());
    assert_eq!(
        snap.node_missing_reason("n1"),
        MissingReason::WaitingSecondSample
    );
    assert_eq!(
        snap.pod_missing_reason("default", "web"),
        MissingReason::WaitingSecondSample
    );
    assert!(!snap.is_ready());

    let snap = apply_all(&mut st, "n1", &[simple(T0 + 15, 4 * CORE_SEC)]);
    let node = snap.node("n1").unwrap();
    assert_eq!(node.window_ns, 15 * S);
    assert_eq!(node.timestamp, Timestamp::from_secs(T0 + 15));
    assert_eq!(
        node.usage.cpu_nanocores, 800_000_000,
        "12 core-seconds over 15 s"
    );
    let web = snap.pod("default", "web").unwrap();
    assert_eq!(
        web.containers[0].usage.cpu_nanocores, 200_000_000,
        "3 core-s / 15 s"
    );
    assert_eq!(&*web.node, "n1");
    assert!(snap.is_ready());
}

/// A re-reported identical sample keeps the existing pair: the item stays servable with the
/// same window, and a single sample never pairs with a made-up zero point (no upstream quirk).
#[test]
fn repeated_identical_batch_keeps_the_previous_window() {
    let mut st = store();
    let first = simple(T0, CORE_SEC);
    let snap = apply_all(&mut st, "n1", &[first.clone(), first]);
    assert_eq!(
        snap.pod_missing_reason("default", "web"),
        MissingReason::WaitingSecondSample
    );
    assert_eq!(
        snap.node_missing_reason("n1"),
        MissingReason::WaitingSecondSample
    );

    let second = simple(T0 + 15, 4 * CORE_SEC);
    let snap = apply_all(&mut st, "n1", &[second.clone(), second]);
    assert_eq!(snap.node("n1").unwrap().window_ns, 15 * S);
    assert_eq!(web_window(&snap), Some(15 * S));
}

#[test]
fn point_between_prev_and_last_replaces_last() {
    let mut st = store();
    let snap = apply_all(
        &mut st,
        "n1",
        &[
            simple(T0 + 10, CORE_SEC),
            simple(T0 + 30, 9 * CORE_SEC),
            simple(T0 + 20, 3 * CORE_SEC),
        ],
    );
    assert_eq!(
        snap.node("n1").unwrap().window_ns,
        10 * S,
        "window new − prev"
    );
    assert_eq!(
        snap.node("n1").unwrap().timestamp,
        Timestamp::from_secs(T0 + 20)
    );
    let web = snap.pod("default", "web").unwrap();
    assert_eq!(web.window_ns, 10 * S);
    assert_eq!(
        web.containers[0].usage.cpu_nanocores, 200_000_000,
        "2 core-s / 10 s"
    );
}

#[test]
fn point_older_than_every_stored_point_starts_over() {
    let mut st = store();
    let snap = apply_all(
        &mut st,
        "n1",
        &[
            simple(T0 + 10, CORE_SEC),
            simple(T0 + 20, 2 * CORE_SEC),
            simple(T0 + 5, CORE_SEC),
        ],
    );
    assert_eq!(
        snap.node_missing_reason("n1"),
        MissingReason::WaitingSecondSample
    );
    assert_eq!(
        snap.pod_missing_reason("default", "web"),
        MissingReason::WaitingSecondSample
    );
    let snap = apply_all(&mut st, "n1", &[simple(T0 + 15, 2 * CORE_SEC)]);
    assert_eq!(
        snap.node("n1").unwrap().window_ns,
        10 * S,
        "paired with the t+5 point"
    );
}

/// Beyond upstream: with a ring of 3, a point older than prev but newer than the point before
/// it pairs with that older point instead of waiting for another scrape.
#[test]
fn point_older_than_prev_pairs_with_an_older_kept_point() {
    let mut st = store();
    let snap = apply_all(
        &mut st,
        "n1",
        &[
            simple(T0 + 10, CORE_SEC),
            simple(T0 + 20, 2 * CORE_SEC),
            simple(T0 + 30, 3 * CORE_SEC),
            simple(T0 + 15, 2 * CORE_SEC),
        ],
    );
    assert_eq!(snap.node("n1").unwrap().window_ns, 5 * S);
    assert_eq!(web_window(&snap), Some(5 * S));
}

fn fresh_pod(ts: i64, start: i64) -> NodeBatch<'static> {
    let c = container("app", point(ts, Some(start), 5 * CORE_SEC, 77));
    batch(
        Some(node_point(ts, CORE_SEC)),
        vec![pod("default", "web", vec![c])],
    )
}

#[test]
fn fresh_container_is_served_after_one_scrape_from_its_start_time() {
    let mut st = store_with_resolution(60);
    let snap = apply_all(&mut st, "n1", &[fresh_pod(T0 + 10, T0)]);
    let web = snap.pod("default", "web").unwrap();
    assert_eq!(web.window_ns, 10 * S);
    assert_eq!(web.timestamp, Timestamp::from_secs(T0 + 10));
    assert_eq!(
        web.containers[0].usage.cpu_nanocores, 500_000_000,
        "5 core-s / 10 s"
    );
    assert_eq!(web.containers[0].usage.memory_bytes, 77);
}

#[test]
fn fresh_container_rule_bounds() {
    let cases = [
        (T0 + 9, T0, "started 9 s before the sample"),
        (T0, T0 + 5, "start after the sample"),
        (T0 + 120, T0, "running longer than the resolution"),
        (T0 + 60, T0, "age equal to the resolution"),
    ];
    for (ts, start, why) in cases {
        let mut st = store_with_resolution(60);
        let snap = apply_all(&mut st, "n1", &[fresh_pod(ts, start)]);
        assert!(snap.pod("default", "web").is_none(), "{why}");
        assert_eq!(
            snap.pod_missing_reason("default", "web"),
            MissingReason::WaitingSecondSample,
            "{why}"
        );
    }
}

#[test]
fn restart_is_measured_from_the_new_start_time() {
    let mut st = store();
    let before = |ts, cpu| {
        let c = container("app", point(ts, Some(T0), cpu, 10));
        batch(
            Some(node_point(ts, cpu)),
            vec![pod("default", "web", vec![c])],
        )
    };
    let snap = apply_all(
        &mut st,
        "n1",
        &[before(T0 + 5, 2 * CORE_SEC), before(T0 + 12, 9 * CORE_SEC)],
    );
    assert_eq!(web_window(&snap), Some(7 * S));
    // Restarted at t0+15 with a fresh counter; sampled at t0+25.
    let c = container("app", point(T0 + 25, Some(T0 + 15), 5 * CORE_SEC, 10));
    let after = batch(
        Some(node_point(T0 + 25, 20 * CORE_SEC)),
        vec![pod("default", "web", vec![c])],
    );
    let snap = apply_all(&mut st, "n1", &[after]);
    let web = snap.pod("default", "web").unwrap();
    assert_eq!(web.window_ns, 10 * S);
    assert_eq!(web.containers[0].usage.cpu_nanocores, 500_000_000, "500m");
}

/// Beyond upstream: a changed start time is a restart even if it predates the last sample.
#[test]
fn changed_start_time_is_a_restart_even_before_the_last_sample() {
    let mut st = store();
    let sample = |ts, start, cpu| {
        let c = container("app", point(ts, Some(start), cpu, 10));
        batch(
            Some(node_point(ts, cpu)),
            vec![pod("default", "web", vec![c])],
        )
    };
    let snap = apply_all(
        &mut st,
        "n1",
        &[
            sample(T0 + 100, T0, 50 * CORE_SEC),
            sample(T0 + 130, T0 + 99, 60 * CORE_SEC),
        ],
    );
    assert_eq!(
        snap.pod_missing_reason("default", "web"),
        MissingReason::WaitingSecondSample
    );
}

#[test]
fn counter_decrease_is_not_served_then_recovers_after_one_good_sample() {
    let mut st = store();
    let snap = apply_all(
        &mut st,
        "n1",
        &[
            simple(T0, 10 * CORE_SEC),
            simple(T0 + 15, 20 * CORE_SEC),
            simple(T0 + 30, 5 * CORE_SEC),
        ],
    );
    assert!(
        snap.node("n1").is_none(),
        "node restart detected by its counter"
    );
    assert_eq!(snap.node_missing_reason("n1"), MissingReason::RateError);
    assert_eq!(
        snap.pod_missing_reason("default", "web"),
        MissingReason::RateError
    );
    assert!(!snap.is_ready());

    let snap = apply_all(&mut st, "n1", &[simple(T0 + 45, 8 * CORE_SEC)]);
    assert_eq!(snap.node("n1").unwrap().window_ns, 15 * S);
    let web = snap.pod("default", "web").unwrap();
    assert_eq!(
        web.containers[0].usage.cpu_nanocores, 200_000_000,
        "3 core-s / 15 s"
    );
}

#[test]
fn start_time_decrease_is_a_rate_error() {
    let mut st = store();
    let sample = |ts, start| {
        let c = container(
            "app",
            point(ts, Some(start), CORE_SEC * ts.unsigned_abs(), 10),
        );
        batch(
            Some(node_point(ts, 1)),
            vec![pod("default", "web", vec![c])],
        )
    };
    let snap = apply_all(
        &mut st,
        "n1",
        &[sample(T0, OLD_START), sample(T0 + 15, OLD_START - 60)],
    );
    assert_eq!(
        snap.pod_missing_reason("default", "web"),
        MissingReason::RateError
    );
}

#[test]
fn absurd_cpu_rate_is_a_rate_error() {
    let mut st = store();
    let snap = apply_all(
        &mut st,
        "n1",
        &[simple(T0, 0), simple(T0 + 1, u64::MAX / 4)],
    );
    assert_eq!(snap.node_missing_reason("n1"), MissingReason::RateError);
    assert_eq!(
        snap.pod_missing_reason("default", "web"),
        MissingReason::RateError
    );
}

#[test]
fn zero_memory_and_zero_cpu_rate_are_served() {
    let mut st = store();
    let idle = |ts| {
        let c = container("app", point(ts, Some(OLD_START), 7, 0));
        batch(
            Some(point(ts, None, 7, 0)),
            vec![pod("default", "web", vec![c])],
        )
    };
    let snap = apply_all(&mut st, "n1", &[idle(T0), idle(T0 + 15)]);
    assert_eq!(snap.node("n1").unwrap().usage.cpu_nanocores, 0);
    assert_eq!(snap.node("n1").unwrap().usage.memory_bytes, 0);
    let usage = snap.pod("default", "web").unwrap().containers[0].usage;
    assert_eq!((usage.cpu_nanocores, usage.memory_bytes), (0, 0));
}

fn moved_pod(ts: i64, start: i64, cpu: u64) -> NodeBatch<'static> {
    let c = container("db", point(ts, Some(start), cpu, 1 << 20));
    batch(
        Some(node_point(ts, cpu)),
        vec![pod("data", "db-0", vec![c])],
    )
}

#[test]
fn pod_on_two_nodes_is_served_once_from_the_newest_start_time() {
    let mut st = store();
    let old_incarnation = [
        moved_pod(T0, OLD_START, 10 * CORE_SEC),
        moved_pod(T0 + 15, OLD_START, 25 * CORE_SEC),
    ];
    let new_start = T0 - 600;
    let new_incarnation = [
        moved_pod(T0 + 1, new_start, CORE_SEC),
        moved_pod(T0 + 16, new_start, 4 * CORE_SEC),
    ];
    apply_all(&mut st, "b-new", &new_incarnation);
    let snap = apply_all(&mut st, "a-old", &old_incarnation);

    let served: Vec<_> = snap
        .pods(None)
        .filter(|(k, _)| &*k.name == "db-0")
        .collect();
    assert_eq!(served.len(), 1);
    let db = snap.pod("data", "db-0").unwrap();
    assert_eq!(&*db.node, "b-new");
    assert_eq!(db.containers.len(), 1, "never merged");
    assert_eq!(
        db.containers[0].usage.cpu_nanocores, 200_000_000,
        "b's own rate, not a sum"
    );
    assert_eq!(snap.servable_pods(), 1);
    assert_eq!(snap.servable_containers(), 1);
}

#[test]
fn duplicate_pod_with_equal_start_time_serves_the_newer_sample() {
    let mut st = store();
    apply_all(
        &mut st,
        "a",
        &[
            moved_pod(T0, OLD_START, 0),
            moved_pod(T0 + 15, OLD_START, 15 * CORE_SEC),
        ],
    );
    let snap = apply_all(
        &mut st,
        "b",
        &[
            moved_pod(T0 + 2, OLD_START, 0),
            moved_pod(T0 + 17, OLD_START, 30 * CORE_SEC),
        ],
    );
    let db = snap.pod("data", "db-0").unwrap();
    assert_eq!(&*db.node, "b");
    assert_eq!(db.containers[0].usage.cpu_nanocores, 2 * CORE_SEC);
}

#[test]
fn newest_incarnation_waiting_for_a_sample_hides_the_stale_one() {
    let mut st = store();
    apply_all(
        &mut st,
        "a",
        &[
            moved_pod(T0, OLD_START, 0),
            moved_pod(T0 + 15, OLD_START, CORE_SEC),
        ],
    );
    let snap = apply_all(&mut st, "b", &[moved_pod(T0 + 16, T0 - 600, CORE_SEC)]);
    assert!(snap.pod("data", "db-0").is_none());
    assert_eq!(
        snap.pod_missing_reason("data", "db-0"),
        MissingReason::WaitingSecondSample
    );
}

#[test]
fn node_that_stops_reporting_a_pod_drops_its_copy() {
    let mut st = store();
    apply_all(
        &mut st,
        "a",
        &[
            moved_pod(T0, OLD_START, 0),
            moved_pod(T0 + 15, OLD_START, CORE_SEC),
        ],
    );
    let snap = apply_all(&mut st, "a", &[batch(Some(node_point(T0 + 30, 2)), vec![])]);
    assert_eq!(
        snap.pod_missing_reason("data", "db-0"),
        MissingReason::NotScrapedYet
    );
    assert_eq!(snap.servable_pods(), 0);
}

#[test]
fn incomplete_pod_is_not_served_but_its_neighbours_are() {
    let mut st = store();
    let scrape = |ts, cpu| {
        let mut broken = pod(
            "default",
            "broken",
            vec![container("a", point(ts, Some(OLD_START), cpu, 1))],
        );
        broken.complete = false;
        let ok = pod(
            "default",
            "ok",
            vec![container("a", point(ts, Some(OLD_START), cpu, 1))],
        );
        batch(Some(node_point(ts, cpu)), vec![broken, ok])
    };
    let snap = apply_all(&mut st, "n1", &[scrape(T0, 0), scrape(T0 + 15, CORE_SEC)]);
    assert!(snap.pod("default", "broken").is_none());
    assert_eq!(
        snap.pod_missing_reason("default", "broken"),
        MissingReason::IncompleteContainers
    );
    assert!(snap.pod("default", "ok").is_some());
}

fn two_container_pod(ts: i64, names: &[&'static str], cpu: u64) -> NodeBatch<'static> {
    let cs = names
        .iter()
        .map(|n| container(n, point(ts, Some(OLD_START), cpu, 5)))
        .collect();
    batch(Some(node_point(ts, cpu)), vec![pod("default", "web", cs)])
}

#[test]
fn pod_with_one_container_lacking_a_prev_is_hidden_until_all_have_one() {
    let mut st = store();
    let snap = apply_all(
        &mut st,
        "n1",
        &[
            two_container_pod(T0, &["main"], 0),
            two_container_pod(T0 + 15, &["main", "sidecar"], CORE_SEC),
        ],
    );
    assert!(snap.pod("default", "web").is_none());
    assert_eq!(
        snap.pod_missing_reason("default", "web"),
        MissingReason::WaitingSecondSample
    );

    let snap = apply_all(
        &mut st,
        "n1",
        &[two_container_pod(
            T0 + 30,
            &["sidecar", "main"],
            2 * CORE_SEC,
        )],
    );
    let names: Vec<_> = snap
        .pod("default", "web")
        .unwrap()
        .containers
        .iter()
        .map(|c| c.name.to_string())
        .collect();
    assert_eq!(names, ["main", "sidecar"], "sorted by name");
}

#[test]
fn container_gone_from_the_latest_batch_is_dropped() {
    let mut st = store();
    let snap = apply_all(
        &mut st,
        "n1",
        &[
            two_container_pod(T0, &["main", "init"], 0),
            two_container_pod(T0 + 15, &["main", "init"], CORE_SEC),
            two_container_pod(T0 + 30, &["main"], 2 * CORE_SEC),
        ],
    );
    let web = snap.pod("default", "web").unwrap();
    assert_eq!(web.containers.len(), 1);
    assert_eq!(&*web.containers[0].name, "main");
}

#[test]
fn pod_timestamp_and_window_come_from_the_earliest_container() {
    let mut st = store();
    let scrape = |early_ts, late_ts| {
        let cs = vec![
            container("late", point(late_ts, Some(OLD_START), 0, 1)),
            container("early", point(early_ts, Some(OLD_START), 0, 1)),
        ];
        batch(
            Some(node_point(late_ts, 1)),
            vec![pod("default", "web", cs)],
        )
    };
    let snap = apply_all(
        &mut st,
        "n1",
        &[scrape(T0, T0 + 1), scrape(T0 + 12, T0 + 16)],
    );
    let web = snap.pod("default", "web").unwrap();
    assert_eq!(web.timestamp, Timestamp::from_secs(T0 + 12));
    assert_eq!(web.window_ns, 12 * S);
}

fn two_nodes_serving() -> Store {
    let mut st = store();
    for (node, ns) in [("n1", "one"), ("n2", "two")] {
        for (ts, cpu) in [(T0, 0), (T0 + 15, CORE_SEC)] {
            let c = container("app", point(ts, Some(OLD_START), cpu, 1));
            st.apply_node(
                node,
                &batch(Some(node_point(ts, cpu)), vec![pod(ns, "p", vec![c])]),
            );
        }
    }
    st
}

#[test]
fn node_failure_hides_that_node_and_its_pods_only() {
    let mut st = two_nodes_serving();
    st.node_failed("n1");
    let snap = st.publish();
    assert!(snap.node("n1").is_none());
    assert_eq!(snap.node_missing_reason("n1"), MissingReason::NodeFailed);
    assert_eq!(
        snap.pod_missing_reason("one", "p"),
        MissingReason::NodeFailed
    );
    assert!(snap.node("n2").is_some());
    assert!(snap.pod("two", "p").is_some());
    assert!(snap.is_ready());
}

#[test]
fn never_scraped_node_that_fails_reports_node_failed() {
    let mut st = store();
    st.node_failed("ghost");
    let snap = st.publish();
    assert_eq!(snap.node_missing_reason("ghost"), MissingReason::NodeFailed);
    assert_eq!(
        snap.node_missing_reason("other"),
        MissingReason::NotScrapedYet
    );
}

#[test]
fn failed_node_serves_again_after_one_good_scrape() {
    let mut st = two_nodes_serving();
    st.node_failed("n1");
    st.publish();
    let c = container("app", point(T0 + 45, Some(OLD_START), 4 * CORE_SEC, 1));
    st.apply_node(
        "n1",
        &batch(
            Some(node_point(T0 + 45, 4 * CORE_SEC)),
            vec![pod("one", "p", vec![c])],
        ),
    );
    let snap = st.publish();
    assert_eq!(
        snap.node("n1").unwrap().window_ns,
        30 * S,
        "window spans the failed scrape"
    );
    assert_eq!(
        snap.pod("one", "p").unwrap().containers[0]
            .usage
            .cpu_nanocores,
        100_000_000
    );
}

#[test]
fn applying_one_node_never_touches_another() {
    let mut st = two_nodes_serving();
    let before = st.publish();
    st.apply_node("n1", &batch(None, vec![]));
    let after = st.publish();
    assert_eq!(after.node("n2"), before.node("n2"));
    assert_eq!(after.pod("two", "p"), before.pod("two", "p"));
    assert_eq!(
        after.node_missing_reason("n1"),
        MissingReason::MissingSample
    );
    assert_eq!(
        after.pod_missing_reason("one", "p"),
        MissingReason::NotScrapedYet
    );
}

#[test]
fn retain_nodes_forgets_a_node_and_its_pods() {
    let mut st = two_nodes_serving();
    st.retain_nodes(|name| name != "n1");
    let snap = st.publish();
    assert_eq!(snap.node_missing_reason("n1"), MissingReason::NotScrapedYet);
    assert_eq!(
        snap.pod_missing_reason("one", "p"),
        MissingReason::NotScrapedYet
    );
    assert_eq!(snap.servable_nodes(), 1);
    assert_eq!(snap.servable_pods(), 1);
}

#[test]
fn namespaced_listing_returns_only_that_namespace_sorted() {
    let mut st = store();
    let scrape = |ts, cpu| {
        let pods = [
            ("kube-system", "dns"),
            ("default", "b"),
            ("kube", "x"),
            ("default", "a"),
            ("kube-system", "api"),
        ]
        .into_iter()
        .map(|(ns, name)| {
            pod(
                ns,
                name,
                vec![container("c", point(ts, Some(OLD_START), cpu, 1))],
            )
        })
        .collect();
        batch(Some(node_point(ts, cpu)), pods)
    };
    let snap = apply_all(&mut st, "n1", &[scrape(T0, 0), scrape(T0 + 15, CORE_SEC)]);
    let listed = |ns| -> Vec<String> {
        snap.pods(ns)
            .map(|(k, _)| format!("{}/{}", k.namespace, k.name))
            .collect()
    };
    assert_eq!(
        listed(Some("kube-system")),
        ["kube-system/api", "kube-system/dns"]
    );
    assert_eq!(listed(Some("default")), ["default/a", "default/b"]);
    assert!(listed(Some("absent")).is_empty());
    assert_eq!(
        listed(None),
        [
            "default/a",
            "default/b",
            "kube/x",
            "kube-system/api",
            "kube-system/dns"
        ]
    );
    let nodes: Vec<_> = snap.nodes().map(|(n, _)| n.to_string()).collect();
    assert_eq!(nodes, ["n1"]);
}

#[test]
fn readiness_needs_a_servable_node_and_a_servable_pod() {
    let node_only = |ts, cpu| batch(Some(node_point(ts, cpu)), vec![]);
    let mut st = store();
    assert!(!apply_all(&mut st, "n1", &[node_only(T0, 0), node_only(T0 + 15, 1)]).is_ready());

    let pods_only = |ts, cpu| {
        let mut b = simple(ts, cpu);
        b.node = None;
        b
    };
    let mut st = store();
    let snap = apply_all(&mut st, "n1", &[pods_only(T0, 0), pods_only(T0 + 15, 1)]);
    assert_eq!(snap.servable_pods(), 1);
    assert!(!snap.is_ready());

    let mut st = store();
    assert!(apply_all(&mut st, "n1", &[simple(T0, 0), simple(T0 + 15, 1)]).is_ready());
}

#[test]
fn generation_increments_per_publish() {
    assert_eq!(Snapshot::empty().generation(), 0);
    assert!(!Snapshot::empty().is_ready());
    let mut st = store();
    assert_eq!(st.publish().generation(), 1);
    assert_eq!(st.publish().generation(), 2);
    st.apply_node("n1", &simple(T0, 0));
    assert_eq!(st.publish().generation(), 3);
}

#[test]
fn consecutive_snapshots_share_name_strings() {
    let mut st = store();
    let a = apply_all(&mut st, "n1", &[simple(T0, 0), simple(T0 + 15, 1)]);
    let b = apply_all(&mut st, "n1", &[simple(T0 + 30, 2)]);
    let (ka, pa) = a.pods(None).next().unwrap();
    let (kb, pb) = b.pods(None).next().unwrap();
    assert!(arcstr::ArcStr::ptr_eq(&ka.name, &kb.name));
    assert!(arcstr::ArcStr::ptr_eq(&ka.namespace, &kb.namespace));
    assert!(arcstr::ArcStr::ptr_eq(
        &pa.containers[0].name,
        &pb.containers[0].name
    ));
    assert!(arcstr::ArcStr::ptr_eq(&pa.node, &pb.node));
}

// ---- property: whatever the kubelets send, served values are sane ----

fn arb_point() -> impl Strategy<Value = MetricsPoint> {
    let cpu = prop_oneof![0u64..1_000_000_000_000, any::<u64>()];
    (0i64..120, prop::option::of(-30i64..120), cpu, any::<u64>()).prop_map(
        |(ts, start, cpu, mem)| MetricsPoint {
            timestamp: Timestamp((T0 + ts) * S + ts * 7_000_000),
            start_time: start.map(|s| Timestamp::from_secs(T0 + s)),
            cpu_ns: cpu,
            memory_bytes: mem,
        },
    )
}

fn arb_pod() -> impl Strategy<Value = PodBatch<'static>> {
    arb_pod_named(vec!["a", "b"], vec!["p", "q"])
}

fn arb_pod_named(
    namespaces: Vec<&'static str>,
    pods: Vec<&'static str>,
) -> impl Strategy<Value = PodBatch<'static>> {
    let names = prop::sample::select(vec!["c1", "c2", "c3"]);
    (
        prop::sample::select(namespaces),
        prop::sample::select(pods),
        prop::collection::vec((names, arb_point()), 0..4),
        any::<bool>(),
    )
        .prop_map(|(ns, name, cs, complete)| PodBatch {
            namespace: Cow::Borrowed(ns),
            name: Cow::Borrowed(name),
            containers: cs.into_iter().map(|(n, p)| container(n, p)).collect(),
            complete,
        })
}

fn arb_step() -> impl Strategy<Value = (usize, Option<NodeBatch<'static>>)> {
    let b = (
        prop::option::of(arb_point()),
        prop::collection::vec(arb_pod(), 0..4),
    )
        .prop_map(|(node, pods)| NodeBatch { node, pods });
    (0usize..3, prop::option::weighted(0.85, b))
}

/// Steps over four nodes reporting pods of a wider name set (pods come, go and move).
fn arb_wide_step() -> impl Strategy<Value = (usize, Option<NodeBatch<'static>>)> {
    let pod = arb_pod_named(
        vec!["a", "b", "kube-system"],
        vec!["p", "q", "r-1", "r-2", "web"],
    );
    let b = (
        prop::option::of(arb_point()),
        prop::collection::vec(pod, 0..8),
    )
        .prop_map(|(node, pods)| NodeBatch { node, pods });
    (0usize..4, prop::option::weighted(0.9, b))
}

/// What a snapshot serves and why it does not serve the rest, in its own order.
fn served(snap: &Snapshot) -> Vec<String> {
    let mut out: Vec<String> = snap
        .pods(None)
        .map(|(k, p)| format!("{}/{} {p:?}", k.namespace, k.name))
        .collect();
    for ns in ["a", "b", "kube-system"] {
        for name in ["p", "q", "r-1", "r-2", "web"] {
            out.push(format!(
                "{ns}/{name}: {:?}",
                snap.pod_missing_reason(ns, name)
            ));
        }
    }
    out
}

fn check_sane(snap: &Snapshot) {
    let nodes: Vec<_> = snap.nodes().collect();
    assert!(
        nodes.windows(2).all(|w| w[0].0 < w[1].0),
        "nodes sorted and unique"
    );
    for (_, n) in nodes {
        assert!(n.window_ns > 0);
        assert!(n.usage.cpu_nanocores <= MAX_CPU_NANOCORES);
    }
    let pods: Vec<_> = snap.pods(None).collect();
    assert!(
        pods.windows(2).all(|w| w[0].0 < w[1].0),
        "pods sorted and unique"
    );
    let mut containers = 0;
    for (key, p) in pods {
        assert!(p.window_ns > 0);
        assert!(!p.containers.is_empty());
        assert!(p.containers.windows(2).all(|w| w[0].name < w[1].name));
        assert!(
            p.containers
                .iter()
                .all(|c| c.usage.cpu_nanocores <= MAX_CPU_NANOCORES)
        );
        assert_ne!(snap.node_missing_reason(&p.node), MissingReason::NodeFailed);
        assert_eq!(
            snap.pod_missing_reason(&key.namespace, &key.name),
            MissingReason::Servable
        );
        containers += p.containers.len();
    }
    assert_eq!(containers, snap.servable_containers());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn any_sequence_of_batches_yields_sane_values(
        steps in prop::collection::vec(arb_step(), 1..16),
        depth in 2usize..5,
    ) {
        let mut st = Store::new(StoreConfig { ring_depth: depth, ..StoreConfig::default() });
        let node_names = ["n0", "n1", "n2"];
        for (node, outcome) in steps {
            match outcome {
                Some(b) => st.apply_node(node_names[node], &b),
                None => st.node_failed(node_names[node]),
            }
            check_sane(&st.publish());
        }
    }

    /// Publishes sort by the pods' positions at the previous publish; a store that publishes
    /// after every batch must end up serving exactly what one publishing once serves.
    #[test]
    fn publishing_often_serves_what_publishing_once_serves(
        steps in prop::collection::vec(arb_wide_step(), 1..24),
    ) {
        let (mut often, mut once) = (store(), store());
        let node_names = ["n0", "n1", "n2", "n3"];
        for (node, outcome) in &steps {
            for st in [&mut often, &mut once] {
                match outcome {
                    Some(b) => st.apply_node(node_names[*node], b),
                    None => st.node_failed(node_names[*node]),
                }
            }
            check_sane(&often.publish());
        }
        let (last, fresh) = (often.publish(), once.publish());
        check_sane(&last);
        prop_assert_eq!(served(&last), served(&fresh));
    }
}
