//! The messages below are kube-aggregator's (remote_available_controller.go, 1.27 to 1.37)
//! around Go's net, crypto/tls and crypto/x509 errors, as `kubectl describe apiservice` shows
//! them.

use super::*;

const URL: &str = "https://10.244.0.12:10250/apis/metrics.k8s.io/v1beta1";

fn discovery(inner: &str) -> String {
    format!("failing or missing response from {URL}: Get \"{URL}\": {inner}")
}

fn pod_target() -> Target {
    Target {
        host: "10.244.0.12".to_string(),
        port: Some(10250),
    }
}

fn kube_system_ms() -> ServiceRef {
    ServiceRef::new("kube-system", "metrics-server")
}

#[test]
fn dial_timeout_names_the_address_and_the_pod_network_fixes() {
    let e = explain(
        "FailedDiscoveryCheck",
        &discovery("dial tcp 10.244.0.12:10250: i/o timeout"),
    );
    assert_eq!(
        e.problem,
        Problem::Unreachable {
            target: pod_target(),
            failure: NetFailure::Timeout
        }
    );
    assert_eq!(
        e.summary,
        "the apiserver cannot reach 10.244.0.12 on port 10250 (the connection times out)"
    );
    let fixes = e.fix_line();
    assert!(fixes.contains("hostNetwork: true"), "{fixes}");
    assert!(fixes.contains("NetworkPolicy"), "{fixes}");
    assert!(fixes.contains("security group"), "{fixes}");
    assert!(fixes.contains("--enable-aggregator-routing"), "{fixes}");
}

#[test]
fn client_timeout_on_the_cluster_ip_is_a_timeout() {
    let url = "https://10.96.25.120:443/apis/metrics.k8s.io/v1beta1";
    let message = format!(
        "failing or missing response from {url}: Get \"{url}\": context deadline exceeded \
         (Client.Timeout exceeded while awaiting headers)"
    );
    let e = explain("FailedDiscoveryCheck", &message);
    assert_eq!(e.problem.kind(), "unreachable_timeout");
    assert!(
        e.summary.contains("10.96.25.120 on port 443"),
        "{}",
        e.summary
    );
    let bare = explain(
        "FailedDiscoveryCheck",
        &discovery("context deadline exceeded"),
    );
    assert_eq!(bare.problem.kind(), "unreachable_timeout");
    let waited = explain(
        "FailedDiscoveryCheck",
        &format!("timed out waiting for {URL}"),
    );
    assert_eq!(
        waited.problem,
        Problem::Unreachable {
            target: pod_target(),
            failure: NetFailure::Timeout
        }
    );
}

#[test]
fn connection_refused_says_nothing_listens() {
    let e = explain(
        "FailedDiscoveryCheck",
        &discovery("dial tcp 10.244.0.12:10250: connect: connection refused"),
    );
    assert_eq!(
        e.problem,
        Problem::Refused {
            target: pod_target()
        }
    );
    assert!(
        e.summary.contains("nothing listens on port 10250"),
        "{}",
        e.summary
    );
    assert!(e.fix_line().contains("targetPort"), "{}", e.fix_line());
}

#[test]
fn no_route_to_an_ipv6_pod_keeps_the_brackets() {
    let url = "https://[fd00:10:244::5]:10250/apis/metrics.k8s.io/v1beta1";
    let message = format!(
        "failing or missing response from {url}: Get \"{url}\": dial tcp \
         [fd00:10:244::5]:10250: connect: no route to host"
    );
    let e = explain("FailedDiscoveryCheck", &message);
    assert_eq!(
        e.problem,
        Problem::Unreachable {
            target: Target {
                host: "[fd00:10:244::5]".to_string(),
                port: Some(10250)
            },
            failure: NetFailure::NoRoute
        }
    );
}

#[test]
fn unknown_authority_points_at_the_ca_bundle() {
    for inner in [
        "tls: failed to verify certificate: x509: certificate signed by unknown authority",
        "x509: certificate signed by unknown authority (possibly because of \"crypto/rsa: \
         verification error\" while trying to verify candidate authority certificate \
         \"metrics-server-ca\")",
    ] {
        let e = explain("FailedDiscoveryCheck", &discovery(inner));
        assert_eq!(
            e.problem,
            Problem::UnknownAuthority {
                target: pod_target()
            },
            "{inner}"
        );
        assert!(e.fixes[0].contains("caBundle"), "{:?}", e.fixes);
    }
}

#[test]
fn name_mismatch_says_which_names_and_which_name_is_wanted() {
    let e = explain(
        "FailedDiscoveryCheck",
        &discovery(
            "tls: failed to verify certificate: x509: certificate is valid for localhost, \
             metrics-server, not metrics-server.kube-system.svc",
        ),
    );
    assert_eq!(
        e.problem,
        Problem::NameMismatch {
            target: pod_target(),
            valid_for: "localhost, metrics-server".to_string(),
            wanted: "metrics-server.kube-system.svc".to_string(),
        }
    );
    assert!(
        e.summary
            .contains("valid for localhost, metrics-server, not metrics-server.kube-system.svc"),
        "{}",
        e.summary
    );
    assert!(
        e.fixes[0].contains("metrics-server.kube-system.svc"),
        "{:?}",
        e.fixes
    );
    let none = explain(
        "FailedDiscoveryCheck",
        &discovery(
            "tls: failed to verify certificate: x509: certificate is not valid for any names, \
             but wanted to match metrics-server.kube-system.svc",
        ),
    );
    assert_eq!(none.problem.kind(), "certificate_name_mismatch");
    assert!(
        none.summary
            .contains("does not name metrics-server.kube-system.svc")
    );
}

#[test]
fn expired_certificate_is_told_apart_from_other_x509_errors() {
    let e = explain(
        "FailedDiscoveryCheck",
        &discovery(
            "tls: failed to verify certificate: x509: certificate has expired or is not yet \
             valid: current time 2026-03-01T10:00:00Z is after 2026-02-28T09:00:00Z",
        ),
    );
    assert_eq!(e.problem.kind(), "certificate_expired");
    assert!(
        e.summary.contains("is after 2026-02-28T09:00:00Z"),
        "{}",
        e.summary
    );
    let usage = explain(
        "FailedDiscoveryCheck",
        &discovery(
            "tls: failed to verify certificate: x509: certificate specifies an incompatible \
             key usage",
        ),
    );
    assert_eq!(usage.problem.kind(), "certificate_invalid");
}

#[test]
fn status_401_and_403_name_the_authentication_bindings() {
    let unauthorized = explain(
        "FailedDiscoveryCheck",
        &format!("bad status from {URL}: 401"),
    );
    assert_eq!(
        unauthorized.problem,
        Problem::Unauthorized {
            target: pod_target()
        }
    );
    assert!(
        unauthorized
            .fix_line()
            .contains("extension-apiserver-authentication-reader")
    );
    let forbidden = explain(
        "FailedDiscoveryCheck",
        &format!("bad status from {URL}: 403"),
    );
    assert_eq!(
        forbidden.problem,
        Problem::Forbidden {
            target: pod_target()
        }
    );
    assert!(forbidden.fix_line().contains("system:auth-delegator"));
    assert!(forbidden.summary.contains("HTTP 403"));
    let other = explain(
        "FailedDiscoveryCheck",
        &format!("bad status from {URL}: 503"),
    );
    assert_eq!(
        other.problem,
        Problem::BadStatus {
            target: pod_target(),
            status: 503
        }
    );
}

#[test]
fn rejected_client_certificate_and_plain_http_are_recognised() {
    let tls = explain(
        "FailedDiscoveryCheck",
        &discovery("remote error: tls: bad certificate"),
    );
    assert_eq!(tls.problem.kind(), "client_certificate_rejected");
    assert!(tls.fix_line().contains("requestheader"));
    let http = explain(
        "FailedDiscoveryCheck",
        &discovery("http: server gave HTTP response to HTTPS client"),
    );
    assert_eq!(
        http.problem,
        Problem::NotTls {
            target: pod_target()
        }
    );
    let eof = explain("FailedDiscoveryCheck", &discovery("EOF"));
    assert_eq!(eof.problem.kind(), "connection_reset");
}

#[test]
fn service_not_found_names_the_service() {
    let e = explain(
        "ServiceNotFound",
        "service/metrics-server in \"kube-system\" is not present",
    );
    assert_eq!(
        e.problem,
        Problem::ServiceNotFound {
            service: kube_system_ms()
        }
    );
    assert_eq!(
        e.summary,
        "the APIService points at service/metrics-server in \"kube-system\", which does not exist"
    );
}

#[test]
fn service_port_error_names_the_port() {
    let e = explain(
        "ServicePortError",
        "service/metrics-server in \"kube-system\" is not listening on port 443",
    );
    assert_eq!(
        e.problem,
        Problem::ServicePortMissing {
            service: kube_system_ms(),
            port: 443
        }
    );
}

#[test]
fn missing_endpoints_in_both_wordings_point_at_readiness() {
    for message in [
        "endpoints for service/metrics-server in \"kube-system\" have no addresses with port \
         name \"https\"",
        "endpointslices for service/metrics-server in \"kube-system\" have no addresses with \
         port name \"https\"",
    ] {
        let e = explain("MissingEndpoints", message);
        assert_eq!(
            e.problem,
            Problem::NoReadyEndpoints {
                service: Some(kube_system_ms()),
                port_name: Some("https".to_string())
            },
            "{message}"
        );
        assert_eq!(
            e.summary,
            "the Service kube-system/metrics-server has no Ready pod behind its port \"https\""
        );
        assert!(e.fixes[0].contains("not Ready"), "{:?}", e.fixes);
    }
    let resolver = explain(
        "FailedDiscoveryCheck",
        "no endpoints available for service \"metrics-server\"",
    );
    assert_eq!(resolver.problem.kind(), "no_ready_endpoints");
}

#[test]
fn endpoints_not_found_in_both_wordings() {
    for message in [
        "cannot find endpoints for service/metrics-server in \"kube-system\"",
        "cannot find endpointslices for service/metrics-server in \"kube-system\"",
    ] {
        assert_eq!(
            classify("EndpointsNotFound", message),
            Problem::EndpointsNotFound {
                service: kube_system_ms()
            }
        );
    }
}

#[test]
fn access_errors_keep_the_cause() {
    let p = classify(
        "ServiceAccessError",
        "service/metrics-server in \"kube-system\" cannot be checked due to: etcdserver: \
         request timed out",
    );
    assert_eq!(
        p,
        Problem::AccessError {
            service: Some(kube_system_ms()),
            cause: "etcdserver: request timed out".to_string()
        }
    );
}

#[test]
fn available_conditions_need_no_fix() {
    for reason in ["Passed", "Local"] {
        let e = explain_condition("True", reason, "all checks passed");
        assert_eq!(e.problem, Problem::Available);
        assert!(e.fixes.is_empty());
        assert_eq!(e.to_string(), "the APIService is available");
    }
}

#[test]
fn unknown_text_is_kept_not_guessed() {
    let e = explain("SomethingNew", "the aggregator changed its words");
    assert_eq!(
        e.problem,
        Problem::Unrecognized {
            reason: "SomethingNew".to_string(),
            message: "the aggregator changed its words".to_string()
        }
    );
    assert!(e.summary.contains("the aggregator changed its words"));
    let odd = explain("FailedDiscoveryCheck", &discovery("something else broke"));
    assert_eq!(odd.problem.kind(), "unrecognized");
}

#[test]
fn display_joins_summary_and_fixes() {
    let e = explain(
        "ServiceNotFound",
        "service/metrics-server in \"kube-system\" is not present",
    );
    let text = e.to_string();
    assert!(text.starts_with("the APIService points at service/metrics-server"));
    assert!(
        text.contains(". Fix: create the Service kube-system/metrics-server"),
        "{text}"
    );
    assert!(
        text.contains("; or: if you removed this provider"),
        "{text}"
    );
}

#[test]
fn huge_messages_are_cut_on_a_char_boundary() {
    let message = format!("{}é{}", "x".repeat(MAX_MESSAGE - 1), "y".repeat(10_000));
    let Problem::Unrecognized { message: kept, .. } = classify("Odd", &message) else {
        panic!("recognised");
    };
    assert_eq!(kept.len(), MAX_MESSAGE - 1);
}

#[test]
fn serving_name_is_service_dot_namespace_dot_svc() {
    assert_eq!(
        kube_system_ms().serving_name(),
        "metrics-server.kube-system.svc"
    );
}

#[test]
fn alternative_fixes_read_as_one_sentence_each() {
    // The line joins the fixes with "; or: ", so a fix of its own must not start with "or".
    for inner in [
        "tls: failed to verify certificate: x509: certificate signed by unknown authority",
        "tls: failed to verify certificate: x509: certificate is valid for localhost, \
         metrics-server, not metrics-server.kube-system.svc",
    ] {
        let e = explain("FailedDiscoveryCheck", &discovery(inner));
        let line = e.fix_line();
        assert!(e.fixes.len() > 1, "{line}");
        assert!(!line.contains("; or: or"), "{line}");
    }
}
