//! HTTPS clients of the load generator: hyper-util's pooled client trusting the bench CA and
//! presenting the front-proxy client identity like the aggregator does. (The raw fetcher uses
//! the server's own kubelet transport instead, see [`super::raw_fetch`].)

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use super::manifest::ClusterManifest;

pub type HttpsClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Empty<Bytes>>;

/// Who the load generator says it is: a TLS client certificate plus request headers. The
/// front-proxy identity is what kube-aggregator sends; add a header here to change the user.
pub struct Identity {
    pub cert_pem: String,
    pub key_pem: String,
    pub headers: Vec<(&'static str, &'static str)>,
}

impl Identity {
    /// The aggregator's identity: front-proxy client certificate, user and group headers.
    pub fn front_proxy(manifest: &ClusterManifest) -> anyhow::Result<Identity> {
        Ok(Identity {
            cert_pem: read(&manifest.front_proxy_cert)?,
            key_pem: read(&manifest.front_proxy_key)?,
            headers: vec![
                ("X-Remote-User", "system:admin"),
                ("X-Remote-Group", "system:masters"),
            ],
        })
    }
}

fn read(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

/// What a client may negotiate.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Protocols {
    /// HTTP/1.1 only: one connection per concurrent request (many independent clients).
    Http1,
    /// HTTP/2 only: every request multiplexed on one connection (what kube-aggregator does).
    Http2,
}

/// A pooled HTTPS client trusting `ca`, presenting `identity` when given.
pub fn client(
    ca: &Path,
    identity: Option<&Identity>,
    protocols: Protocols,
    max_idle_per_host: usize,
) -> anyhow::Result<HttpsClient> {
    let ca_pem = read(ca)?;
    let tls = metrics_server_sim::net::client_tls(
        &ca_pem,
        identity.map(|i| (i.cert_pem.as_str(), i.key_pem.as_str())),
    )?;
    let builder = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_only();
    let connector = match protocols {
        Protocols::Http1 => builder
            .enable_http1()
            .wrap_connector(metrics_server_sim::net::tcp_connector()),
        Protocols::Http2 => builder
            .enable_http2()
            .wrap_connector(metrics_server_sim::net::tcp_connector()),
    };
    Ok(Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(90))
        .pool_max_idle_per_host(max_idle_per_host)
        .build(connector))
}

/// The outcome of one timed GET.
pub struct Timed {
    pub status: u16,
    pub content_type: String,
    /// Body bytes after decompression.
    pub bytes: usize,
    /// Body bytes as received (compressed when the server gzipped it).
    pub wire_bytes: usize,
    /// From sending the request to the last body byte.
    pub elapsed: Duration,
    pub body: Option<Bytes>,
}

/// GETs `url` with `headers`, reads the whole body (decompressing a gzip body as it arrives,
/// as Go clients do), and times it. `keep_body` keeps the (decompressed) body for the caller,
/// else it is dropped as it is counted. With `undecodable_dir`, a gzip body that does not
/// decompress is saved there as received, and the error names the file.
pub async fn timed_get(
    client: &HttpsClient,
    url: &str,
    headers: &[(&str, &str)],
    keep_body: bool,
    undecodable_dir: Option<&Path>,
) -> anyhow::Result<Timed> {
    let mut req = http::Request::get(url);
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    let req = req.body(Empty::new())?;
    let started = Instant::now();
    let resp = client.request(req).await?;
    let status = resp.status().as_u16();
    let header = |name| {
        resp.headers()
            .get(name)
            .and_then(|v: &http::HeaderValue| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let content_type = header(http::header::CONTENT_TYPE);
    let gzipped = header(http::header::CONTENT_ENCODING) == "gzip";
    let sink = Counted {
        bytes: 0,
        kept: keep_body.then(Vec::new),
    };
    let mut decoded = Decoded::new(gzipped, sink);
    let mut body = resp.into_body();
    let mut wire_bytes = 0usize;
    let mut wire = (gzipped && undecodable_dir.is_some()).then(Vec::new);
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame?.into_data() {
            wire_bytes += data.len();
            if let Some(wire) = &mut wire {
                wire.extend_from_slice(&data);
            }
            decoded.write_all(&data)?;
        }
    }
    let sink = match decoded.finish() {
        Ok(sink) => sink,
        Err(err) => return Err(undecodable(err, wire, undecodable_dir)),
    };
    Ok(Timed {
        status,
        content_type,
        bytes: sink.bytes,
        wire_bytes,
        elapsed: started.elapsed(),
        body: sink.kept.map(Bytes::from),
    })
}

/// The error for a gzip body that did not decompress, after saving the body when asked to.
fn undecodable(err: std::io::Error, wire: Option<Vec<u8>>, dir: Option<&Path>) -> anyhow::Error {
    let (Some(wire), Some(dir)) = (wire, dir) else {
        return err.into();
    };
    static SAVED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = SAVED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let path = dir.join(format!("undecodable-{n}.gz"));
    match std::fs::write(&path, &wire) {
        Ok(()) => anyhow::anyhow!("{err} (body saved to {})", path.display()),
        Err(write_err) => anyhow::anyhow!("{err} (saving the body failed: {write_err})"),
    }
}

/// A body on its way in: decompressed or not. A gzip body may hold several members one after
/// the other (upstream's `/metrics` sends one per metrics registry); Go's reader reads them
/// all, and so does this.
enum Decoded {
    Gzip(Box<flate2::write::MultiGzDecoder<Counted>>),
    Plain(Counted),
}

impl Decoded {
    fn new(gzipped: bool, sink: Counted) -> Self {
        match gzipped {
            true => Decoded::Gzip(Box::new(flate2::write::MultiGzDecoder::new(sink))),
            false => Decoded::Plain(sink),
        }
    }

    fn write_all(&mut self, data: &[u8]) -> std::io::Result<()> {
        use std::io::Write;
        match self {
            Decoded::Gzip(d) => d.write_all(data),
            Decoded::Plain(c) => c.write_all(data),
        }
    }

    /// The sink, once the whole body is in; an error when a gzip body ended early.
    fn finish(self) -> std::io::Result<Counted> {
        match self {
            Decoded::Gzip(d) => d.finish(),
            Decoded::Plain(c) => Ok(c),
        }
    }
}

/// Counts what is written, and keeps it if asked to.
struct Counted {
    bytes: usize,
    kept: Option<Vec<u8>>,
}

impl std::io::Write for Counted {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.bytes += buf.len();
        if let Some(kept) = &mut self.kept {
            kept.extend_from_slice(buf);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::io::Write;

    use super::*;

    fn gzip(text: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(text).unwrap();
        encoder.finish().unwrap()
    }

    fn decoded(body: &[u8], chunk: usize) -> std::io::Result<Vec<u8>> {
        let sink = Counted {
            bytes: 0,
            kept: Some(Vec::new()),
        };
        let mut decoded = Decoded::new(true, sink);
        for piece in body.chunks(chunk) {
            decoded.write_all(piece)?;
        }
        Ok(decoded.finish()?.kept.unwrap_or_default())
    }

    #[test]
    fn a_gzip_body_of_several_members_is_read_whole() {
        let first = b"# TYPE a counter\na 1\n".repeat(500);
        let second = b"# TYPE metrics_server_manager_tick_duration_seconds histogram\n";
        let mut body = gzip(&first);
        body.extend(gzip(second));
        for chunk in [7, 1024, body.len()] {
            let text = decoded(&body, chunk).unwrap();
            assert_eq!(
                text,
                [first.as_slice(), second].concat(),
                "chunks of {chunk}"
            );
        }
    }

    #[test]
    fn a_gzip_body_cut_short_is_an_error() {
        let body = gzip(&b"a 1\n".repeat(1000));
        assert!(decoded(&body[..body.len() - 4], 64).is_err());
    }
}
