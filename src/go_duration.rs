//! Go `time.Duration` text: `String()` (what `metav1.Duration` emits as `window`, upstream
//! spec §2.4) and `time.ParseDuration` (for flags such as `--metric-resolution=15s`). Below
//! both of its users: the API encoders and the duration flags (`config::GoDuration`).

/// Nanoseconds per unit, for parsing.
const UNITS: [(&str, u64); 8] = [
    ("ns", 1),
    ("us", 1_000),
    ("\u{b5}s", 1_000),
    ("\u{3bc}s", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
];

/// Appends Go's `time.Duration(ns).String()`: `0s`, `1ns`, `1µs`, `1.5ms`, `20.021s`,
/// `1m0.5s`, `1h2m3s`, `-1.5s`.
pub fn write_duration(out: &mut Vec<u8>, ns: i64) {
    let mut buf = [0u8; 32];
    let start = format_into(&mut buf, ns);
    out.extend_from_slice(&buf[start..]);
}

/// Go's `time.Duration(ns).String()` as an owned string.
pub fn format_duration(ns: i64) -> String {
    let mut out = Vec::with_capacity(24);
    write_duration(&mut out, ns);
    String::from_utf8_lossy(&out).into_owned()
}

/// Port of Go's `Duration.format`: fills `buf` from the end, returns the start index.
fn format_into(buf: &mut [u8; 32], ns: i64) -> usize {
    let mut w = buf.len();
    let neg = ns < 0;
    let mut u = ns.unsigned_abs();
    if u < 1_000_000_000 {
        w -= 1;
        buf[w] = b's';
        w -= 1;
        let prec = match u {
            0 => {
                buf[w] = b'0';
                return w;
            }
            1..=999 => {
                buf[w] = b'n';
                0
            }
            1_000..=999_999 => {
                // U+00B5 MICRO SIGN, two bytes.
                w -= 1;
                buf[w..w + 2].copy_from_slice("\u{b5}".as_bytes());
                3
            }
            _ => {
                buf[w] = b'm';
                6
            }
        };
        (w, u) = format_frac(buf, w, u, prec);
        w = format_int(buf, w, u);
    } else {
        w -= 1;
        buf[w] = b's';
        (w, u) = format_frac(buf, w, u, 9);
        w = format_int(buf, w, u % 60);
        u /= 60;
        if u > 0 {
            w -= 1;
            buf[w] = b'm';
            w = format_int(buf, w, u % 60);
            u /= 60;
            if u > 0 {
                w -= 1;
                buf[w] = b'h';
                w = format_int(buf, w, u);
            }
        }
    }
    if neg {
        w -= 1;
        buf[w] = b'-';
    }
    w
}

/// Go's `fmtFrac`: the fraction `v / 10^prec` without trailing zeros (and without the point
/// when it is zero), written before `w`. Returns the new start and `v / 10^prec`.
fn format_frac(buf: &mut [u8; 32], mut w: usize, mut v: u64, prec: u32) -> (usize, u64) {
    let mut print = false;
    for _ in 0..prec {
        let digit = (v % 10) as u8;
        print = print || digit != 0;
        if print {
            w -= 1;
            buf[w] = digit + b'0';
        }
        v /= 10;
    }
    if print {
        w -= 1;
        buf[w] = b'.';
    }
    (w, v)
}

/// Go's `fmtInt`: decimal `v` written before `w`.
fn format_int(buf: &mut [u8; 32], mut w: usize, mut v: u64) -> usize {
    if v == 0 {
        w -= 1;
        buf[w] = b'0';
        return w;
    }
    while v > 0 {
        w -= 1;
        buf[w] = (v % 10) as u8 + b'0';
        v /= 10;
    }
    w
}

/// Why a duration string was rejected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DurationParseError {
    #[error("invalid duration {0:?}")]
    Invalid(String),
    #[error("missing unit in duration {0:?}")]
    MissingUnit(String),
    #[error("unknown unit {unit:?} in duration {text:?}")]
    UnknownUnit { unit: String, text: String },
}

/// Go's `time.ParseDuration`: a signed sequence of decimal numbers with optional fraction and
/// a unit each (`15s`, `1m30s`, `1.5h`, `300ms`, `10us`, `10µs`, `-1s`, `0`), in nanoseconds.
pub fn parse_go_duration(text: &str) -> Result<i64, DurationParseError> {
    let invalid = || DurationParseError::Invalid(text.to_owned());
    let (neg, mut s) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if s == "0" {
        return Ok(0);
    }
    if s.is_empty() {
        return Err(invalid());
    }
    let mut total: u64 = 0;
    while !s.is_empty() {
        let (nanos, rest) = parse_component(s, text)?;
        total = total.checked_add(nanos).ok_or_else(invalid)?;
        s = rest;
    }
    signed(total, neg).ok_or_else(invalid)
}

/// Applies the sign; like Go, allows exactly `-(1<<63)`.
fn signed(total: u64, neg: bool) -> Option<i64> {
    if neg {
        0i64.checked_sub_unsigned(total)
    } else {
        i64::try_from(total).ok()
    }
}

/// One `<number>[.<fraction>]<unit>` component; returns its nanoseconds and the rest.
fn parse_component<'a>(s: &'a str, text: &str) -> Result<(u64, &'a str), DurationParseError> {
    let invalid = || DurationParseError::Invalid(text.to_owned());
    let int_len = s.bytes().take_while(u8::is_ascii_digit).count();
    let (int_digits, mut rest) = s.split_at(int_len);
    let mut frac_digits = "";
    if let Some(after_dot) = rest.strip_prefix('.') {
        let n = after_dot.bytes().take_while(u8::is_ascii_digit).count();
        (frac_digits, rest) = after_dot.split_at(n);
    }
    if int_digits.is_empty() && frac_digits.is_empty() {
        return Err(invalid());
    }
    let unit_len = rest
        .char_indices()
        .find(|&(_, c)| c == '.' || c.is_ascii_digit())
        .map_or(rest.len(), |(i, _)| i);
    let (unit, rest) = rest.split_at(unit_len);
    if unit.is_empty() {
        return Err(DurationParseError::MissingUnit(text.to_owned()));
    }
    let scale = UNITS
        .iter()
        .find(|(name, _)| *name == unit)
        .map(|&(_, ns)| ns)
        .ok_or_else(|| DurationParseError::UnknownUnit {
            unit: unit.to_owned(),
            text: text.to_owned(),
        })?;
    let whole = digits_value(int_digits)
        .and_then(|v| v.checked_mul(scale))
        .ok_or_else(invalid)?;
    Ok((
        whole
            .checked_add(fraction_nanos(frac_digits, scale))
            .ok_or_else(invalid)?,
        rest,
    ))
}

fn digits_value(digits: &str) -> Option<u64> {
    digits.bytes().try_fold(0u64, |acc, d| {
        acc.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })
}

/// `0.<digits> × scale`, truncated like Go (extra digits beyond u64 precision are dropped).
fn fraction_nanos(digits: &str, scale: u64) -> u64 {
    let (mut f, mut denom) = (0u128, 1u128);
    for d in digits.bytes().take(30) {
        f = f * 10 + u128::from(d - b'0');
        denom *= 10;
    }
    u64::try_from(f * u128::from(scale) / denom).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_like_go() {
        let cases: &[(i64, &str)] = &[
            (0, "0s"),
            (1, "1ns"),
            (999, "999ns"),
            (1_000, "1\u{b5}s"),
            (2_000, "2\u{b5}s"),
            (1_100, "1.1\u{b5}s"),
            (1_500_000, "1.5ms"),
            (15_000_000_000, "15s"),
            (15_004_000_000, "15.004s"),
            (20_021_000_000, "20.021s"),
            (10_009_000_000, "10.009s"),
            (60_500_000_000, "1m0.5s"),
            (60_000_000_000, "1m0s"),
            (3_600_000_000_000, "1h0m0s"),
            (3_723_000_000_000, "1h2m3s"),
            (-1_500_000_000, "-1.5s"),
            (-1, "-1ns"),
            (1_000_000_001, "1.000000001s"),
            (i64::MAX, "2562047h47m16.854775807s"),
            (i64::MIN, "-2562047h47m16.854775808s"),
        ];
        for &(ns, want) in cases {
            assert_eq!(format_duration(ns), want, "{ns}ns");
        }
    }

    #[test]
    fn parses_like_go() {
        let cases: &[(&str, i64)] = &[
            ("0", 0),
            ("-0", 0),
            ("15s", 15_000_000_000),
            ("1m30s", 90_000_000_000),
            ("1.5h", 5_400_000_000_000),
            ("300ms", 300_000_000),
            ("10us", 10_000),
            ("10\u{b5}s", 10_000),
            ("10\u{3bc}s", 10_000),
            ("-1s", -1_000_000_000),
            ("+2m", 120_000_000_000),
            (".5s", 500_000_000),
            ("1.s", 1_000_000_000),
            ("1h2m3.5s", 3_723_500_000_000),
            ("2562047h47m16.854775807s", i64::MAX),
            ("-2562047h47m16.854775808s", i64::MIN),
        ];
        for &(text, want) in cases {
            assert_eq!(parse_go_duration(text), Ok(want), "{text}");
        }
    }

    #[test]
    fn rejects_what_go_rejects() {
        for text in [
            "",
            "-",
            "s",
            "1",
            "10",
            "1x",
            "1.5",
            ".s",
            "1s2",
            "9999999999999999999h",
        ] {
            assert!(parse_go_duration(text).is_err(), "{text:?}");
        }
        assert!(matches!(
            parse_go_duration("5d"),
            Err(DurationParseError::UnknownUnit { .. })
        ));
        assert!(parse_go_duration("2562047h47m16.854775808s").is_err());
    }

    #[test]
    fn round_trips() {
        for ns in [
            1,
            999_999,
            1_234_567_890,
            86_400_000_000_000,
            -60_000_000_001,
        ] {
            assert_eq!(parse_go_duration(&format_duration(ns)), Ok(ns));
        }
    }
}
