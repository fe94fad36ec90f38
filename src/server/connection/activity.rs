//! What one connection is doing, shared by its reader/writer wrapper, its requests and
//! responses, the connection table and the supervisor that enforces its deadlines. Plain
//! atomics: every read and write of the connection updates them, nothing waits on them.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use http::HeaderMap;
use tokio::sync::Notify;

use super::head_budget::{BudgetLoan, FREE_BYTES, HeadBudget};

/// Milliseconds on a monotonic clock shared by every connection (0 is the process's first
/// call; stored in atomics, so never `Instant`).
pub fn now_ms() -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    let epoch = *EPOCH.get_or_init(Instant::now);
    u64::try_from(epoch.elapsed().as_millis())
        .unwrap_or(u64::MAX)
        .max(1)
}

/// The instant `ms` on the [`now_ms`] clock.
pub fn instant_of(ms: u64) -> Instant {
    let now = now_ms();
    let current = Instant::now();
    if ms >= now {
        current + Duration::from_millis(ms - now)
    } else {
        current
            .checked_sub(Duration::from_millis(now - ms))
            .unwrap_or(current)
    }
}

/// The shared state of one connection.
#[derive(Debug)]
pub struct Activity {
    /// When the TLS handshake finished (the connection's start for its deadlines).
    opened_ms: AtomicU64,
    /// Bytes received after the handshake.
    read_bytes: AtomicU64,
    last_write_ms: AtomicU64,
    /// Requests being handled or answered: from the head to the response's last byte.
    in_flight: AtomicU32,
    /// Responses whose body has not ended.
    responding: AtomicU32,
    /// When `responding` last went from 0 to 1.
    responding_since_ms: AtomicU64,
    /// When `in_flight` last went to 0 (the start when no request came yet).
    idle_since_ms: AtomicU64,
    /// When the first byte of the next request head arrived while idle (0: none yet).
    head_started_ms: AtomicU64,
    /// Whether a request has been received on this connection.
    served: AtomicBool,
    /// Authenticated with a client certificate (the aggregator, cluster components): never
    /// closed to make room for a new connection while others can be.
    trusted: AtomicBool,
    /// Signalled when the connection table closes this connection.
    evicted: Notify,
    /// Bytes received since the last request started (the next request head, while idle).
    head_bytes: AtomicUsize,
    /// The part of `head_bytes` drawn from `budget`.
    drawn: AtomicUsize,
    budget: Option<Arc<HeadBudget>>,
    /// A long HTTP/1.1 head's headers, for the next request (see `long_head`).
    long_head: Mutex<Option<LongHead>>,
}

/// The headers of a long HTTP/1.1 head and the share of the head budget they hold.
#[derive(Debug)]
pub struct LongHead {
    pub headers: HeaderMap,
    pub loan: Option<BudgetLoan>,
}

/// A request head would take more than the shared head budget has left.
#[derive(Debug, thiserror::Error)]
#[error("request heads being received hold the whole shared budget")]
pub struct HeadBudgetExhausted;

impl Activity {
    pub fn new() -> Self {
        Activity::with_budget(None)
    }

    /// Large request heads draw from `budget` (see `head_budget`).
    pub fn with_head_budget(budget: Arc<HeadBudget>) -> Self {
        Activity::with_budget(Some(budget))
    }

    fn with_budget(budget: Option<Arc<HeadBudget>>) -> Self {
        let now = now_ms();
        Activity {
            opened_ms: AtomicU64::new(now),
            read_bytes: AtomicU64::new(0),
            last_write_ms: AtomicU64::new(now),
            in_flight: AtomicU32::new(0),
            responding: AtomicU32::new(0),
            responding_since_ms: AtomicU64::new(0),
            idle_since_ms: AtomicU64::new(now),
            head_started_ms: AtomicU64::new(0),
            served: AtomicBool::new(false),
            trusted: AtomicBool::new(false),
            evicted: Notify::new(),
            head_bytes: AtomicUsize::new(0),
            drawn: AtomicUsize::new(0),
            budget,
            long_head: Mutex::new(None),
        }
    }

    /// `bytes` of the shared head budget until the loan drops (nothing to lend from when the
    /// connection has no budget).
    pub fn lend(&self, bytes: usize) -> Result<Option<BudgetLoan>, HeadBudgetExhausted> {
        match &self.budget {
            None => Ok(None),
            Some(budget) => budget.lend(bytes).map(Some).ok_or(HeadBudgetExhausted),
        }
    }

    /// Keeps a long head's headers for the next request.
    pub fn keep_long_head(&self, long: LongHead) {
        *self.long_head.lock().unwrap_or_else(|e| e.into_inner()) = Some(long);
    }

    /// The long head kept for this request, if any.
    pub fn take_long_head(&self) -> Option<LongHead> {
        self.long_head
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
    }

    /// The TLS handshake is done: the per-protocol deadlines count from now.
    pub fn handshake_done(&self) {
        let now = now_ms();
        self.opened_ms.store(now, Ordering::Relaxed);
        self.idle_since_ms.store(now, Ordering::Relaxed);
        self.last_write_ms.store(now, Ordering::Relaxed);
    }

    /// `n` bytes arrived: while no request is in flight they are (part of) the next request
    /// head, and beyond [`FREE_BYTES`] they must fit in the shared head budget.
    pub fn on_read(&self, n: usize) -> Result<(), HeadBudgetExhausted> {
        self.read_bytes.fetch_add(n as u64, Ordering::Relaxed);
        if self.in_flight.load(Ordering::Relaxed) != 0 {
            return Ok(());
        }
        if self.head_started_ms.load(Ordering::Relaxed) == 0 {
            self.head_started_ms.store(now_ms(), Ordering::Relaxed);
        }
        let head = self.head_bytes.fetch_add(n, Ordering::Relaxed) + n;
        let Some(budget) = &self.budget else {
            return Ok(());
        };
        let drawn = self.drawn.load(Ordering::Relaxed);
        let need = head.saturating_sub(FREE_BYTES).saturating_sub(drawn);
        if need == 0 {
            return Ok(());
        }
        if !budget.take(need) {
            return Err(HeadBudgetExhausted);
        }
        self.drawn.fetch_add(need, Ordering::Relaxed);
        Ok(())
    }

    /// The head is complete: what it drew goes back to the budget.
    fn head_done(&self) {
        self.head_bytes.store(0, Ordering::Relaxed);
        let drawn = self.drawn.swap(0, Ordering::Relaxed);
        if let Some(budget) = &self.budget {
            budget.give(drawn);
        }
    }

    /// Bytes were accepted by the TLS layer below.
    pub fn on_write(&self) {
        self.last_write_ms.store(now_ms(), Ordering::Relaxed);
    }

    /// A request head was received; the returned guard ends the request when dropped.
    pub fn request_started(self: &Arc<Self>) -> RequestGuard {
        self.served.store(true, Ordering::Relaxed);
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.head_started_ms.store(0, Ordering::Relaxed);
        self.head_done();
        RequestGuard {
            activity: self.clone(),
            responding: false,
            loan: None,
        }
    }

    pub fn mark_trusted(&self) {
        self.trusted.store(true, Ordering::Relaxed);
    }

    pub fn is_trusted(&self) -> bool {
        self.trusted.load(Ordering::Relaxed)
    }

    pub fn is_idle(&self) -> bool {
        self.in_flight.load(Ordering::Acquire) == 0
    }

    /// The last time anything happened on the connection (for choosing whom to evict).
    pub fn last_active_ms(&self) -> u64 {
        let idle = self.idle_since_ms.load(Ordering::Relaxed);
        let head = self.head_started_ms.load(Ordering::Relaxed);
        idle.max(head)
            .max(self.last_write_ms.load(Ordering::Relaxed))
    }

    /// Asks the connection's supervisor to close it.
    pub fn evict(&self) {
        self.evicted.notify_one();
    }

    /// Completes when [`Activity::evict`] was called (before or after this call).
    pub async fn evicted(&self) {
        self.evicted.notified().await;
    }

    /// A consistent-enough copy of the counters for the deadline computation.
    pub fn snapshot(&self) -> ActivitySnapshot {
        ActivitySnapshot {
            opened_ms: self.opened_ms.load(Ordering::Relaxed),
            read_bytes: self.read_bytes.load(Ordering::Relaxed),
            last_write_ms: self.last_write_ms.load(Ordering::Relaxed),
            in_flight: self.in_flight.load(Ordering::Acquire),
            responding: self.responding.load(Ordering::Acquire),
            responding_since_ms: self.responding_since_ms.load(Ordering::Relaxed),
            idle_since_ms: self.idle_since_ms.load(Ordering::Relaxed),
            head_started_ms: self.head_started_ms.load(Ordering::Relaxed),
            served: self.served.load(Ordering::Relaxed),
        }
    }
}

impl Default for Activity {
    fn default() -> Self {
        Activity::new()
    }
}

impl Drop for Activity {
    fn drop(&mut self) {
        self.head_done();
    }
}

/// One request from its head to its response's end (or until it is abandoned).
#[derive(Debug)]
pub struct RequestGuard {
    activity: Arc<Activity>,
    responding: bool,
    /// What the request's long head holds of the head budget.
    loan: Option<BudgetLoan>,
}

impl RequestGuard {
    /// Holds `loan` until the request ends.
    pub fn hold(&mut self, loan: Option<BudgetLoan>) {
        self.loan = loan;
    }

    /// The response's body starts: write progress is now expected.
    pub fn responding(&mut self) {
        if !self.responding {
            self.responding = true;
            let a = &self.activity;
            if a.responding.fetch_add(1, Ordering::AcqRel) == 0 {
                a.responding_since_ms.store(now_ms(), Ordering::Relaxed);
            }
        }
    }
}

impl Drop for RequestGuard {
    fn drop(&mut self) {
        let a = &self.activity;
        if self.responding {
            a.responding.fetch_sub(1, Ordering::AcqRel);
        }
        if a.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            a.idle_since_ms.store(now_ms(), Ordering::Relaxed);
        }
    }
}

/// The counters of [`Activity`] at one moment.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct ActivitySnapshot {
    pub opened_ms: u64,
    pub read_bytes: u64,
    pub last_write_ms: u64,
    pub in_flight: u32,
    pub responding: u32,
    pub responding_since_ms: u64,
    pub idle_since_ms: u64,
    pub head_started_ms: u64,
    pub served: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_counts_from_its_head_to_the_end_of_its_response() {
        let a = Arc::new(Activity::new());
        a.on_read(10).unwrap();
        assert_ne!(a.snapshot().head_started_ms, 0);
        let mut guard = a.request_started();
        let s = a.snapshot();
        assert_eq!((s.in_flight, s.responding, s.head_started_ms), (1, 0, 0));
        assert!(s.served);
        // Bytes read while a request is in flight do not start a head.
        a.on_read(5).unwrap();
        assert_eq!(a.snapshot().head_started_ms, 0);
        guard.responding();
        guard.responding();
        assert_eq!(a.snapshot().responding, 1);
        drop(guard);
        let s = a.snapshot();
        assert_eq!((s.in_flight, s.responding), (0, 0));
        assert!(a.is_idle());
    }

    #[test]
    fn large_heads_draw_from_the_shared_budget_until_their_request_starts() {
        let budget = Arc::new(HeadBudget::new(100_000));
        let a = Arc::new(Activity::with_head_budget(budget.clone()));
        a.on_read(FREE_BYTES).unwrap();
        assert_eq!(budget.available(), 100_000, "the first bytes are free");
        a.on_read(60_000).unwrap();
        assert_eq!(budget.available(), 40_000);
        let b = Activity::with_head_budget(budget.clone());
        b.on_read(FREE_BYTES + 50_000).unwrap_err();
        let guard = a.request_started();
        assert_eq!(
            budget.available(),
            100_000,
            "a complete head gives its share back"
        );
        // Bytes read while a request is in flight are not a head.
        a.on_read(FREE_BYTES * 4).unwrap();
        drop(guard);
        a.on_read(FREE_BYTES + 10).unwrap();
        assert_eq!(budget.available(), 100_000 - 10);
        drop(a);
        assert_eq!(
            budget.available(),
            100_000,
            "a closed connection gives its share back"
        );
    }

    #[tokio::test]
    async fn an_eviction_before_anyone_waits_is_not_lost() {
        let a = Activity::new();
        a.evict();
        tokio::time::timeout(Duration::from_secs(1), a.evicted())
            .await
            .unwrap();
    }

    #[test]
    fn instants_round_trip_through_the_millisecond_clock() {
        let later = now_ms() + 5_000;
        let at = instant_of(later);
        let d = at.duration_since(Instant::now());
        assert!(d > Duration::from_millis(4_900) && d <= Duration::from_millis(5_000));
    }
}
