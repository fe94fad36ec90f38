//! From `--kubeconfig` (or the in-cluster service account) to a kube client, and to what the
//! kubelet client inherits from it: CA, client certificate and bearer token (spec §1.1, §3.2).

use std::path::Path;

use anyhow::Context;
use base64::Engine;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use secrecy::ExposeSecret;

use std::sync::Arc;

use crate::config::{Config, KubeletConfig};
use crate::kubelet::client::KubeletClientConfig;
use crate::kubelet::tls::KubeletTls;
use crate::kubelet::token::TokenSource;
use crate::kubelet::verify::NodeNames;
use crate::usage::ExtraResources;

/// Loads the API client configuration: the kubeconfig file when given, else in-cluster.
pub async fn kube_config(path: Option<&Path>) -> anyhow::Result<kube::Config> {
    match path {
        Some(p) => {
            let kc = kube::config::Kubeconfig::read_from(p)
                .map_err(|err| kubeconfig_error("reading", p, err))?;
            let opts = kube::config::KubeConfigOptions::default();
            kube::Config::from_custom_kubeconfig(kc, &opts)
                .await
                .map_err(|err| kubeconfig_error("loading", p, err))
        }
        None => kube::Config::incluster()
            .context("no --kubeconfig given and not running in a cluster (in-cluster config)"),
    }
}

/// One line naming the flag, the path once and the cause once: kube's errors repeat their
/// source in their own text, and the read error also quotes the path.
fn kubeconfig_error(doing: &str, path: &Path, err: kube::config::KubeconfigError) -> anyhow::Error {
    let path = path.display();
    match err {
        kube::config::KubeconfigError::ReadConfig(io, _) => {
            anyhow::anyhow!("{doing} --kubeconfig {path}: {io}")
        }
        other => anyhow::anyhow!("{doing} --kubeconfig {path}: {other}"),
    }
}

/// The kubelet TLS settings: flags first, then what the API client configuration carries.
pub fn kubelet_tls(flags: &KubeletConfig, api: &kube::Config) -> anyhow::Result<KubeletTls> {
    let roots = match &flags.certificate_authority {
        Some(path) => read_certs(path, "--kubelet-certificate-authority")?,
        None => api
            .root_cert
            .iter()
            .flatten()
            .map(|der| CertificateDer::from(der.clone()))
            .collect(),
    };
    let identity = match &flags.client_cert {
        Some(files) => Some((
            read_certs(&files.cert, "--kubelet-client-certificate")?,
            PrivateKeyDer::from_pem_file(&files.key)
                .with_context(|| format!("reading --kubelet-client-key {}", files.key.display()))?,
        )),
        None => kubeconfig_identity(&api.auth_info)?,
    };
    Ok(KubeletTls {
        roots,
        insecure: flags.insecure_tls,
        identity,
    })
}

/// The bearer token the kubelet client sends: the kubeconfig token, or its token file (the
/// service-account token in cluster), re-read when it changes.
pub fn kubelet_token(api: &kube::Config) -> TokenSource {
    if let Some(tok) = &api.auth_info.token {
        return TokenSource::Fixed(tok.expose_secret().to_string());
    }
    match &api.auth_info.token_file {
        Some(path) => TokenSource::file(path.into()),
        None => TokenSource::None,
    }
}

/// The kubelet client's settings from the flags, its bearer token ([`kubelet_token`]) and the
/// node names its TLS verifier shares; `extra_resources` is what each scrape fetches beyond CPU
/// and memory.
pub fn kubelet_client_config(
    cfg: &Config,
    token: TokenSource,
    node_names: Arc<NodeNames>,
    extra_resources: ExtraResources,
) -> KubeletClientConfig {
    KubeletClientConfig {
        port: cfg.kubelet.port,
        use_node_status_port: cfg.kubelet.use_node_status_port,
        preferred_address_types: cfg.kubelet.preferred_address_types.clone(),
        request_timeout: cfg.kubelet.request_timeout,
        max_body_bytes: usize::try_from(cfg.kubelet.max_body_bytes).unwrap_or(usize::MAX),
        source: cfg.kubelet.metrics_source,
        extra_resources,
        token,
        node_names,
        plain_http: cfg.compat.kubelet_plain_http,
    }
}

fn read_certs(path: &Path, flag: &str) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .with_context(|| format!("reading {flag} {}", path.display()))?;
    anyhow::ensure!(
        !certs.is_empty(),
        "{flag} {}: no certificate found",
        path.display()
    );
    Ok(certs)
}

type Identity = (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>);

fn kubeconfig_identity(auth: &kube::config::AuthInfo) -> anyhow::Result<Option<Identity>> {
    let cert_pem = pem_source(
        auth.client_certificate_data.as_deref(),
        auth.client_certificate.as_deref(),
    )?;
    let key_data = auth
        .client_key_data
        .as_ref()
        .map(|s| s.expose_secret().to_string());
    let key_pem = pem_source(key_data.as_deref(), auth.client_key.as_deref())?;
    let (Some(cert_pem), Some(key_pem)) = (cert_pem, key_pem) else {
        return Ok(None);
    };
    let certs = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .context("kubeconfig client certificate")?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem).context("kubeconfig client key")?;
    Ok(Some((certs, key)))
}

/// Inline base64 data wins over a file path, as in kubeconfig semantics.
fn pem_source(data_b64: Option<&str>, file: Option<&str>) -> anyhow::Result<Option<Vec<u8>>> {
    if let Some(data) = data_b64 {
        let pem = base64::engine::general_purpose::STANDARD
            .decode(data.trim())
            .context("kubeconfig certificate data is not base64")?;
        return Ok(Some(pem));
    }
    match file {
        Some(f) => Ok(Some(
            std::fs::read(f).with_context(|| format!("reading {f}"))?,
        )),
        None => Ok(None),
    }
}
