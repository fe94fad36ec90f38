//! Shared copies of names that repeat across pods and nodes, so the store and consecutive
//! snapshots hold one allocation per string: node names as `Arc<str>` (the store's keys),
//! namespaces and container names as [`ArcStr`] (8 bytes instead of 16 in every pod key,
//! container history and served usage). Names nobody else holds any more are purged, keeping
//! the pools O(live names).

use std::collections::HashSet;
use std::sync::Arc;

use arcstr::ArcStr;

type Pool<S> = HashSet<S, foldhash::fast::RandomState>;

/// Pools of interned strings.
#[derive(Debug, Default)]
pub(crate) struct Interner {
    pool: Pool<Arc<str>>,
    thin: Pool<ArcStr>,
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

    /// The shared thin copy of `name` (a namespace or a container name), created on first use.
    pub(crate) fn intern_thin(&mut self, name: &str) -> ArcStr {
        if let Some(shared) = self.thin.get(name) {
            return shared.clone();
        }
        let shared = ArcStr::from(name);
        self.thin.insert(shared.clone());
        shared
    }

    /// Drops strings only the pools still reference.
    pub(crate) fn purge_unused(&mut self) {
        self.pool.retain(|s| Arc::strong_count(s) > 1);
        self.thin
            .retain(|s| ArcStr::strong_count(s).is_none_or(|n| n > 1));
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.pool.len() + self.thin.len()
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

    #[test]
    fn thin_names_are_shared_and_purged_alike() {
        let mut pool = Interner::default();
        let a = pool.intern_thin("app");
        let b = pool.intern_thin("app");
        assert!(ArcStr::ptr_eq(&a, &b));
        assert_eq!(std::mem::size_of_val(&a), 8);
        drop(pool.intern_thin("gone"));
        pool.purge_unused();
        assert_eq!(pool.len(), 1);
        drop((a, b));
        pool.purge_unused();
        assert_eq!(pool.len(), 0);
    }
}
