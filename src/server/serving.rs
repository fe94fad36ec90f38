//! The serving TLS configuration of the request path (spec §1.3): `--tls-min-version`,
//! `--tls-cipher-suites`, client certificates requested but verified per request by the
//! authenticators (like the Go apiserver's `RequestClientCert`: a certificate from an unknown
//! CA gets 401, not a failed handshake, and a rotated client CA needs no new TLS config), and a
//! serving certificate that can be replaced at run time: the files of `--tls-cert-file` /
//! `--tls-private-key-file` are polled and reloaded when their content changes.

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::{CertificateError, DistinguishedName, ServerConfig, SupportedCipherSuite};

use super::tls::{ServingProblem, TlsError, parse_chain, parse_key, read_bounded};
use crate::config::{CertKeyFiles, TlsMinVersion, TlsPolicy};
use crate::pki::PemPair;

/// How often the serving certificate files are checked for changes.
pub const RELOAD_INTERVAL: Duration = Duration::from_secs(5);

/// A check compares the files' metadata; every this many checks (a minute) it reads them
/// whatever the metadata says, in case a rewrite kept the size and fell within the same
/// timestamp tick.
const READ_EVERY_CHECKS: u32 = 12;

/// The serving certificate in use; replaced atomically, picked per handshake.
#[derive(Debug)]
pub struct ServingCert {
    current: ArcSwap<CertifiedKey>,
}

impl ServingCert {
    pub fn new(pair: &PemPair) -> Result<Arc<Self>, TlsError> {
        Ok(Arc::new(ServingCert {
            current: ArcSwap::from_pointee(certified_key(pair)?),
        }))
    }

    /// Serves `pair` from the next handshake on.
    pub fn replace(&self, pair: &PemPair) -> Result<(), TlsError> {
        self.current.store(Arc::new(certified_key(pair)?));
        Ok(())
    }

    /// The leaf certificate currently served.
    pub fn leaf(&self) -> Option<CertificateDer<'static>> {
        self.current.load().cert.first().cloned()
    }
}

impl ResolvesServerCert for ServingCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.load_full())
    }
}

/// Checks that the key fits the certificate and builds the signing key.
pub fn certified_key(pair: &PemPair) -> Result<CertifiedKey, TlsError> {
    let serving = TlsError::Serving;
    let chain = parse_chain(&pair.cert_pem).map_err(|e| serving(ServingProblem::Pem(e)))?;
    let key = parse_key(&pair.key_pem).map_err(|e| serving(ServingProblem::Pem(e)))?;
    let provider = rustls::crypto::ring::default_provider();
    CertifiedKey::from_der(chain, key, &provider).map_err(|e| serving(ServingProblem::Rustls(e)))
}

/// The ring provider restricted to the policy's TLS 1.2 suites (TLS 1.3 suites always stay).
fn provider(policy: &TlsPolicy) -> CryptoProvider {
    let mut provider = rustls::crypto::ring::default_provider();
    provider.cipher_suites.retain(|s| match s {
        SupportedCipherSuite::Tls13(_) => true,
        SupportedCipherSuite::Tls12(_) => {
            policy.tls12_suites.is_empty() || policy.tls12_suites.contains(&s.suite())
        }
    });
    provider
}

/// The server configuration: policy versions and suites, ALPN `h2` then `http/1.1`, client
/// certificates requested (never required), the certificate from `cert`.
pub fn server_config(
    policy: &TlsPolicy,
    cert: Arc<ServingCert>,
) -> Result<Arc<ServerConfig>, TlsError> {
    let provider = Arc::new(provider(policy));
    let versions: &[&rustls::SupportedProtocolVersion] = match policy.min_version {
        TlsMinVersion::Tls12 => &[&rustls::version::TLS13, &rustls::version::TLS12],
        TlsMinVersion::Tls13 => &[&rustls::version::TLS13],
    };
    let verifier = RequestClientCert(provider.signature_verification_algorithms);
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .map_err(|e| TlsError::Serving(ServingProblem::Rustls(e)))?
        .with_client_cert_verifier(Arc::new(verifier))
        .with_cert_resolver(cert);
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Asks for a client certificate and checks that the client holds its key (the handshake
/// signature); which CA signed it is decided per request (`server::auth`).
#[derive(Debug)]
struct RequestClientCert(WebPkiSupportedAlgorithms);

impl ClientCertVerifier for RequestClientCert {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        match crate::x509_name::subject_of(end_entity) {
            Some(_) => Ok(ClientCertVerified::assertion()),
            None => Err(rustls::Error::InvalidCertificate(
                CertificateError::BadEncoding,
            )),
        }
    }

    provider_signature_checks!(0);
}

/// Watches the certificate and key files (checked every [`RELOAD_INTERVAL`] by the
/// housekeeping thread): when either changes and the pair is valid, serves it from the next
/// handshake. A half-written or mismatched pair is logged and retried; files are read only up
/// to the size start-up accepts (1 MiB). A check reads the files only when their metadata
/// changed (or every [`READ_EVERY_CHECKS`] checks).
pub struct CertReload {
    files: CertKeyFiles,
    cert: Arc<ServingCert>,
    /// The files' metadata at the last read.
    stamps: Option<[FileStamp; 2]>,
    /// Checks since the last read.
    checks_since_read: u32,
    /// Reads of the pair so far.
    reads: u64,
    /// What the files held when last taken (or at start-up).
    last: Option<(String, String)>,
    /// What the files held when last refused (not retried until they change again).
    rejected: Option<(String, String)>,
    /// Why the files could not be read last time (logged once per reason).
    unreadable: Option<String>,
}

impl CertReload {
    pub fn new(files: CertKeyFiles, cert: Arc<ServingCert>) -> Self {
        let stamps = stamps_of(&files);
        let last = read_pair(&files).ok();
        CertReload {
            files,
            cert,
            stamps,
            checks_since_read: 0,
            reads: 1,
            last,
            rejected: None,
            unreadable: None,
        }
    }

    /// Reads both files when their metadata changed (or a minute passed); serves them when
    /// their content changed and they form a valid pair.
    pub fn check(&mut self) {
        let stamps = stamps_of(&self.files);
        self.checks_since_read += 1;
        if stamps.is_some() && stamps == self.stamps && self.checks_since_read < READ_EVERY_CHECKS {
            return;
        }
        self.stamps = stamps;
        self.checks_since_read = 0;
        self.read_and_apply();
    }

    /// Reads both files; serves them when they changed and form a valid pair.
    fn read_and_apply(&mut self) {
        self.reads += 1;
        let now = match read_pair(&self.files) {
            Ok(pair) => Some(pair),
            Err(e) => {
                let why = e.to_string();
                if self.unreadable.as_ref() != Some(&why) {
                    tracing::warn!(error = %why, "Serving certificate files cannot be read; keeping the current certificate.");
                    self.unreadable = Some(why);
                }
                return;
            }
        };
        self.unreadable = None;
        if now == self.last || now == self.rejected {
            return;
        }
        let Some((cert_pem, key_pem)) = now.clone() else {
            return;
        };
        let cert = self.files.cert.display();
        match self.cert.replace(&PemPair { cert_pem, key_pem }) {
            Ok(()) => {
                tracing::info!(%cert, "Serving certificate changed on disk; now serving the new one.");
                self.last = now;
            }
            Err(e) => {
                tracing::warn!(%cert, error = %e, "Serving certificate files changed but are not usable; keeping the current certificate.");
                self.rejected = now;
            }
        }
    }
}

/// What a file's metadata says of its content: a rewrite changes the size or the change
/// time, a Kubernetes Secret volume's update swaps in a new file (inode).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct FileStamp {
    len: u64,
    modified: Option<std::time::SystemTime>,
    #[cfg(unix)]
    changed: (i64, i64),
    #[cfg(unix)]
    inode: (u64, u64),
}

fn stamp_of(path: &std::path::Path) -> Option<FileStamp> {
    let meta = std::fs::metadata(path).ok()?;
    #[cfg(unix)]
    use std::os::unix::fs::MetadataExt;
    Some(FileStamp {
        len: meta.len(),
        modified: meta.modified().ok(),
        #[cfg(unix)]
        changed: (meta.ctime(), meta.ctime_nsec()),
        #[cfg(unix)]
        inode: (meta.dev(), meta.ino()),
    })
}

/// Both files' stamps; `None` when either cannot be read (the read then reports why).
fn stamps_of(files: &CertKeyFiles) -> Option<[FileStamp; 2]> {
    Some([stamp_of(&files.cert)?, stamp_of(&files.key)?])
}

fn read_pair(files: &CertKeyFiles) -> Result<(String, String), TlsError> {
    Ok((
        read_bounded(&files.cert, "--tls-cert-file")?,
        read_bounded(&files.key, "--tls-private-key-file")?,
    ))
}

#[cfg(test)]
mod tests;
