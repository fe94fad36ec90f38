//! Watches of the simulated apiserver: a streamed body of newline-separated watch events.
//! The workload's objects never change, so a watch sends the initial events when asked
//! (`sendInitialEvents=true`, closed by a BOOKMARK annotated `k8s.io/initial-events-end`, as
//! kube-rs's streaming-list mode expects), otherwise one BOOKMARK when bookmarks are allowed,
//! and then stays open until `timeoutSeconds` (at most 60 s) ends it.

use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use http::{HeaderValue, Response, header};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use serde_json::{Value, json};

use super::objects::{Kind, Objects, Query};
use crate::net::{Body, BoxError};

/// Longest a watch stays open.
pub(crate) const MAX_WATCH: Duration = Duration::from_secs(60);

/// What the client asked of the watch.
pub(crate) struct WatchParams {
    pub(crate) timeout: Option<u64>,
    pub(crate) bookmarks: bool,
    pub(crate) initial_events: bool,
}

/// One watch event line: `{"type": kind, "object": object}` and a newline.
pub(crate) fn event(kind: &str, object: &Value) -> Bytes {
    let mut line = json!({"type": kind, "object": object})
        .to_string()
        .into_bytes();
    line.push(b'\n');
    Bytes::from(line)
}

fn bookmark(kind: Kind, meta_only: bool, rv: u64, initial_end: bool) -> Value {
    let (kind, api_version) = if meta_only {
        ("PartialObjectMetadata", "meta.k8s.io/v1")
    } else {
        (kind.name(), "v1")
    };
    let mut metadata = json!({"resourceVersion": rv.to_string()});
    if initial_end {
        metadata["annotations"] = json!({"k8s.io/initial-events-end": "true"});
    }
    json!({"kind": kind, "apiVersion": api_version, "metadata": metadata})
}

/// The streamed response of a watch on `kind`.
pub(crate) fn respond(
    objects: &Objects,
    kind: Kind,
    q: &Query,
    params: &WatchParams,
) -> Response<Body> {
    let rv = objects.resource_version();
    let mut lines = Vec::new();
    if params.initial_events {
        let page = objects.page(kind, q, 0, None);
        lines.extend(page.items.iter().map(|o| event("ADDED", o)));
        lines.push(event("BOOKMARK", &bookmark(kind, q.meta_only, rv, true)));
    } else if params.bookmarks {
        lines.push(event("BOOKMARK", &bookmark(kind, q.meta_only, rv, false)));
    }
    let open_for = params
        .timeout
        .map_or(MAX_WATCH, Duration::from_secs)
        .min(MAX_WATCH);
    let events = futures::stream::iter(lines).map(|b| Ok::<_, BoxError>(Frame::data(b)));
    let idle = futures::stream::once(tokio::time::sleep(open_for))
        .filter_map(|()| futures::future::ready(None::<Result<Frame<Bytes>, BoxError>>));
    let mut resp = Response::new(BodyExt::boxed(StreamBody::new(events.chain(idle))));
    let content_type = if q.meta_only {
        "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1"
    } else {
        "application/json"
    };
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}
