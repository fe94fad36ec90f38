//! Bodies made comparable: times, windows and resource versions masked (each server stamps
//! its own), containers in name order (upstream's is random), list items and Table rows keyed
//! by object, items of pods whose containers crash-loop left out (each server sees their
//! restarts at other moments), and usage compared within a tolerance.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

/// Fields each server fills with its own clock.
const MASKED: [&str; 4] = [
    "creationTimestamp",
    "timestamp",
    "window",
    "resourceVersion",
];
/// What a masked value becomes.
const MASK: &str = "<masked>";
/// Largest relative difference of two usage values taken as equal. The simulated usage is
/// constant per container, so both servers' rates differ only by rounding and timing.
pub const USAGE_TOLERANCE: f64 = 0.05;

/// What normalization leaves out.
pub struct Unstable {
    /// `namespace/name` of pods with a crash-looping container.
    pub pods: BTreeSet<String>,
}

/// `value` masked, sorted and keyed.
pub fn normalize(value: &Value, unstable: &Unstable) -> Value {
    match value {
        Value::Object(object) => Value::Object(object_normalized(object, unstable)),
        Value::Array(items) => Value::Array(items.iter().map(|v| normalize(v, unstable)).collect()),
        other => other.clone(),
    }
}

fn object_normalized(object: &Map<String, Value>, unstable: &Unstable) -> Map<String, Value> {
    let mut out = Map::new();
    for (key, value) in object {
        let value = match (key.as_str(), value) {
            (k, Value::String(_)) if MASKED.contains(&k) => Value::String(MASK.into()),
            ("containers", Value::Array(items)) => sorted_by_name(items, unstable),
            ("items", Value::Array(items)) => keyed(items, unstable, item_key),
            ("rows", Value::Array(rows)) => keyed(rows, unstable, row_key),
            ("cells", Value::Array(cells)) => masked_window_cell(cells),
            _ => normalize(value, unstable),
        };
        out.insert(key.clone(), value);
    }
    out
}

fn sorted_by_name(items: &[Value], unstable: &Unstable) -> Value {
    let mut items: Vec<Value> = items.iter().map(|v| normalize(v, unstable)).collect();
    items.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
    Value::Array(items)
}

/// A list's items (or a Table's rows) as an object keyed by `namespace/name`, without the
/// unstable pods; items without a name keep their index.
fn keyed(items: &[Value], unstable: &Unstable, key: fn(&Value) -> Option<String>) -> Value {
    let mut out = Map::new();
    for (i, item) in items.iter().enumerate() {
        let key = key(item).unwrap_or_else(|| format!("#{i}"));
        if unstable.pods.contains(&key) {
            continue;
        }
        out.insert(key, normalize(item, unstable));
    }
    Value::Object(out)
}

fn item_key(item: &Value) -> Option<String> {
    let meta = item.get("metadata")?;
    let name = meta.get("name")?.as_str()?;
    Some(match meta.get("namespace").and_then(Value::as_str) {
        Some(ns) => format!("{ns}/{name}"),
        None => name.to_owned(),
    })
}

/// A row by its object's name (with the namespace), else by its first cell.
fn row_key(row: &Value) -> Option<String> {
    row.get("object")
        .and_then(item_key)
        .or_else(|| Some(row.get("cells")?.get(0)?.as_str()?.to_owned()))
}

/// Table cells `[name, cpu, memory, window]`: the window is masked.
fn masked_window_cell(cells: &[Value]) -> Value {
    let mut cells = cells.to_vec();
    if let Some(window) = cells.get_mut(3).filter(|c| c.is_string()) {
        *window = Value::String(MASK.into());
    }
    Value::Array(cells)
}

/// The order of the list items' keys as sent, unstable pods left out.
pub fn item_order(value: &Value, unstable: &Unstable) -> Vec<String> {
    value
        .get("items")
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(item_key)
                .filter(|k| !unstable.pods.contains(k))
                .collect()
        })
        .unwrap_or_default()
}

/// Whether `path` (as [`super::compare`] writes it) holds a usage value.
pub fn is_usage(path: &str) -> bool {
    path.ends_with(".usage.cpu")
        || path.ends_with(".usage.memory")
        || path.ends_with(".cells[1]")
        || path.ends_with(".cells[2]")
}

/// Whether two quantities are within [`USAGE_TOLERANCE`] of each other.
pub fn usage_close(ours: &str, theirs: &str) -> bool {
    match (quantity(ours), quantity(theirs)) {
        (Some(a), Some(b)) if a == b => true,
        (Some(a), Some(b)) => (a - b).abs() / a.abs().max(b.abs()) <= USAGE_TOLERANCE,
        _ => false,
    }
}

/// A Kubernetes quantity's value (`"67330954n"`, `"5m"`, `"12240Ki"`, `"1k"`, `"2"`).
pub fn quantity(text: &str) -> Option<f64> {
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, suffix) = text.split_at(split);
    let scale = match suffix {
        "" => 1.0,
        "n" => 1e-9,
        "u" => 1e-6,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "Ki" => 1024.0,
        "Mi" => 1024.0 * 1024.0,
        "Gi" => 1024.0 * 1024.0 * 1024.0,
        _ => return None,
    };
    Some(number.parse::<f64>().ok()? * scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_compare_within_the_tolerance() {
        assert_eq!(quantity("5m"), Some(0.005));
        assert_eq!(quantity("12240Ki"), Some(12240.0 * 1024.0));
        assert!(usage_close("2045m", "2044999999n"));
        assert!(!usage_close("2045m", "1900m"));
        assert!(!usage_close("2045m", "lots"));
    }
}
