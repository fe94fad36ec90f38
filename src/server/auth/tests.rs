//! The request gate with generated CAs and fake reviewers: every authentication path and the
//! denials of the security issue.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use rustls::pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

use super::*;
use crate::pki::{CertAuthority, PemPair};

struct FakeTokens;

impl TokenReviewer for FakeTokens {
    fn review<'a>(
        &'a self,
        token: &'a str,
    ) -> BoxFuture<'a, Result<Option<Identity>, ReviewError>> {
        Box::pin(async move {
            match token {
                "alice-token" => Ok(Some(Identity::new("alice", vec![]))),
                "bob-token" => Ok(Some(Identity::new("bob", vec![]))),
                "down" => Err(ReviewError::TimedOut(ReviewKind::Token)),
                _ => Ok(None),
            }
        })
    }
}

/// Allows alice; answers an error for "unreachable"; denies everyone else.
struct FakeAccess;

impl AccessReviewer for FakeAccess {
    fn review<'a>(
        &'a self,
        identity: &'a Identity,
        _attributes: &'a RequestAttributes,
    ) -> BoxFuture<'a, Result<Decision, ReviewError>> {
        Box::pin(async move {
            match identity.name.as_str() {
                "alice" => Ok(Decision::allow()),
                "unreachable" => Err(ReviewError::TimedOut(ReviewKind::SubjectAccess)),
                _ => Ok(Decision::deny("")),
            }
        })
    }
}

struct Pki {
    front_proxy_ca: CertAuthority,
    client_ca: CertAuthority,
    other_ca: CertAuthority,
}

fn pki() -> Pki {
    Pki {
        front_proxy_ca: CertAuthority::new("front-proxy-ca").unwrap(),
        client_ca: CertAuthority::new("client-ca").unwrap(),
        other_ca: CertAuthority::new("other-ca").unwrap(),
    }
}

fn gate(pki: &Pki) -> Gate {
    let config = AuthnConfig {
        client_ca: Some(CaBundle::from_pem(pki.client_ca.cert_pem()).unwrap()),
        requestheader: Some(RequestHeaderConfig {
            ca: CaBundle::from_pem(pki.front_proxy_ca.cert_pem()).unwrap(),
            allowed_names: vec!["front-proxy-client".into()],
            username_headers: vec!["x-remote-user".into()],
            group_headers: vec!["x-remote-group".into()],
            extra_headers_prefix: vec!["x-remote-extra-".into()],
            uid_headers: vec![],
        }),
    };
    let ttl = Duration::from_secs(10);
    Gate {
        authenticator: Authenticator::new(
            Arc::new(ArcSwap::from_pointee(config)),
            Some(CachedTokenReviewer::new(Arc::new(FakeTokens), ttl)),
        ),
        authorizer: Authorizer::new(
            &[
                "/healthz".into(),
                "/readyz".into(),
                "/livez".into(),
                "/debug/*".into(),
            ],
            Some(CachedAccessReviewer::new(Arc::new(FakeAccess), ttl, ttl)),
        ),
    }
}

/// The aggregator's client certificate.
fn front_proxy_cert(pki: &Pki) -> PemPair {
    pki.front_proxy_ca
        .issue_client("front-proxy-client", &[])
        .unwrap()
}

fn chain(p: &PemPair) -> ClientChain {
    ClientChain::new(
        CertificateDer::pem_slice_iter(p.cert_pem.as_bytes())
            .collect::<Result<_, _>>()
            .unwrap(),
    )
}

fn request(path: &str, headers: &[(&str, &str)]) -> http::request::Parts {
    let mut b = http::Request::get(path);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(()).unwrap().into_parts().0
}

const NODES: &str = "/apis/metrics.k8s.io/v1beta1/nodes";

async fn admit(
    gate: &Gate,
    path: &str,
    headers: &[(&str, &str)],
    cert: Option<&PemPair>,
) -> Result<Identity, Status> {
    let chain = cert.map(chain);
    let who = gate.admit(&request(path, headers), chain.as_ref()).await?;
    Ok(who.identity)
}

#[tokio::test]
async fn front_proxy_client_certs_and_tokens_authenticate() {
    let pki = pki();
    let gate = gate(&pki);
    let fp = front_proxy_cert(&pki);
    let id = admit(&gate, NODES, &[("X-Remote-User", "alice")], Some(&fp))
        .await
        .unwrap();
    assert_eq!(
        (id.name.as_str(), id.groups.as_slice()),
        ("alice", &["system:authenticated".to_owned()][..])
    );

    let admin = pki
        .client_ca
        .issue_client("root", &["system:masters"])
        .unwrap();
    let id = admit(&gate, NODES, &[], Some(&admin)).await.unwrap();
    assert!(
        id.is_privileged(),
        "system:masters is allowed without a review"
    );

    let id = admit(
        &gate,
        NODES,
        &[("Authorization", "Bearer alice-token")],
        None,
    )
    .await
    .unwrap();
    assert_eq!(id.name, "alice");
}

#[tokio::test]
async fn health_paths_are_open_to_anonymous_callers_and_nothing_else_is() {
    let pki = pki();
    let gate = gate(&pki);
    for p in ["/healthz", "/readyz", "/livez", "/debug/anything"] {
        assert_eq!(
            admit(&gate, p, &[], None).await.unwrap().name,
            "system:anonymous",
            "{p}"
        );
    }
    for p in [
        "/metrics",
        "/apis",
        "/version",
        "/readyz/ping",
        "/openapi/v2",
    ] {
        let err = admit(&gate, p, &[], None).await.unwrap_err();
        assert_eq!(err.code, 403, "{p}");
    }
}

#[tokio::test]
async fn no_credentials_on_a_resource_path_is_forbidden() {
    let pki = pki();
    let err = admit(&gate(&pki), NODES, &[], None).await.unwrap_err();
    assert_eq!(err.code, 403);
    assert_eq!(
        err.message,
        "nodes.metrics.k8s.io is forbidden: User \"system:anonymous\" cannot list resource \"nodes\" in API group \"metrics.k8s.io\" at the cluster scope"
    );
}

#[tokio::test]
async fn forged_remote_user_without_a_client_cert_is_anonymous() {
    let pki = pki();
    let headers = [
        ("X-Remote-User", "system:admin"),
        ("X-Remote-Group", "system:masters"),
    ];
    let err = admit(&gate(&pki), NODES, &headers, None).await.unwrap_err();
    assert_eq!(err.code, 403);
    assert!(err.message.contains("system:anonymous"), "{}", err.message);
}

#[tokio::test]
async fn a_client_cert_from_the_wrong_ca_with_headers_is_unauthorized() {
    let pki = pki();
    let forged = pki
        .other_ca
        .issue_client("front-proxy-client", &["system:masters"])
        .unwrap();
    let headers = [
        ("X-Remote-User", "system:admin"),
        ("X-Remote-Group", "system:masters"),
    ];
    let err = admit(&gate(&pki), NODES, &headers, Some(&forged))
        .await
        .unwrap_err();
    assert_eq!(err.code, 401);
}

#[tokio::test]
async fn a_front_proxy_cert_with_a_disallowed_cn_is_unauthorized() {
    let pki = pki();
    let wrong_cn = pki
        .front_proxy_ca
        .issue_client("not-the-aggregator", &[])
        .unwrap();
    let err = admit(
        &gate(&pki),
        NODES,
        &[("X-Remote-User", "alice")],
        Some(&wrong_cn),
    )
    .await
    .unwrap_err();
    assert_eq!(err.code, 401);
}

#[tokio::test]
async fn a_token_the_review_rejects_is_unauthorized() {
    let pki = pki();
    let gate = gate(&pki);
    for token in ["Bearer nope", "Bearer down"] {
        let err = admit(&gate, NODES, &[("Authorization", token)], None)
            .await
            .unwrap_err();
        assert_eq!(err.code, 401, "{token}");
        // Even on health paths: bad credentials are never treated as anonymous.
        let err = admit(&gate, "/healthz", &[("Authorization", token)], None)
            .await
            .unwrap_err();
        assert_eq!(err.code, 401, "{token}");
    }
}

#[tokio::test]
async fn access_review_denial_is_forbidden_and_review_failure_is_an_error() {
    let pki = pki();
    let gate = gate(&pki);
    let err = admit(
        &gate,
        "/apis/metrics.k8s.io/v1/namespaces/a/pods/p",
        &[("Authorization", "Bearer bob-token")],
        None,
    )
    .await
    .unwrap_err();
    assert_eq!(err.code, 403);
    assert_eq!(
        err.message,
        "pods.metrics.k8s.io \"p\" is forbidden: User \"bob\" cannot get resource \"pods\" in API group \"metrics.k8s.io\" in the namespace \"a\""
    );
    let fp = front_proxy_cert(&pki);
    let err = admit(&gate, NODES, &[("X-Remote-User", "unreachable")], Some(&fp))
        .await
        .unwrap_err();
    assert_eq!((err.code, err.reason), (500, "InternalError"));
    assert!(
        err.message.contains("authorization could not be checked"),
        "{}",
        err.message
    );
}

#[tokio::test]
async fn without_a_reviewer_everything_but_always_allowed_is_denied() {
    let gate = Gate {
        authenticator: Authenticator::new(
            Arc::new(ArcSwap::from_pointee(AuthnConfig::default())),
            None,
        ),
        authorizer: Authorizer::new(&["/healthz".into()], None),
    };
    assert!(admit(&gate, "/healthz", &[], None).await.is_ok());
    assert_eq!(admit(&gate, NODES, &[], None).await.unwrap_err().code, 403);
}

#[tokio::test]
async fn a_rotated_front_proxy_ca_applies_to_the_next_request() {
    let pki = pki();
    let gate = gate(&pki);
    let new_ca = CertAuthority::new("front-proxy-ca-2").unwrap();
    let new_cert = new_ca.issue_client("front-proxy-client", &[]).unwrap();
    let headers = [("X-Remote-User", "alice")];
    assert_eq!(
        admit(&gate, NODES, &headers, Some(&new_cert))
            .await
            .unwrap_err()
            .code,
        401
    );
    let mut next = (**gate.authenticator.config.load()).clone();
    if let Some(rh) = next.requestheader.as_mut() {
        rh.ca = CaBundle::from_pem(new_ca.cert_pem()).unwrap();
    }
    gate.authenticator.config.store(Arc::new(next));
    assert_eq!(
        admit(&gate, NODES, &headers, Some(&new_cert))
            .await
            .unwrap()
            .name,
        "alice"
    );
}

#[tokio::test]
async fn a_bearer_token_that_is_not_utf8_is_unauthorized_not_anonymous() {
    let pki = pki();
    let gate = gate(&pki);
    let mut parts = request("/healthz", &[]);
    parts.headers.insert(
        http::header::AUTHORIZATION,
        http::HeaderValue::from_bytes(b"Bearer \xff\xfe").unwrap(),
    );
    let err = gate.admit(&parts, None).await.unwrap_err();
    assert_eq!((err.code, err.reason), (401, "Unauthorized"));
}

#[tokio::test]
async fn certificates_tokens_and_anonymous_callers_are_told_apart() {
    let pki = pki();
    let gate = gate(&pki);
    let fp = front_proxy_cert(&pki);
    let who = |headers: &'static [(&'static str, &'static str)], cert: Option<PemPair>| {
        let gate = &gate;
        async move {
            let chain = cert.as_ref().map(chain);
            gate.authenticate(&request(NODES, headers), chain.as_ref())
                .await
                .unwrap()
        }
    };
    let proxied = who(&[("X-Remote-User", "alice")], Some(fp)).await;
    assert_eq!(proxied.credential, Credential::FrontProxy);
    assert!(proxied.by_certificate());
    let admin = pki.client_ca.issue_client("root", &[]).unwrap();
    assert!(who(&[], Some(admin)).await.by_certificate());
    let token = who(&[("Authorization", "Bearer alice-token")], None).await;
    assert_eq!(token.credential, Credential::Token);
    assert!(!token.by_certificate());
    assert_eq!(who(&[], None).await.credential, Credential::Anonymous);
}

/// A reviewer that never answers: every review slot stays taken.
struct Stuck;

impl AccessReviewer for Stuck {
    fn review<'a>(
        &'a self,
        _identity: &'a Identity,
        _attributes: &'a RequestAttributes,
    ) -> BoxFuture<'a, Result<Decision, ReviewError>> {
        Box::pin(futures::future::pending())
    }
}

#[tokio::test]
async fn when_every_review_slot_stays_busy_the_caller_is_told_to_retry() {
    let reviewer = CachedAccessReviewer::with_lanes(
        Arc::new(Stuck),
        Duration::from_secs(10),
        Duration::from_secs(10),
        || review_gate::ReviewGate::new(1, 1, Duration::from_millis(20)),
    );
    let gate = Arc::new(Gate {
        authenticator: Authenticator::new(
            Arc::new(ArcSwap::from_pointee(AuthnConfig::default())),
            None,
        ),
        authorizer: Authorizer::new(&[], Some(reviewer)),
    });
    // The first review takes the only slot and never returns.
    let first = {
        let gate = gate.clone();
        tokio::spawn(async move { admit(&gate, "/a", &[], None).await })
    };
    tokio::time::sleep(Duration::from_millis(10)).await;
    let err = admit(&gate, "/b", &[], None).await.unwrap_err();
    assert_eq!((err.code, err.reason), (429, "TooManyRequests"));
    assert_eq!(err.details.map(|d| d.retry_after_seconds), Some(1));
    first.abort();
}

/// Never answers for anonymous callers; allows everyone else.
struct StuckForAnonymous;

impl AccessReviewer for StuckForAnonymous {
    fn review<'a>(
        &'a self,
        identity: &'a Identity,
        _attributes: &'a RequestAttributes,
    ) -> BoxFuture<'a, Result<Decision, ReviewError>> {
        match identity.name == identity::ANONYMOUS_USER {
            true => Box::pin(futures::future::pending()),
            false => Box::pin(async { Ok(Decision::allow()) }),
        }
    }
}

#[tokio::test]
async fn a_flood_of_anonymous_reviews_does_not_starve_the_aggregator() {
    let pki = pki();
    let mut gate = gate(&pki);
    gate.authorizer = Authorizer::new(
        &[],
        Some(CachedAccessReviewer::with_lanes(
            Arc::new(StuckForAnonymous),
            Duration::from_secs(10),
            Duration::from_secs(10),
            || review_gate::ReviewGate::new(1, 1, Duration::from_millis(20)),
        )),
    );
    let gate = Arc::new(gate);
    let flood: Vec<_> = (0..3)
        .map(|i| {
            let gate = gate.clone();
            tokio::spawn(async move { admit(&gate, &format!("/flood/{i}"), &[], None).await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let fp = front_proxy_cert(&pki);
    let id = admit(&gate, NODES, &[("X-Remote-User", "jane")], Some(&fp))
        .await
        .expect("the aggregator's user is reviewed in its own lane");
    assert_eq!(id.name, "jane");
    for f in flood {
        f.abort();
    }
}
