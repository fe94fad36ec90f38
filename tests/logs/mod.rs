//! The log lines of a test process whose server runs in it, for tests that assert what is
//! logged (apart from `common`, which the bench's tests share without a log subscriber).
#![allow(dead_code, clippy::expect_used, clippy::unwrap_used)] // each test uses a subset

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

/// Log output of the whole test process (the server runs in it), kept for inspection.
#[derive(Clone, Default)]
pub struct Logs(Arc<Mutex<Vec<u8>>>);

impl Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut held = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        held.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Logs {
    /// The process's log lines at info and above from now on (the same for every caller).
    pub fn capture() -> Self {
        static CAPTURED: OnceLock<Logs> = OnceLock::new();
        CAPTURED
            .get_or_init(|| {
                let logs = Logs::default();
                let writer = logs.clone();
                tracing_subscriber::fmt()
                    .with_ansi(false)
                    .with_max_level(tracing::Level::INFO)
                    .with_writer(move || writer.clone())
                    .init();
                logs
            })
            .clone()
    }

    /// The number of lines that contain every one of `needles`.
    pub fn lines_with(&self, needles: &[&str]) -> usize {
        self.matching(needles).len()
    }

    /// The lines that contain every one of `needles`.
    pub fn matching(&self, needles: &[&str]) -> Vec<String> {
        let held = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        String::from_utf8_lossy(&held)
            .lines()
            .filter(|line| needles.iter().all(|n| line.contains(n)))
            .map(str::to_owned)
            .collect()
    }
}
