//! Authentication and authorization of direct callers, over real TLS against the demo
//! cluster: every caller is a stranger until proven otherwise. Each denial must be a `Status`
//! with no metrics in it.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::time::Duration;

use common::{Got, Https, ready_demo};
use metrics_server::config::MetricsSource;
use metrics_server::pki::CertAuthority;
use metrics_server_sim::demo::{self, DEMO_TOKEN, NO_RBAC_TOKEN};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const NODES: &str = "/apis/metrics.k8s.io/v1beta1/nodes";
const PODS: &str = "/apis/metrics.k8s.io/v1/namespaces/team-a/pods";

/// The answer is a Status with `code` and carries no metrics.
#[track_caller]
fn denied(r: &Got, code: u16) -> Value {
    assert_eq!(r.status, code, "{}", r.body);
    let body: Value =
        serde_json::from_str(&r.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", r.body));
    assert_eq!(body["kind"], "Status", "{}", r.body);
    assert_eq!(body["code"], code);
    for leak in ["usage", "items", "sim-node", "\"cpu\"", "memory"] {
        assert!(!r.body.contains(leak), "{leak} leaked: {}", r.body);
    }
    body
}

/// A client certificate and key written into `dir`, issued by `ca`.
fn client_files(
    dir: &Path,
    ca: &CertAuthority,
    cn: &str,
    orgs: &[&str],
) -> (std::path::PathBuf, std::path::PathBuf) {
    let pair = ca.issue_client(cn, orgs).unwrap();
    let (cert, key) = (dir.join(format!("{cn}.crt")), dir.join(format!("{cn}.key")));
    std::fs::write(&cert, pair.cert_pem).unwrap();
    std::fs::write(&key, pair.key_pem).unwrap();
    (cert, key)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strangers_are_denied_and_nothing_leaks() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let demo = ready_demo(d, 2, 4, MetricsSource::Resource).await;
    let base = format!("https://127.0.0.1:{}", demo.server.local_addr.port());
    let url = |p: &str| format!("{base}{p}");
    let ca = d.join("demo-ca.crt");
    let anonymous = Https::trusting(&ca);

    // The aggregator's identity works (the demo reads the front-proxy CA from the ConfigMap).
    let ok = Https::as_aggregator(d).get(&url(NODES), None).await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert!(ok.body.contains("sim-node-1"));

    // 1. No credentials on a resource path: 403, anonymous.
    let r = anonymous.get(&url(NODES), None).await;
    let s = denied(&r, 403);
    assert_eq!(
        s["message"],
        "nodes.metrics.k8s.io is forbidden: User \"system:anonymous\" cannot list resource \"nodes\" in API group \"metrics.k8s.io\" at the cluster scope"
    );
    denied(&anonymous.get(&url(PODS), None).await, 403);
    // Discovery and /version are non-resource paths: also reviewed, also denied.
    denied(&anonymous.get(&url("/apis"), None).await, 403);
    denied(&anonymous.get(&url("/version"), None).await, 403);
    // Health probes stay open.
    assert_eq!(anonymous.get(&url("/healthz"), None).await.status, 200);

    // 2. Forged X-Remote-User without a client certificate: still anonymous, 403.
    let forged = [
        ("X-Remote-User", "system:admin"),
        ("X-Remote-Group", "system:masters"),
    ];
    let s = denied(&anonymous.get_with(&url(NODES), &forged).await, 403);
    assert!(s["message"].as_str().unwrap().contains("system:anonymous"));

    // 3. A valid client certificate from the wrong CA, with the headers: 401.
    let other_ca = CertAuthority::new("not-the-front-proxy-ca").unwrap();
    let (cert, key) = client_files(d, &other_ca, "front-proxy-client", &["system:masters"]);
    let wrong_ca = Https::with_identity(&ca, &cert, &key, &forged);
    denied(&wrong_ca.get(&url(NODES), None).await, 401);

    // 4. A front-proxy certificate whose CN is not allowed: 401.
    let fp_ca_pem = std::fs::read_to_string(d.join("demo-front-proxy-ca.crt")).unwrap();
    assert!(fp_ca_pem.contains("BEGIN CERTIFICATE"));
    // The demo front-proxy CA's key is not on disk; rotate to a CA this test owns instead,
    // keeping the allowed name.
    let fp_ca = CertAuthority::new("test-front-proxy-ca").unwrap();
    demo.apiserver
        .set_extension_auth(Some(demo::extension_auth_data(
            &std::fs::read_to_string(&ca).unwrap(),
            fp_ca.cert_pem(),
        )));
    let (cert, key) = client_files(d, &fp_ca, "front-proxy-client", &[]);
    let rotated = Https::with_identity(&ca, &cert, &key, &[("X-Remote-User", "demo-user")]);
    // Rotation applies without a restart: the new CA's certificate soon works…
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let r = rotated.get(&url(NODES), None).await;
        if r.status == 200 {
            break;
        }
        denied(&r, 401);
        assert!(
            tokio::time::Instant::now() < deadline,
            "rotated front-proxy CA not applied"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // …and the old aggregator certificate no longer does.
    denied(&Https::as_aggregator(d).get(&url(NODES), None).await, 401);
    let (cert, key) = client_files(d, &fp_ca, "somebody-else", &[]);
    let wrong_cn = Https::with_identity(&ca, &cert, &key, &[("X-Remote-User", "demo-user")]);
    denied(&wrong_cn.get(&url(NODES), None).await, 401);

    // 5. A bearer token the TokenReview rejects: 401.
    let bad_token = [("Authorization", "Bearer not-a-real-token")];
    denied(&anonymous.get_with(&url(NODES), &bad_token).await, 401);

    // 6. A valid token whose user RBAC does not allow: 403; with RBAC: 200.
    let no_rbac = format!("Bearer {NO_RBAC_TOKEN}");
    let s = denied(
        &anonymous
            .get_with(&url(PODS), &[("Authorization", no_rbac.as_str())])
            .await,
        403,
    );
    assert_eq!(
        s["message"],
        "pods.metrics.k8s.io is forbidden: User \"no-rbac-user\" cannot list resource \"pods\" in API group \"metrics.k8s.io\" in the namespace \"team-a\""
    );
    let good = format!("Bearer {DEMO_TOKEN}");
    let r = anonymous
        .get_with(&url(PODS), &[("Authorization", good.as_str())])
        .await;
    assert_eq!(r.status, 200, "{}", r.body);

    // 7. A head over the apiserver's 1 MiB: refused before any handler runs; within it, the
    // request is judged as any other.
    let huge = "x".repeat(1024 * 1024 + 4096);
    let r = anonymous
        .get_with(&url(NODES), &[("X-Padding", huge.as_str())])
        .await;
    assert_eq!(r.status, 431, "{}", r.body);
    assert!(!r.body.contains("sim-node"));
    let large = "x".repeat(80 * 1024);
    let r = anonymous
        .get_with(&url(NODES), &[("X-Padding", large.as_str())])
        .await;
    assert_eq!(r.status, 403, "{}", r.body);

    // 7b. A path longer than any the API has: 414, before any review.
    let long = format!("{NODES}/{}", "n".repeat(5000));
    let r = anonymous.get(&url(&long), None).await;
    denied(&r, 414);

    // 8. The apiserver is unreachable for the access review: denied (500), never allowed.
    let demo::Demo {
        server,
        apiserver,
        kubelets,
        ..
    } = demo;
    apiserver.shutdown().await;
    let fresh_user = [("X-Remote-User", "never-reviewed-user")];
    let (cert, key) = (
        d.join("front-proxy-client.crt"),
        d.join("front-proxy-client.key"),
    );
    let r = Https::with_identity(&ca, &cert, &key, &fresh_user)
        .get(&url(NODES), None)
        .await;
    let s = denied(&r, 500);
    assert!(
        s["message"]
            .as_str()
            .unwrap()
            .contains("authorization could not be checked"),
        "{}",
        r.body
    );
    server.shutdown().await;
    kubelets.shutdown().await;
}

/// A TLS 1.1 ClientHello (record 0x0301, client_version 0x0302), no extensions.
fn tls11_client_hello() -> Vec<u8> {
    let mut body = vec![0x03, 0x02];
    body.extend([7u8; 32]); // random
    body.push(0); // session id
    // AES128-SHA, ECDHE-RSA-AES128-SHA, and the TLS 1.2 GCM suites the server has.
    body.extend([0x00, 0x08, 0x00, 0x2f, 0xc0, 0x13, 0xc0, 0x2b, 0xc0, 0x2f]);
    body.extend([0x01, 0x00]); // compression: null
    let mut handshake = vec![0x01, 0x00];
    handshake.extend(u16::try_from(body.len()).unwrap().to_be_bytes());
    handshake.extend(body);
    let mut record = vec![0x16, 0x03, 0x01];
    record.extend(u16::try_from(handshake.len()).unwrap().to_be_bytes());
    record.extend(handshake);
    record
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_below_1_2_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let demo = demo::start(demo::DemoOptions::for_test(
        1,
        1,
        dir.path().join("kubeconfig"),
    ))
    .await
    .unwrap();
    let mut tcp = tokio::net::TcpStream::connect(demo.server.local_addr)
        .await
        .unwrap();
    tcp.write_all(&tls11_client_hello()).await.unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), tcp.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "the server must close the connection");
    // A fatal alert (content type 21), never a ServerHello (22).
    assert!(answer.is_empty() || answer[0] == 0x15, "{answer:?}");
    if answer.len() >= 7 {
        assert_eq!(answer[5], 2, "fatal");
        eprintln!("TLS 1.1 ClientHello answered with alert {}", answer[6]);
        assert!(
            [70, 40].contains(&answer[6]),
            "protocol_version or handshake_failure alert"
        );
    }
    demo.shutdown().await;
}
