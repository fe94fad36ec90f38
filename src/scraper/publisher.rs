//! Publishing snapshots: when the writer publishes during a cycle ([`Publisher`]), and where
//! ([`SnapshotOutlet`]: the snapshot readers load, and a signal to tasks that act on each
//! publish instead of polling for it).

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::sync::watch;

use crate::store::{Snapshot, Store};
use crate::telemetry::stage_cpu::{self, Stage};

/// The published snapshot and the signal sent after each publish (the new generation).
pub struct SnapshotOutlet {
    latest: Arc<ArcSwap<Snapshot>>,
    publishes: watch::Sender<u64>,
}

impl SnapshotOutlet {
    /// Publishes into `latest`, starting from the generation it holds.
    pub fn new(latest: Arc<ArcSwap<Snapshot>>) -> Self {
        let (publishes, _) = watch::channel(latest.load().generation());
        SnapshotOutlet { latest, publishes }
    }

    /// Told the generation of every snapshot published from now on.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.publishes.subscribe()
    }

    /// The latest snapshot.
    pub fn load(&self) -> arc_swap::Guard<Arc<Snapshot>> {
        self.latest.load()
    }

    /// Makes `snapshot` the one readers load, then tells the subscribers. The previous one is
    /// dropped unless a reader still holds it.
    pub fn publish(&self, snapshot: Snapshot) {
        let generation = snapshot.generation();
        self.latest.store(Arc::new(snapshot));
        self.publishes.send_replace(generation);
    }
}

/// Publishes new snapshots as results arrive, but never spends more than about a tenth of the
/// writer's time doing so: after a publish that took `t`, the next waits at least `10 × t`,
/// and never less than [`Self::MIN_SPACING`]: a publish gathers every pod, so publishing each
/// node's result as it came was most of a small cluster's CPU (200 publishes a cycle at 200
/// nodes). Once metrics are served, nothing is published before the cycle's start jitter has
/// passed (plus [`Self::MIN_SPACING`] for the fetches themselves): in a healthy cluster every
/// node has answered by then and the cycle publishes once, at its end; only late nodes' results
/// are published on their own, without waiting for the slowest. Once a publish takes longer than [`Self::MID_CYCLE_MAX`]
/// (thousands of nodes), cycles publish once, at their end, as upstream stores once per
/// cycle: every publish also invalidates the cached pod lists, and rebuilding them several
/// times a cycle was a fifth of the CPU at 5,000 nodes. While no snapshot is ready
/// (start-up), partial results are still published as they come.
#[derive(Default)]
pub(super) struct Publisher {
    pub(super) dirty: bool,
    next_allowed: Option<tokio::time::Instant>,
    /// Only the cycle's final publish remains.
    end_only: bool,
    /// How long the last publish took.
    pub(super) took: Duration,
}

impl Publisher {
    const MIN_SPACING: Duration = Duration::from_millis(250);
    const MAX_SPACING: Duration = Duration::from_secs(1);
    /// Longest publish after which more publishes may follow within the same cycle.
    const MID_CYCLE_MAX: Duration = Duration::from_millis(25);

    /// The publisher of one cycle, given what the previous cycle's last publish cost and when
    /// its nodes' start jitter ends.
    pub(super) fn for_cycle(
        last_cost: Duration,
        ready: bool,
        jitter_ends: tokio::time::Instant,
    ) -> Self {
        Publisher {
            end_only: ready && last_cost > Self::MID_CYCLE_MAX,
            took: last_cost,
            next_allowed: ready.then_some(jitter_ends + Self::MIN_SPACING),
            ..Publisher::default()
        }
    }

    /// The least time between a publish that took `took` and the next one.
    fn spacing(took: Duration) -> Duration {
        (took * 10).clamp(Self::MIN_SPACING, Self::MAX_SPACING)
    }

    /// When the cycle loop should wake up at the latest.
    pub(super) fn wake_at(&self, deadline: tokio::time::Instant) -> tokio::time::Instant {
        match self.next_allowed {
            Some(at) if self.dirty && !self.end_only => at.min(deadline),
            _ => deadline,
        }
    }

    pub(super) fn maybe_publish(&mut self, store: &mut Store, out: &SnapshotOutlet, force: bool) {
        let now = tokio::time::Instant::now();
        let held = self.end_only || self.next_allowed.is_some_and(|at| now < at);
        if !self.dirty || (!force && held) {
            return;
        }
        let ready = stage_cpu::measure(Stage::Publish, || {
            if force {
                // The cycle's applies freed the previous usages: hand those pages back before
                // the publish's own buffers are allocated, so the two do not add up in the
                // peak RSS.
                crate::memory::release_free_memory();
            }
            let mut snapshot = crate::blocking::cpu_heavy(|| store.publish());
            snapshot.set_ends_cycle(force);
            let ready = snapshot.is_ready();
            out.publish(snapshot);
            ready
        });
        self.took = now.elapsed();
        self.end_only = ready && self.took > Self::MID_CYCLE_MAX;
        self.next_allowed = Some(tokio::time::Instant::now() + Self::spacing(self.took));
        self.dirty = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expensive_publishes_wait_for_the_end_of_the_cycle_once_metrics_are_served() {
        use crate::store::StoreConfig;
        let mut store = Store::new(StoreConfig::default());
        let out = SnapshotOutlet::new(Arc::new(ArcSwap::from_pointee(Snapshot::default())));
        let cheap = Duration::from_millis(2);
        let costly = Duration::from_millis(120);
        // Start-up (nothing ready yet): publish as results arrive, whatever it costs.
        assert!(!Publisher::for_cycle(costly, false, tokio::time::Instant::now()).end_only);
        assert!(!Publisher::for_cycle(cheap, true, tokio::time::Instant::now()).end_only);
        let mut publisher = Publisher::for_cycle(costly, true, tokio::time::Instant::now());
        publisher.dirty = true;
        publisher.maybe_publish(&mut store, &out, false);
        assert_eq!(
            out.load().generation(),
            0,
            "held until the end of the cycle"
        );
        publisher.maybe_publish(&mut store, &out, true);
        assert!(
            out.load().generation() > 0,
            "the final publish always happens"
        );
        assert!(!publisher.dirty);
        assert!(out.load().ends_cycle(), "the final publish ends the cycle");

        let now = tokio::time::Instant::now();
        let jitter_ended = now.checked_sub(Duration::from_secs(1)).unwrap_or(now);
        let mut publisher = Publisher::for_cycle(cheap, true, jitter_ended);
        publisher.dirty = true;
        publisher.maybe_publish(&mut store, &out, false);
        assert!(
            !out.load().ends_cycle(),
            "a cheap publish while results arrive"
        );
    }

    #[test]
    fn publishes_within_a_cycle_are_a_quarter_second_apart_at_least() {
        assert_eq!(
            Publisher::spacing(Duration::from_micros(300)),
            Duration::from_millis(250),
            "a cheap publish (a small cluster) still waits"
        );
        assert_eq!(
            Publisher::spacing(Duration::from_millis(40)),
            Duration::from_millis(400)
        );
        assert_eq!(
            Publisher::spacing(Duration::from_millis(500)),
            Duration::from_secs(1)
        );
    }

    #[test]
    fn once_metrics_are_served_nothing_is_published_before_the_start_jitter_ends() {
        use crate::store::StoreConfig;
        let mut store = Store::new(StoreConfig::default());
        let out = SnapshotOutlet::new(Arc::new(ArcSwap::from_pointee(Snapshot::default())));
        let now = tokio::time::Instant::now();
        let jitter_ends = now + Duration::from_secs(1);
        let mut publisher = Publisher::for_cycle(Duration::ZERO, true, jitter_ends);
        publisher.dirty = true;
        publisher.maybe_publish(&mut store, &out, false);
        assert_eq!(out.load().generation(), 0, "results within the jitter wait");
        assert_eq!(
            publisher.wake_at(now + Duration::from_secs(15)),
            jitter_ends + Publisher::MIN_SPACING,
            "late results are published once the jitter (and a fetch) has passed"
        );
        publisher.maybe_publish(&mut store, &out, true);
        assert_eq!(out.load().generation(), 1, "the cycle's end publishes");

        let mut starting = Publisher::for_cycle(Duration::ZERO, false, jitter_ends);
        starting.dirty = true;
        starting.maybe_publish(&mut store, &out, false);
        assert_eq!(
            out.load().generation(),
            2,
            "at start-up, results are published at once"
        );
    }

    #[test]
    fn results_arriving_close_together_are_published_together() {
        use crate::store::StoreConfig;
        let mut store = Store::new(StoreConfig::default());
        let out = SnapshotOutlet::new(Arc::new(ArcSwap::from_pointee(Snapshot::default())));
        let mut publisher =
            Publisher::for_cycle(Duration::ZERO, false, tokio::time::Instant::now());
        for _ in 0..50 {
            publisher.dirty = true;
            publisher.maybe_publish(&mut store, &out, false);
            std::thread::sleep(Duration::from_millis(1));
        }
        // About 50 ms of results: one publish (a few on a machine that stalls the test).
        assert!(
            (1..5).contains(&out.load().generation()),
            "{} publishes",
            out.load().generation()
        );
        assert!(publisher.dirty, "the rest waits for the next publish");
    }

    #[tokio::test]
    async fn every_publish_wakes_the_subscribers_with_its_generation() {
        use crate::store::StoreConfig;
        let mut store = Store::new(StoreConfig::default());
        let out = SnapshotOutlet::new(Arc::new(ArcSwap::from_pointee(Snapshot::default())));
        let mut publishes = out.subscribe();
        assert!(!publishes.has_changed().unwrap(), "nothing published yet");
        let mut publisher =
            Publisher::for_cycle(Duration::ZERO, false, tokio::time::Instant::now());
        publisher.dirty = true;
        publisher.maybe_publish(&mut store, &out, true);
        let woken = tokio::time::timeout(Duration::from_secs(5), publishes.changed()).await;
        assert!(matches!(woken, Ok(Ok(()))), "{woken:?}");
        assert_eq!(*publishes.borrow_and_update(), out.load().generation());
        assert_eq!(out.load().generation(), 1);
        assert!(!publishes.has_changed().unwrap(), "one signal per publish");
    }
}
