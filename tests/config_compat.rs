//! Every upstream flag is accepted (spec §1): `metrics-server --help` lists each name of
//! upstream's flag list, the flags without an effect here are type-checked like upstream's and
//! named in a warning, and the ones with an effect reach the configuration.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::process::Command;
use std::time::Duration;

use clap::Parser;
use metrics_server::config::{Cli, Config, IGNORED, LoggingFormat};

fn upstream_flags() -> Vec<String> {
    let text = include_str!("fixtures/upstream-flag-names.txt");
    text.lines()
        .filter(|l| l.starts_with("--"))
        .map(str::to_owned)
        .collect()
}

fn help_flags() -> BTreeSet<String> {
    let out = Command::new(env!("CARGO_BIN_EXE_metrics-server"))
        .arg("--help")
        .output()
        .expect("run metrics-server --help");
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout)
        .split(|c: char| c.is_whitespace() || c == ',' || c == '=' || c == '[' || c == '<')
        .filter(|w| w.starts_with("--"))
        .map(str::to_owned)
        .collect()
}

#[test]
fn help_lists_every_upstream_flag() {
    let listed = help_flags();
    let upstream = upstream_flags();
    assert_eq!(upstream.len(), 103);
    let missing: Vec<&String> = upstream.iter().filter(|f| !listed.contains(*f)).collect();
    assert!(missing.is_empty(), "missing from --help: {missing:?}");
}

fn config(args: &[&str]) -> Config {
    let cli = Cli::try_parse_from(std::iter::once("metrics-server").chain(args.iter().copied()))
        .unwrap_or_else(|e| panic!("{args:?}: {e}"));
    cli.serve
        .validate()
        .unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

#[test]
fn ignored_flags_are_accepted_and_warned_about() {
    let cfg = config(&[
        "--audit-log-path=-",
        "--audit-log-maxage",
        "30",
        "--audit-log-mode=batch",
        "--profiling=false",
        "--enable-priority-and-fairness",
        "--feature-gates=Foo=true",
        "--goaway-chance=0.01",
        "--livez-grace-period=30s",
        "--vmodule=scraper=4",
    ]);
    let warnings = cfg.compat.ignored.warnings();
    assert_eq!(warnings.len(), 9, "{warnings:?}");
    assert!(
        warnings.contains(
            &"--audit-log-path is accepted for compatibility and ignored: no audit log".to_owned()
        ),
        "{warnings:?}"
    );
    assert!(config(&[]).compat.ignored.warnings().is_empty());
    // Every ignored flag is a real upstream flag.
    let upstream = upstream_flags();
    for (name, _) in IGNORED {
        assert!(
            upstream.contains(&format!("--{name}")),
            "--{name} is not upstream's"
        );
    }
}

#[test]
fn ignored_flags_still_reject_values_of_the_wrong_type() {
    for bad in [
        "--audit-log-maxage=soon",
        "--audit-log-batch-max-wait=5",
        "--goaway-chance=lots",
        "--profiling=maybe",
        "--audit-log-mode=sometimes",
    ] {
        let parsed = Cli::try_parse_from(["metrics-server", bad]);
        assert!(parsed.is_err(), "{bad} accepted");
    }
}

#[test]
fn effective_flags_reach_the_configuration() {
    let cfg = config(&[
        "--logging-format=json",
        "--log-json-split-stream",
        "--shutdown-delay-duration=5s",
        "--permit-port-sharing",
        "--permit-address-sharing=true",
        "--disable-http2-serving",
        "--http2-max-streams-per-connection=50",
    ]);
    assert_eq!(cfg.compat.logging_format, LoggingFormat::Json);
    assert!(cfg.compat.log_split_stream);
    assert_eq!(cfg.compat.shutdown_delay, Duration::from_secs(5));
    assert!(cfg.compat.permit_port_sharing);
    assert!(cfg.compat.disable_http2);
    assert_eq!(cfg.compat.http2_max_streams, 50);
    let defaults = config(&[]);
    assert_eq!(defaults.compat.logging_format, LoggingFormat::Text);
    assert_eq!(defaults.compat.http2_max_streams, 100);
    assert_eq!(defaults.compat.shutdown_delay, Duration::ZERO);
    assert!(!defaults.compat.kubelet_plain_http);
    // Each split-stream flag applies to its own format only.
    assert!(config(&["--log-text-split-stream"]).compat.log_split_stream);
    assert!(!config(&["--log-json-split-stream"]).compat.log_split_stream);
}

#[test]
fn completely_insecure_kubelets_exclude_the_tls_flags() {
    assert!(
        config(&[
            "--deprecated-kubelet-completely-insecure",
            "--kubelet-port=10255"
        ])
        .compat
        .kubelet_plain_http
    );
    let cli = Cli::try_parse_from([
        "metrics-server",
        "--deprecated-kubelet-completely-insecure",
        "--kubelet-insecure-tls",
    ])
    .unwrap();
    let err = cli.serve.validate().unwrap_err().to_string();
    assert!(
        err.contains("--deprecated-kubelet-completely-insecure cannot be used"),
        "{err}"
    );
    let cli = Cli::try_parse_from(["metrics-server", "--shutdown-delay-duration=-1s"]).unwrap();
    assert!(cli.serve.validate().is_err());
}
