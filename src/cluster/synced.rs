//! Whether a watch has delivered its first complete list: read at once by the health checks,
//! awaited by the scraper before its first cycle.

use tokio::sync::watch;

/// The reading side, shared by every clone of the cluster cache.
#[derive(Clone, Debug)]
pub struct Synced(watch::Receiver<bool>);

/// The side that marks the watch synced; dropping it unmarked tells the waiters it never will.
#[derive(Debug)]
pub struct MarkSynced(watch::Sender<bool>);

impl Synced {
    /// Not synced until the returned [`MarkSynced`] says so.
    pub fn pending() -> (MarkSynced, Synced) {
        let (tx, rx) = watch::channel(false);
        (MarkSynced(tx), Synced(rx))
    }

    /// Synced from the start (a cache filled by hand).
    pub fn already() -> Synced {
        Synced(watch::channel(true).1)
    }

    pub fn is_synced(&self) -> bool {
        *self.0.borrow()
    }

    /// Completes once synced; false when it never will be (the marking side is gone).
    pub async fn wait(&self) -> bool {
        self.0.clone().wait_for(|synced| *synced).await.is_ok()
    }
}

impl MarkSynced {
    /// Marks the watch synced; true the first time.
    pub fn mark(&self) -> bool {
        self.0
            .send_if_modified(|synced| !std::mem::replace(synced, true))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn waiters_wake_when_marked_and_not_before() {
        let (mark, synced) = Synced::pending();
        let waiter = tokio::spawn({
            let synced = synced.clone();
            async move { synced.wait().await }
        });
        tokio::task::yield_now().await;
        assert!(!synced.is_synced());
        assert!(!waiter.is_finished());
        assert!(mark.mark(), "first time");
        assert!(!mark.mark(), "already marked");
        let woken = tokio::time::timeout(Duration::from_secs(5), waiter).await;
        assert!(matches!(woken, Ok(Ok(true))), "{woken:?}");
        assert!(synced.is_synced());
        assert!(Synced::already().wait().await);
    }

    #[tokio::test]
    async fn a_marker_dropped_unmarked_releases_the_waiters() {
        let (mark, synced) = Synced::pending();
        drop(mark);
        let woken = tokio::time::timeout(Duration::from_secs(5), synced.wait()).await;
        assert_eq!(woken.ok(), Some(false));
        assert!(!synced.is_synced());
    }
}
