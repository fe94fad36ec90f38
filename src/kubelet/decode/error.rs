//! Why a kubelet payload was rejected. Upstream fails the whole node on any parse error
//! (spec §3.3 "Any parse error fails the whole node"); the error names the line so the
//! scraper's log line (which adds the node name) points at the offending input.

/// Longest excerpt of the input quoted in an error message, in bytes.
const MAX_EXCERPT: usize = 64;

/// A kubelet payload could not be decoded; none of the node's data may be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(transparent)]
pub struct DecodeError(ErrorKind);

/// Where and how decoding failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A `/metrics/resource` line (1-based) was not valid Prometheus text or held a value
    /// this decoder refuses.
    #[error("line {line}: {problem}")]
    Line { line: usize, problem: LineProblem },
    /// The `/stats/summary` body was not the JSON shape expected (serde_json's position).
    #[error("invalid summary JSON at line {line} column {column}: {message}")]
    Json {
        line: usize,
        column: usize,
        message: String,
    },
}

/// What was wrong with one `/metrics/resource` line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LineProblem {
    /// The body has more lines than the decoder accepts.
    #[error("more than {max} lines")]
    TooManyLines { max: usize },
    #[error("invalid metric name {0:?}")]
    InvalidMetricName(String),
    #[error("missing sample value")]
    MissingValue,
    #[error("invalid sample value {0:?}")]
    InvalidValue(String),
    #[error("invalid sample timestamp {0:?}")]
    InvalidTimestamp(String),
    /// Prometheus rejects these; a kubelet printed Go's zero time as one (see fixtures).
    #[error("negative timestamp {0}")]
    NegativeTimestamp(i64),
    #[error("unexpected text {0:?} after the sample")]
    TrailingText(String),
    #[error("unterminated label set")]
    UnterminatedLabels,
    #[error("unterminated label value")]
    UnterminatedQuote,
    #[error("malformed label set: {0}")]
    MalformedLabels(&'static str),
    #[error("label value longer than {max} bytes")]
    LabelValueTooLong { max: usize },
    #[error("label {label:?} of {series} is not valid UTF-8")]
    LabelNotUtf8 {
        series: &'static str,
        label: &'static str,
    },
    #[error("{series} without a {label:?} label")]
    MissingLabel {
        series: &'static str,
        label: &'static str,
    },
}

impl DecodeError {
    /// An error on `/metrics/resource` line `line` (1-based).
    pub(super) fn line(line: usize, problem: LineProblem) -> Self {
        DecodeError(ErrorKind::Line { line, problem })
    }

    /// A serde_json error from the summary decoder.
    pub(super) fn json(err: &serde_json::Error) -> Self {
        let (line, column) = (err.line(), err.column());
        let full = err.to_string();
        let suffix = format!(" at line {line} column {column}");
        let message = full.strip_suffix(&suffix).unwrap_or(&full).to_owned();
        DecodeError(ErrorKind::Json {
            line,
            column,
            message,
        })
    }

    /// Where and how decoding failed.
    pub fn kind(&self) -> &ErrorKind {
        &self.0
    }

    /// The 1-based line of the input the error is about.
    pub fn line_number(&self) -> usize {
        match self.0 {
            ErrorKind::Line { line, .. } | ErrorKind::Json { line, .. } => line,
        }
    }
}

/// A short, printable copy of some input bytes for an error message.
pub(super) fn excerpt(bytes: &[u8]) -> String {
    let mut end = bytes.len().min(MAX_EXCERPT);
    let text = loop {
        match std::str::from_utf8(&bytes[..end]) {
            Ok(s) => break s.to_owned(),
            Err(e) if e.error_len().is_none() => end = e.valid_up_to(),
            Err(_) => break String::from_utf8_lossy(&bytes[..end]).into_owned(),
        }
    };
    if end < bytes.len() {
        text + "…"
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_errors_name_the_line_and_quote_the_input() {
        let e = DecodeError::line(17, LineProblem::InvalidValue(excerpt(b"abc")));
        assert_eq!(e.to_string(), r#"line 17: invalid sample value "abc""#);
        assert_eq!(e.line_number(), 17);
        let e = DecodeError::line(3, LineProblem::NegativeTimestamp(-62135596800000));
        assert_eq!(e.to_string(), "line 3: negative timestamp -62135596800000");
    }

    #[test]
    fn json_errors_keep_serde_position_once() {
        let err = serde_json::from_str::<serde_json::Value>("{\"a\": tru}").unwrap_err();
        let e = DecodeError::json(&err);
        let text = e.to_string();
        assert!(
            text.starts_with("invalid summary JSON at line 1 column "),
            "{text}"
        );
        assert_eq!(text.matches("line").count(), 1, "{text}");
    }

    #[test]
    fn excerpts_are_bounded_and_do_not_split_characters() {
        let long = "é".repeat(100);
        let e = excerpt(long.as_bytes());
        assert!(e.ends_with('…'));
        assert!(e.len() <= MAX_EXCERPT + '…'.len_utf8());
        assert_eq!(excerpt(b"\xff\xfe"), "\u{fffd}\u{fffd}");
    }
}
