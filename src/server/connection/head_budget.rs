//! One budget for the bytes of request heads being received, shared by every connection.
//! A head may be up to 1 MiB (the apiserver's limit), so a few thousand connections each
//! sending most of a large head and then stalling could pin gigabytes until their header
//! deadline. Each connection receives the first [`FREE_BYTES`] of a head on its own (every
//! real head fits); beyond that it draws from this budget, and a connection that finds it
//! empty is closed. What a connection drew is returned when its request starts (the head is
//! complete) or when it closes.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Bytes of one head received without drawing from the budget.
pub const FREE_BYTES: usize = 64 * 1024;
/// The budget for the rest: a few dozen maximal heads being received at once, or the parsed
/// form of one head of 1 MiB of the shortest lines (see `long_head`).
pub const DEFAULT_BUDGET_BYTES: usize = 40 * 1024 * 1024;

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

    /// `n` bytes held until the loan drops; `None` when that many are not left.
    pub fn lend(self: &Arc<Self>, n: usize) -> Option<BudgetLoan> {
        self.take(n).then(|| BudgetLoan {
            budget: self.clone(),
            bytes: n,
        })
    }
}

/// Bytes taken from a [`HeadBudget`], given back when dropped.
#[derive(Debug)]
pub struct BudgetLoan {
    budget: Arc<HeadBudget>,
    bytes: usize,
}

impl Drop for BudgetLoan {
    fn drop(&mut self) {
        self.budget.give(self.bytes);
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

    #[test]
    fn a_loan_is_given_back_when_dropped() {
        let budget = Arc::new(HeadBudget::new(100));
        let loan = budget.lend(70).unwrap();
        assert!(budget.lend(40).is_none());
        drop(loan);
        assert_eq!(budget.available(), 100);
    }
}
