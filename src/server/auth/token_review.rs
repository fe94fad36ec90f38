//! Bearer tokens, checked by a TokenReview against the apiserver (spec §1.4, the delegating
//! webhook token authenticator) and cached for `--authentication-token-webhook-cache-ttl`,
//! both accepted and rejected answers; errors are never cached. The cache is keyed by the
//! SHA-256 of the token, so tokens are not kept in memory.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use k8s_openapi::api::authentication::v1::{TokenReview, TokenReviewSpec};
use kube::api::{Api, PostParams};

use super::cache::TtlCache;
use super::identity::Identity;

/// How long one review may take.
pub const REVIEW_TIMEOUT: Duration = Duration::from_secs(10);
/// Most cached token answers.
const CACHE_CAPACITY: usize = 4096;

/// A review could not be made (apiserver unreachable, refused, timed out).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ReviewError(pub String);

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
            let answer =
                tokio::time::timeout(REVIEW_TIMEOUT, api.create(&PostParams::default(), &review))
                    .await
                    .map_err(|_| {
                        ReviewError(format!("token review timed out after {REVIEW_TIMEOUT:?}"))
                    })?
                    .map_err(|e| ReviewError(format!("token review failed: {e}")))?;
            let Some(status) = answer.status else {
                return Err(ReviewError("token review answered without a status".into()));
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

/// A [`TokenReviewer`] with a TTL cache in front.
pub struct CachedTokenReviewer {
    inner: Arc<dyn TokenReviewer>,
    ttl: Duration,
    cache: TtlCache<[u8; 32], Option<Identity>>,
}

impl CachedTokenReviewer {
    pub fn new(inner: Arc<dyn TokenReviewer>, ttl: Duration) -> Self {
        CachedTokenReviewer {
            inner,
            ttl,
            cache: TtlCache::new(CACHE_CAPACITY),
        }
    }

    /// The cached answer, or a fresh review (cached when it succeeded).
    pub async fn review(&self, token: &str) -> Result<Option<Identity>, ReviewError> {
        let key = token_key(token);
        if let Some(hit) = self.cache.get(&key, Instant::now()) {
            return Ok(hit);
        }
        let answer = self.inner.review(token).await?;
        self.cache
            .insert(key, answer.clone(), self.ttl, Instant::now());
        Ok(answer)
    }
}

fn token_key(token: &str) -> [u8; 32] {
    let digest = ring::digest::digest(&ring::digest::SHA256, token.as_bytes());
    let mut key = [0u8; 32];
    key.copy_from_slice(digest.as_ref());
    key
}

/// The token of `Authorization: Bearer <token>`, if any (scheme case-insensitive).
pub fn bearer_token(headers: &http::HeaderMap) -> Option<&str> {
    let value = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
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
                    "down" => Err(ReviewError("unreachable".into())),
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
        assert_eq!(bearer_token(&h), None);
        h.insert(http::header::AUTHORIZATION, "Bearer abc".parse().unwrap());
        assert_eq!(bearer_token(&h), Some("abc"));
        h.insert(http::header::AUTHORIZATION, "bearer  abc ".parse().unwrap());
        assert_eq!(bearer_token(&h), Some("abc"));
        h.insert(http::header::AUTHORIZATION, "Basic abc".parse().unwrap());
        assert_eq!(bearer_token(&h), None);
        h.insert(http::header::AUTHORIZATION, "Bearer ".parse().unwrap());
        assert_eq!(bearer_token(&h), None);
    }
}
