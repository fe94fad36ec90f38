//! A TLS client stream on rustls's unbuffered API. The buffers of received and of outgoing
//! TLS bytes are ours, so a connection holds them only while bytes are in flight: an idle
//! kept connection is the socket and the rustls session. (The buffered API keeps a 4 KB
//! record buffer per connection after any read: 21 MB across 5,000 kept kubelet
//! connections.)
//!
//! Handshake messages, key updates and alerts that rustls wants sent are queued in
//! `outgoing` and written before anything else is read or written.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use rustls::client::UnbufferedClientConnection;
use rustls::pki_types::ServerName;
use rustls::unbuffered::{
    ConnectionState, EncodeError, EncryptError, InsufficientSizeError, UnbufferedStatus,
};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use crate::pending_bytes::PendingBytes;

/// Room reserved for one socket read: a whole TLS record (16 KiB of data plus overhead).
const READ_BYTES: usize = 16 * 1024 + 512;

/// A TLS connection over TCP.
pub struct TlsStream {
    tcp: TcpStream,
    tls: UnbufferedClientConnection,
    /// Received TLS bytes not yet processed; released whenever it empties.
    incoming: Vec<u8>,
    /// Encrypted bytes to write, from `sent` on.
    outgoing: Vec<u8>,
    sent: usize,
    /// Decrypted bytes not yet read.
    plain: PendingBytes,
    /// The peer sent `close_notify` (a clean end of data).
    peer_closed: bool,
}

/// Where processing the received records stopped.
enum Step {
    /// More bytes from the peer are needed (to finish the handshake, or for more data).
    NeedInput,
    /// The handshake is done and nothing more was received.
    Writable,
    /// The data given to write was encrypted into `outgoing`.
    Wrote,
    /// The peer closed the connection.
    Closed,
}

fn tls_error(err: rustls::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, err)
}

/// Appends what `write` produces to `out`, growing the room as long as rustls asks for more.
fn append(
    out: &mut Vec<u8>,
    mut write: impl FnMut(&mut [u8]) -> Result<usize, Option<InsufficientSizeError>>,
) -> io::Result<()> {
    let start = out.len();
    let mut room = 512;
    loop {
        out.resize(start + room, 0);
        match write(&mut out[start..]) {
            Ok(n) => {
                out.truncate(start + n);
                return Ok(());
            }
            Err(Some(InsufficientSizeError { required_size })) if required_size > room => {
                room = required_size;
            }
            Err(_) => {
                out.truncate(start);
                return Err(io::Error::other("TLS record could not be encoded"));
            }
        }
    }
}

impl TlsStream {
    /// Connects over `tcp` and completes the handshake.
    pub async fn connect(
        config: Arc<rustls::ClientConfig>,
        name: ServerName<'static>,
        tcp: TcpStream,
    ) -> io::Result<TlsStream> {
        let tls = UnbufferedClientConnection::new(config, name).map_err(tls_error)?;
        let mut stream = TlsStream {
            tcp,
            tls,
            incoming: Vec::new(),
            outgoing: Vec::new(),
            sent: 0,
            plain: PendingBytes::default(),
            peer_closed: false,
        };
        std::future::poll_fn(|cx| stream.poll_handshake(cx)).await?;
        Ok(stream)
    }

    fn poll_handshake(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            ready!(self.poll_send(cx))?;
            match self.step(None)? {
                Step::Writable if self.outgoing.is_empty() => return Poll::Ready(Ok(())),
                Step::Writable | Step::Wrote => {}
                Step::NeedInput if self.outgoing.is_empty() => ready!(self.poll_fill(cx))?,
                Step::NeedInput => {}
                Step::Closed => {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::ConnectionAborted,
                        "the peer closed the connection during the TLS handshake",
                    )));
                }
            }
        }
    }

    /// Processes the received records until rustls needs I/O; with `write`, encrypts it once
    /// the handshake allows.
    fn step(&mut self, write: Option<&[u8]>) -> io::Result<Step> {
        loop {
            let UnbufferedStatus { mut discard, state } =
                self.tls.process_tls_records(&mut self.incoming);
            let step = match state.map_err(tls_error)? {
                ConnectionState::ReadTraffic(mut traffic) => {
                    while let Some(record) = traffic.next_record() {
                        let record = record.map_err(tls_error)?;
                        discard += record.discard;
                        self.plain.extend(record.payload);
                    }
                    None
                }
                ConnectionState::EncodeTlsData(mut encode) => {
                    append(&mut self.outgoing, |buf| {
                        encode.encode(buf).map_err(|e| match e {
                            EncodeError::InsufficientSize(size) => Some(size),
                            _ => None,
                        })
                    })?;
                    None
                }
                // The encoded bytes are in `outgoing`, written before anything else happens.
                ConnectionState::TransmitTlsData(transmit) => {
                    transmit.done();
                    None
                }
                ConnectionState::BlockedHandshake => Some(Step::NeedInput),
                ConnectionState::WriteTraffic(mut traffic) => match write {
                    Some(data) => {
                        append(&mut self.outgoing, |buf| {
                            traffic.encrypt(data, buf).map_err(|e| match e {
                                EncryptError::InsufficientSize(size) => Some(size),
                                _ => None,
                            })
                        })?;
                        Some(Step::Wrote)
                    }
                    None => Some(Step::Writable),
                },
                ConnectionState::PeerClosed | ConnectionState::Closed => Some(Step::Closed),
                _ => return Err(io::Error::other("unexpected TLS connection state")),
            };
            self.incoming.drain(..discard.min(self.incoming.len()));
            if self.incoming.is_empty() && self.incoming.capacity() > 0 {
                self.incoming = Vec::new();
            }
            if let Some(step) = step {
                return Ok(step);
            }
        }
    }

    /// Writes `outgoing` out.
    fn poll_send(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.sent < self.outgoing.len() {
            let n = ready!(Pin::new(&mut self.tcp).poll_write(cx, &self.outgoing[self.sent..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.sent += n;
        }
        // Released once written, like `incoming` once read: a kept connection is idle for most
        // of a cycle, and keeping the buffer of its last request (about 1 KB with a bearer
        // token) would cost that much per node, 15 MB at 15,000 nodes.
        if self.outgoing.capacity() != 0 {
            self.outgoing = Vec::new();
        }
        self.sent = 0;
        Poll::Ready(Ok(()))
    }

    /// Reads what the socket has into `incoming`; allocates only once bytes are there.
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            ready!(self.tcp.poll_read_ready(cx))?;
            self.incoming.reserve(READ_BYTES);
            match self.tcp.try_read_buf(&mut self.incoming) {
                Ok(0) => {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "peer closed connection without sending TLS close_notify",
                    )));
                }
                Ok(_) => return Poll::Ready(Ok(())),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if self.incoming.is_empty() {
                        self.incoming = Vec::new();
                    }
                }
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}

impl AsyncRead for TlsStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if buf.remaining() == 0 || this.plain.drain_into(buf) || this.peer_closed {
                return Poll::Ready(Ok(()));
            }
            ready!(this.poll_send(cx))?;
            match this.step(None)? {
                Step::Closed => this.peer_closed = true,
                _ if !this.plain.is_empty() || !this.outgoing.is_empty() => {}
                _ => ready!(this.poll_fill(cx))?,
            }
        }
    }
}

impl AsyncWrite for TlsStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.poll_send(cx))?;
        loop {
            match this.step(Some(data))? {
                Step::Wrote => {
                    // Accepted; whatever the socket does not take now goes out on flush.
                    if let Poll::Ready(Err(e)) = this.poll_send(cx) {
                        return Poll::Ready(Err(e));
                    }
                    return Poll::Ready(Ok(data.len()));
                }
                Step::NeedInput | Step::Writable => {
                    ready!(this.poll_send(cx))?;
                    ready!(this.poll_fill(cx))?;
                }
                Step::Closed => return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into())),
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_send(cx))?;
        Pin::new(&mut this.tcp).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_send(cx))?;
        Pin::new(&mut this.tcp).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    /// What the test server does when asked for `n` bytes.
    const CLOSE_NOTIFY: u32 = 0;
    const DROP_TCP: u32 = u32::MAX;

    /// A TLS server on 127.0.0.1 (only `versions`): each 4-byte request `n` gets `n` bytes of
    /// a pattern back; 0 closes with `close_notify`, `u32::MAX` drops the socket without it.
    async fn server(
        versions: &[&'static rustls::SupportedProtocolVersion],
    ) -> (std::net::SocketAddr, Arc<rustls::ClientConfig>) {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let cert_der = cert.cert.der().clone();
        let key =
            rustls::pki_types::PrivateKeyDer::try_from(cert.signing_key.serialize_der()).unwrap();
        let config = rustls::ServerConfig::builder_with_protocol_versions(versions)
            .with_no_client_auth()
            .with_single_cert(vec![cert_der.clone()], key)
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    loop {
                        let Ok(n) = tls.read_u32().await else { return };
                        match n {
                            CLOSE_NOTIFY => {
                                let _ = tls.shutdown().await;
                                return;
                            }
                            DROP_TCP => return drop(tls.into_inner().0),
                            n => {
                                let body: Vec<u8> = (0..n).map(|i| (i % 251) as u8).collect();
                                if tls.write_all(&body).await.is_err() {
                                    return;
                                }
                            }
                        }
                    }
                });
            }
        });
        let mut roots = rustls::RootCertStore::empty();
        roots.add(cert_der).unwrap();
        let client = rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth();
        (addr, Arc::new(client))
    }

    async fn connect(addr: std::net::SocketAddr, config: Arc<rustls::ClientConfig>) -> TlsStream {
        let tcp = TcpStream::connect(addr).await.unwrap();
        let name = ServerName::try_from("localhost").unwrap();
        TlsStream::connect(config, name, tcp).await.unwrap()
    }

    /// Asks for `n` bytes and reads them with reads of at most `chunk` bytes.
    async fn exchange(stream: &mut TlsStream, n: u32, chunk: usize) -> Vec<u8> {
        stream.write_u32(n).await.unwrap();
        stream.flush().await.unwrap();
        let mut got = Vec::new();
        let mut buf = vec![0u8; chunk];
        while got.len() < n as usize {
            let read = stream.read(&mut buf).await.unwrap();
            assert!(read > 0, "early end after {} of {n} bytes", got.len());
            got.extend_from_slice(&buf[..read]);
        }
        got
    }

    #[tokio::test]
    async fn responses_span_records_and_an_idle_connection_holds_no_buffers() {
        for versions in [
            &[&rustls::version::TLS13][..],
            &[&rustls::version::TLS12][..],
        ] {
            let (addr, config) = server(versions).await;
            let mut stream = connect(addr, config).await;
            for (n, chunk) in [(100_000u32, 65_536), (37, 7), (50_000, 1_000)] {
                let got = exchange(&mut stream, n, chunk).await;
                let want: Vec<u8> = (0..n).map(|i| (i % 251) as u8).collect();
                assert_eq!(got, want, "{versions:?} {n} bytes read {chunk} at a time");
                assert_eq!(
                    stream.incoming.capacity(),
                    0,
                    "no received-bytes buffer kept"
                );
                assert_eq!(stream.plain.capacity(), 0, "no plaintext buffer kept");
                assert_eq!(stream.outgoing.capacity(), 0, "no outgoing buffer kept");
            }
        }
    }

    #[tokio::test]
    async fn close_notify_is_a_clean_end_and_a_dropped_socket_is_not() {
        let (addr, config) = server(&[&rustls::version::TLS13]).await;
        let mut stream = connect(addr, config.clone()).await;
        stream.write_u32(CLOSE_NOTIFY).await.unwrap();
        let mut buf = [0u8; 16];
        assert_eq!(stream.read(&mut buf).await.unwrap(), 0);

        let mut stream = connect(addr, config).await;
        stream.write_u32(DROP_TCP).await.unwrap();
        let err = stream.read(&mut buf).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    }

    #[tokio::test]
    async fn a_server_certificate_for_another_name_fails_the_handshake_with_the_rustls_error() {
        let (addr, config) = server(&[&rustls::version::TLS13]).await;
        let tcp = TcpStream::connect(addr).await.unwrap();
        let name = ServerName::try_from("other.example").unwrap();
        let Err(err) = TlsStream::connect(config, name, tcp).await else {
            panic!("the handshake must fail");
        };
        let inner = err
            .get_ref()
            .and_then(|e| e.downcast_ref::<rustls::Error>());
        assert!(
            matches!(inner, Some(rustls::Error::InvalidCertificate(_))),
            "{err:?}"
        );
    }
}
