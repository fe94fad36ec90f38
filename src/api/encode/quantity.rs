//! apimachinery-canonical `resource.Quantity` strings for CPU and memory (upstream spec §2.4,
//! fact 2 of §9).
//!
//! Upstream builds CPU as `NewScaledQuantity(nanocores, -9)` in DecimalSI and memory as
//! `NewScaledQuantity(bytes, 0)` in BinarySI; values above `i64::MAX` first lose one decimal
//! digit (`uint64Quantity`). `Quantity.String()` then canonicalises:
//!
//! * DecimalSI: move every factor of 10 into the exponent, then lower the exponent to a multiple
//!   of 3 (`67330954n`, `5m`, `2500u`, `1`, `1k`).
//! * BinarySI: below 1024 it prints as DecimalSI (`1000` bytes → `1k`); otherwise factors of
//!   1024 move into the exponent (`12240Ki`, `5Mi`) and a non-multiple stays plain (`1536`).
//!
//! The canonical text depends only on the exact value, so sums (Table cells add container
//! quantities with `Quantity.Add`, which is exact) are formatted from a `u128` total of the
//! per-container values returned by [`cpu_value`] / [`memory_value`].

/// DecimalSI suffixes from 10^-9 to 10^18, indexed by `(exponent + 9) / 3`.
const DECIMAL_SUFFIXES: [&str; 10] = ["n", "u", "m", "", "k", "M", "G", "T", "P", "E"];

/// BinarySI suffixes from 2^0 to 2^60, indexed by `exponent / 10`.
const BINARY_SUFFIXES: [&str; 7] = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"];

/// The exact value upstream's CPU quantity holds, in nanocores (one digit lost above
/// `i64::MAX`, like `uint64Quantity`). Sum these for pod totals.
pub fn cpu_value(nanocores: u64) -> u128 {
    u128::from(drop_digit_above_i64(nanocores))
}

/// The exact value upstream's memory quantity holds, in bytes (one digit lost above
/// `i64::MAX`). Sum these for pod totals.
pub fn memory_value(bytes: u64) -> u128 {
    u128::from(drop_digit_above_i64(bytes))
}

fn drop_digit_above_i64(v: u64) -> u64 {
    if v > i64::MAX as u64 { v / 10 * 10 } else { v }
}

/// Appends the canonical CPU quantity for `nanocores` (`67330954n`, `5m`, `1`).
pub fn write_cpu(out: &mut Vec<u8>, nanocores: u64) {
    write_cpu_total(out, cpu_value(nanocores));
}

/// Appends the canonical CPU quantity for an exact total in nanocores (see [`cpu_value`]).
pub fn write_cpu_total(out: &mut Vec<u8>, total_nanocores: u128) {
    let (mantissa, suffix) = decimal_si(total_nanocores, -9);
    out.extend_from_slice(itoa::Buffer::new().format(mantissa).as_bytes());
    out.extend_from_slice(suffix.as_bytes());
}

/// Appends the canonical memory quantity for `bytes` (`12240Ki`, `1536`, `1k`).
pub fn write_memory(out: &mut Vec<u8>, bytes: u64) {
    write_memory_total(out, memory_value(bytes));
}

/// Appends the canonical memory quantity for an exact total in bytes (see [`memory_value`]).
pub fn write_memory_total(out: &mut Vec<u8>, total_bytes: u128) {
    let (mantissa, suffix) = binary_si(total_bytes);
    out.extend_from_slice(itoa::Buffer::new().format(mantissa).as_bytes());
    out.extend_from_slice(suffix.as_bytes());
}

/// Appends the canonical CPU quantity to a `String`.
pub fn push_cpu(out: &mut String, nanocores: u64) {
    let (mantissa, suffix) = decimal_si(cpu_value(nanocores), -9);
    out.push_str(itoa::Buffer::new().format(mantissa));
    out.push_str(suffix);
}

/// Appends the canonical memory quantity to a `String`.
pub fn push_memory(out: &mut String, bytes: u64) {
    let (mantissa, suffix) = binary_si(memory_value(bytes));
    out.push_str(itoa::Buffer::new().format(mantissa));
    out.push_str(suffix);
}

/// The canonical CPU quantity as an owned string.
pub fn format_cpu(nanocores: u64) -> String {
    let mut s = String::with_capacity(24);
    push_cpu(&mut s, nanocores);
    s
}

/// The canonical memory quantity as an owned string.
pub fn format_memory(bytes: u64) -> String {
    let mut s = String::with_capacity(24);
    push_memory(&mut s, bytes);
    s
}

/// `int64Amount.AsCanonicalBytes` + the DecimalSI suffix for `mantissa × 10^exponent`.
fn decimal_si(mantissa: u128, exponent: i32) -> (u128, &'static str) {
    if mantissa == 0 {
        return (0, "");
    }
    let (mut m, mut e) = (mantissa, exponent);
    while m >= 10 && m % 10 == 0 {
        m /= 10;
        e += 1;
    }
    while e.rem_euclid(3) != 0 {
        m *= 10;
        e -= 1;
    }
    let suffix = usize::try_from((e + 9) / 3)
        .ok()
        .and_then(|i| DECIMAL_SUFFIXES.get(i).copied());
    // Upstream prints no suffix when none exists; unreachable for real usage values.
    (m, suffix.unwrap_or(""))
}

/// `Quantity.CanonicalizeBytes` for a non-negative BinarySI integer value.
fn binary_si(value: u128) -> (u128, &'static str) {
    if value < 1024 {
        return decimal_si(value, 0);
    }
    let (mut m, mut k) = (value, 0usize);
    while m >= 1024 && m % 1024 == 0 {
        m /= 1024;
        k += 1;
    }
    (m, BINARY_SUFFIXES.get(k).copied().unwrap_or(""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_matches_upstream_canonical_form() {
        let cases: &[(u64, &str)] = &[
            (0, "0"),
            (1, "1n"),
            (10, "10n"),
            (1_000, "1u"),
            (67_330_954, "67330954n"),
            (5_000_000, "5m"),
            (2_500_000, "2500u"),
            (10_000_000, "10m"),
            (1_000_000_000, "1"),
            (1_500_000_000, "1500m"),
            (2_000_000_000, "2"),
            (10_000_000_000, "10"),
            (1_000_000_000_000, "1k"),
            (123_456_789, "123456789n"),
            (120_000, "120u"),
        ];
        for &(n, want) in cases {
            assert_eq!(format_cpu(n), want, "nanocores {n}");
        }
    }

    #[test]
    fn cpu_above_i64_max_loses_one_digit() {
        // uint64Quantity: NewScaledQuantity(val/10, -8).
        assert_eq!(format_cpu(u64::MAX), "18446744073709551610n");
        assert_eq!(
            format_cpu(9_223_372_036_854_775_808),
            "9223372036854775800n"
        );
        assert_eq!(format_cpu(10_000_000_000_000_000_009), "10G");
    }

    #[test]
    fn memory_matches_upstream_canonical_form() {
        let cases: &[(u64, &str)] = &[
            (0, "0"),
            (1, "1"),
            (100, "100"),
            (512, "512"),
            (1_000, "1k"),
            (1_023, "1023"),
            (1_024, "1Ki"),
            (1_536, "1536"),
            (2_000, "2000"),
            (1_000_000, "1000000"),
            (12_533_760, "12240Ki"),
            (5_242_880, "5Mi"),
            (1_446_908 * 1024, "1446908Ki"),
            (1 << 30, "1Gi"),
            (3 << 40, "3Ti"),
            (1 << 60, "1Ei"),
        ];
        for &(b, want) in cases {
            assert_eq!(format_memory(b), want, "bytes {b}");
        }
    }

    #[test]
    fn memory_above_i64_max_loses_one_digit() {
        assert_eq!(format_memory(u64::MAX), "18446744073709551610");
    }

    #[test]
    fn sums_are_formatted_from_the_exact_total() {
        let mut out = Vec::new();
        write_cpu_total(&mut out, cpu_value(2_345_678) + cpu_value(345_678));
        out.push(b' ');
        write_memory_total(
            &mut out,
            memory_value(45_678 * 1024) + memory_value(12_345 * 1024),
        );
        assert_eq!(out, b"2691356n 58023Ki");
    }
}
