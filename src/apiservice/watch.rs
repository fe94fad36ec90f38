//! The running server watches `v1beta1.metrics.k8s.io` and `v1.metrics.k8s.io` (one watch
//! each, by `metadata.name`: at most one small object), and tells what changed: whose they are
//! (another provider, none, missing), and while they point at our Service, `Available` turning
//! false with the guidance, and true again, as a log line and an Event on the APIService (at
//! most one per APIService per minute). Nothing here can stop or slow serving: without RBAC the
//! failure is logged once and the watch keeps retrying with back-off.

use std::collections::BTreeMap;
use std::time::Instant;

use futures::StreamExt;
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::kube_aggregator::pkg::apis::apiregistration::v1::APIService;
use kube::api::Api;
use kube::runtime::{WatchStreamExt, watcher};

use super::METRICS_API_SERVICES;
use super::event_gate::{EVENT_INTERVAL, EventGate};
use super::events::{self, Recorder};
use super::failure_log::{Failure, FailureLog};
use super::owner::{OurService, ServiceTarget, owner};
use super::report::{self, EventSpec};
use super::tracker::{AvailableCondition, Notice, Sighting, Tracker};

/// What the watch makes of one APIService object: whose it is and its `Available` condition.
pub fn sighting(apiservice: &APIService, ours: &OurService) -> Sighting {
    let target = apiservice
        .spec
        .as_ref()
        .and_then(|spec| spec.service.as_ref())
        .map(|service| ServiceTarget {
            namespace: service.namespace.as_deref().unwrap_or_default(),
            name: service.name.as_deref().unwrap_or_default(),
            port: service.port,
        });
    let available = apiservice
        .status
        .as_ref()
        .and_then(|status| status.conditions.as_ref())
        .and_then(|conditions| conditions.iter().find(|c| c.type_ == "Available"))
        .map(|c| AvailableCondition {
            status: c.status.clone(),
            reason: c.reason.clone().unwrap_or_default(),
            message: c.message.clone().unwrap_or_default(),
        });
    Sighting {
        owner: owner(target, ours),
        available,
    }
}

/// Watches both APIServices until the watch streams end (never, in practice); spawn it.
pub async fn run(client: kube::Client, ours: OurService) {
    let api: Api<APIService> = Api::all(client.clone());
    let streams = METRICS_API_SERVICES.map(|name| {
        watcher::watch_object(api.clone(), name)
            .default_backoff()
            .map(move |seen| (name, seen))
            .boxed()
    });
    let mut seen = futures::stream::select_all(streams);
    let mut state = WatchState {
        ours,
        tracker: Tracker::default(),
        gate: EventGate::new(EVENT_INTERVAL),
        regarding: BTreeMap::new(),
        recorder: Recorder::new(client),
        failures: FailureLog::default(),
    };
    loop {
        let due = [state.gate.next_due(), state.tracker.next_settle()]
            .into_iter()
            .flatten()
            .min();
        tokio::select! {
            item = seen.next() => match item {
                Some((name, result)) => state.apply(name, result).await,
                None => break,
            },
            () = sleep_until(due) => state.on_time().await,
        }
    }
}

/// Sleeps until `at`, or forever.
async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await,
        None => std::future::pending().await,
    }
}

struct WatchState {
    ours: OurService,
    tracker: Tracker,
    gate: EventGate<EventSpec>,
    /// The reference of each APIService that exists, for its Events.
    regarding: BTreeMap<String, ObjectReference>,
    recorder: Recorder,
    failures: FailureLog,
}

impl WatchState {
    async fn apply(&mut self, name: &str, result: Result<Option<APIService>, watcher::Error>) {
        let notices = match result {
            Ok(found) => {
                if self.failures.succeeded() {
                    tracing::info!("Watching the metrics APIServices.");
                }
                match found {
                    Some(apiservice) => {
                        self.regarding
                            .insert(name.to_string(), events::regarding(&apiservice));
                        let seen = sighting(&apiservice, &self.ours);
                        self.tracker.saw(name, seen, Instant::now())
                    }
                    None => {
                        self.regarding.remove(name);
                        self.tracker.absent(name)
                    }
                }
            }
            Err(e) => {
                self.failed(&e);
                return;
            }
        };
        for notice in notices {
            self.tell(&notice).await;
        }
    }

    /// Logs a notice and offers its Event to the gate.
    async fn tell(&mut self, notice: &Notice) {
        report::log(notice, &self.ours);
        let Some(spec) = report::event(notice) else {
            return;
        };
        let name = notice.apiservice();
        if let Some(spec) = self.gate.offer(name, spec, Instant::now()) {
            self.record(name, &spec).await;
        }
    }

    /// Tells the first-sight conditions that stood, and sends the Events whose minute passed.
    async fn on_time(&mut self) {
        for notice in self.tracker.settle(Instant::now()) {
            self.tell(&notice).await;
        }
        for (name, spec) in self.gate.due(Instant::now()) {
            self.record(&name, &spec).await;
        }
    }

    async fn record(&mut self, name: &str, spec: &EventSpec) {
        if let Some(regarding) = self.regarding.get(name) {
            self.recorder.record(spec, regarding).await;
        }
    }

    fn failed(&mut self, e: &watcher::Error) {
        let failure = Failure::of_code(status_code(e));
        if !self.failures.should_log(failure, Instant::now()) {
            return;
        }
        match failure {
            Failure::Forbidden => tracing::warn!(
                error = %e,
                "Cannot watch the metrics APIServices: grant get, list and watch on \
                 apiservices.apiregistration.k8s.io (see manifests/base/rbac.yaml) for the \
                 server to explain their availability. Serving is not affected; retrying."
            ),
            Failure::NotFound => tracing::info!(
                error = %e,
                "The apiregistration.k8s.io API is not served; APIService availability is not \
                 watched."
            ),
            Failure::Other => {
                tracing::warn!(error = %e, "Watching the metrics APIServices failed; retrying.")
            }
        }
    }
}

/// The HTTP status of a failed list or watch, when the API answered.
fn status_code(e: &watcher::Error) -> Option<u16> {
    match e {
        watcher::Error::InitialListFailed(kube::Error::Api(s))
        | watcher::Error::WatchStartFailed(kube::Error::Api(s))
        | watcher::Error::WatchFailed(kube::Error::Api(s)) => Some(s.code),
        watcher::Error::WatchError(s) => Some(s.code),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::kube_aggregator::pkg::apis::apiregistration::v1::{
        APIServiceCondition, APIServiceSpec, APIServiceStatus, ServiceReference,
    };

    use super::*;
    use crate::apiservice::owner::Owner;

    fn apiservice(
        service: Option<(&str, &str)>,
        conditions: Vec<APIServiceCondition>,
    ) -> APIService {
        APIService {
            metadata: kube::api::ObjectMeta {
                name: Some("v1beta1.metrics.k8s.io".into()),
                ..Default::default()
            },
            spec: Some(APIServiceSpec {
                group: Some("metrics.k8s.io".into()),
                version: Some("v1beta1".into()),
                group_priority_minimum: 100,
                version_priority: 100,
                service: service.map(|(namespace, name)| ServiceReference {
                    namespace: Some(namespace.into()),
                    name: Some(name.into()),
                    port: Some(443),
                }),
                ..Default::default()
            }),
            status: Some(APIServiceStatus {
                conditions: Some(conditions),
            }),
        }
    }

    #[test]
    fn a_sighting_reads_the_owner_and_the_available_condition() {
        let ours = OurService::new("kube-system", "metrics-server");
        let message = "service/metrics-server in \"kube-system\" is not present";
        let seen = sighting(
            &apiservice(
                Some(("kube-system", "metrics-server")),
                vec![
                    APIServiceCondition {
                        type_: "Other".into(),
                        status: "True".into(),
                        ..Default::default()
                    },
                    APIServiceCondition {
                        type_: "Available".into(),
                        status: "False".into(),
                        reason: Some("ServiceNotFound".into()),
                        message: Some(message.into()),
                        ..Default::default()
                    },
                ],
            ),
            &ours,
        );
        assert_eq!(seen.owner, Owner::Ours);
        assert_eq!(
            seen.available,
            Some(AvailableCondition {
                status: "False".into(),
                reason: "ServiceNotFound".into(),
                message: message.into()
            })
        );
        let local = sighting(&apiservice(None, Vec::new()), &ours);
        assert_eq!(local.owner, Owner::Local);
        assert_eq!(local.available, None);
        let other = sighting(
            &apiservice(
                Some(("keda", "keda-operator-metrics-apiserver")),
                Vec::new(),
            ),
            &ours,
        );
        assert!(
            matches!(other.owner, Owner::Other(o) if o.product == Some("KEDA metrics apiserver"))
        );
    }

    #[test]
    fn forbidden_and_missing_apis_are_told_apart() {
        let status = |code| {
            Box::new(kube::core::Status {
                code,
                ..Default::default()
            })
        };
        let forbidden = watcher::Error::InitialListFailed(kube::Error::Api(status(403)));
        assert_eq!(
            Failure::of_code(status_code(&forbidden)),
            Failure::Forbidden
        );
        let missing = watcher::Error::WatchStartFailed(kube::Error::Api(status(404)));
        assert_eq!(Failure::of_code(status_code(&missing)), Failure::NotFound);
        assert_eq!(status_code(&watcher::Error::NoResourceVersion), None);
    }
}
