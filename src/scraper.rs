//! The scrape loop: every `--metric-resolution`, fetch every selected node concurrently (with
//! jitter and a per-node deadline), decode, merge into the store, and publish a new snapshot as
//! soon as results arrive — a slow or dead kubelet never delays another node's data.
//! Port of metrics-server `pkg/scraper/scraper.go` and the tick loop of `pkg/server/server.go`.
//!
//! Beyond upstream: a node that failed 3 cycles in a row is retried less and less often
//! (`backoff`); virtual nodes, which serve no kubelet metrics, are not scraped
//! (`--kubelet-skip-virtual-nodes`); the pods of a node that was never scraped successfully,
//! or is not scraped, are listed from the API beside the cycle (`failed_node_pods`), so they
//! read `node_failed` or `node_not_scraped` like the node.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;

use crate::batch::{ExtraBatch, InvalidValues};
use crate::cluster::virtual_nodes::VirtualKind;
use crate::cluster::{ClusterCache, NodeInfo};
use crate::go_duration::format_duration;
use crate::kubelet::decode::Source;
use crate::kubelet::{Fetched, KubeletClient, ScrapeError, StorageFetched};
use crate::store::Store;
use crate::telemetry::Metrics;
use crate::telemetry::stage_cpu::{self, Stage};
use crate::time::Timestamp;
use crate::usage::ExtraResources;

pub mod backoff;
mod failed_node_pods;
pub mod own_thread;
mod publisher;

use backoff::{Failed, NodeBackoff};
use failed_node_pods::FailedNodePods;
use publisher::Publisher;
pub use publisher::SnapshotOutlet;

/// Upper bound of the per-node start jitter. Upstream waits up to 4 s (spec §3.4), which makes
/// every cycle of a cluster above 500 nodes last over 4 s; 1 s still spreads the requests of a
/// 5,000-node cluster to 5 per millisecond, and clusters up to 125 nodes see upstream's jitter.
const MAX_JITTER: Duration = Duration::from_secs(1);
/// The jitter window grows by this per node (upstream's value).
const JITTER_PER_NODE: Duration = Duration::from_millis(8);
/// The instants of the jitter window requests start at ([`start_delay`]).
const JITTER_SLOTS: u32 = 16;

/// The start-jitter window for a cycle over `nodes` nodes: 8 ms per node, at most 1 s.
pub fn max_jitter(nodes: usize) -> Duration {
    (JITTER_PER_NODE * u32::try_from(nodes).unwrap_or(u32::MAX)).min(MAX_JITTER)
}

/// Scrape-loop timing the liveness probe reads.
#[derive(Debug, Default)]
pub struct ScrapeClock {
    /// Unix nanoseconds when the last cycle started; 0 before the first.
    last_tick_start: AtomicI64,
}

impl ScrapeClock {
    fn tick_started(&self, at: Timestamp) {
        self.last_tick_start.store(at.0, Ordering::Release);
    }

    /// Upstream `metric-collection-timely`: fails when the last cycle started more than
    /// 1.5 × resolution ago; passes before the first cycle.
    pub fn check_timely(&self, resolution: Duration, now: Timestamp) -> Result<(), CollectionLate> {
        let last = self.last_tick_start.load(Ordering::Acquire);
        if last == 0 {
            return Ok(());
        }
        let limit = i64::try_from(resolution.as_nanos() * 3 / 2).unwrap_or(i64::MAX);
        if now.0.saturating_sub(last) > limit {
            return Err(CollectionLate);
        }
        Ok(())
    }
}

/// The last scrape cycle started more than 1.5 × resolution ago.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("metric collection didn't finish on time")]
pub struct CollectionLate;

/// Whether a node, by its labels, is to be scraped (`--node-selector`).
pub type NodeFilter = Box<dyn Fn(&BTreeMap<String, String>) -> bool + Send + Sync>;

/// The single writer: owns the store and publishes snapshots.
pub struct Scraper {
    pub client: Arc<KubeletClient>,
    pub cluster: ClusterCache,
    pub selects_node: NodeFilter,
    pub resolution: Duration,
    pub store: Store,
    /// Where snapshots go: the one readers load, and a signal for each publish.
    pub published: SnapshotOutlet,
    pub clock: Arc<ScrapeClock>,
    /// Self-metrics: recorded once per node result and once per cycle.
    pub metrics: Arc<Metrics>,
    /// How long the last snapshot publish took (decides whether cycles publish mid-way).
    pub publish_cost: Duration,
    /// When nodes that keep failing are retried (`--kubelet-max-backoff`).
    pub backoff: NodeBackoff,
    /// Whether virtual nodes are left out (`--kubelet-skip-virtual-nodes`).
    pub skip_virtual_nodes: bool,
    /// The nodes of the last plan, kept while the node cache does not change.
    pub known_nodes: Option<KnownNodes>,
}

/// The nodes a plan scraped, for the node cache's version it was made from. While the version
/// stays, the store and the back-off hold no other node and the virtual ones are already left
/// out, so a plan reuses them: a cycle of an unchanged cluster neither lists the node cache
/// nor hashes a name (each node's data is first read by its own fetch).
pub struct KnownNodes {
    version: u64,
    /// Selected and scraped (not virtual, when those are skipped), sorted by name.
    to_scrape: Arc<[Arc<NodeInfo>]>,
    /// The names of `to_scrape`.
    scraped: Arc<HashSet<Arc<str>>>,
    /// Selected nodes left out as virtual.
    not_scraped: usize,
}

/// When a cycle started, on the monotonic clock (back-off waits) and the wall clock (logs).
struct CycleStart {
    at: tokio::time::Instant,
    wall: Timestamp,
}

/// The nodes of one cycle.
struct CyclePlan {
    /// Every node scraped, due now or not (shared with the fetches).
    to_scrape: Arc<[Arc<NodeInfo>]>,
    /// Positions in `to_scrape` of those to scrape now: not waiting for a retry.
    due: Vec<usize>,
    /// Every selected node that is scraped, due now or not: the ones with per-node series.
    scraped: Arc<HashSet<Arc<str>>>,
    /// Selected nodes left out as virtual.
    not_scraped: usize,
    /// The store changed (a node newly left out).
    store_changed: bool,
}

/// Outcome of one node in one cycle, and how long the request took.
/// The permit is released once the result is applied (see [`MAX_UNAPPLIED`]).
type NodeResult = (
    Arc<NodeInfo>,
    Result<Fetched, ScrapeError>,
    Duration,
    Option<OwnedSemaphorePermit>,
);

/// Most fetched payloads waiting for the writer at once. Fetches finish faster than one writer
/// decodes and stores them, so without a bound a whole cycle's payloads (70 MB at 5,000 nodes)
/// could wait in memory; with it, a fetch starts only when fewer than this many wait.
const MAX_UNAPPLIED: usize = 256;

impl Scraper {
    /// Runs cycles until the task is dropped. The first cycle starts once the node watch has
    /// synced (or after one resolution, whichever comes first); late ticks are skipped.
    pub async fn run(mut self) {
        self.wait_for_nodes().await;
        let lister = self.cluster.node_pod_lister();
        let mut never_scraped = FailedNodePods::new(lister, self.resolution);
        let mut ticker = tokio::time::interval(self.resolution);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            ticker.tick().await;
            self.cycle(&mut never_scraped).await;
        }
    }

    /// Waits for the node watch's first complete list, at most one resolution.
    async fn wait_for_nodes(&self) {
        let _ = tokio::time::timeout(self.resolution, self.cluster.nodes_ready()).await;
    }

    /// One scrape cycle, bounded by the resolution. `never_scraped` lists the pods of nodes
    /// that were never scraped successfully, beside the cycle.
    async fn cycle(&mut self, never_scraped: &mut FailedNodePods) {
        let started = tokio::time::Instant::now();
        let start = CycleStart {
            at: started,
            wall: Timestamp::now(),
        };
        self.clock.tick_started(start.wall);
        let plan = self.plan(started);
        let node_count = plan.due.len();
        let mut tasks = self.spawn_fetches(&plan.to_scrape, plan.due);
        let deadline = started + self.resolution;
        let ready = self.published.load().is_ready();
        let jitter_ends = started + max_jitter(node_count);
        let mut publisher = Publisher::for_cycle(self.publish_cost, ready, jitter_ends);
        publisher.dirty = self.follow_never_scraped(never_scraped) | plan.store_changed;
        let (mut ok, mut failed) = (0usize, 0usize);
        loop {
            let wake = publisher.wake_at(deadline);
            match tokio::time::timeout_at(wake, tasks.join_next()).await {
                Ok(Some(first)) => {
                    let mut ready = vec![first];
                    while let Some(more) = tasks.try_join_next() {
                        ready.push(more);
                    }
                    for joined in ready {
                        match joined {
                            Ok(result) => {
                                if self.apply(result, &start) {
                                    ok += 1;
                                } else {
                                    failed += 1;
                                }
                            }
                            Err(err) => tracing::error!(error = %err, "Scrape task failed."),
                        }
                    }
                    self.follow_never_scraped(never_scraped);
                    publisher.dirty = true;
                }
                Ok(None) => break,
                Err(_) if tokio::time::Instant::now() >= deadline => break,
                Err(_) => {}
            }
            publisher.maybe_publish(&mut self.store, &self.published, false);
        }
        publisher.dirty |= self.follow_never_scraped(never_scraped);
        publisher.maybe_publish(&mut self.store, &self.published, true);
        self.publish_cost = publisher.took;
        if !tasks.is_empty() {
            tracing::warn!(
                pending = tasks.len(),
                "Scrape cycle ran out of time; abandoning late nodes."
            );
            self.metrics.record_overrun();
            tasks.abort_all();
        }
        let snap = self.published.load();
        self.metrics
            .set_storage_points(snap.servable_nodes(), snap.servable_containers());
        let scraped = &plan.scraped;
        self.metrics
            .record_cycle(started.elapsed(), &|name| scraped.contains(name));
        tracing::debug!(
            duration = ?started.elapsed(), node_count, ok, failed,
            backing_off = self.backoff.backing_off(), not_scraped = plan.not_scraped,
            pod_count = snap.servable_pods(), "Scrape finished."
        );
        stage_cpu::measure(Stage::Publish, crate::memory::release_free_memory);
    }

    /// Hands the finished lists of never-scraped nodes' pods to the store, then starts the
    /// lists that are due; true when the store changed.
    fn follow_never_scraped(&mut self, lists: &mut FailedNodePods) -> bool {
        let mut changed = false;
        for (node, pods) in lists.take_finished() {
            let names = pods.iter().map(|p| (p.namespace.as_str(), p.name.as_str()));
            changed |= self.store.expect_pods(&node, names);
        }
        lists.ask(self.store.never_scraped_nodes());
        changed
    }

    /// This cycle's nodes: those of the last plan while the node cache has not changed, else
    /// the selected nodes again ([`Self::read_nodes`]), then the ones not waiting for a retry.
    fn plan(&mut self, cycle_start: tokio::time::Instant) -> CyclePlan {
        let version = self.cluster.nodes_version();
        let (known, store_changed) = match self.known_nodes.take() {
            Some(known) if known.version == version => (known, false),
            _ => self.read_nodes(),
        };
        let due = (0..known.to_scrape.len())
            .filter(|&i| self.backoff.due(&known.to_scrape[i], cycle_start))
            .collect();
        let plan = CyclePlan {
            to_scrape: known.to_scrape.clone(),
            due,
            scraped: known.scraped.clone(),
            not_scraped: known.not_scraped,
            store_changed,
        };
        self.known_nodes = Some(known);
        plan
    }

    /// Reads the selected nodes from the node cache; the store and the back-off forget the
    /// nodes that left, virtual nodes are marked as not scraped (when they are skipped), and
    /// the kubelet client learns the names of the nodes to scrape. True when the store
    /// changed (a node newly left out).
    fn read_nodes(&mut self) -> (KnownNodes, bool) {
        let (version, selected) = self.selected_nodes();
        let live: HashSet<&str> = selected.iter().map(|n| &*n.name).collect();
        self.store.retain_nodes(|name| live.contains(name));
        let (to_scrape, virtual_nodes): (Vec<Arc<NodeInfo>>, Vec<Arc<NodeInfo>>) =
            match self.skip_virtual_nodes {
                true => selected.into_iter().partition(|n| n.virtual_kind.is_none()),
                false => (selected, Vec::new()),
            };
        let store_changed = self.leave_out(&virtual_nodes);
        let scraped: HashSet<Arc<str>> = to_scrape.iter().map(|n| n.name.clone()).collect();
        self.backoff.retain(|name| scraped.contains(name));
        self.client.know_nodes(to_scrape.iter().map(|n| &**n));
        let known = KnownNodes {
            version,
            to_scrape: to_scrape.into(),
            scraped: Arc::new(scraped),
            not_scraped: virtual_nodes.len(),
        };
        (known, store_changed)
    }

    /// Marks `virtual_nodes` as not scraped and counts them by kind; true when one of them
    /// was not marked yet.
    fn leave_out(&mut self, virtual_nodes: &[Arc<NodeInfo>]) -> bool {
        let mut counts = [0usize; VirtualKind::ALL.len()];
        let mut changed = false;
        for node in virtual_nodes {
            changed |= self.store.node_skipped(&node.name);
            let kind = node.virtual_kind;
            if let Some(i) = VirtualKind::ALL.iter().position(|k| Some(*k) == kind) {
                counts[i] += 1;
            }
        }
        self.metrics.set_nodes_not_scraped(counts);
        changed
    }

    /// The cached nodes the node selector selects (shared, not copied), and the node cache's
    /// version they were read at.
    fn selected_nodes(&self) -> (u64, Vec<Arc<NodeInfo>>) {
        let (version, mut nodes) = self.cluster.nodes_with_version();
        nodes.retain(|n| (self.selects_node)(&n.labels));
        (version, nodes)
    }

    /// Starts the fetches of `nodes[i]` for each `i` of `due`. A node's data is first read
    /// by its fetch, after its jitter.
    fn spawn_fetches(&self, nodes: &Arc<[Arc<NodeInfo>]>, due: Vec<usize>) -> JoinSet<NodeResult> {
        let max_jitter = max_jitter(due.len());
        let unapplied = Arc::new(Semaphore::new(MAX_UNAPPLIED));
        let mut tasks = JoinSet::new();
        for i in due {
            let (client, unapplied, nodes) =
                (self.client.clone(), unapplied.clone(), nodes.clone());
            let jitter = start_delay(max_jitter);
            tasks.spawn(async move {
                tokio::time::sleep(jitter).await;
                let node = nodes[i].clone();
                let permit = unapplied.acquire_owned().await.ok();
                let asked = tokio::time::Instant::now();
                let result = client.fetch(&node).await;
                (node, result, asked.elapsed(), permit)
            });
        }
        tasks
    }

    /// Decodes and stores one node's result; true when the node's data was accepted.
    fn apply(&mut self, (node, result, took, _permit): NodeResult, start: &CycleStart) -> bool {
        let outcome = self.apply_fetched(&node, result, start);
        if outcome.is_ok() {
            self.metrics.record_tls_check(&node.name, None);
            self.answered(&node);
        }
        self.metrics.record_scrape(&node.name, took, outcome);
        let (failures, wait) = self.backoff.state(&node.name);
        self.metrics.record_backoff(&node.name, failures, wait);
        outcome.is_ok()
    }

    /// The node answered: it is scraped every cycle again (logged when it was in back-off).
    fn answered(&mut self, node: &NodeInfo) {
        let now = tokio::time::Instant::now();
        if let Some(back) = self.backoff.succeeded(&node.name, now) {
            tracing::info!(
                node = %node.name,
                failures = back.failures,
                failing_for = %go_duration(back.failing_for),
                "Node answered again; scraping it every cycle."
            );
        }
    }

    /// Decodes and stores one node's fetch; the error is the failure's reason label.
    fn apply_fetched(
        &mut self,
        node: &NodeInfo,
        result: Result<Fetched, ScrapeError>,
        start: &CycleStart,
    ) -> Result<(), &'static str> {
        let fetched = match result {
            Ok(f) => f,
            Err(err) => return Err(self.fail(node, err, start)),
        };
        let extra = self.client.extra_resources();
        let decoded = stage_cpu::measure(Stage::Decode, || {
            fetched
                .source
                .decode_with(&fetched.body, fetched.times, extra)
        });
        let storage = fetched.storage.as_ref().map(|s| decode_storage(s, extra));
        match decoded {
            Ok(mut decoded) => {
                match storage {
                    Some(Ok(storage)) => decoded.extra.merge(storage),
                    Some(Err(err)) => warn_storage_failed(node, &err),
                    None => {}
                }
                warn_invalid_values(node, &decoded.invalid);
                if let Some(newest) = decoded.batch.newest_timestamp() {
                    let offset_ns = newest.0.saturating_sub(fetched.times.received.0);
                    self.metrics.record_clock_offset(&node.name, offset_ns);
                }
                stage_cpu::measure(Stage::StoreApply, || {
                    self.store.apply_decoded(&node.name, &decoded);
                });
                Ok(())
            }
            Err(error) => {
                let endpoint = fetched.source.path();
                Err(self.fail(node, ScrapeError::Decode { endpoint, error }, start))
            }
        }
    }

    /// Records the failure, logs it and returns its reason. One line per node per cycle until
    /// the node enters back-off, then one saying so; its failed retries are logged at debug.
    fn fail(&mut self, node: &NodeInfo, err: ScrapeError, start: &CycleStart) -> &'static str {
        self.store.node_failed(&node.name);
        self.metrics.record_tls_check(&node.name, err.tls_failure());
        let reason = err.reason();
        match self.backoff.failed(node, start.at) {
            Failed::Counting { .. } => {
                tracing::warn!(node = %node.name, reason, error = %err, "Failed to scrape node.");
            }
            Failed::Entered { failures, wait } => {
                let next = Timestamp(start.wall.0.saturating_add(nanos(wait)));
                tracing::warn!(
                    node = %node.name, failures, reason, error = %err,
                    retry_in = %go_duration(wait), next_retry = %next.to_rfc3339_seconds(),
                    "Node keeps failing; retrying it less often until it answers."
                );
            }
            Failed::StillFailing { failures, wait } => tracing::debug!(
                node = %node.name, failures, reason, error = %err,
                retry_in = %go_duration(wait), "Node in back-off failed its retry."
            ),
        }
        reason
    }
}

/// The ephemeral storage figures of a Summary API response fetched for them.
fn decode_storage<'a>(
    fetched: &'a Result<StorageFetched, ScrapeError>,
    extra: ExtraResources,
) -> Result<ExtraBatch<'a>, String> {
    let fetched = fetched
        .as_ref()
        .map_err(|e| format!("{} ({})", e, e.reason()))?;
    let storage_only = ExtraResources {
        swap: false,
        ..extra
    };
    let decoded = stage_cpu::measure(Stage::Decode, || {
        Source::Summary.decode_with(&fetched.body, fetched.times, storage_only)
    });
    decoded.map(|d| d.extra).map_err(|e| {
        format!(
            "decoding the {} payload failed: {e}",
            Source::Summary.path()
        )
    })
}

/// One log line per node and cycle when the Summary API request for ephemeral storage failed:
/// the node's CPU, memory and swap are served, its ephemeral storage is not.
fn warn_storage_failed(node: &NodeInfo, error: &str) {
    tracing::warn!(
        node = %node.name,
        error = %error,
        "Failed to read ephemeral storage from the kubelet; serving the node without it."
    );
}

/// One log line per node and cycle when the kubelet reported values no reading can have.
fn warn_invalid_values(node: &NodeInfo, invalid: &InvalidValues<'_>) {
    if invalid.is_empty() {
        return;
    }
    let first_pod = invalid
        .pods
        .first()
        .map(|(ns, name)| format!("{ns}/{name}"));
    tracing::warn!(
        node = %node.name,
        node_value = invalid.node,
        pods = invalid.pods.len(),
        first_pod = first_pod.as_deref().unwrap_or(""),
        "Kubelet reported NaN, infinite or negative values; withholding those items."
    );
}

fn nanos(d: Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

/// `d` as Go prints a duration (`20s`, `1m40s`).
fn go_duration(d: Duration) -> String {
    format_duration(nanos(d))
}

/// A node's start delay within a cycle's jitter window: one of [`JITTER_SLOTS`] evenly spaced
/// instants, chosen at random. The requests still spread over the window, but the nodes of a
/// slot start together and their replies are handled in one wake of the scrape thread instead
/// of one wake each (at 200 nodes, 16 wakes a cycle instead of about 200).
pub fn start_delay(window: Duration) -> Duration {
    window * fastrand::u32(0..JITTER_SLOTS) / JITTER_SLOTS
}

#[cfg(test)]
mod tests {
    use kube::runtime::watcher::Event;

    use super::*;

    #[test]
    fn liveness_fails_only_when_the_last_cycle_started_too_long_ago() {
        let clock = ScrapeClock::default();
        let res = Duration::from_secs(10);
        assert!(
            clock.check_timely(res, Timestamp::from_secs(1000)).is_ok(),
            "before the first tick"
        );
        clock.tick_started(Timestamp::from_secs(1000));
        assert!(clock.check_timely(res, Timestamp::from_secs(1015)).is_ok());
        assert!(clock.check_timely(res, Timestamp::from_secs(1016)).is_err());
    }

    #[test]
    fn jitter_window_is_upstreams_for_small_clusters_and_capped_at_one_second() {
        assert_eq!(max_jitter(0), Duration::ZERO);
        assert_eq!(max_jitter(10), Duration::from_millis(80));
        assert_eq!(max_jitter(125), Duration::from_secs(1));
        assert_eq!(max_jitter(5_000), Duration::from_secs(1));
        assert_eq!(max_jitter(usize::MAX), Duration::from_secs(1));
    }

    fn node(name: &str) -> k8s_openapi::api::core::v1::Node {
        let mut node = k8s_openapi::api::core::v1::Node::default();
        node.metadata.name = Some(name.into());
        node
    }

    /// A scraper over the nodes of `nodes` (it never fetches here).
    fn scraper_over(nodes: &crate::cluster::NodeStore) -> Scraper {
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth();
        let client = KubeletClient::new(
            crate::kubelet::KubeletClientConfig {
                port: 10250,
                use_node_status_port: false,
                preferred_address_types: vec!["InternalIP".into()],
                request_timeout: Duration::from_secs(1),
                max_body_bytes: 1024,
                source: crate::config::MetricsSource::Resource,
                extra_resources: crate::usage::ExtraResources::NONE,
                token: crate::kubelet::token::TokenSource::None,
                node_names: crate::kubelet::verify::NodeNames::new(),
                plain_http: false,
            },
            tls,
        );
        let cluster = ClusterCache::new(
            nodes.clone(),
            crate::cluster::PodStore::default(),
            crate::cluster::Synced::already(),
            crate::cluster::Synced::already(),
        );
        let resolution = Duration::from_secs(15);
        Scraper {
            client: Arc::new(client),
            cluster,
            selects_node: Box::new(|_| true),
            resolution,
            store: Store::new(crate::store::StoreConfig::default()),
            published: SnapshotOutlet::new(Default::default()),
            clock: Arc::default(),
            metrics: Arc::new(Metrics::new(resolution)),
            publish_cost: Duration::ZERO,
            backoff: NodeBackoff::new(backoff::BackoffPolicy {
                resolution,
                max_wait: Duration::from_secs(300),
            }),
            skip_virtual_nodes: false,
            known_nodes: None,
        }
    }

    fn names(plan: &CyclePlan) -> Vec<&str> {
        let mut names: Vec<&str> = plan.scraped.iter().map(|n| &**n).collect();
        names.sort_unstable();
        names
    }

    #[test]
    fn a_plan_reuses_the_node_set_until_the_node_cache_changes() {
        let nodes = crate::cluster::NodeStore::default();
        nodes.apply(&Event::Apply(node("n1")));
        nodes.apply(&Event::Apply(node("n2")));
        let mut scraper = scraper_over(&nodes);
        let now = tokio::time::Instant::now();
        let first = scraper.plan(now);
        assert_eq!(names(&first), ["n1", "n2"]);
        assert_eq!(first.due.len(), 2);
        scraper.store.node_failed("n2");
        assert_eq!(scraper.store.never_scraped_nodes().count(), 1);

        let again = scraper.plan(now);
        assert!(
            Arc::ptr_eq(&first.scraped, &again.scraped)
                && Arc::ptr_eq(&first.to_scrape, &again.to_scrape),
            "nothing changed"
        );

        let n2 = again.to_scrape[1].clone();
        for _ in 0..backoff::FAILURES_BEFORE_BACKOFF {
            scraper.backoff.failed(&n2, now);
        }
        let backing_off = scraper.plan(now);
        assert_eq!(backing_off.due, [0], "n2 waits for its retry");
        assert_eq!(names(&backing_off), ["n1", "n2"], "and is still scraped");

        nodes.apply(&Event::Delete(node("n2")));
        let after_delete = scraper.plan(now);
        assert_eq!(names(&after_delete), ["n1"]);
        assert_eq!(after_delete.due.len(), 1);
        assert_eq!(
            scraper.store.never_scraped_nodes().count(),
            0,
            "the store forgets the deleted node"
        );
        nodes.apply(&Event::Apply(node("n3")));
        assert_eq!(
            names(&scraper.plan(now)),
            ["n1", "n3"],
            "a new node is planned"
        );
    }

    #[test]
    fn start_delays_fall_on_the_window_slots() {
        let window = Duration::from_millis(1600);
        let slot = window / JITTER_SLOTS;
        let mut seen = HashSet::new();
        for _ in 0..2000 {
            let delay = start_delay(window);
            assert!(delay < window, "{delay:?}");
            assert_eq!(
                delay.as_nanos() % slot.as_nanos(),
                0,
                "{delay:?} is on a slot"
            );
            seen.insert(delay);
        }
        assert_eq!(seen.len(), JITTER_SLOTS as usize, "every slot is used");
        assert_eq!(start_delay(Duration::ZERO), Duration::ZERO);
    }
}
