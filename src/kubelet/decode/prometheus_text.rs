//! One line of the Prometheus text exposition format 0.0.4, the format of the kubelet's
//! `/metrics/resource` (spec §3.3). Upstream uses Prometheus' `textparse`; this is a
//! byte-level reader for the same grammar that borrows everything from the line:
//!
//! ```text
//! metric_name [ "{" label="value" { "," label="value" } [ "," ] "}" ] value [ timestamp_ms ]
//! ```
//!
//! Every line is checked for syntax (any malformed line fails the node, as upstream), but only
//! the series the decoder uses are read ([`read_sample`]: the `container`, `namespace` and
//! `pod` values kept, still escaped, the value and the timestamp); the others are only checked
//! ([`check_sample`]). A family's lines share their name, which is compared with the previous
//! line's instead of validated again, and values and timestamps are read in the pass that
//! finds their end.

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
#[cfg(test)]
pub(super) fn parse_line(line: &[u8]) -> Result<Option<SampleLine<'_>>, LineProblem> {
    match LineReader::default().name(line)? {
        None => Ok(None),
        Some(named) => read_sample(line, named).map(Some),
    }
}

/// Reads the metric names of a payload's lines, remembering the last one: a family's lines
/// share their name, so a line that starts with the previous name (and no other name byte
/// after it) is not validated byte by byte again.
#[derive(Default)]
pub(super) struct LineReader<'a> {
    last_name: &'a [u8],
}

/// A sample line's metric name, read and validated.
#[derive(Copy, Clone, Debug)]
pub(super) struct Named<'a> {
    pub name: &'a [u8],
    /// The name is the previous sample line's.
    pub repeated: bool,
    /// Index just after the name.
    end: usize,
}

impl<'a> LineReader<'a> {
    /// The metric name of a line; `Ok(None)` for blank lines and `#` comments.
    pub fn name(&mut self, line: &'a [u8]) -> Result<Option<Named<'a>>, LineProblem> {
        let start = skip_blanks(line, 0);
        match line.get(start) {
            None | Some(b'#') => return Ok(None),
            Some(_) => {}
        }
        let known = self.last_name;
        let repeated = !known.is_empty()
            && line[start..].starts_with(known)
            && !line
                .get(start + known.len())
                .is_some_and(|&b| in_class(b, NAME));
        let end = if repeated {
            start + known.len()
        } else {
            scan_while(line, start, NAME)
        };
        let name = &line[start..end];
        if name.is_empty() || name[0].is_ascii_digit() {
            return Err(bad_name(line, start));
        }
        match line.get(end) {
            Some(b'{' | b' ' | b'\t') | None => {}
            Some(_) => return Err(bad_name(line, start)),
        }
        self.last_name = name;
        Ok(Some(Named {
            name,
            repeated,
            end,
        }))
    }
}

/// Reads the rest of a sample line after its name: labels, value, timestamp.
pub(super) fn read_sample<'a>(
    line: &'a [u8],
    named: Named<'a>,
) -> Result<SampleLine<'a>, LineProblem> {
    let mut labels = PodLabels::default();
    let mut at = named.end;
    if line.get(at) == Some(&b'{') {
        at = read_labels(line, at + 1, |name, value| match name {
            b"container" => labels.container = Some(value),
            b"namespace" => labels.namespace = Some(value),
            b"pod" => labels.pod = Some(value),
            _ => {}
        })?;
    }
    let (value_text, value, at) = read_value(line, at)?;
    let (timestamp_ms, at) = read_timestamp(line, at)?;
    expect_end(line, at)?;
    Ok(SampleLine {
        name: named.name,
        labels,
        value,
        value_text,
        timestamp_ms,
    })
}

/// Checks the rest of a sample line after its name as [`read_sample`] reads it, keeping
/// nothing: the same grammar and the same errors, so a malformed line of a series the
/// decoder does not use still fails the node, as upstream's parser does.
pub(super) fn check_sample(line: &[u8], named: Named<'_>) -> Result<(), LineProblem> {
    let mut at = named.end;
    if line.get(at) == Some(&b'{') {
        at = read_labels(line, at + 1, |_, _| {})?;
    }
    let (_, _, at) = read_value(line, at)?;
    let (_, at) = read_timestamp(line, at)?;
    expect_end(line, at)
}

/// Reads the sample value after `at`: its text, its value and the index after it.
fn read_value(line: &[u8], at: usize) -> Result<(&[u8], f64, usize), LineProblem> {
    let start = skip_blanks(line, at);
    if let Some((value, len)) = plain_decimal_prefix(&line[start..]) {
        return Ok((&line[start..start + len], value, start + len));
    }
    let (text, end) = token(line, start);
    if text.is_empty() {
        return Err(LineProblem::MissingValue);
    }
    // Not a plain decimal (already tried above): NaN, ±Inf, signs, more than 15 digits.
    let general = std::str::from_utf8(text).ok().and_then(|t| t.parse().ok());
    let value = general.ok_or_else(|| LineProblem::InvalidValue(excerpt(text)))?;
    Ok((text, value, end))
}

/// Most digits read without checking for overflow: 10^18 - 1 fits an `i64`.
const SAFE_TIMESTAMP_DIGITS: usize = 18;

/// Reads the optional timestamp after `at` and returns it with the index after it.
fn read_timestamp(line: &[u8], at: usize) -> Result<(Option<i64>, usize), LineProblem> {
    let start = skip_blanks(line, at);
    let (mut ms, mut end) = (0i64, start);
    while let Some(&d) = line.get(end)
        && d.is_ascii_digit()
        && end - start < SAFE_TIMESTAMP_DIGITS
    {
        ms = ms * 10 + i64::from(d - b'0');
        end += 1;
    }
    let ends_token = line.get(end).is_none_or(|&b| in_class(b, BLANK));
    if end > start && ends_token {
        return Ok((Some(ms), end));
    }
    match token(line, start) {
        ([], end) => Ok((None, end)),
        (text, end) => Ok((Some(parse_timestamp(text)?), end)),
    }
}

/// Only blanks may follow the sample.
fn expect_end(line: &[u8], at: usize) -> Result<(), LineProblem> {
    let rest = skip_blanks(line, at);
    if rest < line.len() {
        return Err(LineProblem::TrailingText(excerpt(&line[rest..])));
    }
    Ok(())
}

/// Reads `label="value", …}` from just after the `{`, handing each label to `keep`; returns
/// the index after the `}`.
fn read_labels<'a>(
    line: &'a [u8],
    mut at: usize,
    mut keep: impl FnMut(&'a [u8], RawValue<'a>),
) -> Result<usize, LineProblem> {
    loop {
        at = skip_blanks(line, at);
        match line.get(at) {
            None => return Err(LineProblem::UnterminatedLabels),
            Some(b'}') => return Ok(at + 1),
            Some(c) if c.is_ascii_digit() => return Err(malformed("expected a label name")),
            Some(_) => {}
        }
        let name_end =
            known_label_end(line, at).unwrap_or_else(|| scan_while(line, at, LABEL_NAME));
        if name_end == at {
            return Err(malformed("expected a label name"));
        }
        let name = &line[at..name_end];
        at = skip_blanks(line, name_end);
        expect(line, at, b'=', "expected '=' after a label name")?;
        at = skip_blanks(line, at + 1);
        expect(line, at, b'"', "expected a quoted label value")?;
        let (value, end) = scan_quoted(line, at + 1)?;
        keep(name, value);
        at = skip_blanks(line, end);
        match line.get(at) {
            Some(b',') => at += 1,
            Some(b'}') => return Ok(at + 1),
            None => return Err(LineProblem::UnterminatedLabels),
            Some(_) => return Err(malformed("expected ',' or '}' after a label value")),
        }
    }
}

/// The end of a label name a kubelet prints (`container`, `namespace`, `pod`) when `=`
/// follows it, found without scanning its bytes; `None` for any other.
fn known_label_end(line: &[u8], at: usize) -> Option<usize> {
    let rest = line.get(at..)?;
    let len = if rest.starts_with(b"container=") || rest.starts_with(b"namespace=") {
        9
    } else if rest.starts_with(b"pod=") {
        3
    } else {
        return None;
    };
    Some(at + len)
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
/// (`4.710169`, `1.253376e+07`, `0`, `NaN`, `+Inf`); what [`read_value`] accepts.
#[cfg(test)]
fn parse_float(text: &[u8]) -> Option<f64> {
    plain_decimal(text).or_else(|| std::str::from_utf8(text).ok()?.parse().ok())
}

/// 10^0 … 10^22: the powers of ten an `f64` holds exactly.
const EXACT_POWERS_OF_TEN: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// The whole text read by [`plain_decimal_prefix`].
#[cfg(test)]
fn plain_decimal(text: &[u8]) -> Option<f64> {
    plain_decimal_prefix(text)
        .filter(|&(_, len)| len == text.len())
        .map(|(value, _)| value)
}

/// The forms a kubelet prints (`4.710169`, `1.253376e+07`, `12`) without the general parser,
/// up to the first blank (or the end), read in the pass that finds that blank: the value and
/// the length read. Unsigned digits with at most one `.`, an optional exponent, the digits
/// below 2^53 and the power of ten within ±22. Both factors are then exact `f64`s, so one
/// correctly rounded multiplication or division gives the correctly rounded value, as the
/// general parser does (Clinger's fast path). `None` leaves everything else to the general
/// parser.
fn plain_decimal_prefix(text: &[u8]) -> Option<(f64, usize)> {
    let (mut digits, mut mantissa) = (0u32, 0u64);
    let mut at = read_digits(text, 0, &mut digits, &mut mantissa)?;
    let mut exponent = 0i32;
    if text.get(at) == Some(&b'.') {
        let fraction = at + 1;
        at = read_digits(text, fraction, &mut digits, &mut mantissa)?;
        exponent = -i32::try_from(at - fraction).ok()?;
    }
    let exponent_follows = match text.get(at) {
        None | Some(b' ' | b'\t') => false,
        Some(b'e' | b'E') => true,
        Some(_) => return None,
    };
    if digits == 0 {
        return None;
    }
    if exponent_follows {
        let (written, len) = small_exponent_prefix(&text[at + 1..])?;
        exponent += written;
        at += 1 + len;
    }
    let power = EXACT_POWERS_OF_TEN.get(usize::try_from(exponent.unsigned_abs()).ok()?)?;
    let mantissa = mantissa as f64; // exact: 15 digits are below 2^53
    let value = if exponent < 0 {
        mantissa / power
    } else {
        mantissa * power
    };
    Some((value, at))
}

/// Adds the digits from `at` on to `mantissa`, counting them in `digits`; the index of the
/// first other byte. `None` past 15 digits (the fast path's limit).
fn read_digits(text: &[u8], mut at: usize, digits: &mut u32, mantissa: &mut u64) -> Option<usize> {
    while let Some(&b) = text.get(at)
        && b.is_ascii_digit()
    {
        if *digits == 15 {
            return None;
        }
        *mantissa = *mantissa * 10 + u64::from(b - b'0');
        *digits += 1;
        at += 1;
    }
    Some(at)
}

/// An exponent of one to three digits after an optional sign, up to the first blank (or the
/// end): the value and the length read.
fn small_exponent_prefix(written: &[u8]) -> Option<(i32, usize)> {
    let (negative, sign_len) = match written.first() {
        Some(b'-') => (true, 1),
        Some(b'+') => (false, 1),
        _ => (false, 0),
    };
    let (mut value, mut at) = (0i32, sign_len);
    while let Some(&d) = written.get(at) {
        match d {
            b'0'..=b'9' if at - sign_len < 3 => value = value * 10 + i32::from(d - b'0'),
            b' ' | b'\t' => break,
            _ => return None,
        }
        at += 1;
    }
    if at == sign_len {
        return None;
    }
    Some((if negative { -value } else { value }, at))
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
    match line.get(start) {
        Some(b' ' | b'\t') => scan(line, start + 1, BLANK, true),
        _ => start,
    }
}

/// The bytes from `start` up to the next blank or the end, and the index after them.
fn token(line: &[u8], start: usize) -> (&[u8], usize) {
    let end = scan(line, start, BLANK, false);
    (line.get(start..end).unwrap_or_default(), end)
}

#[cfg(test)]
mod tests;
