//! The differences from upstream v0.9.0 this server keeps on purpose, each justified by a row
//! of the README's "Differences from upstream" table (named by its first cell). The test
//! fails on any difference not listed here, and on an entry no request needed (unless the
//! difference depends on timing). Keep it short: a difference that is not a decision is a bug.

/// One kept difference: in which requests, which field, and why.
pub struct Allowed {
    /// Case ids (see `cases.rs`); a `*` stands for any text.
    pub cases: &'static [&'static str],
    /// The fields as the comparison names them; a `*` stands for any text.
    pub fields: &'static [&'static str],
    /// The first cell of the README row that justifies it.
    pub readme_row: &'static str,
    /// Whether a run may not see it (it depends on timing or on upstream's random order).
    pub sometimes: bool,
}

impl Allowed {
    pub fn covers(&self, case: &str, field: &str) -> bool {
        self.cases.iter().any(|c| matches(c, case)) && self.fields.iter().any(|f| matches(f, field))
    }
}

/// `*` (at most one) stands for any text.
fn matches(pattern: &str, text: &str) -> bool {
    match pattern.split_once('*') {
        Some((prefix, suffix)) => {
            text.len() >= prefix.len() + suffix.len()
                && text.starts_with(prefix)
                && text.ends_with(suffix)
        }
        None => pattern == text,
    }
}

/// README rows named below.
pub const API_VERSIONS: &str = "API versions";
pub const NODE_NAME_SELECTOR: &str = "`fieldSelector=spec.nodeName=`";
pub const COMPACT_PROTOBUF: &str = "Protobuf encoding";
pub const SELF_METRICS: &str = "Self-metrics (`/metrics`)";
pub const VERSION: &str = "`/version`";
pub const DISCOVERY_V2BETA1: &str = "Aggregated discovery `v2beta1`";
pub const LEGACY_GROUP_LIST: &str = "`/apis` without an aggregated-discovery `Accept`";
pub const STATUSZ: &str = "`/statusz`";

/// The cases that answer the index of paths.
const INDEX: &[&str] = &[
    "/",
    "/api",
    "unknown path",
    "unknown group",
    "*/no-such-check",
];

pub static ALLOWED: &[Allowed] = &[
    Allowed {
        cases: &["v1 *"],
        fields: &["*"],
        readme_row: API_VERSIONS,
        sometimes: false,
    },
    Allowed {
        cases: &["/apis", "/apis as YAML", "group", "/apis aggregated *"],
        fields: &["body.*versions[1]"],
        readme_row: API_VERSIONS,
        sometimes: false,
    },
    Allowed {
        cases: INDEX,
        fields: &["body.paths[\"/apis/metrics.k8s.io/v1\"]"],
        readme_row: API_VERSIONS,
        sometimes: false,
    },
    Allowed {
        cases: INDEX,
        fields: &["body.paths[\"/statusz\"]"],
        readme_row: STATUSZ,
        sometimes: false,
    },
    Allowed {
        cases: &[
            "field selector spec.nodeName",
            "field selector on an unknown field",
        ],
        fields: &["*"],
        readme_row: NODE_NAME_SELECTOR,
        sometimes: false,
    },
    Allowed {
        cases: &["*"],
        fields: &["protobuf bytes"],
        readme_row: COMPACT_PROTOBUF,
        sometimes: false,
    },
    Allowed {
        cases: &["/metrics"],
        fields: &["content-type", "family * help"],
        readme_row: SELF_METRICS,
        sometimes: false,
    },
    Allowed {
        cases: &["/version"],
        fields: &["body.*"],
        readme_row: VERSION,
        sometimes: false,
    },
    Allowed {
        cases: &["/apis aggregated v2beta1"],
        fields: &["*"],
        readme_row: DISCOVERY_V2BETA1,
        sometimes: false,
    },
    Allowed {
        cases: &["/apis", "/apis as YAML"],
        fields: &[
            "body.apiVersion",
            "body.groups[0].serverAddressByClientCIDRs",
            "yaml layout",
        ],
        readme_row: LEGACY_GROUP_LIST,
        sometimes: false,
    },
];

/// What is normalized before comparing (not differences: each server's own clock, and
/// orders or timings that are not behaviour), with the README row where one applies.
pub static NORMALIZED: &[(&str, &str)] = &[
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
