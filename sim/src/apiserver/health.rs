//! `/livez`, `/readyz` and `/healthz` like kube-apiserver's: `ok` as text, `?verbose` lists
//! every check (`[+]ping ok` … `readyz check passed`), `/readyz/<check>` answers one check and
//! an unknown check is 404. Open to anonymous clients, as the apiserver's
//! `system:public-info-viewer` role makes them.

use http::{HeaderValue, Response, StatusCode, header};

use crate::net::{self, Body};

const TEXT: &str = "text/plain; charset=utf-8";

/// Which probe a path asks for.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Probe {
    Live,
    Ready,
    Health,
}

impl Probe {
    fn name(self) -> &'static str {
        match self {
            Probe::Live => "livez",
            Probe::Ready => "readyz",
            Probe::Health => "healthz",
        }
    }

    /// The checks this probe runs; they always pass while the simulator serves.
    fn checks(self) -> &'static [&'static str] {
        match self {
            Probe::Live | Probe::Health => &["ping", "log"],
            Probe::Ready => &["ping", "log", "shutdown"],
        }
    }
}

/// A probe path: the probe and the one check named after it, if any.
pub(crate) fn parse(path: &str) -> Option<(Probe, Option<&str>)> {
    [Probe::Live, Probe::Ready, Probe::Health]
        .into_iter()
        .find_map(|probe| {
            let rest = path.strip_prefix('/')?.strip_prefix(probe.name())?;
            match rest {
                "" | "/" => Some((probe, None)),
                _ => rest.strip_prefix('/').map(|check| (probe, Some(check))),
            }
        })
}

/// The answer of `probe` (or of its `check`), verbose when the query asks for it.
pub(crate) fn respond(probe: Probe, check: Option<&str>, query: Option<&str>) -> Response<Body> {
    if let Some(check) = check {
        return if probe.checks().contains(&check) {
            text(StatusCode::OK, "ok")
        } else {
            text(StatusCode::NOT_FOUND, "404 page not found\n")
        };
    }
    if !verbose(query) {
        return text(StatusCode::OK, "ok");
    }
    let mut body: String = probe
        .checks()
        .iter()
        .map(|check| format!("[+]{check} ok\n"))
        .collect();
    body.push_str(&format!("{} check passed\n", probe.name()));
    text(StatusCode::OK, &body)
}

fn verbose(query: Option<&str>) -> bool {
    query.unwrap_or("").split('&').any(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        key == "verbose" && !matches!(value, "false" | "0")
    })
}

fn text(status: StatusCode, body: &str) -> Response<Body> {
    let mut resp = Response::new(net::full_body(body.to_owned()));
    *resp.status_mut() = status;
    let headers = resp.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(TEXT));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_paths_and_their_checks() {
        assert_eq!(parse("/readyz"), Some((Probe::Ready, None)));
        assert_eq!(parse("/livez/"), Some((Probe::Live, None)));
        assert_eq!(parse("/healthz/ping"), Some((Probe::Health, Some("ping"))));
        assert_eq!(parse("/readyzz"), None);
        assert_eq!(parse("/api/v1/readyz"), None);
    }

    #[test]
    fn verbose_is_a_flag_with_or_without_a_value() {
        assert!(verbose(Some("verbose")));
        assert!(verbose(Some("exclude=etcd&verbose=true")));
        assert!(!verbose(Some("verbose=false")));
        assert!(!verbose(None));
    }
}
