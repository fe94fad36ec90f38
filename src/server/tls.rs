//! Serving TLS (spec §1.3): the certificate from `--tls-cert-file`/`--tls-private-key-file`, or
//! the self-signed pair kept in `--cert-dir` (`apiserver.crt`, `apiserver.key`), generated on
//! first start like the apiserver library's `MaybeDefaultWithSelfSignedCerts`. The rustls
//! server configuration is built in `serving`.

use std::fs;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::config::ServingCertConfig;
use crate::pki::{CertAuthority, PemPair, PkiError};

/// File names of the self-signed pair inside `--cert-dir` (upstream's PairName `apiserver`).
pub const CERT_FILE_NAME: &str = "apiserver.crt";
pub const KEY_FILE_NAME: &str = "apiserver.key";
/// Largest certificate or key file read.
const MAX_PEM_BYTES: u64 = 1024 * 1024;

/// Failure to obtain or use the serving certificate.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("failed to read {file}: {problem}")]
    Read { file: String, problem: ReadProblem },
    #[error("failed to write {}: {source}", path.display())]
    Write { path: PathBuf, source: io::Error },
    #[error(transparent)]
    Generate(#[from] PkiError),
    #[error("invalid serving certificate or key: {0}")]
    Serving(ServingProblem),
}

/// Why a certificate or key file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ReadProblem {
    #[error(transparent)]
    Io(io::Error),
    #[error("file larger than {MAX_PEM_BYTES} bytes")]
    TooLarge,
    #[error(transparent)]
    Pem(PemError),
    #[error("key does not fit {cert}: {error}")]
    KeyMismatch { cert: String, error: rustls::Error },
}

/// Why a certificate and key do not make a serving configuration.
#[derive(Debug, thiserror::Error)]
pub enum ServingProblem {
    #[error(transparent)]
    Pem(PemError),
    #[error(transparent)]
    Rustls(rustls::Error),
}

/// What a PEM text lacks.
#[derive(Debug, thiserror::Error)]
pub enum PemError {
    #[error("bad PEM: {0}")]
    Bad(rustls_pki_types::pem::Error),
    #[error("no certificate found")]
    NoCertificate,
    #[error("no private key found")]
    NoKey,
}

/// Reads the serving pair from the flags, else reuses `<cert-dir>/apiserver.{crt,key}`, else
/// generates a CA and a serving certificate for `localhost`, 127.0.0.1 and the configured extra
/// names and writes them there (certificate file = serving cert then CA cert; key mode 0600).
pub fn load_or_generate_serving_cert(cfg: &ServingCertConfig) -> Result<PemPair, TlsError> {
    if let Some(files) = &cfg.files {
        let cert = describe("--tls-cert-file", &files.cert);
        let key = describe("--tls-private-key-file", &files.key);
        return load_pair(&files.cert, &cert, &files.key, &key);
    }
    let cert_path = cfg.cert_dir.join(CERT_FILE_NAME);
    let key_path = cfg.cert_dir.join(KEY_FILE_NAME);
    if cert_path.is_file() && key_path.is_file() {
        let cert = describe("--cert-dir file", &cert_path);
        let key = describe("--cert-dir file", &key_path);
        return load_pair(&cert_path, &cert, &key_path, &key);
    }
    let pair = generate_self_signed(cfg)?;
    write_pair(&cfg.cert_dir, &cert_path, &key_path, &pair)?;
    tracing::info!(cert = %cert_path.display(), "generated self-signed serving certificate");
    Ok(pair)
}

fn describe(flag: &str, path: &Path) -> String {
    format!("{flag} {}", path.display())
}

/// Reads and checks a certificate chain and its key: both parse and the key fits the leaf.
fn load_pair(
    cert_path: &Path,
    cert: &str,
    key_path: &Path,
    key: &str,
) -> Result<PemPair, TlsError> {
    let cert_pem = read_bounded(cert_path, cert)?;
    let key_pem = read_bounded(key_path, key)?;
    let chain = parse_chain(&cert_pem).map_err(|e| read_error(cert, ReadProblem::Pem(e)))?;
    let key_der = parse_key(&key_pem).map_err(|e| read_error(key, ReadProblem::Pem(e)))?;
    let provider = rustls::crypto::ring::default_provider();
    rustls::sign::CertifiedKey::from_der(chain, key_der, &provider).map_err(|error| {
        let cert = cert.to_owned();
        read_error(key, ReadProblem::KeyMismatch { cert, error })
    })?;
    Ok(PemPair { cert_pem, key_pem })
}

fn read_error(file: &str, problem: ReadProblem) -> TlsError {
    TlsError::Read {
        file: file.to_owned(),
        problem,
    }
}

/// The file's text, refused when larger than [`MAX_PEM_BYTES`] (never read beyond that).
pub(crate) fn read_bounded(path: &Path, what: &str) -> Result<String, TlsError> {
    let mut text = String::new();
    fs::File::open(path)
        .and_then(|f| f.take(MAX_PEM_BYTES + 1).read_to_string(&mut text))
        .map_err(|e| read_error(what, ReadProblem::Io(e)))?;
    if text.len() as u64 > MAX_PEM_BYTES {
        return Err(read_error(what, ReadProblem::TooLarge));
    }
    Ok(text)
}

/// All `CERTIFICATE` blocks of a PEM text, leaf first.
pub(crate) fn parse_chain(pem: &str) -> Result<Vec<CertificateDer<'static>>, PemError> {
    let chain = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(PemError::Bad)?;
    if chain.is_empty() {
        return Err(PemError::NoCertificate);
    }
    Ok(chain)
}

/// The first private key (PKCS#8, PKCS#1 or SEC1) of a PEM text.
pub(crate) fn parse_key(pem: &str) -> Result<PrivateKeyDer<'static>, PemError> {
    PrivateKeyDer::from_pem_slice(pem.as_bytes()).map_err(|e| match e {
        rustls_pki_types::pem::Error::NoItemsFound => PemError::NoKey,
        other => PemError::Bad(other),
    })
}

/// A fresh CA and serving certificate; the returned cert PEM is the serving cert then the CA.
fn generate_self_signed(cfg: &ServingCertConfig) -> Result<PemPair, TlsError> {
    let now = crate::time::Timestamp::now().secs();
    let ca = CertAuthority::new(&format!("localhost-ca@{now}"))?;
    let mut dns: Vec<&str> = vec!["localhost"];
    for name in &cfg.extra_dns_names {
        if !dns.contains(&name.as_str()) {
            dns.push(name);
        }
    }
    let mut ips = vec![IpAddr::V4(Ipv4Addr::LOCALHOST)];
    for ip in &cfg.extra_ips {
        if !ips.contains(ip) {
            ips.push(*ip);
        }
    }
    let leaf = ca.issue_server(&format!("localhost@{now}"), &dns, &ips)?;
    Ok(PemPair {
        cert_pem: format!("{}{}", leaf.cert_pem, ca.cert_pem()),
        key_pem: leaf.key_pem,
    })
}

/// Writes the pair into `dir`, each file through a temporary file and a rename.
fn write_pair(
    dir: &Path,
    cert_path: &Path,
    key_path: &Path,
    pair: &PemPair,
) -> Result<(), TlsError> {
    fs::create_dir_all(dir).map_err(|source| TlsError::Write {
        path: dir.to_owned(),
        source,
    })?;
    write_atomically(key_path, &pair.key_pem, 0o600)?;
    write_atomically(cert_path, &pair.cert_pem, 0o644)
}

fn write_atomically(path: &Path, contents: &str, mode: u32) -> Result<(), TlsError> {
    let tmp = path.with_extension("tmp");
    let result = (|| {
        let mut options = fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, mode);
        #[cfg(not(unix))]
        let _ = mode;
        let mut file = options.open(&tmp)?;
        file.write_all(contents.as_bytes())?;
        file.sync_all()?;
        fs::rename(&tmp, path)
    })();
    result.map_err(|source| TlsError::Write {
        path: path.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests;
