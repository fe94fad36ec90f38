//! Log output: text or JSON lines on stderr (or errors on stderr and the rest on stdout with
//! `--log-*-split-stream`), filtered by a `tracing` filter. Colour codes only go to a
//! terminal: container runtimes capture stderr into files, where escape bytes are noise.

use std::io::IsTerminal;

use tracing_subscriber::fmt::writer::{BoxMakeWriter, MakeWriterExt};

use crate::config::LoggingFormat;

/// Installs the process's log subscriber; a filter that does not parse falls back to `info`.
pub fn init(filter: &str, format: LoggingFormat, split_stream: bool) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let (writer, ansi) = if split_stream {
        let errors = std::io::stderr.with_max_level(tracing::Level::ERROR);
        let rest = std::io::stdout.with_min_level(tracing::Level::WARN);
        let ansi = std::io::stderr().is_terminal() && std::io::stdout().is_terminal();
        (BoxMakeWriter::new(errors.and(rest)), ansi)
    } else {
        (
            BoxMakeWriter::new(std::io::stderr),
            std::io::stderr().is_terminal(),
        )
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(ansi);
    match format {
        LoggingFormat::Text => builder.init(),
        LoggingFormat::Json => builder.json().flatten_event(true).init(),
    }
}
