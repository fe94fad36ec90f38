//! What the simulated apiserver offers an extension apiserver for delegated auth (upstream spec
//! §1.4, §1.5): `POST /apis/authentication.k8s.io/v1/tokenreviews` (known tokens only),
//! `POST /apis/authorization.k8s.io/v1/subjectaccessreviews` (allows `demo-user` and members
//! of `system:masters`, denies everyone else), and the
//! `kube-system/extension-apiserver-authentication` ConfigMap with get, list and watch; its
//! data can be replaced at run time ([`super::ApiServerHandle::set_extension_auth`]) and
//! watchers see a MODIFIED event, as when kube-apiserver rotates its front-proxy CA.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::{BodyExt, Limited, StreamBody};
use hyper::body::{Frame, Incoming};
use serde_json::{Value, json};
use tokio::sync::watch;

use super::respond;
use crate::sim::net::{Body, BoxError};

/// Name and namespace of the ConfigMap.
pub(crate) const CONFIGMAP_NAMESPACE: &str = "kube-system";
pub(crate) const CONFIGMAP_NAME: &str = "extension-apiserver-authentication";
/// The only user the access reviews allow (besides `system:masters`).
pub(crate) const ALLOWED_USER: &str = "demo-user";
/// Largest review body read.
const MAX_BODY: usize = 64 * 1024;
/// Longest a watch stays open.
const MAX_WATCH: Duration = Duration::from_secs(60);
/// Resource versions of the ConfigMap start here (opaque to clients).
const RV_BASE: u64 = 1_000_000;

/// A token the TokenReview accepts, and for whom.
#[derive(Clone, Debug)]
pub struct KnownToken {
    pub token: String,
    pub user: String,
    pub groups: Vec<String>,
}

/// The ConfigMap's data and generation (`None` = no ConfigMap).
pub(crate) type ConfigMapState = (u64, Option<BTreeMap<String, String>>);

pub(crate) struct AuthState {
    pub(crate) tokens: Vec<KnownToken>,
    pub(crate) configmap: watch::Sender<ConfigMapState>,
}

impl AuthState {
    pub(crate) fn new(tokens: Vec<KnownToken>, data: Option<BTreeMap<String, String>>) -> Self {
        AuthState {
            tokens,
            configmap: watch::Sender::new((RV_BASE, data)),
        }
    }

    /// Replaces the ConfigMap's data (`None` deletes it); watchers are told.
    pub(crate) fn set_configmap(&self, data: Option<BTreeMap<String, String>>) {
        self.configmap.send_modify(|(rv, d)| {
            *rv += 1;
            *d = data;
        });
    }
}

async fn read_json(body: Incoming) -> Result<Value, Response<Body>> {
    let bytes = Limited::new(body, MAX_BODY)
        .collect()
        .await
        .map_err(|_| respond::bad_request("request body too large or unreadable"))?
        .to_bytes();
    serde_json::from_slice(&bytes)
        .map_err(|e| respond::bad_request(&format!("invalid JSON body: {e}")))
}

/// `POST …/tokenreviews`.
pub(crate) async fn token_review(state: &AuthState, body: Incoming) -> Response<Body> {
    let mut review = match read_json(body).await {
        Ok(v) => v,
        Err(resp) => return resp,
    };
    let token = review["spec"]["token"].as_str().unwrap_or("");
    let status = match state
        .tokens
        .iter()
        .find(|t| t.token == token && !token.is_empty())
    {
        Some(t) => json!({"authenticated": true, "user": {"username": t.user, "groups": t.groups}}),
        None => json!({"authenticated": false, "error": "invalid bearer token"}),
    };
    review["status"] = status;
    respond::json_as(StatusCode::CREATED, respond::JSON, &review)
}

/// `POST …/subjectaccessreviews`.
pub(crate) async fn subject_access_review(body: Incoming) -> Response<Body> {
    let mut review = match read_json(body).await {
        Ok(v) => v,
        Err(resp) => return resp,
    };
    let spec = &review["spec"];
    let user = spec["user"].as_str().unwrap_or("");
    let masters = spec["groups"]
        .as_array()
        .is_some_and(|g| g.iter().any(|g| g == "system:masters"));
    review["status"] = if user == ALLOWED_USER || masters {
        json!({"allowed": true, "reason": "allowed by the simulated RBAC"})
    } else {
        json!({"allowed": false})
    };
    respond::json_as(StatusCode::CREATED, respond::JSON, &review)
}

fn configmap_object(rv: u64, data: &BTreeMap<String, String>) -> Value {
    json!({
        "kind": "ConfigMap",
        "apiVersion": "v1",
        "metadata": {
            "name": CONFIGMAP_NAME,
            "namespace": CONFIGMAP_NAMESPACE,
            "uid": "5c4b6c52-0000-4000-8000-00000000a17e",
            "resourceVersion": rv.to_string(),
        },
        "data": data,
    })
}

/// GET of the ConfigMap (`rest` = path after `/api/v1/namespaces/kube-system/configmaps`).
pub(crate) fn configmap(
    state: &AuthState,
    rest: &str,
    params: &std::collections::HashMap<String, String>,
) -> Response<Body> {
    let (rv, data) = state.configmap.borrow().clone();
    let name = rest.trim_matches('/');
    if !name.is_empty() {
        return match (&data, name == CONFIGMAP_NAME) {
            (Some(d), true) => respond::ok(&configmap_object(rv, d)),
            _ => respond::not_found("configmaps", name),
        };
    }
    let wanted = params.get("fieldSelector").map(String::as_str);
    let selected = |d: &BTreeMap<String, String>| -> Vec<Value> {
        match wanted {
            None | Some("") => vec![configmap_object(rv, d)],
            Some(sel) if sel == format!("metadata.name={CONFIGMAP_NAME}") => {
                vec![configmap_object(rv, d)]
            }
            Some(_) => Vec::new(),
        }
    };
    let items = data.as_ref().map(selected).unwrap_or_default();
    if matches!(params.get("watch").map(String::as_str), Some("true" | "1")) {
        let since = params
            .get("resourceVersion")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let timeout = params.get("timeoutSeconds").and_then(|t| t.parse().ok());
        return watch_configmap(state.configmap.subscribe(), since, timeout);
    }
    respond::ok(&json!({
        "kind": "ConfigMapList",
        "apiVersion": "v1",
        "metadata": {"resourceVersion": rv.to_string()},
        "items": items,
    }))
}

fn event(kind: &str, object: &Value) -> Bytes {
    let mut line = serde_json::to_vec(&json!({"type": kind, "object": object})).unwrap_or_default();
    line.push(b'\n');
    Bytes::from(line)
}

/// Streams the changes after `since`, until the timeout (at most a minute).
fn watch_configmap(
    rx: watch::Receiver<ConfigMapState>,
    since: u64,
    timeout: Option<u64>,
) -> Response<Body> {
    let open_for = timeout
        .map_or(MAX_WATCH, Duration::from_secs)
        .min(MAX_WATCH);
    let deadline = tokio::time::Instant::now() + open_for;
    let state = (rx, since, true);
    let events =
        futures::stream::unfold(state, move |(mut rx, mut seen, mut present)| async move {
            loop {
                let (rv, data) = rx.borrow_and_update().clone();
                if rv > seen {
                    seen = rv;
                    let line = match (&data, present) {
                        (Some(d), true) => event("MODIFIED", &configmap_object(rv, d)),
                        (Some(d), false) => event("ADDED", &configmap_object(rv, d)),
                        (None, _) => event("DELETED", &configmap_object(rv, &BTreeMap::new())),
                    };
                    present = data.is_some();
                    return Some((Ok::<_, BoxError>(Frame::data(line)), (rx, seen, present)));
                }
                match tokio::time::timeout_at(deadline, rx.changed()).await {
                    Ok(Ok(())) => continue,
                    _ => return None,
                }
            }
        });
    let mut resp = Response::new(BodyExt::boxed(StreamBody::new(events)));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(respond::JSON),
    );
    resp
}
