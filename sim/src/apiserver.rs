//! A minimal Kubernetes API server and aggregator over HTTPS, enough for kubectl
//! (`top`, `get` on metrics resources; kubectl-wire §0, §2, §7, §9.2) and for the kube-rs
//! watchers of a metrics server (list + watch of Nodes, metadata-only Pods with
//! `fieldSelector=status.phase=Running`).
//!
//! Serves discovery (`/version`, `/api`, `/apis`, `/api/v1`), read-only core objects from the
//! [`Workload`] (nodes, pods, namespaces; get, list with selectors and paging, watch), and
//! proxies everything under `/apis/metrics.k8s.io` to the metrics backend like kube-aggregator.
//! Serves OpenAPI v2 and v3 with the backend's merged in or proxied (see `openapi`), and the
//! `/livez`, `/readyz`, `/healthz` probes (see `health`).
//! Serves TokenReview, SubjectAccessReview and the `extension-apiserver-authentication`
//! ConfigMap for delegated auth (see `auth`).
//! Every request but the probes needs the bearer token (401 Status otherwise). JSON, with
//! `Content-Type: application/json` (or the negotiated discovery / metadata / OpenAPI type).

mod apiservice_list;
mod auth;
mod discovery;
mod health;
mod objects;
mod openapi;
mod proxy;
mod registry;
mod respond;
mod select;
mod watch;

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, PoisonError, RwLock};

use http::{HeaderMap, Method, Request, Response, header};
use hyper::body::Incoming;
use serde_json::json;
use tokio::sync::watch as signal;

use self::discovery::DiscoveryFormat;
use self::objects::{Kind, Objects, Query};
use self::select::{FieldSelector, LabelSelector};
use super::net::{self, Body, SimError};
use super::workload::Workload;
use metrics_server::pki::PemPair;

pub use self::auth::KnownToken;

/// The user the aggregator reports to the backend for bearer-token clients.
const DEMO_USER: &str = "demo-user";

/// Where the aggregator sends `/apis/metrics.k8s.io/...`.
#[derive(Clone, Debug)]
pub struct MetricsBackend {
    /// `https://127.0.0.1:PORT`
    pub url: String,
    /// CA that signed the backend's serving certificate.
    pub ca_pem: String,
    /// Front-proxy client certificate and key the aggregator presents.
    pub client_cert_pem: String,
    pub client_key_pem: String,
}

/// How to start the apiserver.
#[derive(Clone)]
pub struct ApiServerOptions {
    /// Listen address; `127.0.0.1:0` picks a free port.
    pub bind: SocketAddr,
    /// Serving certificate and key.
    pub serving: PemPair,
    /// The token clients must present as `Authorization: Bearer <token>`.
    pub bearer_token: String,
    pub workload: Arc<Workload>,
    /// `(node, ip, port)` of each kubelet, for `status.daemonEndpoints.kubeletEndpoint.Port`.
    pub kubelets: Vec<(String, IpAddr, u16)>,
    pub metrics_backend: Option<MetricsBackend>,
    /// Tokens the TokenReview accepts (the bearer token above is always accepted, as
    /// `demo-user`).
    pub known_tokens: Vec<KnownToken>,
    /// Data of `kube-system/extension-apiserver-authentication`; `None` = no ConfigMap.
    pub extension_auth: Option<BTreeMap<String, String>>,
}

impl ApiServerOptions {
    /// Options with the defaults: `127.0.0.1:0`, no kubelets, no backend.
    pub fn new(serving: PemPair, bearer_token: impl Into<String>, workload: Arc<Workload>) -> Self {
        ApiServerOptions {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            serving,
            bearer_token: bearer_token.into(),
            workload,
            kubelets: Vec::new(),
            metrics_backend: None,
            known_tokens: Vec::new(),
            extension_auth: None,
        }
    }
}

struct State {
    objects: Objects,
    token: String,
    addr: SocketAddr,
    backend: RwLock<Option<Arc<proxy::Backend>>>,
    auth: auth::AuthState,
    registry: Arc<registry::Registry>,
}

impl State {
    /// The metrics backend the aggregator currently points at.
    fn metrics_backend(&self) -> Option<Arc<proxy::Backend>> {
        self.backend
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// The running apiserver. Dropping it stops it.
pub struct ApiServerHandle {
    addr: SocketAddr,
    state: Arc<State>,
    shutdown: signal::Sender<bool>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl ApiServerHandle {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `https://127.0.0.1:PORT`, the cluster URL for a kubeconfig.
    pub fn url(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// Points the aggregator at a (new) metrics backend, or at none.
    pub fn set_metrics_backend(&self, backend: Option<&MetricsBackend>) -> Result<(), SimError> {
        let backend = backend.map(proxy::Backend::new).transpose()?.map(Arc::new);
        *self
            .state
            .backend
            .write()
            .unwrap_or_else(PoisonError::into_inner) = backend;
        Ok(())
    }

    /// Replaces the data of `kube-system/extension-apiserver-authentication` (`None` deletes
    /// it); watchers get the change.
    pub fn set_extension_auth(&self, data: Option<BTreeMap<String, String>>) {
        self.state.auth.set_configmap(data);
    }

    /// An object of the writable store (Secrets, APIServices) by its API path, as JSON.
    pub fn stored_object(&self, path: &str) -> Option<serde_json::Value> {
        self.state.registry.get(path)
    }

    /// Stops serving and waits for the listener to close.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for ApiServerHandle {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}

/// Starts the apiserver.
pub async fn spawn_apiserver(opts: ApiServerOptions) -> Result<ApiServerHandle, SimError> {
    let tls = net::server_tls(&opts.serving.cert_pem, &opts.serving.key_pem)?;
    let listener = net::bind(opts.bind).await?;
    let addr = listener.local_addr().map_err(|source| SimError::Bind {
        addr: opts.bind,
        source,
    })?;
    let backend = opts
        .metrics_backend
        .as_ref()
        .map(proxy::Backend::new)
        .transpose()?;
    let mut tokens = vec![KnownToken {
        token: opts.bearer_token.clone(),
        user: DEMO_USER.to_owned(),
        groups: vec!["system:authenticated".to_owned()],
    }];
    tokens.extend(opts.known_tokens);
    let state = Arc::new(State {
        objects: Objects::new(opts.workload, &opts.kubelets),
        token: opts.bearer_token,
        addr,
        backend: RwLock::new(backend.map(Arc::new)),
        auth: auth::AuthState::new(tokens, opts.extension_auth),
        registry: Arc::new(registry::Registry::new()),
    });
    let (shutdown, stop_rx) = signal::channel(false);
    let service_state = state.clone();
    let service = move |req: Request<Incoming>| {
        let state = service_state.clone();
        async move { Ok::<_, Infallible>(handle(&state, req).await) }
    };
    let task = net::spawn_https(listener, tls, service, stop_rx);
    tracing::debug!(%addr, "simulated apiserver listening");
    Ok(ApiServerHandle {
        addr,
        state,
        shutdown,
        task: Some(task),
    })
}

async fn handle(state: &State, req: Request<Incoming>) -> Response<Body> {
    let (method, uri) = (req.method().clone(), req.uri().clone());
    let resp = route(state, req).await;
    tracing::debug!(%method, %uri, status = resp.status().as_u16(), "apiserver request");
    resp
}

fn authorized(state: &State, headers: &HeaderMap) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|t| t == state.token)
}

async fn route(state: &State, req: Request<Incoming>) -> Response<Body> {
    if req.method() == Method::GET
        && let Some((probe, check)) = health::parse(req.uri().path())
    {
        return health::respond(probe, check, req.uri().query());
    }
    if !authorized(state, req.headers()) {
        return respond::unauthorized();
    }
    if registry::Registry::serves(req.uri().path()) {
        let (method, uri) = (req.method().clone(), req.uri().clone());
        return state
            .registry
            .handle(&method, uri.path(), uri.query(), req.into_body())
            .await;
    }
    if req.method() == Method::POST {
        return match req.uri().path() {
            "/apis/authentication.k8s.io/v1/tokenreviews" => {
                auth::token_review(&state.auth, req.into_body()).await
            }
            "/apis/authorization.k8s.io/v1/subjectaccessreviews" => {
                auth::subject_access_review(req.into_body()).await
            }
            _ => respond::method_not_allowed(),
        };
    }
    if req.method() != Method::GET {
        return respond::method_not_allowed();
    }
    get(state, &req).await
}

/// Whether the aggregator sends `path` to the metrics backend: the group and its OpenAPI.
fn aggregated(path: &str) -> bool {
    path == "/apis/metrics.k8s.io"
        || path.starts_with("/apis/metrics.k8s.io/")
        || path.starts_with(openapi::METRICS_V3_PREFIX)
}

/// An authorized GET.
async fn get(state: &State, req: &Request<Incoming>) -> Response<Body> {
    let path = req.uri().path();
    let accept = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if aggregated(path) {
        let Some(backend) = state.metrics_backend() else {
            return respond::service_unavailable();
        };
        let target = req.uri().path_and_query().map_or(path, |pq| pq.as_str());
        return backend
            .forward(target, req.headers().get(header::ACCEPT), DEMO_USER)
            .await;
    }
    if openapi::serves(path) {
        return openapi::respond(path, accept, state.metrics_backend(), DEMO_USER).await;
    }
    let configmaps = format!(
        "/api/v1/namespaces/{}/configmaps",
        auth::CONFIGMAP_NAMESPACE
    );
    if let Some(rest) = path.strip_prefix(configmaps.as_str()) {
        return match select::parse_query(req.uri().query()) {
            Ok(params) => auth::configmap(&state.auth, rest, &params),
            Err(e) => respond::bad_request(&e),
        };
    }
    match path {
        "/version" => discovery::version(),
        "/api" => discovery::core_groups(DiscoveryFormat::negotiate(accept), state.addr),
        "/apis" => discovery::groups(DiscoveryFormat::negotiate(accept)),
        "/api/v1" => discovery::core_v1_resources(),
        _ => match path.strip_prefix("/api/v1/") {
            Some(rest) => core(state, rest, req.uri().query(), accept),
            None => respond::no_route(),
        },
    }
}

/// Target of a core request: a collection (optionally namespaced) or one object.
fn core_target(rest: &str) -> Option<(Kind, Option<&str>, Option<&str>)> {
    let segments: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    Some(match segments.as_slice() {
        ["nodes"] => (Kind::Node, None, None),
        ["nodes", name] => (Kind::Node, None, Some(*name)),
        ["pods"] => (Kind::Pod, None, None),
        ["namespaces"] => (Kind::Namespace, None, None),
        ["namespaces", name] => (Kind::Namespace, None, Some(*name)),
        ["namespaces", ns, "pods"] => (Kind::Pod, Some(*ns), None),
        ["namespaces", ns, "pods", name] => (Kind::Pod, Some(*ns), Some(*name)),
        _ => return None,
    })
}

fn core(state: &State, rest: &str, query: Option<&str>, accept: &str) -> Response<Body> {
    let Some((kind, namespace, name)) = core_target(rest) else {
        return respond::no_route();
    };
    let params = match select::parse_query(query) {
        Ok(p) => p,
        Err(e) => return respond::bad_request(&e),
    };
    let meta_only = accept.contains("as=PartialObjectMetadata");
    let objects = &state.objects;
    if let Some(name) = name {
        let Some(i) = objects.find(kind, namespace, name) else {
            return respond::not_found(kind.plural(), name);
        };
        let content_type = if meta_only {
            "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1"
        } else {
            respond::JSON
        };
        return respond::json_as(
            http::StatusCode::OK,
            content_type,
            &objects.object(kind, i, meta_only),
        );
    }
    let param = |k: &str| params.get(k).map(String::as_str);
    let labels = LabelSelector::parse(param("labelSelector").unwrap_or(""));
    let fields = FieldSelector::parse(
        param("fieldSelector").unwrap_or(""),
        kind.selectable_fields(),
    );
    let (labels, fields) = match (labels, fields) {
        (Ok(l), Ok(f)) => (l, f),
        (Err(e), _) | (_, Err(e)) => return respond::bad_request(&e),
    };
    let q = Query {
        namespace: namespace.map(str::to_owned),
        labels,
        fields,
        meta_only,
    };
    let flag = |k: &str| matches!(param(k), Some("true" | "1"));
    if flag("watch") {
        let wp = watch::WatchParams {
            timeout: param("timeoutSeconds").and_then(|t| t.parse().ok()),
            bookmarks: flag("allowWatchBookmarks"),
            initial_events: flag("sendInitialEvents"),
        };
        return watch::respond(objects, kind, &q, &wp);
    }
    list(objects, kind, &q, param("limit"), param("continue"))
}

fn list(
    objects: &Objects,
    kind: Kind,
    q: &Query,
    limit: Option<&str>,
    cont: Option<&str>,
) -> Response<Body> {
    let Ok(limit) = limit.map(str::parse::<usize>).transpose() else {
        return respond::bad_request("limit must be a non-negative integer");
    };
    let Ok(from) = cont
        .filter(|c| !c.is_empty())
        .map_or(Ok(0), str::parse::<usize>)
    else {
        return respond::bad_request("continue key is not valid");
    };
    let page = objects.page(kind, q, from, limit);
    let mut metadata = json!({"resourceVersion": objects.resource_version().to_string()});
    if let Some(next) = page.next {
        metadata["continue"] = json!(next.to_string());
    }
    let (list_kind, api_version, content_type) = if q.meta_only {
        (
            "PartialObjectMetadataList".to_owned(),
            "meta.k8s.io/v1",
            "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1",
        )
    } else {
        (format!("{}List", kind.name()), "v1", respond::JSON)
    };
    let body = json!({"kind": list_kind, "apiVersion": api_version, "metadata": metadata, "items": page.items});
    respond::json_as(http::StatusCode::OK, content_type, &body)
}
