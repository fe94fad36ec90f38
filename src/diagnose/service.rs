//! The Service the APIServices point at: it exists, has the port they send to, and that port
//! has ready endpoints (EndpointSlices), which the serving-certificate check then dials.

use k8s_openapi::api::core::v1::{Service, ServicePort};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::api::{Api, ListParams};

use super::cluster_api::{self, ReadError};
use super::report::{Check, Report, name_list};
use crate::config::diagnose::ObjectName;

/// EndpointSlices read at most (one Service has one per 100 endpoints).
const MAX_SLICES: usize = 50;

/// A ready endpoint of the Service's port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// An IP address, or a DNS name for FQDN slices.
    pub address: String,
    pub port: u16,
    /// The pod behind it, when the slice says.
    pub pod: Option<String>,
}

impl Endpoint {
    /// `address:port`, IPv6 in brackets.
    pub fn address_port(&self) -> String {
        match self.address.contains(':') {
            true => format!("[{}]:{}", self.address, self.port),
            false => format!("{}:{}", self.address, self.port),
        }
    }

    /// `address:port (pod name)`.
    pub fn describe(&self) -> String {
        match &self.pod {
            Some(pod) => format!("{} (pod {pod})", self.address_port()),
            None => self.address_port(),
        }
    }
}

fn object(service: &ObjectName) -> String {
    format!("service/{service}")
}

/// Checks the Service and its endpoints for `port`; returns the ready endpoints.
pub async fn check(
    client: &kube::Client,
    service: &ObjectName,
    port: i32,
    report: &mut Report,
) -> Vec<Endpoint> {
    let services: Api<Service> = Api::namespaced(client.clone(), &service.namespace);
    let found = match cluster_api::get(&services, &service.name).await {
        Ok(found) => found,
        Err(ReadError::NotFound) => {
            report.push(Check::fail(
                "service-exists",
                object(service),
                "does not exist: the aggregator has nowhere to send metrics requests",
                "apply the manifest again (kubectl apply -f manifests/components.yaml), or pass \
                 --service NAMESPACE/NAME if the APIServices should point elsewhere",
            ));
            return Vec::new();
        }
        Err(err) => {
            report.push(Check::warn(
                "service-exists",
                object(service),
                format!("not checked: {err}"),
                "run diagnose with a kubeconfig that may get services and list endpointslices",
            ));
            return Vec::new();
        }
    };
    report.push(Check::ok("service-exists", object(service), "exists"));
    let slices: Api<EndpointSlice> = Api::namespaced(client.clone(), &service.namespace);
    let params =
        ListParams::default().labels(&format!("kubernetes.io/service-name={}", service.name));
    match cluster_api::list_capped(&slices, params, MAX_SLICES).await {
        Ok((slices, _)) => {
            let (check, ready) = endpoints_check(service, &found, port, &slices);
            report.push(check);
            ready
        }
        Err(err) => {
            report.push(Check::warn(
                "service-endpoints",
                object(service),
                format!("EndpointSlices not checked: {err}"),
                "run diagnose with a kubeconfig that may list endpointslices.discovery.k8s.io",
            ));
            Vec::new()
        }
    }
}

/// One endpoint of a slice for the port named `port_name`, ready or not.
struct Found {
    endpoint: Endpoint,
    ready: bool,
}

fn endpoints_of(slices: &[EndpointSlice], port_name: &str) -> Vec<Found> {
    let mut found = Vec::new();
    for slice in slices {
        let Some(port) = slice
            .ports
            .iter()
            .flatten()
            .find(|p| p.name.as_deref().unwrap_or("") == port_name)
            .and_then(|p| p.port)
            .and_then(|p| u16::try_from(p).ok())
        else {
            continue;
        };
        for endpoint in &slice.endpoints {
            let ready = endpoint
                .conditions
                .as_ref()
                .and_then(|c| c.ready)
                .unwrap_or(true);
            let pod = endpoint.target_ref.as_ref().and_then(|r| r.name.clone());
            for address in &endpoint.addresses {
                found.push(Found {
                    endpoint: Endpoint {
                        address: address.clone(),
                        port,
                        pod: pod.clone(),
                    },
                    ready,
                });
            }
        }
    }
    found
}

fn target_port(port: &ServicePort) -> String {
    match &port.target_port {
        Some(IntOrString::Int(n)) => n.to_string(),
        Some(IntOrString::String(name)) => format!("\"{name}\""),
        None => port.port.to_string(),
    }
}

fn selector_text(service: &Service) -> Option<String> {
    let selector = service.spec.as_ref()?.selector.as_ref()?;
    let pairs: Vec<String> = selector.iter().map(|(k, v)| format!("{k}={v}")).collect();
    (!pairs.is_empty()).then(|| pairs.join(","))
}

/// The endpoints check of `port` on `service`, and its ready endpoints.
pub fn endpoints_check(
    name: &ObjectName,
    service: &Service,
    port: i32,
    slices: &[EndpointSlice],
) -> (Check, Vec<Endpoint>) {
    let ports: Vec<&ServicePort> = service
        .spec
        .as_ref()
        .and_then(|s| s.ports.as_ref())
        .map(|p| p.iter().collect())
        .unwrap_or_default();
    let Some(service_port) = ports.iter().find(|p| p.port == port) else {
        let have: Vec<String> = ports.iter().map(|p| p.port.to_string()).collect();
        let check = Check::fail(
            "service-endpoints",
            object(name),
            format!(
                "has no port {port}, which the APIServices send to (its ports: [{}])",
                have.join(", ")
            ),
            format!(
                "give the Service a port {port} (named https, targetPort https) or set the APIServices' spec.service.port"
            ),
        );
        return (check, Vec::new());
    };
    let found = endpoints_of(slices, service_port.name.as_deref().unwrap_or(""));
    let (ready, not_ready): (Vec<Found>, Vec<Found>) = found.into_iter().partition(|f| f.ready);
    let ready: Vec<Endpoint> = ready.into_iter().map(|f| f.endpoint).collect();
    let target = target_port(service_port);
    let check = if !ready.is_empty() {
        let described: Vec<String> = ready.iter().map(Endpoint::describe).collect();
        Check::ok(
            "service-endpoints",
            object(name),
            format!(
                "port {port} → targetPort {target}: {} ready: {}",
                ready.len(),
                name_list(&described)
            ),
        )
    } else if !not_ready.is_empty() {
        let described: Vec<String> = not_ready.iter().map(|f| f.endpoint.describe()).collect();
        Check::fail(
            "service-endpoints",
            object(name),
            format!(
                "no ready endpoint: {} not ready ({}); the aggregator answers 503 \
                 ServiceUnavailable",
                not_ready.len(),
                name_list(&described)
            ),
            format!(
                "see why the pod is not Ready: kubectl -n {} describe pod (readiness /readyz \
                 waits for the first complete scrape: the server's log names the nodes it \
                 cannot scrape)",
                name.namespace
            ),
        )
    } else {
        let cause = match selector_text(service) {
            Some(selector) => format!(
                "no endpoints for port {port} (targetPort {target}): no Running pod matches the \
                 selector {selector}, or none has a container port {target}"
            ),
            None => format!(
                "no endpoints for port {port}: the Service has no selector and no EndpointSlice \
                 names it"
            ),
        };
        let fix = match selector_text(service) {
            Some(selector) => format!(
                "kubectl -n {} get pods -l {selector} (is the Deployment running? do its pods \
                 name their port {target}?)",
                name.namespace
            ),
            None => "give the Service the selector of the metrics-server pods".to_owned(),
        };
        Check::fail("service-endpoints", object(name), cause, fix)
    };
    (check, ready)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnose::report::Status;
    use serde_json::json;

    fn name() -> ObjectName {
        "kube-system/metrics-server".parse().unwrap()
    }

    fn service() -> Service {
        serde_json::from_value(json!({
            "metadata": {"name": "metrics-server", "namespace": "kube-system"},
            "spec": {
                "selector": {"k8s-app": "metrics-server"},
                "ports": [{"name": "https", "port": 443, "targetPort": "https"}],
            },
        }))
        .unwrap()
    }

    fn slice(endpoints: serde_json::Value) -> EndpointSlice {
        serde_json::from_value(json!({
            "metadata": {"name": "s1", "namespace": "kube-system"},
            "addressType": "IPv4",
            "ports": [{"name": "https", "port": 10250}],
            "endpoints": endpoints,
        }))
        .unwrap()
    }

    #[test]
    fn ready_endpoints_are_those_dialled_next() {
        let slices = [slice(json!([
            {"addresses": ["10.244.1.5"], "conditions": {"ready": true},
             "targetRef": {"kind": "Pod", "name": "metrics-server-abc"}},
            {"addresses": ["10.244.2.6"], "conditions": {"ready": false}},
            {"addresses": ["10.244.3.7"]},
        ]))];
        let (check, ready) = endpoints_check(&name(), &service(), 443, &slices);
        assert_eq!(check.status, Status::Ok);
        assert_eq!(ready.len(), 2, "a missing ready condition counts as ready");
        assert_eq!(
            ready[0].describe(),
            "10.244.1.5:10250 (pod metrics-server-abc)"
        );
        assert!(
            check.cause.contains("targetPort \"https\""),
            "{}",
            check.cause
        );
    }

    #[test]
    fn endpoints_that_are_not_ready_fail_with_the_pod() {
        let slices = [slice(json!([
            {"addresses": ["10.244.2.6"], "conditions": {"ready": false},
             "targetRef": {"kind": "Pod", "name": "metrics-server-xyz"}},
        ]))];
        let (check, ready) = endpoints_check(&name(), &service(), 443, &slices);
        assert_eq!(check.status, Status::Fail);
        assert!(ready.is_empty());
        assert!(
            check.cause.contains("pod metrics-server-xyz"),
            "{}",
            check.cause
        );
    }

    #[test]
    fn no_endpoints_or_no_port_fail_with_what_to_look_at() {
        let (check, _) = endpoints_check(&name(), &service(), 443, &[]);
        assert_eq!(check.status, Status::Fail);
        assert!(
            check.cause.contains("selector k8s-app=metrics-server"),
            "{}",
            check.cause
        );
        assert!(
            check
                .fix
                .unwrap()
                .contains("kubectl -n kube-system get pods -l k8s-app=metrics-server")
        );
        let (check, _) = endpoints_check(&name(), &service(), 8443, &[]);
        assert_eq!(check.status, Status::Fail);
        assert!(check.cause.contains("has no port 8443"), "{}", check.cause);
    }
}
