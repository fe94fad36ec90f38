//! Verification of kubelet serving certificates that works where kubelets are actually set up
//! (pain point 1): the chain must lead to the kubelet CA, and the name must match — but a
//! kubelet dialled by IP whose certificate carries only DNS names (the node's hostname, as
//! kubeadm and `serverTLSBootstrap` issue them) is checked against the node's name and
//! hostnames instead of being refused. Nothing is ever accepted without a valid chain.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, RwLock};

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, SignatureScheme};

/// Most IP → names entries kept (one per node address ever dialled).
const MAX_ENTRIES: usize = 100_000;

/// The DNS names a node may present when dialled at an IP: its name and hostnames.
#[derive(Debug, Default)]
pub struct NodeNames {
    by_ip: RwLock<HashMap<IpAddr, Vec<ServerName<'static>>>>,
}

impl NodeNames {
    pub fn new() -> Arc<Self> {
        Arc::new(NodeNames::default())
    }

    /// Records that `ip` belongs to a node with these names (invalid DNS names are skipped).
    pub fn remember(&self, ip: IpAddr, names: &[&str]) {
        let names = dns_names(names);
        let mut map = self.by_ip.write().unwrap_or_else(|e| e.into_inner());
        if map.get(&ip) == Some(&names) {
            return;
        }
        if map.len() >= MAX_ENTRIES && !map.contains_key(&ip) {
            map.clear();
        }
        map.insert(ip, names);
    }

    /// Replaces every entry with `nodes`' (IP, names): the nodes scraped now. An IP no longer
    /// among them lends no name any more; the map holds one entry per node.
    pub fn replace_all<'n>(&self, nodes: impl IntoIterator<Item = (IpAddr, Vec<&'n str>)>) {
        let by_ip = nodes
            .into_iter()
            .map(|(ip, names)| (ip, dns_names(&names)))
            .collect();
        *self.by_ip.write().unwrap_or_else(|e| e.into_inner()) = by_ip;
    }

    fn names(&self, ip: IpAddr) -> Vec<ServerName<'static>> {
        let map = self.by_ip.read().unwrap_or_else(|e| e.into_inner());
        map.get(&ip).cloned().unwrap_or_default()
    }
}

/// The valid DNS names among `names` (IPs and invalid names are skipped).
fn dns_names(names: &[&str]) -> Vec<ServerName<'static>> {
    names
        .iter()
        .filter(|n| n.parse::<IpAddr>().is_err())
        .filter_map(|n| ServerName::try_from(n.to_string()).ok())
        .collect()
}

/// WebPKI verification, with the node-name fallback for IP-dialled kubelets.
#[derive(Debug)]
pub struct KubeletVerifier {
    inner: Arc<WebPkiServerVerifier>,
    names: Arc<NodeNames>,
}

impl KubeletVerifier {
    pub fn new(inner: Arc<WebPkiServerVerifier>, names: Arc<NodeNames>) -> Self {
        KubeletVerifier { inner, names }
    }
}

fn is_name_mismatch(err: &rustls::Error) -> bool {
    matches!(
        err,
        rustls::Error::InvalidCertificate(
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. }
        )
    )
}

impl ServerCertVerifier for KubeletVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let first = self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        );
        let ServerName::IpAddress(ip) = server_name else {
            return first;
        };
        match first {
            Err(e) if is_name_mismatch(&e) => {
                let ip = IpAddr::from(*ip);
                for name in self.names.names(ip) {
                    let retry = self.inner.verify_server_cert(
                        end_entity,
                        intermediates,
                        &name,
                        ocsp_response,
                        now,
                    );
                    if retry.is_ok() {
                        tracing::debug!(%ip, name = ?name, "Kubelet certificate has no IP SAN; verified against the node's name.");
                        return retry;
                    }
                }
                Err(e)
            }
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// Which check a kubelet TLS handshake failed, for the log line and the metric label.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum TlsFailure {
    UnknownAuthority,
    NameMismatch,
    Expired,
    NotYetValid,
    /// The kubelet refused our client certificate (or asked for one we do not have).
    ClientCertRejected,
    Other,
}

impl TlsFailure {
    /// Classifies a rustls error.
    pub fn classify(err: &rustls::Error) -> Self {
        use rustls::AlertDescription as A;
        match err {
            rustls::Error::InvalidCertificate(c) => match c {
                CertificateError::UnknownIssuer => TlsFailure::UnknownAuthority,
                CertificateError::NotValidForName
                | CertificateError::NotValidForNameContext { .. } => TlsFailure::NameMismatch,
                CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                    TlsFailure::Expired
                }
                CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                    TlsFailure::NotYetValid
                }
                _ => TlsFailure::Other,
            },
            rustls::Error::AlertReceived(
                A::BadCertificate
                | A::UnknownCA
                | A::CertificateRequired
                | A::CertificateUnknown
                | A::AccessDenied,
            ) => TlsFailure::ClientCertRejected,
            _ => TlsFailure::Other,
        }
    }

    /// The label for logs and metrics.
    pub fn label(self) -> &'static str {
        match self {
            TlsFailure::UnknownAuthority => "unknown_ca",
            TlsFailure::NameMismatch => "name_mismatch",
            TlsFailure::Expired => "expired",
            TlsFailure::NotYetValid => "not_yet_valid",
            TlsFailure::ClientCertRejected => "client_cert_rejected",
            TlsFailure::Other => "other",
        }
    }

    /// What to do about it, in words.
    pub fn fix(self) -> &'static str {
        match self {
            TlsFailure::UnknownAuthority => {
                "the kubelet certificate is signed by an unknown authority: pass the kubelet CA with \
                 --kubelet-certificate-authority, or enable serverTLSBootstrap on the kubelets and \
                 approve their kubernetes.io/kubelet-serving CSRs"
            }
            TlsFailure::NameMismatch => {
                "the kubelet certificate names neither the address dialled nor the node's name: \
                 reissue it with the node's IP and hostname as SANs, or choose a matching address \
                 type with --kubelet-preferred-address-types"
            }
            TlsFailure::Expired => {
                "the kubelet certificate has expired: renew it (kubelet --rotate-server-certificates \
                 and approved serving CSRs renew it automatically)"
            }
            TlsFailure::NotYetValid => {
                "the kubelet certificate is not valid yet: check the clocks of the node and of this \
                 server"
            }
            TlsFailure::ClientCertRejected => {
                "the kubelet rejected our client certificate: pass one signed by the kubelet's \
                 client CA with --kubelet-client-certificate and --kubelet-client-key"
            }
            TlsFailure::Other => "see the TLS error for details",
        }
    }
}
