//! Command-line parsing and validation as a user meets them (spec §1): upstream flag names and
//! defaults, pflag-style values, the validation errors with their messages, and `demo`.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use clap::error::ErrorKind;
use metrics_server::config::{Cli, Command, Config, MetricsSource, verbosity_filter};

fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
    Cli::try_parse_from(std::iter::once("metrics-server").chain(args.iter().copied()))
}

fn config(args: &[&str]) -> Config {
    let cli = parse(args).unwrap_or_else(|e| panic!("{args:?}: {e}"));
    assert!(cli.command.is_none());
    cli.serve
        .validate()
        .unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

fn validation_error(args: &[&str]) -> String {
    let cli = parse(args).unwrap_or_else(|e| panic!("{args:?}: {e}"));
    match cli.serve.validate() {
        Ok(cfg) => panic!("{args:?} validated: {cfg:?}"),
        Err(e) => e.to_string(),
    }
}

fn parse_error(args: &[&str]) -> clap::Error {
    parse(args)
        .err()
        .unwrap_or_else(|| panic!("{args:?} parsed"))
}

#[test]
fn defaults_match_upstream_except_the_15s_resolution() {
    let cfg = config(&[]);
    assert_eq!(cfg.metric_resolution, Duration::from_secs(15));
    assert_eq!(cfg.kubeconfig, None);
    assert_eq!(cfg.kubelet.port, 10250);
    assert!(!cfg.kubelet.use_node_status_port);
    assert_eq!(
        cfg.kubelet.preferred_address_types,
        [
            "Hostname",
            "InternalDNS",
            "InternalIP",
            "ExternalDNS",
            "ExternalIP"
        ]
    );
    assert!(!cfg.kubelet.insecure_tls);
    assert_eq!(cfg.kubelet.certificate_authority, None);
    assert_eq!(cfg.kubelet.client_cert, None);
    assert_eq!(cfg.kubelet.request_timeout, Duration::from_secs(10));
    assert_eq!(cfg.kubelet.metrics_source, MetricsSource::Auto);
    assert_eq!(cfg.kubelet.max_body_bytes, 16 * 1024 * 1024);
    assert_eq!(cfg.node_selector, None);
    assert_eq!(cfg.serving.secure_port, 443);
    assert_eq!(cfg.serving.bind_address.to_string(), "0.0.0.0");
    assert_eq!(
        cfg.serving.cert.cert_dir,
        PathBuf::from("apiserver.local.config/certificates")
    );
    assert_eq!(cfg.serving.cert.files, None);
    assert!(cfg.serving.cert.extra_ips.is_empty());
    assert_eq!(cfg.storage_ring_depth, 3);
    assert_eq!(cfg.verbosity, 0);
}

#[test]
fn upstream_manifest_arguments_are_accepted() {
    let cfg = config(&[
        "--cert-dir=/tmp",
        "--secure-port=10250",
        "--kubelet-preferred-address-types=InternalIP,ExternalIP,Hostname",
        "--kubelet-use-node-status-port",
        "--metric-resolution=15s",
    ]);
    assert_eq!(cfg.serving.cert.cert_dir, PathBuf::from("/tmp"));
    assert_eq!(cfg.serving.secure_port, 10250);
    assert_eq!(
        cfg.kubelet.preferred_address_types,
        ["InternalIP", "ExternalIP", "Hostname"]
    );
    assert!(cfg.kubelet.use_node_status_port);
    assert_eq!(cfg.metric_resolution, Duration::from_secs(15));
}

#[test]
fn equals_and_space_forms_are_the_same() {
    let pairs: [(&str, &str); 6] = [
        ("--metric-resolution", "1m30s"),
        ("--kubelet-port", "10255"),
        ("--kubelet-request-timeout", "2500ms"),
        ("--secure-port", "4443"),
        ("--kubeconfig", "/etc/kube/config"),
        ("--node-selector", "role=worker"),
    ];
    for (flag, value) in pairs {
        let joined = format!("{flag}={value}");
        let a = format!("{:?}", config(&[&joined]));
        let b = format!("{:?}", config(&[flag, value]));
        assert_eq!(a, b, "{flag}");
    }
    let cfg = config(&[
        "--metric-resolution",
        "1m30s",
        "--kubelet-request-timeout",
        "2500ms",
    ]);
    assert_eq!(cfg.metric_resolution, Duration::from_secs(90));
    assert_eq!(cfg.kubelet.request_timeout, Duration::from_millis(2500));
}

#[test]
fn bool_flags_take_an_optional_equals_value() {
    assert!(config(&["--kubelet-insecure-tls"]).kubelet.insecure_tls);
    assert!(
        config(&["--kubelet-insecure-tls=true"])
            .kubelet
            .insecure_tls
    );
    assert!(config(&["--kubelet-insecure-tls=1"]).kubelet.insecure_tls);
    assert!(
        !config(&["--kubelet-insecure-tls=false"])
            .kubelet
            .insecure_tls
    );
    assert!(
        !config(&["--kubelet-insecure-tls=False"])
            .kubelet
            .insecure_tls
    );
    assert!(
        !config(&["--kubelet-use-node-status-port=f"])
            .kubelet
            .use_node_status_port
    );
    let err = parse_error(&["--kubelet-insecure-tls=yes"]).to_string();
    assert!(err.contains("--kubelet-insecure-tls"), "{err}");
    // As with pflag, a bool value must be attached with `=`: a separate word is an argument.
    let err = parse_error(&["--kubelet-insecure-tls", "false"]).to_string();
    assert!(err.contains("'false'"), "{err}");
}

#[test]
fn node_selector_short_and_long() {
    for args in [
        &["-l", "a=b"][..],
        &["-l=a=b"],
        &["-la=b"],
        &["--node-selector", "a=b"],
    ] {
        assert_eq!(
            config(args).node_selector.as_deref(),
            Some("a=b"),
            "{args:?}"
        );
    }
    let cfg = config(&["-l", "kubernetes.io/os!=windows,tier in (web)"]);
    assert_eq!(
        cfg.node_selector.as_deref(),
        Some("kubernetes.io/os!=windows,tier in (web)")
    );
    assert_eq!(config(&["--node-selector="]).node_selector, None);
}

#[test]
fn verbosity_forms_and_log_filter() {
    for args in [
        &["-v", "4"][..],
        &["-v4"],
        &["-v=4"],
        &["--v=4"],
        &["--v", "4"],
    ] {
        assert_eq!(config(args).verbosity, 4, "{args:?}");
    }
    assert_eq!(
        verbosity_filter(0),
        "info,h2=error,kube_runtime::watcher=error"
    );
    assert_eq!(
        verbosity_filter(2),
        "info,h2=error,kube_runtime::watcher=error,metrics_server=debug"
    );
    assert_eq!(verbosity_filter(4), "debug");
    assert_eq!(verbosity_filter(6), "debug,metrics_server=trace");
}

#[test]
fn address_types_repeat_and_replace_the_default() {
    let cfg = config(&[
        "--kubelet-preferred-address-types",
        "InternalIP",
        "--kubelet-preferred-address-types=Hostname",
    ]);
    assert_eq!(
        cfg.kubelet.preferred_address_types,
        ["InternalIP", "Hostname"]
    );
    let err = validation_error(&["--kubelet-preferred-address-types="]);
    assert_eq!(
        err,
        "--kubelet-preferred-address-types must name at least one address type"
    );
}

#[test]
fn our_own_flags() {
    let cfg = config(&[
        "--kubelet-metrics-source=summary",
        "--storage-ring-depth=16",
        "--kubelet-max-body-bytes=1048576",
    ]);
    assert_eq!(cfg.kubelet.metrics_source, MetricsSource::Summary);
    assert_eq!(cfg.storage_ring_depth, 16);
    assert_eq!(cfg.kubelet.max_body_bytes, 1 << 20);
    assert_eq!(config(&["--storage-ring-depth=2"]).storage_ring_depth, 2);
    let err = parse_error(&["--kubelet-metrics-source=prometheus"]).to_string();
    assert!(err.contains("--kubelet-metrics-source"), "{err}");
}

#[test]
fn apiservice_service_names_the_service_the_apiservices_should_point_at() {
    assert_eq!(
        config(&[]).apiservice_service,
        None,
        "default: resolved at start-up"
    );
    assert_eq!(config(&["--apiservice-service="]).apiservice_service, None);
    let ours = config(&["--apiservice-service", "monitoring/metrics-server-rs:8443"])
        .apiservice_service
        .unwrap();
    assert_eq!(ours.service.to_string(), "monitoring/metrics-server-rs");
    assert_eq!(ours.port, 8443);
    let plain = config(&["--apiservice-service=kube-system/metrics-server"])
        .apiservice_service
        .unwrap();
    assert_eq!(plain.port, 443);
    assert_eq!(
        validation_error(&["--apiservice-service=metrics-server"]),
        "--apiservice-service must be NAMESPACE/NAME or NAMESPACE/NAME:PORT (a port 1-65535), \
         but value \"metrics-server\" provided"
    );
}

#[test]
fn failing_nodes_back_off_for_up_to_five_minutes_and_virtual_nodes_are_skipped_by_default() {
    let cfg = config(&[]);
    assert_eq!(cfg.kubelet.max_backoff, Duration::from_secs(300));
    assert!(cfg.kubelet.skip_virtual_nodes);
    let cfg = config(&[
        "--kubelet-max-backoff=90s",
        "--kubelet-skip-virtual-nodes=false",
    ]);
    assert_eq!(cfg.kubelet.max_backoff, Duration::from_secs(90));
    assert!(!cfg.kubelet.skip_virtual_nodes);
    let cfg = config(&["--kubelet-max-backoff", "0", "--kubelet-skip-virtual-nodes"]);
    assert_eq!(
        cfg.kubelet.max_backoff,
        Duration::ZERO,
        "0 turns back-off off"
    );
    assert!(cfg.kubelet.skip_virtual_nodes);
    assert_eq!(
        validation_error(&["--kubelet-max-backoff=-1m"]),
        "--kubelet-max-backoff must not be negative, but value -1m0s provided"
    );
    let err = parse_error(&["--kubelet-skip-virtual-nodes=maybe"]).to_string();
    assert!(err.contains("--kubelet-skip-virtual-nodes"), "{err}");
}

#[test]
fn resolution_must_be_at_least_10s() {
    assert_eq!(
        validation_error(&["--metric-resolution=5s", "--kubelet-request-timeout=1s"]),
        "--metric-resolution should be a time duration at least 10s, but value 5s provided"
    );
    assert_eq!(
        config(&["--metric-resolution=10s", "--kubelet-request-timeout=9s"]).metric_resolution,
        Duration::from_secs(10)
    );
}

#[test]
fn request_timeout_must_fit_in_90_percent_of_the_resolution() {
    assert_eq!(
        validation_error(&["--metric-resolution=10s"]),
        "--kubelet-request-timeout (10s) must be at most 90% of --metric-resolution (10s), \
         so that a scrape finishes within one resolution"
    );
    assert_eq!(
        validation_error(&[
            "--metric-resolution=1m",
            "--kubelet-request-timeout=54.001s"
        ]),
        "--kubelet-request-timeout (54.001s) must be at most 90% of --metric-resolution \
         (1m0s), so that a scrape finishes within one resolution"
    );
    let cfg = config(&["--metric-resolution=1m", "--kubelet-request-timeout=54s"]);
    assert_eq!(cfg.kubelet.request_timeout, Duration::from_secs(54));
}

#[test]
fn request_timeout_must_be_positive() {
    assert_eq!(
        validation_error(&["--kubelet-request-timeout=0s"]),
        "--kubelet-request-timeout should be positive, but value 0s provided"
    );
    assert_eq!(
        validation_error(&["--kubelet-request-timeout=-1s"]),
        "--kubelet-request-timeout should be positive, but value -1s provided"
    );
}

#[test]
fn kubelet_tls_flag_combinations() {
    assert_eq!(
        validation_error(&[
            "--kubelet-insecure-tls",
            "--kubelet-certificate-authority=/ca.crt"
        ]),
        "cannot use both --kubelet-certificate-authority and --kubelet-insecure-tls"
    );
    let want = "need both --kubelet-client-key and --kubelet-client-certificate";
    assert_eq!(
        validation_error(&["--kubelet-client-certificate=/c.crt"]),
        want
    );
    assert_eq!(validation_error(&["--kubelet-client-key=/c.key"]), want);
    let cfg = config(&[
        "--kubelet-client-certificate=/c.crt",
        "--kubelet-client-key=/c.key",
    ]);
    let pair = cfg.kubelet.client_cert.unwrap();
    assert_eq!((pair.cert, pair.key), ("/c.crt".into(), "/c.key".into()));
    // An empty value means "not given", as in Go.
    let cfg = config(&["--kubelet-insecure-tls", "--kubelet-certificate-authority="]);
    assert_eq!(cfg.kubelet.certificate_authority, None);
}

#[test]
fn serving_cert_files_come_together() {
    let want = "need both --tls-cert-file and --tls-private-key-file";
    assert_eq!(validation_error(&["--tls-cert-file=/tls.crt"]), want);
    assert_eq!(validation_error(&["--tls-private-key-file=/tls.key"]), want);
    let cfg = config(&[
        "--tls-cert-file=/tls.crt",
        "--tls-private-key-file=/tls.key",
    ]);
    let files = cfg.serving.cert.files.unwrap();
    assert_eq!(
        (files.cert, files.key),
        ("/tls.crt".into(), "/tls.key".into())
    );
}

#[test]
fn ring_depth_and_body_limit_ranges() {
    for depth in ["1", "17"] {
        assert_eq!(
            validation_error(&[&format!("--storage-ring-depth={depth}")]),
            format!("--storage-ring-depth must be between 2 and 16, but value {depth} provided")
        );
    }
    assert_eq!(
        validation_error(&["--kubelet-max-body-bytes=100"]),
        "--kubelet-max-body-bytes must be at least 1024, but value 100 provided"
    );
}

#[test]
fn first_validation_error_wins() {
    let err = validation_error(&[
        "--metric-resolution=5s",
        "--kubelet-insecure-tls",
        "--kubelet-certificate-authority=/ca.crt",
        "--kubelet-client-key=/k",
    ]);
    assert!(err.starts_with("--metric-resolution should be"), "{err}");
    let err = validation_error(&[
        "--kubelet-request-timeout=-1s",
        "--kubelet-insecure-tls",
        "--kubelet-certificate-authority=/ca.crt",
    ]);
    assert!(err.starts_with("cannot use both"), "{err}");
}

#[test]
fn malformed_values_are_rejected_naming_the_flag() {
    let cases = [
        (
            &["--metric-resolution=15"][..],
            "--metric-resolution",
            "missing unit",
        ),
        (
            &["--metric-resolution=fast"],
            "--metric-resolution",
            "invalid duration",
        ),
        (
            &["--kubelet-request-timeout=10x"],
            "--kubelet-request-timeout",
            "unknown unit",
        ),
        (&["--secure-port=70000"], "--secure-port", "70000"),
        (&["--bind-address=localhost"], "--bind-address", "localhost"),
        (&["--kubelet-port=http"], "--kubelet-port", "http"),
        (&["--v=loud"], "--v", "loud"),
    ];
    for (args, flag, detail) in cases {
        let err = parse_error(args).to_string();
        assert!(
            err.contains(flag) && err.contains(detail),
            "{args:?}: {err}"
        );
    }
    assert_eq!(
        parse_error(&["--no-such-flag"]).kind(),
        ErrorKind::UnknownArgument
    );
}

#[test]
fn bind_address_is_added_to_generated_certificate_ips() {
    let cfg = config(&["--bind-address=10.1.2.3"]);
    assert_eq!(cfg.serving.bind_address.to_string(), "10.1.2.3");
    assert_eq!(
        cfg.serving.cert.extra_ips,
        ["10.1.2.3".parse::<std::net::IpAddr>().unwrap()]
    );
    assert!(
        config(&["--bind-address=::"])
            .serving
            .cert
            .extra_ips
            .is_empty()
    );
}

#[test]
fn the_server_has_no_simulator_or_bench_subcommands() {
    // They live in metrics-server-sim and metrics-server-bench, outside the image's binary.
    for tool in ["demo", "sim-nodes", "bench", "sim-cluster", "raw-fetch"] {
        assert!(
            parse(&[tool]).is_err(),
            "{tool} is a subcommand of the server"
        );
    }
    assert!(matches!(
        parse(&["certs", "--out-dir", "X"]).unwrap().command,
        Some(Command::Certs(_))
    ));
}

#[test]
fn version_flag_prints_the_version() {
    let err = parse_error(&["--version"]);
    assert_eq!(err.kind(), ErrorKind::DisplayVersion);
    assert_eq!(err.exit_code(), 0);
    assert!(err.to_string().contains(env!("CARGO_PKG_VERSION")), "{err}");
    // Upstream has no `-V`.
    assert_eq!(parse_error(&["-V"]).kind(), ErrorKind::UnknownArgument);
}

#[test]
fn help_lists_upstream_flag_names() {
    let help = parse_error(&["--help"]).to_string();
    for flag in [
        "--kubeconfig",
        "--metric-resolution",
        "--kubelet-port",
        "--kubelet-use-node-status-port",
        "--kubelet-preferred-address-types",
        "--kubelet-insecure-tls",
        "--kubelet-certificate-authority",
        "--kubelet-client-certificate",
        "--kubelet-client-key",
        "--kubelet-request-timeout",
        "--node-selector",
        "--secure-port",
        "--bind-address",
        "--cert-dir",
        "--tls-cert-file",
        "--tls-private-key-file",
        "--v",
        "--version",
    ] {
        assert!(help.contains(flag), "{flag} missing from --help");
    }
}

#[test]
fn request_path_flags_have_upstream_defaults_and_list_syntax() {
    let cfg = config(&[]).auth;
    assert_eq!(cfg.always_allow_paths, ["/healthz", "/readyz", "/livez"]);
    assert_eq!(cfg.requestheader.username_headers, ["x-remote-user"]);
    assert_eq!(cfg.requestheader.group_headers, ["x-remote-group"]);
    assert_eq!(cfg.requestheader.extra_headers_prefix, ["x-remote-extra-"]);
    assert!(cfg.requestheader.allowed_names.is_empty());
    assert_eq!(cfg.token_cache_ttl, Duration::from_secs(10));
    assert_eq!(cfg.authorized_ttl, Duration::from_secs(10));
    assert_eq!(cfg.unauthorized_ttl, Duration::from_secs(10));
    assert_eq!(cfg.max_requests_inflight, 400);
    assert_eq!(cfg.request_timeout, Duration::from_secs(60));
    assert!(!cfg.skip_lookup && !cfg.tolerate_lookup_failure && !cfg.self_managed_ca);

    let cfg = config(&[
        "--authorization-always-allow-paths=/metrics",
        "--requestheader-allowed-names=front-proxy-client,aggregator",
        "--requestheader-client-ca-file=/ca.crt",
        "--authentication-skip-lookup",
        "--max-requests-inflight=0",
        "--request-timeout=30s",
        "--tls-min-version=VersionTLS13",
    ])
    .auth;
    assert_eq!(
        cfg.always_allow_paths,
        ["/metrics"],
        "setting the flag replaces the list"
    );
    assert_eq!(
        cfg.requestheader.allowed_names,
        ["front-proxy-client", "aggregator"]
    );
    assert_eq!(
        cfg.requestheader.client_ca_file,
        Some(PathBuf::from("/ca.crt"))
    );
    assert!(cfg.skip_lookup);
    assert_eq!(cfg.max_requests_inflight, 0);
    assert_eq!(cfg.request_timeout, Duration::from_secs(30));
}

#[test]
fn request_path_flags_are_validated() {
    assert_eq!(
        validation_error(&["--tls-cipher-suites=TLS_RSA_WITH_RC4_128_SHA"]),
        "--tls-cipher-suites: TLS_RSA_WITH_RC4_128_SHA is insecure and not offered by this server; use ECDHE suites with AES-GCM or ChaCha20-Poly1305"
    );
    assert!(validation_error(&["--tls-min-version=TLS12"]).contains("VersionTLS12"));
    assert!(validation_error(&["--request-timeout=0s"]).contains("--request-timeout"));
    assert!(
        validation_error(&[
            "--self-managed-ca",
            "--tls-cert-file=a",
            "--tls-private-key-file=b"
        ])
        .contains("--self-managed-ca")
    );
}
