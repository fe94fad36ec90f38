//! What stands between requests and the API server's review endpoints: identical reviews in
//! flight are made once and their answer shared (the apiserver's `singleflight` for
//! TokenReviews), at most [`MAX_CONCURRENT`] reviews are in flight at once (so at most that
//! many connections to the API server, which the client's pool then reuses), and a request
//! that finds them all busy waits up to [`QUEUE_WAIT`] among at most [`MAX_QUEUED`] others
//! before it is told to retry (429).
//!
//! A review runs as its own task: it finishes, and its answer is cached, even when every
//! request that waited for it has gone.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::FutureExt;
use futures::future::{BoxFuture, Shared};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};

use super::token_review::ReviewError;

/// Reviews in flight to the API server at once, per gate.
pub const MAX_CONCURRENT: usize = 32;
/// Requests that may wait for a free review slot, per gate.
pub const MAX_QUEUED: usize = 512;
/// How long a request waits for a free review slot before a 429.
pub const QUEUE_WAIT: Duration = Duration::from_secs(1);

type Answer<V> = Result<V, ReviewError>;
type SharedAnswer<V> = Shared<BoxFuture<'static, Answer<V>>>;

/// Coalesces and bounds one kind of review.
pub struct ReviewGate<K, V> {
    in_flight: Arc<Mutex<HashMap<K, SharedAnswer<V>>>>,
    slots: Arc<Semaphore>,
    queued: AtomicUsize,
    max_queued: usize,
    wait: Duration,
}

impl<K, V> Default for ReviewGate<K, V> {
    fn default() -> Self {
        ReviewGate::new(MAX_CONCURRENT, MAX_QUEUED, QUEUE_WAIT)
    }
}

impl<K, V> ReviewGate<K, V> {
    pub fn new(max_concurrent: usize, max_queued: usize, wait: Duration) -> Self {
        ReviewGate {
            in_flight: Arc::new(Mutex::new(HashMap::new())),
            slots: Arc::new(Semaphore::new(max_concurrent.max(1))),
            queued: AtomicUsize::new(0),
            max_queued,
            wait,
        }
    }

    /// Reviews in flight now.
    pub fn in_flight(&self) -> usize {
        lock(&self.in_flight).len()
    }
}

impl<K, V> ReviewGate<K, V>
where
    K: Eq + Hash + Clone + Send + 'static,
    V: Clone + Send + Sync + 'static,
{
    /// The answer of the review for `key`: joined when one is in flight, else made by
    /// `review` once a slot is free. [`ReviewError::Busy`] when no slot frees in time.
    pub async fn review<F>(&self, key: K, review: F) -> Answer<V>
    where
        F: FnOnce() -> BoxFuture<'static, Answer<V>>,
    {
        if let Some(joined) = self.joined(&key) {
            return joined.await;
        }
        let slot = self.slot().await?;
        let shared = {
            let mut in_flight = lock(&self.in_flight);
            if let Some(joined) = in_flight.get(&key) {
                // Made by another request while this one waited for its slot.
                joined.clone()
            } else {
                let shared = self.start(key.clone(), review(), slot);
                in_flight.insert(key, shared.clone());
                shared
            }
        };
        shared.await
    }

    fn joined(&self, key: &K) -> Option<SharedAnswer<V>> {
        lock(&self.in_flight).get(key).cloned()
    }

    /// A free slot, waiting briefly in a bounded queue.
    async fn slot(&self) -> Result<OwnedSemaphorePermit, ReviewError> {
        if let Ok(slot) = self.slots.clone().try_acquire_owned() {
            return Ok(slot);
        }
        if self.queued.fetch_add(1, Ordering::AcqRel) >= self.max_queued {
            self.queued.fetch_sub(1, Ordering::AcqRel);
            return Err(ReviewError::Busy);
        }
        let waited = tokio::time::timeout(self.wait, self.slots.clone().acquire_owned()).await;
        self.queued.fetch_sub(1, Ordering::AcqRel);
        match waited {
            Ok(Ok(slot)) => Ok(slot),
            _ => Err(ReviewError::Busy),
        }
    }

    /// Runs `review` as a task holding `slot`; it leaves the in-flight map when done.
    fn start(
        &self,
        key: K,
        review: BoxFuture<'static, Answer<V>>,
        slot: OwnedSemaphorePermit,
    ) -> SharedAnswer<V> {
        let (tx, rx) = oneshot::channel();
        let in_flight = self.in_flight.clone();
        tokio::spawn(async move {
            let answer = review.await;
            drop(slot);
            lock(&in_flight).remove(&key);
            let _ = tx.send(answer);
        });
        rx.map(|answer| answer.unwrap_or(Err(ReviewError::Abandoned)))
            .boxed()
            .shared()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicU32;

    use super::*;

    /// A review that takes `delay` and counts its calls and its peak concurrency.
    #[derive(Default)]
    struct Probe {
        calls: AtomicU32,
        running: AtomicU32,
        peak: AtomicU32,
    }

    fn slow(probe: &Arc<Probe>, delay: Duration) -> BoxFuture<'static, Answer<u32>> {
        let probe = probe.clone();
        async move {
            let calls = probe.calls.fetch_add(1, Ordering::SeqCst) + 1;
            let now = probe.running.fetch_add(1, Ordering::SeqCst) + 1;
            probe.peak.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(delay).await;
            probe.running.fetch_sub(1, Ordering::SeqCst);
            Ok(calls)
        }
        .boxed()
    }

    #[tokio::test]
    async fn identical_reviews_in_flight_are_made_once() {
        let gate = Arc::new(ReviewGate::<&str, u32>::default());
        let probe = Arc::new(Probe::default());
        let waiters: Vec<_> = (0..50)
            .map(|_| {
                let (gate, probe) = (gate.clone(), probe.clone());
                tokio::spawn(async move {
                    gate.review("same", || slow(&probe, Duration::from_millis(100)))
                        .await
                })
            })
            .collect();
        for w in waiters {
            let answer = w.await.unwrap();
            assert!(matches!(answer, Ok(1)), "{answer:?}");
        }
        assert_eq!(probe.calls.load(Ordering::SeqCst), 1);
        assert_eq!(gate.in_flight(), 0);
    }

    #[tokio::test]
    async fn concurrency_is_bounded_and_the_excess_is_told_to_retry() {
        let gate = Arc::new(ReviewGate::<u32, u32>::new(4, 8, Duration::from_millis(50)));
        let probe = Arc::new(Probe::default());
        let waiters: Vec<_> = (0..40)
            .map(|key| {
                let (gate, probe) = (gate.clone(), probe.clone());
                tokio::spawn(async move {
                    gate.review(key, || slow(&probe, Duration::from_millis(200)))
                        .await
                })
            })
            .collect();
        let mut busy = 0;
        for w in waiters {
            if matches!(w.await.unwrap(), Err(ReviewError::Busy)) {
                busy += 1;
            }
        }
        assert_eq!(probe.peak.load(Ordering::SeqCst), 4);
        assert_eq!(
            busy, 36,
            "4 ran; the 8 queued gave up after 50 ms, the rest at once"
        );
        assert_eq!(probe.calls.load(Ordering::SeqCst), 4);
    }

    #[tokio::test]
    async fn a_review_finishes_when_its_requester_is_gone() {
        let gate = Arc::new(ReviewGate::<&str, u32>::default());
        let probe = Arc::new(Probe::default());
        let requester = {
            let (gate, probe) = (gate.clone(), probe.clone());
            tokio::spawn(async move {
                gate.review("k", || slow(&probe, Duration::from_millis(50)))
                    .await
            })
        };
        tokio::time::sleep(Duration::from_millis(10)).await;
        requester.abort();
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(probe.running.load(Ordering::SeqCst), 0);
        assert_eq!(gate.in_flight(), 0, "no stale entry is left to join");
        let answer = gate.review("k", || slow(&probe, Duration::ZERO)).await;
        assert!(matches!(answer, Ok(2)), "{answer:?}");
    }
}
