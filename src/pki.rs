//! Certificate authorities and leaf certificates made at run time (rcgen, ring): the
//! self-signed serving pair of `--cert-dir`, and every certificate of the simulated cluster.

use std::net::IpAddr;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};

/// A certificate and its private key, both PEM.
#[derive(Clone, Debug)]
pub struct PemPair {
    pub cert_pem: String,
    pub key_pem: String,
}

/// Failure to build a certificate.
#[derive(Debug, thiserror::Error)]
#[error("failed to generate certificate: {0}")]
pub struct PkiError(#[from] rcgen::Error);

/// A CA that can issue leaf certificates.
pub struct CertAuthority {
    params: CertificateParams,
    key: KeyPair,
    cert_pem: String,
}

impl CertAuthority {
    /// A new self-signed CA with the given common name, valid from one hour ago for a year.
    pub fn new(common_name: &str) -> Result<Self, PkiError> {
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.distinguished_name = name(common_name, &[]);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        set_validity(&mut params);
        let key = KeyPair::generate()?;
        let cert_pem = params.self_signed(&key)?.pem();
        Ok(CertAuthority {
            params,
            key,
            cert_pem,
        })
    }

    /// The CA certificate, PEM.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
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

    fn sign(&self, params: CertificateParams) -> Result<PemPair, PkiError> {
        let key = KeyPair::generate()?;
        let issuer = Issuer::from_params(&self.params, &self.key);
        let cert = params.signed_by(&key, &issuer)?;
        Ok(PemPair {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }
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
    set_validity(&mut params);
    Ok(params)
}

fn set_validity(params: &mut CertificateParams) {
    let since_epoch = u64::try_from(crate::time::Timestamp::now().secs()).unwrap_or(0);
    let now = rcgen::date_time_ymd(1970, 1, 1) + std::time::Duration::from_secs(since_epoch);
    params.not_before = now - std::time::Duration::from_secs(3600);
    params.not_after = now + std::time::Duration::from_secs(365 * 86_400);
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
}
