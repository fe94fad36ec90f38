//! Authentication and authorization of every request, as an extension apiserver does it
//! (upstream spec §1.4, §1.5, §2.8): front-proxy request headers, client certificates, bearer
//! tokens (TokenReview), else anonymous; then always-allowed paths, `system:masters`, else a
//! SubjectAccessReview. Fail closed: invalid credentials get 401 (also when the TokenReview
//! cannot be made, as upstream), a denial 403, a SubjectAccessReview that cannot be made 500,
//! and a review that finds every review slot busy 429 — never the data.
//!
//! The core ([`Authenticator::authenticate`], [`Authorizer::authorize`]) takes the verified
//! peer certificate chain and the headers, and talks to the apiserver only through the
//! [`TokenReviewer`] and [`AccessReviewer`] traits, so it is tested without a cluster.

pub mod attributes;
pub mod ca_sources;
pub mod cache;
pub mod client_cert;
pub mod failure;
pub mod identity;
pub mod requestheader;
pub mod review_gate;
pub mod sar;
pub mod setup;
pub mod token_review;

use std::sync::Arc;

use arc_swap::ArcSwap;
use http::HeaderMap;

pub use attributes::RequestAttributes;
pub use ca_sources::AuthnConfig;
pub use client_cert::{CaBundle, CertFailure, ClientChain, Outcome};
pub use failure::{AuthnFailure, Rejections};
pub use identity::Identity;
pub use requestheader::RequestHeaderConfig;
pub use sar::{AccessReviewer, CachedAccessReviewer, Decision, KubeAccessReviewer};
pub use token_review::{
    Bearer, CachedTokenReviewer, KubeTokenReviewer, ReviewError, ReviewKind, TokenReviewer,
};

use super::log_limit::LogLimit;
use crate::api::metav1_status::Status;

/// How a caller proved who it is.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Credential {
    /// A front-proxy certificate vouching for request headers (the aggregator).
    FrontProxy,
    /// A client certificate from the client CA.
    ClientCert,
    /// A bearer token, reviewed by the apiserver.
    Token,
    Anonymous,
}

/// An authenticated caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Authenticated {
    pub identity: Identity,
    pub credential: Credential,
}

impl Authenticated {
    /// Authenticated by a certificate a cluster CA signed (its connection is trusted).
    pub fn by_certificate(&self) -> bool {
        matches!(
            self.credential,
            Credential::FrontProxy | Credential::ClientCert
        )
    }
}

/// Why a caller is not authenticated.
#[derive(Clone, Debug, thiserror::Error)]
pub enum AuthnError {
    /// The credentials presented are not valid (401).
    #[error("{0}")]
    Rejected(Rejections),
    /// A token could not be reviewed now: every review slot is busy (429).
    #[error("too many token reviews in flight")]
    Busy,
}

/// Who is calling: request headers, client certificates, tokens, else anonymous.
pub struct Authenticator {
    config: Arc<ArcSwap<AuthnConfig>>,
    tokens: Option<CachedTokenReviewer>,
}

impl Authenticator {
    pub fn new(config: Arc<ArcSwap<AuthnConfig>>, tokens: Option<CachedTokenReviewer>) -> Self {
        Authenticator { config, tokens }
    }

    /// The caller's identity, or why the presented credentials are not valid (→ 401). The
    /// first authenticator that succeeds wins, even if an earlier one failed (the apiserver's
    /// union authenticator); anonymous only when nothing failed.
    pub async fn authenticate(
        &self,
        chain: Option<&ClientChain>,
        headers: &HeaderMap,
    ) -> Result<Authenticated, AuthnError> {
        let config = self.config.load();
        let mut failures = Vec::new();
        // In order and only until one succeeds: verifying the proxy's certificate against
        // the client CA too, on every request the aggregator forwards, would be wasted work.
        if let Some(rh) = &config.requestheader
            && let Some(id) = settle(rh.authenticate(chain, headers), &mut failures)
        {
            return Ok(authenticated(id, Credential::FrontProxy));
        }
        if let Some(ca) = &config.client_ca
            && let Some(id) = settle(client_cert::authenticate(ca, chain), &mut failures)
        {
            return Ok(authenticated(id, Credential::ClientCert));
        }
        match (token_review::bearer_token(headers), &self.tokens) {
            (Bearer::Token(token), Some(tokens)) => match tokens.review(token).await {
                Ok(Some(id)) => return Ok(authenticated(id, Credential::Token)),
                Ok(None) => failures.push(AuthnFailure::InvalidToken),
                Err(ReviewError::Busy) => return Err(AuthnError::Busy),
                Err(e) => failures.push(AuthnFailure::Review(e)),
            },
            (Bearer::Invalid, _) => failures.push(AuthnFailure::TokenNotUtf8),
            (Bearer::Absent, _) | (Bearer::Token(_), None) => {}
        }
        if failures.is_empty() {
            Ok(Authenticated {
                identity: Identity::anonymous(),
                credential: Credential::Anonymous,
            })
        } else {
            Err(AuthnError::Rejected(Rejections(failures)))
        }
    }
}

fn authenticated(identity: Identity, credential: Credential) -> Authenticated {
    Authenticated {
        identity: identity.with_authenticated_group(),
        credential,
    }
}

/// The identity of an authenticated outcome; a failure's reason goes to `failures`.
fn settle(outcome: Outcome, failures: &mut Vec<AuthnFailure>) -> Option<Identity> {
    match outcome {
        Outcome::Authenticated(id) => Some(id),
        Outcome::Failed(why) => {
            failures.push(AuthnFailure::Certificate(why));
            None
        }
        Outcome::Skipped => None,
    }
}

/// What a caller may do: always-allowed paths, `system:masters`, else a review.
pub struct Authorizer {
    exact_paths: Vec<String>,
    prefixes: Vec<String>,
    reviewer: Option<CachedAccessReviewer>,
}

impl Authorizer {
    /// `always_allow` as `--authorization-always-allow-paths` (a trailing `*` matches a
    /// prefix); without a reviewer everything else is denied.
    pub fn new(always_allow: &[String], reviewer: Option<CachedAccessReviewer>) -> Self {
        let (mut exact_paths, mut prefixes) = (Vec::new(), Vec::new());
        for p in always_allow {
            let p = p.trim_start_matches('/');
            match p.strip_suffix('*') {
                Some(prefix) if !prefix.contains('*') => prefixes.push(prefix.to_owned()),
                _ if p.contains('*') => {
                    tracing::warn!(
                        path = p,
                        "Ignoring an always-allow path with a '*' before its end."
                    );
                }
                _ => exact_paths.push(p.to_owned()),
            }
        }
        Authorizer {
            exact_paths,
            prefixes,
            reviewer,
        }
    }

    fn always_allowed(&self, attributes: &RequestAttributes) -> bool {
        if attributes.resource.is_some() {
            return false;
        }
        let path = attributes.path.trim_start_matches('/');
        self.exact_paths.iter().any(|p| p == path)
            || self.prefixes.iter().any(|p| path.starts_with(p.as_str()))
    }

    /// The decision; an error when the review could not be made.
    pub async fn authorize(
        &self,
        who: &Authenticated,
        attributes: &RequestAttributes,
    ) -> Result<Decision, ReviewError> {
        if self.always_allowed(attributes) || who.identity.is_privileged() {
            return Ok(Decision::allow());
        }
        match &self.reviewer {
            Some(reviewer) => {
                reviewer
                    .review(&who.identity, attributes, who.credential)
                    .await
            }
            None => Ok(Decision::deny("no authorizer is configured")),
        }
    }
}

/// Authentication, then (after the in-flight limit, as in the apiserver's filter chain)
/// authorization of one request.
pub struct Gate {
    pub authenticator: Authenticator,
    pub authorizer: Authorizer,
}

/// Seconds a client told to retry after busy reviews waits.
const RETRY_AFTER_SECONDS: u32 = 1;

/// Failed reviews are logged at most once per 10 s: every request fails while the API server
/// is unreachable.
static REVIEW_FAILURE_LOG: LogLimit = LogLimit::new(std::time::Duration::from_secs(10));

impl Gate {
    /// Who is calling, else the Status to answer (401, or 429 when reviews are busy).
    pub async fn authenticate(
        &self,
        req: &http::request::Parts,
        chain: Option<&ClientChain>,
    ) -> Result<Authenticated, Status> {
        match self.authenticator.authenticate(chain, &req.headers).await {
            Ok(who) => Ok(who),
            Err(AuthnError::Busy) => Err(Status::too_many_requests(RETRY_AFTER_SECONDS)),
            Err(AuthnError::Rejected(why)) => {
                tracing::debug!(path = req.uri.path(), reason = %why, "Unable to authenticate the request.");
                Err(Status::unauthorized())
            }
        }
    }

    /// Whether `identity` may make the request, else the Status to answer (403, 500 when
    /// the review failed, 429 when reviews are busy).
    pub async fn authorize(
        &self,
        req: &http::request::Parts,
        who: &Authenticated,
    ) -> Result<(), Status> {
        let identity = &who.identity;
        // `system:masters` may do anything: no need to spell out what it asks for (eight
        // strings per request of the aggregator's admin calls).
        if identity.is_privileged() {
            return Ok(());
        }
        let attributes =
            RequestAttributes::from_request(&req.method, req.uri.path(), req.uri.query());
        match self.authorizer.authorize(who, &attributes).await {
            Ok(d) if d.allowed => Ok(()),
            Ok(d) => Err(forbidden(identity, &attributes, &d.reason)),
            Err(ReviewError::Busy) => Err(Status::too_many_requests(RETRY_AFTER_SECONDS)),
            Err(e) => {
                if let Some(left_out) = REVIEW_FAILURE_LOG.allow() {
                    tracing::warn!(user = %identity.name, path = req.uri.path(), error = %e, similar_lines_left_out = left_out, "Authorization review failed; denying the request.");
                }
                Err(Status::internal(&format!(
                    "authorization could not be checked: {e}"
                )))
            }
        }
    }

    /// Both steps (for callers without an in-flight limit between them).
    pub async fn admit(
        &self,
        req: &http::request::Parts,
        chain: Option<&ClientChain>,
    ) -> Result<Authenticated, Status> {
        let who = self.authenticate(req, chain).await?;
        self.authorize(req, &who).await?;
        Ok(who)
    }
}

/// 403 in the apiserver's words.
fn forbidden(identity: &Identity, attributes: &RequestAttributes, reason: &str) -> Status {
    let mut why = attributes.forbidden_message(&identity.name);
    if !reason.is_empty() {
        why.push_str(": ");
        why.push_str(reason);
    }
    match &attributes.resource {
        Some(r) => Status::forbidden(&r.group, &r.resource, &r.name, &why),
        None => Status::forbidden("", "", "", &why),
    }
}

#[cfg(test)]
mod tests;
