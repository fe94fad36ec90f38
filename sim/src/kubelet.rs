//! Simulated kubelets: one HTTPS server per node of a [`Workload`], bound to the node's own
//! loopback address, serving `/metrics/resource` (Prometheus text, kubelet 1.29+ format,
//! upstream spec §3.3) and `/stats/summary` (Summary API JSON, §3.1) computed from the
//! workload's ground truth at the moment of each request.
//!
//! Sample time = now truncated to milliseconds minus the node's stable lag (0–2 s, like
//! cAdvisor housekeeping). Only Running pods are reported. Faults can be injected per node at
//! run time ([`KubeletFleet::set_fault`]: hang, 500, garbage, or down: the listener closed so
//! connections are refused, as when the kubelet stops), a node's clock skewed
//! ([`KubeletFleet::set_clock_skew`]), a node's serving certificate reissued without its IP
//! SAN ([`ServingCerts::reissue`]), and the requests each kubelet received counted
//! ([`KubeletFleet::requests`]). All listeners and connections close when the fleet is
//! dropped or [`KubeletFleet::shutdown`] is called. One tokio task per listener and per
//! connection, no thread per node: thousands of nodes fit in one process (mind `ulimit -n`).
//!
//! A fleet may serve only some nodes ([`spawn_kubelet_subset`]): a cluster too large for one
//! process's open-files limit is split over several processes, each serving its share.
//!
//! A live fleet ([`spawn_live_kubelets`]) reads a workload that is replaced as pods come and
//! go, and can authorize each request like a real kubelet does (webhook mode: the bearer token
//! through a TokenReview, then a SubjectAccessReview for `nodes/<subresource>`), see [`auth`].

pub mod auth;
mod resource;
mod summary;

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU8, AtomicU64, Ordering};

use arc_swap::ArcSwap;
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode, header};
use tokio::sync::watch;

use super::net::{self, Body, SimError, SwappableCert};
use super::workload::{NodeSample, Workload};
use metrics_server::pki::CertAuthority;
use metrics_server::time::Timestamp;

/// How the fleet is set up.
#[derive(Clone)]
pub struct KubeletOptions {
    /// Issues every kubelet's serving certificate (node IP as IP SAN, node name as DNS SAN).
    pub ca: Arc<CertAuthority>,
    /// When set, requests must carry `Authorization: Bearer <token>` (else 401).
    pub required_bearer_token: Option<String>,
    /// Simulates a kubelet older than 1.18: `/metrics/resource` answers 404.
    pub resource_endpoint_404: bool,
}

/// A fault injected into one kubelet.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Fault {
    /// Normal operation.
    None = 0,
    /// Accept the request and never answer.
    Hang = 1,
    /// Answer 500 Internal Server Error.
    Status500 = 2,
    /// Answer 200 with a malformed body.
    Garbage = 3,
    /// The kubelet is stopped: its listener is closed (connections are refused) and its open
    /// connections dropped; it listens on the same port again once the fault is cleared.
    Down = 4,
    /// Answer `/stats/summary` with 500, `/metrics/resource` as usual.
    SummaryStatus500 = 5,
}

impl Fault {
    fn from_u8(v: u8) -> Fault {
        match v {
            1 => Fault::Hang,
            2 => Fault::Status500,
            3 => Fault::Garbage,
            4 => Fault::Down,
            5 => Fault::SummaryStatus500,
            _ => Fault::None,
        }
    }
}

/// Which names a kubelet's serving certificate carries.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum ServingNames {
    /// The node's name (DNS SAN) and its IP (IP SAN), as a kubelet with serverTLSBootstrap and
    /// an approved CSR has it.
    NameAndIp,
    /// Only the node's name: a client dialling the IP finds no IP SAN.
    NameOnly,
}

/// The serving certificates of a fleet's kubelets, reissued at run time by the fleet's CA.
#[derive(Clone)]
pub struct ServingCerts {
    ca: Arc<CertAuthority>,
    /// Per served node: its name, IP and certificate.
    nodes: Arc<[(String, IpAddr, Arc<SwappableCert>)]>,
}

impl ServingCerts {
    /// Issues `node` a new certificate carrying `names`, served from the next handshake on;
    /// false if this fleet does not serve that node.
    pub fn reissue(&self, node: &str, names: ServingNames) -> Result<bool, SimError> {
        let Some((name, ip, cert)) = self.nodes.iter().find(|(n, _, _)| n == node) else {
            return Ok(false);
        };
        let pair = issue_serving(&self.ca, name, *ip, names)?;
        cert.replace(&pair.cert_pem, &pair.key_pem)?;
        Ok(true)
    }
}

/// A kubelet serving certificate for `name` at `ip` from `ca`.
fn issue_serving(
    ca: &CertAuthority,
    name: &str,
    ip: IpAddr,
    names: ServingNames,
) -> Result<metrics_server::pki::PemPair, SimError> {
    let ips = match names {
        ServingNames::NameAndIp => vec![ip],
        ServingNames::NameOnly => Vec::new(),
    };
    Ok(ca.issue_server(name, &[name], &ips)?)
}

/// Where one kubelet listens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KubeletEndpoint {
    pub node: String,
    pub ip: IpAddr,
    pub port: u16,
}

/// The running kubelets. Dropping it stops them all.
pub struct KubeletFleet {
    endpoints: Vec<KubeletEndpoint>,
    /// Per endpoint, the node's position in the workload (the index into `faults`).
    positions: Vec<usize>,
    /// One per node of the workload, served here or not.
    faults: Arc<[AtomicU8]>,
    /// One per node of the workload: how far its clock is ahead of the real one, in ms.
    clock_skews_ms: Arc<[AtomicI64]>,
    certs: ServingCerts,
    /// One per node of the workload: the requests its kubelet received.
    requests: Arc<[AtomicU64]>,
    /// The metric requests the whole fleet answered, per endpoint.
    served: Arc<RequestCounts>,
    /// Per endpoint: true while its kubelet is down ([`Fault::Down`]).
    down: Vec<watch::Sender<bool>>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl KubeletFleet {
    /// One endpoint per served node, in workload order (the order given to
    /// [`spawn_kubelet_subset`]).
    pub fn endpoints(&self) -> &[KubeletEndpoint] {
        &self.endpoints
    }

    /// The endpoint of one node.
    pub fn endpoint(&self, node: &str) -> Option<&KubeletEndpoint> {
        self.endpoints.iter().find(|e| e.node == node)
    }

    /// `(node, ip, port)` triples, the form [`super::apiserver::ApiServerOptions`] takes.
    pub fn triples(&self) -> Vec<(String, IpAddr, u16)> {
        self.endpoints
            .iter()
            .map(|e| (e.node.clone(), e.ip, e.port))
            .collect()
    }

    /// Sets the fault of one node's kubelet; false if there is no such node.
    pub fn set_fault(&self, node: &str, fault: Fault) -> bool {
        match self.endpoints.iter().position(|e| e.node == node) {
            Some(i) => {
                self.faults[self.positions[i]].store(fault as u8, Ordering::Relaxed);
                if let Some(down) = self.down.get(i) {
                    down.send_replace(fault == Fault::Down);
                }
                true
            }
            None => false,
        }
    }

    /// The requests one node's kubelet received so far (whatever it answered); `None` if
    /// there is no such node.
    pub fn requests(&self, node: &str) -> Option<u64> {
        let i = self.endpoints.iter().position(|e| e.node == node)?;
        Some(self.requests[self.positions[i]].load(Ordering::Relaxed))
    }

    /// The metric requests the fleet answered so far, per endpoint.
    pub fn served(&self) -> &RequestCounts {
        &self.served
    }

    /// Sets how far one node's kubelet clock is ahead of the real one, in milliseconds
    /// (negative: behind): its samples carry times that much off. False if there is no such
    /// node.
    pub fn set_clock_skew(&self, node: &str, ahead_ms: i64) -> bool {
        match self.endpoints.iter().position(|e| e.node == node) {
            Some(i) => {
                let skew = &self.clock_skews_ms[self.positions[i]];
                skew.store(ahead_ms, Ordering::Relaxed);
                true
            }
            None => false,
        }
    }

    /// The kubelets' serving certificates, to reissue one while they run.
    pub fn serving_certs(&self) -> ServingCerts {
        self.certs.clone()
    }

    /// Stops every kubelet and waits for the listeners to close.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        for task in std::mem::take(&mut self.tasks) {
            let _ = task.await;
        }
    }
}

impl Drop for KubeletFleet {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}

/// What one kubelet's request handler needs.
struct NodeCtx {
    /// The current workload (replaced over time in a live fleet; the nodes never change).
    workload: Arc<ArcSwap<Workload>>,
    index: usize,
    token: Option<String>,
    authorizer: Option<Arc<dyn auth::KubeletAuthorizer>>,
    resource_404: bool,
    faults: Arc<[AtomicU8]>,
    clock_skews_ms: Arc<[AtomicI64]>,
    requests: Arc<[AtomicU64]>,
    served: Arc<RequestCounts>,
}

/// What a kubelet serves, as counted by [`RequestCounts`].
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// `/metrics/resource`.
    Resource,
    /// `/stats/summary`, the whole Summary.
    Summary,
    /// `/stats/summary?only_cpu_and_memory=true`.
    SummaryCpuAndMemory,
}

/// Metric requests answered by the whole fleet, per endpoint.
#[derive(Debug, Default)]
pub struct RequestCounts([AtomicU64; 3]);

impl RequestCounts {
    fn count(&self, endpoint: Endpoint) {
        self.0[endpoint as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// How many requests of `endpoint` were answered with metrics so far.
    pub fn of(&self, endpoint: Endpoint) -> u64 {
        self.0[endpoint as usize].load(Ordering::Relaxed)
    }
}

/// Starts one HTTPS kubelet per node of `workload` on `<node ip>:<ephemeral port>`.
pub async fn spawn_kubelets(
    workload: Arc<Workload>,
    opts: KubeletOptions,
) -> Result<KubeletFleet, SimError> {
    spawn_live_kubelets(Arc::new(ArcSwap::new(workload)), opts, None).await
}

/// Starts one HTTPS kubelet for each node of `workload` at the positions `nodes`, in that
/// order: one process's share of a cluster split over several. Positions past the last node
/// are an error.
pub async fn spawn_kubelet_subset(
    workload: Arc<Workload>,
    nodes: &[usize],
    opts: KubeletOptions,
) -> Result<KubeletFleet, SimError> {
    if let Some(&position) = nodes.iter().find(|&&p| p >= workload.nodes().len()) {
        return Err(SimError::NoSuchNode {
            position,
            nodes: workload.nodes().len(),
        });
    }
    spawn_fleet(Arc::new(ArcSwap::new(workload)), nodes.to_vec(), opts, None).await
}

/// Like [`spawn_kubelets`], for a workload whose pods change: each request reads the workload
/// `source` holds at that moment (its nodes must stay the same). With an `authorizer`, every
/// request but `/healthz` must pass it (401 or 403 otherwise, as a real kubelet answers).
pub async fn spawn_live_kubelets(
    source: Arc<ArcSwap<Workload>>,
    opts: KubeletOptions,
    authorizer: Option<Arc<dyn auth::KubeletAuthorizer>>,
) -> Result<KubeletFleet, SimError> {
    let every_node = (0..source.load().nodes().len()).collect();
    spawn_fleet(source, every_node, opts, authorizer).await
}

/// Starts the kubelets of the nodes at `positions` (all valid positions of the workload).
async fn spawn_fleet(
    source: Arc<ArcSwap<Workload>>,
    positions: Vec<usize>,
    opts: KubeletOptions,
    authorizer: Option<Arc<dyn auth::KubeletAuthorizer>>,
) -> Result<KubeletFleet, SimError> {
    let workload = source.load_full();
    let (w, ca, p) = (workload.clone(), opts.ca.clone(), positions.clone());
    let tls_configs = tokio::task::spawn_blocking(move || issue_certificates(&w, &p, &ca))
        .await
        .map_err(|e| SimError::Task(e.to_string()))??;
    let faults: Arc<[AtomicU8]> = workload.nodes().iter().map(|_| AtomicU8::new(0)).collect();
    let clock_skews_ms: Arc<[AtomicI64]> =
        workload.nodes().iter().map(|_| AtomicI64::new(0)).collect();
    let requests: Arc<[AtomicU64]> = workload.nodes().iter().map(|_| AtomicU64::new(0)).collect();
    let served = Arc::new(RequestCounts::default());
    let (shutdown, stop_rx) = watch::channel(false);
    let certs = ServingCerts {
        ca: opts.ca.clone(),
        nodes: (positions.iter().zip(&tls_configs))
            .map(|(&p, (_, cert))| {
                let node = &workload.nodes()[p];
                (node.name.clone(), IpAddr::V4(node.ip), cert.clone())
            })
            .collect(),
    };
    let mut fleet = KubeletFleet {
        endpoints: Vec::with_capacity(tls_configs.len()),
        positions,
        faults: faults.clone(),
        clock_skews_ms: clock_skews_ms.clone(),
        certs,
        requests: requests.clone(),
        served: served.clone(),
        down: Vec::with_capacity(tls_configs.len()),
        shutdown,
        tasks: Vec::with_capacity(tls_configs.len()),
    };
    for (&index, (tls, _)) in fleet.positions.iter().zip(tls_configs) {
        let node = &workload.nodes()[index];
        let listener = net::bind(SocketAddr::new(IpAddr::V4(node.ip), 0)).await?;
        let port = listener
            .local_addr()
            .map_err(|source| SimError::Bind {
                addr: SocketAddr::new(IpAddr::V4(node.ip), 0),
                source,
            })?
            .port();
        let ctx = Arc::new(NodeCtx {
            workload: source.clone(),
            index,
            token: opts.required_bearer_token.clone(),
            authorizer: authorizer.clone(),
            resource_404: opts.resource_endpoint_404,
            faults: faults.clone(),
            clock_skews_ms: clock_skews_ms.clone(),
            requests: requests.clone(),
            served: served.clone(),
        });
        let service = move |req: Request<Incoming>| {
            let ctx = ctx.clone();
            async move { Ok::<_, Infallible>(handle(&ctx, req).await) }
        };
        let (down, down_rx) = watch::channel(false);
        let task =
            net::spawn_https_pausable(listener, tls, service, stop_rx.clone(), Some(down_rx));
        fleet.tasks.push(task);
        fleet.down.push(down);
        fleet.endpoints.push(KubeletEndpoint {
            node: node.name.clone(),
            ip: IpAddr::V4(node.ip),
            port,
        });
    }
    tracing::debug!(
        nodes = fleet.endpoints.len(),
        "simulated kubelets listening"
    );
    Ok(fleet)
}

/// A kubelet's TLS configuration and the certificate it serves.
type ServingConfig = (Arc<rustls::ServerConfig>, Arc<SwappableCert>);

/// The serving configuration of each node at `positions`, in that order, and its
/// replaceable certificate.
fn issue_certificates(
    workload: &Workload,
    positions: &[usize],
    ca: &CertAuthority,
) -> Result<Vec<ServingConfig>, SimError> {
    positions
        .iter()
        .map(|&p| {
            let node = &workload.nodes()[p];
            let ip = IpAddr::V4(node.ip);
            let pair = issue_serving(ca, &node.name, ip, ServingNames::NameAndIp)?;
            net::server_tls_swappable(&pair.cert_pem, &pair.key_pem)
        })
        .collect()
}

/// The sample's containers in the order the kubelet prints them, as (position in
/// `sample.pods`, container index), sorted by (container name, namespace, pod name).
fn container_order(workload: &Workload, sample: &NodeSample) -> Vec<(usize, usize)> {
    let pods = workload.pods();
    let running: Vec<usize> = sample.pods.iter().map(|(p, _)| *p).collect();
    let mut order: Vec<(usize, usize)> = running
        .iter()
        .enumerate()
        .flat_map(|(pos, &p)| (0..pods[p].containers.len()).map(move |c| (pos, c)))
        .collect();
    let key = |&(pos, c): &(usize, usize)| {
        let pod = &pods[running[pos]];
        (
            pod.containers[c].name.as_str(),
            pod.namespace.as_str(),
            pod.name.as_str(),
        )
    };
    order.sort_by(|a, b| key(a).cmp(&key(b)));
    order
}

fn text(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<bytes::Bytes>,
) -> Response<Body> {
    let mut resp = Response::new(net::full_body(body));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(content_type),
    );
    resp
}

const PLAIN: &str = "text/plain; charset=utf-8";

fn authorized(ctx: &NodeCtx, req: &Request<Incoming>) -> bool {
    let Some(token) = &ctx.token else {
        return true;
    };
    req.headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|presented| presented == token)
}

async fn handle(ctx: &NodeCtx, req: Request<Incoming>) -> Response<Body> {
    let workload = ctx.workload.load_full();
    let node = &workload.nodes()[ctx.index].name;
    tracing::debug!(%node, method = %req.method(), uri = %req.uri(), "kubelet request");
    ctx.requests[ctx.index].fetch_add(1, Ordering::Relaxed);
    let fault = Fault::from_u8(ctx.faults[ctx.index].load(Ordering::Relaxed));
    match fault {
        Fault::Hang => return futures::future::pending().await,
        Fault::Status500 => {
            return text(
                StatusCode::INTERNAL_SERVER_ERROR,
                PLAIN,
                "Internal Server Error",
            );
        }
        _ => {}
    }
    if !authorized(ctx, &req) {
        return text(StatusCode::UNAUTHORIZED, PLAIN, "Unauthorized");
    }
    if let Some(authorizer) = &ctx.authorizer
        && req.uri().path() != "/healthz"
        && let Err(denied) = auth::check(authorizer.as_ref(), node, &req).await
    {
        return text(denied.status(), PLAIN, denied.to_string());
    }
    if req.method() != Method::GET {
        return text(
            StatusCode::METHOD_NOT_ALLOWED,
            PLAIN,
            "405 method not allowed",
        );
    }
    let garbage = fault == Fault::Garbage;
    match req.uri().path() {
        "/metrics/resource" if ctx.resource_404 => not_found(),
        "/metrics/resource" if garbage => {
            text(StatusCode::OK, resource::CONTENT_TYPE, resource::GARBAGE)
        }
        "/metrics/resource" => {
            ctx.served.count(Endpoint::Resource);
            let sample = workload.sample_node(ctx.index, sample_time(ctx, &workload));
            let order = container_order(&workload, &sample);
            let body = resource::render(&workload, &sample, &order);
            text(StatusCode::OK, resource::CONTENT_TYPE, body)
        }
        "/stats/summary" if garbage => text(StatusCode::OK, "application/json", summary::GARBAGE),
        "/stats/summary" if fault == Fault::SummaryStatus500 => text(
            StatusCode::INTERNAL_SERVER_ERROR,
            PLAIN,
            "Internal Server Error",
        ),
        "/stats/summary" => {
            let form = summary::Form::of_query(req.uri().query());
            ctx.served.count(match form {
                summary::Form::Whole => Endpoint::Summary,
                summary::Form::CpuAndMemory => Endpoint::SummaryCpuAndMemory,
            });
            let sample = workload.sample_node(ctx.index, sample_time(ctx, &workload));
            let body = summary::render(&workload, ctx.index, &sample, form);
            text(StatusCode::OK, "application/json", body)
        }
        "/healthz" => text(StatusCode::OK, PLAIN, "ok"),
        _ => not_found(),
    }
}

/// Go's default mux answer for an unknown path.
fn not_found() -> Response<Body> {
    text(StatusCode::NOT_FOUND, PLAIN, "404 page not found\n")
}

/// When the node's kubelet took the sample it serves now, by its own (possibly skewed) clock.
fn sample_time(ctx: &NodeCtx, workload: &Workload) -> Timestamp {
    let lag = workload.nodes()[ctx.index].sample_lag_ms;
    let skew = ctx.clock_skews_ms[ctx.index].load(Ordering::Relaxed);
    sample_time_at(Timestamp::now(), lag, skew)
}

/// The sample time of a kubelet whose samples lag `lag_ms` behind `now` and whose clock is
/// `skew_ms` ahead. cAdvisor stamps samples to the nanosecond, so a sample time is never a
/// whole second (one with no fraction to print is moved a nanosecond on): `/stats/summary`
/// readers take a time without a fraction for a real kubelet's truncated `metav1.Time`.
fn sample_time_at(now: Timestamp, lag_ms: i64, skew_ms: i64) -> Timestamp {
    let at = now.0 - (lag_ms - skew_ms) * 1_000_000;
    Timestamp(if at % 1_000_000_000 == 0 { at + 1 } else { at })
}

#[cfg(test)]
mod sample_time_tests {
    use super::sample_time_at;
    use metrics_server::time::Timestamp;

    #[test]
    fn a_sample_time_is_never_a_whole_second() {
        // `now` one lag after a whole second: the lagged time would be that second exactly.
        let second = 1_700_000_000 * 1_000_000_000;
        for (lag, skew) in [(250, 0), (1_000, 0), (0, 0), (1_500, 500), (0, -3_600_000)] {
            let now = Timestamp(second + (lag - skew) * 1_000_000);
            let at = sample_time_at(now, lag, skew);
            assert_ne!(
                at.0 % 1_000_000_000,
                0,
                "lag {lag} ms, skew {skew} ms: {at:?}"
            );
            assert!(
                (at.0 - second).abs() <= 1,
                "lag {lag} ms, skew {skew} ms: {at:?}"
            );
        }
    }

    #[test]
    fn a_sample_time_keeps_the_nanoseconds_of_now() {
        let now = Timestamp(1_700_000_000_123_456_789);
        assert_eq!(
            sample_time_at(now, 2, 0),
            Timestamp(1_700_000_000_121_456_789)
        );
        assert_eq!(
            sample_time_at(now, 0, 1_000),
            Timestamp(1_700_000_001_123_456_789)
        );
    }
}
