//! Certificate authorities and leaf certificates made at run time (rcgen, ring): the
//! self-signed serving pair of `--cert-dir`, and every certificate of the simulated cluster.

use std::net::IpAddr;
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

/// A certificate and its private key, both PEM.
#[derive(Clone, Debug)]
pub struct PemPair {
    pub cert_pem: String,
    pub key_pem: String,
}

/// Failure to build or load a certificate.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error("failed to generate certificate: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("invalid CA certificate or key: {0}")]
    Load(String),
}

/// One year, the default validity of generated certificates.
pub const DEFAULT_VALIDITY: Duration = Duration::from_secs(365 * 86_400);

/// A CA that can issue leaf certificates.
pub struct CertAuthority {
    params: CertificateParams,
    key: KeyPair,
    cert_pem: String,
    /// Validity of the leaves it issues.
    leaf_validity: Duration,
}

impl CertAuthority {
    /// A new self-signed CA with the given common name, valid from one hour ago for a year.
    pub fn new(common_name: &str) -> Result<Self, PkiError> {
        Self::with_validity(common_name, DEFAULT_VALIDITY, DEFAULT_VALIDITY)
    }

    /// A new self-signed CA valid for `validity`, issuing leaves valid for `leaf_validity`.
    pub fn with_validity(
        common_name: &str,
        validity: Duration,
        leaf_validity: Duration,
    ) -> Result<Self, PkiError> {
        let params = ca_params(common_name, validity)?;
        let key = KeyPair::generate()?;
        let cert_pem = params.self_signed(&key)?.pem();
        Ok(CertAuthority {
            params,
            key,
            cert_pem,
            leaf_validity,
        })
    }

    /// A CA made earlier (by this module: its subject is a common name only), from its
    /// certificate and key PEM, issuing leaves valid for a year.
    pub fn from_pem(cert_pem: &str, key_pem: &str) -> Result<Self, PkiError> {
        let key = KeyPair::from_pem(key_pem).map_err(|e| PkiError::Load(format!("key: {e}")))?;
        let der = CertificateDer::from_pem_slice(cert_pem.as_bytes())
            .map_err(|e| PkiError::Load(format!("certificate: {e}")))?;
        let subject = crate::x509_name::subject_of(&der)
            .ok_or_else(|| PkiError::Load("certificate subject does not parse".into()))?;
        let params = ca_params(&subject.common_name, DEFAULT_VALIDITY)?;
        Ok(CertAuthority {
            params,
            key,
            cert_pem: cert_pem.to_owned(),
            leaf_validity: DEFAULT_VALIDITY,
        })
    }

    /// The same CA, issuing leaves valid for `validity`.
    pub fn with_leaf_validity(mut self, validity: Duration) -> Self {
        self.leaf_validity = validity;
        self
    }

    /// The CA certificate, PEM.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The CA's private key, PEM (PKCS#8).
    pub fn key_pem(&self) -> String {
        self.key.serialize_pem()
    }

    /// A serving certificate for the given DNS names and IP addresses.
    pub fn issue_server(
        &self,
        common_name: &str,
        dns: &[&str],
        ips: &[IpAddr],
    ) -> Result<PemPair, PkiError> {
        let mut params = leaf_params(common_name, &[])?;
        params.subject_alt_names = dns
            .iter()
            .map(|d| (*d).try_into().map(SanType::DnsName))
            .collect::<Result<_, _>>()?;
        params
            .subject_alt_names
            .extend(ips.iter().map(|ip| SanType::IpAddress(*ip)));
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        self.sign(params)
    }

    /// A client certificate: user = `common_name`, group = `orgs` (Kubernetes convention; rcgen
    /// keeps one value per attribute type, so only the last organization is written).
    pub fn issue_client(&self, common_name: &str, orgs: &[&str]) -> Result<PemPair, PkiError> {
        let mut params = leaf_params(common_name, orgs)?;
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        self.sign(params)
    }

    fn sign(&self, mut params: CertificateParams) -> Result<PemPair, PkiError> {
        set_validity(&mut params, self.leaf_validity);
        let key = KeyPair::generate()?;
        let issuer = Issuer::from_params(&self.params, &self.key);
        let cert = params.signed_by(&key, &issuer)?;
        Ok(PemPair {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }
}

fn ca_params(common_name: &str, validity: Duration) -> Result<CertificateParams, PkiError> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.distinguished_name = name(common_name, &[]);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    set_validity(&mut params, validity);
    Ok(params)
}

fn name(common_name: &str, orgs: &[&str]) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    for org in orgs {
        dn.push(DnType::OrganizationName, *org);
    }
    dn.push(DnType::CommonName, common_name);
    dn
}

fn leaf_params(common_name: &str, orgs: &[&str]) -> Result<CertificateParams, PkiError> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.distinguished_name = name(common_name, orgs);
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    Ok(params)
}

/// Valid from an hour ago (clock skew) for `validity`.
fn set_validity(params: &mut CertificateParams, validity: Duration) {
    let since_epoch = u64::try_from(crate::time::Timestamp::now().secs()).unwrap_or(0);
    let now = rcgen::date_time_ymd(1970, 1, 1) + Duration::from_secs(since_epoch);
    params.not_before = now - Duration::from_secs(3600);
    params.not_after = now + validity;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issues_server_and_client_certs_signed_by_the_ca() {
        let ca = CertAuthority::new("test-ca").unwrap();
        let srv = ca
            .issue_server("srv", &["localhost"], &["127.0.0.1".parse().unwrap()])
            .unwrap();
        let cli = ca
            .issue_client("front-proxy-client", &["system:masters"])
            .unwrap();
        for p in [&srv, &cli] {
            assert!(p.cert_pem.starts_with("-----BEGIN CERTIFICATE-----"));
            assert!(p.key_pem.contains("PRIVATE KEY"));
        }
        assert!(ca.cert_pem().starts_with("-----BEGIN CERTIFICATE-----"));
    }

    #[test]
    fn a_reloaded_ca_issues_certificates_that_chain_to_the_original() {
        let ca = CertAuthority::new("kept-ca").unwrap();
        let again = CertAuthority::from_pem(ca.cert_pem(), &ca.key_pem()).unwrap();
        let leaf = again.issue_client("someone", &[]).unwrap();
        let bundle = crate::server::auth::CaBundle::from_pem(ca.cert_pem()).unwrap();
        let chain = crate::server::auth::ClientChain::new(
            CertificateDer::pem_slice_iter(leaf.cert_pem.as_bytes())
                .collect::<Result<Vec<_>, _>>()
                .unwrap(),
        );
        assert_eq!(bundle.verify(&chain).unwrap().common_name, "someone");
        assert!(CertAuthority::from_pem("junk", &ca.key_pem()).is_err());
    }
}
