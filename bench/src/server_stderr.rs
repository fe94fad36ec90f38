//! The last lines the server wrote to stderr, kept to explain a failed run (the server's own
//! colour codes are off: its stderr is a pipe).

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read};
use std::sync::{Arc, Mutex, PoisonError};

/// Lines kept.
const KEPT: usize = 40;

/// The server's last stderr lines, shared with the thread that reads them.
#[derive(Clone, Debug, Default)]
pub struct StderrTail(Arc<Mutex<VecDeque<String>>>);

impl StderrTail {
    /// Follows `stream` until it ends (blocking: run it on its own thread).
    pub fn follow(&self, stream: impl Read) {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            let mut lines = self.0.lock().unwrap_or_else(PoisonError::into_inner);
            if lines.len() == KEPT {
                lines.pop_front();
            }
            lines.push_back(line);
        }
    }

    /// The kept lines, oldest first.
    pub fn text(&self) -> String {
        let lines = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        Vec::from_iter(lines.iter().map(String::as_str)).join("\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_last_lines() {
        let tail = StderrTail::default();
        let text: String = (0..100).map(|i| format!("line {i}\n")).collect();
        tail.follow(text.as_bytes());
        let kept = tail.text();
        assert!(
            kept.starts_with("line 60\n") && kept.ends_with("line 99"),
            "{kept}"
        );
    }
}
