//! The request router of the server, in the apiserver's filter order: over-long paths
//! refused, authentication, the in-flight limit (`limits`; held until the response's last
//! byte), authorization (`auth`), then health probes (with upstream's check names), `/metrics`
//! or the `metrics.k8s.io` API, all within the request timeout.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use arc_swap::ArcSwap;
use http::header::{CACHE_CONTROL, CONTENT_ENCODING, CONTENT_TYPE, HeaderValue, RETRY_AFTER, VARY};

use super::audit_headers;
use super::auth::Gate;
use super::health::{self, Check, Endpoint, Unhealthy};
use super::http::ConnInfo;
use super::limits::{Limits, MAX_PATH_BYTES};
use super::response;
use super::response_body::ResponseBody;
use crate::api::context::ApiContext;
use crate::api::encode::gzip;
use crate::api::encode::gzip_text::GzipText;
use crate::api::metav1_status::Status;
use crate::api::routes::Reply;
use crate::api::selector::LabelSelector;
use crate::cluster::ClusterCache;
use crate::scraper::ScrapeClock;
use crate::store::Snapshot;
use crate::telemetry::stage_cpu::{self, Stage};
use crate::time::Timestamp;

/// `Content-Type` of `/metrics`.
const METRICS_CONTENT_TYPE: HeaderValue = HeaderValue::from_static(crate::telemetry::CONTENT_TYPE);
/// `Cache-Control` of aggregated discovery.
const CACHE_PUBLIC: HeaderValue = HeaderValue::from_static("public");
/// `Content-Encoding` of a compressed `/metrics`.
const GZIP: HeaderValue = HeaderValue::from_static("gzip");
/// Room for a compressed `/metrics` to start with (it grows as needed: 0.5 MB at 5,000
/// nodes).
const METRICS_GZIP_CAPACITY: usize = 64 * 1024;
/// `Vary` of compressed replies.
const VARY_ACCEPT_ENCODING: HeaderValue = HeaderValue::from_static("Accept-Encoding");

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
        if r.status == 404 {
            return reply_to_response(crate::api::index::reply(404));
        }
        // A passing check's own path is written with `Fprint`, not `http.Error`: no nosniff.
        let headers = match (sub_path.is_empty(), r.status) {
            (false, 200) => &health::HEADERS[..1],
            _ => &health::HEADERS[..],
        };
        response::or_internal_error(response::with_status(r.status, r.body).map(|mut resp| {
            resp.headers_mut().extend(headers.iter().cloned());
            resp
        }))
    }
}

impl super::http::Router for App {
    async fn route(
        &self,
        req: http::request::Parts,
        conn: &ConnInfo,
    ) -> http::Response<ResponseBody> {
        let deadline = self.limits.request_timeout;
        let audit_id = req.headers.get(audit_headers::AUDIT_ID).cloned();
        let mut resp = match tokio::time::timeout(deadline, self.admitted(req, conn)).await {
            Ok(resp) => resp,
            Err(_) => status_response(&Limits::timeout_status()),
        };
        audit_headers::insert(resp.headers_mut(), audit_id.as_ref());
        resp
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
            .authenticate(&req, conn.client_certs.as_ref())
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
            None if path == "/metrics" => self.self_metrics(&req.headers),
            None => stage_cpu::measure(Stage::Respond, || {
                reply_to_response(crate::api::routes::handle(&self.api, &req))
            }),
        };
        response.map(|body| body.holding(slot))
    }
}

/// A Status as a response (`Retry-After` on 429, as the apiserver sends it).
fn status_response(status: &Status) -> http::Response<ResponseBody> {
    let built = response::with_status(status.code, status.to_json()).map(|mut resp| {
        let headers = resp.headers_mut();
        headers.insert(CONTENT_TYPE, response::JSON);
        if let Some(d) = status
            .details
            .as_ref()
            .filter(|d| d.retry_after_seconds > 0)
        {
            headers.insert(RETRY_AFTER, HeaderValue::from(d.retry_after_seconds));
        }
        resp
    });
    response::or_internal_error(built)
}

impl App {
    /// `/metrics`: coverage refreshed from the current snapshot, then every family as text,
    /// gzip-compressed as it is written when the client accepts it (as upstream's handler
    /// does, and as Prometheus asks).
    ///
    /// Both walk every node and pod (75 ms and 8 MB of text at 5,000 nodes), so they run off
    /// the async worker: on it, every request in flight waited for the scrape (measured; most
    /// likely no other worker polled the sockets meanwhile).
    fn self_metrics(&self, headers: &http::HeaderMap) -> http::Response<ResponseBody> {
        let api = &self.api;
        let gzip = gzip::accepted_by(headers);
        let body = crate::blocking::cpu_heavy(|| {
            crate::telemetry::coverage::refresh(
                &api.metrics.coverage,
                &api.snapshot.load(),
                &api.cluster,
                |labels| api.node_selector.matches(labels),
            );
            if gzip {
                let mut out = GzipText::with_capacity(METRICS_GZIP_CAPACITY);
                api.metrics.encode_into(&mut out);
                out.finish().map(ResponseBody::from)
            } else {
                Ok(ResponseBody::from(api.metrics.encode()))
            }
        });
        let mut resp = match body {
            Ok(body) => http::Response::new(body),
            Err(err) => {
                tracing::error!(error = %err, "Could not compress /metrics; answering 500.");
                return status_response(&Status::internal(&err.to_string()));
            }
        };
        let headers = resp.headers_mut();
        headers.insert(CONTENT_TYPE, METRICS_CONTENT_TYPE);
        if gzip {
            headers.insert(CONTENT_ENCODING, GZIP);
            headers.insert(VARY, VARY_ACCEPT_ENCODING);
        }
        resp
    }
}

/// The API's reply as a response; one whose status or content type cannot be sent is a 500.
fn reply_to_response(reply: Reply) -> http::Response<ResponseBody> {
    let encoding = reply.body.content_encoding();
    // Aggregated discovery may be cached, as upstream's handler says (`public`).
    let cacheable = reply.content_type.contains("g=apidiscovery.k8s.io");
    let built = response::with_content_type(reply.status, reply.content_type, reply.body).and_then(
        |mut resp| {
            if let Some(encoding) = encoding {
                response::insert(&mut resp, CONTENT_ENCODING, encoding)?;
                resp.headers_mut().insert(VARY, VARY_ACCEPT_ENCODING);
            }
            if cacheable {
                resp.headers_mut().insert(CACHE_CONTROL, CACHE_PUBLIC);
            }
            Ok(resp)
        },
    );
    response::or_internal_error(built)
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
                    Err(Unhealthy::NoMetrics)
                }
            })
        }
        health::METRIC_INFORMER_SYNC => {
            let cluster = state.cluster.clone();
            Check::new(name, move || {
                if cluster.synced() {
                    Ok(())
                } else {
                    Err(Unhealthy::InformersNotSynced)
                }
            })
        }
        health::METADATA_INFORMER_SYNC => {
            let cluster = state.cluster.clone();
            Check::new(name, move || {
                if cluster.pods_synced() {
                    Ok(())
                } else {
                    Err(Unhealthy::PodInformerNotStarted)
                }
            })
        }
        health::METRIC_COLLECTION_TIMELY => {
            let (clock, resolution) = (state.clock.clone(), state.resolution);
            Check::new(name, move || {
                clock
                    .check_timely(resolution, Timestamp::now())
                    .map_err(Unhealthy::from)
            })
        }
        health::SHUTDOWN => {
            let flag = state.shutting_down.clone();
            Check::new(name, move || {
                if flag.load(Ordering::Acquire) {
                    Err(Unhealthy::ShuttingDown)
                } else {
                    Ok(())
                }
            })
        }
        _ => Check::always_ok(name),
    }
}

#[cfg(test)]
mod tests {
    use hyper::body::Body as _;

    use super::*;
    use crate::api::reply_body::Body;

    fn body_len(resp: &http::Response<ResponseBody>) -> Option<u64> {
        resp.body().size_hint().exact()
    }

    #[test]
    fn a_reply_whose_content_type_cannot_be_sent_is_a_500_status_not_an_empty_200() {
        let reply = Reply {
            status: 200,
            content_type: "application/json\r\nx-injected: 1",
            body: Body::from(b"{}".to_vec()),
            indented: false,
        };
        let resp = reply_to_response(reply);
        assert_eq!(resp.status(), http::StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(resp.headers()[CONTENT_TYPE], "application/json");
        assert!(resp.headers().get("x-injected").is_none());
        assert!(body_len(&resp).is_some_and(|n| n > 2), "a Status body");
    }

    #[test]
    fn a_compressed_reply_says_so_and_varies_on_accept_encoding() {
        let reply = Reply {
            status: 200,
            content_type: "application/json",
            body: Body::Gzipped(vec![0x1f, 0x8b]),
            indented: false,
        };
        let resp = reply_to_response(reply);
        assert_eq!(resp.status(), http::StatusCode::OK);
        assert_eq!(resp.headers()[CONTENT_ENCODING], "gzip");
        assert_eq!(resp.headers()[VARY], "Accept-Encoding");
        assert_eq!(body_len(&resp), Some(2));
    }

    #[test]
    fn a_throttled_request_gets_429_json_and_retry_after() {
        let resp = status_response(&Status::too_many_requests(1));
        assert_eq!(resp.status(), http::StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(resp.headers()[CONTENT_TYPE], "application/json");
        assert_eq!(resp.headers()[RETRY_AFTER], "1");
        let forbidden = status_response(&Status::forbidden("", "nodes", "", "no"));
        assert_eq!(forbidden.status(), http::StatusCode::FORBIDDEN);
        assert!(forbidden.headers().get(RETRY_AFTER).is_none());
    }

    #[test]
    fn a_status_with_a_code_outside_http_is_a_500() {
        let mut status = Status::unauthorized();
        status.code = 42;
        let resp = status_response(&status);
        assert_eq!(resp.status(), http::StatusCode::INTERNAL_SERVER_ERROR);
        assert!(body_len(&resp).is_some_and(|n| n > 0));
    }
}
