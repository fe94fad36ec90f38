//! The serving certificate as the aggregator sees it: fetched by a TLS handshake with a
//! ready endpoint (or read from a Secret), its SANs must cover `NAME.NAMESPACE.svc` (the name
//! the aggregator verifies), and each APIService's `caBundle` must verify it — or the
//! APIService skips verification (`insecureSkipTLSVerify`), which works but is warned about.

use std::sync::Arc;

use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::ServerCertVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, RootCertStore};

use super::apiservice::Ours;
use super::cluster_api::{self, ReadError};
use super::report::{Check, Report};
use super::service::Endpoint;
use super::serving_endpoint::{Vantage, from_endpoints};
use crate::config::diagnose::ObjectName;
use crate::x509_name::{alt_names_of, issuer_of, subject_of};

/// The name the aggregator verifies the serving certificate for.
pub fn aggregator_host(service: &ObjectName) -> String {
    format!("{}.{}.svc", service.name, service.namespace)
}

/// Where the serving certificate is read from: a Secret, else the Service's ready endpoints.
pub enum Source<'a> {
    Secret(&'a ObjectName),
    Endpoints(&'a [Endpoint]),
}

/// Fetches the serving certificate and checks it against the APIServices that point at us.
pub async fn check(
    client: &kube::Client,
    service: &ObjectName,
    source: Source<'_>,
    in_cluster: bool,
    ours: &[Ours],
    report: &mut Report,
) {
    let host = aggregator_host(service);
    let vantage = Vantage {
        namespace: &service.namespace,
        in_cluster,
    };
    let chain = match source {
        Source::Secret(secret) => from_secret(client, secret, report).await,
        Source::Endpoints(endpoints) => from_endpoints(&host, endpoints, vantage, report).await,
    };
    let Some((chain, source)) = chain else {
        report.extend(ours.iter().filter_map(setting_without_certificate));
        return;
    };
    let enforced = ours.iter().any(|o| !skips_verification(o));
    report.push(names_check(&host, &chain, &source, enforced));
    let now = UnixTime::now();
    report.extend(ours.iter().map(|o| ca_bundle_check(o, &chain, &host, now)));
}

async fn from_secret(
    client: &kube::Client,
    secret: &ObjectName,
    report: &mut Report,
) -> Option<(Vec<CertificateDer<'static>>, String)> {
    let object = format!("secret/{secret}");
    let api: Api<Secret> = Api::namespaced(client.clone(), &secret.namespace);
    let found = match cluster_api::get(&api, &secret.name).await {
        Ok(found) => found,
        Err(ReadError::NotFound) => {
            report.push(Check::fail(
                "serving-cert",
                object,
                "does not exist",
                "pass the Secret the server mounts its --tls-cert-file from",
            ));
            return None;
        }
        Err(err) => {
            report.push(Check::warn(
                "serving-cert",
                object,
                format!("not checked: {err}"),
                "run diagnose with a kubeconfig that may get this Secret",
            ));
            return None;
        }
    };
    let pem = found
        .data
        .as_ref()
        .and_then(|d| d.get("tls.crt"))
        .map(|b| b.0.clone())
        .unwrap_or_default();
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem)
        .filter_map(Result::ok)
        .collect();
    if chain.is_empty() {
        report.push(Check::fail(
            "serving-cert",
            object,
            "has no PEM certificate under tls.crt",
            "store the serving pair as a kubernetes.io/tls Secret (kubectl create secret tls)",
        ));
        return None;
    }
    Some((chain, format!("in Secret {secret}")))
}

fn skips_verification(ours: &Ours) -> bool {
    ours.spec.insecure_skip_tls_verify == Some(true)
}

fn object(ours: &Ours) -> String {
    format!("apiservice/{}", ours.name)
}

fn insecure(ours: &Ours) -> Check {
    Check::warn(
        "apiservice-tls",
        object(ours),
        "insecureSkipTLSVerify is set: the aggregator accepts any certificate from the Service \
         (it works, but anything answering there is trusted)",
        format!(
            "issue a CA and certificate (metrics-server certs) and set the caBundle, or run the \
             server with --self-managed-ca; then kubectl patch apiservice {} --type=merge -p \
             '{{\"spec\":{{\"insecureSkipTLSVerify\":false,\"caBundle\":\"<base64 ca.crt>\"}}}}'",
            ours.name
        ),
    )
}

fn no_ca_bundle(ours: &Ours) -> Check {
    Check::fail(
        "apiservice-tls",
        object(ours),
        "neither caBundle nor insecureSkipTLSVerify is set: the aggregator verifies the \
         serving certificate against no CA (x509: certificate signed by unknown authority)",
        format!(
            "set the caBundle to the CA that issued the serving certificate: kubectl patch \
             apiservice {} --type=merge -p '{{\"spec\":{{\"caBundle\":\"<base64 ca.crt>\"}}}}' \
             (metrics-server certs prints it), or run the server with --self-managed-ca",
            ours.name
        ),
    )
}

/// What can be said of an APIService's TLS setting when no certificate could be fetched.
pub fn setting_without_certificate(ours: &Ours) -> Option<Check> {
    if skips_verification(ours) {
        return Some(insecure(ours));
    }
    match &ours.spec.ca_bundle {
        Some(bundle) if !bundle.0.is_empty() => None,
        _ => Some(no_ca_bundle(ours)),
    }
}

/// `*.b.c` matches `a.b.c`; otherwise names match case-insensitively.
fn san_matches(san: &str, host: &str) -> bool {
    match san.strip_prefix("*.") {
        Some(rest) => host
            .split_once('.')
            .is_some_and(|(label, tail)| !label.is_empty() && tail.eq_ignore_ascii_case(rest)),
        None => san.eq_ignore_ascii_case(host),
    }
}

/// Whether the leaf names `host`; a failure only when some APIService verifies it.
pub fn names_check(
    host: &str,
    chain: &[CertificateDer<'_>],
    source: &str,
    enforced: bool,
) -> Check {
    let object = "certificate/serving".to_owned();
    let Some(names) = chain.first().and_then(|leaf| alt_names_of(leaf)) else {
        return Check::fail(
            "serving-cert-names",
            object,
            format!("the certificate {source} does not parse"),
            "serve a PEM X.509 certificate (--tls-cert-file)",
        );
    };
    let presented: Vec<String> = (names.dns.iter().cloned())
        .chain(names.ips.iter().map(ToString::to_string))
        .collect();
    let presented = match presented.is_empty() {
        true => "no SANs".to_owned(),
        false => format!("SANs: {}", presented.join(", ")),
    };
    if names.dns.iter().any(|san| san_matches(san, host)) {
        return Check::ok(
            "serving-cert-names",
            object,
            format!("the certificate {source} is valid for {host} ({presented})"),
        );
    }
    let cause = format!(
        "the certificate {source} is not valid for {host}, the name the aggregator verifies \
         ({presented}): x509: certificate is valid for …, not {host}"
    );
    let fix = format!(
        "serve a certificate for the Service's names: metrics-server certs --service-name {} \
         --namespace {} (then --tls-cert-file/--tls-private-key-file), or run the server with \
         --self-managed-ca",
        host.split('.').next().unwrap_or_default(),
        host.split('.').nth(1).unwrap_or_default()
    );
    match enforced {
        true => Check::fail("serving-cert-names", object, cause, fix),
        false => Check::warn(
            "serving-cert-names",
            object,
            format!("{cause}; unchecked while insecureSkipTLSVerify is set"),
            fix,
        ),
    }
}

fn common_name(
    der: Option<&CertificateDer<'_>>,
    of: fn(&[u8]) -> Option<crate::x509_name::Subject>,
) -> String {
    der.and_then(|d| of(d))
        .map(|s| format!("CN={}", s.common_name))
        .unwrap_or_else(|| "an unreadable name".to_owned())
}

/// Whether `ours`'s caBundle verifies `chain` for `host` at `now`.
pub fn ca_bundle_check(
    ours: &Ours,
    chain: &[CertificateDer<'_>],
    host: &str,
    now: UnixTime,
) -> Check {
    if skips_verification(ours) {
        return insecure(ours);
    }
    let bundle = match &ours.spec.ca_bundle {
        Some(bundle) if !bundle.0.is_empty() => bundle.0.as_slice(),
        _ => return no_ca_bundle(ours),
    };
    let roots: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(bundle)
        .filter_map(Result::ok)
        .collect();
    let mut store = RootCertStore::empty();
    let (added, _) = store.add_parsable_certificates(roots.iter().cloned());
    let (Some(leaf), true) = (chain.first(), added > 0) else {
        return Check::fail(
            "apiservice-tls",
            object(ours),
            "the caBundle holds no PEM CA certificate the aggregator could use",
            format!(
                "set spec.caBundle of {} to the base64 of the CA's PEM (base64 -w0 ca.crt)",
                ours.name
            ),
        );
    };
    let bundle_ca = common_name(roots.first(), subject_of);
    let verified = verify(store, leaf, &chain[1..], host, now);
    match verified {
        Ok(()) => Check::ok(
            "apiservice-tls",
            object(ours),
            format!("caBundle ({bundle_ca}) verifies the serving certificate for {host}"),
        ),
        Err(err) => ca_bundle_failure(ours, &bundle_ca, leaf, host, &err),
    }
}

fn verify(
    store: RootCertStore,
    leaf: &CertificateDer<'_>,
    intermediates: &[CertificateDer<'_>],
    host: &str,
    now: UnixTime,
) -> Result<(), rustls::Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = WebPkiServerVerifier::builder_with_provider(Arc::new(store), provider)
        .build()
        .map_err(|e| rustls::Error::General(e.to_string()))?;
    let name =
        ServerName::try_from(host.to_owned()).map_err(|e| rustls::Error::General(e.to_string()))?;
    verifier
        .verify_server_cert(leaf, intermediates, &name, &[], now)
        .map(drop)
}

fn ca_bundle_failure(
    ours: &Ours,
    bundle_ca: &str,
    leaf: &CertificateDer<'_>,
    host: &str,
    err: &rustls::Error,
) -> Check {
    let issuer = common_name(Some(leaf), issuer_of);
    let set_bundle = format!(
        "kubectl patch apiservice {} --type=merge -p \
         '{{\"spec\":{{\"caBundle\":\"'$(base64 -w0 ca.crt)'\"}}}}' with the ca.crt that issued \
         the serving certificate (metrics-server certs prints it), or run the server with \
         --self-managed-ca",
        ours.name
    );
    let (cause, fix) = match err {
        rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer) => (
            format!(
                "the caBundle ({bundle_ca}) does not verify the serving certificate, issued by \
                 {issuer}: the aggregator refuses it (x509: certificate signed by unknown \
                 authority) and the APIService turns unavailable"
            ),
            format!("put the issuing CA into the caBundle: {set_bundle}"),
        ),
        rustls::Error::InvalidCertificate(
            CertificateError::Expired | CertificateError::ExpiredContext { .. },
        ) => (
            format!("the serving certificate has expired ({err})"),
            "issue a new serving certificate from the same CA; the server reloads \
             --tls-cert-file without a restart"
                .to_owned(),
        ),
        rustls::Error::InvalidCertificate(
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
        ) => (
            format!(
                "the caBundle ({bundle_ca}) verifies the chain, but the certificate is not valid for {host} ({err})"
            ),
            "serve a certificate for the Service's names (see serving-cert-names)".to_owned(),
        ),
        other => (
            format!("the caBundle ({bundle_ca}) does not verify the serving certificate: {other}"),
            format!("check the caBundle: {set_bundle}"),
        ),
    };
    Check::fail("apiservice-tls", object(ours), cause, fix)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnose::report::Status;
    use crate::pki::CertAuthority;
    use k8s_openapi::ByteString;
    use k8s_openapi::kube_aggregator::pkg::apis::apiregistration::v1::APIServiceSpec;
    use std::time::Duration;

    const HOST: &str = "metrics-server.kube-system.svc";

    fn chain(pem: &str) -> Vec<CertificateDer<'static>> {
        CertificateDer::pem_slice_iter(pem.as_bytes())
            .collect::<Result<_, _>>()
            .unwrap()
    }

    fn ours(bundle: Option<&str>, insecure: Option<bool>) -> Ours {
        Ours {
            name: "v1beta1.metrics.k8s.io",
            spec: APIServiceSpec {
                ca_bundle: bundle.map(|b| ByteString(b.as_bytes().to_vec())),
                insecure_skip_tls_verify: insecure,
                ..APIServiceSpec::default()
            },
        }
    }

    #[test]
    fn the_ca_bundle_must_verify_the_served_certificate() {
        let (ca, serving, _) = crate::certs::issue(
            "metrics-server",
            "kube-system",
            "cluster.local",
            Duration::from_secs(3600),
            Duration::from_secs(7200),
        )
        .unwrap();
        let served = chain(&serving.cert_pem);
        let now = UnixTime::now();
        let good = ca_bundle_check(&ours(Some(ca.cert_pem()), None), &served, HOST, now);
        assert_eq!(good.status, Status::Ok, "{good:?}");
        assert!(
            good.cause.contains("CN=metrics-server-ca"),
            "{}",
            good.cause
        );

        let other = CertAuthority::new("front-proxy-ca").unwrap();
        let wrong = ca_bundle_check(&ours(Some(other.cert_pem()), None), &served, HOST, now);
        assert_eq!(wrong.status, Status::Fail);
        assert!(
            wrong.cause.contains("caBundle (CN=front-proxy-ca) does not verify the serving certificate, issued by CN=metrics-server-ca"),
            "{}",
            wrong.cause
        );
        assert!(
            wrong
                .fix
                .unwrap()
                .contains("kubectl patch apiservice v1beta1.metrics.k8s.io")
        );

        let garbage = ca_bundle_check(&ours(Some("not pem"), None), &served, HOST, now);
        assert_eq!(garbage.status, Status::Fail);
        assert!(
            garbage.cause.contains("no PEM CA certificate"),
            "{}",
            garbage.cause
        );
    }

    #[test]
    fn skipping_verification_warns_and_no_setting_at_all_fails() {
        let ca = CertAuthority::new("x").unwrap();
        let served = chain(&ca.issue_server("s", &[HOST], &[]).unwrap().cert_pem);
        let now = UnixTime::now();
        let skip = ca_bundle_check(&ours(None, Some(true)), &served, HOST, now);
        assert_eq!(skip.status, Status::Warn);
        assert!(
            skip.cause.contains("insecureSkipTLSVerify"),
            "{}",
            skip.cause
        );
        assert_eq!(
            ca_bundle_check(&ours(None, None), &served, HOST, now).status,
            Status::Fail
        );
        assert_eq!(
            setting_without_certificate(&ours(None, None))
                .unwrap()
                .status,
            Status::Fail
        );
        assert!(setting_without_certificate(&ours(Some("pem"), None)).is_none());
    }

    #[test]
    fn the_certificate_must_name_the_service_as_the_aggregator_dials_it() {
        let ca = CertAuthority::new("x").unwrap();
        let localhost = chain(
            &ca.issue_server("localhost", &["localhost"], &["127.0.0.1".parse().unwrap()])
                .unwrap()
                .cert_pem,
        );
        let check = names_check(HOST, &localhost, "served at 10.0.0.1:10250", true);
        assert_eq!(check.status, Status::Fail);
        assert!(
            check.cause.contains("SANs: localhost, 127.0.0.1"),
            "{}",
            check.cause
        );
        assert!(check.fix.unwrap().contains(
            "metrics-server certs --service-name metrics-server --namespace kube-system"
        ));
        let relaxed = names_check(HOST, &localhost, "x", false);
        assert_eq!(relaxed.status, Status::Warn);

        let wildcard = chain(
            &ca.issue_server("w", &["*.kube-system.svc"], &[])
                .unwrap()
                .cert_pem,
        );
        assert_eq!(names_check(HOST, &wildcard, "x", true).status, Status::Ok);
        assert!(!san_matches("*.svc", HOST));
        assert!(san_matches("METRICS-server.kube-system.svc", HOST));
    }
}
