//! Failures of a background call (the APIService watch, recording an Event), logged without
//! flooding: a missing permission or a missing API once until the call works again, any other
//! failure at most once per ten minutes. Pure: the caller passes the time.

use std::time::{Duration, Instant};

/// How often another kind of failure is logged again.
const OTHER_EVERY: Duration = Duration::from_secs(600);

/// What kind of failure a call had.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// HTTP 403: RBAC does not allow the call.
    Forbidden,
    /// HTTP 404: the API is not served (a minimal or simulated API server).
    NotFound,
    Other,
}

impl Failure {
    /// The kind of a failure with this HTTP status (`None`: no HTTP answer).
    pub fn of_code(code: Option<u16>) -> Self {
        match code {
            Some(403) => Failure::Forbidden,
            Some(404) => Failure::NotFound,
            _ => Failure::Other,
        }
    }
}

/// Which failures were logged.
#[derive(Debug, Default)]
pub struct FailureLog {
    forbidden: bool,
    not_found: bool,
    other_at: Option<Instant>,
}

impl FailureLog {
    /// Whether to log this failure now.
    pub fn should_log(&mut self, failure: Failure, now: Instant) -> bool {
        match failure {
            Failure::Forbidden => !std::mem::replace(&mut self.forbidden, true),
            Failure::NotFound => !std::mem::replace(&mut self.not_found, true),
            Failure::Other => {
                let due = self
                    .other_at
                    .is_none_or(|at| now.saturating_duration_since(at) >= OTHER_EVERY);
                if due {
                    self.other_at = Some(now);
                }
                due
            }
        }
    }

    /// The call worked: whether it had failed in a way that was logged (worth saying it works
    /// now), and a later failure is told again.
    pub fn succeeded(&mut self) -> bool {
        std::mem::take(self).was_told()
    }

    fn was_told(&self) -> bool {
        self.forbidden || self.not_found || self.other_at.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_permission_is_told_once_until_the_call_works() {
        let t0 = Instant::now();
        let mut log = FailureLog::default();
        assert!(log.should_log(Failure::of_code(Some(403)), t0));
        for minute in 1..100 {
            let later = t0 + Duration::from_secs(60 * minute);
            assert!(!log.should_log(Failure::Forbidden, later));
        }
        assert!(log.succeeded());
        assert!(!log.succeeded(), "nothing was told since");
        assert!(log.should_log(Failure::Forbidden, t0));
    }

    #[test]
    fn other_failures_are_told_every_ten_minutes_at_most() {
        let t0 = Instant::now();
        let mut log = FailureLog::default();
        assert!(log.should_log(Failure::of_code(None), t0));
        assert!(!log.should_log(Failure::of_code(Some(500)), t0 + Duration::from_secs(30)));
        assert!(log.should_log(Failure::Other, t0 + OTHER_EVERY));
        assert!(log.should_log(Failure::of_code(Some(404)), t0));
        assert!(!log.should_log(Failure::NotFound, t0));
    }
}
