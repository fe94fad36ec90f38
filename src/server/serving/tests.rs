//! Serving TLS policy and certificate reload, with real handshakes on loopback.

use std::net::{IpAddr, Ipv4Addr};

use rustls::RootCertStore;
use rustls::pki_types::ServerName;

use super::*;
use crate::config::{TlsMinVersion, TlsPolicy};
use crate::pki::CertAuthority;

struct Pki {
    ca: CertAuthority,
    pair: PemPair,
}

fn pki() -> Pki {
    let ca = CertAuthority::new("serving-ca").unwrap();
    let pair = ca
        .issue_server("srv", &["localhost"], &[IpAddr::V4(Ipv4Addr::LOCALHOST)])
        .unwrap();
    Pki { ca, pair }
}

fn policy(min_version: TlsMinVersion, tls12_suites: Vec<rustls::CipherSuite>) -> TlsPolicy {
    TlsPolicy {
        min_version,
        tls12_suites,
    }
}

/// A client trusting `ca`, limited to `versions` and (when given) `suites`.
fn client(
    ca: &CertAuthority,
    versions: &[&'static rustls::SupportedProtocolVersion],
    suites: Option<&[rustls::CipherSuite]>,
    identity: Option<&PemPair>,
) -> rustls::ClientConfig {
    let mut provider = rustls::crypto::ring::default_provider();
    if let Some(suites) = suites {
        provider
            .cipher_suites
            .retain(|s| suites.contains(&s.suite()));
    }
    let mut roots = RootCertStore::empty();
    roots
        .add(parse_chain(ca.cert_pem()).unwrap().remove(0))
        .unwrap();
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(provider))
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(roots);
    match identity {
        Some(p) => builder
            .with_client_auth_cert(
                parse_chain(&p.cert_pem).unwrap(),
                parse_key(&p.key_pem).unwrap(),
            )
            .unwrap(),
        None => builder.with_no_client_auth(),
    }
}

/// One handshake; on success the leaf the server presented and whether it saw a client cert.
async fn handshake(
    server: Arc<ServerConfig>,
    client: rustls::ClientConfig,
) -> std::io::Result<(CertificateDer<'static>, bool)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(server);
    let server_side = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let tls = acceptor.accept(tcp).await?;
        Ok::<bool, std::io::Error>(tls.get_ref().1.peer_certificates().is_some())
    });
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(client));
    let tls = connector.connect(name, tcp).await?;
    let leaf = tls.get_ref().1.peer_certificates().unwrap()[0]
        .clone()
        .into_owned();
    let saw_client_cert = server_side.await.unwrap()?;
    Ok((leaf, saw_client_cert))
}

const TLS12: &[&rustls::SupportedProtocolVersion] = &[&rustls::version::TLS12];
const TLS13: &[&rustls::SupportedProtocolVersion] = &[&rustls::version::TLS13];

#[tokio::test]
async fn min_version_1_3_refuses_tls_1_2_clients() {
    let p = pki();
    let strict = server_config(
        &policy(TlsMinVersion::Tls13, vec![]),
        ServingCert::new(&p.pair).unwrap(),
    )
    .unwrap();
    assert!(
        handshake(strict.clone(), client(&p.ca, TLS12, None, None))
            .await
            .is_err()
    );
    assert!(
        handshake(strict, client(&p.ca, TLS13, None, None))
            .await
            .is_ok()
    );
    let default = server_config(
        &policy(TlsMinVersion::Tls12, vec![]),
        ServingCert::new(&p.pair).unwrap(),
    )
    .unwrap();
    assert!(
        handshake(default, client(&p.ca, TLS12, None, None))
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn only_the_listed_tls_1_2_suites_are_offered() {
    use rustls::CipherSuite as C;
    let p = pki();
    let cfg = policy(
        TlsMinVersion::Tls12,
        vec![C::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384],
    );
    let server = server_config(&cfg, ServingCert::new(&p.pair).unwrap()).unwrap();
    let other = [C::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256];
    assert!(
        handshake(server.clone(), client(&p.ca, TLS12, Some(&other), None))
            .await
            .is_err()
    );
    let listed = [C::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384];
    assert!(
        handshake(server.clone(), client(&p.ca, TLS12, Some(&listed), None))
            .await
            .is_ok()
    );
    // TLS 1.3 suites are never restricted.
    assert!(
        handshake(server, client(&p.ca, TLS13, None, None))
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn client_certificates_are_requested_not_required_and_judged_later() {
    let p = pki();
    let server = server_config(
        &policy(TlsMinVersion::Tls12, vec![]),
        ServingCert::new(&p.pair).unwrap(),
    )
    .unwrap();
    let stranger = CertAuthority::new("any-ca")
        .unwrap()
        .issue_client("x", &[])
        .unwrap();
    let (_, saw) = handshake(server.clone(), client(&p.ca, TLS13, None, Some(&stranger)))
        .await
        .unwrap();
    assert!(
        saw,
        "the chain reaches the authenticators, which decide per request"
    );
    let (_, saw) = handshake(server, client(&p.ca, TLS13, None, None))
        .await
        .unwrap();
    assert!(!saw);
}

/// `pair` written as `tls.crt` and `tls.key` in `dir`.
fn written(pair: &PemPair, dir: &std::path::Path) -> CertKeyFiles {
    let files = CertKeyFiles {
        cert: dir.join("tls.crt"),
        key: dir.join("tls.key"),
    };
    std::fs::write(&files.cert, &pair.cert_pem).unwrap();
    std::fs::write(&files.key, &pair.key_pem).unwrap();
    files
}

#[tokio::test]
async fn replaced_certificate_files_are_served_without_a_restart() {
    let p = pki();
    let dir = tempfile::tempdir().unwrap();
    let files = written(&p.pair, dir.path());
    let cert = ServingCert::new(&p.pair).unwrap();
    let server = server_config(&policy(TlsMinVersion::Tls12, vec![]), cert.clone()).unwrap();
    let mut reload = CertReload::new(files.clone(), cert.clone());
    let (first, _) = handshake(server.clone(), client(&p.ca, TLS13, None, None))
        .await
        .unwrap();

    // A half-written pair (new cert, old key) is not taken.
    let next = p.ca.issue_server("srv-2", &["localhost"], &[]).unwrap();
    std::fs::write(&files.cert, &next.cert_pem).unwrap();
    reload.read_and_apply();
    assert_eq!(cert.leaf().unwrap(), first);
    // Once the key follows, the next read serves the new pair.
    std::fs::write(&files.key, &next.key_pem).unwrap();
    reload.read_and_apply();
    let (second, _) = handshake(server, client(&p.ca, TLS13, None, None))
        .await
        .unwrap();
    assert_ne!(first, second);
    assert_eq!(second, parse_chain(&next.cert_pem).unwrap()[0]);
}

#[test]
fn unchanged_files_are_not_loaded_again() {
    let p = pki();
    let dir = tempfile::tempdir().unwrap();
    let files = written(&p.pair, dir.path());
    // What is served differs from the files: a check that loaded unchanged files would
    // replace it.
    let other = p.ca.issue_server("srv-other", &["localhost"], &[]).unwrap();
    let mut reload = CertReload::new(files, ServingCert::new(&p.pair).unwrap());
    reload.cert.replace(&other).unwrap();
    let served = reload.cert.leaf().unwrap();
    reload.read_and_apply();
    assert_eq!(reload.cert.leaf().unwrap(), served);
}

/// The files of a served pair in a fresh directory, the served certificate and its reload.
fn served_from_files(
    p: &Pki,
) -> (
    tempfile::TempDir,
    CertKeyFiles,
    Arc<ServingCert>,
    CertReload,
) {
    let dir = tempfile::tempdir().unwrap();
    let files = written(&p.pair, dir.path());
    let cert = ServingCert::new(&p.pair).unwrap();
    let reload = CertReload::new(files.clone(), cert.clone());
    (dir, files, cert, reload)
}

#[test]
fn a_check_reads_the_files_only_when_their_metadata_changed_or_a_minute_passed() {
    let p = pki();
    let (dir, files, cert, mut reload) = served_from_files(&p);
    let first = cert.leaf().unwrap();
    let reads = reload.reads;
    for _ in 1..READ_EVERY_CHECKS {
        reload.check();
    }
    assert_eq!(reload.reads, reads, "unchanged files were read");
    reload.check();
    assert_eq!(reload.reads, reads + 1, "no read after a minute of checks");

    // A Secret volume's update: new files renamed over the old ones.
    let next = p.ca.issue_server("srv-2", &["localhost"], &[]).unwrap();
    let staged = dir.path().join("staged");
    std::fs::create_dir(&staged).unwrap();
    std::fs::write(staged.join("tls.crt"), &next.cert_pem).unwrap();
    std::fs::write(staged.join("tls.key"), &next.key_pem).unwrap();
    std::fs::rename(staged.join("tls.key"), &files.key).unwrap();
    std::fs::rename(staged.join("tls.crt"), &files.cert).unwrap();
    reload.check();
    assert_ne!(
        cert.leaf().unwrap(),
        first,
        "the new pair was not picked up"
    );
    assert_eq!(reload.reads, reads + 2);
}

#[test]
fn reloaded_files_larger_than_start_up_accepts_are_not_read() {
    let p = pki();
    let (_dir, files, cert, mut reload) = served_from_files(&p);
    let first = cert.leaf().unwrap();
    // A valid new pair, but its chain repeats the CA certificate past 1 MiB.
    let next = p.ca.issue_server("srv-2", &["localhost"], &[]).unwrap();
    let padded = format!("{}{}", next.cert_pem, p.ca.cert_pem().repeat(3_000));
    assert!(padded.len() > 1024 * 1024);
    std::fs::write(&files.key, &next.key_pem).unwrap();
    std::fs::write(&files.cert, padded).unwrap();
    reload.read_and_apply();
    assert_eq!(cert.leaf().unwrap(), first, "an oversized file was loaded");
    // The same pair within the limit is taken.
    std::fs::write(&files.cert, &next.cert_pem).unwrap();
    reload.read_and_apply();
    assert_ne!(cert.leaf().unwrap(), first, "new certificate not picked up");
}
