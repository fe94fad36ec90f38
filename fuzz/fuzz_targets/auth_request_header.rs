//! Front-proxy (request-header) authentication on arbitrary headers. The first input byte
//! picks the client certificate chain, the rest are `name: value` lines.
//!
//! * Without a certificate the headers are ignored; with one the CA did not sign, a broken
//!   one, or one whose CN is not allowed, authentication fails, whatever the headers say.
//! * With the front proxy's certificate it succeeds exactly when a username header has a
//!   non-blank value, and the identity is what the headers say: the first non-blank user
//!   (trimmed), every non-empty group value in order, the first non-blank uid, and each
//!   `X-Remote-Extra-` value under its lowercased, percent-decoded key.
#![no_main]

use std::collections::BTreeMap;
use std::sync::OnceLock;

use http::{HeaderMap, HeaderName, HeaderValue};
use libfuzzer_sys::fuzz_target;
use metrics_server::pki::{CertAuthority, PemPair};
use metrics_server::server::auth::client_cert::CaBundle;
use metrics_server::server::auth::{ClientChain, Identity, Outcome, RequestHeaderConfig};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

const ALLOWED_CN: &str = "front-proxy-client";
const USER: &str = "x-remote-user";
const GROUP: &str = "x-remote-group";
const UID: &str = "x-remote-uid";
const EXTRA: &str = "x-remote-extra-";

/// The authenticator and the chains a caller may present, made once (key generation and
/// signing would dominate every run).
struct Fixture {
    config: RequestHeaderConfig,
    empty: ClientChain,
    front_proxy: ClientChain,
    other_cn: ClientChain,
    other_ca: ClientChain,
    truncated: ClientChain,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let ca = CertAuthority::new("front-proxy-ca").expect("CA");
        let other = CertAuthority::new("front-proxy-ca").expect("other CA");
        let front_proxy = certs(&ca.issue_client(ALLOWED_CN, &[]).expect("front proxy cert"));
        let truncated =
            ClientChain::new(vec![CertificateDer::from(front_proxy[0][..200].to_vec())]);
        Fixture {
            config: RequestHeaderConfig {
                ca: CaBundle::from_pem(ca.cert_pem()).expect("CA bundle"),
                allowed_names: vec![ALLOWED_CN.to_owned()],
                // Capitalized as the flags' defaults are; header names arrive lowercased.
                username_headers: vec!["X-Remote-User".to_owned()],
                group_headers: vec!["X-Remote-Group".to_owned()],
                extra_headers_prefix: vec!["X-Remote-Extra-".to_owned()],
                uid_headers: vec!["X-Remote-Uid".to_owned()],
            },
            empty: ClientChain::new(Vec::new()),
            front_proxy: ClientChain::new(front_proxy),
            other_cn: chain(&ca.issue_client("somebody-else", &[]).expect("cert")),
            other_ca: chain(&other.issue_client(ALLOWED_CN, &[]).expect("forged cert")),
            truncated,
        }
    })
}

fn chain(pair: &PemPair) -> ClientChain {
    ClientChain::new(certs(pair))
}

fn certs(pair: &PemPair) -> Vec<CertificateDer<'static>> {
    CertificateDer::pem_slice_iter(pair.cert_pem.as_bytes())
        .collect::<Result<_, _>>()
        .expect("PEM chain")
}

fuzz_target!(|data: &[u8]| {
    let Some((&choice, lines)) = data.split_first() else {
        return;
    };
    let f = fixture();
    let headers = headers(lines);
    let chain: Option<&ClientChain> = match choice % 6 {
        0 => None,
        1 => Some(&f.empty),
        2 => Some(&f.other_cn),
        3 => Some(&f.other_ca),
        4 => Some(&f.truncated),
        _ => Some(&f.front_proxy),
    };
    let outcome = f.config.authenticate(chain, &headers);
    match choice % 6 {
        0 | 1 => assert_eq!(outcome, Outcome::Skipped),
        2..=4 => assert!(matches!(outcome, Outcome::Failed(_)), "{outcome:?}"),
        _ => match expected_identity(&headers) {
            Some(want) => assert_eq!(outcome, Outcome::Authenticated(want)),
            None => assert_eq!(outcome, Outcome::Skipped),
        },
    }
});

/// `name: value` lines; lines http would refuse to carry are left out.
fn headers(lines: &[u8]) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for line in lines.split(|&b| b == b'\n') {
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let value = &line[colon + 1..];
        let value = value.strip_prefix(b" ").unwrap_or(value);
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(&line[..colon]),
            HeaderValue::from_bytes(value),
        ) {
            headers.append(name, value);
        }
    }
    headers
}

/// The identity the headers claim, `None` without a user.
fn expected_identity(headers: &HeaderMap) -> Option<Identity> {
    let texts = |name: &str| -> Vec<&str> {
        let values = headers.get_all(name).iter();
        values.filter_map(|v| v.to_str().ok()).collect()
    };
    let first_non_blank = |name: &str| {
        texts(name)
            .into_iter()
            .map(str::trim)
            .find(|v| !v.is_empty())
    };
    let name = first_non_blank(USER)?;
    let groups = texts(GROUP).into_iter().filter(|v| !v.is_empty());
    let mut identity = Identity::new(name, groups.map(str::to_owned).collect());
    identity.uid = first_non_blank(UID).unwrap_or_default().to_owned();
    identity.extra = expected_extra(headers);
    Some(identity)
}

/// Values of the extra headers by key, in the order `HeaderMap` iterates them.
fn expected_extra(headers: &HeaderMap) -> BTreeMap<String, Vec<String>> {
    let mut extra: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, value) in headers {
        let Some(key) = name.as_str().strip_prefix(EXTRA) else {
            continue;
        };
        if let (Some(key), Ok(value)) = (percent_decode(key), value.to_str()) {
            extra.entry(key).or_default().push(value.to_owned());
        }
    }
    extra
}

/// `%XX` escapes decoded (`+` stays a plus); `None` for a bad escape or non-UTF-8 result.
fn percent_decode(key: &str) -> Option<String> {
    let mut bytes = Vec::with_capacity(key.len());
    let mut rest = key.as_bytes();
    while let Some((&b, tail)) = rest.split_first() {
        rest = tail;
        if b != b'%' {
            bytes.push(b);
            continue;
        }
        let hex = std::str::from_utf8(rest.get(..2)?).ok()?;
        if !hex.bytes().all(|h| h.is_ascii_hexdigit()) {
            return None;
        }
        bytes.push(u8::from_str_radix(hex, 16).ok()?);
        rest = &rest[2..];
    }
    String::from_utf8(bytes).ok()
}
