//! A small bounded TTL cache for review answers (TokenReview, SubjectAccessReview), as the
//! apiserver's cached webhook authenticator and authorizer keep them. Entries expire after
//! their own TTL; when full, expired entries go first, then the one closest to expiry.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A thread-safe map whose entries live for a fixed time.
pub struct TtlCache<K, V> {
    entries: Mutex<HashMap<K, (Instant, V)>>,
    capacity: usize,
}

impl<K: Eq + Hash + Clone, V: Clone> TtlCache<K, V> {
    pub fn new(capacity: usize) -> Self {
        TtlCache {
            entries: Mutex::new(HashMap::new()),
            capacity: capacity.max(1),
        }
    }

    /// The live value for `key`, if any.
    pub fn get(&self, key: &K, now: Instant) -> Option<V> {
        let mut entries = self.lock();
        match entries.get(key) {
            Some((expires, v)) if *expires > now => Some(v.clone()),
            Some(_) => {
                entries.remove(key);
                None
            }
            None => None,
        }
    }

    /// Stores `value` for `ttl` (a zero TTL stores nothing).
    pub fn insert(&self, key: K, value: V, ttl: Duration, now: Instant) {
        if ttl.is_zero() {
            return;
        }
        let mut entries = self.lock();
        if entries.len() >= self.capacity && !entries.contains_key(&key) {
            entries.retain(|_, (expires, _)| *expires > now);
            if entries.len() >= self.capacity {
                let soonest = entries
                    .iter()
                    .min_by_key(|(_, (expires, _))| *expires)
                    .map(|(k, _)| k.clone());
                if let Some(k) = soonest {
                    entries.remove(&k);
                }
            }
        }
        entries.insert(key, (now + ttl, value));
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<K, (Instant, V)>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_after_their_ttl() {
        let cache = TtlCache::new(4);
        let t0 = Instant::now();
        cache.insert("a", 1, Duration::from_secs(10), t0);
        assert_eq!(cache.get(&"a", t0 + Duration::from_secs(9)), Some(1));
        assert_eq!(cache.get(&"a", t0 + Duration::from_secs(10)), None);
        assert!(cache.is_empty());
        cache.insert("z", 1, Duration::ZERO, t0);
        assert_eq!(cache.get(&"z", t0), None);
    }

    #[test]
    fn size_is_bounded() {
        let cache = TtlCache::new(3);
        let t0 = Instant::now();
        for i in 0..10u64 {
            cache.insert(i, i, Duration::from_secs(100 + i), t0);
        }
        assert_eq!(cache.len(), 3);
        // The newest (longest-lived) entries survive.
        assert_eq!(cache.get(&9, t0), Some(9));
        assert_eq!(cache.get(&0, t0), None);
    }
}
