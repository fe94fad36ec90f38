//! `/healthz`, `/livez`, `/readyz`: named checks with upstream's exact bodies and status codes
//! (spec §2.9; the apiserver library's `healthz` handler). Pure logic: the caller routes the
//! request here and sends [`HealthResponse`] with the fixed [`HEADERS`].
//!
//! * `GET /<endpoint>`: `ok` (200); `?verbose` lists every check and ends with
//!   `<endpoint> check passed`. Any failing check gives 500 and always the verbose list, with
//!   `[-]<name> failed: reason withheld` lines and a last line `<endpoint> check failed`.
//! * `?exclude=<name>` (repeatable) skips a check (`[+]<name> excluded: ok`); names that match
//!   no check give the line `warn: some health checks cannot be excluded: no matches for "x"`.
//! * `GET /<endpoint>/<name>`: that check alone: `ok`, or 500 `internal server error: <reason>`.
//! * Any other sub-path: 404 `404 page not found`.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use http::header::{HeaderName, HeaderValue};

/// Headers of every health response (Go's `http.Error` sets the same on failures).
pub const HEADERS: [(HeaderName, HeaderValue); 2] = [
    (
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    ),
    (
        http::header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    ),
];

/// apiserver default check: always passes.
pub const PING: &str = "ping";
/// apiserver default check: passes while logging works.
pub const LOG: &str = "log";
/// apiserver post-start hook of the max-in-flight filter.
pub const MAX_IN_FLIGHT_FILTER: &str = "poststarthook/max-in-flight-filter";
/// apiserver post-start hook of the object-count tracker.
pub const STORAGE_OBJECT_COUNT_TRACKER: &str = "poststarthook/storage-object-count-tracker-hook";
/// readyz: storage can serve at least one node and one pod (`no metrics to serve`).
pub const METRIC_STORAGE_READY: &str = "metric-storage-ready";
/// readyz: the node and pod informers have synced.
pub const METRIC_INFORMER_SYNC: &str = "metric-informer-sync";
/// livez: the last scrape tick started less than 1.5 × resolution ago.
pub const METRIC_COLLECTION_TIMELY: &str = "metric-collection-timely";
/// all three: the metadata informers have synced.
pub const METADATA_INFORMER_SYNC: &str = "metadata-informer-sync";
/// readyz: fails once shutdown has started.
pub const SHUTDOWN: &str = "shutdown";

/// Why a check fails, in upstream's words; shown only on the check's own path.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Unhealthy {
    #[error("no metrics to serve")]
    NoMetrics,
    #[error("informers not synced")]
    InformersNotSynced,
    #[error("1 informers not started yet: [pods]")]
    PodInformerNotStarted,
    #[error(transparent)]
    CollectionLate(#[from] crate::scraper::CollectionLate),
    #[error("process is shutting down")]
    ShuttingDown,
}

/// One named health check.
pub struct Check {
    pub name: &'static str,
    probe: Box<dyn Fn() -> Result<(), Unhealthy> + Send + Sync>,
}

impl Check {
    /// A check that runs `probe`; its error text is logged and shown only on the per-check path.
    pub fn new(
        name: &'static str,
        probe: impl Fn() -> Result<(), Unhealthy> + Send + Sync + 'static,
    ) -> Self {
        Check {
            name,
            probe: Box::new(probe),
        }
    }

    /// A check that always passes (`ping`, and the hooks that have nothing to wait for here).
    pub fn always_ok(name: &'static str) -> Self {
        Check::new(name, || Ok(()))
    }

    fn run(&self) -> Result<(), Unhealthy> {
        (self.probe)()
    }
}

impl std::fmt::Debug for Check {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Check").field("name", &self.name).finish()
    }
}

/// The three probe endpoints.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Endpoint {
    Healthz,
    Livez,
    Readyz,
}

impl Endpoint {
    /// The name as it appears in the path and the last body line: `healthz`, `livez`, `readyz`.
    pub fn name(self) -> &'static str {
        match self {
            Endpoint::Healthz => "healthz",
            Endpoint::Livez => "livez",
            Endpoint::Readyz => "readyz",
        }
    }

    /// Splits a request path into its endpoint and sub-path (`/readyz/ping` → Readyz, `/ping`).
    pub fn from_path(path: &str) -> Option<(Endpoint, &str)> {
        [Endpoint::Healthz, Endpoint::Livez, Endpoint::Readyz]
            .into_iter()
            .find_map(|endpoint| {
                let rest = path.strip_prefix('/')?.strip_prefix(endpoint.name())?;
                (rest.is_empty() || rest.starts_with('/')).then_some((endpoint, rest))
            })
    }
}

/// Upstream's check names for `endpoint`, in the order the verbose bodies list them (§2.9).
pub fn check_names(endpoint: Endpoint) -> &'static [&'static str] {
    match endpoint {
        Endpoint::Healthz => &[
            PING,
            LOG,
            MAX_IN_FLIGHT_FILTER,
            STORAGE_OBJECT_COUNT_TRACKER,
            METADATA_INFORMER_SYNC,
        ],
        Endpoint::Livez => &[
            PING,
            LOG,
            MAX_IN_FLIGHT_FILTER,
            STORAGE_OBJECT_COUNT_TRACKER,
            METRIC_COLLECTION_TIMELY,
            METADATA_INFORMER_SYNC,
        ],
        Endpoint::Readyz => &[
            PING,
            LOG,
            MAX_IN_FLIGHT_FILTER,
            STORAGE_OBJECT_COUNT_TRACKER,
            METRIC_STORAGE_READY,
            METRIC_INFORMER_SYNC,
            METADATA_INFORMER_SYNC,
            SHUTDOWN,
        ],
    }
}

/// Status and body of a health response; the headers are always [`HEADERS`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HealthResponse {
    pub status: u16,
    pub body: String,
}

impl HealthResponse {
    fn new(status: u16, body: impl Into<String>) -> Self {
        HealthResponse {
            status,
            body: body.into(),
        }
    }
}

/// Answers `GET /<endpoint><sub_path>?<query>` from `checks`, run in the given order.
/// `sub_path` is `""` for the endpoint itself or `"/<check name>"`; `query` has no `?`.
pub fn respond(
    endpoint: Endpoint,
    checks: &[Check],
    sub_path: &str,
    query: &str,
) -> HealthResponse {
    if sub_path.is_empty() {
        return respond_root(endpoint, checks, query);
    }
    let wanted = sub_path.strip_prefix('/').unwrap_or("");
    match checks
        .iter()
        .find(|c| !wanted.is_empty() && c.name == wanted)
    {
        Some(check) => match check.run() {
            Ok(()) => HealthResponse::new(200, "ok"),
            Err(reason) => HealthResponse::new(500, format!("internal server error: {reason}\n")),
        },
        None => HealthResponse::new(404, "404 page not found\n"),
    }
}

fn respond_root(endpoint: Endpoint, checks: &[Check], query: &str) -> HealthResponse {
    let params = parse_query(query);
    let mut excluded: BTreeSet<&str> = params
        .iter()
        .filter(|(k, _)| k == "exclude")
        .map(|(_, v)| v.as_str())
        .collect();
    let verbose = params.iter().any(|(k, _)| k == "verbose");
    let mut lines = String::new();
    let mut failures = Vec::new();
    for check in checks {
        if excluded.remove(check.name) {
            let _ = writeln!(lines, "[+]{} excluded: ok", check.name);
            continue;
        }
        match check.run() {
            Ok(()) => {
                let _ = writeln!(lines, "[+]{} ok", check.name);
            }
            Err(reason) => {
                let _ = writeln!(lines, "[-]{} failed: reason withheld", check.name);
                failures.push(format!("{}: {reason}", check.name));
            }
        }
    }
    if !excluded.is_empty() {
        let names: Vec<String> = excluded
            .iter()
            .map(|n| crate::api::metav1_status::go_quote(n))
            .collect();
        let _ = writeln!(
            lines,
            "warn: some health checks cannot be excluded: no matches for {}",
            names.join(",")
        );
    }
    let name = endpoint.name();
    if !failures.is_empty() {
        tracing::debug!(endpoint = name, failed = %failures.join("; "), "health check failed");
        return HealthResponse::new(500, format!("{lines}{name} check failed\n"));
    }
    if verbose {
        HealthResponse::new(200, format!("{lines}{name} check passed\n"))
    } else {
        HealthResponse::new(200, "ok")
    }
}

/// Go's `url.ParseQuery` as `r.URL.Query()` uses it: `&`-separated pairs, `+` and `%XX`
/// decoded; pairs with `;` or a bad escape are dropped.
fn parse_query(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty() && !pair.contains(';'))
        .filter_map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            Some((unescape(key)?, unescape(value)?))
        })
        .collect()
}

/// Go's `url.QueryUnescape`; `None` on a malformed `%` escape.
fn unescape(text: &str) -> Option<String> {
    crate::api::query::form_decode(text, "exclude").ok()
}

#[cfg(test)]
mod tests;
