//! Request authorization of a live simulated kubelet, shaped like a real kubelet's
//! `--authentication-token-webhook --authorization-mode=Webhook`: the bearer token is
//! reviewed (TokenReview), then the user is checked for `<verb> nodes/<subresource>` on the
//! node (SubjectAccessReview). The reviews themselves are done by a [`KubeletAuthorizer`]
//! (the simulated node agent asks the real apiserver). Answers match the kubelet's: 401
//! `Unauthorized`, 403 `Forbidden (user=…, verb=…, resource=nodes, subresource(s)=[…])`.

use futures::future::BoxFuture;
use hyper::body::Incoming;
use hyper::{Method, Request, StatusCode, header};

/// What one request asks to do on a node.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct NodeAccess {
    pub node: String,
    /// `get`, `create`, ... (from the HTTP method, like the kubelet).
    pub verb: &'static str,
    /// `metrics`, `stats`, `log`, `spec` or `proxy` (from the path, like the kubelet).
    pub subresource: &'static str,
}

/// The outcome of reviewing one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Review {
    /// The token does not belong to anyone.
    Unauthenticated,
    /// The user is known but may not do this.
    Denied {
        user: String,
    },
    Allowed,
}

/// Reviews a bearer token and an access (for example through the Kubernetes API).
pub trait KubeletAuthorizer: Send + Sync + 'static {
    fn review<'a>(
        &'a self,
        token: &'a str,
        access: &'a NodeAccess,
    ) -> BoxFuture<'a, Result<Review, String>>;
}

/// Why a request was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Refusal {
    #[error("Unauthorized")]
    Unauthenticated,
    #[error(
        "Forbidden (user={user}, verb={}, resource=nodes, subresource(s)=[{}])",
        access.verb,
        access.subresource
    )]
    Forbidden { user: String, access: NodeAccess },
    /// The review itself failed (the kubelet answers 500 then).
    #[error("Internal Server Error: authorization failed: {0}")]
    ReviewFailed(String),
}

impl Refusal {
    pub fn status(&self) -> StatusCode {
        match self {
            Refusal::Unauthenticated => StatusCode::UNAUTHORIZED,
            Refusal::Forbidden { .. } => StatusCode::FORBIDDEN,
            Refusal::ReviewFailed(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// The access a request to `node` asks for (the kubelet's path → subresource mapping).
pub fn access_of(node: &str, method: &Method, path: &str) -> NodeAccess {
    let verb = match *method {
        Method::POST => "create",
        Method::PUT => "update",
        Method::PATCH => "patch",
        Method::DELETE => "delete",
        _ => "get",
    };
    let under = |prefix: &str| path == prefix || path.starts_with(&format!("{prefix}/"));
    let subresource = if under("/stats") {
        "stats"
    } else if under("/metrics") {
        "metrics"
    } else if under("/logs") {
        "log"
    } else if under("/spec") {
        "spec"
    } else {
        "proxy"
    };
    NodeAccess {
        node: node.to_owned(),
        verb,
        subresource,
    }
}

/// Checks one request to `node`.
pub async fn check(
    authorizer: &dyn KubeletAuthorizer,
    node: &str,
    req: &Request<Incoming>,
) -> Result<(), Refusal> {
    let token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or(Refusal::Unauthenticated)?;
    let access = access_of(node, req.method(), req.uri().path());
    match authorizer.review(token, &access).await {
        Ok(Review::Allowed) => Ok(()),
        Ok(Review::Unauthenticated) => Err(Refusal::Unauthenticated),
        Ok(Review::Denied { user }) => Err(Refusal::Forbidden { user, access }),
        Err(e) => Err(Refusal::ReviewFailed(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_map_to_the_kubelets_subresources() {
        let get = |p: &str| access_of("n1", &Method::GET, p).subresource;
        assert_eq!(get("/metrics/resource"), "metrics");
        assert_eq!(get("/metrics"), "metrics");
        assert_eq!(get("/stats/summary"), "stats");
        assert_eq!(get("/logs/x"), "log");
        assert_eq!(get("/pods"), "proxy");
        assert_eq!(get("/metricsx"), "proxy");
        assert_eq!(access_of("n1", &Method::POST, "/exec").verb, "create");
    }

    #[test]
    fn forbidden_reads_like_the_kubelets_answer() {
        let refusal = Refusal::Forbidden {
            user: "system:anonymous".into(),
            access: access_of("n1", &Method::GET, "/metrics/resource"),
        };
        assert_eq!(refusal.status(), StatusCode::FORBIDDEN);
        assert_eq!(
            refusal.to_string(),
            "Forbidden (user=system:anonymous, verb=get, resource=nodes, subresource(s)=[metrics])"
        );
    }
}
