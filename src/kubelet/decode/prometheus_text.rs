//! One line of the Prometheus text exposition format 0.0.4, the format of the kubelet's
//! `/metrics/resource` (spec §3.3). Upstream uses Prometheus' `textparse`; this is a
//! byte-level reader for the same grammar that borrows everything from the line:
//!
//! ```text
//! metric_name [ "{" label="value" { "," label="value" } [ "," ] "}" ] value [ timestamp_ms ]
//! ```
//!
//! Every label set is checked for syntax (any malformed line fails the node, as upstream), but
//! only the `container`, `namespace` and `pod` values are kept, still escaped.

use std::borrow::Cow;

use memchr::memchr2;

use super::error::{LineProblem, excerpt};

/// Longest label value accepted, in bytes (before unescaping).
pub const MAX_LABEL_VALUE: usize = 64 * 1024;

/// A label value as written between its quotes.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(super) struct RawValue<'a> {
    bytes: &'a [u8],
    /// True when the value contains a backslash escape.
    escaped: bool,
}

impl<'a> RawValue<'a> {
    /// The bytes as written when they contain no escape (so they are the value itself), not
    /// checked for UTF-8.
    pub fn unescaped_bytes(self) -> Option<&'a [u8]> {
        (!self.escaped).then_some(self.bytes)
    }

    /// The value with `\\`, `\"` and `\n` unescaped (other escapes stay as written, like
    /// Prometheus' label value replacer); borrowed unless there was an escape. `None` when the
    /// value is not UTF-8.
    pub fn to_str(self) -> Option<Cow<'a, str>> {
        let text = std::str::from_utf8(self.bytes).ok()?;
        if !self.escaped {
            return Some(Cow::Borrowed(text));
        }
        let mut out = String::with_capacity(text.len());
        let mut chars = text.chars();
        while let Some(c) = chars.next() {
            if c != '\\' {
                out.push(c);
                continue;
            }
            match chars.next() {
                Some('n') => out.push('\n'),
                Some(c @ ('\\' | '"')) => out.push(c),
                Some(other) => {
                    out.push('\\');
                    out.push(other);
                }
                None => out.push('\\'),
            }
        }
        Some(Cow::Owned(out))
    }
}

/// The labels that identify a container; anything else is dropped while reading.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct PodLabels<'a> {
    pub container: Option<RawValue<'a>>,
    pub namespace: Option<RawValue<'a>>,
    pub pod: Option<RawValue<'a>>,
}

/// One sample line.
#[derive(Copy, Clone, Debug, PartialEq)]
pub(super) struct SampleLine<'a> {
    pub name: &'a [u8],
    pub labels: PodLabels<'a>,
    pub value: f64,
    /// The value as written, for error messages.
    pub value_text: &'a [u8],
    /// Milliseconds since the epoch; never negative.
    pub timestamp_ms: Option<i64>,
}

/// Reads one line (without its line end). `Ok(None)` for blank lines and `#` comments
/// (HELP, TYPE).
pub(super) fn parse_line(line: &[u8]) -> Result<Option<SampleLine<'_>>, LineProblem> {
    let start = skip_blanks(line, 0);
    match line.get(start) {
        None | Some(b'#') => return Ok(None),
        Some(_) => {}
    }
    let name_end = scan_while(line, start, NAME);
    let name = &line[start..name_end];
    let mut labels = PodLabels::default();
    let mut at = name_end;
    match line.get(name_end) {
        _ if name.is_empty() || name[0].is_ascii_digit() => return Err(bad_name(line, start)),
        Some(b'{') => at = parse_labels(line, name_end + 1, &mut labels)?,
        Some(b' ' | b'\t') | None => {}
        Some(_) => return Err(bad_name(line, start)),
    }
    let (value_text, at) = token(line, skip_blanks(line, at));
    if value_text.is_empty() {
        return Err(LineProblem::MissingValue);
    }
    let value =
        parse_float(value_text).ok_or_else(|| LineProblem::InvalidValue(excerpt(value_text)))?;
    let (timestamp_text, at) = token(line, skip_blanks(line, at));
    let timestamp_ms = match timestamp_text {
        [] => None,
        text => Some(parse_timestamp(text)?),
    };
    let rest = skip_blanks(line, at);
    if rest < line.len() {
        return Err(LineProblem::TrailingText(excerpt(&line[rest..])));
    }
    Ok(Some(SampleLine {
        name,
        labels,
        value,
        value_text,
        timestamp_ms,
    }))
}

/// Reads `label="value", …}` from just after the `{`; returns the index after the `}`.
fn parse_labels<'a>(
    line: &'a [u8],
    mut at: usize,
    labels: &mut PodLabels<'a>,
) -> Result<usize, LineProblem> {
    loop {
        at = skip_blanks(line, at);
        match line.get(at) {
            None => return Err(LineProblem::UnterminatedLabels),
            Some(b'}') => return Ok(at + 1),
            Some(c) if c.is_ascii_digit() => return Err(malformed("expected a label name")),
            Some(_) => {}
        }
        let name_end = scan_while(line, at, LABEL_NAME);
        if name_end == at {
            return Err(malformed("expected a label name"));
        }
        let name = &line[at..name_end];
        at = skip_blanks(line, name_end);
        expect(line, at, b'=', "expected '=' after a label name")?;
        at = skip_blanks(line, at + 1);
        expect(line, at, b'"', "expected a quoted label value")?;
        let (value, end) = scan_quoted(line, at + 1)?;
        match name {
            b"container" => labels.container = Some(value),
            b"namespace" => labels.namespace = Some(value),
            b"pod" => labels.pod = Some(value),
            _ => {}
        }
        at = skip_blanks(line, end);
        match line.get(at) {
            Some(b',') => at += 1,
            Some(b'}') => return Ok(at + 1),
            None => return Err(LineProblem::UnterminatedLabels),
            Some(_) => return Err(malformed("expected ',' or '}' after a label value")),
        }
    }
}

/// Reads a quoted value from just after its opening quote; returns it and the index after
/// the closing quote.
fn scan_quoted(line: &[u8], start: usize) -> Result<(RawValue<'_>, usize), LineProblem> {
    let mut at = start;
    let mut escaped = false;
    loop {
        let found = line.get(at..).and_then(|rest| memchr2(b'"', b'\\', rest));
        let Some(offset) = found else {
            return Err(LineProblem::UnterminatedQuote);
        };
        let hit = at + offset;
        if line[hit] == b'\\' {
            escaped = true;
            at = hit + 2;
            continue;
        }
        let bytes = &line[start..hit];
        if bytes.len() > MAX_LABEL_VALUE {
            return Err(LineProblem::LabelValueTooLong {
                max: MAX_LABEL_VALUE,
            });
        }
        return Ok((RawValue { bytes, escaped }, hit + 1));
    }
}

fn expect(line: &[u8], at: usize, byte: u8, what: &'static str) -> Result<(), LineProblem> {
    match line.get(at) {
        Some(&b) if b == byte => Ok(()),
        None => Err(LineProblem::UnterminatedLabels),
        Some(_) => Err(malformed(what)),
    }
}

/// Parses a sample value as Go's `strconv.ParseFloat` would for the forms a kubelet prints
/// (`4.710169`, `1.253376e+07`, `0`, `NaN`, `+Inf`).
fn parse_float(text: &[u8]) -> Option<f64> {
    plain_decimal(text).or_else(|| std::str::from_utf8(text).ok()?.parse().ok())
}

/// 10^0 … 10^22: the powers of ten an `f64` holds exactly.
const EXACT_POWERS_OF_TEN: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// The forms a kubelet prints (`4.710169`, `1.253376e+07`, `12`) without the general parser:
/// unsigned digits with at most one `.`, an optional exponent, the digits below 2^53 and the
/// power of ten within ±22. Both factors are then exact `f64`s, so one correctly rounded
/// multiplication or division gives the correctly rounded value, as the general parser does
/// (Clinger's fast path). `None` leaves everything else to the general parser.
fn plain_decimal(text: &[u8]) -> Option<f64> {
    let (mut digits, mut mantissa, mut exponent, mut dot) = (0u32, 0u64, 0i32, false);
    let mut at = 0;
    while let Some(&b) = text.get(at) {
        match b {
            b'0'..=b'9' if digits < 15 => {
                mantissa = mantissa * 10 + u64::from(b - b'0');
                digits += 1;
                exponent -= i32::from(dot);
            }
            b'.' if !dot => dot = true,
            b'e' | b'E' => break,
            _ => return None,
        }
        at += 1;
    }
    if digits == 0 {
        return None;
    }
    if let Some(written) = text.get(at + 1..) {
        exponent += small_exponent(written)?;
    }
    let power = EXACT_POWERS_OF_TEN.get(usize::try_from(exponent.unsigned_abs()).ok()?)?;
    let mantissa = mantissa as f64; // exact: 15 digits are below 2^53
    Some(if exponent < 0 {
        mantissa / power
    } else {
        mantissa * power
    })
}

/// An exponent of one to three digits after an optional sign.
fn small_exponent(written: &[u8]) -> Option<i32> {
    let (negative, digits) = match written {
        [b'-', rest @ ..] => (true, rest),
        [b'+', rest @ ..] => (false, rest),
        rest => (false, rest),
    };
    if digits.is_empty() || digits.len() > 3 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let value = digits
        .iter()
        .fold(0i32, |acc, d| acc * 10 + i32::from(d - b'0'));
    Some(if negative { -value } else { value })
}

/// Parses a millisecond timestamp: digits only; a leading `-` is reported as negative.
fn parse_timestamp(text: &[u8]) -> Result<i64, LineProblem> {
    let invalid = || LineProblem::InvalidTimestamp(excerpt(text));
    let (negative, digits) = match text {
        [b'-', rest @ ..] => (true, rest),
        _ => (false, text),
    };
    if digits.is_empty() {
        return Err(invalid());
    }
    let mut magnitude = Some(0i64);
    for &d in digits {
        if !d.is_ascii_digit() {
            return Err(invalid());
        }
        magnitude = magnitude.and_then(|m| m.checked_mul(10)?.checked_add(i64::from(d - b'0')));
    }
    match magnitude {
        None => Err(invalid()),
        Some(0) if negative => Err(invalid()),
        Some(ms) if negative => Err(LineProblem::NegativeTimestamp(-ms)),
        Some(ms) => Ok(ms),
    }
}

fn bad_name(line: &[u8], start: usize) -> LineProblem {
    let (name, _) = token(line, start);
    LineProblem::InvalidMetricName(excerpt(name))
}

fn malformed(what: &'static str) -> LineProblem {
    LineProblem::MalformedLabels(what)
}

/// Byte classes of the format, one table lookup per byte while scanning.
const NAME: u8 = 1;
const LABEL_NAME: u8 = 2;
const BLANK: u8 = 4;

static CLASSES: [u8; 256] = byte_classes();

/// Metric names are `[a-zA-Z0-9_:]`, label names `[a-zA-Z0-9_]`, blanks space and tab.
const fn byte_classes() -> [u8; 256] {
    let mut table = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        let byte = b as u8;
        if byte.is_ascii_alphanumeric() || byte == b'_' {
            table[b] = NAME | LABEL_NAME;
        }
        if byte == b':' {
            table[b] = NAME;
        }
        if byte == b' ' || byte == b'\t' {
            table[b] = BLANK;
        }
        b += 1;
    }
    table
}

fn in_class(b: u8, class: u8) -> bool {
    CLASSES[usize::from(b)] & class != 0
}

/// The index of the first byte from `start` on that is (`inside` true) or is not (false) of
/// `class`, or the line's length.
fn scan(line: &[u8], start: usize, class: u8, inside: bool) -> usize {
    let rest = line.get(start..).unwrap_or_default();
    let stop = rest.iter().position(|&b| in_class(b, class) != inside);
    start + stop.unwrap_or(rest.len())
}

fn scan_while(line: &[u8], start: usize, class: u8) -> usize {
    scan(line, start, class, true)
}

fn skip_blanks(line: &[u8], start: usize) -> usize {
    scan(line, start, BLANK, true)
}

/// The bytes from `start` up to the next blank or the end, and the index after them.
fn token(line: &[u8], start: usize) -> (&[u8], usize) {
    let end = scan(line, start, BLANK, false);
    (line.get(start..end).unwrap_or_default(), end)
}

#[cfg(test)]
mod tests;
