//! The request router of the server, in the apiserver's filter order: over-long paths
//! refused, authentication, the in-flight limit (`limits`; held until the response's last
//! byte), authorization (`auth`), then health probes (with upstream's check names), `/metrics`
//! or the `metrics.k8s.io` API, all within the request timeout.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use arc_swap::ArcSwap;

use super::auth::Gate;
use super::body::ResponseBody;
use super::health::{self, Check, Endpoint};
use super::http::ConnInfo;
use super::limits::{Limits, MAX_PATH_BYTES};
use crate::api::routes::{ApiContext, Reply};
use crate::api::selector::LabelSelector;
use crate::api::status::Status;
use crate::cluster::ClusterCache;
use crate::scraper::ScrapeClock;
use crate::store::Snapshot;
use crate::telemetry::stage_cpu::{self, Stage};
use crate::time::Timestamp;

/// Everything the handlers read. All of it is shared, none of it is locked by readers.
pub struct AppState {
    pub snapshot: Arc<ArcSwap<Snapshot>>,
    pub cluster: ClusterCache,
    pub node_selector: LabelSelector,
    pub clock: Arc<ScrapeClock>,
    pub resolution: Duration,
    pub shutting_down: Arc<AtomicBool>,
    /// Who may call what.
    pub gate: Arc<Gate>,
    pub limits: Limits,
    /// Self-metrics served at `/metrics`.
    pub metrics: Arc<crate::telemetry::Metrics>,
    /// Pod lists encoded once per snapshot (released when unread).
    pub pod_lists: Arc<crate::api::list_cache::PodListCache>,
}

/// The router with its health checks built once.
pub struct App {
    api: ApiContext,
    healthz: Vec<Check>,
    livez: Vec<Check>,
    readyz: Vec<Check>,
    gate: Arc<Gate>,
    limits: Limits,
}

impl App {
    pub fn new(state: AppState) -> Self {
        let healthz = checks(Endpoint::Healthz, &state);
        let livez = checks(Endpoint::Livez, &state);
        let readyz = checks(Endpoint::Readyz, &state);
        let api = ApiContext {
            snapshot: state.snapshot,
            cluster: state.cluster,
            node_selector: state.node_selector,
            metrics: state.metrics,
            pod_lists: state.pod_lists,
        };
        App {
            api,
            healthz,
            livez,
            readyz,
            gate: state.gate,
            limits: state.limits,
        }
    }

    fn health(
        &self,
        endpoint: Endpoint,
        sub_path: &str,
        query: &str,
    ) -> http::Response<ResponseBody> {
        let checks = match endpoint {
            Endpoint::Healthz => &self.healthz,
            Endpoint::Livez => &self.livez,
            Endpoint::Readyz => &self.readyz,
        };
        let r = health::respond(endpoint, checks, sub_path, query);
        let mut builder = http::Response::builder().status(r.status);
        for (name, value) in health::HEADERS {
            builder = builder.header(name, value);
        }
        builder.body(ResponseBody::from(r.body)).unwrap_or_default()
    }
}

impl super::http::Router for App {
    async fn route(
        &self,
        req: http::request::Parts,
        conn: &ConnInfo,
    ) -> http::Response<ResponseBody> {
        let deadline = self.limits.request_timeout;
        match tokio::time::timeout(deadline, self.admitted(req, conn)).await {
            Ok(resp) => resp,
            Err(_) => status_response(&Limits::timeout_status()),
        }
    }
}

impl App {
    /// Authenticates, takes an in-flight slot, authorizes, then serves.
    async fn admitted(
        &self,
        req: http::request::Parts,
        conn: &ConnInfo,
    ) -> http::Response<ResponseBody> {
        let path = req.uri.path();
        if path.len() > MAX_PATH_BYTES {
            return status_response(&Status::path_too_long(MAX_PATH_BYTES));
        }
        let who = match self
            .gate
            .authenticate(&req, conn.client_certs.as_deref())
            .await
        {
            Ok(who) => who,
            Err(status) => return status_response(&status),
        };
        if who.by_certificate() {
            conn.activity.mark_trusted();
        }
        let health = Endpoint::from_path(path);
        // Health probes and system:masters (the aggregator's own checks) are exempt, as in
        // the apiserver.
        let slot = match health.is_some() || who.identity.is_privileged() {
            true => None,
            false => match self.limits.admit(who.by_certificate()) {
                Ok(slot) => slot,
                Err(throttled) => return status_response(&throttled.status()),
            },
        };
        if let Err(status) = self.gate.authorize(&req, &who).await {
            return status_response(&status);
        }
        let response = match health {
            Some((endpoint, sub_path)) => {
                self.health(endpoint, sub_path, req.uri.query().unwrap_or(""))
            }
            None if path == "/metrics" => self.self_metrics(),
            None => stage_cpu::measure(Stage::Respond, || {
                reply_to_response(crate::api::routes::handle(&self.api, &req))
            }),
        };
        response.map(|body| body.holding(slot))
    }
}

/// A Status as a response (`Retry-After` on 429, as the apiserver sends it).
fn status_response(status: &Status) -> http::Response<ResponseBody> {
    let mut builder = http::Response::builder()
        .status(status.code)
        .header(http::header::CONTENT_TYPE, "application/json");
    if let Some(d) = status
        .details
        .as_ref()
        .filter(|d| d.retry_after_seconds > 0)
    {
        builder = builder.header(http::header::RETRY_AFTER, d.retry_after_seconds);
    }
    builder
        .body(ResponseBody::from(status.to_json()))
        .unwrap_or_default()
}

impl App {
    /// `/metrics`: coverage refreshed from the current snapshot, then every family as text.
    fn self_metrics(&self) -> http::Response<ResponseBody> {
        let api = &self.api;
        crate::telemetry::coverage::refresh(
            &api.metrics.coverage,
            &api.snapshot.load(),
            &api.cluster,
            &api.node_selector,
        );
        http::Response::builder()
            .header(http::header::CONTENT_TYPE, crate::telemetry::CONTENT_TYPE)
            .body(ResponseBody::from(api.metrics.encode()))
            .unwrap_or_default()
    }
}

fn reply_to_response(reply: Reply) -> http::Response<ResponseBody> {
    let mut builder = http::Response::builder()
        .status(reply.status)
        .header(http::header::CONTENT_TYPE, reply.content_type);
    if let Some(encoding) = reply.body.content_encoding() {
        builder = builder
            .header(http::header::CONTENT_ENCODING, encoding)
            .header(http::header::VARY, "Accept-Encoding");
    }
    builder
        .body(ResponseBody::from(reply.body))
        .unwrap_or_default()
}

/// Upstream's checks for `endpoint`, in upstream's order, each wired to our state.
fn checks(endpoint: Endpoint, state: &AppState) -> Vec<Check> {
    health::check_names(endpoint)
        .iter()
        .map(|name| check(name, state))
        .collect()
}

fn check(name: &'static str, state: &AppState) -> Check {
    match name {
        health::METRIC_STORAGE_READY => {
            let snapshot = state.snapshot.clone();
            Check::new(name, move || {
                if snapshot.load().is_ready() {
                    Ok(())
                } else {
                    Err("no metrics to serve".into())
                }
            })
        }
        health::METRIC_INFORMER_SYNC => {
            let cluster = state.cluster.clone();
            Check::new(name, move || {
                if cluster.synced() {
                    Ok(())
                } else {
                    Err("informers not synced".into())
                }
            })
        }
        health::METADATA_INFORMER_SYNC => {
            let cluster = state.cluster.clone();
            Check::new(name, move || {
                if cluster.pods_synced() {
                    Ok(())
                } else {
                    Err("1 informers not started yet: [pods]".into())
                }
            })
        }
        health::METRIC_COLLECTION_TIMELY => {
            let (clock, resolution) = (state.clock.clone(), state.resolution);
            Check::new(name, move || {
                clock.check_timely(resolution, Timestamp::now())
            })
        }
        health::SHUTDOWN => {
            let flag = state.shutting_down.clone();
            Check::new(name, move || {
                if flag.load(Ordering::Acquire) {
                    Err("process is shutting down".into())
                } else {
                    Ok(())
                }
            })
        }
        _ => Check::always_ok(name),
    }
}
