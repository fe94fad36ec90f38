//! Builds the request gate from the flags: the API clients for reviews
//! (`--authentication-kubeconfig`, `--authorization-kubeconfig`, each defaulting to the
//! `--kubeconfig` client), the certificate settings and their ConfigMap watch, the cached
//! TokenReview and SubjectAccessReview clients and the chores that purge their caches.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use futures::future::BoxFuture;

use super::{
    Authenticator, Authorizer, CachedAccessReviewer, CachedTokenReviewer, Gate, KubeAccessReviewer,
    KubeTokenReviewer, ca_sources,
};
use crate::config::AuthConfig;
use crate::server::housekeeping::Chores;

/// How often expired review answers are dropped from the caches.
const CACHE_PURGE_PERIOD: Duration = Duration::from_secs(10);

/// The gate and the tasks that keep it current: the certificate settings' watch (the review
/// caches' purges are housekeeping chores).
pub struct AuthSetup {
    pub gate: Arc<Gate>,
    pub tasks: Vec<BoxFuture<'static, ()>>,
}

/// Builds the gate; fails when the settings cannot be loaded (see `ca_sources`).
pub async fn build(
    cfg: &AuthConfig,
    default_client: &kube::Client,
    chores: &mut Chores,
) -> anyhow::Result<AuthSetup> {
    let authn_client = client_for(
        cfg.authentication_kubeconfig.as_deref(),
        default_client,
        "--authentication-kubeconfig",
    )
    .await?;
    let authz_client = client_for(
        cfg.authorization_kubeconfig.as_deref(),
        default_client,
        "--authorization-kubeconfig",
    )
    .await?;
    let loaded = ca_sources::load(cfg, Some(authn_client.clone())).await?;
    let tokens = CachedTokenReviewer::new(
        Arc::new(KubeTokenReviewer::new(authn_client)),
        cfg.token_cache_ttl,
    );
    let reviewer = CachedAccessReviewer::new(
        Arc::new(KubeAccessReviewer::new(authz_client)),
        cfg.authorized_ttl,
        cfg.unauthorized_ttl,
    );
    let tasks: Vec<_> = loaded.watch.into_iter().collect();
    chores.every(
        "token review cache",
        CACHE_PURGE_PERIOD,
        tokens.expired_purger(),
    );
    chores.every(
        "access review cache",
        CACHE_PURGE_PERIOD,
        reviewer.expired_purger(),
    );
    let gate = Gate {
        authenticator: Authenticator::new(loaded.current, Some(tokens)),
        authorizer: Authorizer::new(&cfg.always_allow_paths, Some(reviewer)),
    };
    Ok(AuthSetup {
        gate: Arc::new(gate),
        tasks,
    })
}

async fn client_for(
    path: Option<&Path>,
    default: &kube::Client,
    flag: &str,
) -> anyhow::Result<kube::Client> {
    match path {
        None => Ok(default.clone()),
        Some(p) => {
            let cfg = crate::server::kube_setup::kube_config(Some(p))
                .await
                .with_context(|| format!("loading {flag}"))?;
            kube::Client::try_from(cfg).with_context(|| format!("building the client of {flag}"))
        }
    }
}
