//! Go `time.Duration` flag values (`15s`, `1m30s`, `1.5h`, `500ms`, `-1s`), parsed and printed
//! the way Go's `time.ParseDuration` and `Duration.String` do, for the duration flags of
//! spec §1.1 and §1.2 and for the validation messages that quote them.

use std::fmt;

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
    problem: &'static str,
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

    /// Parses Go syntax: `[-+]?([0-9]*(\.[0-9]*)?(ns|us|µs|μs|ms|s|m|h))+`, or a bare `0`.
    pub fn parse(text: &str) -> Result<Self, DurationError> {
        let fail = |problem| DurationError {
            value: text.chars().take(MAX_LEN).collect(),
            problem,
        };
        if text.len() > MAX_LEN {
            return Err(fail("value too long"));
        }
        let (negative, mut rest) = match text.as_bytes().first() {
            Some(b'-') => (true, &text[1..]),
            Some(b'+') => (false, &text[1..]),
            _ => (false, text),
        };
        if rest == "0" {
            return Ok(GoDuration(0));
        }
        if rest.is_empty() {
            return Err(fail("empty duration"));
        }
        let mut total: i128 = 0;
        while !rest.is_empty() {
            let (nanos, after) = parse_component(rest).map_err(fail)?;
            total += nanos;
            if total > i128::from(i64::MAX) + 1 {
                return Err(fail("duration out of range"));
            }
            rest = after;
        }
        let signed = if negative { -total } else { total };
        i64::try_from(signed)
            .map(GoDuration)
            .map_err(|_| fail("duration out of range"))
    }
}

/// One `<number><unit>` component: its nanoseconds and the text after it.
fn parse_component(text: &str) -> Result<(i128, &str), &'static str> {
    let int_end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (int_digits, rest) = text.split_at(int_end);
    let (frac_digits, rest) = match rest.strip_prefix('.') {
        Some(after_dot) => {
            let end = after_dot
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(after_dot.len());
            after_dot.split_at(end)
        }
        None => ("", rest),
    };
    if int_digits.is_empty() && frac_digits.is_empty() {
        return Err("expected a number");
    }
    let unit_end = rest
        .find(|c: char| c.is_ascii_digit() || c == '.')
        .unwrap_or(rest.len());
    let (unit, rest) = rest.split_at(unit_end);
    let unit_nanos = unit_in_nanos(unit)?;
    let whole = digits_value(int_digits)?;
    let mut nanos = whole
        .checked_mul(unit_nanos)
        .ok_or("duration out of range")?;
    let mut scale = unit_nanos;
    for digit in frac_digits.bytes() {
        if scale < 10 {
            break;
        }
        scale /= 10;
        nanos += i128::from(digit - b'0') * scale;
    }
    Ok((nanos, rest))
}

fn unit_in_nanos(unit: &str) -> Result<i128, &'static str> {
    Ok(match unit {
        "ns" => 1,
        "us" | "µs" | "μs" => 1_000,
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" => 60_000_000_000,
        "h" => 3_600_000_000_000,
        "" => return Err("missing unit (one of ns, us, ms, s, m, h)"),
        _ => return Err("unknown unit (expected one of ns, us, ms, s, m, h)"),
    })
}

fn digits_value(digits: &str) -> Result<i128, &'static str> {
    digits.bytes().try_fold(0i128, |acc, d| {
        let next = acc * 10 + i128::from(d - b'0');
        if next > i128::from(i64::MAX) + 1 {
            Err("duration out of range")
        } else {
            Ok(next)
        }
    })
}

impl fmt::Display for GoDuration {
    /// Go's `Duration.String`: `1h2m3.5s`, `1m0s`, `1.5ms`, `0s`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let nanos = self.0.unsigned_abs();
        if nanos == 0 {
            return f.write_str("0s");
        }
        if nanos < 1_000_000_000 {
            let (unit, per) = match nanos {
                0..1_000 => ("ns", 1),
                1_000..1_000_000 => ("µs", 1_000),
                _ => ("ms", 1_000_000),
            };
            return write!(f, "{sign}{}{unit}", decimal(nanos, per));
        }
        let hours = nanos / 3_600_000_000_000;
        let minutes = nanos / 60_000_000_000 % 60;
        let seconds = decimal(nanos % 60_000_000_000, 1_000_000_000);
        match (hours, minutes) {
            (0, 0) => write!(f, "{sign}{seconds}s"),
            (0, m) => write!(f, "{sign}{m}m{seconds}s"),
            (h, m) => write!(f, "{sign}{h}h{m}m{seconds}s"),
        }
    }
}

/// `value / per` as a decimal without trailing zeros (`1500, 1000` → `1.5`).
fn decimal(value: u64, per: u64) -> String {
    let whole = value / per;
    let frac = value % per;
    if frac == 0 {
        return whole.to_string();
    }
    let width = per.ilog10() as usize;
    let digits = format!("{frac:0width$}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
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
