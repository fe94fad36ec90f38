//! What the simulated apiserver offers an extension apiserver for delegated auth (upstream spec
//! §1.4, §1.5): `POST /apis/authentication.k8s.io/v1/tokenreviews` (known tokens only),
//! `POST /apis/authorization.k8s.io/v1/subjectaccessreviews` (allows `demo-user` and members
//! of `system:masters`, denies everyone else), and the
//! `kube-system/extension-apiserver-authentication` ConfigMap with get, list and watch; its
//! data can be replaced at run time ([`super::ApiServerHandle::set_extension_auth`]) and
//! watchers see a MODIFIED event, as when kube-apiserver rotates its front-proxy CA. Watches
//! follow the apiserver's resourceVersion rules as client-go's informers use them: without a
//! resourceVersion (or "0") the current object comes first as ADDED; with
//! `sendInitialEvents=true` (client-go's streaming list) it is followed by a BOOKMARK annotated
//! `k8s.io/initial-events-end`; with a resourceVersion only later changes come.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use http::{Response, StatusCode};
use hyper::body::Incoming;
use serde_json::{Value, json};
use tokio::sync::watch;

use super::respond;
use super::watch::{MAX_WATCH, event};
use crate::net::Body;

/// Name and namespace of the ConfigMap.
pub(crate) const CONFIGMAP_NAMESPACE: &str = "kube-system";
pub(crate) const CONFIGMAP_NAME: &str = "extension-apiserver-authentication";
/// The only user the access reviews allow (besides `system:masters`).
pub(crate) const ALLOWED_USER: &str = "demo-user";
/// Largest review body read.
const MAX_BODY: usize = 64 * 1024;
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

/// `POST …/tokenreviews`.
pub(crate) async fn token_review(state: &AuthState, body: Incoming) -> Response<Body> {
    let mut review = match respond::read_json(body, MAX_BODY).await {
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
    let mut review = match respond::read_json(body, MAX_BODY).await {
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
        let flag = |name: &str| matches!(params.get(name).map(String::as_str), Some("true" | "1"));
        let since = params
            .get("resourceVersion")
            .and_then(|v| v.parse::<u64>().ok())
            .filter(|rv| *rv > 0);
        let asked = ConfigMapWatch {
            since,
            initial_events: flag("sendInitialEvents"),
            selected: match wanted {
                None | Some("") => true,
                Some(sel) => sel == format!("metadata.name={CONFIGMAP_NAME}"),
            },
            timeout: params.get("timeoutSeconds").and_then(|t| t.parse().ok()),
        };
        return watch_configmap(state.configmap.subscribe(), &asked);
    }
    respond::ok(&json!({
        "kind": "ConfigMapList",
        "apiVersion": "v1",
        "metadata": {"resourceVersion": rv.to_string()},
        "items": items,
    }))
}

/// What a watch of the ConfigMap asked for.
struct ConfigMapWatch {
    /// A resourceVersion to start after; `None` ("" or "0") starts with the current object.
    since: Option<u64>,
    /// `sendInitialEvents=true`: the current object, then the initial-events-end bookmark.
    initial_events: bool,
    /// The field selector matches the ConfigMap (else only bookmarks are sent).
    selected: bool,
    timeout: Option<u64>,
}

/// The events that open a watch, and the resourceVersion later changes come after.
fn opening_events(
    rx: &watch::Receiver<ConfigMapState>,
    asked: &ConfigMapWatch,
) -> (Vec<Bytes>, u64) {
    let (rv, data) = rx.borrow().clone();
    if let Some(since) = asked.since.filter(|_| !asked.initial_events) {
        return (Vec::new(), since);
    }
    let mut lines = Vec::new();
    if let (Some(d), true) = (&data, asked.selected) {
        lines.push(event("ADDED", &configmap_object(rv, d)));
    }
    if asked.initial_events {
        let bookmark = json!({
            "kind": "ConfigMap",
            "apiVersion": "v1",
            "metadata": {
                "resourceVersion": rv.to_string(),
                "annotations": {"k8s.io/initial-events-end": "true"},
            },
        });
        lines.push(event("BOOKMARK", &bookmark));
    }
    (lines, rv)
}

/// The event for a change to `data` at `rv`, given whether the object existed before.
fn change_event(rv: u64, data: &Option<BTreeMap<String, String>>, existed: bool) -> Option<Bytes> {
    match (data, existed) {
        (Some(d), true) => Some(event("MODIFIED", &configmap_object(rv, d))),
        (Some(d), false) => Some(event("ADDED", &configmap_object(rv, d))),
        (None, true) => Some(event("DELETED", &configmap_object(rv, &BTreeMap::new()))),
        (None, false) => None,
    }
}

/// Streams the opening events, then every change, until the timeout (at most a minute).
fn watch_configmap(rx: watch::Receiver<ConfigMapState>, asked: &ConfigMapWatch) -> Response<Body> {
    let open_for = asked
        .timeout
        .map_or(MAX_WATCH, Duration::from_secs)
        .min(MAX_WATCH);
    let deadline = tokio::time::Instant::now() + open_for;
    let (opening, after) = opening_events(&rx, asked);
    let existed = rx.borrow().1.is_some();
    let selected = asked.selected;
    let opening = futures::stream::iter(opening);
    let changes = futures::stream::unfold(
        (rx, after, existed),
        move |(mut rx, mut seen, mut existed)| async move {
            loop {
                let (rv, data) = rx.borrow_and_update().clone();
                if rv > seen {
                    seen = rv;
                    let line = change_event(rv, &data, existed).filter(|_| selected);
                    existed = data.is_some();
                    if let Some(line) = line {
                        return Some((line, (rx, seen, existed)));
                    }
                    continue;
                }
                match tokio::time::timeout_at(deadline, rx.changed()).await {
                    Ok(Ok(())) => continue,
                    _ => return None,
                }
            }
        },
    );
    respond::json_stream(opening.chain(changes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(data: Option<&str>) -> watch::Receiver<ConfigMapState> {
        let data = data.map(|ca| BTreeMap::from([("client-ca-file".to_owned(), ca.to_owned())]));
        watch::Sender::new((RV_BASE + 5, data)).subscribe()
    }

    fn asked(since: Option<u64>, initial_events: bool) -> ConfigMapWatch {
        ConfigMapWatch {
            since,
            initial_events,
            selected: true,
            timeout: None,
        }
    }

    fn types(lines: &[Bytes]) -> Vec<String> {
        lines
            .iter()
            .map(|l| {
                serde_json::from_slice::<Value>(l).unwrap()["type"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect()
    }

    #[test]
    fn a_streaming_list_gets_the_object_as_added_then_the_initial_events_end_bookmark() {
        let (lines, after) = opening_events(&state(Some("ca")), &asked(None, true));
        assert_eq!(types(&lines), ["ADDED", "BOOKMARK"]);
        let bookmark: Value = serde_json::from_slice(&lines[1]).unwrap();
        let meta = &bookmark["object"]["metadata"];
        assert_eq!(meta["annotations"]["k8s.io/initial-events-end"], "true");
        assert_eq!(meta["resourceVersion"], (RV_BASE + 5).to_string());
        assert_eq!(after, RV_BASE + 5);
    }

    #[test]
    fn a_watch_without_a_resource_version_starts_with_the_current_object_as_added() {
        let (lines, _) = opening_events(&state(Some("ca")), &asked(None, false));
        assert_eq!(types(&lines), ["ADDED"]);
        let (lines, _) = opening_events(&state(None), &asked(None, true));
        assert_eq!(types(&lines), ["BOOKMARK"], "no object: only the bookmark");
    }

    #[test]
    fn a_watch_from_a_resource_version_gets_only_later_changes() {
        let (lines, after) = opening_events(&state(Some("ca")), &asked(Some(RV_BASE + 2), false));
        assert!(lines.is_empty());
        assert_eq!(after, RV_BASE + 2);
        let data = Some(BTreeMap::new());
        let added = change_event(1, &data, false).unwrap();
        let modified = change_event(1, &data, true).unwrap();
        let deleted = change_event(1, &None, true).unwrap();
        assert_eq!(
            types(&[added, modified, deleted]),
            ["ADDED", "MODIFIED", "DELETED"]
        );
        assert!(change_event(1, &None, false).is_none());
    }
}
