//! The Service's ready endpoints as the aggregator dials them: a TLS handshake with each (at
//! most [`MAX_ENDPOINTS_TRIED`], [`HANDSHAKE_TIMEOUT`] each) for the name it verifies, until
//! one presents its certificate. A refusal means nothing listens; no answer means nothing
//! when diagnose runs outside the pod network.

use std::time::Duration;

use rustls::pki_types::{CertificateDer, ServerName};

use super::peer_cert::{self, PeekError};
use super::report::{Check, Report};
use super::service::Endpoint;

/// Deadline of the handshake with one endpoint.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
/// Endpoints tried at most before giving up on fetching the certificate.
const MAX_ENDPOINTS_TRIED: usize = 3;

/// The chain the first of at most [`MAX_ENDPOINTS_TRIED`] ready endpoints serves for
/// `host`, and where it came from; a line per endpoint tried.
pub async fn from_endpoints(
    host: &str,
    endpoints: &[Endpoint],
    vantage: Vantage<'_>,
    report: &mut Report,
) -> Option<(Vec<CertificateDer<'static>>, String)> {
    let server_name = ServerName::try_from(host.to_owned()).ok()?;
    for endpoint in endpoints.iter().take(MAX_ENDPOINTS_TRIED) {
        let fetched = peer_cert::fetch_chain(
            &endpoint.address,
            endpoint.port,
            server_name.clone(),
            None,
            HANDSHAKE_TIMEOUT,
        )
        .await;
        report.push(endpoint_check(
            endpoint,
            fetched.as_ref().map(|_| ()),
            vantage,
        ));
        if let Ok(chain) = fetched {
            return Some((chain, format!("served at {}", endpoint.address_port())));
        }
    }
    None
}

/// Where the endpoints are, and where diagnose runs.
#[derive(Copy, Clone, Debug)]
pub struct Vantage<'a> {
    /// The Service's namespace (the pods' too).
    pub namespace: &'a str,
    /// Whether diagnose runs in a pod: then an endpoint that does not answer fails.
    pub in_cluster: bool,
}

/// Whether an endpoint answered TLS. A refusal fails (nothing listens); no answer fails only
/// inside the cluster (elsewhere pod IPs may simply not be routed to this machine).
pub fn endpoint_check(
    endpoint: &Endpoint,
    fetched: Result<(), &PeekError>,
    vantage: Vantage<'_>,
) -> Check {
    let object = format!("endpoint/{}", endpoint.address_port());
    let ns = vantage.namespace;
    let (pod, logs) = match &endpoint.pod {
        Some(pod) => (
            format!("pod {pod}: "),
            format!("kubectl -n {ns} logs {pod}"),
        ),
        None => (String::new(), format!("kubectl -n {ns} logs POD")),
    };
    match fetched {
        Ok(()) => Check::ok("serving-endpoint", object, format!("{pod}answers TLS")),
        Err(PeekError::Refused) => Check::fail(
            "serving-endpoint",
            object,
            format!(
                "{pod}connection refused: nothing listens there, so the aggregator gets \
                 \"connection refused\" too: the server is stopped or crashing, or listens on \
                 another port than the Service's targetPort"
            ),
            format!(
                "look at the pods (kubectl -n {ns} get pods -l k8s-app=metrics-server; {logs}) \
                 and check that --secure-port is the container port the Service targets"
            ),
        ),
        Err(err @ (PeekError::Timeout(_) | PeekError::Unreachable(_))) => {
            let check = Check::fail(
                "serving-endpoint",
                object,
                format!("{pod}{err}: the aggregator, dialling the same address, fails too"),
                "let the control plane reach the pod network on this port (firewall, \
                 NetworkPolicy ingress from the apiserver's hosts), or run the server with \
                 hostNetwork where the control plane is outside the pod network",
            );
            match vantage.in_cluster {
                true => check,
                false => Check {
                    cause: format!(
                        "{pod}not reached from where diagnose runs ({err}); pod IPs are often \
                         routed only inside the cluster, so this alone says nothing about the \
                         aggregator"
                    ),
                    fix: Some(
                        "run diagnose inside the cluster, or pass --serving-cert-secret \
                         NAMESPACE/NAME to check the certificate from its Secret"
                            .to_owned(),
                    ),
                    ..check.softened()
                },
            }
        }
        Err(err @ PeekError::Tls(_)) => Check::fail(
            "serving-endpoint",
            object,
            format!("{pod}{err}: the aggregator cannot talk TLS to it either"),
            "make sure the Service targets the server's HTTPS port (--secure-port)",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnose::report::Status;

    #[test]
    fn endpoints_that_refuse_fail_and_unreachable_ones_warn() {
        let endpoint = Endpoint {
            address: "10.0.0.9".into(),
            port: 10250,
            pod: Some("ms-1".into()),
        };
        let outside = Vantage {
            namespace: "kube-system",
            in_cluster: false,
        };
        let refused = endpoint_check(&endpoint, Err(&PeekError::Refused), outside);
        assert_eq!(refused.status, Status::Fail);
        assert_eq!(refused.object, "endpoint/10.0.0.9:10250");
        assert!(
            refused.cause.starts_with("pod ms-1: connection refused"),
            "{}",
            refused.cause
        );
        assert!(
            refused
                .fix
                .unwrap()
                .contains("kubectl -n kube-system logs ms-1")
        );
        let no_answer = PeekError::Timeout(HANDSHAKE_TIMEOUT);
        let inside = Vantage {
            in_cluster: true,
            ..outside
        };
        let failed = endpoint_check(&endpoint, Err(&no_answer), inside);
        assert_eq!(failed.status, Status::Fail);
        assert!(failed.fix.unwrap().contains("hostNetwork"));
        let timeout = endpoint_check(&endpoint, Err(&no_answer), outside);
        assert_eq!(timeout.status, Status::Warn);
        assert!(timeout.fix.unwrap().contains("--serving-cert-secret"));
    }
}
