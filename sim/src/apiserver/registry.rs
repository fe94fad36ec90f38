//! A small writable store in the simulated apiserver, for what `--self-managed-ca` touches:
//! Secrets (get, create; 409 when the name exists) and the metrics APIServices (get, JSON
//! merge patch; list and watch of the collection in `apiservice_list`), pre-filled like
//! `manifests/base/apiservice.yaml` with `insecureSkipTLSVerify: true`. Every write gives the
//! object the store's next resourceVersion and wakes the APIService watches.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use http::{Method, Response, StatusCode};
use hyper::body::Incoming;
use serde_json::{Value, json};
use tokio::sync::watch;

use super::{apiservice_list, respond};
use crate::net::Body;

/// Largest body read.
const MAX_BODY: usize = 256 * 1024;
pub(crate) const APISERVICES: &str = "/apis/apiregistration.k8s.io/v1/apiservices";

/// Objects by their full path (`/api/v1/namespaces/ns/secrets/name`).
pub(crate) struct Registry {
    objects: Mutex<BTreeMap<String, Value>>,
    /// The resourceVersion of the latest write; APIService watches wait on it.
    version: watch::Sender<u64>,
}

fn apiservice(version: &str, priority: u32) -> Value {
    json!({
        "kind": "APIService",
        "apiVersion": "apiregistration.k8s.io/v1",
        "metadata": {"name": format!("{version}.metrics.k8s.io"), "resourceVersion": "1"},
        "spec": {
            "group": "metrics.k8s.io",
            "version": version,
            "groupPriorityMinimum": 100,
            "versionPriority": priority,
            "insecureSkipTLSVerify": true,
            "service": {"name": "metrics-server", "namespace": "kube-system"},
        },
    })
}

impl Registry {
    pub(crate) fn new() -> Self {
        let mut objects = BTreeMap::new();
        for (version, priority) in [("v1beta1", 100), ("v1", 50)] {
            objects.insert(
                format!("{APISERVICES}/{version}.metrics.k8s.io"),
                apiservice(version, priority),
            );
        }
        Registry {
            objects: Mutex::new(objects),
            version: watch::Sender::new(1),
        }
    }

    /// The APIServices whose name `wanted` selects (all for `None`), and the store's
    /// resourceVersion they were read at.
    pub(crate) fn apiservices(&self, wanted: Option<&str>) -> (u64, Vec<Value>) {
        let objects = self.lock();
        let rv = *self.version.borrow();
        let prefix = format!("{APISERVICES}/");
        let items = objects
            .range(prefix.clone()..)
            .take_while(|(path, _)| path.starts_with(&prefix))
            .filter(|(path, _)| wanted.is_none_or(|name| path[prefix.len()..] == *name))
            .map(|(_, obj)| obj.clone())
            .collect();
        (rv, items)
    }

    /// Wakes when a write changes the store's resourceVersion.
    pub(crate) fn changes(&self) -> watch::Receiver<u64> {
        self.version.subscribe()
    }

    /// Stamps `obj` with the next resourceVersion (the caller holds the store's lock, so
    /// writes are numbered in order) and returns it.
    fn stamp(&self, obj: &mut Value) -> u64 {
        let mut next = 0;
        self.version.send_modify(|rv| {
            *rv += 1;
            next = *rv;
        });
        obj["metadata"]["resourceVersion"] = json!(next.to_string());
        next
    }

    /// Whether this store serves `path`.
    pub(crate) fn serves(path: &str) -> bool {
        path.starts_with(APISERVICES)
            || (path.starts_with("/api/v1/namespaces/")
                && path.split('/').nth(5) == Some("secrets"))
    }

    /// The object stored at `path`, if any.
    pub(crate) fn get(&self, path: &str) -> Option<Value> {
        self.lock().get(path.trim_end_matches('/')).cloned()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Value>> {
        self.objects.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) async fn handle(
        self: &Arc<Self>,
        method: &Method,
        path: &str,
        query: Option<&str>,
        body: Incoming,
    ) -> Response<Body> {
        let path = path.trim_end_matches('/');
        if *method == Method::GET && path == APISERVICES {
            return apiservice_list::respond(self, query);
        }
        match *method {
            Method::GET => match self.get(path) {
                Some(obj) => respond::ok(&obj),
                None => respond::not_found(kind_of(path), path.rsplit('/').next().unwrap_or("")),
            },
            Method::POST => match respond::read_json(body, MAX_BODY).await {
                Ok(obj) => self.create(path, obj),
                Err(resp) => resp,
            },
            Method::PATCH => match respond::read_json(body, MAX_BODY).await {
                Ok(patch) => self.patch(path, &patch),
                Err(resp) => resp,
            },
            _ => respond::method_not_allowed(),
        }
    }

    fn create(&self, collection: &str, mut obj: Value) -> Response<Body> {
        let Some(name) = obj["metadata"]["name"].as_str().map(str::to_owned) else {
            return respond::bad_request("metadata.name is required");
        };
        let path = format!("{collection}/{name}");
        let mut objects = self.lock();
        if objects.contains_key(&path) {
            return respond::status(
                StatusCode::CONFLICT,
                "AlreadyExists",
                &format!("{} {name:?} already exists", kind_of(&path)),
                None,
            );
        }
        self.stamp(&mut obj);
        objects.insert(path, obj.clone());
        respond::json_as(StatusCode::CREATED, respond::JSON, &obj)
    }

    pub(super) fn patch(&self, path: &str, patch: &Value) -> Response<Body> {
        let mut objects = self.lock();
        let Some(obj) = objects.get_mut(path) else {
            return respond::not_found(kind_of(path), path.rsplit('/').next().unwrap_or(""));
        };
        merge_patch(obj, patch);
        self.stamp(obj);
        respond::ok(obj)
    }
}

fn kind_of(path: &str) -> &'static str {
    if path.starts_with(APISERVICES) {
        "apiservices.apiregistration.k8s.io"
    } else {
        "secrets"
    }
}

/// RFC 7386 JSON merge patch: objects merge, `null` removes, anything else replaces.
fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = json!({});
    }
    let Value::Object(map) = target else { return };
    for (key, value) in patch {
        if value.is_null() {
            map.remove(key);
        } else {
            merge_patch(map.entry(key.clone()).or_insert(Value::Null), value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_patch_sets_and_removes() {
        let mut doc = apiservice("v1", 50);
        merge_patch(
            &mut doc,
            &json!({"spec": {"caBundle": "Zm9v", "insecureSkipTLSVerify": null}}),
        );
        assert_eq!(doc["spec"]["caBundle"], "Zm9v");
        assert!(doc["spec"].get("insecureSkipTLSVerify").is_none());
        assert_eq!(doc["spec"]["service"]["name"], "metrics-server");
    }
}
