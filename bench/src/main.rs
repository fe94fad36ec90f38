//! `metrics-server-bench`: the scale harness, or one of the helper processes it starts.

use clap::Parser;
use metrics_server::config::LoggingFormat;
use metrics_server_bench::config::{BenchCli, BenchHelper};

fn main() -> std::process::ExitCode {
    metrics_server::memory::tune_allocator();
    let cli = BenchCli::parse();
    let level = if cli.helper.is_some() { "warn" } else { "info" };
    metrics_server::logging::init(level, LoggingFormat::Text, false);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = match cli.helper {
        None => runtime.block_on(metrics_server_bench::run(cli.bench)),
        Some(BenchHelper::SimCluster(args)) => {
            runtime.block_on(metrics_server_bench::sim_cluster::run(args))
        }
        Some(BenchHelper::RawFetch(args)) => {
            runtime.block_on(metrics_server_bench::raw_fetch::run(args))
        }
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("Error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
