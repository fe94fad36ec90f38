//! Tests of the health handlers against the bodies of spec §2.9.

use super::*;

/// Upstream's checks for `endpoint`, all passing except `failing` (with its reason).
fn checks(endpoint: Endpoint, failing: &[(&'static str, Unhealthy)]) -> Vec<Check> {
    check_names(endpoint)
        .iter()
        .map(|&name| match failing.iter().find(|(n, _)| *n == name) {
            Some((_, reason)) => {
                let reason = reason.clone();
                Check::new(name, move || Err(reason.clone()))
            }
            None => Check::always_ok(name),
        })
        .collect()
}

#[test]
fn readyz_verbose_body_matches_upstream_e2e() {
    let want = "[+]ping ok
[+]log ok
[+]poststarthook/max-in-flight-filter ok
[+]poststarthook/storage-object-count-tracker-hook ok
[+]metric-storage-ready ok
[+]metric-informer-sync ok
[+]metadata-informer-sync ok
[+]shutdown ok
readyz check passed
";
    let got = respond(
        Endpoint::Readyz,
        &checks(Endpoint::Readyz, &[]),
        "",
        "verbose",
    );
    assert_eq!(got, HealthResponse::new(200, want));
}

#[test]
fn livez_verbose_body_matches_upstream_e2e() {
    let want = "[+]ping ok
[+]log ok
[+]poststarthook/max-in-flight-filter ok
[+]poststarthook/storage-object-count-tracker-hook ok
[+]metric-collection-timely ok
[+]metadata-informer-sync ok
livez check passed
";
    let got = respond(
        Endpoint::Livez,
        &checks(Endpoint::Livez, &[]),
        "",
        "verbose",
    );
    assert_eq!(got, HealthResponse::new(200, want));
}

#[test]
fn passing_without_verbose_is_plain_ok() {
    for endpoint in [Endpoint::Healthz, Endpoint::Livez, Endpoint::Readyz] {
        let got = respond(endpoint, &checks(endpoint, &[]), "", "");
        assert_eq!(got, HealthResponse::new(200, "ok"));
    }
}

#[test]
fn verbose_is_a_key_whatever_its_value() {
    let got = respond(
        Endpoint::Livez,
        &checks(Endpoint::Livez, &[]),
        "",
        "verbose=false",
    );
    assert!(got.body.ends_with("livez check passed\n"));
}

#[test]
fn failing_check_gives_500_verbose_body_without_the_reason() {
    let all = checks(
        Endpoint::Readyz,
        &[(METRIC_STORAGE_READY, Unhealthy::NoMetrics)],
    );
    let got = respond(Endpoint::Readyz, &all, "", "");
    assert_eq!(got.status, 500);
    assert!(got.body.starts_with("[+]ping ok\n"));
    assert!(
        got.body
            .contains("\n[-]metric-storage-ready failed: reason withheld\n")
    );
    assert!(got.body.contains("\n[+]shutdown ok\n"));
    assert!(got.body.ends_with("\nreadyz check failed\n"));
    assert!(!got.body.contains("no metrics to serve"));
}

#[test]
fn excluded_failing_check_passes() {
    let all = checks(
        Endpoint::Readyz,
        &[(METRIC_STORAGE_READY, Unhealthy::NoMetrics)],
    );
    let got = respond(Endpoint::Readyz, &all, "", "exclude=metric-storage-ready");
    assert_eq!(got, HealthResponse::new(200, "ok"));
    let got = respond(
        Endpoint::Readyz,
        &all,
        "",
        "exclude=metric-storage-ready&verbose",
    );
    assert!(
        got.body
            .contains("\n[+]metric-storage-ready excluded: ok\n")
    );
    assert!(got.body.ends_with("\nreadyz check passed\n"));
}

#[test]
fn exclude_is_repeatable_and_url_decoded() {
    let failing = [
        (SHUTDOWN, Unhealthy::ShuttingDown),
        (MAX_IN_FLIGHT_FILTER, Unhealthy::InformersNotSynced),
    ];
    let all = checks(Endpoint::Readyz, &failing);
    let query = "exclude=shutdown&exclude=poststarthook%2Fmax-in-flight-filter";
    assert_eq!(respond(Endpoint::Readyz, &all, "", query).status, 200);
    assert_eq!(
        respond(Endpoint::Readyz, &all, "", "exclude=shutdown").status,
        500
    );
}

#[test]
fn unknown_exclude_gives_a_warn_line_sorted_and_quoted() {
    let all = checks(Endpoint::Livez, &[]);
    let got = respond(
        Endpoint::Livez,
        &all,
        "",
        "verbose&exclude=zzz&exclude=ping&exclude=aaa",
    );
    let want_tail = "[+]metadata-informer-sync ok\n\
                     warn: some health checks cannot be excluded: no matches for \"aaa\",\"zzz\"\n\
                     livez check passed\n";
    assert!(
        got.body.starts_with("[+]ping excluded: ok\n"),
        "{}",
        got.body
    );
    assert!(got.body.ends_with(want_tail), "{}", got.body);
    let quiet = respond(Endpoint::Livez, &all, "", "exclude=zzz");
    assert_eq!(quiet, HealthResponse::new(200, "ok"));
}

#[test]
fn per_check_path_runs_only_that_check() {
    let all = checks(
        Endpoint::Readyz,
        &[(METRIC_STORAGE_READY, Unhealthy::NoMetrics)],
    );
    let ok = respond(Endpoint::Readyz, &all, "/ping", "");
    assert_eq!(ok, HealthResponse::new(200, "ok"));
    let nested = respond(
        Endpoint::Readyz,
        &all,
        "/poststarthook/max-in-flight-filter",
        "",
    );
    assert_eq!(nested, HealthResponse::new(200, "ok"));
    let failed = respond(Endpoint::Readyz, &all, "/metric-storage-ready", "verbose");
    let want = "internal server error: no metrics to serve\n";
    assert_eq!(failed, HealthResponse::new(500, want));
}

#[test]
fn unknown_check_path_is_404() {
    let all = checks(Endpoint::Livez, &[]);
    for sub in ["/nope", "/", "/metric-storage-ready", "/ping/"] {
        let got = respond(Endpoint::Livez, &all, sub, "");
        assert_eq!(
            got,
            HealthResponse::new(404, "404 page not found\n"),
            "{sub}"
        );
    }
}

#[test]
fn endpoint_from_path() {
    assert_eq!(Endpoint::from_path("/readyz"), Some((Endpoint::Readyz, "")));
    assert_eq!(
        Endpoint::from_path("/livez/ping"),
        Some((Endpoint::Livez, "/ping"))
    );
    assert_eq!(
        Endpoint::from_path("/healthz/"),
        Some((Endpoint::Healthz, "/"))
    );
    assert_eq!(Endpoint::from_path("/readyzz"), None);
    assert_eq!(Endpoint::from_path("/metrics"), None);
}

#[test]
fn query_parsing_follows_go() {
    let got = parse_query("a=1&b&c=x+y&d=%zz&e;f=2&&g=%41");
    let want = [("a", "1"), ("b", ""), ("c", "x y"), ("g", "A")];
    let want: Vec<(String, String)> = want
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    assert_eq!(got, want);
}

#[test]
fn each_failure_reads_as_upstreams_reason() {
    let late = crate::scraper::CollectionLate;
    for (failure, want) in [
        (Unhealthy::NoMetrics, "no metrics to serve"),
        (Unhealthy::InformersNotSynced, "informers not synced"),
        (
            Unhealthy::PodInformerNotStarted,
            "1 informers not started yet: [pods]",
        ),
        (
            Unhealthy::CollectionLate(late),
            "metric collection didn't finish on time",
        ),
        (Unhealthy::ShuttingDown, "process is shutting down"),
    ] {
        let all = vec![Check::new(SHUTDOWN, move || Err(failure.clone()))];
        let got = respond(Endpoint::Readyz, &all, "/shutdown", "");
        assert_eq!(
            got,
            HealthResponse::new(500, format!("internal server error: {want}\n"))
        );
    }
}
