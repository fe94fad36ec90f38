//! `metrics-server`: flags → validated config → run (or `demo`).

use clap::Parser;
use metrics_server::config::{Cli, Command};

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = match cli.command {
        Some(Command::Demo(args)) => {
            init_logging("info");
            runtime.block_on(metrics_server::sim::demo::run(args))
        }
        Some(Command::Bench(args)) => {
            init_logging("info");
            runtime.block_on(metrics_server::bench::run(args))
        }
        Some(Command::SimCluster(args)) => {
            init_logging("warn");
            runtime.block_on(metrics_server::bench::cluster::run(args))
        }
        Some(Command::RawFetch(args)) => {
            init_logging("warn");
            runtime.block_on(metrics_server::bench::raw_fetch::run(args))
        }
        None => match cli.serve.validate() {
            Ok(cfg) => {
                init_logging(&cfg.log_filter());
                runtime.block_on(metrics_server::server::run(cfg))
            }
            Err(err) => {
                eprintln!("Error: {err}");
                return std::process::ExitCode::FAILURE;
            }
        },
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("Error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn init_logging(filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
