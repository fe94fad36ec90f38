//! Sequential requests over one kept-alive connection, timed one by one: what a client that
//! asks for one pod at a time (an HPA through the aggregator) sees of the server's latency,
//! where a delayed ACK meeting Nagle's algorithm shows up as ~40 ms outliers.

use std::fmt::Write;
use std::time::Duration;

use super::run::percentile;
use super::tls::{Conn, get};

/// No response may take this long on an idle server.
pub const OUTLIER: Duration = Duration::from_millis(20);
pub const P99_LIMIT: Duration = Duration::from_millis(2);
/// Requests sent before timing starts (the first pays for its access review).
const WARM_UP: usize = 10;

/// The latencies of one kind of request over one transport.
pub struct Distribution {
    pub label: String,
    /// Sorted.
    pub samples: Vec<Duration>,
}

/// `n` GETs of `path` one after another on `conn`, each answered 200, after a warm-up.
pub async fn sequential(
    label: String,
    conn: &mut Conn,
    path: &str,
    headers: &[(&str, &[u8])],
    n: usize,
) -> anyhow::Result<Distribution> {
    let mut samples = Vec::with_capacity(n);
    for i in 0..WARM_UP + n {
        let answer = conn.send(get(path, headers)).await?;
        anyhow::ensure!(
            answer.status == 200,
            "{label}: {path} answered {}",
            answer.status
        );
        if i >= WARM_UP {
            samples.push(answer.elapsed);
        }
    }
    samples.sort();
    Ok(Distribution { label, samples })
}

impl Distribution {
    pub fn p(&self, p: f64) -> Duration {
        percentile(&self.samples, p).unwrap_or_default()
    }

    pub fn outliers(&self) -> usize {
        self.samples.iter().filter(|d| **d >= OUTLIER).count()
    }

    /// What a user would call too slow, if anything.
    pub fn problem(&self) -> Option<String> {
        let (outliers, p99) = (self.outliers(), self.p(99.0));
        (outliers > 0 || p99 > P99_LIMIT).then(|| {
            format!(
                "{}: {outliers} responses at or above {} ms, p99 {:.2} ms (limit {} ms)",
                self.label,
                OUTLIER.as_millis(),
                p99.as_secs_f64() * 1000.0,
                P99_LIMIT.as_millis()
            )
        })
    }

    /// One table row: percentiles and a histogram.
    pub fn row(&self) -> String {
        let ms = |d: Duration| format!("{:.2}", d.as_secs_f64() * 1000.0);
        let bounds = [1, 2, 5, 10, 20, 40, 60];
        let mut buckets = vec![0usize; bounds.len() + 1];
        for s in &self.samples {
            let i = bounds
                .iter()
                .position(|b| *s < Duration::from_millis(*b))
                .unwrap_or(bounds.len());
            buckets[i] += 1;
        }
        let mut row = format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            self.label,
            self.samples.len(),
            ms(self.p(50.0)),
            ms(self.p(90.0)),
            ms(self.p(99.0)),
            ms(self.p(99.9)),
            ms(self.samples.last().copied().unwrap_or_default()),
            self.outliers()
        );
        for b in buckets {
            let _ = write!(row, " {b} |");
        }
        row
    }
}

/// The Markdown table of `distributions`.
pub fn table(distributions: &[Distribution]) -> String {
    let mut t = String::from(
        "| requests | n | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | ≥20 ms \
         | <1 | 1–2 | 2–5 | 5–10 | 10–20 | 20–40 | 40–60 | ≥60 |\n\
         |---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for d in distributions {
        let _ = writeln!(t, "{}", d.row());
    }
    t
}
