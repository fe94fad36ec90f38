//! The subject of a client certificate (CN → user, O → groups), read from the DER:
//!
//! 1. arbitrary bytes never panic the reader;
//! 2. a certificate built from the input (CNs, Os and other attributes in every string type
//!    the reader knows, several per RDN or one each, with or without the version field,
//!    short and long lengths) gives back its subject: the last CN, the Os in order.
#![no_main]

use libfuzzer_sys::fuzz_target;
use metrics_server::x509_name::{Subject, subject_of};

const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const OID: u8 = 0x06;
const OID_COMMON_NAME: &[u8] = &[0x55, 0x04, 0x03];
const OID_ORGANIZATION: &[u8] = &[0x55, 0x04, 0x0a];
const OID_ORGANIZATIONAL_UNIT: &[u8] = &[0x55, 0x04, 0x0b];

fuzz_target!(|data: &[u8]| {
    let _ = subject_of(data);
    let (der, want) = certificate(data);
    assert_eq!(subject_of(&der), Some(want), "{der:02x?}");
});

/// A certificate shaped enough for the reader, and the subject it carries. Each attribute
/// takes a control byte (kind, string type, whether it opens a new RDN), a length byte and
/// that many bytes of text.
fn certificate(data: &[u8]) -> (Vec<u8>, Subject) {
    let mut want = Subject::default();
    let mut rdns: Vec<Vec<u8>> = Vec::new();
    let mut rest = data;
    while let [control, len, tail @ ..] = rest {
        let text = &tail[..usize::from(*len).min(tail.len())];
        rest = &tail[text.len()..];
        let (tag, value, decoded) = string(control >> 2, text);
        let oid = match control & 3 {
            0 => {
                want.common_name = decoded;
                OID_COMMON_NAME
            }
            1 => {
                want.organizations.push(decoded);
                OID_ORGANIZATION
            }
            _ => OID_ORGANIZATIONAL_UNIT,
        };
        let attribute = tlv(SEQUENCE, &[tlv(OID, oid), tlv(tag, &value)].concat());
        match rdns.last_mut() {
            Some(rdn) if control & 0x80 != 0 => rdn.extend(attribute),
            _ => rdns.push(attribute),
        }
    }
    let name: Vec<u8> = rdns.iter().flat_map(|rdn| tlv(SET, rdn)).collect();
    let with_version = data.first().is_some_and(|b| b & 0x40 != 0);
    (tbs_certificate(&tlv(SEQUENCE, &name), with_version), want)
}

/// The string's tag, its DER contents and what the reader should make of them.
fn string(kind: u8, text: &[u8]) -> (u8, Vec<u8>, String) {
    let utf8 = String::from_utf8_lossy(text).into_owned();
    match kind % 5 {
        // T61String, read as Latin-1: any bytes.
        0 => (
            0x14,
            text.to_vec(),
            text.iter().map(|&b| char::from(b)).collect(),
        ),
        // BMPString: UTF-16, big-endian.
        1 => {
            let units = utf8.encode_utf16().flat_map(u16::to_be_bytes).collect();
            (0x1e, units, utf8)
        }
        // UTF8String, PrintableString, IA5String.
        k => (
            [0x0c, 0x13, 0x16][usize::from(k - 2)],
            utf8.clone().into_bytes(),
            utf8,
        ),
    }
}

/// `Certificate ::= SEQUENCE { tbsCertificate, … }` up to the subject; the reader stops there.
fn tbs_certificate(subject: &[u8], with_version: bool) -> Vec<u8> {
    let mut tbs = Vec::new();
    if with_version {
        tbs.extend(tlv(0xa0, &tlv(0x02, &[2])));
    }
    tbs.extend(tlv(0x02, &[0x01, 0x23])); // serialNumber
    tbs.extend(tlv(
        SEQUENCE,
        &tlv(OID, &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02]),
    ));
    tbs.extend(tlv(SEQUENCE, &[])); // issuer: empty name
    tbs.extend(tlv(
        SEQUENCE,
        &[tlv(0x17, b"250101000000Z"), tlv(0x17, b"260101000000Z")].concat(),
    ));
    tbs.extend_from_slice(subject);
    tlv(SEQUENCE, &tlv(SEQUENCE, &tbs))
}

/// One DER element, in the short length form below 128 bytes, the long form from there.
fn tlv(tag: u8, contents: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = contents.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(contents);
    out
}
