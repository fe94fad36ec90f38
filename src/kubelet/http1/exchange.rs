//! One request and its response on an open connection: send the head, read the response head,
//! then the body by `Content-Length`, chunked, or until the server closes, under the body
//! limit. A body of known length is read into one buffer of that size; nothing is kept
//! afterwards, so an idle connection holds no buffer of ours.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::Http1Error;
use super::chunked::ChunkedDecoder;
use super::head::{self, Framing, Head, MAX_HEAD_BYTES};

/// First size of the buffer the head is read into (a kubelet's head is ~150 bytes).
const HEAD_READ_BYTES: usize = 4 * 1024;
/// Most bytes asked of the connection at once while the body length is unknown.
const BODY_READ_BYTES: usize = 16 * 1024;
/// Largest buffer allocated up front from a `Content-Length` (beyond it, it grows as data
/// arrives).
const MAX_PREALLOC_BYTES: usize = 8 * 1024 * 1024;

/// A complete 200 response.
#[derive(Debug)]
pub struct Exchanged {
    pub body: Bytes,
    /// The response was read to its exact end and the server allows another request.
    pub reusable: bool,
}

/// A failed exchange, and whether it failed before any byte of a response arrived (a kept
/// connection the server had closed while it was idle fails this way).
#[derive(Debug)]
pub struct Failure {
    pub error: Http1Error,
    pub before_response: bool,
}

impl Failure {
    fn after_response(error: Http1Error) -> Failure {
        Failure {
            error,
            before_response: false,
        }
    }

    /// The connection was closed or reset before the server answered: worth one more try
    /// on a new connection when it was a kept one.
    pub fn is_stale_connection(&self) -> bool {
        use std::io::ErrorKind::{BrokenPipe, ConnectionAborted, ConnectionReset, UnexpectedEof};
        self.before_response
            && match &self.error {
                Http1Error::ClosedBeforeResponse => true,
                Http1Error::Send(e) | Http1Error::Receive(e) => matches!(
                    e.kind(),
                    BrokenPipe | ConnectionAborted | ConnectionReset | UnexpectedEof
                ),
                _ => false,
            }
    }
}

/// Sends `request` and reads a 200 response of at most `max_body_bytes`.
pub async fn exchange<C>(
    conn: &mut C,
    request: &[u8],
    max_body_bytes: usize,
) -> Result<Exchanged, Failure>
where
    C: AsyncRead + AsyncWrite + Unpin,
{
    let sent = async {
        conn.write_all(request).await?;
        conn.flush().await
    };
    sent.await.map_err(|e| Failure {
        error: Http1Error::Send(e),
        before_response: true,
    })?;
    let mut buf = BytesMut::with_capacity(HEAD_READ_BYTES);
    let head = read_head(conn, &mut buf).await?;
    if head.status != 200 {
        return Err(Failure::after_response(Http1Error::Status(head.status)));
    }
    buf.advance(head.len);
    let limit = max_body_bytes;
    let (body, clean_end) = match head.framing {
        Framing::Length(len) => read_sized(conn, buf, len, limit).await,
        Framing::Chunked => read_chunked(conn, buf, limit).await,
        Framing::UntilEof => read_to_eof(conn, buf, limit).await,
    }
    .map_err(Failure::after_response)?;
    Ok(Exchanged {
        body,
        reusable: head.keep_alive && clean_end && head.framing != Framing::UntilEof,
    })
}

/// Reads until `buf` starts with a complete final response head (1xx heads are skipped).
async fn read_head<C>(conn: &mut C, buf: &mut BytesMut) -> Result<Head, Failure>
where
    C: AsyncRead + Unpin,
{
    let mut received = false;
    loop {
        match head::parse(buf).map_err(Failure::after_response)? {
            Some(head) if head.is_interim() => {
                buf.advance(head.len);
                continue;
            }
            Some(head) => return Ok(head),
            None => {}
        }
        let room = MAX_HEAD_BYTES.saturating_sub(buf.len());
        if room == 0 {
            return Err(Failure::after_response(Http1Error::HeadTooLarge(
                MAX_HEAD_BYTES,
            )));
        }
        buf.reserve(HEAD_READ_BYTES.min(room));
        let read = conn.read_buf(&mut (&mut *buf).limit(room)).await;
        match read {
            Ok(0) if received => {
                return Err(Failure::after_response(Http1Error::BadHead(
                    "connection closed in the middle of the head".into(),
                )));
            }
            Ok(0) => {
                return Err(Failure {
                    error: Http1Error::ClosedBeforeResponse,
                    before_response: true,
                });
            }
            Ok(_) => received = true,
            Err(e) => {
                return Err(Failure {
                    error: Http1Error::Receive(e),
                    before_response: !received,
                });
            }
        }
    }
}

/// A body of `len` bytes, `received` being its start. Returns it and whether nothing
/// followed it.
async fn read_sized<C>(
    conn: &mut C,
    mut received: BytesMut,
    len: u64,
    limit: usize,
) -> Result<(Bytes, bool), Http1Error>
where
    C: AsyncRead + Unpin,
{
    let len = usize::try_from(len)
        .ok()
        .filter(|&len| len <= limit)
        .ok_or(Http1Error::BodyTooLarge(limit))?;
    if received.len() >= len {
        let clean_end = received.len() == len;
        received.truncate(len);
        return Ok((received.freeze(), clean_end));
    }
    let mut body = BytesMut::with_capacity(len.min(MAX_PREALLOC_BYTES));
    body.extend_from_slice(&received);
    drop(received);
    while body.len() < len {
        let missing = len - body.len();
        body.reserve(missing.min(MAX_PREALLOC_BYTES));
        let n = conn
            .read_buf(&mut (&mut body).limit(missing))
            .await
            .map_err(Http1Error::BodyRead)?;
        if n == 0 {
            return Err(Http1Error::BodyTruncated(format!(
                "after {} of {len} bytes",
                body.len()
            )));
        }
    }
    Ok((body.freeze(), true))
}

/// A chunked body, decoded in the buffer it is read into. Returns it and whether nothing
/// followed it.
async fn read_chunked<C>(
    conn: &mut C,
    mut buf: BytesMut,
    limit: usize,
) -> Result<(Bytes, bool), Http1Error>
where
    C: AsyncRead + Unpin,
{
    let mut decoder = ChunkedDecoder::new();
    let mut decoded = 0;
    loop {
        let pass = decoder
            .decode_in_place(&mut buf, decoded)
            .map_err(Http1Error::Chunked)?;
        if pass.decoded > limit {
            return Err(Http1Error::BodyTooLarge(limit));
        }
        if decoder.is_done() {
            let clean_end = pass.consumed == buf.len();
            buf.truncate(pass.decoded);
            return Ok((buf.freeze(), clean_end));
        }
        decoded = pass.decoded;
        buf.truncate(decoded);
        buf.reserve(BODY_READ_BYTES);
        let n = conn
            .read_buf(&mut (&mut buf).limit(BODY_READ_BYTES))
            .await
            .map_err(Http1Error::BodyRead)?;
        if n == 0 {
            return Err(Http1Error::BodyTruncated(format!(
                "before the last chunk, after {decoded} bytes"
            )));
        }
    }
}

/// A body that ends when the server closes the connection.
async fn read_to_eof<C>(
    conn: &mut C,
    mut buf: BytesMut,
    limit: usize,
) -> Result<(Bytes, bool), Http1Error>
where
    C: AsyncRead + Unpin,
{
    loop {
        if buf.len() > limit {
            return Err(Http1Error::BodyTooLarge(limit));
        }
        buf.reserve(BODY_READ_BYTES);
        let n = conn
            .read_buf(&mut (&mut buf).limit(BODY_READ_BYTES))
            .await
            .map_err(Http1Error::BodyRead)?;
        if n == 0 {
            return Ok((buf.freeze(), false));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, duplex};

    /// Runs one exchange against a peer that answers `response` (written in `pieces`
    /// pieces) and then closes. Returns the result and the request the peer saw.
    async fn against(response: &[u8], pieces: usize, limit: usize) -> Result<Exchanged, Failure> {
        let (mut client, mut server) = duplex(1 << 20);
        let response = response.to_vec();
        let peer = tokio::spawn(async move {
            let mut request = [0u8; 256];
            let _ = server.read(&mut request).await;
            let piece = response.len().div_ceil(pieces.max(1)).max(1);
            for part in response.chunks(piece) {
                server.write_all(part).await.unwrap();
                tokio::task::yield_now().await;
            }
        });
        let result = exchange(&mut client, b"GET / HTTP/1.1\r\n\r\n", limit).await;
        peer.await.unwrap();
        result
    }

    #[tokio::test]
    async fn content_length_body_in_one_allocation_and_reusable() {
        let body = vec![b'x'; 30_000];
        let mut response = b"HTTP/1.1 200 OK\r\nContent-Length: 30000\r\n\r\n".to_vec();
        response.extend_from_slice(&body);
        for pieces in [1, 7, 100] {
            let done = against(&response, pieces, 1 << 20).await.unwrap();
            assert_eq!(done.body, body);
            assert!(done.reusable);
        }
    }

    #[tokio::test]
    async fn chunked_body_is_decoded_across_reads() {
        let response = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
                         4;x=y\r\nWiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nT: 1\r\n\r\n";
        for pieces in [1, 3, response.len()] {
            let done = against(response, pieces, 1 << 20).await.unwrap();
            assert_eq!(&done.body[..], b"Wikipedia in\r\n\r\nchunks.");
            assert!(done.reusable);
        }
    }

    #[tokio::test]
    async fn interim_heads_are_skipped() {
        let response =
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
        assert_eq!(&against(response, 2, 100).await.unwrap().body[..], b"ok");
    }

    #[tokio::test]
    async fn body_until_eof_is_read_but_not_reusable() {
        let response = b"HTTP/1.1 200 OK\r\n\r\nall of it";
        let done = against(response, 3, 100).await.unwrap();
        assert_eq!(&done.body[..], b"all of it");
        assert!(!done.reusable);
    }

    #[tokio::test]
    async fn connection_close_or_trailing_bytes_prevent_reuse() {
        let close = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok";
        assert!(!against(close, 1, 100).await.unwrap().reusable);
        let extra = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA";
        let done = against(extra, 1, 100).await.unwrap();
        assert_eq!(&done.body[..], b"ok");
        assert!(!done.reusable);
    }

    #[tokio::test]
    async fn the_body_limit_applies_to_every_framing() {
        let sized = b"HTTP/1.1 200 OK\r\nContent-Length: 101\r\n\r\n";
        let mut chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        for _ in 0..11 {
            chunked.extend_from_slice(b"a\r\n0123456789\r\n");
        }
        chunked.extend_from_slice(b"0\r\n\r\n");
        let mut until_eof = b"HTTP/1.1 200 OK\r\n\r\n".to_vec();
        until_eof.resize(until_eof.len() + 20_000, b'z');
        for response in [&sized[..], &chunked, &until_eof] {
            let err = against(response, 1, 100).await.unwrap_err();
            assert_eq!(err.error.to_string(), "response body larger than 100 bytes");
        }
        // Exactly at the limit is fine.
        assert!(against(&chunked, 1, 110).await.is_ok());
    }

    #[tokio::test]
    async fn statuses_other_than_200_fail_after_the_response_started() {
        let err = against(
            b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n",
            1,
            100,
        )
        .await
        .unwrap_err();
        assert!(matches!(err.error, Http1Error::Status(404)));
        assert!(!err.is_stale_connection());
    }

    #[tokio::test]
    async fn a_close_before_any_byte_is_stale_but_a_close_mid_head_is_not() {
        let err = against(b"", 1, 100).await.unwrap_err();
        assert!(matches!(err.error, Http1Error::ClosedBeforeResponse));
        assert!(err.is_stale_connection());
        let err = against(b"HTTP/1.1 200", 1, 100).await.unwrap_err();
        assert!(!err.is_stale_connection(), "{}", err.error);
        let err = against(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nshort", 1, 100)
            .await
            .unwrap_err();
        assert_eq!(
            err.error.to_string(),
            "connection closed in the middle of the body: after 5 of 9 bytes"
        );
        assert!(!err.is_stale_connection());
    }

    #[tokio::test]
    async fn an_endless_head_is_refused() {
        let mut response = b"HTTP/1.1 200 OK\r\nX-Big: ".to_vec();
        response.resize(MAX_HEAD_BYTES + 1000, b'a');
        let err = against(&response, 1, 100).await.unwrap_err();
        assert_eq!(
            err.error.to_string(),
            "response head larger than 65536 bytes"
        );
    }
}
