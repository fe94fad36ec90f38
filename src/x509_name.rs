//! The subject of an X.509 certificate (common name and organizations), read straight from
//! the DER: just enough ASN.1 to walk `Certificate → tbsCertificate → subject`. Kubernetes
//! maps CN to the user and each O to a group (spec §1.4 `--client-ca-file`). Like Go's
//! `pkix.Name`, the last CN wins and the organizations keep their order. Read by the
//! client-certificate authenticator (`server::auth`), the serving certificate check and
//! [`crate::pki`] (a CA loaded back from its PEM).

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

/// The subject of a DER certificate; `None` when it does not parse.
pub fn subject_of(cert_der: &[u8]) -> Option<Subject> {
    let (cert, _) = expect(cert_der, SEQUENCE)?;
    let (tbs, _) = expect(cert, SEQUENCE)?;
    let mut rest = tbs;
    if rest.first() == Some(&VERSION_TAG) {
        rest = element(rest)?.2;
    }
    // serialNumber, signature, issuer, validity, then subject.
    for _ in 0..4 {
        rest = element(rest)?.2;
    }
    let (name, _) = expect(rest, SEQUENCE)?;
    parse_name(name)
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
    fn garbage_and_truncation_do_not_parse() {
        assert_eq!(subject_of(b""), None);
        assert_eq!(subject_of(&[0x30, 0x82, 0xff]), None);
        let ca = CertAuthority::new("x").unwrap();
        let d = der(ca.cert_pem());
        for cut in [1, 10, d.len() / 2] {
            assert_eq!(subject_of(&d[..cut]), None, "cut at {cut}");
        }
    }
}
