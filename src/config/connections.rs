//! Our flags for the serving connections: a deadline for every phase of a connection and a cap
//! on open connections. Defaults are the Go apiserver's values where it has one
//! (`SecureServingInfo.Serve`, x/net/http2); the write-stall deadline and the cap are ours.

use std::time::Duration;

use clap::Args;

use super::GoDuration;

/// Go's HTTP/2 client-preface timeout (x/net/http2 `prefaceTimeout`).
pub const HTTP2_PREFACE_TIMEOUT: Duration = Duration::from_secs(10);

/// Connection deadlines and the connection cap, flattened into `ServeArgs`.
#[derive(Debug, Args)]
pub struct ConnectionArgs {
    /// How long a client may take for the TLS handshake, and then for each request head
    /// (HTTP/1.1, counted from its first byte; the first request from the end of the
    /// handshake). HTTP/2 clients get the lesser of this and 10s for their preface.
    #[arg(long, value_name = "DURATION", default_value = "32s", value_parser = GoDuration::parse)]
    pub read_header_timeout: GoDuration,
    /// How long a connection with no request in flight is kept open (HTTP/1.1 keep-alive,
    /// HTTP/2 without open streams: GOAWAY).
    #[arg(long, value_name = "DURATION", default_value = "90s", value_parser = GoDuration::parse)]
    pub idle_connection_timeout: GoDuration,
    /// How long a response may make no progress on its connection (a client that does not
    /// read) before the connection is closed.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = GoDuration::parse)]
    pub write_stall_timeout: GoDuration,
    /// Most connections open at once. At the cap, the connection idle the longest among those
    /// that have not authenticated with a client certificate (the aggregator's) is closed to
    /// admit a new one, so health probes and the aggregator always get through.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_CONNECTIONS)]
    pub max_connections: u32,
}

/// The default of `--max-connections`.
pub const DEFAULT_MAX_CONNECTIONS: u32 = 2048;

/// The validated connection settings.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// TLS handshake, and each HTTP/1.1 request head.
    pub read_header: Duration,
    /// The HTTP/2 client preface after the handshake.
    pub http2_preface: Duration,
    /// No request in flight.
    pub idle: Duration,
    /// Responses pending and no bytes written.
    pub write_stall: Duration,
    pub max_connections: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            read_header: Duration::from_secs(32),
            http2_preface: HTTP2_PREFACE_TIMEOUT,
            idle: Duration::from_secs(90),
            write_stall: Duration::from_secs(30),
            max_connections: DEFAULT_MAX_CONNECTIONS as usize,
        }
    }
}

/// A connection flag out of range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectionFlagError {
    #[error("--{flag} must be positive, but value {value} provided")]
    NotPositive {
        flag: &'static str,
        value: GoDuration,
    },
    #[error("--max-connections must be at least 1, but value 0 provided")]
    NoConnections,
}

impl ConnectionArgs {
    pub fn validate(&self) -> Result<ConnectionLimits, ConnectionFlagError> {
        let read_header = positive("read-header-timeout", self.read_header_timeout)?;
        if self.max_connections == 0 {
            return Err(ConnectionFlagError::NoConnections);
        }
        Ok(ConnectionLimits {
            read_header,
            http2_preface: read_header.min(HTTP2_PREFACE_TIMEOUT),
            idle: positive("idle-connection-timeout", self.idle_connection_timeout)?,
            write_stall: positive("write-stall-timeout", self.write_stall_timeout)?,
            max_connections: self.max_connections as usize,
        })
    }
}

fn positive(flag: &'static str, value: GoDuration) -> Result<Duration, ConnectionFlagError> {
    value
        .to_std()
        .filter(|d| !d.is_zero())
        .ok_or(ConnectionFlagError::NotPositive { flag, value })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(read_header: &str, max: u32) -> ConnectionArgs {
        ConnectionArgs {
            read_header_timeout: GoDuration::parse(read_header).unwrap(),
            idle_connection_timeout: GoDuration::from_secs(90),
            write_stall_timeout: GoDuration::from_secs(30),
            max_connections: max,
        }
    }

    #[test]
    fn the_preface_deadline_is_the_shorter_of_go_s_and_the_header_deadline() {
        assert_eq!(
            args("32s", 10).validate().unwrap().http2_preface,
            HTTP2_PREFACE_TIMEOUT
        );
        assert_eq!(
            args("2s", 10).validate().unwrap().http2_preface,
            Duration::from_secs(2)
        );
    }

    #[test]
    fn zero_deadlines_and_no_connections_are_refused() {
        assert!(matches!(
            args("0s", 10).validate(),
            Err(ConnectionFlagError::NotPositive {
                flag: "read-header-timeout",
                ..
            })
        ));
        assert_eq!(
            args("1s", 0).validate(),
            Err(ConnectionFlagError::NoConnections)
        );
    }
}
