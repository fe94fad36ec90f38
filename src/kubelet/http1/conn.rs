//! One connection to a kubelet: plain TCP (`--deprecated-kubelet-completely-insecure`) or TLS
//! over TCP ([`TlsStream`]), and how it is opened. An idle connection is nothing but the socket
//! and, for TLS, the rustls session.

use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::FutureExt;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use super::Http1Error;
use super::tls_stream::TlsStream;

/// An open connection.
pub enum Conn {
    Plain(TcpStream),
    // Boxed: the rustls session is large, and idle connections sit in a map.
    Tls(Box<TlsStream>),
}

impl Conn {
    /// Polls one read without waiting. `true` when nothing arrived and the peer has not
    /// closed: the state an idle connection must be in to be used again. (Nothing is
    /// allocated unless bytes arrived.)
    pub fn is_quiet(&mut self) -> bool {
        let mut byte = [0u8; 1];
        tokio::task::unconstrained(self.read(&mut byte))
            .now_or_never()
            .is_none()
    }
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(tcp) => Pin::new(tcp).poll_read(cx, buf),
            Conn::Tls(tls) => Pin::new(tls.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Conn::Plain(tcp) => Pin::new(tcp).poll_write(cx, buf),
            Conn::Tls(tls) => Pin::new(tls.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(tcp) => Pin::new(tcp).poll_flush(cx),
            Conn::Tls(tls) => Pin::new(tls.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(tcp) => Pin::new(tcp).poll_shutdown(cx),
            Conn::Tls(tls) => Pin::new(tls.as_mut()).poll_shutdown(cx),
        }
    }
}

/// Opens connections: TLS when a client configuration is given, plain TCP otherwise.
pub struct Connector {
    tls: Option<Arc<rustls::ClientConfig>>,
}

impl Connector {
    /// Offers only `http/1.1` by ALPN.
    pub fn new(tls: Option<rustls::ClientConfig>) -> Self {
        let tls = tls.map(|mut config| {
            config.alpn_protocols = vec![b"http/1.1".to_vec()];
            Arc::new(config)
        });
        Connector { tls }
    }

    /// Connects to `host` (a name or an unbracketed IP) and completes the TLS handshake.
    pub async fn connect(&self, host: &str, port: u16) -> Result<Conn, Http1Error> {
        let tcp = TcpStream::connect((host, port))
            .await
            .map_err(|source| Http1Error::Connect {
                authority: super::authority(host, port),
                source,
            })?;
        // One small request per exchange: send it at once.
        let _ = tcp.set_nodelay(true);
        let Some(tls) = &self.tls else {
            return Ok(Conn::Plain(tcp));
        };
        let stream = TlsStream::connect(tls.clone(), server_name(host)?, tcp)
            .await
            .map_err(Http1Error::Handshake)?;
        Ok(Conn::Tls(Box::new(stream)))
    }
}

/// The name the certificate is checked against: the IP itself for an IP, else a DNS name.
fn server_name(host: &str) -> Result<ServerName<'static>, Http1Error> {
    match host.parse::<IpAddr>() {
        Ok(ip) => Ok(ServerName::IpAddress(ip.into())),
        Err(_) => ServerName::try_from(host.to_owned())
            .map_err(|_| Http1Error::InvalidRequest("host name")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ips_are_checked_as_ips_and_names_as_dns_names() {
        assert!(matches!(
            server_name("10.0.0.1"),
            Ok(ServerName::IpAddress(_))
        ));
        assert!(matches!(
            server_name("fd00::1"),
            Ok(ServerName::IpAddress(_))
        ));
        assert!(matches!(
            server_name("node-a.example"),
            Ok(ServerName::DnsName(_))
        ));
        assert!(server_name("bad name!").is_err());
    }
}
