//! Limits of the request path (spec §1.6, §2.8): `--max-requests-inflight` (429 with
//! `Retry-After` beyond it; `system:masters` and health probes are exempt, so the aggregator's
//! availability checks and the kubelet's probes never get throttled; a slot is held from
//! authentication to the response's last byte; requests not authenticated by a client
//! certificate share half the slots), `--request-timeout` (504 `Timeout` when
//! authentication, authorization and the handler take longer) and the longest request path.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::api::metav1_status::{Details, Status};

/// Seconds a throttled client is told to wait.
pub const RETRY_AFTER_SECONDS: u32 = 1;

/// Longest request path served: far beyond any path of the API (a namespace and a pod name
/// are at most 316 bytes), short enough that a path kept in the authorization cache, or
/// echoed in a 403, costs little.
pub const MAX_PATH_BYTES: usize = 4096;

/// Every in-flight slot is taken.
#[derive(Debug, PartialEq, Eq)]
pub struct Throttled;

impl Throttled {
    /// The apiserver's 429, telling the client when to retry.
    pub fn status(&self) -> Status {
        Status::too_many_requests(RETRY_AFTER_SECONDS)
    }
}

/// The in-flight limit and the per-request deadline.
#[derive(Clone, Debug)]
pub struct Limits {
    inflight: Option<Arc<Semaphore>>,
    /// The part of the slots requests not authenticated by a client certificate may hold
    /// together (half): clients that do not read their responses can pin those slots until
    /// the write-stall deadline, never the aggregator's.
    untrusted: Option<Arc<Semaphore>>,
    pub request_timeout: Duration,
}

/// One request's place under the in-flight limit, released when dropped.
#[derive(Debug)]
pub struct Slot {
    _all: OwnedSemaphorePermit,
    _untrusted: Option<OwnedSemaphorePermit>,
}

impl Limits {
    /// `max_inflight` 0 means unlimited.
    pub fn new(max_inflight: u32, request_timeout: Duration) -> Self {
        let slots = usize::try_from(max_inflight).unwrap_or(usize::MAX);
        let semaphore = |n: usize| Arc::new(Semaphore::new(n));
        Limits {
            inflight: (slots > 0).then(|| semaphore(slots)),
            untrusted: (slots > 0).then(|| semaphore(slots.div_ceil(2))),
            request_timeout,
        }
    }

    /// A slot for one request, held until it drops; [`Throttled`] when none is free. A
    /// request that did not authenticate with a client certificate also needs one of the
    /// untrusted half.
    pub fn admit(&self, trusted: bool) -> Result<Option<Slot>, Throttled> {
        let Some(all) = &self.inflight else {
            return Ok(None);
        };
        let untrusted = match (trusted, &self.untrusted) {
            (false, Some(part)) => Some(part.clone().try_acquire_owned().map_err(|_| Throttled)?),
            _ => None,
        };
        let all = all.clone().try_acquire_owned().map_err(|_| Throttled)?;
        Ok(Some(Slot {
            _all: all,
            _untrusted: untrusted,
        }))
    }

    /// The apiserver's 504 for a request that ran out of time.
    pub fn timeout_status() -> Status {
        Status {
            code: 504,
            reason: "Timeout",
            message: "Timeout: request did not complete within the allotted timeout".to_owned(),
            details: Some(Details::default()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_beyond_the_limit_get_429_until_a_slot_frees() {
        let limits = Limits::new(2, Duration::from_secs(60));
        let a = limits.admit(true).unwrap();
        let _b = limits.admit(true).unwrap();
        let err = limits.admit(true).unwrap_err().status();
        assert_eq!((err.code, err.reason), (429, "TooManyRequests"));
        assert!(
            String::from_utf8(err.to_json())
                .unwrap()
                .contains("\"retryAfterSeconds\":1")
        );
        drop(a);
        assert!(limits.admit(true).is_ok());
    }

    #[test]
    fn untrusted_requests_never_take_more_than_half_the_slots() {
        let limits = Limits::new(4, Duration::from_secs(60));
        let held: Vec<_> = (0..2).map(|_| limits.admit(false).unwrap()).collect();
        assert_eq!(limits.admit(false).unwrap_err(), Throttled);
        // The aggregator still finds the other half.
        let trusted: Vec<_> = (0..2).map(|_| limits.admit(true).unwrap()).collect();
        assert_eq!(limits.admit(true).unwrap_err(), Throttled);
        drop((held, trusted));
    }

    #[test]
    fn zero_means_unlimited() {
        let limits = Limits::new(0, Duration::from_secs(1));
        let slots: Vec<_> = (0..1000).map(|_| limits.admit(false).unwrap()).collect();
        assert!(slots.iter().all(Option::is_none));
        assert_eq!(Limits::timeout_status().code, 504);
    }
}
