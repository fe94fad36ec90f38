//! Runs one attack and judges it as a user of the server would: the probes kept answering
//! (none failed, p99 under [`PROBE_P99_LIMIT`]), resident memory stayed under the idle
//! figure plus [`RSS_HEADROOM_KIB`], descriptors came back to the pre-attack count once the
//! attack ended, and the log stayed at most a line a second. Each attack is a row of the
//! report.

use std::fmt::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::attacks::Outcome;
use super::observe::{Observer, Probe, ProbeSample};
use super::server::{ServerProcess, descriptors, sockets_to};

pub const PROBE_P99_LIMIT: Duration = Duration::from_millis(100);
pub const RSS_HEADROOM_KIB: u64 = 64 * 1024;
/// Descriptors that may differ from the baseline after an attack (a kubelet connection
/// being replaced, a certificate file being read).
const FD_SLACK: usize = 2;
const FD_POLL: Duration = Duration::from_millis(200);
/// Every attack is watched at least this long, so the probes answer a few times in it.
const MIN_WINDOW: Duration = Duration::from_secs(2);
/// An attack starts once the server's RSS is back within this of idle (the allocator's free
/// pages go back after each scrape cycle), so no attack is charged with the one before it.
const SETTLED_KIB: u64 = 16 * 1024;
/// How long to wait for that: a scrape cycle (10 s) and a margin.
const SETTLE_WITHIN: Duration = Duration::from_secs(15);

/// The server and what watches it.
pub struct Runner<'a> {
    pub server: &'a ServerProcess,
    pub observer: &'a Observer,
    /// The simulated API server: the server's own connections to it (reviews, watches) are
    /// not client connections and are counted apart.
    pub api: SocketAddr,
    pub idle_rss_kib: u64,
    pub rows: Vec<Row>,
}

/// What one attack did to the server.
pub struct Row {
    pub attack: String,
    pub stops_it: String,
    pub healthz_p99: Option<Duration>,
    pub list_p99: Option<Duration>,
    pub probes: usize,
    pub failed_probes: Vec<String>,
    pub rss_over_idle_kib: i64,
    /// What the server held over idle when the attack started (left by earlier attacks).
    pub rss_start_over_idle_kib: i64,
    pub fds_before: usize,
    pub fds_after: usize,
    /// How long after the attack ended the descriptors were back (`None`: not in time).
    pub fds_back_after: Option<Duration>,
    pub api_sockets_peak: usize,
    pub log_lines: usize,
    pub seconds: f64,
    pub note: String,
    pub problems: Vec<String>,
}

impl Runner<'_> {
    /// Descriptors of the server other than its connections to the API server.
    pub fn client_fds(&self) -> usize {
        let pid = self.server.pid();
        descriptors(pid).saturating_sub(sockets_to(pid, self.api))
    }

    /// Runs `attack`; its descriptors must be back within `closes_within` of its end.
    pub async fn run(
        &mut self,
        name: &str,
        stops_it: &str,
        closes_within: Duration,
        attack: impl Future<Output = Outcome>,
    ) {
        let rss_start = self.settle_rss().await;
        let fds_before = self.client_fds();
        let api_peak = ApiSocketPeak::start(self.server.pid(), self.api);
        let started = Instant::now();
        let outcome = attack.await;
        let ended = Instant::now();
        let (fds_after, fds_back_after) =
            self.wait_fds_back(fds_before, ended, closes_within).await;
        drop(outcome.held);
        tokio::time::sleep_until((started + MIN_WINDOW).into()).await;
        let settled = Instant::now();
        let row = Row {
            attack: name.into(),
            stops_it: stops_it.into(),
            fds_before,
            fds_after,
            fds_back_after,
            api_sockets_peak: api_peak.stop(),
            log_lines: self.server.lines_between(started, settled).len(),
            seconds: (settled - started).as_secs_f64(),
            rss_over_idle_kib: self.observer.rss_peak_between(started, settled) as i64
                - self.idle_rss_kib as i64,
            rss_start_over_idle_kib: rss_start as i64 - self.idle_rss_kib as i64,
            note: outcome.note,
            problems: outcome.problems,
            ..probe_figures(&self.observer.probes_between(started, settled))
        };
        let row = judge(row, closes_within);
        println!("{}", row.line());
        self.rows.push(row);
        // The next attack starts from a settled server, whatever this one left.
        let _ = self
            .wait_fds_back(fds_before, Instant::now(), Duration::from_secs(5))
            .await;
    }

    /// Waits (at most [`SETTLE_WITHIN`]) until the RSS is within [`SETTLED_KIB`] of idle;
    /// returns it.
    async fn settle_rss(&self) -> u64 {
        let deadline = Instant::now() + SETTLE_WITHIN;
        loop {
            let rss = self.server.rss_kib();
            if rss <= self.idle_rss_kib + SETTLED_KIB || Instant::now() >= deadline {
                return rss;
            }
            tokio::time::sleep(FD_POLL).await;
        }
    }

    /// Polls until the client descriptors are back to `baseline`, for at most `within`
    /// after `ended`: the count then, and how long after `ended` it was back.
    async fn wait_fds_back(
        &self,
        baseline: usize,
        ended: Instant,
        within: Duration,
    ) -> (usize, Option<Duration>) {
        loop {
            let fds = self.client_fds();
            if fds <= baseline + FD_SLACK {
                return (fds, Some(ended.elapsed()));
            }
            if ended.elapsed() >= within {
                return (fds, None);
            }
            tokio::time::sleep(FD_POLL).await;
        }
    }
}

/// The probe figures of a row.
fn probe_figures(samples: &[ProbeSample]) -> Row {
    let p99 = |probe| {
        let mut ok: Vec<Duration> = samples
            .iter()
            .filter(|s| s.probe == probe)
            .filter_map(|s| s.result.as_ref().ok().copied())
            .collect();
        ok.sort();
        percentile(&ok, 99.0)
    };
    Row {
        healthz_p99: p99(Probe::Healthz),
        list_p99: p99(Probe::List),
        probes: samples.len(),
        failed_probes: samples
            .iter()
            .filter_map(|s| {
                s.result
                    .as_ref()
                    .err()
                    .map(|e| format!("{:?}: {e}", s.probe))
            })
            .collect(),
        ..Row::default()
    }
}

/// The nearest-rank percentile of sorted `samples`.
pub fn percentile(sorted: &[Duration], p: f64) -> Option<Duration> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.clamp(1, sorted.len()) - 1).copied()
}

/// Adds to `row.problems` what a user would notice.
fn judge(mut row: Row, closes_within: Duration) -> Row {
    let mut problems = Vec::new();
    if let Some(first) = row.failed_probes.first() {
        problems.push(format!(
            "{} of {} probes failed (first: {first})",
            row.failed_probes.len(),
            row.probes
        ));
    }
    for (probe, p99) in [("/healthz", row.healthz_p99), ("list", row.list_p99)] {
        match p99 {
            Some(p) if p >= PROBE_P99_LIMIT => {
                problems.push(format!("{probe} probe p99 {} ms", p.as_millis()));
            }
            None => problems.push(format!("no {probe} probe answered")),
            Some(_) => {}
        }
    }
    if row.rss_over_idle_kib > RSS_HEADROOM_KIB as i64 {
        problems.push(format!(
            "RSS peaked {:.0} MiB over idle",
            row.rss_over_idle_kib as f64 / 1024.0
        ));
    }
    if row.fds_back_after.is_none() {
        problems.push(format!(
            "{} descriptors still open {closes_within:?} after the attack (baseline {})",
            row.fds_after, row.fds_before
        ));
    }
    let allowed = row.seconds.ceil().max(1.0) as usize;
    if row.log_lines > allowed {
        problems.push(format!(
            "{} log lines in {:.1}s (at most one a second)",
            row.log_lines, row.seconds
        ));
    }
    problems.append(&mut row.problems);
    row.problems = problems;
    row
}

impl Default for Row {
    fn default() -> Self {
        Row {
            attack: String::new(),
            stops_it: String::new(),
            healthz_p99: None,
            list_p99: None,
            probes: 0,
            failed_probes: Vec::new(),
            rss_over_idle_kib: 0,
            rss_start_over_idle_kib: 0,
            fds_before: 0,
            fds_after: 0,
            fds_back_after: None,
            api_sockets_peak: 0,
            log_lines: 0,
            seconds: 0.0,
            note: String::new(),
            problems: Vec::new(),
        }
    }
}

fn ms(d: Option<Duration>) -> String {
    d.map_or("n/a".into(), |d| format!("{:.1}", d.as_secs_f64() * 1000.0))
}

impl Row {
    /// The row's figures in one cell.
    fn figures(&self) -> String {
        let back = self.fds_back_after.map_or("not back".into(), |d| {
            format!("back {:.1}s after", d.as_secs_f64())
        });
        format!(
            "probe p99 {} / {} ms ({} failed of {}); RSS peak {:+.1} MiB over idle ({:+.1} at the start); \
             fds {} → {} ({back}); {} log lines in {:.0}s; API sockets peak {}",
            ms(self.healthz_p99),
            ms(self.list_p99),
            self.failed_probes.len(),
            self.probes,
            self.rss_over_idle_kib as f64 / 1024.0,
            self.rss_start_over_idle_kib as f64 / 1024.0,
            self.fds_before,
            self.fds_after,
            self.log_lines,
            self.seconds,
            self.api_sockets_peak,
        )
    }

    /// A progress line.
    pub fn line(&self) -> String {
        let verdict = if self.problems.is_empty() {
            "ok".to_string()
        } else {
            format!("PROBLEMS: {}", self.problems.join("; "))
        };
        format!(
            "{}: {} — {}; {verdict}",
            self.attack,
            self.note,
            self.figures()
        )
    }
}

/// The Markdown table of every row.
pub fn table(rows: &[Row]) -> String {
    let mut t = String::from(
        "| attack | what stops it | figures (probe p99 /healthz / list) | outcome |\n|---|---|---|---|\n",
    );
    for r in rows {
        let outcome = if r.problems.is_empty() {
            r.note.clone()
        } else {
            format!("{}; **{}**", r.note, r.problems.join("; "))
        };
        let _ = writeln!(
            t,
            "| {} | {} | {} | {outcome} |",
            r.attack,
            r.stops_it,
            r.figures()
        );
    }
    t
}

/// The highest number of the server's sockets to the API server, sampled every half second
/// while an attack runs.
struct ApiSocketPeak {
    stop: Arc<AtomicBool>,
    peak: Arc<AtomicUsize>,
    thread: std::thread::JoinHandle<()>,
}

impl ApiSocketPeak {
    fn start(pid: u32, api: SocketAddr) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let peak = Arc::new(AtomicUsize::new(0));
        let thread = {
            let (stop, peak) = (stop.clone(), peak.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    peak.fetch_max(sockets_to(pid, api), Ordering::Relaxed);
                    std::thread::sleep(Duration::from_millis(500));
                }
            })
        };
        ApiSocketPeak { stop, peak, thread }
    }

    fn stop(self) -> usize {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.thread.join();
        self.peak.load(Ordering::Relaxed)
    }
}
