//! At most one log line per period for events a client can cause on every request (a review
//! that fails while the API server is down, say), with the number of lines left out since.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::connection::activity::now_ms;

/// A per-event log budget.
#[derive(Debug)]
pub struct LogLimit {
    period_ms: u64,
    /// When the next line may be written (0: now).
    next_ms: AtomicU64,
    left_out: AtomicU64,
}

impl LogLimit {
    pub const fn new(period: Duration) -> Self {
        LogLimit {
            period_ms: period.as_millis() as u64,
            next_ms: AtomicU64::new(0),
            left_out: AtomicU64::new(0),
        }
    }

    /// `Some(lines left out since the last one)` when a line may be written now.
    pub fn allow(&self) -> Option<u64> {
        let now = now_ms();
        let next = self.next_ms.load(Ordering::Acquire);
        if now >= next
            && self
                .next_ms
                .compare_exchange(
                    next,
                    now + self.period_ms,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                )
                .is_ok()
        {
            return Some(self.left_out.swap(0, Ordering::AcqRel));
        }
        self.left_out.fetch_add(1, Ordering::Relaxed);
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_period_with_the_count_left_out() {
        let limit = LogLimit::new(Duration::from_millis(50));
        assert_eq!(limit.allow(), Some(0));
        for _ in 0..5 {
            assert_eq!(limit.allow(), None);
        }
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(limit.allow(), Some(5));
    }
}
