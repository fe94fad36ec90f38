//! Where the certificate-based authentication settings come from, and how they change at run
//! time (spec §1.4): `--client-ca-file` and `--requestheader-*` flags win; what they leave out
//! is read from the `kube-system/extension-apiserver-authentication` ConfigMap (unless
//! `--authentication-skip-lookup`) and watched, so a rotated front-proxy or client CA applies
//! without a restart. A failed lookup stops the server unless
//! `--authentication-tolerate-lookup-failure`.

use std::collections::BTreeMap;
use std::sync::Arc;

use arc_swap::ArcSwap;
use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::Api;
use kube::runtime::WatchStreamExt;

use super::client_cert::CaBundle;
use super::requestheader::RequestHeaderConfig;
use crate::config::{AuthConfig, RequestHeaderFlags};

/// Namespace and name of the ConfigMap kube-apiserver publishes for extension apiservers.
pub const CONFIGMAP_NAMESPACE: &str = "kube-system";
pub const CONFIGMAP_NAME: &str = "extension-apiserver-authentication";

/// The certificate authenticators' current settings.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AuthnConfig {
    pub client_ca: Option<CaBundle>,
    pub requestheader: Option<RequestHeaderConfig>,
}

/// Why the settings could not be built.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("reading {flag} {path}: {problem}")]
    File {
        flag: &'static str,
        path: String,
        problem: String,
    },
    #[error(
        "unable to load the {CONFIGMAP_NAMESPACE}/{CONFIGMAP_NAME} ConfigMap (grant the \
         extension-apiserver-authentication-reader role, pass --requestheader-client-ca-file \
         and --client-ca-file, or set --authentication-tolerate-lookup-failure): {0}"
    )]
    Lookup(String),
    #[error("ConfigMap {CONFIGMAP_NAMESPACE}/{CONFIGMAP_NAME} key {key}: {problem}")]
    ConfigMapKey { key: &'static str, problem: String },
}

/// The settings from the flags alone.
struct FlagSettings {
    client_ca: Option<CaBundle>,
    requestheader: Option<RequestHeaderConfig>,
}

fn read_bundle(flag: &'static str, path: &std::path::Path) -> Result<CaBundle, SourceError> {
    let error = |problem: String| SourceError::File {
        flag,
        path: path.display().to_string(),
        problem,
    };
    let text = std::fs::read_to_string(path).map_err(|e| error(e.to_string()))?;
    CaBundle::from_pem(&text).map_err(error)
}

fn flag_settings(cfg: &AuthConfig) -> Result<FlagSettings, SourceError> {
    let client_ca = match &cfg.client_ca_file {
        Some(p) => Some(read_bundle("--client-ca-file", p)?),
        None => None,
    };
    let rh: &RequestHeaderFlags = &cfg.requestheader;
    let requestheader = match &rh.client_ca_file {
        Some(p) => Some(RequestHeaderConfig {
            ca: read_bundle("--requestheader-client-ca-file", p)?,
            allowed_names: rh.allowed_names.clone(),
            username_headers: rh.username_headers.clone(),
            group_headers: rh.group_headers.clone(),
            extra_headers_prefix: rh.extra_headers_prefix.clone(),
            uid_headers: rh.uid_headers.clone(),
        }),
        None => None,
    };
    Ok(FlagSettings {
        client_ca,
        requestheader,
    })
}

impl FlagSettings {
    fn needs_lookup(&self, cfg: &AuthConfig) -> bool {
        !cfg.skip_lookup && (self.client_ca.is_none() || self.requestheader.is_none())
    }

    /// Flags first, the ConfigMap's data for what they leave out.
    fn merge(&self, data: Option<&BTreeMap<String, String>>) -> Result<AuthnConfig, SourceError> {
        let from_map = match data {
            Some(d) => from_configmap(d)?,
            None => AuthnConfig::default(),
        };
        Ok(AuthnConfig {
            client_ca: self.client_ca.clone().or(from_map.client_ca),
            requestheader: self.requestheader.clone().or(from_map.requestheader),
        })
    }
}

/// The settings a ConfigMap's data carries (lists are JSON arrays, as kube-apiserver writes
/// them).
pub fn from_configmap(data: &BTreeMap<String, String>) -> Result<AuthnConfig, SourceError> {
    let pem = |key: &'static str| -> Result<Option<CaBundle>, SourceError> {
        match data.get(key).map(|s| s.trim()).filter(|s| !s.is_empty()) {
            Some(text) => CaBundle::from_pem(text)
                .map(Some)
                .map_err(|problem| SourceError::ConfigMapKey { key, problem }),
            None => Ok(None),
        }
    };
    let list = |key: &'static str| -> Result<Vec<String>, SourceError> {
        match data.get(key).map(|s| s.trim()).filter(|s| !s.is_empty()) {
            Some(text) => {
                serde_json::from_str::<Vec<String>>(text).map_err(|e| SourceError::ConfigMapKey {
                    key,
                    problem: format!("not a JSON list of strings: {e}"),
                })
            }
            None => Ok(Vec::new()),
        }
    };
    let requestheader = match pem("requestheader-client-ca-file")? {
        Some(ca) => Some(RequestHeaderConfig {
            ca,
            allowed_names: list("requestheader-allowed-names")?,
            username_headers: list("requestheader-username-headers")?,
            group_headers: list("requestheader-group-headers")?,
            extra_headers_prefix: list("requestheader-extra-headers-prefix")?,
            uid_headers: list("requestheader-uid-headers")?,
        }),
        None => None,
    };
    Ok(AuthnConfig {
        client_ca: pem("client-ca-file")?,
        requestheader,
    })
}

/// The loaded settings and, when the ConfigMap is used, the task that keeps them current.
pub struct Loaded {
    pub current: Arc<ArcSwap<AuthnConfig>>,
    pub watch: Option<futures::future::BoxFuture<'static, ()>>,
}

/// Reads the flags' files and, when needed, the ConfigMap once (fatal on failure unless
/// tolerated); returns the settings and the watch that keeps them current.
pub async fn load(cfg: &AuthConfig, client: Option<kube::Client>) -> Result<Loaded, SourceError> {
    let flags = flag_settings(cfg)?;
    let client = match client {
        Some(c) if flags.needs_lookup(cfg) => c,
        _ => {
            let current = Arc::new(ArcSwap::from_pointee(flags.merge(None)?));
            return Ok(Loaded {
                current,
                watch: None,
            });
        }
    };
    let api: Api<ConfigMap> = Api::namespaced(client, CONFIGMAP_NAMESPACE);
    let initial = match api.get_opt(CONFIGMAP_NAME).await {
        Ok(Some(cm)) => flags.merge(cm.data.as_ref()),
        Ok(None) => {
            tracing::warn!(
                "ConfigMap {CONFIGMAP_NAMESPACE}/{CONFIGMAP_NAME} not found: front-proxy and \
                 client-certificate authentication stay off until it appears."
            );
            flags.merge(None)
        }
        Err(e) => Err(SourceError::Lookup(e.to_string())),
    };
    let initial = match initial {
        Ok(c) => c,
        Err(e) if cfg.tolerate_lookup_failure => {
            tracing::error!(error = %e, "Continuing without the in-cluster authentication configuration; requests may be treated as anonymous.");
            flags.merge(None)?
        }
        Err(e) => return Err(e),
    };
    let current = Arc::new(ArcSwap::from_pointee(initial));
    let watch = Box::pin(watch_configmap(api, flags, current.clone()));
    Ok(Loaded {
        current,
        watch: Some(watch),
    })
}

/// Applies every change of the ConfigMap; a broken update keeps the previous settings.
async fn watch_configmap(
    api: Api<ConfigMap>,
    flags: FlagSettings,
    current: Arc<ArcSwap<AuthnConfig>>,
) {
    let stream = kube::runtime::watcher::watch_object(api, CONFIGMAP_NAME).default_backoff();
    let mut stream = std::pin::pin!(stream);
    while let Some(event) = stream.next().await {
        let data = match event {
            Ok(cm) => cm.and_then(|cm| cm.data),
            Err(e) => {
                tracing::warn!(error = %e, "Watching {CONFIGMAP_NAMESPACE}/{CONFIGMAP_NAME} failed; retrying.");
                continue;
            }
        };
        match flags.merge(data.as_ref()) {
            Ok(next) if next != **current.load() => {
                tracing::info!(
                    client_ca = next.client_ca.is_some(),
                    requestheader = next.requestheader.is_some(),
                    "Authentication configuration changed in {CONFIGMAP_NAMESPACE}/{CONFIGMAP_NAME}; applied."
                );
                current.store(Arc::new(next));
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "Ignoring an unusable update of the authentication ConfigMap.")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki::CertAuthority;

    #[test]
    fn configmap_data_gives_both_authenticators() {
        let fp = CertAuthority::new("front-proxy-ca").unwrap();
        let client = CertAuthority::new("client-ca").unwrap();
        let data: BTreeMap<String, String> = [
            ("client-ca-file", client.cert_pem()),
            ("requestheader-client-ca-file", fp.cert_pem()),
            ("requestheader-allowed-names", "[\"front-proxy-client\"]"),
            ("requestheader-username-headers", "[\"X-Remote-User\"]"),
            ("requestheader-group-headers", "[\"X-Remote-Group\"]"),
            (
                "requestheader-extra-headers-prefix",
                "[\"X-Remote-Extra-\"]",
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let cfg = from_configmap(&data).unwrap();
        assert!(cfg.client_ca.is_some());
        let rh = cfg.requestheader.unwrap();
        assert_eq!(rh.allowed_names, ["front-proxy-client"]);
        assert_eq!(rh.username_headers, ["X-Remote-User"]);
        assert!(rh.uid_headers.is_empty());
    }

    #[test]
    fn broken_configmap_data_is_an_error_naming_the_key() {
        let data: BTreeMap<String, String> =
            [("requestheader-client-ca-file".to_owned(), "junk".to_owned())].into();
        let err = from_configmap(&data).unwrap_err().to_string();
        assert!(err.contains("requestheader-client-ca-file"), "{err}");
        assert_eq!(
            from_configmap(&BTreeMap::new()).unwrap(),
            AuthnConfig::default()
        );
    }
}
