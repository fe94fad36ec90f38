//! A kubelet's serving certificate judged the way the server verifies it (pain point 1): the
//! chain must lead to the kubelet CA (`--kubelet-certificate-authority`, else the
//! kubeconfig's CA), and name the dialled address — or, dialled at an IP without an IP SAN,
//! the node's name ([`crate::kubelet::verify`]: this server accepts that, other clients do
//! not). A failure says which check failed (unknown CA, self-signed, names, expired, not yet
//! valid) and how to make verification pass; turning it off is never the first answer.

use std::net::IpAddr;
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::ServerCertVerifier;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, RootCertStore};

use super::report::Check;
use crate::cluster::NodeInfo;
use crate::kubelet::address::{certificate_names, unbracketed};
use crate::kubelet::verify::{KubeletVerifier, NodeNames, TlsFailure};
use crate::x509_name::{AltNames, alt_names_of, is_self_issued, issuer_of, subject_of};

/// How a kubelet certificate came out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Valid for the dialled address.
    Verified,
    /// No SAN for the dialled IP, but it names the node (`name`): this server accepts it.
    VerifiedByNodeName {
        name: String,
    },
    /// The chain does not lead to a trusted CA; `self_signed` when the kubelet made it
    /// itself (a self-issued certificate, or its `<host>-ca@<time>` CA).
    UnknownAuthority {
        self_signed: bool,
        issuer: String,
        trusted: Vec<String>,
    },
    /// Valid for neither the dialled address nor the node's names.
    NameMismatch {
        presented: AltNames,
    },
    Expired(String),
    NotYetValid(String),
    Other(String),
}

/// Judges `chain` (leaf first) presented by `node`'s kubelet dialled at `dialled`, with the
/// CA certificates `roots`, at `now`.
pub fn judge(
    chain: &[CertificateDer<'_>],
    dialled: &str,
    node: &NodeInfo,
    roots: &[CertificateDer<'static>],
    now: UnixTime,
) -> Verdict {
    let Some(leaf) = chain.first() else {
        return Verdict::Other("no certificate presented".to_owned());
    };
    let trusted: Vec<String> = roots
        .iter()
        .filter_map(|r| subject_of(r))
        .map(|s| format!("CN={}", s.common_name))
        .collect();
    let mut store = RootCertStore::empty();
    store.add_parsable_certificates(roots.iter().cloned());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let Ok(webpki) = WebPkiServerVerifier::builder_with_provider(Arc::new(store), provider).build()
    else {
        return unknown_authority(chain, trusted);
    };
    let host = unbracketed(dialled);
    let Ok(server_name) = ServerName::try_from(host.to_owned()) else {
        return Verdict::Other(format!("{host} is neither an IP nor a DNS name"));
    };
    let intermediates = &chain[1..];
    let strict = webpki.verify_server_cert(leaf, intermediates, &server_name, &[], now);
    let err = match strict {
        Ok(_) => return Verdict::Verified,
        Err(err) => err,
    };
    if TlsFailure::classify(&err) == TlsFailure::NameMismatch
        && let Ok(ip) = host.parse::<IpAddr>()
    {
        let names = NodeNames::new();
        names.remember(ip, &certificate_names(node));
        let server = KubeletVerifier::new(webpki.clone(), names);
        if server
            .verify_server_cert(leaf, intermediates, &server_name, &[], now)
            .is_ok()
        {
            let name = certificate_names(node)
                .into_iter()
                .find(|name| {
                    ServerName::try_from(name.to_string()).is_ok_and(|n| {
                        webpki
                            .verify_server_cert(leaf, intermediates, &n, &[], now)
                            .is_ok()
                    })
                })
                .unwrap_or_default()
                .to_owned();
            return Verdict::VerifiedByNodeName { name };
        }
    }
    match TlsFailure::classify(&err) {
        TlsFailure::UnknownAuthority => unknown_authority(chain, trusted),
        TlsFailure::NameMismatch => Verdict::NameMismatch {
            presented: alt_names_of(leaf).unwrap_or_default(),
        },
        TlsFailure::Expired => Verdict::Expired(err.to_string()),
        TlsFailure::NotYetValid => Verdict::NotYetValid(err.to_string()),
        _ => match err {
            rustls::Error::InvalidCertificate(CertificateError::BadEncoding) => {
                Verdict::Other("the certificate does not parse".to_owned())
            }
            other => Verdict::Other(other.to_string()),
        },
    }
}

fn unknown_authority(chain: &[CertificateDer<'_>], trusted: Vec<String>) -> Verdict {
    let issuer = chain.first().and_then(|leaf| issuer_of(leaf));
    let self_signed = chain.iter().any(|c| is_self_issued(c).unwrap_or(false))
        || issuer
            .as_ref()
            .is_some_and(|i| made_by_kubelet(&i.common_name));
    Verdict::UnknownAuthority {
        self_signed,
        issuer: issuer
            .map(|s| format!("CN={}", s.common_name))
            .unwrap_or_else(|| "an unreadable issuer".to_owned()),
        trusted,
    }
}

/// The CA a kubelet makes for its own serving certificate is named `<host>-ca@<unix time>`.
fn made_by_kubelet(issuer_cn: &str) -> bool {
    issuer_cn
        .rsplit_once("-ca@")
        .is_some_and(|(_, time)| !time.is_empty() && time.bytes().all(|b| b.is_ascii_digit()))
}

/// `--kubelet-preferred-address-types` with `first` moved to the front.
fn address_types_with_first(first: &str, preferred: &[String]) -> String {
    std::iter::once(first)
        .chain(preferred.iter().map(String::as_str).filter(|t| *t != first))
        .collect::<Vec<_>>()
        .join(",")
}

/// The type of the node's address equal to `name`, if any.
fn address_type_of<'a>(node: &'a NodeInfo, name: &str) -> Option<&'a str> {
    node.addresses
        .iter()
        .find(|(_, address)| address.eq_ignore_ascii_case(name))
        .map(|(ty, _)| ty.as_str())
}

/// The address type whose address the certificate names, if any.
fn named_address_type<'a>(node: &'a NodeInfo, presented: &AltNames) -> Option<&'a str> {
    node.addresses
        .iter()
        .find(|(_, address)| {
            presented
                .dns
                .iter()
                .any(|d| d.eq_ignore_ascii_case(address))
                || address
                    .parse::<IpAddr>()
                    .is_ok_and(|ip| presented.ips.contains(&ip))
        })
        .map(|(ty, _)| ty.as_str())
}

fn presented_text(presented: &AltNames) -> String {
    let all: Vec<String> = (presented.dns.iter().map(|d| format!("DNS:{d}")))
        .chain(presented.ips.iter().map(|ip| format!("IP:{ip}")))
        .collect();
    match all.is_empty() {
        true => "no SANs".to_owned(),
        false => all.join(", "),
    }
}

const SERVING_CERTS: &str = "enable serverTLSBootstrap: true in the kubelet configuration and \
    approve the kubelets' kubernetes.io/kubelet-serving CSRs (kubectl get csr; kubectl \
    certificate approve NAME), so the cluster CA signs them for the node's names and IPs";

/// The host of `host:port` (`[v6]:port` gives the address without brackets).
fn host_of(dialled: &str) -> &str {
    match dialled.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(v6),
        None => match dialled.matches(':').count() {
            1 => dialled.split(':').next().unwrap_or(dialled),
            _ => dialled,
        },
    }
}

/// The report line of a verdict for the kubelet of `node` dialled at `dialled`
/// (`host:port`).
/// `preferred` is `--kubelet-preferred-address-types`.
pub fn tls_check(node: &NodeInfo, dialled: &str, verdict: &Verdict, preferred: &[String]) -> Check {
    let object = format!("node/{}", node.name);
    let at = format!("the kubelet certificate at {dialled}");
    let host = host_of(dialled);
    match verdict {
        Verdict::Verified => Check::ok(
            "kubelet-tls",
            object,
            format!("{at} verifies for the address dialled"),
        ),
        Verdict::VerifiedByNodeName { name } => {
            let dial_name = match address_type_of(node, name) {
                Some(ty) => format!(
                    "dial the name instead with --kubelet-preferred-address-types={} (if it \
                     resolves from the server's pod), or ",
                    address_types_with_first(ty, preferred)
                ),
                None => String::new(),
            };
            Check::warn(
                "kubelet-tls",
                object,
                format!(
                    "{at} has no IP SAN for {host}, only the node's name {name}: this server \
                     verifies it against the node's name, but clients dialling the IP (upstream \
                     metrics-server, Prometheus) fail with \"x509: cannot validate certificate \
                     for {host} because it doesn't contain any IP SANs\""
                ),
                format!("{dial_name}{SERVING_CERTS}"),
            )
        }
        Verdict::UnknownAuthority {
            self_signed: true, ..
        } => Check::fail(
            "kubelet-tls",
            object,
            format!(
                "{at} is self-signed (the kubelet's own, made without serverTLSBootstrap): x509: \
                 certificate signed by unknown authority, the scrape fails"
            ),
            format!(
                "{SERVING_CERTS}; or pass the CA that signs the kubelet certificates with \
                 --kubelet-certificate-authority (--kubelet-insecure-tls, which turns \
                 verification off, only as a last resort)"
            ),
        ),
        Verdict::UnknownAuthority {
            issuer, trusted, ..
        } => Check::fail(
            "kubelet-tls",
            object,
            format!(
                "{at} is issued by {issuer}, which is not a trusted CA ({}): x509: certificate \
                 signed by unknown authority, the scrape fails",
                match trusted.is_empty() {
                    true => "no CA given".to_owned(),
                    false => format!("trusted: {}", trusted.join(", ")),
                }
            ),
            format!(
                "pass {issuer}'s certificate with --kubelet-certificate-authority (it replaces \
                 the kubeconfig's CA for kubelets), or {SERVING_CERTS}"
            ),
        ),
        Verdict::NameMismatch { presented } => {
            let fix = match named_address_type(node, presented) {
                Some(ty) => format!(
                    "the certificate names the node's {ty} address: use \
                     --kubelet-preferred-address-types={}",
                    address_types_with_first(ty, preferred)
                ),
                None => format!("reissue the kubelet certificate for the node: {SERVING_CERTS}"),
            };
            Check::fail(
                "kubelet-tls",
                object,
                format!(
                    "{at} is valid neither for {host} nor for the node's names ({}): x509: \
                     certificate is valid for …, not {host}",
                    presented_text(presented)
                ),
                fix,
            )
        }
        Verdict::Expired(detail) => Check::fail(
            "kubelet-tls",
            object,
            format!("{at} has expired ({detail})"),
            "the kubelet did not renew it: with serverTLSBootstrap, approve its pending \
             kubernetes.io/kubelet-serving CSR (kubectl get csr; kubectl certificate approve \
             NAME) and keep rotateCertificates on; a self-made kubelet certificate is renewed \
             by deleting it and restarting the kubelet",
        ),
        Verdict::NotYetValid(detail) => Check::fail(
            "kubelet-tls",
            object,
            format!("{at} is not valid yet ({detail})"),
            "the node's clock or this machine's is wrong (see node-clock): sync both with NTP \
             (chrony, systemd-timesyncd)",
        ),
        Verdict::Other(detail) => Check::fail(
            "kubelet-tls",
            object,
            format!("{at} does not verify: {detail}"),
            format!("serve a valid kubelet certificate: {SERVING_CERTS}"),
        ),
    }
}

/// The line of a verdict when `--kubelet-insecure-tls` turns verification off: what
/// verification with the kubeconfig's CA would say, as a warning.
pub fn insecure_check(
    node: &NodeInfo,
    dialled: &str,
    verdict: &Verdict,
    preferred: &[String],
) -> Check {
    let verified = tls_check(node, dialled, verdict, preferred);
    match verified.fix {
        None => Check::warn(
            "kubelet-tls",
            verified.object,
            format!(
                "not verified (--kubelet-insecure-tls), yet {}",
                verified.cause
            ),
            "drop --kubelet-insecure-tls: verification passes",
        ),
        Some(fix) => Check::warn(
            "kubelet-tls",
            verified.object,
            format!(
                "not verified (--kubelet-insecure-tls); verification would fail: {}",
                verified.cause
            ),
            format!("{fix}; then drop --kubelet-insecure-tls"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnose::report::Status;
    use crate::pki::CertAuthority;
    use rustls::pki_types::pem::PemObject;
    use std::time::Duration;

    fn der(pem: &str) -> Vec<CertificateDer<'static>> {
        CertificateDer::pem_slice_iter(pem.as_bytes())
            .collect::<Result<_, _>>()
            .unwrap()
    }

    fn node() -> NodeInfo {
        NodeInfo {
            name: Arc::from("node-a"),
            addresses: vec![
                ("InternalIP".into(), "10.0.0.7".into()),
                ("Hostname".into(), "node-a".into()),
            ],
            kubelet_port: None,
            metrics_path: None,
            labels: Default::default(),
            virtual_kind: None,
        }
    }

    fn preferred() -> Vec<String> {
        vec!["InternalIP".into(), "Hostname".into()]
    }

    fn ip() -> IpAddr {
        "10.0.0.7".parse().unwrap()
    }

    #[test]
    fn hosts_are_read_without_their_port() {
        assert_eq!(host_of("10.0.0.7:10250"), "10.0.0.7");
        assert_eq!(host_of("[fd00::7]:10250"), "fd00::7");
        assert_eq!(host_of("node-a"), "node-a");
        assert_eq!(host_of("fd00::7"), "fd00::7");
    }

    #[test]
    fn a_certificate_for_the_ip_verifies() {
        let ca = CertAuthority::new("kubelet-ca").unwrap();
        let cert = ca.issue_server("node-a", &["node-a"], &[ip()]).unwrap();
        let roots = der(ca.cert_pem());
        let verdict = judge(
            &der(&cert.cert_pem),
            "10.0.0.7",
            &node(),
            &roots,
            UnixTime::now(),
        );
        assert_eq!(verdict, Verdict::Verified);
        assert_eq!(
            tls_check(&node(), "10.0.0.7", &verdict, &preferred()).status,
            Status::Ok
        );
    }

    #[test]
    fn no_ip_san_but_the_hostname_warns_and_suggests_dialling_the_hostname() {
        let ca = CertAuthority::new("kubelet-ca").unwrap();
        let cert = ca.issue_server("node-a", &["node-a"], &[]).unwrap();
        let roots = der(ca.cert_pem());
        let verdict = judge(
            &der(&cert.cert_pem),
            "10.0.0.7",
            &node(),
            &roots,
            UnixTime::now(),
        );
        assert_eq!(
            verdict,
            Verdict::VerifiedByNodeName {
                name: "node-a".into()
            }
        );
        let check = tls_check(&node(), "10.0.0.7:10250", &verdict, &preferred());
        assert_eq!(check.status, Status::Warn);
        assert!(
            check.cause.contains("no IP SAN for 10.0.0.7, only"),
            "{}",
            check.cause
        );
        let fix = check.fix.unwrap();
        assert!(
            fix.contains("--kubelet-preferred-address-types=Hostname,InternalIP"),
            "{fix}"
        );
        assert!(fix.contains("serverTLSBootstrap"), "{fix}");
    }

    #[test]
    fn unknown_and_self_signed_authorities_fail_without_suggesting_insecure_tls_first() {
        let ca = CertAuthority::new("kubelet-ca").unwrap();
        let other = CertAuthority::new("other-ca").unwrap();
        let cert = other.issue_server("node-a", &["node-a"], &[ip()]).unwrap();
        let roots = der(ca.cert_pem());
        let verdict = judge(
            &der(&cert.cert_pem),
            "10.0.0.7",
            &node(),
            &roots,
            UnixTime::now(),
        );
        let Verdict::UnknownAuthority {
            self_signed,
            issuer,
            trusted,
        } = &verdict
        else {
            panic!("{verdict:?}");
        };
        assert!(!self_signed);
        assert_eq!(issuer, "CN=other-ca");
        assert_eq!(trusted, &["CN=kubelet-ca"]);
        let check = tls_check(&node(), "10.0.0.7", &verdict, &preferred());
        assert_eq!(check.status, Status::Fail);
        let fix = check.fix.unwrap();
        assert!(
            fix.starts_with("pass CN=other-ca's certificate with --kubelet-certificate-authority"),
            "{fix}"
        );
        assert!(!fix.contains("insecure"), "{fix}");

        // What a kubelet makes for itself without serverTLSBootstrap: a leaf issued by its
        // own `<host>-ca@<time>` CA, sent with that CA.
        let own_ca = CertAuthority::new("node-a-ca@1700000000").unwrap();
        let own = own_ca
            .issue_server("node-a@1700000000", &["node-a"], &[ip()])
            .unwrap();
        let chain = der(&format!("{}{}", own.cert_pem, own_ca.cert_pem()));
        let verdict = judge(&chain, "10.0.0.7", &node(), &roots, UnixTime::now());
        assert!(
            matches!(
                verdict,
                Verdict::UnknownAuthority {
                    self_signed: true,
                    ..
                }
            ),
            "{verdict:?}"
        );
        let check = tls_check(&node(), "10.0.0.7", &verdict, &preferred());
        assert!(check.cause.contains("self-signed"), "{}", check.cause);
        let fix = check.fix.unwrap();
        assert!(fix.starts_with("enable serverTLSBootstrap"), "{fix}");
        assert!(
            fix.find("serverTLSBootstrap") < fix.find("--kubelet-insecure-tls"),
            "{fix}"
        );
        assert!(made_by_kubelet("node-a-ca@1700000000"));
        assert!(!made_by_kubelet("kubernetes-ca"));
    }

    #[test]
    fn a_certificate_naming_another_address_type_suggests_that_type() {
        let ca = CertAuthority::new("kubelet-ca").unwrap();
        let cert = ca.issue_server("node-a", &[], &[ip()]).unwrap();
        let roots = der(ca.cert_pem());
        let verdict = judge(
            &der(&cert.cert_pem),
            "node-a",
            &node(),
            &roots,
            UnixTime::now(),
        );
        assert!(
            matches!(verdict, Verdict::NameMismatch { .. }),
            "{verdict:?}"
        );
        let hostname_first = vec!["Hostname".to_owned(), "InternalIP".to_owned()];
        let check = tls_check(&node(), "node-a", &verdict, &hostname_first);
        assert_eq!(check.status, Status::Fail);
        assert!(check.cause.contains("IP:10.0.0.7"), "{}", check.cause);
        assert!(
            check
                .fix
                .unwrap()
                .contains("--kubelet-preferred-address-types=InternalIP,Hostname")
        );
    }

    #[test]
    fn expired_and_future_certificates_say_so() {
        let ca = CertAuthority::new("kubelet-ca").unwrap();
        let cert = ca.issue_server("node-a", &["node-a"], &[ip()]).unwrap();
        let roots = der(ca.cert_pem());
        let chain = der(&cert.cert_pem);
        let later = UnixTime::since_unix_epoch(Duration::from_secs(
            UnixTime::now().as_secs() + 2 * 365 * 86_400,
        ));
        let verdict = judge(&chain, "10.0.0.7", &node(), &roots, later);
        assert!(matches!(verdict, Verdict::Expired(_)), "{verdict:?}");
        let earlier =
            UnixTime::since_unix_epoch(Duration::from_secs(UnixTime::now().as_secs() - 86_400));
        let verdict = judge(&chain, "10.0.0.7", &node(), &roots, earlier);
        assert!(matches!(verdict, Verdict::NotYetValid(_)), "{verdict:?}");
        let check = tls_check(&node(), "10.0.0.7", &verdict, &preferred());
        assert!(check.fix.unwrap().contains("clock"));
    }

    #[test]
    fn insecure_tls_turns_verdicts_into_warnings_that_say_whether_the_flag_can_go() {
        let verified = insecure_check(&node(), "10.0.0.7", &Verdict::Verified, &preferred());
        assert_eq!(verified.status, Status::Warn);
        assert_eq!(
            verified.fix.as_deref(),
            Some("drop --kubelet-insecure-tls: verification passes")
        );
        let expired = insecure_check(
            &node(),
            "10.0.0.7",
            &Verdict::Expired("x".into()),
            &preferred(),
        );
        assert_eq!(expired.status, Status::Warn);
        assert!(
            expired.cause.contains("verification would fail"),
            "{}",
            expired.cause
        );
    }
}
