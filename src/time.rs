//! Wall-clock instants as Unix nanoseconds, with the RFC 3339 parsing and printing the
//! kubelet and the Kubernetes API use. Pure: no clock reads except [`Timestamp::now`].
//!
//! Parsing is jiff's; printing (two per served item) is our own fixed-width writer, measured
//! faster than going through `fmt`.

use std::fmt;

use jiff::fmt::temporal::DateTimeParser;

/// An instant as nanoseconds since the Unix epoch (UTC). Negative values are before 1970.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

/// Nanoseconds per second.
pub const NANOS_PER_SEC: i64 = 1_000_000_000;

impl Timestamp {
    /// The current wall-clock time.
    pub fn now() -> Self {
        let d = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Timestamp(i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
    }

    /// From Unix milliseconds (the Prometheus sample timestamp unit).
    pub fn from_millis(ms: i64) -> Self {
        Timestamp(ms.saturating_mul(1_000_000))
    }

    /// From whole Unix seconds.
    pub fn from_secs(s: i64) -> Self {
        Timestamp(s.saturating_mul(NANOS_PER_SEC))
    }

    /// Whole seconds since the epoch, rounded towards negative infinity.
    pub fn secs(self) -> i64 {
        self.0.div_euclid(NANOS_PER_SEC)
    }

    /// Nanoseconds from `earlier` to `self` (negative when `earlier` is later).
    pub fn nanos_since(self, earlier: Timestamp) -> i64 {
        self.0.saturating_sub(earlier.0)
    }

    /// Parses RFC 3339 (`2026-06-26T10:14:35Z`, `2026-06-26T10:14:35.123456789+02:00`) with
    /// jiff's parser, which also takes the other ISO 8601 forms it knows (`+0200`, a comma
    /// before the fraction, no seconds) and refuses impossible dates and more than nine
    /// fraction digits. An instant outside the `i64` nanosecond range (before 1677 or after
    /// 2262) is an error.
    pub fn parse_rfc3339(s: &str) -> Result<Self, TimeParseError> {
        static PARSER: DateTimeParser = DateTimeParser::new();
        let instant = PARSER.parse_timestamp(s).map_err(|_| TimeParseError)?;
        i64::try_from(instant.as_nanosecond())
            .map(Timestamp)
            .map_err(|_| TimeParseError)
    }

    /// Writes RFC 3339 in UTC with seconds precision, as `metav1.Time` does:
    /// `2022-03-13T04:47:04Z`.
    pub fn write_rfc3339_seconds(self, out: &mut String) {
        let fixed = self.rfc3339_fixed();
        match fixed
            .as_ref()
            .and_then(|text| std::str::from_utf8(text).ok())
        {
            Some(text) => out.push_str(text),
            None => self.write_rfc3339_any_year(out),
        }
    }

    /// [`Self::write_rfc3339_seconds`] into bytes.
    pub fn write_rfc3339_seconds_bytes(self, out: &mut Vec<u8>) {
        match self.rfc3339_fixed() {
            Some(text) => out.extend_from_slice(&text),
            None => {
                let mut text = String::new();
                self.write_rfc3339_any_year(&mut text);
                out.extend_from_slice(text.as_bytes());
            }
        }
    }

    /// The 20 bytes of RFC 3339 for years 0 to 9999, without going through `fmt`. List
    /// encoding writes two per pod, and nearly always the same two (the list's creation time,
    /// and the scrape time that a node's pods share), so the last two are remembered.
    fn rfc3339_fixed(self) -> Option<[u8; 20]> {
        thread_local! {
            static RECENT: std::cell::Cell<[(i64, [u8; 20]); 2]> =
                const { std::cell::Cell::new([(i64::MIN, [0; 20]); 2]) };
        }
        let secs = self.secs();
        let recent = RECENT.get();
        if let Some((_, text)) = recent.iter().find(|(s, _)| *s == secs) {
            return Some(*text);
        }
        let text = self.rfc3339_compute()?;
        RECENT.set([(secs, text), recent[0]]);
        Some(text)
    }

    fn rfc3339_compute(self) -> Option<[u8; 20]> {
        let (y, m, d, sod) = self.civil();
        if !(0..=9999).contains(&y) {
            return None;
        }
        let mut text = *b"0000-00-00T00:00:00Z";
        let mut put = |at: usize, width: usize, mut value: i64| {
            for i in (at..at + width).rev() {
                text[i] = b'0' + (value % 10) as u8;
                value /= 10;
            }
        };
        put(0, 4, y);
        put(5, 2, m);
        put(8, 2, d);
        put(11, 2, sod / 3600);
        put(14, 2, (sod / 60) % 60);
        put(17, 2, sod % 60);
        Some(text)
    }

    fn write_rfc3339_any_year(self, out: &mut String) {
        let (y, m, d, sod) = self.civil();
        use fmt::Write;
        let _ = write!(
            out,
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
            sod / 3600,
            (sod / 60) % 60,
            sod % 60
        );
    }

    /// Year, month, day and second of the day (UTC).
    fn civil(self) -> (i64, i64, i64, i64) {
        let secs = self.secs();
        let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
        (y, m, d, secs.rem_euclid(86_400))
    }

    /// RFC 3339, seconds precision, as an owned string.
    pub fn to_rfc3339_seconds(self) -> String {
        let mut s = String::with_capacity(20);
        self.write_rfc3339_seconds(&mut s);
        s
    }
}

/// The text was not an RFC 3339 timestamp.
#[derive(Copy, Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid RFC 3339 timestamp")]
pub struct TimeParseError;

/// Year, month and day of a day count since 1970-01-01, proleptic Gregorian (Howard
/// Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (
        if m <= 2 {
            yoe + era * 400 + 1
        } else {
            yoe + era * 400
        },
        m,
        d,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_utc_seconds() {
        let t = Timestamp::parse_rfc3339("2022-03-13T04:47:04Z").unwrap();
        assert_eq!(t.secs(), 1_647_146_824);
        assert_eq!(t.to_rfc3339_seconds(), "2022-03-13T04:47:04Z");
    }

    #[test]
    fn fraction_and_offset_are_honoured() {
        let t = Timestamp::parse_rfc3339("2021-10-03T11:18:32.5+02:00").unwrap();
        assert_eq!(t.0, 1_633_252_712 * NANOS_PER_SEC + 500_000_000);
        assert_eq!(t.to_rfc3339_seconds(), "2021-10-03T09:18:32Z");
    }

    #[test]
    fn printing_truncates_sub_second_and_handles_pre_epoch() {
        assert_eq!(
            Timestamp(999_999_999).to_rfc3339_seconds(),
            "1970-01-01T00:00:00Z"
        );
        assert_eq!(Timestamp(-1).to_rfc3339_seconds(), "1969-12-31T23:59:59Z");
        assert_eq!(
            Timestamp::from_secs(951_782_400).to_rfc3339_seconds(),
            "2000-02-29T00:00:00Z"
        );
    }

    #[test]
    fn the_fixed_width_printer_agrees_with_the_formatted_one_and_round_trips() {
        let mut rng = fastrand::Rng::with_seed(7);
        // Every second a Timestamp can hold (1677 to 2262), edges included.
        let (first, last) = (Timestamp(i64::MIN).secs() + 1, Timestamp(i64::MAX).secs());
        let edges = [0, -1, first, last, 951_782_400, 4_107_542_400];
        let random = (0..2_000).map(|_| rng.i64(first..=last));
        for secs in edges.into_iter().chain(random) {
            let ts = Timestamp::from_secs(secs);
            let mut formatted = String::new();
            ts.write_rfc3339_any_year(&mut formatted);
            let mut bytes = Vec::new();
            ts.write_rfc3339_seconds_bytes(&mut bytes);
            assert_eq!(bytes, formatted.as_bytes(), "{secs}");
            assert_eq!(ts.to_rfc3339_seconds(), formatted, "{secs}");
            let parsed = Timestamp::parse_rfc3339(&formatted).map(Timestamp::secs);
            assert_eq!(parsed, Ok(secs), "{formatted}");
        }
    }

    #[test]
    fn rejects_garbage() {
        for s in [
            "",
            "2022-13-01T00:00:00Z",
            "2022-03-13 04:47:04",
            "2022-03-13T04:47:04.Z",
            "x",
            "2022-02-30T00:00:00Z",
            "2022-03-13T24:00:00Z",
            "2022-03-13T04:47:04.1234567891Z",
            "0001-01-01T00:00:00Z",
            "2263-01-01T00:00:00Z",
        ] {
            assert!(Timestamp::parse_rfc3339(s).is_err(), "{s}");
        }
    }

    #[test]
    fn parses_what_go_writes() {
        let t = |s: &str| Timestamp::parse_rfc3339(s).map(|t| t.0);
        let base = 1_647_146_824 * NANOS_PER_SEC;
        assert_eq!(t("2022-03-13T04:47:04Z"), Ok(base));
        assert_eq!(t("2022-03-13t04:47:04z"), Ok(base));
        assert_eq!(t("2022-03-13 04:47:04Z"), Ok(base));
        assert_eq!(t("2022-03-13T04:47:04.000000001Z"), Ok(base + 1));
        assert_eq!(t("2022-03-13T04:47:04.123456789Z"), Ok(base + 123_456_789));
        assert_eq!(t("2022-03-13T05:47:04.5+01:00"), Ok(base + 500_000_000));
        assert_eq!(t("2022-03-13T04:17:04-00:30"), Ok(base));
        assert_eq!(t("1969-12-31T23:59:59Z"), Ok(-NANOS_PER_SEC));
        assert_eq!(
            t("1677-09-21T00:12:44Z"),
            Ok((Timestamp(i64::MIN).secs() + 1) * NANOS_PER_SEC)
        );
    }
}
