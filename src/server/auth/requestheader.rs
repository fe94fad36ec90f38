//! Front-proxy (request-header) authentication, as kube-apiserver's aggregator uses it (spec
//! §1.4): a client certificate verified against the request-header CA, whose CN is in the
//! allowed names (any CN when the list is empty), vouches for the identity in the
//! `X-Remote-User` / `X-Remote-Group` / `X-Remote-Extra-*` / uid headers. Without such a
//! certificate the headers are ignored: anyone can send them.

use std::collections::BTreeMap;

use http::HeaderMap;

use super::client_cert::{CaBundle, CertFailure, ClientChain, Outcome};
use super::identity::Identity;

/// The request-header authenticator's settings (from flags or the ConfigMap).
#[derive(Clone, Debug, PartialEq)]
pub struct RequestHeaderConfig {
    pub ca: CaBundle,
    /// Allowed CNs of the front-proxy certificate; empty allows any.
    pub allowed_names: Vec<String>,
    pub username_headers: Vec<String>,
    pub group_headers: Vec<String>,
    pub extra_headers_prefix: Vec<String>,
    pub uid_headers: Vec<String>,
}

impl RequestHeaderConfig {
    /// Authenticates through the headers, if a valid front-proxy certificate was presented.
    pub fn authenticate(&self, chain: Option<&ClientChain>, headers: &HeaderMap) -> Outcome {
        let Some(chain) = chain.filter(|c| !c.is_empty()) else {
            return Outcome::Skipped;
        };
        let subject = match self.ca.verify(chain) {
            Ok(s) => s,
            Err(e) => return Outcome::Failed(CertFailure::FrontProxy(e)),
        };
        if !self.allowed_names.is_empty() && !self.allowed_names.contains(&subject.common_name) {
            return Outcome::Failed(CertFailure::FrontProxyName {
                name: subject.common_name.clone(),
                allowed: self.allowed_names.clone(),
            });
        }
        let Some(name) = first_value(headers, &self.username_headers) else {
            return Outcome::Skipped;
        };
        let mut identity = Identity::new(name, all_values(headers, &self.group_headers));
        identity.uid = first_value(headers, &self.uid_headers).unwrap_or_default();
        identity.extra = extra(headers, &self.extra_headers_prefix);
        Outcome::Authenticated(identity)
    }
}

/// The first non-empty value among `names`, in order.
fn first_value(headers: &HeaderMap, names: &[String]) -> Option<String> {
    names.iter().find_map(|name| {
        headers
            .get_all(name.as_str())
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(str::trim)
            .find(|v| !v.is_empty())
            .map(str::to_owned)
    })
}

/// Every value of every header in `names` (each value whole, as Go's `allHeaderValues`).
fn all_values(headers: &HeaderMap, names: &[String]) -> Vec<String> {
    names
        .iter()
        .flat_map(|name| headers.get_all(name.as_str()).iter())
        .filter_map(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
        .collect()
}

/// `<prefix><key>: value` headers; the key lowercased and percent-decoded.
fn extra(headers: &HeaderMap, prefixes: &[String]) -> BTreeMap<String, Vec<String>> {
    let mut extra: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, value) in headers {
        let name = name.as_str();
        // Header names arrive lowercased; the configured prefixes may not be.
        let Some(key) = prefixes.iter().find_map(|p| {
            let head = name.get(..p.len())?;
            head.eq_ignore_ascii_case(p).then(|| &name[p.len()..])
        }) else {
            continue;
        };
        let (Some(key), Ok(value)) = (percent_decode(key), value.to_str()) else {
            continue;
        };
        extra.entry(key).or_default().push(value.to_owned());
    }
    extra
}

fn percent_decode(s: &str) -> Option<String> {
    crate::api::query::form_decode(&s.replace('+', "%2B"), "extra header").ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki::{CertAuthority, PemPair};
    use rustls::pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;

    fn chain(p: &PemPair) -> ClientChain {
        ClientChain::new(
            CertificateDer::pem_slice_iter(p.cert_pem.as_bytes())
                .collect::<Result<_, _>>()
                .unwrap(),
        )
    }

    fn config(ca: &CertAuthority, allowed: &[&str]) -> RequestHeaderConfig {
        RequestHeaderConfig {
            ca: CaBundle::from_pem(ca.cert_pem()).unwrap(),
            allowed_names: allowed.iter().map(|s| s.to_string()).collect(),
            username_headers: vec!["x-remote-user".into()],
            group_headers: vec!["x-remote-group".into()],
            extra_headers_prefix: vec!["X-Remote-Extra-".into()],
            uid_headers: vec!["x-remote-uid".into()],
        }
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    #[test]
    fn a_valid_front_proxy_cert_vouches_for_the_headers() {
        let ca = CertAuthority::new("front-proxy-ca").unwrap();
        let cert = ca.issue_client("front-proxy-client", &[]).unwrap();
        let h = headers(&[
            ("X-Remote-User", "jane"),
            ("X-Remote-Group", "team-a"),
            ("X-Remote-Group", "system:authenticated"),
            ("X-Remote-Uid", "u-1"),
            ("X-Remote-Extra-Scopes%2fone", "a"),
            ("X-Remote-Extra-Scopes%2fone", "b"),
        ]);
        let got = config(&ca, &["front-proxy-client"]).authenticate(Some(&chain(&cert)), &h);
        let Outcome::Authenticated(id) = got else {
            panic!("{got:?}")
        };
        assert_eq!(id.name, "jane");
        assert_eq!(id.uid, "u-1");
        assert_eq!(id.groups, ["team-a", "system:authenticated"]);
        assert_eq!(id.extra["scopes/one"], ["a", "b"]);
    }

    #[test]
    fn headers_without_a_certificate_are_ignored() {
        let ca = CertAuthority::new("front-proxy-ca").unwrap();
        let h = headers(&[
            ("X-Remote-User", "system:admin"),
            ("X-Remote-Group", "system:masters"),
        ]);
        assert_eq!(config(&ca, &[]).authenticate(None, &h), Outcome::Skipped);
    }

    #[test]
    fn wrong_ca_and_disallowed_names_fail() {
        let ca = CertAuthority::new("front-proxy-ca").unwrap();
        let other = CertAuthority::new("other-ca").unwrap();
        let h = headers(&[("X-Remote-User", "system:admin")]);
        let forged = other.issue_client("front-proxy-client", &[]).unwrap();
        assert!(matches!(
            config(&ca, &[]).authenticate(Some(&chain(&forged)), &h),
            Outcome::Failed(_)
        ));
        let wrong_cn = ca.issue_client("somebody-else", &[]).unwrap();
        match config(&ca, &["front-proxy-client"]).authenticate(Some(&chain(&wrong_cn)), &h) {
            Outcome::Failed(why) => {
                let why = why.to_string();
                assert!(why.contains("\"somebody-else\" is not allowed"), "{why}")
            }
            other => panic!("{other:?}"),
        }
        // An empty allow-list accepts any CN the CA signed.
        assert!(matches!(
            config(&ca, &[]).authenticate(Some(&chain(&wrong_cn)), &h),
            Outcome::Authenticated(_)
        ));
    }

    #[test]
    fn a_valid_cert_without_a_user_header_does_not_authenticate() {
        let ca = CertAuthority::new("front-proxy-ca").unwrap();
        let cert = ca.issue_client("front-proxy-client", &[]).unwrap();
        let h = headers(&[("X-Remote-Group", "system:masters")]);
        assert_eq!(
            config(&ca, &[]).authenticate(Some(&chain(&cert)), &h),
            Outcome::Skipped
        );
    }
}
