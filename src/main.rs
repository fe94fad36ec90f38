//! `metrics-server`: flags → validated config → run (or `demo`).

use clap::Parser;
use metrics_server::config::{Cli, Command, LoggingFormat};

fn main() -> std::process::ExitCode {
    metrics_server::memory::tune_allocator();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = match cli.command {
        Some(Command::Certs(args)) => match metrics_server::certs::run(&args) {
            Ok(written) => {
                println!("{}", metrics_server::certs::instructions(&written, &args));
                Ok(())
            }
            Err(err) => Err(err),
        },
        Some(Command::Demo(args)) => {
            init_logging("info", LoggingFormat::Text, false);
            runtime.block_on(metrics_server::sim::demo::run(args))
        }
        Some(Command::SimNodes(args)) => {
            init_logging("info", LoggingFormat::Text, false);
            runtime.block_on(metrics_server::sim::agent::run(args))
        }
        Some(Command::Bench(args)) => {
            init_logging("info", LoggingFormat::Text, false);
            runtime.block_on(metrics_server::bench::run(args))
        }
        Some(Command::SimCluster(args)) => {
            init_logging("warn", LoggingFormat::Text, false);
            runtime.block_on(metrics_server::bench::cluster::run(args))
        }
        Some(Command::RawFetch(args)) => {
            init_logging("warn", LoggingFormat::Text, false);
            runtime.block_on(metrics_server::bench::raw_fetch::run(args))
        }
        None => match cli.serve.validate() {
            Ok(cfg) => {
                init_logging(
                    &cfg.log_filter(),
                    cfg.compat.logging_format,
                    cfg.compat.log_split_stream,
                );
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

/// Logs to stderr (or errors to stderr and the rest to stdout with `--log-*-split-stream`),
/// as text or JSON (`--logging-format`), fields first then the message.
fn init_logging(filter: &str, format: LoggingFormat, split_stream: bool) {
    use tracing_subscriber::fmt::writer::{BoxMakeWriter, MakeWriterExt};
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let writer = if split_stream {
        let errors = std::io::stderr.with_max_level(tracing::Level::ERROR);
        let rest = std::io::stdout.with_min_level(tracing::Level::WARN);
        BoxMakeWriter::new(errors.and(rest))
    } else {
        BoxMakeWriter::new(std::io::stderr)
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    match format {
        LoggingFormat::Text => builder.init(),
        LoggingFormat::Json => builder.json().flatten_event(true).init(),
    }
}
