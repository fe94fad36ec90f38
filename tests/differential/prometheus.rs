//! `/metrics` compared by the families both servers expose: upstream's `metrics_server_*`
//! must all be ours too, with the same type, help and label names (values are each
//! server's own).

use std::collections::{BTreeMap, BTreeSet};

use super::client::Answer;
use super::compare::Difference;

/// The families compared: upstream's own (the rest are Go runtime and apiserver internals).
const PREFIX: &str = "metrics_server_";

#[derive(Debug, Default, PartialEq, Eq)]
struct Family {
    kind: String,
    help: String,
    labels: BTreeSet<String>,
}

pub fn families(ours: &Answer, theirs: &Answer, diffs: &mut Vec<Difference>) {
    let (a, b) = (parse(&ours.body), parse(&theirs.body));
    for (name, theirs) in &b {
        let Some(ours) = a.get(name) else {
            diffs.push(Difference::new(
                format!("family {name}"),
                "(absent)",
                &theirs.kind,
            ));
            continue;
        };
        for (what, x, y) in [
            ("type", &ours.kind, &theirs.kind),
            ("help", &ours.help, &theirs.help),
        ] {
            if x != y {
                diffs.push(Difference::new(format!("family {name} {what}"), x, y));
            }
        }
        if ours.labels != theirs.labels {
            diffs.push(Difference::new(
                format!("family {name} labels"),
                format!("{:?}", ours.labels),
                format!("{:?}", theirs.labels),
            ));
        }
    }
}

/// The `metrics_server_*` families of a text exposition.
fn parse(body: &[u8]) -> BTreeMap<String, Family> {
    let text = String::from_utf8_lossy(body);
    let mut families: BTreeMap<String, Family> = BTreeMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').unwrap_or((rest, ""));
            if let Some(f) = family(&mut families, name) {
                f.help = help.to_owned();
            }
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or((rest, ""));
            if let Some(f) = family(&mut families, name) {
                f.kind = kind.to_owned();
            }
        } else if !line.starts_with('#') {
            sample(&mut families, line);
        }
    }
    families
}

fn family<'a>(families: &'a mut BTreeMap<String, Family>, name: &str) -> Option<&'a mut Family> {
    name.starts_with(PREFIX)
        .then(|| families.entry(name.to_owned()).or_default())
}

/// Adds a sample's label names to its family (`_bucket`, `_sum`, `_count` belong to theirs).
fn sample(families: &mut BTreeMap<String, Family>, line: &str) {
    let name_end = line.find(['{', ' ']).unwrap_or(line.len());
    let name = &line[..name_end];
    let base = ["_bucket", "_sum", "_count", "_total"]
        .iter()
        .find_map(|s| name.strip_suffix(s).filter(|b| families.contains_key(*b)))
        .unwrap_or(name);
    let Some(family) = families.get_mut(base) else {
        return;
    };
    let Some(labels) = line[name_end..]
        .strip_prefix('{')
        .and_then(|l| l.split_once('}'))
    else {
        return;
    };
    for pair in labels.0.split(',').filter(|p| !p.is_empty()) {
        if let Some((label, _)) = pair.split_once('=')
            && label != "le"
        {
            family.labels.insert(label.to_owned());
        }
    }
}
