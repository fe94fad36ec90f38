//! TLS towards kubelets: the CA to verify them (with the node-name fallback of
//! [`super::verify`]), the optional client certificate, and the explicit opt-out
//! (`--kubelet-insecure-tls`). Ring provider only.

use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, RootCertStore};

use super::verify::{KubeletVerifier, NodeNames};

/// What to trust and what to present.
pub struct KubeletTls {
    /// CA certificates (DER) that sign kubelet serving certificates.
    pub roots: Vec<CertificateDer<'static>>,
    /// Skip verification entirely (`--kubelet-insecure-tls`).
    pub insecure: bool,
    /// Client certificate chain and key for mTLS to kubelets.
    pub identity: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
}

/// The kubelet TLS settings could not be turned into a client configuration.
#[derive(Debug, thiserror::Error)]
pub enum KubeletTlsError {
    #[error("invalid kubelet CA certificate: {0}")]
    BadCa(rustls::Error),
    #[error("invalid kubelet client certificate or key: {0}")]
    BadIdentity(rustls::Error),
    #[error("TLS setup failed: {0}")]
    Setup(rustls::Error),
}

/// Builds the rustls client configuration, ALPN left to the HTTP client. `names` maps the
/// IPs the client dials to the node names a certificate may carry instead.
pub fn client_config(
    tls: KubeletTls,
    names: Arc<NodeNames>,
) -> Result<ClientConfig, KubeletTlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(KubeletTlsError::Setup)?;
    let builder = if tls.insecure {
        let verifier = InsecureVerifier(provider.signature_verification_algorithms);
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
    } else {
        let mut roots = RootCertStore::empty();
        for cert in tls.roots {
            roots.add(cert).map_err(KubeletTlsError::BadCa)?;
        }
        let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .map_err(|e| KubeletTlsError::Setup(rustls::Error::General(e.to_string())))?;
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(KubeletVerifier::new(webpki, names)))
    };
    match tls.identity {
        Some((chain, key)) => builder
            .with_client_auth_cert(chain, key)
            .map_err(KubeletTlsError::BadIdentity),
        None => Ok(builder.with_no_client_auth()),
    }
}

/// Accepts any kubelet certificate: only with `--kubelet-insecure-tls`, and logged at startup.
#[derive(Debug)]
struct InsecureVerifier(WebPkiSupportedAlgorithms);

impl ServerCertVerifier for InsecureVerifier {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    provider_signature_checks!(0);
}
