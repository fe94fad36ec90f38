//! The words for each [`Notice`]: one log line, and for availability changes the Event to
//! record on the APIService. Pure but for [`log`], which writes the line.

use super::guidance::Explanation;
use super::owner::{OurService, Owner};
use super::tracker::Notice;

/// `reason` of the Warning Event recorded when an APIService of ours is not Available.
pub const UNAVAILABLE_REASON: &str = "MetricsAPIUnavailable";
/// `reason` of the Normal Event recorded when it is Available again.
pub const AVAILABLE_REASON: &str = "MetricsAPIAvailable";
/// Largest Event note the API accepts, in bytes.
pub const MAX_NOTE_BYTES: usize = 1024;

/// A notice in words.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    /// A warning (else information).
    pub warning: bool,
    pub text: String,
}

/// An Event to record on an APIService.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventSpec {
    /// `Warning` (else `Normal`).
    pub warning: bool,
    pub reason: &'static str,
    /// At most [`MAX_NOTE_BYTES`].
    pub note: String,
}

/// `v1beta1` of `v1beta1.metrics.k8s.io`.
fn version_of(apiservice: &str) -> &str {
    apiservice.split('.').next().unwrap_or(apiservice)
}

/// The log line of a notice.
pub fn line(notice: &Notice, ours: &OurService) -> Line {
    let our = &ours.service;
    match notice {
        Notice::Owner {
            apiservice,
            owner,
            first,
        } => {
            let now = if *first { "" } else { "now " };
            let version = version_of(apiservice);
            match owner {
                Owner::Other(other) => Line {
                    warning: true,
                    text: format!(
                        "APIService {apiservice} {now}points at {other}, not at this server's \
                         Service {our}: metrics.k8s.io/{version} is served by that provider, and \
                         kubectl top and the HPA do not reach this server through it. Only one \
                         provider can serve metrics.k8s.io: remove the other one's APIService, \
                         or set --apiservice-service if {other} is in front of this server"
                    ),
                },
                Owner::Local => Line {
                    warning: true,
                    text: format!(
                        "APIService {apiservice} {now}has no spec.service: kube-apiserver \
                         serves metrics.k8s.io/{version} itself, not this server"
                    ),
                },
                Owner::OursOnOtherPort { port } => Line {
                    warning: false,
                    text: format!(
                        "APIService {apiservice} {now}points at this server's Service {our} on \
                         port {port} (--apiservice-service says port {}); the aggregator checks \
                         that the Service has it",
                        ours.port
                    ),
                },
                Owner::Ours => Line {
                    warning: false,
                    text: format!(
                        "APIService {apiservice} points at this server's Service {our} again"
                    ),
                },
            }
        }
        Notice::Missing {
            apiservice,
            deleted,
        } => Line {
            warning: true,
            text: format!(
                "APIService {apiservice} {}: clients of metrics.k8s.io/{} (kubectl top, the \
                 HPA) cannot reach this server through it; apply it from the install manifest \
                 (components.yaml, or the chart with apiService.create)",
                if *deleted {
                    "was deleted"
                } else {
                    "does not exist"
                },
                version_of(apiservice)
            ),
        },
        Notice::Unavailable {
            apiservice,
            explanation,
            ..
        } => Line {
            warning: true,
            text: format!(
                "APIService {apiservice} is not Available: {}",
                explanation.summary
            ),
        },
        Notice::Recovered { apiservice, .. } => Line {
            warning: false,
            text: format!("APIService {apiservice} is Available again"),
        },
    }
}

/// Writes the log line of a notice; an unavailability carries the aggregator's condition and
/// the fix as fields.
pub fn log(notice: &Notice, ours: &OurService) {
    let Line { warning, text } = line(notice, ours);
    match notice {
        Notice::Unavailable {
            condition,
            explanation,
            ..
        } => tracing::warn!(
            apiservice = notice.apiservice(),
            status = %condition.status,
            reason = %condition.reason,
            problem = explanation.problem.kind(),
            fix = %explanation.fix_line(),
            message = %condition.message,
            "{text}."
        ),
        _ if warning => tracing::warn!(apiservice = notice.apiservice(), "{text}."),
        _ => tracing::info!(apiservice = notice.apiservice(), "{text}."),
    }
}

/// The Event a notice records on its APIService, if any.
pub fn event(notice: &Notice) -> Option<EventSpec> {
    match notice {
        Notice::Unavailable {
            condition,
            explanation,
            ..
        } => Some(EventSpec {
            warning: true,
            reason: UNAVAILABLE_REASON,
            note: bounded_note(format!("{}: {explanation}", condition.reason)),
        }),
        Notice::Recovered { was, .. } => Some(EventSpec {
            warning: false,
            reason: AVAILABLE_REASON,
            note: bounded_note(format!(
                "Available again; it was not: {}",
                Explanation::from(was.clone()).summary
            )),
        }),
        Notice::Owner { .. } | Notice::Missing { .. } => None,
    }
}

/// The note cut to [`MAX_NOTE_BYTES`] on a character boundary, with `…` when cut.
fn bounded_note(note: String) -> String {
    if note.len() <= MAX_NOTE_BYTES {
        return note;
    }
    let mut end = MAX_NOTE_BYTES - '…'.len_utf8();
    while !note.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &note[..end])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apiservice::guidance::{Problem, ServiceRef, explain};
    use crate::apiservice::owner::OtherProvider;
    use crate::apiservice::tracker::AvailableCondition;

    fn ours() -> OurService {
        OurService::new("kube-system", "metrics-server")
    }

    fn unavailable(reason: &str, message: &str) -> Notice {
        Notice::Unavailable {
            apiservice: "v1beta1.metrics.k8s.io".into(),
            condition: AvailableCondition {
                status: "False".into(),
                reason: reason.into(),
                message: message.into(),
            },
            explanation: explain(reason, message),
        }
    }

    #[test]
    fn another_provider_is_named_with_its_service() {
        let notice = Notice::Owner {
            apiservice: "v1.metrics.k8s.io".into(),
            owner: Owner::Other(OtherProvider {
                service: ServiceRef::new("monitoring", "prometheus-adapter"),
                port: 443,
                product: Some("prometheus-adapter"),
            }),
            first: true,
        };
        let l = line(&notice, &ours());
        assert!(l.warning);
        assert!(
            l.text.starts_with(
                "APIService v1.metrics.k8s.io points at prometheus-adapter (service \
                 monitoring/prometheus-adapter), not at this server's Service \
                 kube-system/metrics-server"
            ),
            "{}",
            l.text
        );
        assert_eq!(event(&notice), None, "ownership is logged, not recorded");
    }

    #[test]
    fn unavailability_is_a_warning_event_with_the_reason_and_the_fix() {
        let notice = unavailable(
            "MissingEndpoints",
            "endpointslices for service/metrics-server in \"kube-system\" have no addresses \
             with port name \"https\"",
        );
        let l = line(&notice, &ours());
        assert_eq!(
            l.text,
            "APIService v1beta1.metrics.k8s.io is not Available: the Service \
             kube-system/metrics-server has no Ready pod behind its port \"https\""
        );
        let e = event(&notice).unwrap();
        assert!(e.warning);
        assert_eq!(e.reason, "MetricsAPIUnavailable");
        assert!(
            e.note.starts_with(
                "MissingEndpoints: the Service kube-system/metrics-server has no Ready pod"
            ),
            "{}",
            e.note
        );
        assert!(
            e.note.contains(". Fix: the server's pods are not Ready"),
            "{}",
            e.note
        );
    }

    #[test]
    fn a_long_note_is_cut_to_what_the_api_accepts() {
        let url = "https://10.244.0.12:10250/apis/metrics.k8s.io/v1beta1";
        let notice = unavailable(
            "FailedDiscoveryCheck",
            &format!(
                "failing or missing response from {url}: Get \"{url}\": dial tcp \
                 10.244.0.12:10250: i/o timeout"
            ),
        );
        let e = event(&notice).unwrap();
        assert!(e.note.len() <= MAX_NOTE_BYTES, "{}", e.note.len());
        assert!(e.note.starts_with(
            "FailedDiscoveryCheck: the apiserver cannot reach 10.244.0.12 on port 10250"
        ));
    }

    #[test]
    fn recovery_is_a_normal_event_saying_what_it_was() {
        let notice = Notice::Recovered {
            apiservice: "v1beta1.metrics.k8s.io".into(),
            was: Problem::NoReadyEndpoints {
                service: Some(ServiceRef::new("kube-system", "metrics-server")),
                port_name: Some("https".into()),
            },
        };
        assert_eq!(
            line(&notice, &ours()).text,
            "APIService v1beta1.metrics.k8s.io is Available again"
        );
        let e = event(&notice).unwrap();
        assert!(!e.warning);
        assert_eq!(e.reason, "MetricsAPIAvailable");
        assert_eq!(
            e.note,
            "Available again; it was not: the Service kube-system/metrics-server has no Ready \
             pod behind its port \"https\""
        );
    }

    #[test]
    fn missing_and_deleted_say_so() {
        let missing = Notice::Missing {
            apiservice: "v1.metrics.k8s.io".into(),
            deleted: false,
        };
        assert!(line(&missing, &ours()).text.starts_with(
            "APIService v1.metrics.k8s.io does not exist: clients of metrics.k8s.io/v1"
        ));
        let deleted = Notice::Missing {
            apiservice: "v1.metrics.k8s.io".into(),
            deleted: true,
        };
        assert!(line(&deleted, &ours()).text.contains("was deleted"));
    }
}
