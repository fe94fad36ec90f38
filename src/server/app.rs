//! The request router of the server: health probes (with upstream's check names), then the
//! `metrics.k8s.io` API.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use arc_swap::ArcSwap;
use bytes::Bytes;
use http_body_util::Full;

use super::health::{self, Check, Endpoint};
use crate::api::routes::{ApiContext, Reply};
use crate::api::selector::LabelSelector;
use crate::cluster::ClusterCache;
use crate::scraper::ScrapeClock;
use crate::store::Snapshot;
use crate::time::Timestamp;

/// Everything the handlers read. All of it is shared, none of it is locked by readers.
pub struct AppState {
    pub snapshot: Arc<ArcSwap<Snapshot>>,
    pub cluster: ClusterCache,
    pub node_selector: LabelSelector,
    pub clock: Arc<ScrapeClock>,
    pub resolution: Duration,
    pub shutting_down: Arc<AtomicBool>,
}

/// The router with its health checks built once.
pub struct App {
    api: ApiContext,
    healthz: Vec<Check>,
    livez: Vec<Check>,
    readyz: Vec<Check>,
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
            pod_lists: Default::default(),
        };
        App {
            api,
            healthz,
            livez,
            readyz,
        }
    }

    fn health(
        &self,
        endpoint: Endpoint,
        sub_path: &str,
        query: &str,
    ) -> http::Response<Full<Bytes>> {
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
        builder
            .body(Full::new(Bytes::from(r.body)))
            .unwrap_or_default()
    }
}

impl super::http::Router for App {
    fn route(&self, req: http::request::Parts) -> http::Response<Full<Bytes>> {
        let path = req.uri.path();
        let query = req.uri.query().unwrap_or("");
        if let Some((endpoint, sub_path)) = Endpoint::from_path(path) {
            return self.health(endpoint, sub_path, query);
        }
        reply_to_response(crate::api::routes::handle(&self.api, &req))
    }
}

fn reply_to_response(reply: Reply) -> http::Response<Full<Bytes>> {
    http::Response::builder()
        .status(reply.status)
        .header(http::header::CONTENT_TYPE, reply.content_type)
        .body(Full::new(Bytes::from(reply.body)))
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
