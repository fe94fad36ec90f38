//! The handshake-signature methods every rustls certificate verifier must implement. Our
//! verifiers that decide trust themselves (the kubelet `--kubelet-insecure-tls` verifier and
//! the serving side's "ask for a client certificate" verifier) still check signatures with the
//! crypto provider's algorithms; this macro writes those three methods once.

/// Inside an `impl ServerCertVerifier`/`impl ClientCertVerifier` block: the three signature
/// methods, checked with the `WebPkiSupportedAlgorithms` in field `$algorithms` of `self`.
macro_rules! provider_signature_checks {
    ($algorithms:tt) => {
        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &rustls::pki_types::CertificateDer<'_>,
            dss: &rustls::DigitallySignedStruct,
        ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls12_signature(message, cert, dss, &self.$algorithms)
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &rustls::pki_types::CertificateDer<'_>,
            dss: &rustls::DigitallySignedStruct,
        ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls13_signature(message, cert, dss, &self.$algorithms)
        }

        fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
            self.$algorithms.supported_schemes()
        }
    };
}
