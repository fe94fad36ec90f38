//! The metrics APIServices: both exist, point at our Service, and are Available; and who
//! else registers `metrics.k8s.io` (another provider owning one of them, or serving another
//! version of the group). Whose an APIService is and what its `Available` condition means
//! come from [`crate::apiservice`] (the same words the running server logs).

use k8s_openapi::kube_aggregator::pkg::apis::apiregistration::v1::{
    APIService, APIServiceCondition, APIServiceSpec, ServiceReference,
};
use kube::api::{Api, ListParams};

use super::cluster_api::{self, ReadError};
use super::report::{Check, Report, Status, quoted};
use crate::apiservice::{
    DEFAULT_SERVICE_PORT, METRICS_API_SERVICES as API_SERVICES, OurService, Owner, ServiceTarget,
    explain_condition, owner,
};
use crate::config::diagnose::ObjectName;

/// The API group we serve.
pub const GROUP: &str = "metrics.k8s.io";
/// APIServices read at most when looking for other registrations of the group.
const MAX_API_SERVICES: usize = 2_000;

/// One of our APIServices that points at our Service, for the serving-certificate checks.
#[derive(Clone, Debug)]
pub struct Ours {
    pub name: &'static str,
    pub spec: APIServiceSpec,
}

impl Ours {
    /// The Service port the aggregator sends to.
    pub fn port(&self) -> i32 {
        self.spec
            .service
            .as_ref()
            .and_then(|s| s.port)
            .unwrap_or(DEFAULT_SERVICE_PORT)
    }
}

fn object(name: &str) -> String {
    format!("apiservice/{name}")
}

/// Checks both APIServices and the group's other registrations; returns those pointing at
/// our Service.
pub async fn check(api: &Api<APIService>, service: &ObjectName, report: &mut Report) -> Vec<Ours> {
    let mut ours = Vec::new();
    for name in API_SERVICES {
        match cluster_api::get(api, name).await {
            Ok(found) => {
                let spec = found.spec.unwrap_or_default();
                let owner = owner_check(name, &spec, service);
                let is_ours = owner.status == Status::Ok;
                report.push(owner);
                if is_ours {
                    let conditions = found.status.and_then(|s| s.conditions).unwrap_or_default();
                    report.push(available_check(name, &conditions));
                    ours.push(Ours { name, spec });
                }
            }
            Err(ReadError::NotFound) => report.push(missing(name)),
            Err(err) => report.push(unreadable(name, &err)),
        }
    }
    let listed = cluster_api::list_capped(api, ListParams::default(), MAX_API_SERVICES).await;
    if let Ok((all, _)) = listed {
        report.extend(other_versions(&all));
    }
    ours
}

fn missing(name: &str) -> Check {
    Check::fail(
        "apiservice-exists",
        object(name),
        format!(
            "does not exist: clients of {} (kubectl top, the HPA) get \"the server could not find \
             the requested resource\"",
            name.split_once('.').map_or(name, |(v, _)| v)
        ),
        "apply the manifest again (kubectl apply -f manifests/components.yaml creates both \
         APIServices)",
    )
}

fn unreadable(name: &str, err: &ReadError) -> Check {
    Check::warn(
        "apiservice-exists",
        object(name),
        format!("not checked: {err}"),
        "run diagnose with a kubeconfig that may get apiservices.apiregistration.k8s.io",
    )
}

fn target(reference: &ServiceReference) -> ServiceTarget<'_> {
    ServiceTarget {
        namespace: reference.namespace.as_deref().unwrap_or(""),
        name: reference.name.as_deref().unwrap_or(""),
        port: reference.port,
    }
}

/// Whether the APIService sends to `service` (on whichever port: the Service check looks at
/// that port); else who owns it and how to take it back.
pub fn owner_check(name: &str, spec: &APIServiceSpec, service: &ObjectName) -> Check {
    let ours = OurService::new(&service.namespace, &service.name);
    let point_back = format!(
        "kubectl patch apiservice {name} --type=merge -p \
         '{{\"spec\":{{\"service\":{{\"namespace\":\"{}\",\"name\":\"{}\"}}}}}}'",
        service.namespace, service.name
    );
    match owner(spec.service.as_ref().map(target), &ours) {
        Owner::Ours => Check::ok(
            "apiservice-owner",
            object(name),
            format!("points at Service {service} port {DEFAULT_SERVICE_PORT}"),
        ),
        Owner::OursOnOtherPort { port } => Check::ok(
            "apiservice-owner",
            object(name),
            format!("points at Service {service} port {port}"),
        ),
        Owner::Local => Check::fail(
            "apiservice-owner",
            object(name),
            "has no service: kube-apiserver answers for it locally, and it serves no metrics",
            format!("point it at our Service: {point_back}"),
        ),
        Owner::Other(other) => {
            let who = other.product.unwrap_or("another provider");
            Check::fail(
                "apiservice-owner",
                object(name),
                format!(
                    "owned by {who}: it points at Service {}, not at {service}; only one \
                     server can serve metrics.k8s.io",
                    other.service
                ),
                format!(
                    "keep one provider: either uninstall this server, or turn off {who}'s \
                     registration of {name} (its chart or config) and point it back: \
                     {point_back}"
                ),
            )
        }
    }
}

/// Whether the aggregator reports the APIService Available; if not, what its condition
/// means and what to do ([`crate::apiservice::guidance`]).
pub fn available_check(name: &str, conditions: &[APIServiceCondition]) -> Check {
    let Some(available) = conditions.iter().find(|c| c.type_ == "Available") else {
        return Check::warn(
            "apiservice-available",
            object(name),
            "no Available condition yet: the aggregator has not checked it",
            "wait a minute and run diagnose again",
        );
    };
    if available.status == "True" {
        return Check::ok("apiservice-available", object(name), "Available");
    }
    let reason = available.reason.as_deref().unwrap_or("");
    let message = available.message.as_deref().unwrap_or("");
    let explained = explain_condition(&available.status, reason, message);
    let fix = match explained.fixes.is_empty() {
        true => {
            "see the checks of the Service, its endpoints and the serving certificate".to_owned()
        }
        false => explained.fix_line(),
    };
    Check::fail(
        "apiservice-available",
        object(name),
        format!(
            "Available={} ({reason}): {}",
            available.status,
            quoted(&explained.summary)
        ),
        fix,
    )
}

/// Registrations of `metrics.k8s.io` besides ours (another version, another server).
pub fn other_versions(all: &[APIService]) -> Vec<Check> {
    all.iter()
        .filter_map(|found| {
            let name = found.metadata.name.as_deref()?;
            let spec = found.spec.as_ref()?;
            let in_group = spec.group.as_deref() == Some(GROUP);
            (in_group && !API_SERVICES.contains(&name)).then_some((name, spec))
        })
        .map(|(name, spec)| {
            let ours = OurService::new("", "");
            let served_by = match owner(spec.service.as_ref().map(target), &ours) {
                Owner::Other(other) => other.to_string(),
                _ => "kube-apiserver itself".to_owned(),
            };
            Check::warn(
                "apiservice-other",
                object(name),
                format!(
                    "another version of {GROUP} is registered, served by {served_by}; clients \
                     preferring it bypass this server"
                ),
                format!("remove it unless you mean to serve it: kubectl delete apiservice {name}"),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnose::report::Status;

    fn ours() -> ObjectName {
        "kube-system/metrics-server".parse().unwrap()
    }

    fn spec(namespace: &str, name: &str) -> APIServiceSpec {
        APIServiceSpec {
            group: Some(GROUP.into()),
            service: Some(ServiceReference {
                namespace: Some(namespace.into()),
                name: Some(name.into()),
                port: None,
            }),
            ..APIServiceSpec::default()
        }
    }

    #[test]
    fn an_apiservice_of_another_provider_names_its_service() {
        let check = owner_check(
            "v1beta1.metrics.k8s.io",
            &spec("monitoring", "prometheus-adapter"),
            &ours(),
        );
        assert_eq!(check.status, Status::Fail);
        assert!(
            check.cause.contains(
                "owned by prometheus-adapter: it points at Service monitoring/prometheus-adapter"
            ),
            "{}",
            check.cause
        );
        let fix = check.fix.unwrap();
        assert!(
            fix.contains("kubectl patch apiservice v1beta1.metrics.k8s.io"),
            "{fix}"
        );
        assert!(
            fix.contains("\"namespace\":\"kube-system\",\"name\":\"metrics-server\""),
            "{fix}"
        );

        let check = owner_check(
            "v1.metrics.k8s.io",
            &spec("kube-system", "metrics-server"),
            &ours(),
        );
        assert_eq!(check.status, Status::Ok);
        assert!(check.cause.contains("port 443"), "{}", check.cause);

        let local = APIServiceSpec::default();
        assert_eq!(
            owner_check("v1.metrics.k8s.io", &local, &ours()).status,
            Status::Fail
        );
    }

    #[test]
    fn availability_comes_from_the_available_condition() {
        let condition = |status: &str| APIServiceCondition {
            type_: "Available".into(),
            status: status.into(),
            reason: Some("FailedDiscoveryCheck".into()),
            message: Some(
                "failing or missing response from https://10.0.0.9:10250/apis/metrics.k8s.io/v1: \
                 Get \"https://10.0.0.9:10250/apis/metrics.k8s.io/v1\": dial tcp \
                 10.0.0.9:10250: i/o timeout"
                    .into(),
            ),
            last_transition_time: None,
        };
        let check = available_check("v1.metrics.k8s.io", &[condition("True")]);
        assert_eq!(check.status, Status::Ok);
        let check = available_check("v1.metrics.k8s.io", &[condition("False")]);
        assert_eq!(check.status, Status::Fail);
        assert!(
            check.cause.contains("FailedDiscoveryCheck"),
            "{}",
            check.cause
        );
        assert_eq!(
            available_check("v1.metrics.k8s.io", &[]).status,
            Status::Warn
        );
    }

    #[test]
    fn other_versions_of_the_group_are_reported_with_their_server() {
        let api = |name: &str, spec: APIServiceSpec| APIService {
            metadata: kube::api::ObjectMeta {
                name: Some(name.into()),
                ..Default::default()
            },
            spec: Some(spec),
            status: None,
        };
        let mut custom = spec("monitoring", "prometheus-adapter");
        custom.group = Some("custom.metrics.k8s.io".into());
        let all = [
            api(
                "v1beta1.metrics.k8s.io",
                spec("kube-system", "metrics-server"),
            ),
            api(
                "v1alpha1.metrics.k8s.io",
                spec("keda", "keda-operator-metrics-apiserver"),
            ),
            api("v1beta1.custom.metrics.k8s.io", custom),
        ];
        let checks = other_versions(&all);
        assert_eq!(checks.len(), 1);
        assert_eq!(checks[0].object, "apiservice/v1alpha1.metrics.k8s.io");
        assert!(
            checks[0]
                .cause
                .contains("keda/keda-operator-metrics-apiserver"),
            "{}",
            checks[0].cause
        );
    }
}
