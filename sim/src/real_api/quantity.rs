//! Kubernetes quantities as the node agent reads them from pod specs and usage annotations:
//! a decimal number with an optional suffix (`n u m k M G T P E`, `Ki Mi Gi Ti Pi Ei`, or an
//! exponent `e3`), converted to millicores (CPU, rounded up like the API does) or bytes.

/// A quantity that cannot be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid quantity {text:?}: {reason}")]
pub struct QuantityError {
    pub text: String,
    pub reason: &'static str,
}

/// The largest value accepted (in the unit asked for): far above any real node.
const MAX_VALUE: f64 = 1e18;

/// CPU in millicores (`"150m"` → 150, `"1.5"` → 1500, `"1n"` → 1).
pub fn parse_millicores(text: &str) -> Result<u64, QuantityError> {
    parse_scaled(text, 1000.0)
}

/// Memory in bytes (`"64Mi"` → 67108864, `"1k"` → 1000).
pub fn parse_bytes(text: &str) -> Result<u64, QuantityError> {
    parse_scaled(text, 1.0)
}

fn parse_scaled(text: &str, unit: f64) -> Result<u64, QuantityError> {
    let err = |reason| QuantityError {
        text: text.to_owned(),
        reason,
    };
    let trimmed = text.trim();
    if trimmed.is_empty() || trimmed.len() > 64 {
        return Err(err(
            "expected a number with an optional suffix, like 150m or 64Mi",
        ));
    }
    let split = trimmed
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+'))
        .unwrap_or(trimmed.len());
    let (number, suffix) = trimmed.split_at(split);
    let value: f64 = number.parse().map_err(|_| err("not a decimal number"))?;
    let scale = suffix_scale(suffix).ok_or_else(|| err("unknown suffix"))?;
    let scaled = (value * scale * unit).ceil();
    if !scaled.is_finite() || !(0.0..=MAX_VALUE).contains(&scaled) {
        return Err(err("out of range"));
    }
    Ok(scaled as u64)
}

fn suffix_scale(suffix: &str) -> Option<f64> {
    Some(match suffix {
        "" => 1.0,
        "n" => 1e-9,
        "u" => 1e-6,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "Ki" => 1024.0,
        "Mi" => 1024.0 * 1024.0,
        "Gi" => 1024.0 * 1024.0 * 1024.0,
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        exp => {
            let digits = exp.strip_prefix(['e', 'E'])?;
            let power: i32 = digits.parse().ok().filter(|p: &i32| p.abs() <= 18)?;
            10f64.powi(power)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_quantities_become_millicores() {
        assert_eq!(parse_millicores("150m"), Ok(150));
        assert_eq!(parse_millicores("1.5"), Ok(1500));
        assert_eq!(parse_millicores("2"), Ok(2000));
        assert_eq!(parse_millicores("1n"), Ok(1), "rounded up like the API");
        assert_eq!(parse_millicores("1e3"), Ok(1_000_000));
    }

    #[test]
    fn memory_quantities_become_bytes() {
        assert_eq!(parse_bytes("64Mi"), Ok(64 << 20));
        assert_eq!(parse_bytes("1Gi"), Ok(1 << 30));
        assert_eq!(parse_bytes("1k"), Ok(1000));
        assert_eq!(parse_bytes("12345"), Ok(12345));
    }

    #[test]
    fn bad_quantities_say_why() {
        assert_eq!(
            parse_bytes("").unwrap_err().reason,
            "expected a number with an optional suffix, like 150m or 64Mi"
        );
        assert_eq!(parse_bytes("12Xi").unwrap_err().reason, "unknown suffix");
        assert_eq!(
            parse_bytes("-5").unwrap_err().reason,
            "not a decimal number"
        );
        assert_eq!(parse_bytes("9E").unwrap_err().reason, "out of range");
        assert!(parse_millicores("abc").is_err());
    }
}
