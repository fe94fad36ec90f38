//! Authorization by SubjectAccessReview (spec §1.5, §2.8, the delegating webhook authorizer):
//! resource requests with group, version, resource, namespace and name; non-resource requests
//! with path and verb. Allowed and denied answers are cached for their own TTL flags; a review
//! that cannot be made is an error, which the request path turns into a denial. Identical
//! reviews in flight are made once and reviews are bounded (`review_gate`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::FutureExt;
use futures::future::BoxFuture;
use k8s_openapi::api::authorization::v1 as authz;
use kube::api::{Api, PostParams};

use super::Credential;
use super::attributes::RequestAttributes;
use super::cache::TtlCache;
use super::identity::Identity;
use super::review_gate::{QUEUE_WAIT, ReviewGate};
use super::token_review::{REVIEW_TIMEOUT, ReviewError, ReviewKind};

/// Most cached authorization answers (the apiserver's webhook authorizer keeps 8,192).
const CACHE_ENTRIES: usize = 8192;
/// Most bytes of cached answers: their keys hold request paths.
const CACHE_BYTES: usize = 8 * 1024 * 1024;

type Key = (Identity, RequestAttributes);

/// Reviews in flight, and requests waiting, per kind of caller: a flood by one kind (anonymous
/// callers, say) cannot starve the others (the aggregator's users).
pub const LANE_CONCURRENT: usize = 16;
pub const LANE_QUEUED: usize = 256;

/// The authorizer's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    /// The reviewer's reason, shown after the Forbidden message when not empty.
    pub reason: String,
}

impl Decision {
    pub fn allow() -> Self {
        Decision {
            allowed: true,
            reason: String::new(),
        }
    }

    pub fn deny(reason: impl Into<String>) -> Self {
        Decision {
            allowed: false,
            reason: reason.into(),
        }
    }
}

/// Answers whether `identity` may do `attributes`.
pub trait AccessReviewer: Send + Sync {
    fn review<'a>(
        &'a self,
        identity: &'a Identity,
        attributes: &'a RequestAttributes,
    ) -> BoxFuture<'a, Result<Decision, ReviewError>>;
}

/// SubjectAccessReviews through kube-rs.
pub struct KubeAccessReviewer {
    client: kube::Client,
}

impl KubeAccessReviewer {
    pub fn new(client: kube::Client) -> Self {
        KubeAccessReviewer { client }
    }
}

/// The review object the apiserver's webhook authorizer would send.
pub fn review_object(
    identity: &Identity,
    attributes: &RequestAttributes,
) -> authz::SubjectAccessReview {
    let non_empty = |s: &str| (!s.is_empty()).then(|| s.to_owned());
    let (resource_attributes, non_resource_attributes) = match &attributes.resource {
        Some(r) => (
            Some(authz::ResourceAttributes {
                group: Some(r.group.clone()),
                version: non_empty(&r.version),
                resource: non_empty(&r.resource),
                subresource: non_empty(&r.subresource),
                namespace: non_empty(&r.namespace),
                name: non_empty(&r.name),
                verb: non_empty(&attributes.verb),
                ..authz::ResourceAttributes::default()
            }),
            None,
        ),
        None => (
            None,
            Some(authz::NonResourceAttributes {
                path: Some(attributes.path.clone()),
                verb: Some(attributes.verb.clone()),
            }),
        ),
    };
    authz::SubjectAccessReview {
        spec: authz::SubjectAccessReviewSpec {
            user: Some(identity.name.clone()),
            uid: non_empty(&identity.uid),
            groups: Some(identity.groups.clone()),
            extra: (!identity.extra.is_empty()).then(|| identity.extra.clone()),
            resource_attributes,
            non_resource_attributes,
        },
        ..authz::SubjectAccessReview::default()
    }
}

impl AccessReviewer for KubeAccessReviewer {
    fn review<'a>(
        &'a self,
        identity: &'a Identity,
        attributes: &'a RequestAttributes,
    ) -> BoxFuture<'a, Result<Decision, ReviewError>> {
        Box::pin(async move {
            let api: Api<authz::SubjectAccessReview> = Api::all(self.client.clone());
            let review = review_object(identity, attributes);
            let kind = ReviewKind::SubjectAccess;
            let answer =
                tokio::time::timeout(REVIEW_TIMEOUT, api.create(&PostParams::default(), &review))
                    .await
                    .map_err(|_| ReviewError::TimedOut(kind))?
                    .map_err(ReviewError::request(kind))?;
            let Some(status) = answer.status else {
                return Err(ReviewError::NoStatus(kind));
            };
            let reason = status.reason.unwrap_or_default();
            if status.allowed && status.denied != Some(true) {
                Ok(Decision {
                    allowed: true,
                    reason,
                })
            } else {
                Ok(Decision::deny(reason))
            }
        })
    }
}

/// An [`AccessReviewer`] with a TTL cache and a review gate per kind of caller in front.
pub struct CachedAccessReviewer {
    inner: Arc<dyn AccessReviewer>,
    ttls: Ttls,
    cache: Arc<TtlCache<Key, Decision>>,
    /// By [`lane`]: certificate, token, anonymous callers.
    lanes: [ReviewGate<Key, Decision>; 3],
}

/// How long allowed and denied answers are kept.
#[derive(Copy, Clone, Debug)]
struct Ttls {
    allowed: Duration,
    denied: Duration,
}

/// The review lane of a caller.
fn lane(credential: Credential) -> usize {
    match credential {
        Credential::FrontProxy | Credential::ClientCert => 0,
        Credential::Token => 1,
        Credential::Anonymous => 2,
    }
}

impl CachedAccessReviewer {
    pub fn new(
        inner: Arc<dyn AccessReviewer>,
        allowed_ttl: Duration,
        denied_ttl: Duration,
    ) -> Self {
        let gate = || ReviewGate::new(LANE_CONCURRENT, LANE_QUEUED, QUEUE_WAIT);
        Self::with_lanes(inner, allowed_ttl, denied_ttl, gate)
    }

    /// With the lanes' gates made by `gate`.
    pub fn with_lanes(
        inner: Arc<dyn AccessReviewer>,
        allowed_ttl: Duration,
        denied_ttl: Duration,
        gate: impl Fn() -> ReviewGate<Key, Decision>,
    ) -> Self {
        CachedAccessReviewer {
            inner,
            ttls: Ttls {
                allowed: allowed_ttl,
                denied: denied_ttl,
            },
            cache: Arc::new(TtlCache::new(CACHE_ENTRIES, CACHE_BYTES)),
            lanes: [gate(), gate(), gate()],
        }
    }

    /// The cached decision, or the decision of a review in the caller's lane (cached when it
    /// succeeded).
    pub async fn review(
        &self,
        identity: &Identity,
        attributes: &RequestAttributes,
        credential: Credential,
    ) -> Result<Decision, ReviewError> {
        let key = (identity.clone(), attributes.clone());
        if let Some(hit) = self.cache.get(&key, Instant::now()) {
            return Ok(hit);
        }
        let (inner, cache, ttls) = (self.inner.clone(), self.cache.clone(), self.ttls);
        let (who, what) = key.clone();
        let review = move || {
            async move {
                let decision = inner.review(&who, &what).await?;
                let ttl = match decision.allowed {
                    true => ttls.allowed,
                    false => ttls.denied,
                };
                cache.insert((who, what), decision.clone(), ttl, Instant::now());
                Ok(decision)
            }
            .boxed()
        };
        self.lanes[lane(credential)].review(key, review).await
    }

    /// Drops the expired answers when called (a housekeeping chore).
    pub fn expired_purger(&self) -> impl FnMut() + Send + 'static {
        let cache = self.cache.clone();
        move || cache.purge(Instant::now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    struct Counting(AtomicUsize);

    impl AccessReviewer for Counting {
        fn review<'a>(
            &'a self,
            identity: &'a Identity,
            _attributes: &'a RequestAttributes,
        ) -> BoxFuture<'a, Result<Decision, ReviewError>> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Box::pin(async move {
                Ok(match identity.name.as_str() {
                    "alice" => Decision::allow(),
                    _ => Decision::deny("no RBAC"),
                })
            })
        }
    }

    fn attrs() -> RequestAttributes {
        RequestAttributes::from_request(
            &http::Method::GET,
            "/apis/metrics.k8s.io/v1beta1/nodes",
            None,
        )
    }

    #[tokio::test]
    async fn allowed_and_denied_answers_use_their_own_ttl() {
        let inner = Arc::new(Counting(AtomicUsize::new(0)));
        let cached =
            CachedAccessReviewer::new(inner.clone(), Duration::from_secs(60), Duration::ZERO);
        let (alice, bob) = (Identity::new("alice", vec![]), Identity::new("bob", vec![]));
        for _ in 0..3 {
            let token = Credential::Token;
            assert!(
                cached
                    .review(&alice, &attrs(), token)
                    .await
                    .unwrap()
                    .allowed
            );
            assert!(!cached.review(&bob, &attrs(), token).await.unwrap().allowed);
        }
        // alice once (cached), bob every time (denied TTL 0).
        assert_eq!(inner.0.load(Ordering::SeqCst), 4);
    }

    #[test]
    fn review_objects_carry_the_request() {
        let mut id = Identity::new("bob", vec!["g".into()]);
        id.uid = "u".into();
        let a = RequestAttributes::from_request(
            &http::Method::GET,
            "/apis/metrics.k8s.io/v1beta1/namespaces/ns/pods/p",
            None,
        );
        let r = review_object(&id, &a).spec;
        let ra = r.resource_attributes.unwrap();
        assert_eq!(ra.group.as_deref(), Some("metrics.k8s.io"));
        assert_eq!(ra.resource.as_deref(), Some("pods"));
        assert_eq!(ra.namespace.as_deref(), Some("ns"));
        assert_eq!(ra.name.as_deref(), Some("p"));
        assert_eq!(ra.verb.as_deref(), Some("get"));
        assert_eq!(r.user.as_deref(), Some("bob"));
        assert_eq!(r.uid.as_deref(), Some("u"));
        let n = review_object(
            &id,
            &RequestAttributes::from_request(&http::Method::GET, "/metrics", None),
        );
        let na = n.spec.non_resource_attributes.unwrap();
        assert_eq!(
            (na.path.as_deref(), na.verb.as_deref()),
            (Some("/metrics"), Some("get"))
        );
    }
}
