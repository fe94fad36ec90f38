//! The open connections and their cap. A new connection is always admitted: at the cap, the
//! connection idle the longest among those not trusted (no client certificate authenticated
//! on it) is closed to make room, so a flood of idle or slow connections can neither exhaust
//! descriptors nor lock out the kubelet's health probes or the aggregator.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::activity::Activity;

/// Every open connection, by id.
#[derive(Debug)]
pub struct ConnectionTable {
    open: Mutex<HashMap<u64, Arc<Activity>>>,
    cap: usize,
    next_id: AtomicU64,
    evictions: AtomicU64,
}

/// A connection's place in the table; dropping it frees the place.
#[derive(Debug)]
pub struct Registration {
    table: Arc<ConnectionTable>,
    id: u64,
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.table.lock().remove(&self.id);
    }
}

impl ConnectionTable {
    pub fn new(cap: usize) -> Arc<Self> {
        Arc::new(ConnectionTable {
            open: Mutex::new(HashMap::new()),
            cap: cap.max(1),
            next_id: AtomicU64::new(0),
            evictions: AtomicU64::new(0),
        })
    }

    /// Admits `activity`, asking one connection to close first when the table is full.
    pub fn register(self: &Arc<Self>, activity: Arc<Activity>) -> Registration {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut open = self.lock();
        if open.len() >= self.cap
            && let Some(victim) = choose_victim(&open)
            && let Some(gone) = open.remove(&victim)
        {
            gone.evict();
            self.evictions.fetch_add(1, Ordering::Relaxed);
        }
        open.insert(id, activity);
        Registration {
            table: self.clone(),
            id,
        }
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn cap(&self) -> usize {
        self.cap
    }

    /// Connections closed to make room so far.
    pub fn evictions(&self) -> u64 {
        self.evictions.load(Ordering::Relaxed)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<Activity>>> {
        self.open.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Untrusted idle connections first, then untrusted busy ones, then trusted idle ones; the
/// least recently active of the first group that has any. Trusted busy connections are
/// never chosen.
fn choose_victim(open: &HashMap<u64, Arc<Activity>>) -> Option<u64> {
    let rank = |a: &Activity| match (a.is_trusted(), a.is_idle()) {
        (false, true) => Some(0),
        (false, false) => Some(1),
        (true, true) => Some(2),
        (true, false) => None,
    };
    open.iter()
        .filter_map(|(id, a)| Some(((rank(a)?, a.last_active_ms()), *id)))
        .min()
        .map(|(_, id)| id)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn settle() {
        std::thread::sleep(Duration::from_millis(3));
    }

    #[tokio::test]
    async fn at_the_cap_the_longest_idle_untrusted_connection_makes_room() {
        let table = ConnectionTable::new(3);
        let aggregator = Arc::new(Activity::new());
        aggregator.mark_trusted();
        let _r0 = table.register(aggregator.clone());
        settle();
        let old = Arc::new(Activity::new());
        let _r1 = table.register(old.clone());
        settle();
        let recent = Arc::new(Activity::new());
        let _r2 = table.register(recent.clone());
        settle();
        let probe = Arc::new(Activity::new());
        let _r3 = table.register(probe.clone());
        assert_eq!(table.len(), 3);
        assert_eq!(table.evictions(), 1);
        tokio::time::timeout(Duration::from_secs(1), old.evicted())
            .await
            .expect("the oldest idle untrusted connection is asked to close");
        // The trusted one was older still, but stays.
        assert!(
            tokio::time::timeout(Duration::from_millis(50), aggregator.evicted())
                .await
                .is_err()
        );
    }

    #[test]
    fn busy_untrusted_connections_go_before_trusted_ones_and_trusted_busy_ones_never() {
        let mut open = HashMap::new();
        let trusted_busy = Arc::new(Activity::new());
        trusted_busy.mark_trusted();
        let _guard = trusted_busy.request_started();
        open.insert(1, trusted_busy.clone());
        assert_eq!(choose_victim(&open), None);
        let trusted_idle = Arc::new(Activity::new());
        trusted_idle.mark_trusted();
        open.insert(2, trusted_idle);
        assert_eq!(choose_victim(&open), Some(2));
        let busy = Arc::new(Activity::new());
        let _busy_guard = busy.request_started();
        open.insert(3, busy);
        assert_eq!(choose_victim(&open), Some(3));
    }

    #[test]
    fn leaving_frees_the_place() {
        let table = ConnectionTable::new(2);
        let r = table.register(Arc::new(Activity::new()));
        assert_eq!(table.len(), 1);
        drop(r);
        assert!(table.is_empty());
    }
}
