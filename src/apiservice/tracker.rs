//! What changed about the metrics APIServices since the watch last saw them, as [`Notice`]s to
//! log and record: whose they are (first sight, or a change), missing or deleted, and, while
//! they point at our Service, `Available` turning false (or false for another reason) and true
//! again. One notice per change: the aggregator rewrites the same condition on every resync,
//! and a message that differs only in wording for the same problem (`i/o timeout` then
//! `context deadline exceeded`) is the same problem.
//!
//! A condition seen when the APIService starts pointing at us (at start-up, or taken back from
//! another provider) may predate us: "connection refused" while this server was restarting,
//! a missing Service that was the other provider's. So a not-Available condition at first sight
//! settles first: it is told when the aggregator writes another one, or after [`SETTLE`] (it
//! re-checks every APIService at least every 30 s) if it still stands. Pure: the watch feeds it
//! what it saw and the time.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::guidance::{Explanation, Problem, explain};
use super::owner::Owner;

/// An APIService's `Available` condition as kube-aggregator wrote it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AvailableCondition {
    /// `True`, `False` or `Unknown`.
    pub status: String,
    pub reason: String,
    pub message: String,
}

/// What the watch saw of one APIService.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sighting {
    pub owner: Owner,
    /// `None` before the aggregator has written one.
    pub available: Option<AvailableCondition>,
}

/// A change worth one log line (and, for availability, one Event).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Notice {
    /// Whose the APIService is: at first sight when it is not ours, and on every change.
    Owner {
        apiservice: String,
        owner: Owner,
        first: bool,
    },
    /// The APIService does not exist (`deleted`: it did a moment ago).
    Missing { apiservice: String, deleted: bool },
    /// It points at our Service and is not Available, or is not Available for another reason.
    Unavailable {
        apiservice: String,
        condition: AvailableCondition,
        explanation: Explanation,
    },
    /// It is Available again after a notice that it was not.
    Recovered { apiservice: String, was: Problem },
}

/// How long a not-Available condition seen at first sight waits for the aggregator's next
/// verdict before it is told.
pub const SETTLE: Duration = Duration::from_secs(45);

impl Notice {
    /// The name of the APIService the notice is about.
    pub fn apiservice(&self) -> &str {
        match self {
            Notice::Owner { apiservice, .. }
            | Notice::Missing { apiservice, .. }
            | Notice::Unavailable { apiservice, .. }
            | Notice::Recovered { apiservice, .. } => apiservice,
        }
    }
}

/// Whether an APIService serves, as last announced.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
enum Health {
    /// Not announced (no condition yet, or it points elsewhere).
    #[default]
    Unknown,
    /// Not Available at first sight: told at `until` unless the aggregator writes another
    /// condition first.
    Settling {
        until: Instant,
        condition: AvailableCondition,
    },
    Available,
    /// Announced as not Available with this status, reason and problem.
    Unavailable(String, String, Problem),
}

#[derive(Debug, Default)]
struct Entry {
    /// `None` before the first look.
    present: Option<bool>,
    owner: Option<Owner>,
    health: Health,
}

/// The last announced state of each APIService by name.
#[derive(Debug)]
pub struct Tracker {
    settle: Duration,
    entries: BTreeMap<String, Entry>,
}

impl Default for Tracker {
    fn default() -> Self {
        Tracker::new(SETTLE)
    }
}

impl Tracker {
    /// A tracker whose first-sight conditions settle for `settle`.
    pub fn new(settle: Duration) -> Self {
        Tracker {
            settle,
            entries: BTreeMap::new(),
        }
    }

    /// The notices for what the watch sees of `apiservice` at `now`.
    pub fn saw(&mut self, apiservice: &str, sighting: Sighting, now: Instant) -> Vec<Notice> {
        let entry = self.entries.entry(apiservice.to_string()).or_default();
        entry.present = Some(true);
        let mut notices = Vec::new();
        if entry.owner.as_ref() != Some(&sighting.owner) {
            let first = entry.owner.is_none();
            if !(first && sighting.owner == Owner::Ours) {
                notices.push(Notice::Owner {
                    apiservice: apiservice.to_string(),
                    owner: sighting.owner.clone(),
                    first,
                });
            }
            entry.owner = Some(sighting.owner.clone());
        }
        let points_at_us = matches!(sighting.owner, Owner::Ours | Owner::OursOnOtherPort { .. });
        if !points_at_us {
            entry.health = Health::Unknown;
            return notices;
        }
        let Some(condition) = sighting.available else {
            return notices;
        };
        if condition.status == "True" {
            if let Health::Unavailable(_, _, was) = std::mem::take(&mut entry.health) {
                notices.push(Notice::Recovered {
                    apiservice: apiservice.to_string(),
                    was,
                });
            }
            entry.health = Health::Available;
            return notices;
        }
        match &entry.health {
            Health::Unknown => {
                entry.health = Health::Settling {
                    until: now + self.settle,
                    condition,
                };
                return notices;
            }
            Health::Settling {
                condition: seen, ..
            } if *seen == condition => return notices,
            _ => {}
        }
        notices.extend(unavailable(apiservice, entry, condition));
        notices
    }

    /// The first-sight conditions that stood for the settling time, told now.
    pub fn settle(&mut self, now: Instant) -> Vec<Notice> {
        let mut notices = Vec::new();
        for (apiservice, entry) in &mut self.entries {
            if let Health::Settling { until, condition } = &entry.health
                && *until <= now
            {
                let condition = condition.clone();
                notices.extend(unavailable(apiservice, entry, condition));
            }
        }
        notices
    }

    /// When the next first-sight condition is due to be told.
    pub fn next_settle(&self) -> Option<Instant> {
        self.entries
            .values()
            .filter_map(|entry| match entry.health {
                Health::Settling { until, .. } => Some(until),
                _ => None,
            })
            .min()
    }

    /// The notices for `apiservice` not existing (absent from the first list, or deleted).
    pub fn absent(&mut self, apiservice: &str) -> Vec<Notice> {
        let entry = self.entries.entry(apiservice.to_string()).or_default();
        if entry.present == Some(false) {
            return Vec::new();
        }
        let deleted = entry.present == Some(true);
        *entry = Entry {
            present: Some(false),
            ..Entry::default()
        };
        vec![Notice::Missing {
            apiservice: apiservice.to_string(),
            deleted,
        }]
    }
}

/// Records `condition` as announced; the notice, unless it was already told.
fn unavailable(
    apiservice: &str,
    entry: &mut Entry,
    condition: AvailableCondition,
) -> Option<Notice> {
    let explanation = explain(&condition.reason, &condition.message);
    let health = Health::Unavailable(
        condition.status.clone(),
        condition.reason.clone(),
        explanation.problem.clone(),
    );
    if entry.health == health {
        return None;
    }
    entry.health = health;
    Some(Notice::Unavailable {
        apiservice: apiservice.to_string(),
        condition,
        explanation,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apiservice::guidance::ServiceRef;
    use crate::apiservice::owner::OtherProvider;

    const NAME: &str = "v1beta1.metrics.k8s.io";
    const URL: &str = "https://10.244.0.12:10250/apis/metrics.k8s.io/v1beta1";

    fn condition(status: &str, reason: &str, message: &str) -> Option<AvailableCondition> {
        Some(AvailableCondition {
            status: status.into(),
            reason: reason.into(),
            message: message.into(),
        })
    }

    fn passed() -> Option<AvailableCondition> {
        condition("True", "Passed", "all checks passed")
    }

    fn ours(available: Option<AvailableCondition>) -> Sighting {
        Sighting {
            owner: Owner::Ours,
            available,
        }
    }

    fn discovery(inner: &str) -> Option<AvailableCondition> {
        condition(
            "False",
            "FailedDiscoveryCheck",
            &format!("failing or missing response from {URL}: Get \"{URL}\": {inner}"),
        )
    }

    fn adapter() -> Owner {
        Owner::Other(OtherProvider {
            service: ServiceRef::new("monitoring", "prometheus-adapter"),
            port: 443,
            product: Some("prometheus-adapter"),
        })
    }

    /// A tracker that has seen the APIService Available.
    fn running(t0: Instant) -> Tracker {
        let mut t = Tracker::default();
        assert!(t.saw(NAME, ours(passed()), t0).is_empty());
        t
    }

    #[test]
    fn an_available_apiservice_of_ours_is_silent() {
        let t0 = Instant::now();
        let mut t = Tracker::default();
        assert!(t.saw(NAME, ours(None), t0).is_empty());
        assert!(t.saw(NAME, ours(passed()), t0).is_empty());
        assert!(t.saw(NAME, ours(passed()), t0).is_empty());
        assert_eq!(t.next_settle(), None);
    }

    #[test]
    fn turning_unavailable_is_told_once_with_the_guidance_then_the_recovery_once() {
        let t0 = Instant::now();
        let mut t = running(t0);
        let notices = t.saw(
            NAME,
            ours(discovery("dial tcp 10.244.0.12:10250: i/o timeout")),
            t0,
        );
        let [Notice::Unavailable { explanation, .. }] = notices.as_slice() else {
            panic!("{notices:?}");
        };
        assert!(
            explanation
                .summary
                .contains("cannot reach 10.244.0.12 on port 10250")
        );
        // The aggregator's next resync writes the same; another wording of the same timeout.
        let timeout = discovery("dial tcp 10.244.0.12:10250: i/o timeout");
        assert!(t.saw(NAME, ours(timeout), t0).is_empty());
        let deadline = discovery("context deadline exceeded");
        assert!(t.saw(NAME, ours(deadline), t0).is_empty());
        let notices = t.saw(NAME, ours(passed()), t0);
        assert_eq!(notices.len(), 1);
        assert!(
            matches!(&notices[0], Notice::Recovered { was, .. } if was.kind() == "unreachable_timeout")
        );
        assert!(t.saw(NAME, ours(passed()), t0).is_empty());
    }

    #[test]
    fn another_reason_while_unavailable_is_a_new_notice() {
        let t0 = Instant::now();
        let mut t = running(t0);
        let x509 = discovery(
            "tls: failed to verify certificate: x509: certificate signed by unknown authority",
        );
        assert_eq!(t.saw(NAME, ours(x509), t0).len(), 1);
        let next = t.saw(
            NAME,
            ours(condition(
                "False",
                "MissingEndpoints",
                "endpointslices for service/metrics-server in \"kube-system\" have no \
                 addresses with port name \"https\"",
            )),
            t0,
        );
        let [Notice::Unavailable { condition, .. }] = next.as_slice() else {
            panic!("{next:?}");
        };
        assert_eq!(condition.reason, "MissingEndpoints");
    }

    #[test]
    fn unavailable_at_first_sight_waits_for_the_aggregators_next_verdict() {
        let t0 = Instant::now();
        // Restarted: the condition is from while this server was down; the aggregator's
        // re-check says Available: nothing is told.
        let mut t = Tracker::default();
        let refused = discovery("dial tcp 10.244.0.12:10250: connect: connection refused");
        assert!(t.saw(NAME, ours(refused.clone()), t0).is_empty());
        assert_eq!(t.next_settle(), Some(t0 + SETTLE));
        assert!(
            t.saw(NAME, ours(refused.clone()), t0 + SETTLE / 2)
                .is_empty()
        );
        assert!(t.saw(NAME, ours(passed()), t0 + SETTLE / 2).is_empty());
        assert_eq!(t.next_settle(), None);
        assert!(t.settle(t0 + SETTLE).is_empty());

        // Still broken when the settling time is over: told then, once.
        let mut t = Tracker::default();
        let x509 = discovery("x509: certificate signed by unknown authority");
        assert!(t.saw(NAME, ours(x509.clone()), t0).is_empty());
        assert!(t.settle(t0 + SETTLE / 2).is_empty());
        let told = t.settle(t0 + SETTLE);
        let [Notice::Unavailable { explanation, .. }] = told.as_slice() else {
            panic!("{told:?}");
        };
        assert_eq!(explanation.problem.kind(), "certificate_unknown_authority");
        assert!(t.settle(t0 + SETTLE * 2).is_empty());
        assert!(t.saw(NAME, ours(x509), t0 + SETTLE * 2).is_empty());

        // A new verdict that is still not Available is told at once.
        let mut t = Tracker::default();
        assert!(t.saw(NAME, ours(refused), t0).is_empty());
        let now = t.saw(NAME, ours(discovery("EOF")), t0 + Duration::from_secs(1));
        assert_eq!(now.len(), 1, "{now:?}");
        assert!(t.settle(t0 + SETTLE).is_empty());
    }

    #[test]
    fn another_provider_is_named_at_first_sight_and_its_health_is_not_ours_to_tell() {
        let t0 = Instant::now();
        let mut t = Tracker::default();
        let refused = discovery("connect: connection refused");
        let theirs = Sighting {
            owner: adapter(),
            available: refused.clone(),
        };
        assert_eq!(
            t.saw(NAME, theirs.clone(), t0),
            [Notice::Owner {
                apiservice: NAME.into(),
                owner: adapter(),
                first: true
            }]
        );
        assert!(t.saw(NAME, theirs, t0).is_empty());
        assert_eq!(t.next_settle(), None);
        // Taken back: the change of owner is told at once; the condition, about the other
        // provider, settles and is dropped when the aggregator says Available.
        let back = t.saw(NAME, ours(refused), t0);
        assert!(
            matches!(
                back.as_slice(),
                [Notice::Owner {
                    owner: Owner::Ours,
                    first: false,
                    ..
                }]
            ),
            "{back:?}"
        );
        assert!(t.saw(NAME, ours(passed()), t0).is_empty());
        assert!(t.settle(t0 + SETTLE).is_empty());
    }

    #[test]
    fn missing_is_told_once_and_deletion_is_told_as_such() {
        let t0 = Instant::now();
        let mut t = Tracker::default();
        assert_eq!(
            t.absent("v1.metrics.k8s.io"),
            [Notice::Missing {
                apiservice: "v1.metrics.k8s.io".into(),
                deleted: false
            }]
        );
        assert!(t.absent("v1.metrics.k8s.io").is_empty());
        t.saw(NAME, ours(passed()), t0);
        assert_eq!(
            t.absent(NAME),
            [Notice::Missing {
                apiservice: NAME.into(),
                deleted: true
            }]
        );
        // Created again: ours, silently; a condition that stands is told after settling.
        assert!(t.saw(NAME, ours(None), t0).is_empty());
        assert!(t.saw(NAME, ours(discovery("EOF")), t0).is_empty());
        assert_eq!(t.settle(t0 + SETTLE).len(), 1);
    }
}
