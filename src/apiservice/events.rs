//! Recording an [`EventSpec`] as an `events.k8s.io/v1` Event on an APIService, so
//! `kubectl describe apiservice` and `kubectl get events` show what the server found.
//! APIServices are cluster-scoped: their Events live in `default`, like a Node's.

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;
use k8s_openapi::kube_aggregator::pkg::apis::apiregistration::v1::APIService;
use kube::api::{Api, ObjectMeta, PostParams};

use super::failure_log::{Failure, FailureLog};
use super::report::EventSpec;

/// Where Events on cluster-scoped objects go.
pub const EVENT_NAMESPACE: &str = "default";
/// `reportingController` of our Events.
pub const REPORTING_CONTROLLER: &str = "metrics-server";
/// `action` of our Events: the server watched the APIService's availability.
const ACTION: &str = "WatchAvailability";
/// Longest wait for the API to take one Event.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest `reportingInstance` the API accepts.
const MAX_INSTANCE: usize = 128;

/// The reference of an Event to `apiservice` (with its uid, which `kubectl describe` matches).
pub fn regarding(apiservice: &APIService) -> ObjectReference {
    ObjectReference {
        api_version: Some("apiregistration.k8s.io/v1".to_string()),
        kind: Some("APIService".to_string()),
        name: apiservice.metadata.name.clone(),
        uid: apiservice.metadata.uid.clone(),
        ..ObjectReference::default()
    }
}

/// Which replica reports: the pod name (`HOSTNAME` in a container), else the controller name.
pub fn reporting_instance() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty() && h.len() <= MAX_INSTANCE)
        .unwrap_or_else(|| REPORTING_CONTROLLER.to_string())
}

/// The Event for `spec` on `regarding`, named `<apiservice>.<nanoseconds in hex>` as the
/// apiserver's own recorders name theirs.
pub fn build(
    spec: &EventSpec,
    regarding: &ObjectReference,
    instance: &str,
    now: Timestamp,
) -> Event {
    let object = regarding.name.as_deref().unwrap_or(REPORTING_CONTROLLER);
    let nanos = u128::try_from(now.as_nanosecond()).unwrap_or_default();
    Event {
        metadata: ObjectMeta {
            name: Some(format!("{object}.{nanos:x}")),
            namespace: Some(EVENT_NAMESPACE.to_string()),
            ..ObjectMeta::default()
        },
        event_time: Some(MicroTime(now)),
        type_: Some(if spec.warning { "Warning" } else { "Normal" }.to_string()),
        reason: Some(spec.reason.to_string()),
        note: Some(spec.note.clone()),
        action: Some(ACTION.to_string()),
        regarding: Some(regarding.clone()),
        reporting_controller: Some(REPORTING_CONTROLLER.to_string()),
        reporting_instance: Some(instance.to_string()),
        ..Event::default()
    }
}

/// Creates our Events; a failure is logged (once for a missing permission) and dropped:
/// serving never waits on it.
pub struct Recorder {
    api: Api<Event>,
    instance: String,
    failures: FailureLog,
}

impl Recorder {
    pub fn new(client: kube::Client) -> Self {
        Recorder {
            api: Api::namespaced(client, EVENT_NAMESPACE),
            instance: reporting_instance(),
            failures: FailureLog::default(),
        }
    }

    /// Records `spec` on `regarding`.
    pub async fn record(&mut self, spec: &EventSpec, regarding: &ObjectReference) {
        let event = build(spec, regarding, &self.instance, Timestamp::now());
        let sent = tokio::time::timeout(
            SEND_TIMEOUT,
            self.api.create(&PostParams::default(), &event),
        )
        .await;
        let (code, error) = match sent {
            Ok(Ok(_)) => {
                self.failures.succeeded();
                return;
            }
            Ok(Err(kube::Error::Api(status))) => (Some(status.code), status.message.clone()),
            Ok(Err(e)) => (None, e.to_string()),
            Err(_) => (None, format!("no answer within {SEND_TIMEOUT:?}")),
        };
        let failure = Failure::of_code(code);
        if !self.failures.should_log(failure, Instant::now()) {
            return;
        }
        let apiservice = regarding.name.as_deref().unwrap_or_default();
        match failure {
            Failure::Forbidden => tracing::warn!(
                apiservice,
                error = %error,
                "Cannot record Events on the metrics APIServices: grant create on \
                 events.k8s.io events in namespace {EVENT_NAMESPACE} (see manifests/base/rbac.yaml). \
                 The log says the same; serving is not affected."
            ),
            Failure::NotFound => tracing::info!(
                apiservice,
                error = %error,
                "The events.k8s.io API is not served; APIService changes are only logged."
            ),
            Failure::Other => tracing::warn!(
                apiservice,
                error = %error,
                "Recording an Event on the APIService failed; dropped."
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_event_regards_the_apiservice_and_passes_the_apis_rules() {
        let mut api = APIService::default();
        api.metadata.name = Some("v1beta1.metrics.k8s.io".into());
        api.metadata.uid = Some("4c1a0a52-1d2c-4b7e-9a43-0c9b1d2f3e4a".into());
        let spec = EventSpec {
            warning: true,
            reason: "MetricsAPIUnavailable",
            note: "FailedDiscoveryCheck: the apiserver cannot reach 10.244.0.12".into(),
        };
        let now = Timestamp::from_second(1_780_000_000).unwrap();
        let event = build(&spec, &regarding(&api), "metrics-server-7d9f8-abcde", now);
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(json["apiVersion"], "events.k8s.io/v1");
        assert_eq!(json["kind"], "Event");
        assert_eq!(json["metadata"]["namespace"], "default");
        assert_eq!(
            json["metadata"]["name"],
            format!("v1beta1.metrics.k8s.io.{:x}", 1_780_000_000_000_000_000u128)
        );
        assert_eq!(json["type"], "Warning");
        assert_eq!(json["reason"], "MetricsAPIUnavailable");
        assert_eq!(json["action"], "WatchAvailability");
        assert_eq!(json["reportingController"], "metrics-server");
        assert_eq!(json["reportingInstance"], "metrics-server-7d9f8-abcde");
        assert_eq!(json["regarding"]["kind"], "APIService");
        assert_eq!(json["regarding"]["apiVersion"], "apiregistration.k8s.io/v1");
        assert_eq!(json["regarding"]["name"], "v1beta1.metrics.k8s.io");
        assert_eq!(
            json["regarding"]["uid"],
            "4c1a0a52-1d2c-4b7e-9a43-0c9b1d2f3e4a"
        );
        assert!(
            json["regarding"].get("namespace").is_none(),
            "cluster-scoped"
        );
        assert!(json["eventTime"].as_str().unwrap().starts_with("2026-"));
        // The API's rules for events.k8s.io/v1: no deprecated fields, no series on create.
        for unset in ["deprecatedCount", "deprecatedSource", "series"] {
            assert!(json.get(unset).is_none(), "{unset}");
        }
        let normal = build(
            &EventSpec {
                warning: false,
                reason: "MetricsAPIAvailable",
                note: String::new(),
            },
            &regarding(&api),
            "x",
            now,
        );
        assert_eq!(normal.type_.as_deref(), Some("Normal"));
    }
}
