//! Shared `Arc<str>` copies of names that repeat across pods and nodes (namespaces, container
//! names, node names), so the store and consecutive snapshots hold one allocation per string.
//! Names nobody else holds any more are purged, keeping the pool O(live names).

use std::collections::HashSet;
use std::sync::Arc;

/// A pool of interned strings.
#[derive(Debug, Default)]
pub(crate) struct Interner {
    pool: HashSet<Arc<str>, foldhash::fast::RandomState>,
}

impl Interner {
    /// The shared copy of `name`, created on first use.
    pub(crate) fn intern(&mut self, name: &str) -> Arc<str> {
        if let Some(shared) = self.pool.get(name) {
            return shared.clone();
        }
        let shared: Arc<str> = Arc::from(name);
        self.pool.insert(shared.clone());
        shared
    }

    /// Drops strings only the pool still references.
    pub(crate) fn purge_unused(&mut self) {
        self.pool.retain(|s| Arc::strong_count(s) > 1);
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.pool.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_name_shares_one_allocation_and_unused_names_are_purged() {
        let mut pool = Interner::default();
        let a = pool.intern("kube-system");
        let b = pool.intern("kube-system");
        assert!(Arc::ptr_eq(&a, &b));
        drop(pool.intern("gone"));
        pool.purge_unused();
        assert_eq!(pool.len(), 1);
        drop((a, b));
        pool.purge_unused();
        assert_eq!(pool.len(), 0);
    }
}
