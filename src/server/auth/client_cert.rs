//! Client-certificate authentication (spec §1.4 `--client-ca-file`): a chain verified against a
//! CA bundle for client use gives user = CN, groups = O. The same [`CaBundle`] verifies the
//! front-proxy certificate of the request-header authenticator. Verification happens per
//! request against the bundle current at that moment, so a rotated CA applies at once.
//!
//! A chain that verified is remembered by the bundle for [`VERIFIED_TTL`]: the aggregator
//! sends every request with the same front-proxy certificate, and verifying its signature
//! each time was measurable CPU at a few hundred requests a second. A new bundle (rotated CA)
//! starts with an empty memory; failures are never remembered.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use rustls::RootCertStore;
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::ClientCertVerifier;
use rustls_pki_types::pem::PemObject;

use super::identity::Identity;
use crate::x509_name::{Subject, subject_of};

/// A set of CA certificates that sign client certificates.
#[derive(Clone)]
pub struct CaBundle {
    verifier: Arc<dyn ClientCertVerifier>,
    /// The PEM it was built from, to tell whether a reload changed anything.
    pem: Arc<str>,
    /// Chains that verified recently (SHA-256 of the chain → subject, when verified).
    verified: Arc<Mutex<VerifiedChains>>,
}

/// SHA-256 of a chain → its subject and when it was verified.
type VerifiedChains = HashMap<[u8; 32], (Arc<Subject>, Instant)>;

/// How long a verified chain is accepted without verifying it again (a certificate that
/// expires meanwhile is accepted at most this much longer).
pub const VERIFIED_TTL: Duration = Duration::from_secs(10);
/// Most chains remembered at once (the memory is cleared when full).
const VERIFIED_MAX: usize = 1024;

impl std::fmt::Debug for CaBundle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaBundle")
            .field("pem_bytes", &self.pem.len())
            .finish()
    }
}

impl PartialEq for CaBundle {
    fn eq(&self, other: &Self) -> bool {
        self.pem == other.pem
    }
}

/// Why a PEM text is not a usable CA bundle.
#[derive(Debug, thiserror::Error)]
pub enum CaBundleError {
    #[error("bad PEM: {0}")]
    Pem(rustls_pki_types::pem::Error),
    #[error(transparent)]
    Certificate(rustls::Error),
    #[error("no certificate found")]
    Empty,
    #[error(transparent)]
    Verifier(rustls::server::VerifierBuilderError),
}

/// Why a presented chain does not authenticate.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum VerifyError {
    #[error("no client certificate")]
    NoCertificate,
    /// The verifier's reason (unknown authority, expired, not for client use, …).
    #[error(transparent)]
    Rejected(rustls::Error),
    #[error("client certificate subject does not parse")]
    Subject,
}

impl CaBundle {
    /// Parses a PEM bundle (at least one certificate).
    pub fn from_pem(pem: &str) -> Result<Self, CaBundleError> {
        let mut roots = RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
            let cert = cert.map_err(CaBundleError::Pem)?;
            roots.add(cert).map_err(CaBundleError::Certificate)?;
        }
        if roots.is_empty() {
            return Err(CaBundleError::Empty);
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .map_err(CaBundleError::Verifier)?;
        Ok(CaBundle {
            verifier,
            pem: Arc::from(pem),
            verified: Arc::default(),
        })
    }

    /// Verifies `chain` (leaf first) for client authentication now; on success, the leaf's
    /// subject (shared with the memory of verified chains: a recalled chain costs no copy of
    /// its names). The error is the verifier's reason (unknown authority, expired, …).
    pub fn verify(&self, chain: &ClientChain) -> Result<Arc<Subject>, VerifyError> {
        let (leaf, intermediates) = chain
            .certs
            .split_first()
            .ok_or(VerifyError::NoCertificate)?;
        let digest = chain.digest;
        if let Some(subject) = self.recall(&digest) {
            return Ok(subject);
        }
        self.verifier
            .verify_client_cert(leaf, intermediates, UnixTime::now())
            .map_err(VerifyError::Rejected)?;
        let subject = subject_of(leaf).map(Arc::new).ok_or(VerifyError::Subject)?;
        self.remember(digest, subject.clone());
        Ok(subject)
    }

    fn recall(&self, digest: &[u8; 32]) -> Option<Arc<Subject>> {
        let verified = self.verified.lock().unwrap_or_else(PoisonError::into_inner);
        let (subject, at) = verified.get(digest)?;
        (at.elapsed() < VERIFIED_TTL).then(|| subject.clone())
    }

    fn remember(&self, digest: [u8; 32], subject: Arc<Subject>) {
        let mut verified = self.verified.lock().unwrap_or_else(PoisonError::into_inner);
        if verified.len() >= VERIFIED_MAX {
            verified.clear();
        }
        verified.insert(digest, (subject, Instant::now()));
    }
}

/// A connection's client certificate chain (leaf first) and its digest, taken once when the
/// connection is set up: the digest is the key under which a verified chain is remembered,
/// and hashing the chain again on every request of a kept connection was a tenth of the
/// instructions the server spent on a small GET.
#[derive(Clone, Debug)]
pub struct ClientChain {
    certs: Vec<CertificateDer<'static>>,
    digest: [u8; 32],
}

impl ClientChain {
    pub fn new(certs: Vec<CertificateDer<'static>>) -> Self {
        let digest = chain_digest(&certs);
        ClientChain { certs, digest }
    }

    pub fn is_empty(&self) -> bool {
        self.certs.is_empty()
    }
}

/// SHA-256 over every certificate of the chain (each prefixed by its length).
fn chain_digest(chain: &[CertificateDer<'_>]) -> [u8; 32] {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    for cert in chain {
        ctx.update(&(cert.len() as u64).to_be_bytes());
        ctx.update(cert);
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

/// What an authenticator made of a request.
#[derive(Debug, PartialEq)]
pub enum Outcome {
    /// It does not apply (no certificate, no user header, no token).
    Skipped,
    Authenticated(Identity),
    /// Credentials were presented and are not valid: the request gets 401.
    Failed(CertFailure),
}

/// Why a presented certificate does not authenticate the request.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum CertFailure {
    #[error("verifying certificate: {0}")]
    ClientCert(VerifyError),
    #[error("verifying front-proxy certificate: {0}")]
    FrontProxy(VerifyError),
    #[error("front-proxy certificate common name {name:?} is not allowed (allowed: {allowed:?})")]
    FrontProxyName { name: String, allowed: Vec<String> },
}

/// `--client-ca-file`: user = CN, groups = O; an empty CN does not authenticate.
pub fn authenticate(bundle: &CaBundle, chain: Option<&ClientChain>) -> Outcome {
    let Some(chain) = chain.filter(|c| !c.is_empty()) else {
        return Outcome::Skipped;
    };
    match bundle.verify(chain) {
        Ok(subject) if subject.common_name.is_empty() => Outcome::Skipped,
        Ok(subject) => Outcome::Authenticated(Identity::new(
            subject.common_name.clone(),
            subject.organizations.clone(),
        )),
        Err(e) => Outcome::Failed(CertFailure::ClientCert(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki::{CertAuthority, PemPair};

    pub(crate) fn chain(p: &PemPair) -> ClientChain {
        ClientChain::new(
            CertificateDer::pem_slice_iter(p.cert_pem.as_bytes())
                .collect::<Result<_, _>>()
                .unwrap(),
        )
    }

    #[test]
    fn cn_is_the_user_and_o_the_groups() {
        let ca = CertAuthority::new("client-ca").unwrap();
        let bundle = CaBundle::from_pem(ca.cert_pem()).unwrap();
        let cert = ca.issue_client("jane", &["team-a"]).unwrap();
        assert_eq!(
            authenticate(&bundle, Some(&chain(&cert))),
            Outcome::Authenticated(Identity::new("jane", vec!["team-a".into()]))
        );
        assert_eq!(authenticate(&bundle, None), Outcome::Skipped);
    }

    #[test]
    fn a_certificate_of_another_ca_fails() {
        let ca = CertAuthority::new("client-ca").unwrap();
        let other = CertAuthority::new("other-ca").unwrap();
        let bundle = CaBundle::from_pem(ca.cert_pem()).unwrap();
        let cert = other.issue_client("jane", &["system:masters"]).unwrap();
        match authenticate(&bundle, Some(&chain(&cert))) {
            Outcome::Failed(why) => {
                let why = why.to_string();
                assert!(why.starts_with("verifying certificate: "), "{why}");
                assert!(why.contains("UnknownIssuer"), "{why}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_serving_certificate_is_not_a_client_certificate() {
        let ca = CertAuthority::new("client-ca").unwrap();
        let bundle = CaBundle::from_pem(ca.cert_pem()).unwrap();
        let server = ca.issue_server("srv", &["localhost"], &[]).unwrap();
        assert!(matches!(
            authenticate(&bundle, Some(&chain(&server))),
            Outcome::Failed(_)
        ));
    }

    #[test]
    fn bundles_need_a_certificate() {
        let empty = CaBundle::from_pem("").unwrap_err();
        assert_eq!(empty.to_string(), "no certificate found");
        assert!(
            CaBundle::from_pem("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
                .is_err()
        );
        let torn = CaBundle::from_pem("-----BEGIN CERTIFICATE-----\nAAAA\n").unwrap_err();
        assert!(torn.to_string().starts_with("bad PEM: "), "{torn}");
    }

    #[test]
    fn a_verified_chain_is_remembered_by_its_bundle_only_and_failures_never_are() {
        let ca = CertAuthority::new("front-proxy-ca").unwrap();
        let rotated = CertAuthority::new("front-proxy-ca-2").unwrap();
        let bundle = CaBundle::from_pem(ca.cert_pem()).unwrap();
        let cert = chain(&ca.issue_client("front-proxy-client", &[]).unwrap());
        for _ in 0..3 {
            assert_eq!(
                bundle.verify(&cert).unwrap().common_name,
                "front-proxy-client"
            );
        }
        assert_eq!(bundle.verified.lock().unwrap().len(), 1);
        // Another connection with the same chain is recalled under the same digest.
        let same = chain(&ca.issue_client("front-proxy-client", &[]).unwrap());
        assert_eq!(
            bundle.verify(&same).unwrap().common_name,
            "front-proxy-client"
        );
        assert_eq!(
            bundle.verified.lock().unwrap().len(),
            2,
            "a new certificate is a new chain"
        );
        let reconnected = ClientChain::new(cert.certs.clone());
        bundle.verify(&reconnected).unwrap();
        assert_eq!(
            bundle.verified.lock().unwrap().len(),
            2,
            "an equal chain was verified again"
        );
        // After a CA rotation the new bundle verifies from scratch: the old chain fails.
        let rotated_bundle = CaBundle::from_pem(rotated.cert_pem()).unwrap();
        assert!(rotated_bundle.verify(&cert).is_err());
        assert!(rotated_bundle.verify(&cert).is_err());
        assert!(rotated_bundle.verified.lock().unwrap().is_empty());
    }
}
