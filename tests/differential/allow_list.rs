//! The differences from upstream v0.9.0 this server keeps on purpose, each justified by a row
//! of the README's "Differences from upstream" table (named by its first cell). The test
//! fails on any difference not listed here, and on an entry no request needed (unless the
//! difference depends on timing). Keep it short: a difference that is not a decision is a bug.

/// One kept difference: in which requests, which field, and why.
pub struct Allowed {
    /// Case ids (see `cases.rs`); a trailing `*` matches every id with that prefix.
    pub cases: &'static [&'static str],
    /// The field as the comparison names it; a trailing `*` matches every field with that
    /// prefix.
    pub field: &'static str,
    /// The first cell of the README row that justifies it.
    pub readme_row: &'static str,
    /// Whether a run may not see it (it depends on timing or on upstream's random order).
    pub sometimes: bool,
}

impl Allowed {
    pub fn covers(&self, case: &str, field: &str) -> bool {
        self.cases.iter().any(|c| matches(c, case)) && matches(self.field, field)
    }
}

fn matches(pattern: &str, text: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => text.starts_with(prefix),
        None => pattern == text,
    }
}

/// README rows named below.
pub const API_VERSIONS: &str = "API versions";
pub const NODE_NAME_SELECTOR: &str = "`fieldSelector=spec.nodeName=`";
pub const NOT_FOUND_REASON: &str = "404 for an object without metrics";
pub const COMPACT_PROTOBUF: &str = "Protobuf encoding";
pub const SELF_METRICS: &str = "Self-metrics (`/metrics`)";

pub const ALLOWED: &[Allowed] = &[
    Allowed {
        cases: &["v1 *"],
        field: "*",
        readme_row: API_VERSIONS,
        sometimes: false,
    },
    Allowed {
        cases: &[
            "/apis",
            "/apis as YAML",
            "group",
            "/apis aggregated *",
            "/",
            "/api",
            "unknown path",
            "*/no-such-check",
        ],
        field: "body.*",
        readme_row: API_VERSIONS,
        sometimes: false,
    },
    Allowed {
        cases: &["field selector spec.nodeName"],
        field: "*",
        readme_row: NODE_NAME_SELECTOR,
        sometimes: false,
    },
    Allowed {
        cases: &["completed pod"],
        field: "body.message",
        readme_row: NOT_FOUND_REASON,
        sometimes: false,
    },
    Allowed {
        cases: &["*"],
        field: "protobuf bytes",
        readme_row: COMPACT_PROTOBUF,
        sometimes: false,
    },
    Allowed {
        cases: &["/metrics"],
        field: "*",
        readme_row: SELF_METRICS,
        sometimes: false,
    },
];

/// What is normalized before comparing (not differences: each server's own clock, and
/// orders or timings that are not behaviour), with the README row where one applies.
pub const NORMALIZED: &[(&str, &str)] = &[
    (
        "creationTimestamp, timestamp, window, resourceVersion masked",
        "each server's clock",
    ),
    ("usage within 5 %", "each server's scrape moments"),
    ("containers in name order", "Containers order"),
    (
        "pods with a crash-looping container left out of lists",
        "CPU counter went backwards / start time went backwards",
    ),
];
