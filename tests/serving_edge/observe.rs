//! What a user of the server would notice during an attack, measured from outside: two
//! probes every [`PROBE_PERIOD`] on their own thread and runtime (so the attack's tasks do
//! not delay them) — `/healthz` over a new connection each time, as the kubelet probes, and
//! the all-pods list over one kept-alive HTTP/2 connection with the front-proxy identity, as
//! the aggregator asks — and a sampler of the server's resident memory every
//! [`SAMPLE_PERIOD`].

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::cluster::AGGREGATOR_HEADERS;
use super::server::rss_kib;
use super::tls::{Alpn, Conn, Tls, get};

pub const PROBE_PERIOD: Duration = Duration::from_millis(100);
const SAMPLE_PERIOD: Duration = Duration::from_millis(25);
/// A probe that takes longer has failed (the kubelet's default probe timeout is 1 s).
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);
pub const ALL_PODS: &str = "/apis/metrics.k8s.io/v1beta1/pods";

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Probe {
    Healthz,
    List,
}

/// One probe: when it started and how long it took, or why it failed.
#[derive(Clone, Debug)]
pub struct ProbeSample {
    pub at: Instant,
    pub probe: Probe,
    pub result: Result<Duration, String>,
}

/// The running probes and memory sampler; stopped when dropped.
pub struct Observer {
    stop: Arc<AtomicBool>,
    probes: Arc<Mutex<Vec<ProbeSample>>>,
    rss: Arc<Mutex<Vec<(Instant, u64)>>>,
    threads: Vec<JoinHandle<()>>,
}

impl Observer {
    pub fn start(addr: SocketAddr, pid: u32, anonymous: Tls, aggregator: Tls) -> Observer {
        let stop = Arc::new(AtomicBool::new(false));
        let probes = Arc::new(Mutex::new(Vec::new()));
        let rss = Arc::new(Mutex::new(Vec::new()));
        let probe_thread = {
            let (stop, probes) = (stop.clone(), probes.clone());
            std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("probe runtime");
                rt.block_on(probe_loops(addr, anonymous, aggregator, stop, probes));
            })
        };
        let sampler_thread = {
            let (stop, rss) = (stop.clone(), rss.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    if let Some(kib) = rss_kib(pid) {
                        rss.lock().unwrap().push((Instant::now(), kib));
                    }
                    std::thread::sleep(SAMPLE_PERIOD);
                }
            })
        };
        Observer {
            stop,
            probes,
            rss,
            threads: vec![probe_thread, sampler_thread],
        }
    }

    /// The probes that started in `[from, to)`.
    pub fn probes_between(&self, from: Instant, to: Instant) -> Vec<ProbeSample> {
        let probes = self.probes.lock().unwrap();
        probes
            .iter()
            .filter(|s| s.at >= from && s.at < to)
            .cloned()
            .collect()
    }

    /// The highest resident memory sampled in `[from, to)`, in KiB.
    pub fn rss_peak_between(&self, from: Instant, to: Instant) -> u64 {
        let rss = self.rss.lock().unwrap();
        rss.iter()
            .filter(|(at, _)| *at >= from && *at < to)
            .map(|(_, kib)| *kib)
            .max()
            .unwrap_or(0)
    }

    /// Waits until both probes have answered at least once since now (the probes are up).
    pub async fn wait_answering(&self) {
        let since = Instant::now();
        let deadline = since + Duration::from_secs(30);
        loop {
            let answered = |p| {
                self.probes_between(since, Instant::now() + Duration::from_secs(1))
                    .iter()
                    .any(|s| s.probe == p && s.result.is_ok())
            };
            if answered(Probe::Healthz) && answered(Probe::List) {
                return;
            }
            assert!(Instant::now() < deadline, "the probes never answered");
            tokio::time::sleep(PROBE_PERIOD).await;
        }
    }
}

impl Drop for Observer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

async fn probe_loops(
    addr: SocketAddr,
    anonymous: Tls,
    aggregator: Tls,
    stop: Arc<AtomicBool>,
    probes: Arc<Mutex<Vec<ProbeSample>>>,
) {
    let health = healthz_loop(addr, anonymous, stop.clone(), probes.clone());
    let list = list_loop(addr, aggregator, stop, probes);
    tokio::join!(health, list);
}

/// `/healthz` over a new connection every period, as the kubelet's probe does.
async fn healthz_loop(
    addr: SocketAddr,
    tls: Tls,
    stop: Arc<AtomicBool>,
    probes: Arc<Mutex<Vec<ProbeSample>>>,
) {
    let mut tick = ticker();
    while !stop.load(Ordering::Relaxed) {
        tick.tick().await;
        let at = Instant::now();
        let once = async {
            let mut conn = Conn::open(&tls, addr, Alpn::Http1).await?;
            conn.send(get("/healthz", &[])).await
        };
        let result = match tokio::time::timeout(PROBE_TIMEOUT, once).await {
            Ok(Ok(a)) if a.status == 200 => Ok(at.elapsed()),
            Ok(Ok(a)) => Err(format!("status {}", a.status)),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!("no answer within {PROBE_TIMEOUT:?}")),
        };
        record(&probes, at, Probe::Healthz, result);
    }
}

/// The all-pods list every period over one kept-alive HTTP/2 connection (reopened after a
/// failure), as the aggregator sends `kubectl top pods -A`.
async fn list_loop(
    addr: SocketAddr,
    tls: Tls,
    stop: Arc<AtomicBool>,
    probes: Arc<Mutex<Vec<ProbeSample>>>,
) {
    let mut tick = ticker();
    let mut conn: Option<Conn> = None;
    while !stop.load(Ordering::Relaxed) {
        tick.tick().await;
        let at = Instant::now();
        let once = async {
            if conn.is_none() {
                conn = Some(Conn::open(&tls, addr, Alpn::Http2).await?);
            }
            let c = conn.as_mut().expect("just opened");
            c.send(get(ALL_PODS, AGGREGATOR_HEADERS)).await
        };
        let result = match tokio::time::timeout(PROBE_TIMEOUT, once).await {
            Ok(Ok(a)) if a.status == 200 => Ok(at.elapsed()),
            Ok(Ok(a)) => Err(format!("status {}", a.status)),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!("no answer within {PROBE_TIMEOUT:?}")),
        };
        if result.is_err() {
            conn = None;
        }
        record(&probes, at, Probe::List, result);
    }
}

fn ticker() -> tokio::time::Interval {
    let mut tick = tokio::time::interval(PROBE_PERIOD);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick
}

fn record(
    probes: &Mutex<Vec<ProbeSample>>,
    at: Instant,
    probe: Probe,
    result: Result<Duration, String>,
) {
    probes
        .lock()
        .unwrap()
        .push(ProbeSample { at, probe, result });
}
