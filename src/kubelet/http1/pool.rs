//! Idle connections, at most one per kubelet (host, port): a scrape has one request per node
//! in flight, so one kept connection serves every cycle. Connections idle for longer than the
//! idle timeout are dropped, when next asked for or by a sweep run at most every
//! [`SWEEP_EVERY`] from the pool's own calls (no background task).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long an unused connection is kept.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(90);
/// Least time between two sweeps of expired connections.
const SWEEP_EVERY: Duration = Duration::from_secs(10);

/// Which kubelet a connection goes to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Key {
    host: Box<str>,
    port: u16,
}

impl Key {
    pub fn new(host: &str, port: u16) -> Self {
        Key {
            host: host.into(),
            port,
        }
    }
}

struct Idle<C> {
    conn: C,
    since: Instant,
}

struct Slots<C> {
    idle: HashMap<Key, Idle<C>>,
    last_sweep: Instant,
}

/// The idle connections (`C` is the connection type; plain values in the tests).
pub struct Pool<C> {
    slots: Mutex<Slots<C>>,
    idle_timeout: Duration,
}

impl<C> Pool<C> {
    pub fn new(idle_timeout: Duration) -> Self {
        Pool {
            slots: Mutex::new(Slots {
                idle: HashMap::new(),
                last_sweep: Instant::now(),
            }),
            idle_timeout,
        }
    }

    /// Takes the idle connection to `key`, if there is one young enough.
    pub fn checkout(&self, key: &Key, now: Instant) -> Option<C> {
        let (found, expired) = {
            let mut slots = self.lock();
            let expired = self.sweep(&mut slots, now);
            (slots.idle.remove(key), expired)
        };
        drop(expired);
        found
            .filter(|idle| !self.is_expired(idle, now))
            .map(|idle| idle.conn)
    }

    /// Keeps `conn` as the idle connection to `key`, replacing (and closing) any other.
    pub fn checkin(&self, key: Key, conn: C, now: Instant) {
        let (replaced, expired) = {
            let mut slots = self.lock();
            let expired = self.sweep(&mut slots, now);
            let idle = Idle { conn, since: now };
            (slots.idle.insert(key, idle), expired)
        };
        // Closed outside the lock.
        drop((replaced, expired));
    }

    /// Idle connections held.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.lock().idle.len()
    }

    /// Removes the expired connections when the last sweep is old enough; the caller drops
    /// them after releasing the lock.
    fn sweep(&self, slots: &mut Slots<C>, now: Instant) -> Vec<Idle<C>> {
        if now.saturating_duration_since(slots.last_sweep) < SWEEP_EVERY {
            return Vec::new();
        }
        slots.last_sweep = now;
        slots
            .idle
            .extract_if(|_, idle| self.is_expired(idle, now))
            .map(|(_, idle)| idle)
            .collect()
    }

    fn is_expired(&self, idle: &Idle<C>, now: Instant) -> bool {
        now.saturating_duration_since(idle.since) > self.idle_timeout
    }

    /// A std Mutex: held for a map operation, never across `.await`.
    fn lock(&self) -> std::sync::MutexGuard<'_, Slots<C>> {
        self.slots.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn one_idle_connection_per_kubelet() {
        let pool = Pool::new(IDLE_TIMEOUT);
        let t0 = Instant::now();
        let a = Key::new("10.0.0.1", 10250);
        pool.checkin(a.clone(), 1, t0);
        pool.checkin(a.clone(), 2, t0);
        pool.checkin(Key::new("10.0.0.1", 10255), 3, t0);
        assert_eq!(pool.len(), 2);
        assert_eq!(pool.checkout(&a, t0), Some(2), "the newer one is kept");
        assert_eq!(pool.checkout(&a, t0), None, "checked out means gone");
        assert_eq!(pool.checkout(&Key::new("10.0.0.2", 10250), t0), None);
    }

    #[test]
    fn connections_idle_past_the_timeout_are_not_handed_out() {
        let pool = Pool::new(IDLE_TIMEOUT);
        let t0 = Instant::now();
        let a = Key::new("a", 1);
        pool.checkin(a.clone(), 1, t0);
        assert_eq!(pool.checkout(&a, t0 + IDLE_TIMEOUT), Some(1));
        pool.checkin(a.clone(), 1, t0);
        assert_eq!(pool.checkout(&a, t0 + IDLE_TIMEOUT + secs(1)), None);
        assert_eq!(pool.len(), 0);
    }

    #[test]
    fn expired_connections_of_other_kubelets_are_swept_lazily() {
        let pool = Pool::new(IDLE_TIMEOUT);
        let t0 = Instant::now();
        for port in 0..100 {
            pool.checkin(Key::new("gone", port), port, t0);
        }
        pool.checkin(Key::new("live", 1), 1000, t0 + secs(60));
        // Not yet expired: nothing swept.
        assert_eq!(pool.checkout(&Key::new("x", 1), t0 + secs(80)), None);
        assert_eq!(pool.len(), 101);
        // Expired, and the last sweep is old enough.
        assert_eq!(pool.checkout(&Key::new("x", 1), t0 + secs(120)), None);
        assert_eq!(pool.len(), 1, "only the connection used at 60 s is left");
        assert_eq!(
            pool.checkout(&Key::new("live", 1), t0 + secs(121)),
            Some(1000)
        );
    }
}
