//! Tests of serving-certificate loading and of real TLS handshakes on 127.0.0.1.

use super::*;
use crate::config::{CertKeyFiles, TlsMinVersion, TlsPolicy};
use crate::server::serving::ServingCert;
use rustls::{RootCertStore, ServerConfig};
use std::sync::Arc;

/// The server configuration the server builds for `pair`, with the default TLS policy.
fn server_config(pair: &PemPair) -> Result<Arc<ServerConfig>, TlsError> {
    let policy = TlsPolicy {
        min_version: TlsMinVersion::Tls12,
        tls12_suites: Vec::new(),
    };
    crate::server::serving::server_config(&policy, ServingCert::new(pair)?)
}
use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn cert_config(dir: &Path) -> ServingCertConfig {
    ServingCertConfig {
        cert_dir: dir.join("certs"),
        files: None,
        extra_dns_names: Vec::new(),
        extra_ips: Vec::new(),
    }
}

fn count_certs(pem: &str) -> usize {
    pem.matches("-----BEGIN CERTIFICATE-----").count()
}

#[test]
fn generates_into_cert_dir_then_reuses() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = cert_config(tmp.path());
    let first = load_or_generate_serving_cert(&cfg).unwrap();
    let cert_path = cfg.cert_dir.join("apiserver.crt");
    let key_path = cfg.cert_dir.join("apiserver.key");
    assert_eq!(fs::read_to_string(&cert_path).unwrap(), first.cert_pem);
    assert_eq!(fs::read_to_string(&key_path).unwrap(), first.key_pem);
    assert_eq!(
        count_certs(&first.cert_pem),
        2,
        "serving cert followed by CA cert"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(&key_path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let second = load_or_generate_serving_cert(&cfg).unwrap();
    assert_eq!(second.cert_pem, first.cert_pem);
    assert_eq!(second.key_pem, first.key_pem);
}

#[test]
fn regenerates_when_only_one_file_is_left() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = cert_config(tmp.path());
    let first = load_or_generate_serving_cert(&cfg).unwrap();
    fs::remove_file(cfg.cert_dir.join("apiserver.key")).unwrap();
    let second = load_or_generate_serving_cert(&cfg).unwrap();
    assert_ne!(second.cert_pem, first.cert_pem);
    assert!(cfg.cert_dir.join("apiserver.key").is_file());
}

/// Writes a CA-signed pair for `localhost` into `dir` and returns the file paths.
fn write_explicit_pair(dir: &Path) -> (CertKeyFiles, PemPair) {
    let ca = CertAuthority::new("explicit-ca").unwrap();
    let pair = ca.issue_server("explicit", &["localhost"], &[]).unwrap();
    let files = CertKeyFiles {
        cert: dir.join("tls.crt"),
        key: dir.join("tls.key"),
    };
    fs::write(&files.cert, &pair.cert_pem).unwrap();
    fs::write(&files.key, &pair.key_pem).unwrap();
    (files, pair)
}

#[test]
fn explicit_files_override_cert_dir() {
    let tmp = tempfile::tempdir().unwrap();
    let mut cfg = cert_config(tmp.path());
    let generated = load_or_generate_serving_cert(&cfg).unwrap();
    let (files, explicit) = write_explicit_pair(tmp.path());
    cfg.files = Some(files);
    let loaded = load_or_generate_serving_cert(&cfg).unwrap();
    assert_eq!(loaded.cert_pem, explicit.cert_pem);
    assert_ne!(loaded.cert_pem, generated.cert_pem);
}

#[test]
fn explicit_files_are_not_generated_when_missing() {
    let tmp = tempfile::tempdir().unwrap();
    let mut cfg = cert_config(tmp.path());
    let missing = tmp.path().join("missing.crt");
    cfg.files = Some(CertKeyFiles {
        cert: missing.clone(),
        key: tmp.path().join("missing.key"),
    });
    let err = load_or_generate_serving_cert(&cfg).unwrap_err().to_string();
    let want = format!("failed to read --tls-cert-file {}: ", missing.display());
    assert!(err.starts_with(&want), "{err}");
    assert!(!cfg.cert_dir.exists(), "nothing generated");
}

#[test]
fn bad_pem_errors_name_the_flag_file_and_problem() {
    let tmp = tempfile::tempdir().unwrap();
    let (files, valid) = write_explicit_pair(tmp.path());
    let mut cfg = cert_config(tmp.path());
    cfg.files = Some(files.clone());

    fs::write(&files.cert, "garbage\n").unwrap();
    let err = load_or_generate_serving_cert(&cfg).unwrap_err().to_string();
    let want = format!(
        "failed to read --tls-cert-file {}: no certificate found",
        files.cert.display()
    );
    assert_eq!(err, want);

    fs::write(&files.cert, &valid.cert_pem).unwrap();
    fs::write(
        &files.key,
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let err = load_or_generate_serving_cert(&cfg).unwrap_err().to_string();
    let want = format!(
        "failed to read --tls-private-key-file {}: no private key found",
        files.key.display()
    );
    assert_eq!(err, want);
}

#[test]
fn key_that_does_not_fit_the_certificate_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let (files, _) = write_explicit_pair(tmp.path());
    let ca = CertAuthority::new("other").unwrap();
    let other = ca.issue_server("other", &["localhost"], &[]).unwrap();
    fs::write(&files.key, &other.key_pem).unwrap();
    let mut cfg = cert_config(tmp.path());
    cfg.files = Some(files);
    let err = load_or_generate_serving_cert(&cfg).unwrap_err().to_string();
    assert!(err.contains("--tls-private-key-file"), "{err}");
    assert!(err.contains("key does not fit --tls-cert-file"), "{err}");
}

#[test]
fn server_config_rejects_garbage_and_offers_alpn() {
    let garbage = PemPair {
        cert_pem: "nope".into(),
        key_pem: "nope".into(),
    };
    let err = server_config(&garbage).unwrap_err().to_string();
    assert_eq!(
        err,
        "invalid serving certificate or key: no certificate found"
    );
    let ca = CertAuthority::new("ca").unwrap();
    let pair = ca.issue_server("s", &["localhost"], &[]).unwrap();
    let cfg = server_config(&pair).unwrap();
    assert_eq!(
        cfg.alpn_protocols,
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    );
}

/// What each side saw after one handshake and a one-byte echo.
struct Handshake {
    alpn: Option<Vec<u8>>,
    server_saw_client_cert: bool,
}

/// Client config trusting `ca_pem`, offering `alpn`, optionally presenting `client`.
fn client_config(ca_pem: &str, alpn: &[&[u8]], client: Option<&PemPair>) -> rustls::ClientConfig {
    let mut roots = RootCertStore::empty();
    for cert in parse_chain(ca_pem).unwrap() {
        roots.add(cert).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let mut cfg = match client {
        Some(p) => builder
            .with_client_auth_cert(
                parse_chain(&p.cert_pem).unwrap(),
                parse_key(&p.key_pem).unwrap(),
            )
            .unwrap(),
        None => builder.with_no_client_auth(),
    };
    cfg.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    cfg
}

async fn handshake(
    server: Arc<ServerConfig>,
    client: rustls::ClientConfig,
    server_name: &str,
) -> std::io::Result<Handshake> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(server);
    let server_task = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut tls = acceptor.accept(tcp).await?;
        let saw_cert = tls.get_ref().1.peer_certificates().is_some();
        let mut byte = [0u8; 1];
        tls.read_exact(&mut byte).await?;
        tls.write_all(&byte).await?;
        tls.flush().await?;
        Ok::<bool, std::io::Error>(saw_cert)
    });
    let connector = tokio_rustls::TlsConnector::from(Arc::new(client));
    let name = ServerName::try_from(server_name.to_owned()).unwrap();
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut tls = connector.connect(name, tcp).await?;
    let alpn = tls.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
    tls.write_all(b"x").await?;
    let mut echo = [0u8; 1];
    tls.read_exact(&mut echo).await?;
    assert_eq!(&echo, b"x");
    let server_saw_client_cert = server_task.await.unwrap()?;
    Ok(Handshake {
        alpn,
        server_saw_client_cert,
    })
}

/// The CA certificate of a generated cert file (the second block).
fn generated_ca(pair: &PemPair) -> String {
    let at = pair.cert_pem[1..]
        .find("-----BEGIN CERTIFICATE-----")
        .unwrap()
        + 1;
    pair.cert_pem[at..].to_owned()
}

#[tokio::test]
async fn generated_chain_verifies_for_localhost_and_negotiates_h2() {
    let tmp = tempfile::tempdir().unwrap();
    let pair = load_or_generate_serving_cert(&cert_config(tmp.path())).unwrap();
    let ca = generated_ca(&pair);
    let server = server_config(&pair).unwrap();
    let both: &[&[u8]] = &[b"h2", b"http/1.1"];
    let got = handshake(server.clone(), client_config(&ca, both, None), "localhost")
        .await
        .unwrap();
    assert_eq!(got.alpn.as_deref(), Some(&b"h2"[..]));
    assert!(!got.server_saw_client_cert);
    let http1: &[&[u8]] = &[b"http/1.1"];
    let got = handshake(server.clone(), client_config(&ca, http1, None), "127.0.0.1").await;
    assert_eq!(got.unwrap().alpn.as_deref(), Some(&b"http/1.1"[..]));
    let got = handshake(server, client_config(&ca, both, None), "example.com").await;
    assert!(
        got.is_err(),
        "a name not in the SANs must fail verification"
    );
}

#[tokio::test]
async fn extra_names_and_ips_are_in_the_generated_certificate() {
    let tmp = tempfile::tempdir().unwrap();
    let mut cfg = cert_config(tmp.path());
    cfg.extra_dns_names = vec!["metrics-server.kube-system.svc".into()];
    cfg.extra_ips = vec!["127.0.0.2".parse().unwrap()];
    let pair = load_or_generate_serving_cert(&cfg).unwrap();
    let ca = generated_ca(&pair);
    let server = server_config(&pair).unwrap();
    for name in ["metrics-server.kube-system.svc", "127.0.0.2", "localhost"] {
        let got = handshake(server.clone(), client_config(&ca, &[], None), name).await;
        assert!(got.is_ok(), "{name}: {got:?}", got = got.err());
    }
}
