//! The simulated kubelets' authorizer on a real apiserver, as a kubelet with
//! `--authentication-token-webhook --authorization-mode=Webhook` does it: a TokenReview for the
//! bearer token, then a SubjectAccessReview for the user's access to `nodes/<subresource>`.
//! Answers are cached for a short time (the kubelet caches them too), keyed by token and
//! access, and the cache is bounded.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use futures::FutureExt;
use futures::future::BoxFuture;
use k8s_openapi::api::authentication::v1::{TokenReview, TokenReviewSpec, UserInfo};
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
};
use kube::api::PostParams;
use kube::{Api, Client};

use crate::kubelet::auth::{KubeletAuthorizer, NodeAccess, Review};

/// How long an answer is reused (short, so RBAC changes show quickly in tests).
const CACHE_TTL: Duration = Duration::from_secs(10);
/// Entries kept at most; the cache is emptied when it is full.
const CACHE_MAX: usize = 1024;
/// Deadline of one review call.
const REVIEW_TIMEOUT: Duration = Duration::from_secs(10);

/// Reviews tokens and accesses through the Kubernetes API.
pub struct ApiAuthorizer {
    client: Client,
    cache: Mutex<HashMap<(String, NodeAccess), (Instant, Review)>>,
}

impl ApiAuthorizer {
    pub fn new(client: Client) -> Self {
        ApiAuthorizer {
            client,
            cache: Mutex::new(HashMap::new()),
        }
    }

    fn cached(&self, key: &(String, NodeAccess)) -> Option<Review> {
        let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        cache
            .get(key)
            .filter(|(at, _)| at.elapsed() < CACHE_TTL)
            .map(|(_, review)| review.clone())
    }

    fn remember(&self, key: (String, NodeAccess), review: Review) {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= CACHE_MAX {
            cache.clear();
        }
        cache.insert(key, (Instant::now(), review));
    }

    async fn review_uncached(&self, token: &str, access: &NodeAccess) -> Result<Review, String> {
        let Some(user) = self.authenticate(token).await? else {
            return Ok(Review::Unauthenticated);
        };
        let name = user.username.clone().unwrap_or_default();
        Ok(if self.authorize(user, access).await? {
            Review::Allowed
        } else {
            Review::Denied { user: name }
        })
    }

    async fn authenticate(&self, token: &str) -> Result<Option<UserInfo>, String> {
        let review = TokenReview {
            spec: TokenReviewSpec {
                token: Some(token.to_owned()),
                audiences: None,
            },
            ..Default::default()
        };
        let api = Api::<TokenReview>::all(self.client.clone());
        let answer =
            tokio::time::timeout(REVIEW_TIMEOUT, api.create(&PostParams::default(), &review))
                .await
                .map_err(|_| "token review timed out".to_owned())?
                .map_err(|e| format!("token review failed: {e}"))?;
        let status = answer.status.unwrap_or_default();
        Ok(match status.authenticated {
            Some(true) => status.user,
            _ => None,
        })
    }

    async fn authorize(&self, user: UserInfo, access: &NodeAccess) -> Result<bool, String> {
        let review = SubjectAccessReview {
            spec: SubjectAccessReviewSpec {
                user: user.username,
                groups: user.groups,
                uid: user.uid,
                extra: user.extra,
                resource_attributes: Some(ResourceAttributes {
                    verb: Some(access.verb.to_owned()),
                    resource: Some("nodes".to_owned()),
                    subresource: Some(access.subresource.to_owned()),
                    name: Some(access.node.clone()),
                    version: Some("v1".to_owned()),
                    ..Default::default()
                }),
                ..Default::default()
            },
            ..Default::default()
        };
        let api = Api::<SubjectAccessReview>::all(self.client.clone());
        let answer =
            tokio::time::timeout(REVIEW_TIMEOUT, api.create(&PostParams::default(), &review))
                .await
                .map_err(|_| "subject access review timed out".to_owned())?
                .map_err(|e| format!("subject access review failed: {e}"))?;
        Ok(answer.status.is_some_and(|s| s.allowed))
    }
}

impl KubeletAuthorizer for ApiAuthorizer {
    fn review<'a>(
        &'a self,
        token: &'a str,
        access: &'a NodeAccess,
    ) -> BoxFuture<'a, Result<Review, String>> {
        async move {
            let key = (token.to_owned(), access.clone());
            if let Some(review) = self.cached(&key) {
                return Ok(review);
            }
            let review = self.review_uncached(token, access).await?;
            if review != Review::Allowed {
                tracing::info!(node = %access.node, subresource = access.subresource, ?review,
                    "kubelet request refused");
            }
            self.remember(key, review.clone());
            Ok(review)
        }
        .boxed()
    }
}
