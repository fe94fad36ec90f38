//! Bearer tokens, checked by a TokenReview against the apiserver (spec §1.4, the delegating
//! webhook token authenticator) and cached for `--authentication-token-webhook-cache-ttl`,
//! both accepted and rejected answers; errors are never cached. The cache is keyed by the
//! SHA-256 of the token, so tokens are not kept in memory; identical reviews in flight are
//! made once and reviews are bounded (`review_gate`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::FutureExt;
use futures::future::BoxFuture;
use k8s_openapi::api::authentication::v1::{TokenReview, TokenReviewSpec};
use kube::api::{Api, PostParams};

use super::cache::TtlCache;
use super::identity::Identity;
use super::review_gate::ReviewGate;

/// How long one review may take.
pub const REVIEW_TIMEOUT: Duration = Duration::from_secs(10);
/// Most cached token answers.
const CACHE_ENTRIES: usize = 4096;
/// Most bytes of cached token answers (the identities the apiserver returned).
const CACHE_BYTES: usize = 8 * 1024 * 1024;

/// Which review the apiserver was asked for.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum ReviewKind {
    Token,
    SubjectAccess,
}

impl std::fmt::Display for ReviewKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ReviewKind::Token => "token review",
            ReviewKind::SubjectAccess => "subject access review",
        })
    }
}

/// A review that gave no answer.
#[derive(Clone, Debug, thiserror::Error)]
pub enum ReviewError {
    /// The apiserver did not answer within [`REVIEW_TIMEOUT`].
    #[error("{0} timed out after {REVIEW_TIMEOUT:?}")]
    TimedOut(ReviewKind),
    /// The apiserver was unreachable or refused the review.
    #[error("{kind} failed: {error}")]
    Request {
        kind: ReviewKind,
        error: Arc<kube::Error>,
    },
    /// The apiserver answered nonsense.
    #[error("{0} answered without a status")]
    NoStatus(ReviewKind),
    /// The task making the review ended without an answer.
    #[error("the review was abandoned")]
    Abandoned,
    /// Every review slot stayed busy: the request should be retried (429).
    #[error("too many reviews in flight")]
    Busy,
}

impl ReviewError {
    /// Answers `Err(Request)` for a review of `kind` that the apiserver did not make.
    pub(super) fn request(kind: ReviewKind) -> impl FnOnce(kube::Error) -> ReviewError {
        move |error| ReviewError::Request {
            kind,
            error: Arc::new(error),
        }
    }
}

/// Answers whether a token is valid and for whom.
pub trait TokenReviewer: Send + Sync {
    /// `Some(identity)` for a valid token, `None` for a rejected one.
    fn review<'a>(&'a self, token: &'a str)
    -> BoxFuture<'a, Result<Option<Identity>, ReviewError>>;
}

/// TokenReviews through kube-rs.
pub struct KubeTokenReviewer {
    client: kube::Client,
}

impl KubeTokenReviewer {
    pub fn new(client: kube::Client) -> Self {
        KubeTokenReviewer { client }
    }
}

impl TokenReviewer for KubeTokenReviewer {
    fn review<'a>(
        &'a self,
        token: &'a str,
    ) -> BoxFuture<'a, Result<Option<Identity>, ReviewError>> {
        Box::pin(async move {
            let review = TokenReview {
                spec: TokenReviewSpec {
                    token: Some(token.to_owned()),
                    audiences: None,
                },
                ..TokenReview::default()
            };
            let api: Api<TokenReview> = Api::all(self.client.clone());
            let kind = ReviewKind::Token;
            let answer =
                tokio::time::timeout(REVIEW_TIMEOUT, api.create(&PostParams::default(), &review))
                    .await
                    .map_err(|_| ReviewError::TimedOut(kind))?
                    .map_err(ReviewError::request(kind))?;
            let Some(status) = answer.status else {
                return Err(ReviewError::NoStatus(kind));
            };
            if status.authenticated != Some(true) {
                if let Some(error) = status.error.filter(|e| !e.is_empty()) {
                    tracing::debug!(%error, "Token rejected by the token review.");
                }
                return Ok(None);
            }
            let user = status.user.unwrap_or_default();
            Ok(Some(Identity {
                name: user.username.unwrap_or_default(),
                uid: user.uid.unwrap_or_default(),
                groups: user.groups.unwrap_or_default(),
                extra: user.extra.unwrap_or_default(),
            }))
        })
    }
}

/// A [`TokenReviewer`] with a TTL cache and a review gate in front.
pub struct CachedTokenReviewer {
    inner: Arc<dyn TokenReviewer>,
    ttl: Duration,
    cache: Arc<TtlCache<[u8; 32], Option<Identity>>>,
    gate: ReviewGate<[u8; 32], Option<Identity>>,
}

impl CachedTokenReviewer {
    pub fn new(inner: Arc<dyn TokenReviewer>, ttl: Duration) -> Self {
        Self::with_gate(inner, ttl, ReviewGate::default())
    }

    pub fn with_gate(
        inner: Arc<dyn TokenReviewer>,
        ttl: Duration,
        gate: ReviewGate<[u8; 32], Option<Identity>>,
    ) -> Self {
        CachedTokenReviewer {
            inner,
            ttl,
            cache: Arc::new(TtlCache::new(CACHE_ENTRIES, CACHE_BYTES)),
            gate,
        }
    }

    /// The cached answer, or the answer of a review (cached when it succeeded).
    pub async fn review(&self, token: &str) -> Result<Option<Identity>, ReviewError> {
        let key = token_key(token);
        if let Some(hit) = self.cache.get(&key, Instant::now()) {
            return Ok(hit);
        }
        let (inner, cache, ttl) = (self.inner.clone(), self.cache.clone(), self.ttl);
        let token = token.to_owned();
        let review = move || {
            async move {
                let answer = inner.review(&token).await?;
                cache.insert(key, answer.clone(), ttl, Instant::now());
                Ok(answer)
            }
            .boxed()
        };
        self.gate.review(key, review).await
    }

    /// Drops the expired answers when called (a housekeeping chore).
    pub fn expired_purger(&self) -> impl FnMut() + Send + 'static {
        let cache = self.cache.clone();
        move || cache.purge(Instant::now())
    }
}

fn token_key(token: &str) -> [u8; 32] {
    let digest = ring::digest::digest(&ring::digest::SHA256, token.as_bytes());
    let mut key = [0u8; 32];
    key.copy_from_slice(digest.as_ref());
    key
}

/// What the `Authorization` header says about a bearer token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bearer<'a> {
    /// No header, another scheme, or an empty token: not token authentication.
    Absent,
    Token(&'a str),
    /// `Bearer` with a token that is not UTF-8: no valid token can be that (401).
    Invalid,
}

/// The token of `Authorization: Bearer <token>` (scheme case-insensitive), read as bytes so a
/// header that is not text is a failed authentication, not an anonymous request.
pub fn bearer_token(headers: &http::HeaderMap) -> Bearer<'_> {
    let Some(value) = headers.get(http::header::AUTHORIZATION) else {
        return Bearer::Absent;
    };
    let value = value.as_bytes().trim_ascii();
    let Some(space) = value.iter().position(|&b| b == b' ') else {
        return Bearer::Absent;
    };
    let (scheme, token) = (&value[..space], value[space + 1..].trim_ascii());
    if !scheme.eq_ignore_ascii_case(b"bearer") || token.is_empty() {
        return Bearer::Absent;
    }
    match std::str::from_utf8(token) {
        Ok(token) => Bearer::Token(token),
        Err(_) => Bearer::Invalid,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    struct Counting(AtomicUsize);

    impl TokenReviewer for Counting {
        fn review<'a>(
            &'a self,
            token: &'a str,
        ) -> BoxFuture<'a, Result<Option<Identity>, ReviewError>> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Box::pin(async move {
                match token {
                    "good" => Ok(Some(Identity::new("alice", vec![]))),
                    "down" => Err(ReviewError::TimedOut(ReviewKind::Token)),
                    _ => Ok(None),
                }
            })
        }
    }

    #[tokio::test]
    async fn answers_are_cached_and_errors_are_not() {
        let inner = Arc::new(Counting(AtomicUsize::new(0)));
        let cached = CachedTokenReviewer::new(inner.clone(), Duration::from_secs(60));
        for _ in 0..3 {
            assert_eq!(cached.review("good").await.unwrap().unwrap().name, "alice");
            assert_eq!(cached.review("bad").await.unwrap(), None);
        }
        assert_eq!(inner.0.load(Ordering::SeqCst), 2);
        for _ in 0..2 {
            assert!(cached.review("down").await.is_err());
        }
        assert_eq!(inner.0.load(Ordering::SeqCst), 4);
    }

    #[test]
    fn bearer_tokens_are_read_from_the_authorization_header() {
        let mut h = http::HeaderMap::new();
        assert_eq!(bearer_token(&h), Bearer::Absent);
        h.insert(http::header::AUTHORIZATION, "Bearer abc".parse().unwrap());
        assert_eq!(bearer_token(&h), Bearer::Token("abc"));
        h.insert(http::header::AUTHORIZATION, "bearer  abc ".parse().unwrap());
        assert_eq!(bearer_token(&h), Bearer::Token("abc"));
        h.insert(http::header::AUTHORIZATION, "Basic abc".parse().unwrap());
        assert_eq!(bearer_token(&h), Bearer::Absent);
        h.insert(http::header::AUTHORIZATION, "Bearer ".parse().unwrap());
        assert_eq!(bearer_token(&h), Bearer::Absent);
    }

    #[test]
    fn a_bearer_token_that_is_not_text_is_invalid_not_absent() {
        let mut h = http::HeaderMap::new();
        let latin1 = http::HeaderValue::from_bytes(b"Bearer caf\xe9").unwrap();
        h.insert(http::header::AUTHORIZATION, latin1);
        assert_eq!(bearer_token(&h), Bearer::Invalid);
        let utf8 = http::HeaderValue::from_bytes("Bearer café".as_bytes()).unwrap();
        h.insert(http::header::AUTHORIZATION, utf8);
        assert_eq!(bearer_token(&h), Bearer::Token("café"));
    }

    #[tokio::test]
    async fn identical_token_reviews_in_flight_are_made_once() {
        struct Slow(AtomicUsize);
        impl TokenReviewer for Slow {
            fn review<'a>(
                &'a self,
                _token: &'a str,
            ) -> BoxFuture<'a, Result<Option<Identity>, ReviewError>> {
                self.0.fetch_add(1, Ordering::SeqCst);
                Box::pin(async {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    Ok(Some(Identity::new("alice", vec![])))
                })
            }
        }
        let inner = Arc::new(Slow(AtomicUsize::new(0)));
        let cached = Arc::new(CachedTokenReviewer::new(inner.clone(), Duration::ZERO));
        let all = (0..20).map(|_| {
            let cached = cached.clone();
            tokio::spawn(async move { cached.review("same").await })
        });
        for r in futures::future::join_all(all).await {
            assert_eq!(r.unwrap().unwrap().unwrap().name, "alice");
        }
        assert_eq!(
            inner.0.load(Ordering::SeqCst),
            1,
            "one review, even uncached"
        );
    }

    #[test]
    fn review_errors_read_as_before() {
        let kind = ReviewKind::SubjectAccess;
        assert_eq!(
            ReviewError::TimedOut(ReviewKind::Token).to_string(),
            "token review timed out after 10s"
        );
        assert_eq!(
            ReviewError::NoStatus(kind).to_string(),
            "subject access review answered without a status"
        );
        let refused = ReviewError::request(kind)(kube::Error::LinesCodecMaxLineLengthExceeded);
        assert!(
            refused
                .to_string()
                .starts_with("subject access review failed: "),
            "{refused}"
        );
    }
}
