//! `metrics-server-sim`: `demo` (a simulated cluster plus the server on loopback) or `nodes`
//! (simulated nodes on a real Kubernetes API).

use clap::Parser;
use metrics_server::config::LoggingFormat;
use metrics_server_sim::config::{SimCli, SimCommand};

fn main() -> std::process::ExitCode {
    metrics_server::memory::tune_allocator();
    let cli = SimCli::parse();
    metrics_server::logging::init("info", LoggingFormat::Text, false);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = match cli.command {
        SimCommand::Demo(args) => runtime.block_on(metrics_server_sim::demo::run(args)),
        SimCommand::Nodes(args) => runtime.block_on(metrics_server_sim::real_api::run(args)),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("Error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
