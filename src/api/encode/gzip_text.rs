//! Text compressed as it is written: a gzip member built from what a `fmt::Write` producer
//! (the Prometheus text encoder) writes, so the uncompressed text is never held whole —
//! 8 MB of `/metrics` at 5,000 nodes is sent, and held, as 0.5 MB.

use std::fmt;
use std::io::{BufWriter, Write};

use flate2::write::GzEncoder;

use super::gzip::{GzipError, level};

/// Small writes are gathered before each deflate call (the text encoder writes a few bytes
/// at a time).
const GATHER_BYTES: usize = 64 * 1024;

/// A gzip member written through [`fmt::Write`].
pub struct GzipText {
    encoder: BufWriter<GzEncoder<Vec<u8>>>,
    /// The first write error; the member is then incomplete and [`GzipText::finish`] says so.
    failed: Option<std::io::Error>,
}

impl GzipText {
    /// A member whose compressed bytes start with room for `capacity`.
    pub fn with_capacity(capacity: usize) -> Self {
        let encoder = GzEncoder::new(Vec::with_capacity(capacity), level());
        GzipText {
            encoder: BufWriter::with_capacity(GATHER_BYTES, encoder),
            failed: None,
        }
    }

    /// The complete member, or why it is not complete.
    pub fn finish(self) -> Result<Vec<u8>, GzipError> {
        if let Some(err) = self.failed {
            return Err(GzipError::Write(err));
        }
        let encoder = self
            .encoder
            .into_inner()
            .map_err(|err| GzipError::Write(err.into_error()))?;
        Ok(encoder.finish()?)
    }
}

impl fmt::Write for GzipText {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        if self.failed.is_some() {
            return Err(fmt::Error);
        }
        self.encoder.write_all(text.as_bytes()).map_err(|err| {
            self.failed = Some(err);
            fmt::Error
        })
    }
}

#[cfg(test)]
mod tests {
    use std::fmt::Write as _;

    use super::*;
    use crate::api::encode::gzip::gunzip;

    #[test]
    fn many_small_writes_decompress_to_the_text_written() {
        let mut text = String::new();
        let mut gz = GzipText::with_capacity(1024);
        for i in 0..50_000 {
            let line = format!("series{{node=\"node-{i}\"}} {i}\n");
            text.push_str(&line);
            gz.write_str(&line).unwrap();
        }
        let member = gz.finish().unwrap();
        assert!(member.len() < text.len() / 4, "{} bytes", member.len());
        assert_eq!(gunzip(&member), text.as_bytes());
    }

    #[test]
    fn nothing_written_is_an_empty_member() {
        let member = GzipText::with_capacity(0).finish().unwrap();
        assert!(gunzip(&member).is_empty());
    }
}
