//! `metrics-server`: flags → validated config → run (or `certs`, or `diagnose`).

use clap::Parser;
use metrics_server::config::{Cli, Command};

fn main() -> std::process::ExitCode {
    metrics_server::memory::tune_allocator();
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Command::Certs(args)) => match metrics_server::certs::run(&args) {
            Ok(written) => {
                println!("{}", metrics_server::certs::instructions(&written, &args));
                Ok(())
            }
            Err(err) => Err(err),
        },
        Some(Command::Diagnose(args)) => {
            return std::process::ExitCode::from(metrics_server::diagnose::main(*args));
        }
        None => match cli.serve.validate() {
            Ok(cfg) => {
                metrics_server::logging::init(
                    &cfg.log_filter(),
                    cfg.compat.logging_format,
                    cfg.compat.log_split_stream,
                );
                match tokio::runtime::Runtime::new() {
                    Ok(runtime) => runtime.block_on(metrics_server::server::run(cfg)),
                    Err(err) => Err(anyhow::Error::new(err).context("starting the async runtime")),
                }
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
