//! Builds the request gate from the flags: the API clients for reviews
//! (`--authentication-kubeconfig`, `--authorization-kubeconfig`, each defaulting to the
//! `--kubeconfig` client), the certificate settings and their ConfigMap watch, the cached
//! TokenReview and SubjectAccessReview clients.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use futures::future::BoxFuture;

use super::auth::{
    Authenticator, Authorizer, CachedAccessReviewer, CachedTokenReviewer, Gate, KubeAccessReviewer,
    KubeTokenReviewer, source,
};
use crate::config::AuthConfig;

/// The gate and the task that keeps its certificate settings current.
pub struct AuthSetup {
    pub gate: Arc<Gate>,
    pub watch: Option<BoxFuture<'static, ()>>,
}

/// Builds the gate; fails when the settings cannot be loaded (see `auth::source`).
pub async fn build(cfg: &AuthConfig, default_client: &kube::Client) -> anyhow::Result<AuthSetup> {
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
    let loaded = source::load(cfg, Some(authn_client.clone())).await?;
    let tokens = CachedTokenReviewer::new(
        Arc::new(KubeTokenReviewer::new(authn_client)),
        cfg.token_cache_ttl,
    );
    let reviewer = CachedAccessReviewer::new(
        Arc::new(KubeAccessReviewer::new(authz_client)),
        cfg.authorized_ttl,
        cfg.unauthorized_ttl,
    );
    let gate = Gate {
        authenticator: Authenticator::new(loaded.current, Some(tokens)),
        authorizer: Authorizer::new(&cfg.always_allow_paths, Some(reviewer)),
    };
    Ok(AuthSetup {
        gate: Arc::new(gate),
        watch: loaded.watch,
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
            let cfg = super::kube_setup::kube_config(Some(p))
                .await
                .with_context(|| format!("loading {flag}"))?;
            kube::Client::try_from(cfg).with_context(|| format!("building the client of {flag}"))
        }
    }
}
