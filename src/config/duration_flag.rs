//! Go `time.Duration` flag values (`15s`, `1m30s`, `1.5h`, `500ms`, `-1s`), parsed and printed
//! the way Go's `time.ParseDuration` and `Duration.String` do, for the duration flags of
//! spec §1.1 and §1.2 and for the validation messages that quote them.

use std::fmt;

use crate::go_duration::{DurationParseError, format_duration, parse_go_duration};

/// Longest flag value accepted; Go durations never need more.
const MAX_LEN: usize = 64;

/// A signed Go duration in nanoseconds, as a flag holds it before validation.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct GoDuration(i64);

/// Why a duration flag value is not a Go duration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid duration {value:?}: {problem} (examples: 15s, 1m30s, 500ms)")]
pub struct DurationError {
    value: String,
    problem: String,
}

impl GoDuration {
    /// A duration of `nanos` nanoseconds.
    pub const fn from_nanos(nanos: i64) -> Self {
        GoDuration(nanos)
    }

    /// A duration of whole seconds.
    pub const fn from_secs(secs: i64) -> Self {
        GoDuration(secs * 1_000_000_000)
    }

    /// The signed length in nanoseconds.
    pub const fn as_nanos(self) -> i64 {
        self.0
    }

    /// The duration as a `std` duration, `None` when negative.
    pub fn to_std(self) -> Option<std::time::Duration> {
        u64::try_from(self.0)
            .ok()
            .map(std::time::Duration::from_nanos)
    }

    /// Parses Go syntax: `[-+]?([0-9]*(\.[0-9]*)?(ns|us|µs|μs|ms|s|m|h))+`, or a bare `0`
    /// (the one Go duration grammar of this crate, in `crate::go_duration`).
    pub fn parse(text: &str) -> Result<Self, DurationError> {
        if text.len() > MAX_LEN {
            return Err(DurationError {
                value: text.chars().take(MAX_LEN).collect(),
                problem: "value too long".into(),
            });
        }
        parse_go_duration(text)
            .map(GoDuration)
            .map_err(|e| DurationError {
                value: text.to_owned(),
                problem: problem_text(&e),
            })
    }
}

fn problem_text(err: &DurationParseError) -> String {
    match err {
        DurationParseError::Invalid(_) => "not a duration".into(),
        DurationParseError::MissingUnit(_) => "missing unit".into(),
        DurationParseError::UnknownUnit { unit, .. } => format!("unknown unit {unit:?}"),
    }
}

impl fmt::Display for GoDuration {
    /// Go's `Duration.String()`: `15s`, `1m30s`, `1.5ms`, `0s`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_duration(self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nanos(text: &str) -> i64 {
        GoDuration::parse(text).unwrap().as_nanos()
    }

    #[test]
    fn parses_go_syntax() {
        assert_eq!(nanos("15s"), 15_000_000_000);
        assert_eq!(nanos("1m30s"), 90_000_000_000);
        assert_eq!(nanos("1.5h"), 5_400_000_000_000);
        assert_eq!(nanos("500ms"), 500_000_000);
        assert_eq!(nanos("2us"), 2_000);
        assert_eq!(nanos("2µs"), 2_000);
        assert_eq!(nanos("7ns"), 7);
        assert_eq!(nanos(".5s"), 500_000_000);
        assert_eq!(nanos("5.s"), 5_000_000_000);
        assert_eq!(nanos("0"), 0);
        assert_eq!(nanos("-1s"), -1_000_000_000);
        assert_eq!(nanos("+2m"), 120_000_000_000);
        assert_eq!(nanos("1h1m1s1ms"), 3_661_001_000_000);
    }

    #[test]
    fn rejects_what_go_rejects() {
        for bad in [
            "",
            "15",
            "s",
            "1x",
            ".s",
            "1.2.3s",
            "10 s",
            "-",
            "1s ",
            "9999999999h",
        ] {
            let err = GoDuration::parse(bad).unwrap_err();
            assert!(err.to_string().contains("invalid duration"), "{bad}: {err}");
        }
        let err = GoDuration::parse("5x").unwrap_err().to_string();
        assert!(err.contains("unknown unit"), "{err}");
        let err = GoDuration::parse("15").unwrap_err().to_string();
        assert!(err.contains("missing unit"), "{err}");
    }

    #[test]
    fn prints_like_go() {
        let cases = [
            (0, "0s"),
            (1, "1ns"),
            (1_500, "1.5µs"),
            (1_500_000, "1.5ms"),
            (15_000_000_000, "15s"),
            (60_000_000_000, "1m0s"),
            (90_500_000_000, "1m30.5s"),
            (3_600_000_000_000, "1h0m0s"),
            (-10_000_000_000, "-10s"),
        ];
        for (n, want) in cases {
            assert_eq!(GoDuration::from_nanos(n).to_string(), want);
        }
    }

    #[test]
    fn to_std_refuses_negative() {
        assert_eq!(GoDuration::from_nanos(-1).to_std(), None);
        assert_eq!(
            GoDuration::from_secs(2).to_std(),
            Some(std::time::Duration::from_secs(2))
        );
    }
}
