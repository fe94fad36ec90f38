//! Reads the server's log (stderr) as it runs: the scrape loop's debug line
//! `Scrape finished. duration=… node_count=… ok=… failed=… pod_count=…` gives the cycle time
//! (tick to last node stored and published), and `Scrape cycle ran out of time` a missed cycle.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use std::io::{BufRead, BufReader, Read};

/// One finished scrape cycle.
#[derive(Copy, Clone, Debug)]
pub struct Cycle {
    /// When the harness read the line.
    pub seen: Instant,
    pub duration: Duration,
    /// Nodes stored in the cycle.
    pub ok: usize,
    pub failed: usize,
    pub pods: usize,
}

/// What the log said so far.
#[derive(Debug, Default)]
pub struct LogState {
    pub cycles: Vec<Cycle>,
    /// When each "ran out of time" warning was read.
    pub overruns: Vec<Instant>,
    /// The last lines, for error messages.
    pub tail: Vec<String>,
}

pub type SharedLog = Arc<Mutex<LogState>>;

pub fn lock(log: &SharedLog) -> std::sync::MutexGuard<'_, LogState> {
    log.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Follows `stream` until it ends, updating `log` (blocking: run it on its own thread).
pub fn follow(stream: impl Read, log: SharedLog) {
    for line in BufReader::new(stream).lines() {
        let Ok(line) = line else { break };
        let line = strip_ansi(&line);
        let mut state = lock(&log);
        if line.contains("Scrape finished.") {
            if let Some(cycle) = parse_cycle(&line) {
                state.cycles.push(cycle);
            }
        } else if line.contains("Scrape cycle ran out of time") {
            state.overruns.push(Instant::now());
        }
        if !line.contains("DEBUG") {
            state.tail.push(line);
            if state.tail.len() > 40 {
                state.tail.remove(0);
            }
        }
    }
}

fn parse_cycle(line: &str) -> Option<Cycle> {
    let count = |key: &str| field(line, key).and_then(|v| v.parse().ok());
    Some(Cycle {
        seen: Instant::now(),
        duration: parse_debug_duration(field(line, "duration")?)?,
        ok: count("ok")?,
        failed: count("failed")?,
        pods: count("pod_count").unwrap_or(0),
    })
}

/// The value of `key=value` in a tracing fmt line.
fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let pattern = format!(" {key}=");
    let start = line.find(&pattern)? + pattern.len();
    let rest = &line[start..];
    Some(rest.split(' ').next().unwrap_or(rest))
}

/// `Duration`'s `Debug` form: `1.5s`, `812.3ms`, `15µs`, `100ns`.
pub fn parse_debug_duration(text: &str) -> Option<Duration> {
    let units = [
        ("ms", 1e-3),
        ("µs", 1e-6),
        ("us", 1e-6),
        ("ns", 1e-9),
        ("s", 1.0),
    ];
    for (suffix, scale) in units {
        if let Some(number) = text.strip_suffix(suffix) {
            let value: f64 = number.parse().ok()?;
            return Some(Duration::from_secs_f64(value * scale));
        }
    }
    None
}

fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_scrape_finished_line() {
        let line = "2025-01-01T00:00:00.000000Z DEBUG metrics_server::scraper: Scrape finished. \
                    duration=1.234s node_count=5000 ok=4999 failed=1 pod_count=150000";
        let c = parse_cycle(line).unwrap();
        assert_eq!(c.duration, Duration::from_millis(1234));
        assert_eq!((c.ok, c.failed, c.pods), (4999, 1, 150000));
    }

    #[test]
    fn debug_durations_and_colours() {
        assert_eq!(
            parse_debug_duration("812.5ms"),
            Some(Duration::from_micros(812_500))
        );
        assert_eq!(
            parse_debug_duration("15µs"),
            Some(Duration::from_micros(15))
        );
        assert_eq!(parse_debug_duration("2s"), Some(Duration::from_secs(2)));
        assert_eq!(parse_debug_duration("x"), None);
        assert_eq!(strip_ansi("\u{1b}[3mok\u{1b}[0m=1"), "ok=1");
    }
}
