//! The certificate chain a TLS server presents, fetched with one bounded handshake that
//! trusts nothing and sends nothing after it: the chain is judged afterwards
//! ([`super::serving_cert`], [`super::kubelet_cert`]) so a report can say which check fails,
//! not just that one did. Only signatures are checked during the handshake.

use std::io::ErrorKind;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rustls::ClientConfig;
use rustls::client::danger::{ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use tokio::net::TcpStream;

/// A client certificate chain and its key.
pub type Identity = (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>);

/// Why no chain was fetched.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PeekError {
    /// Something answered, and refused the connection: nothing listens on that port.
    #[error("connection refused")]
    Refused,
    /// No answer within the deadline.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// No route, a name that does not resolve, …
    #[error("cannot connect: {0}")]
    Unreachable(String),
    /// It answered but the TLS handshake failed before a certificate was seen.
    #[error("TLS handshake failed: {0}")]
    Tls(String),
}

/// Connects to `host:port` and returns the chain presented for `server_name` (sent as SNI
/// when it is a DNS name), leaf first, within `timeout`.
pub async fn fetch_chain(
    host: &str,
    port: u16,
    server_name: ServerName<'static>,
    identity: Option<Identity>,
    timeout: Duration,
) -> Result<Vec<CertificateDer<'static>>, PeekError> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let config = client_config(seen.clone(), identity)?;
    let host = crate::kubelet::address::unbracketed(host).to_owned();
    let handshake = async move {
        let tcp = TcpStream::connect((host.as_str(), port))
            .await
            .map_err(|err| match err.kind() {
                ErrorKind::ConnectionRefused => PeekError::Refused,
                _ => PeekError::Unreachable(err.to_string()),
            })?;
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        let tls = connector.connect(server_name, tcp).await;
        tls.map(drop).map_err(|err| PeekError::Tls(err.to_string()))
    };
    let outcome = tokio::time::timeout(timeout, handshake).await;
    let chain = std::mem::take(&mut *seen.lock().unwrap_or_else(PoisonError::into_inner));
    match outcome {
        // A kubelet may refuse our client certificate after presenting its own: the chain is
        // still what we came for.
        _ if !chain.is_empty() => Ok(chain),
        Err(_) => Err(PeekError::Timeout(timeout)),
        Ok(Err(err)) => Err(err),
        Ok(Ok(())) => Err(PeekError::Tls("no certificate presented".to_owned())),
    }
}

fn client_config(
    seen: Arc<Mutex<Vec<CertificateDer<'static>>>>,
    identity: Option<Identity>,
) -> Result<ClientConfig, PeekError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let recorder = Recorder {
        seen,
        algorithms: provider.signature_verification_algorithms,
    };
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| PeekError::Tls(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(recorder));
    match identity {
        Some((chain, key)) => builder
            .with_client_auth_cert(chain, key)
            .map_err(|e| PeekError::Tls(format!("client certificate: {e}"))),
        None => Ok(builder.with_no_client_auth()),
    }
}

/// Keeps the presented chain and accepts it: nothing is sent over this connection, and the
/// chain is verified afterwards.
#[derive(Debug)]
struct Recorder {
    seen: Arc<Mutex<Vec<CertificateDer<'static>>>>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for Recorder {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        *seen = std::iter::once(end_entity)
            .chain(intermediates)
            .map(|c| c.clone().into_owned())
            .collect();
        Ok(ServerCertVerified::assertion())
    }

    provider_signature_checks!(algorithms);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki::CertAuthority;
    use rustls::pki_types::pem::PemObject;

    #[tokio::test]
    async fn returns_the_chain_without_trusting_it_and_names_refusals() {
        let ca = CertAuthority::new("peek-ca").unwrap();
        let pair = ca.issue_server("srv", &["srv.example"], &[]).unwrap();
        let chain = vec![CertificateDer::from_pem_slice(pair.cert_pem.as_bytes()).unwrap()];
        let key = PrivateKeyDer::from_pem_slice(pair.key_pem.as_bytes()).unwrap();
        let server = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain.clone(), key)
        .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server));
        let serve = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let _ = acceptor.accept(tcp).await;
        });
        let name = ServerName::try_from("srv.example").unwrap();
        let got = fetch_chain(
            "127.0.0.1",
            port,
            name.clone(),
            None,
            Duration::from_secs(5),
        )
        .await
        .unwrap();
        assert_eq!(got, chain);
        serve.await.unwrap();

        let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let closed_port = closed.local_addr().unwrap().port();
        drop(closed);
        let err = fetch_chain("127.0.0.1", closed_port, name, None, Duration::from_secs(5))
            .await
            .unwrap_err();
        assert_eq!(err, PeekError::Refused);
    }
}
