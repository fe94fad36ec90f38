//! One budget for the bytes of request heads being received, shared by every connection.
//! A head may be up to 1 MiB (the apiserver's limit), so a few thousand connections each
//! sending most of a large head and then stalling could pin gigabytes until their header
//! deadline. Each connection receives the first [`FREE_BYTES`] of a head on its own (every
//! real head fits); beyond that it draws from this budget, and a connection that finds it
//! empty is closed. What a connection drew is returned when its request starts (the head is
//! complete) or when it closes.

use std::sync::atomic::{AtomicUsize, Ordering};

/// Bytes of one head received without drawing from the budget.
pub const FREE_BYTES: usize = 64 * 1024;
/// The budget for the rest: a few dozen maximal heads at once.
pub const DEFAULT_BUDGET_BYTES: usize = 32 * 1024 * 1024;

/// Bytes of large request heads that may be held at once.
#[derive(Debug)]
pub struct HeadBudget {
    available: AtomicUsize,
}

impl HeadBudget {
    pub fn new(bytes: usize) -> Self {
        HeadBudget {
            available: AtomicUsize::new(bytes),
        }
    }

    /// Takes `n` bytes if that many are left.
    pub fn take(&self, n: usize) -> bool {
        self.available
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |left| {
                left.checked_sub(n)
            })
            .is_ok()
    }

    /// Returns `n` bytes taken before.
    pub fn give(&self, n: usize) {
        if n > 0 {
            self.available.fetch_add(n, Ordering::AcqRel);
        }
    }

    pub fn available(&self) -> usize {
        self.available.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_only_what_is_left_and_gets_it_back() {
        let budget = HeadBudget::new(100);
        assert!(budget.take(60));
        assert!(!budget.take(60));
        assert!(budget.take(40));
        assert_eq!(budget.available(), 0);
        budget.give(100);
        assert_eq!(budget.available(), 100);
    }
}
