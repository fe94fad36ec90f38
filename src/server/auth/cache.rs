//! A bounded TTL cache for review answers (TokenReview, SubjectAccessReview), as the
//! apiserver's cached webhook authenticator and authorizer keep them. Bounded twice: by entry
//! count and by the bytes its keys and values hold (a SubjectAccessReview key holds the
//! request path, so a count alone would not bound memory). Entries expire after their own TTL;
//! when full, the entries closest to expiry (expired ones first) make room; [`TtlCache::purge`]
//! drops expired entries (every 10 s, from the housekeeping thread).

use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::attributes::RequestAttributes;
use super::identity::Identity;
use super::sar::Decision;

/// Bytes an entry costs beyond its key and value: map slots, expiry index, bookkeeping.
const ENTRY_OVERHEAD: usize = 128;

/// What a key or a value holds on the heap, roughly (for the byte bound).
pub trait Weigh {
    fn weight(&self) -> usize;
}

/// A thread-safe map whose entries live for a fixed time.
pub struct TtlCache<K, V> {
    entries: Mutex<Entries<K, V>>,
    max_entries: usize,
    max_bytes: usize,
}

struct Entries<K, V> {
    map: HashMap<Arc<K>, Entry<V>>,
    /// Keys by (expiry, insertion number): the first is the next to expire.
    by_expiry: BTreeMap<(Instant, u64), Arc<K>>,
    bytes: usize,
    inserted: u64,
}

struct Entry<V> {
    value: V,
    expires: Instant,
    number: u64,
    bytes: usize,
}

impl<K: Eq + Hash + Weigh, V: Clone + Weigh> TtlCache<K, V> {
    pub fn new(max_entries: usize, max_bytes: usize) -> Self {
        TtlCache {
            entries: Mutex::new(Entries {
                map: HashMap::new(),
                by_expiry: BTreeMap::new(),
                bytes: 0,
                inserted: 0,
            }),
            max_entries: max_entries.max(1),
            max_bytes,
        }
    }

    /// The live value for `key`, if any.
    pub fn get(&self, key: &K, now: Instant) -> Option<V> {
        let mut entries = self.lock();
        let expires = entries.map.get(key)?.expires;
        if expires > now {
            return entries.map.get(key).map(|e| e.value.clone());
        }
        entries.remove(key);
        None
    }

    /// Stores `value` for `ttl` (a zero TTL, or an entry larger than the whole cache, stores
    /// nothing).
    pub fn insert(&self, key: K, value: V, ttl: Duration, now: Instant) {
        let bytes = key.weight() + value.weight() + ENTRY_OVERHEAD;
        if ttl.is_zero() || bytes > self.max_bytes {
            return;
        }
        let mut entries = self.lock();
        entries.remove(&key);
        while entries.map.len() >= self.max_entries || entries.bytes + bytes > self.max_bytes {
            if !entries.remove_soonest() {
                break;
            }
        }
        entries.inserted += 1;
        let number = entries.inserted;
        let expires = now + ttl;
        let key = Arc::new(key);
        entries.by_expiry.insert((expires, number), key.clone());
        entries.bytes += bytes;
        entries.map.insert(
            key,
            Entry {
                value,
                expires,
                number,
                bytes,
            },
        );
    }

    /// Drops every entry expired at `now`.
    pub fn purge(&self, now: Instant) {
        let mut entries = self.lock();
        while entries
            .by_expiry
            .first_key_value()
            .is_some_and(|((expires, _), _)| *expires <= now)
        {
            entries.remove_soonest();
        }
    }

    pub fn len(&self) -> usize {
        self.lock().map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes held, as weighed.
    pub fn bytes(&self) -> usize {
        self.lock().bytes
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries<K, V>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl<K: Eq + Hash, V> Entries<K, V> {
    fn remove(&mut self, key: &K) {
        if let Some(entry) = self.map.remove(key) {
            self.by_expiry.remove(&(entry.expires, entry.number));
            self.bytes -= entry.bytes;
        }
    }

    /// Removes the entry that expires first; false when empty.
    fn remove_soonest(&mut self) -> bool {
        let Some((_, key)) = self.by_expiry.pop_first() else {
            return false;
        };
        if let Some(entry) = self.map.remove(&*key) {
            self.bytes -= entry.bytes;
        }
        true
    }
}

impl Weigh for [u8; 32] {
    fn weight(&self) -> usize {
        32
    }
}

impl Weigh for String {
    fn weight(&self) -> usize {
        self.len() + std::mem::size_of::<String>()
    }
}

impl<T: Weigh> Weigh for Vec<T> {
    fn weight(&self) -> usize {
        self.iter().map(Weigh::weight).sum::<usize>() + std::mem::size_of::<Vec<T>>()
    }
}

impl<T: Weigh> Weigh for Option<T> {
    fn weight(&self) -> usize {
        self.as_ref().map_or(0, Weigh::weight)
    }
}

impl<A: Weigh, B: Weigh> Weigh for (A, B) {
    fn weight(&self) -> usize {
        self.0.weight() + self.1.weight()
    }
}

impl Weigh for Identity {
    fn weight(&self) -> usize {
        let extra: usize = self
            .extra
            .iter()
            .map(|(k, v)| k.weight() + v.weight())
            .sum();
        self.name.weight() + self.uid.weight() + self.groups.weight() + extra
    }
}

impl Weigh for RequestAttributes {
    fn weight(&self) -> usize {
        let resource = self.resource.as_ref().map_or(0, |r| {
            r.group.len()
                + r.version.len()
                + r.resource.len()
                + r.subresource.len()
                + r.namespace.len()
                + r.name.len()
                + 6 * std::mem::size_of::<String>()
        });
        self.verb.weight() + self.path.weight() + resource
    }
}

impl Weigh for Decision {
    fn weight(&self) -> usize {
        self.reason.weight()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl Weigh for &str {
        fn weight(&self) -> usize {
            self.len()
        }
    }

    impl Weigh for u64 {
        fn weight(&self) -> usize {
            8
        }
    }

    #[test]
    fn entries_expire_after_their_ttl() {
        let cache = TtlCache::new(4, 1 << 20);
        let t0 = Instant::now();
        cache.insert("a", 1u64, Duration::from_secs(10), t0);
        assert_eq!(cache.get(&"a", t0 + Duration::from_secs(9)), Some(1));
        assert_eq!(cache.get(&"a", t0 + Duration::from_secs(10)), None);
        assert!(cache.is_empty());
        cache.insert("z", 1, Duration::ZERO, t0);
        assert_eq!(cache.get(&"z", t0), None);
        assert_eq!(cache.bytes(), 0);
    }

    #[test]
    fn the_entry_count_is_bounded() {
        let cache = TtlCache::new(3, 1 << 20);
        let t0 = Instant::now();
        for i in 0..10u64 {
            cache.insert(i, i, Duration::from_secs(100 + i), t0);
        }
        assert_eq!(cache.len(), 3);
        // The newest (longest-lived) entries survive.
        assert_eq!(cache.get(&9, t0), Some(9));
        assert_eq!(cache.get(&0, t0), None);
    }

    #[test]
    fn the_bytes_are_bounded_whatever_the_key_sizes() {
        let cache = TtlCache::new(8192, 64 * 1024);
        let t0 = Instant::now();
        let paths: Vec<String> = (0..1000)
            .map(|i| format!("/{i}/{}", "x".repeat(4000)))
            .collect();
        for (i, p) in paths.iter().enumerate() {
            cache.insert(p.as_str(), i as u64, Duration::from_secs(60), t0);
        }
        assert!(cache.bytes() <= 64 * 1024, "{}", cache.bytes());
        assert_eq!(cache.len(), 64 * 1024 / (4006 + 8 + ENTRY_OVERHEAD));
        // An entry larger than the whole cache is not stored, and evicts nothing.
        let huge = "y".repeat(100_000);
        cache.insert(huge.as_str(), 0, Duration::from_secs(60), t0);
        assert_eq!(cache.get(&huge.as_str(), t0), None);
        assert_eq!(cache.get(&paths[999].as_str(), t0), Some(999));
    }

    #[test]
    fn expired_entries_are_purged_without_waiting_for_the_cache_to_fill() {
        let cache = TtlCache::new(100, 1 << 20);
        let t0 = Instant::now();
        for i in 0..10u64 {
            cache.insert(i, i, Duration::from_secs(1 + i), t0);
        }
        cache.purge(t0 + Duration::from_secs(5));
        assert_eq!(cache.len(), 5);
        assert_eq!(cache.bytes(), 5 * (8 + 8 + ENTRY_OVERHEAD));
    }
}
