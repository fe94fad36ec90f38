//! `--self-managed-ca` (beyond upstream; ms#544/#545, pain points §4): the server keeps its own
//! CA in a Secret (`metrics-server-ca` in its ServiceAccount's namespace), issues its serving
//! certificate for the DNS names of the Service the APIService points at, and writes the CA
//! into `spec.caBundle` of `v1beta1.metrics.k8s.io` and `v1.metrics.k8s.io` (removing
//! `insecureSkipTLSVerify`), so kube-apiserver verifies us. Replicas share the CA: the first one
//! creates the Secret, the others read it. The serving certificate is renewed before it
//! expires, and the caBundle is re-applied if someone changes it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use base64::Engine;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::kube_aggregator::pkg::apis::apiregistration::v1::APIService;
use kube::api::{Api, Patch, PatchParams, PostParams};

use super::serving::ServingCert;
use crate::pki::{CertAuthority, PemPair};

/// The Secret holding the CA.
pub const SECRET_NAME: &str = "metrics-server-ca";
/// The APIServices whose caBundle we own.
pub const API_SERVICES: [&str; 2] = ["v1beta1.metrics.k8s.io", "v1.metrics.k8s.io"];
/// Where the in-cluster ServiceAccount namespace is found.
const NAMESPACE_FILE: &str = "/var/run/secrets/kubernetes.io/serviceaccount/namespace";
/// Validity of the serving certificate; it is renewed after two thirds of it.
const SERVING_VALIDITY: Duration = Duration::from_secs(90 * 86_400);
/// How often the caBundle is checked.
const RECONCILE_INTERVAL: Duration = Duration::from_secs(600);

/// The namespace of our ServiceAccount (else `kube-system`).
pub fn own_namespace() -> String {
    std::fs::read_to_string(NAMESPACE_FILE)
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "kube-system".to_owned())
}

/// The self-managed CA and what it signed.
pub struct SelfManaged {
    client: kube::Client,
    ca: CertAuthority,
    dns_names: Vec<String>,
}

impl SelfManaged {
    /// Loads or creates the CA in `namespace/metrics-server-ca`, and works out the Service
    /// names from the APIService.
    pub async fn setup(client: kube::Client, namespace: &str) -> anyhow::Result<Self> {
        let ca = load_or_create_ca(&client, namespace).await?;
        let (service, service_ns) = service_of_apiservice(&client, namespace).await;
        let dns_names = crate::certs::service_dns_names(&service, &service_ns, "cluster.local");
        Ok(SelfManaged {
            client,
            ca,
            dns_names,
        })
    }

    /// A fresh serving certificate (leaf then CA) for the Service names.
    pub fn issue_serving(&self) -> anyhow::Result<PemPair> {
        let names: Vec<&str> = self.dns_names.iter().map(String::as_str).collect();
        let common_name = names.get(2).copied().unwrap_or("metrics-server");
        let leaf = self.ca.issue_server(common_name, &names, &[])?;
        Ok(PemPair {
            cert_pem: format!("{}{}", leaf.cert_pem, self.ca.cert_pem()),
            key_pem: leaf.key_pem,
        })
    }

    pub fn ca_pem(&self) -> &str {
        self.ca.cert_pem()
    }

    pub fn dns_names(&self) -> &[String] {
        &self.dns_names
    }

    /// Points both APIServices at our CA (a merge patch: caBundle set, insecureSkipTLSVerify
    /// removed); an absent APIService is skipped with a warning.
    pub async fn publish_ca_bundle(&self) -> anyhow::Result<()> {
        let api: Api<APIService> = Api::all(self.client.clone());
        let bundle = base64::engine::general_purpose::STANDARD.encode(self.ca.cert_pem());
        for name in API_SERVICES {
            let current = api
                .get_opt(name)
                .await
                .with_context(|| format!("reading APIService {name}"))?;
            let Some(current) = current else {
                tracing::warn!(
                    apiservice = name,
                    "APIService not found; its caBundle cannot be set."
                );
                continue;
            };
            let spec = current.spec.unwrap_or_default();
            let current_bundle = spec.ca_bundle.as_ref().map(|b| b.0.as_slice());
            if current_bundle == Some(self.ca.cert_pem().as_bytes())
                && spec.insecure_skip_tls_verify != Some(true)
            {
                continue;
            }
            let patch =
                serde_json::json!({"spec": {"caBundle": bundle, "insecureSkipTLSVerify": null}});
            api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
                .with_context(|| format!("patching the caBundle of APIService {name}"))?;
            tracing::info!(
                apiservice = name,
                "Set the APIService caBundle to the self-managed CA."
            );
        }
        Ok(())
    }

    /// Renews the serving certificate after two thirds of its life and keeps the caBundle in
    /// place; runs forever.
    pub async fn maintain(self, serving: Arc<ServingCert>) {
        let renew_every = SERVING_VALIDITY * 2 / 3;
        let mut renew_at = tokio::time::Instant::now() + renew_every;
        loop {
            tokio::time::sleep(RECONCILE_INTERVAL).await;
            if let Err(e) = self.publish_ca_bundle().await {
                tracing::warn!(error = %format!("{e:#}"), "Could not keep the APIService caBundle current.");
            }
            if tokio::time::Instant::now() < renew_at {
                continue;
            }
            match self.issue_serving().map(|p| serving.replace(&p)) {
                Ok(Ok(())) => {
                    tracing::info!("Renewed the serving certificate from the self-managed CA.");
                    renew_at = tokio::time::Instant::now() + renew_every;
                }
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "Renewing the serving certificate failed.")
                }
                Err(e) => {
                    tracing::warn!(error = %format!("{e:#}"), "Renewing the serving certificate failed.")
                }
            }
        }
    }
}

async fn load_or_create_ca(
    client: &kube::Client,
    namespace: &str,
) -> anyhow::Result<CertAuthority> {
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let place = format!("Secret {namespace}/{SECRET_NAME}");
    if let Some(secret) = api
        .get_opt(SECRET_NAME)
        .await
        .with_context(|| format!("reading {place}"))?
    {
        return ca_from_secret(&secret).with_context(|| format!("loading the CA from {place}"));
    }
    let ca = CertAuthority::with_validity(
        "metrics-server-self-managed-ca",
        Duration::from_secs(10 * 365 * 86_400),
        SERVING_VALIDITY,
    )?;
    let data: BTreeMap<String, ByteString> = [
        (
            "ca.crt".to_owned(),
            ByteString(ca.cert_pem().as_bytes().to_vec()),
        ),
        ("ca.key".to_owned(), ByteString(ca.key_pem().into_bytes())),
    ]
    .into();
    let secret = Secret {
        metadata: kube::api::ObjectMeta {
            name: Some(SECRET_NAME.to_owned()),
            namespace: Some(namespace.to_owned()),
            ..Default::default()
        },
        data: Some(data),
        ..Default::default()
    };
    match api.create(&PostParams::default(), &secret).await {
        Ok(_) => {
            tracing::info!(secret = %place, "Created the self-managed CA.");
            Ok(ca)
        }
        // Another replica was first: use its CA.
        Err(kube::Error::Api(e)) if e.code == 409 => {
            let secret = api
                .get(SECRET_NAME)
                .await
                .with_context(|| format!("reading {place}"))?;
            ca_from_secret(&secret).with_context(|| format!("loading the CA from {place}"))
        }
        Err(e) => Err(e).with_context(|| format!("creating {place}")),
    }
}

fn ca_from_secret(secret: &Secret) -> anyhow::Result<CertAuthority> {
    let field = |key: &str| -> anyhow::Result<String> {
        let bytes = secret
            .data
            .as_ref()
            .and_then(|d| d.get(key))
            .with_context(|| format!("key {key} missing"))?;
        String::from_utf8(bytes.0.clone()).with_context(|| format!("key {key} is not text"))
    };
    let ca = CertAuthority::from_pem(&field("ca.crt")?, &field("ca.key")?)?;
    Ok(ca.with_leaf_validity(SERVING_VALIDITY))
}

/// The Service the `v1beta1.metrics.k8s.io` APIService points at; `metrics-server` in
/// `namespace` when it cannot be read.
async fn service_of_apiservice(client: &kube::Client, namespace: &str) -> (String, String) {
    let api: Api<APIService> = Api::all(client.clone());
    let service = match api.get_opt(API_SERVICES[0]).await {
        Ok(found) => found.and_then(|a| a.spec).and_then(|s| s.service),
        Err(e) => {
            tracing::warn!(error = %e, "Could not read APIService {}; assuming Service metrics-server.", API_SERVICES[0]);
            None
        }
    };
    match service {
        Some(s) => (
            s.name.unwrap_or_else(|| "metrics-server".to_owned()),
            s.namespace.unwrap_or_else(|| namespace.to_owned()),
        ),
        None => ("metrics-server".to_owned(), namespace.to_owned()),
    }
}
