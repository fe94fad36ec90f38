//! List and watch of the APIService collection, as a real API server serves them: a server
//! watching its own APIServices (one `metadata.name` field selector per object) lists, then
//! watches from the list's resourceVersion, or streams the initial list
//! (`sendInitialEvents=true`: the objects as ADDED, then the initial-events-end BOOKMARK).
//! Later writes to a watched APIService arrive as MODIFIED; the watch ends at
//! `timeoutSeconds` (at most a minute).

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use http::Response;
use serde_json::{Value, json};

use super::registry::Registry;
use super::respond;
use super::select;
use super::watch::{MAX_WATCH, event};
use crate::net::Body;

const API_VERSION: &str = "apiregistration.k8s.io/v1";

/// `GET /apis/apiregistration.k8s.io/v1/apiservices[?fieldSelector=metadata.name=…][&watch=1]`.
pub(crate) fn respond(registry: &Arc<Registry>, query: Option<&str>) -> Response<Body> {
    let params = match select::parse_query(query) {
        Ok(params) => params,
        Err(e) => return respond::bad_request(&e),
    };
    let wanted = match name_selected(&params) {
        Ok(wanted) => wanted,
        Err(e) => return respond::bad_request(&e),
    };
    if flag(&params, "watch") {
        let asked = Asked {
            wanted,
            since: params
                .get("resourceVersion")
                .and_then(|rv| rv.parse::<u64>().ok())
                .filter(|rv| *rv > 0),
            initial_events: flag(&params, "sendInitialEvents"),
            timeout: params.get("timeoutSeconds").and_then(|t| t.parse().ok()),
        };
        return watch(registry.clone(), asked);
    }
    let (rv, items) = registry.apiservices(wanted.as_deref());
    respond::ok(&json!({
        "kind": "APIServiceList",
        "apiVersion": API_VERSION,
        "metadata": {"resourceVersion": rv.to_string()},
        "items": items,
    }))
}

fn flag(params: &HashMap<String, String>, name: &str) -> bool {
    matches!(params.get(name).map(String::as_str), Some("true" | "1"))
}

/// The one field selector APIServices take here: `metadata.name=NAME`.
fn name_selected(params: &HashMap<String, String>) -> Result<Option<String>, String> {
    match params.get("fieldSelector").map(String::as_str) {
        None | Some("") => Ok(None),
        Some(selector) => match selector.strip_prefix("metadata.name=") {
            Some(name) if !name.contains(',') => Ok(Some(name.to_owned())),
            _ => Err(format!(
                "field selector {selector:?} not supported for apiservices"
            )),
        },
    }
}

/// What a watch asked for.
struct Asked {
    wanted: Option<String>,
    /// Start after this resourceVersion; `None` ("" or "0") starts with the current objects.
    since: Option<u64>,
    initial_events: bool,
    timeout: Option<u64>,
}

/// The opening events, the resourceVersion later changes come after, and the names of the
/// objects the client holds from then on (listed before, or sent now).
fn opening(registry: &Registry, asked: &Asked) -> (Vec<Bytes>, u64, BTreeSet<String>) {
    let (rv, items) = registry.apiservices(asked.wanted.as_deref());
    let shown = items.iter().map(name).collect();
    if let Some(since) = asked.since.filter(|_| !asked.initial_events) {
        return (Vec::new(), since, shown);
    }
    let mut lines: Vec<Bytes> = items.iter().map(|obj| event("ADDED", obj)).collect();
    if asked.initial_events {
        let end = json!({
            "kind": "APIService",
            "apiVersion": API_VERSION,
            "metadata": {
                "resourceVersion": rv.to_string(),
                "annotations": {"k8s.io/initial-events-end": "true"},
            },
        });
        lines.push(event("BOOKMARK", &end));
    }
    (lines, rv, shown)
}

fn resource_version(obj: &Value) -> u64 {
    obj["metadata"]["resourceVersion"]
        .as_str()
        .and_then(|rv| rv.parse().ok())
        .unwrap_or(0)
}

fn name(obj: &Value) -> String {
    obj["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// The events for the writes after `seen`: ADDED for an object the watch has not shown,
/// else MODIFIED.
fn changes_after(
    registry: &Registry,
    asked: &Asked,
    seen: u64,
    shown: &mut BTreeSet<String>,
) -> Vec<Bytes> {
    let (_, items) = registry.apiservices(asked.wanted.as_deref());
    items
        .iter()
        .filter(|obj| resource_version(obj) > seen)
        .map(|obj| {
            let kind = if shown.insert(name(obj)) {
                "ADDED"
            } else {
                "MODIFIED"
            };
            event(kind, obj)
        })
        .collect()
}

/// Streams the opening events, then every write to a selected APIService, until the timeout.
fn watch(registry: Arc<Registry>, asked: Asked) -> Response<Body> {
    let open_for = asked
        .timeout
        .map_or(MAX_WATCH, Duration::from_secs)
        .min(MAX_WATCH);
    let deadline = tokio::time::Instant::now() + open_for;
    let changes_rx = registry.changes();
    let (opening, after, shown) = opening(&registry, &asked);
    let opening = futures::stream::iter(opening);
    let changes = futures::stream::unfold(
        (registry, asked, changes_rx, after, shown),
        move |(registry, asked, mut rx, mut seen, mut shown)| async move {
            loop {
                let rv = *rx.borrow_and_update();
                if rv > seen {
                    let lines = changes_after(&registry, &asked, seen, &mut shown);
                    seen = rv;
                    if !lines.is_empty() {
                        let lines = futures::stream::iter(lines);
                        return Some((lines, (registry, asked, rx, seen, shown)));
                    }
                    continue;
                }
                match tokio::time::timeout_at(deadline, rx.changed()).await {
                    Ok(Ok(())) => continue,
                    _ => return None,
                }
            }
        },
    )
    .flatten();
    respond::json_stream(opening.chain(changes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(q: &str) -> HashMap<String, String> {
        select::parse_query(Some(q)).unwrap_or_default()
    }

    #[test]
    fn only_a_name_selector_is_taken() {
        assert_eq!(name_selected(&query("")), Ok(None));
        assert_eq!(
            name_selected(&query("fieldSelector=metadata.name%3Dv1.metrics.k8s.io")),
            Ok(Some("v1.metrics.k8s.io".to_owned()))
        );
        assert!(name_selected(&query("fieldSelector=spec.group%3Dx")).is_err());
    }

    #[test]
    fn a_watch_from_a_listed_version_opens_empty_and_sees_later_writes() {
        let registry = Registry::new();
        let asked = |since| Asked {
            wanted: Some("v1beta1.metrics.k8s.io".to_owned()),
            since,
            initial_events: false,
            timeout: None,
        };
        let (rv, items) = registry.apiservices(Some("v1beta1.metrics.k8s.io"));
        assert_eq!(items.len(), 1, "the listed object");
        assert!(opening(&registry, &asked(Some(rv))).0.is_empty());
        let (lines, _, _) = opening(&registry, &asked(None));
        assert_eq!(lines.len(), 1, "without a version, the current object");

        let mut shown: BTreeSet<String> = ["v1beta1.metrics.k8s.io".to_owned()].into();
        let path = format!(
            "{}/v1beta1.metrics.k8s.io",
            super::super::registry::APISERVICES
        );
        let _ = registry.patch(&path, &json!({"spec": {"caBundle": "Zm9v"}}));
        let lines = changes_after(&registry, &asked(Some(rv)), rv, &mut shown);
        assert_eq!(lines.len(), 1);
        let line: Value = serde_json::from_slice(&lines[0]).unwrap_or_default();
        assert_eq!(line["type"], "MODIFIED");
        assert_eq!(line["object"]["spec"]["caBundle"], "Zm9v");
        assert!(resource_version(&line["object"]) > rv);
        assert!(
            changes_after(&registry, &asked(Some(rv)), rv + 1, &mut shown).is_empty(),
            "a write is sent once"
        );
    }

    #[test]
    fn a_streamed_list_ends_with_the_initial_events_bookmark() {
        let registry = Registry::new();
        let asked = Asked {
            wanted: None,
            since: Some(1),
            initial_events: true,
            timeout: None,
        };
        let (lines, _, _) = opening(&registry, &asked);
        let events: Vec<Value> = lines
            .iter()
            .map(|l| serde_json::from_slice(l).unwrap_or_default())
            .collect();
        assert_eq!(events.len(), 3, "both APIServices, then the bookmark");
        assert!(events[..2].iter().all(|e| e["type"] == "ADDED"));
        assert_eq!(events[2]["type"], "BOOKMARK");
        assert_eq!(
            events[2]["object"]["metadata"]["annotations"]["k8s.io/initial-events-end"],
            "true"
        );
    }
}
