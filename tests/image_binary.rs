//! The binary the image ships is the server alone: the simulated cluster (`metrics-server-sim`)
//! and the scale harness (`metrics-server-bench`) are crates beside it, and none of their code,
//! source paths or subcommands are linked into `metrics-server`.

#![allow(clippy::expect_used)]

/// Text that only simulator or bench code brings into a binary: crate names and source paths
/// (in debug info and panic locations) and their subcommands' help.
const TOOL_MARKERS: &[&str] = &[
    "metrics_server_sim",
    "metrics_server_bench",
    "src/sim/",
    "src/bench/",
    "sim/src/",
    "bench/src/",
    "sim-cluster",
    "raw-fetch",
    "Run a simulated cluster",
];

#[test]
fn the_server_binary_holds_no_simulator_or_bench_code() {
    let path = env!("CARGO_BIN_EXE_metrics-server");
    let bytes = std::fs::read(path).expect("the server binary is built for integration tests");
    let found: Vec<&str> = TOOL_MARKERS
        .iter()
        .copied()
        .filter(|marker| memchr::memmem::find(&bytes, marker.as_bytes()).is_some())
        .collect();
    assert!(found.is_empty(), "{path} contains {found:?}");
}
