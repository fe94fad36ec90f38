//! Recording a node's scrape in the self-metrics allocates nothing once the node is known:
//! at 5,000 nodes that is 5,000 records a cycle, every cycle.

#![allow(clippy::unwrap_used)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::Arc;
use std::time::Duration;

use metrics_server::telemetry::Metrics;

/// The system allocator, counting the allocations made on each thread.
struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn allocations_in(work: impl FnOnce()) -> u64 {
    let before = ALLOCATIONS.with(Cell::get);
    work();
    ALLOCATIONS.with(Cell::get) - before
}

#[test]
fn a_known_node_is_recorded_without_allocating() {
    let metrics = Metrics::new(Duration::from_secs(15));
    let nodes: Vec<Arc<str>> = (0..100).map(|i| format!("node-{i}").into()).collect();
    let cycle = |result: Result<(), &'static str>| {
        for node in &nodes {
            metrics.record_scrape(node, Duration::from_millis(3), result);
            metrics.record_tls_check(node, None);
            metrics.record_clock_offset(node, -1_500_000_000);
            let failing = result.is_err();
            let wait = Duration::from_secs(if failing { 30 } else { 0 });
            metrics.record_backoff(node, u32::from(failing) * 3, wait);
        }
        metrics.set_nodes_not_scraped([2, 1]);
        metrics.record_cycle(Duration::from_secs(1), &|_| true);
    };
    cycle(Ok(()));
    cycle(Ok(()));
    assert_eq!(
        allocations_in(|| cycle(Ok(()))),
        0,
        "a cycle of good scrapes"
    );
    cycle(Err("timeout"));
    assert_eq!(
        allocations_in(|| cycle(Err("timeout"))),
        0,
        "a cycle of nodes failing as they did before"
    );
    let text = metrics.encode();
    assert!(text.contains("metrics_rs_node_scrape_result{node=\"node-7\",result=\"timeout\"} 1"));
    assert!(
        !text.contains("node=\"node-7\",result=\"ok\""),
        "the old result is gone"
    );
    assert!(text.contains("metrics_server_kubelet_request_total{success=\"true\"} 300"));
    assert!(text.contains("metrics_server_kubelet_request_total{success=\"false\"} 200"));
    assert!(text.contains("metrics_rs_kubelet_scrape_failures_total{reason=\"timeout\"} 200"));
    assert!(text.contains("metrics_rs_node_scrape_backoff_seconds{node=\"node-7\"} 30.0"));
    assert!(text.contains("metrics_rs_node_consecutive_scrape_failures{node=\"node-7\"} 3"));
    assert!(text.contains("metrics_rs_nodes_not_scraped{kind=\"virtual-kubelet\"} 2"));
    assert!(text.contains("metrics_rs_nodes_not_scraped{kind=\"fargate\"} 1"));
}

#[test]
fn nodes_that_left_lose_their_series() {
    let metrics = Metrics::new(Duration::from_secs(15));
    metrics.record_scrape(&"stays".into(), Duration::from_millis(3), Ok(()));
    metrics.record_scrape(&"leaves".into(), Duration::from_millis(3), Err("connect"));
    metrics.record_cycle(Duration::from_secs(1), &|node| node == "stays");
    let text = metrics.encode();
    assert!(text.contains("node=\"stays\""));
    assert!(!text.contains("node=\"leaves\""), "{text}");
    metrics.record_scrape(&"leaves".into(), Duration::from_millis(3), Ok(()));
    assert!(
        metrics
            .encode()
            .contains("metrics_rs_node_scrape_result{node=\"leaves\",result=\"ok\"} 1"),
        "back when it returns"
    );
}

/// A node's first scrape creates its series: one allocation for the duration histogram and
/// one for each of five gauges, and no copy of its name, which every series shares with the
/// scraper (34 allocations before: two per series for the label set, one per lookup map for
/// the key, four for a histogram).
#[test]
fn a_new_node_shares_its_name_with_every_series() {
    let metrics = Metrics::new(Duration::from_secs(15));
    let record = |node: &Arc<str>| {
        metrics.record_scrape(node, Duration::from_millis(3), Ok(()));
        metrics.record_clock_offset(node, -1_500_000_000);
        metrics.record_backoff(node, 0, Duration::ZERO);
    };
    // 1,000 nodes first, so that the 1,001st grows no table.
    for i in 0..1_000 {
        record(&format!("node-{i}").into());
    }
    let newcomer: Arc<str> = "node-new".into();
    let series = allocations_in(|| record(&newcomer));
    assert_eq!(series, 6, "a histogram and five gauges");
    assert!(
        metrics
            .encode()
            .contains("metrics_rs_node_clock_offset_seconds{node=\"node-new\"} -1.5")
    );
}
