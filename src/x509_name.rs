//! The names in an X.509 certificate, read straight from the DER: its subject (common name and
//! organizations), its issuer, and the DNS names and IP addresses of its subjectAltName
//! extension. Just enough ASN.1 to walk `Certificate → tbsCertificate → subject/extensions`.
//! Kubernetes maps CN to the user and each O to a group (spec §1.4 `--client-ca-file`). Like
//! Go's `pkix.Name`, the last CN wins and the organizations keep their order. Read by the
//! client-certificate authenticator (`server::auth`), the serving certificate check,
//! [`crate::pki`] (a CA loaded back from its PEM) and `metrics-server diagnose` (which names
//! a certificate carries, and whether it is self-signed).

use std::net::IpAddr;

/// What the authenticators read from a subject.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Subject {
    pub common_name: String,
    pub organizations: Vec<String>,
}

const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const OID: u8 = 0x06;
const VERSION_TAG: u8 = 0xa0;
const OID_COMMON_NAME: &[u8] = &[0x55, 0x04, 0x03];
const OID_ORGANIZATION: &[u8] = &[0x55, 0x04, 0x0a];
const OID_SUBJECT_ALT_NAME: &[u8] = &[0x55, 0x1d, 0x11];
const EXTENSIONS_TAG: u8 = 0xa3;
const BOOLEAN: u8 = 0x01;
const OCTET_STRING: u8 = 0x04;
const SAN_DNS_NAME: u8 = 0x82;
const SAN_IP_ADDRESS: u8 = 0x87;

/// The DNS names and IP addresses of a certificate's subjectAltName extension, in order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AltNames {
    pub dns: Vec<String>,
    pub ips: Vec<IpAddr>,
}

/// One DER element: its tag and contents, and what follows it.
fn element(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 || rest.len() < count {
            return None;
        }
        let len = rest[..count]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, &rest[count..])
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

/// The contents of an element that must carry `tag`.
fn expect(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let (t, contents, rest) = element(input)?;
    (t == tag).then_some((contents, rest))
}

/// The fields of `tbsCertificate` after the version, each as a whole DER element:
/// serialNumber, signature, issuer, validity, subject, subjectPublicKeyInfo, then the optional
/// unique IDs and extensions.
fn tbs_fields(cert_der: &[u8]) -> Option<&[u8]> {
    let (cert, _) = expect(cert_der, SEQUENCE)?;
    let (tbs, _) = expect(cert, SEQUENCE)?;
    match tbs.first() {
        Some(&VERSION_TAG) => Some(element(tbs)?.2),
        _ => Some(tbs),
    }
}

/// The raw contents of the `index`th field of [`tbs_fields`] and what follows it.
fn tbs_field(cert_der: &[u8], index: usize) -> Option<(u8, &[u8], &[u8])> {
    let mut rest = tbs_fields(cert_der)?;
    for _ in 0..index {
        rest = element(rest)?.2;
    }
    element(rest)
}

/// The subject of a DER certificate; `None` when it does not parse.
pub fn subject_of(cert_der: &[u8]) -> Option<Subject> {
    let (tag, name, _) = tbs_field(cert_der, 4)?;
    (tag == SEQUENCE).then_some(())?;
    parse_name(name)
}

/// The issuer of a DER certificate; `None` when it does not parse.
pub fn issuer_of(cert_der: &[u8]) -> Option<Subject> {
    let (tag, name, _) = tbs_field(cert_der, 2)?;
    (tag == SEQUENCE).then_some(())?;
    parse_name(name)
}

/// Whether the certificate names itself as its issuer (a self-signed certificate, such as
/// the one a kubelet makes for itself without `serverTLSBootstrap`).
pub fn is_self_issued(cert_der: &[u8]) -> Option<bool> {
    let (_, issuer, _) = tbs_field(cert_der, 2)?;
    let (_, subject, _) = tbs_field(cert_der, 4)?;
    Some(issuer == subject)
}

/// The subjectAltName DNS names and IP addresses (empty when the extension is absent);
/// `None` when the certificate does not parse.
pub fn alt_names_of(cert_der: &[u8]) -> Option<AltNames> {
    // subjectPublicKeyInfo is field 5; the optional fields follow it.
    let (_, _, mut rest) = tbs_field(cert_der, 5)?;
    while !rest.is_empty() {
        let (tag, contents, next) = element(rest)?;
        rest = next;
        if tag == EXTENSIONS_TAG {
            let (extensions, _) = expect(contents, SEQUENCE)?;
            return alt_names_in(extensions);
        }
    }
    Some(AltNames::default())
}

/// `Extensions ::= SEQUENCE OF Extension`, `Extension ::= SEQUENCE { extnID, critical
/// BOOLEAN DEFAULT FALSE, extnValue OCTET STRING }`.
fn alt_names_in(mut extensions: &[u8]) -> Option<AltNames> {
    while !extensions.is_empty() {
        let (extension, next) = expect(extensions, SEQUENCE)?;
        extensions = next;
        let (oid, mut rest) = expect(extension, OID)?;
        if oid != OID_SUBJECT_ALT_NAME {
            continue;
        }
        if rest.first() == Some(&BOOLEAN) {
            rest = element(rest)?.2;
        }
        let (value, _) = expect(rest, OCTET_STRING)?;
        let (general_names, _) = expect(value, SEQUENCE)?;
        return Some(general_names_of(general_names));
    }
    Some(AltNames::default())
}

/// The DNS names (`[2] IA5String`) and IP addresses (`[7] OCTET STRING` of 4 or 16 bytes);
/// other kinds of names are skipped, and so is a malformed tail.
fn general_names_of(mut names: &[u8]) -> AltNames {
    let mut found = AltNames::default();
    while let Some((tag, contents, next)) = element(names) {
        names = next;
        match (tag, contents.len()) {
            (SAN_DNS_NAME, _) => found
                .dns
                .extend(std::str::from_utf8(contents).ok().map(str::to_owned)),
            (SAN_IP_ADDRESS, 4) => {
                let octets: [u8; 4] = contents.try_into().unwrap_or_default();
                found.ips.push(IpAddr::from(octets));
            }
            (SAN_IP_ADDRESS, 16) => {
                let octets: [u8; 16] = contents.try_into().unwrap_or_default();
                found.ips.push(IpAddr::from(octets));
            }
            _ => {}
        }
    }
    found
}

/// `RDNSequence ::= SEQUENCE OF SET OF AttributeTypeAndValue`.
fn parse_name(mut rdns: &[u8]) -> Option<Subject> {
    let mut subject = Subject::default();
    while !rdns.is_empty() {
        let (mut set, next) = expect(rdns, SET)?;
        rdns = next;
        while !set.is_empty() {
            let (atv, next) = expect(set, SEQUENCE)?;
            set = next;
            let (oid, value) = expect(atv, OID)?;
            let (tag, text, _) = element(value)?;
            if oid == OID_COMMON_NAME {
                subject.common_name = decode_string(tag, text)?;
            } else if oid == OID_ORGANIZATION {
                subject.organizations.push(decode_string(tag, text)?);
            }
        }
    }
    Some(subject)
}

/// UTF8String, PrintableString, IA5String, T61String (as Latin-1) and BMPString.
fn decode_string(tag: u8, bytes: &[u8]) -> Option<String> {
    match tag {
        0x0c | 0x13 | 0x16 => String::from_utf8(bytes.to_vec()).ok(),
        0x14 => Some(bytes.iter().map(|b| char::from(*b)).collect()),
        0x1e if bytes.len().is_multiple_of(2) => {
            let units: Vec<u16> = bytes
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect();
            String::from_utf16(&units).ok()
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki::CertAuthority;
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;

    fn der(pem: &str) -> Vec<u8> {
        CertificateDer::from_pem_slice(pem.as_bytes())
            .unwrap()
            .to_vec()
    }

    #[test]
    fn reads_common_name_and_organizations_of_generated_certs() {
        let ca = CertAuthority::new("test-ca").unwrap();
        let client = ca.issue_client("jane", &["system:masters"]).unwrap();
        let s = subject_of(&der(&client.cert_pem)).unwrap();
        assert_eq!(s.common_name, "jane");
        assert_eq!(s.organizations, ["system:masters"]);
        let ca_subject = subject_of(&der(ca.cert_pem())).unwrap();
        assert_eq!(ca_subject.common_name, "test-ca");
        assert!(ca_subject.organizations.is_empty());
    }

    #[test]
    fn reads_the_alt_names_and_issuer_of_generated_certs() {
        let ca = CertAuthority::new("kubelet-ca").unwrap();
        let ip: IpAddr = "127.0.0.7".parse().unwrap();
        let v6: IpAddr = "fd00::7".parse().unwrap();
        let leaf = ca
            .issue_server("node-7", &["node-7", "node-7.local"], &[ip, v6])
            .unwrap();
        let leaf = der(&leaf.cert_pem);
        let names = alt_names_of(&leaf).unwrap();
        assert_eq!(names.dns, ["node-7", "node-7.local"]);
        assert_eq!(names.ips, [ip, v6]);
        assert_eq!(issuer_of(&leaf).unwrap().common_name, "kubelet-ca");
        assert_eq!(is_self_issued(&leaf), Some(false));
        let ca_der = der(ca.cert_pem());
        assert_eq!(is_self_issued(&ca_der), Some(true));
        assert_eq!(alt_names_of(&ca_der), Some(AltNames::default()));
        let dns_only = ca.issue_server("node-8", &["node-8"], &[]).unwrap();
        let names = alt_names_of(&der(&dns_only.cert_pem)).unwrap();
        assert_eq!((names.dns.len(), names.ips.len()), (1, 0));
    }

    #[test]
    fn garbage_and_truncation_do_not_parse() {
        assert_eq!(subject_of(b""), None);
        assert_eq!(subject_of(&[0x30, 0x82, 0xff]), None);
        let ca = CertAuthority::new("x").unwrap();
        let d = der(ca.cert_pem());
        for cut in [1, 10, d.len() / 2] {
            assert_eq!(subject_of(&d[..cut]), None, "cut at {cut}");
            assert_eq!(alt_names_of(&d[..cut]), None, "cut at {cut}");
            assert_eq!(issuer_of(&d[..cut]), None, "cut at {cut}");
        }
    }
}
