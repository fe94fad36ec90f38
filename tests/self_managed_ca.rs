//! `--self-managed-ca` against the simulated apiserver: the CA lands in a Secret and is reused,
//! the serving certificate verifies for the Service's DNS name, and both APIServices get the
//! caBundle with `insecureSkipTLSVerify` removed.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::sync::Arc;

use base64::Engine;
use metrics_server::server::kube_setup::kube_config;
use metrics_server::server::self_ca::{API_SERVICES, SelfManaged};
use metrics_server_sim::demo::{self, DemoOptions};
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::ServerCertVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ca_is_kept_in_a_secret_and_published_to_the_apiservices() {
    let dir = tempfile::tempdir().unwrap();
    let demo = demo::start(DemoOptions::for_test(1, 1, dir.path().join("kubeconfig")))
        .await
        .unwrap();
    let client =
        kube::Client::try_from(kube_config(Some(&demo.kubeconfig)).await.unwrap()).unwrap();

    let managed = SelfManaged::setup(client.clone(), "kube-system")
        .await
        .unwrap();
    let secret = demo
        .apiserver
        .stored_object("/api/v1/namespaces/kube-system/secrets/metrics-server-ca")
        .expect("CA Secret created");
    assert!(secret["data"]["ca.key"].is_string());
    assert_eq!(
        managed.dns_names()[..3],
        [
            "metrics-server",
            "metrics-server.kube-system",
            "metrics-server.kube-system.svc"
        ]
    );

    // The serving chain verifies for the Service name against the CA alone.
    let pair = managed.issue_serving().unwrap();
    let chain: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(pair.cert_pem.as_bytes())
            .collect::<Result<_, _>>()
            .unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(managed.ca_pem().as_bytes()).unwrap())
        .unwrap();
    let verifier = WebPkiServerVerifier::builder(Arc::new(roots))
        .build()
        .unwrap();
    let name = ServerName::try_from("metrics-server.kube-system.svc").unwrap();
    verifier
        .verify_server_cert(&chain[0], &chain[1..], &name, &[], UnixTime::now())
        .expect("serving certificate verifies for the Service name");

    managed.publish_ca_bundle().await.unwrap();
    let bundle = base64::engine::general_purpose::STANDARD.encode(managed.ca_pem());
    for name in API_SERVICES {
        let svc = demo
            .apiserver
            .stored_object(&format!(
                "/apis/apiregistration.k8s.io/v1/apiservices/{name}"
            ))
            .unwrap();
        assert_eq!(svc["spec"]["caBundle"], bundle.as_str(), "{name}");
        assert!(
            svc["spec"].get("insecureSkipTLSVerify").is_none(),
            "{name}: {svc}"
        );
    }

    // A second replica (or a restart) reuses the same CA.
    let again = SelfManaged::setup(client, "kube-system").await.unwrap();
    assert_eq!(again.ca_pem(), managed.ca_pem());
    demo.shutdown().await;
}
