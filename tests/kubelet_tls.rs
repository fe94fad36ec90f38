//! Kubelet TLS without `--kubelet-insecure-tls`: verification against the kubelet CA, the
//! node-name fallback for kubelets dialled by IP whose certificate has only DNS names, the
//! classification of each failure with its fix, and client-certificate auth to kubelets.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::rt::{TokioExecutor, TokioIo};
use metrics_server::cluster::NodeInfo;
use metrics_server::config::MetricsSource;
use metrics_server::kubelet::tls::{KubeletTls, client_config};
use metrics_server::kubelet::token::TokenSource;
use metrics_server::kubelet::verify::NodeNames;
use metrics_server::kubelet::{KubeletClient, KubeletClientConfig, ScrapeError};
use metrics_server::pki::{CertAuthority, PemPair};
use rcgen::{CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, SanType};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;

const NODE: &str = "kubelet-node-a";

fn certs(pem: &str) -> Vec<CertificateDer<'static>> {
    CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<_, _>>()
        .unwrap()
}

fn key(pem: &str) -> PrivateKeyDer<'static> {
    PrivateKeyDer::from_pem_slice(pem.as_bytes()).unwrap()
}

/// A kubelet on 127.0.0.1 serving `serving`, optionally requiring client certificates of
/// `client_ca`. Answers 200 to any GET.
async fn kubelet(serving: &PemPair, client_ca: Option<&CertAuthority>) -> SocketAddr {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let builder = rustls::ServerConfig::builder();
    let builder = match client_ca {
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            roots.add(certs(ca.cert_pem()).remove(0)).unwrap();
            builder.with_client_cert_verifier(
                WebPkiClientVerifier::builder(Arc::new(roots))
                    .build()
                    .unwrap(),
            )
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = builder
        .with_single_cert(certs(&serving.cert_pem), key(&serving.key_pem))
        .unwrap();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let service = hyper::service::service_fn(|_req| async {
                    Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(
                        Bytes::from_static(b"ok"),
                    )))
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    addr
}

fn client(ca: &CertAuthority, identity: Option<&PemPair>) -> KubeletClient {
    let names = NodeNames::new();
    let tls = KubeletTls {
        roots: certs(ca.cert_pem()),
        insecure: false,
        identity: identity.map(|p| (certs(&p.cert_pem), key(&p.key_pem))),
    };
    KubeletClient::new(
        KubeletClientConfig {
            port: 10250,
            use_node_status_port: true,
            preferred_address_types: vec!["InternalIP".into()],
            request_timeout: Duration::from_secs(5),
            max_body_bytes: 1 << 20,
            source: MetricsSource::Resource,
            extra_resources: metrics_server::usage::ExtraResources::NONE,
            token: TokenSource::None,
            node_names: names.clone(),
            plain_http: false,
        },
        client_config(tls, names).unwrap(),
    )
}

fn node(port: u16) -> NodeInfo {
    NodeInfo {
        name: Arc::from(NODE),
        addresses: vec![
            ("InternalIP".into(), "127.0.0.1".into()),
            ("Hostname".into(), NODE.into()),
        ],
        kubelet_port: Some(port),
        metrics_path: None,
        labels: Default::default(),
        virtual_kind: None,
    }
}

/// Fetches from the kubelet at `addr` as the scraper does: the client knows the node first.
async fn fetch(client: &KubeletClient, addr: SocketAddr) -> Result<Bytes, ScrapeError> {
    let node = node(addr.port());
    client.know_nodes([&node]);
    client.fetch(&node).await.map(|f| f.body)
}

#[track_caller]
fn tls_failure(result: Result<Bytes, ScrapeError>, label: &str, fix: &str) {
    let err = result.expect_err("must fail");
    assert_eq!(err.reason(), "tls", "{err}");
    assert_eq!(err.tls_failure(), Some(label), "{err}");
    let text = err.to_string();
    assert!(text.contains(fix), "{text}");
}

#[tokio::test]
async fn an_ip_dialled_kubelet_with_only_its_hostname_in_the_cert_is_verified_by_name() {
    let ca = CertAuthority::new("kubelet-ca").unwrap();
    let by_name = ca.issue_server(NODE, &[NODE], &[]).unwrap();
    let addr = kubelet(&by_name, None).await;
    assert_eq!(fetch(&client(&ca, None), addr).await.unwrap(), "ok");

    let with_ip = ca
        .issue_server(NODE, &[], &[IpAddr::V4(Ipv4Addr::LOCALHOST)])
        .unwrap();
    let addr = kubelet(&with_ip, None).await;
    assert_eq!(fetch(&client(&ca, None), addr).await.unwrap(), "ok");
}

#[tokio::test]
async fn a_node_no_longer_scraped_lends_its_name_to_no_ip() {
    let ca = CertAuthority::new("kubelet-ca").unwrap();
    let by_name = ca.issue_server(NODE, &[NODE], &[]).unwrap();
    let addr = kubelet(&by_name, None).await;
    let client = client(&ca, None);
    let gone = node(addr.port());
    client.know_nodes([&gone]);
    // The node left; another one is dialled at the same IP now.
    let mut other = node(addr.port());
    other.name = Arc::from("another-node");
    other.addresses[1].1 = "another-node".into();
    client.know_nodes([&other]);
    tls_failure(
        client.fetch(&other).await.map(|f| f.body),
        "name_mismatch",
        "--kubelet-preferred-address-types",
    );
}

#[tokio::test]
async fn a_certificate_for_another_name_is_a_name_mismatch() {
    let ca = CertAuthority::new("kubelet-ca").unwrap();
    let other = ca.issue_server("other", &["some-other-node"], &[]).unwrap();
    let addr = kubelet(&other, None).await;
    tls_failure(
        fetch(&client(&ca, None), addr).await,
        "name_mismatch",
        "--kubelet-preferred-address-types",
    );
}

#[tokio::test]
async fn a_self_signed_kubelet_is_an_unknown_authority() {
    let ca = CertAuthority::new("kubelet-ca").unwrap();
    let self_signed = CertAuthority::new("kubelet-self-ca")
        .unwrap()
        .issue_server(NODE, &[NODE], &[IpAddr::V4(Ipv4Addr::LOCALHOST)])
        .unwrap();
    let addr = kubelet(&self_signed, None).await;
    tls_failure(
        fetch(&client(&ca, None), addr).await,
        "unknown_ca",
        "--kubelet-certificate-authority",
    );
}

/// A CA and a serving certificate that expired yesterday.
fn expired_pair() -> (CertAuthority, PemPair) {
    // The CA must be one the client trusts, so build both with rcgen here.
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "expiring-ca");
    ca_params.is_ca = IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let mut params = CertificateParams::new(vec![NODE.to_string()]).unwrap();
    params
        .subject_alt_names
        .push(SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.not_before = rcgen::date_time_ymd(2020, 1, 1);
    params.not_after = rcgen::date_time_ymd(2021, 1, 1);
    let key = KeyPair::generate().unwrap();
    let cert = params
        .signed_by(&key, &Issuer::from_params(&ca_params, &ca_key))
        .unwrap();
    let trust = CertAuthority::from_pem(&ca_cert.pem(), &ca_key.serialize_pem()).unwrap();
    (
        trust,
        PemPair {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        },
    )
}

#[tokio::test]
async fn an_expired_kubelet_certificate_says_so() {
    let (ca, expired) = expired_pair();
    let addr = kubelet(&expired, None).await;
    tls_failure(
        fetch(&client(&ca, None), addr).await,
        "expired",
        "has expired",
    );
}

#[tokio::test]
async fn kubelet_client_certificates_are_presented() {
    let ca = CertAuthority::new("kubelet-ca").unwrap();
    let client_ca = CertAuthority::new("kubelet-client-ca").unwrap();
    let serving = ca
        .issue_server(NODE, &[NODE], &[IpAddr::V4(Ipv4Addr::LOCALHOST)])
        .unwrap();
    let addr = kubelet(&serving, Some(&client_ca)).await;
    let identity = client_ca
        .issue_client("system:metrics-server", &[])
        .unwrap();
    assert_eq!(
        fetch(&client(&ca, Some(&identity)), addr).await.unwrap(),
        "ok"
    );
    tls_failure(
        fetch(&client(&ca, None), addr).await,
        "client_cert_rejected",
        "--kubelet-client-certificate",
    );
}
