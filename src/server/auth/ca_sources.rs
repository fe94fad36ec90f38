//! Where the certificate-based authentication settings come from, and how they change at run
//! time (spec §1.4): `--client-ca-file` and `--requestheader-*` flags win; what they leave out
//! is read from the `kube-system/extension-apiserver-authentication` ConfigMap (unless
//! `--authentication-skip-lookup`) and watched, so a rotated front-proxy or client CA applies
//! without a restart. A failed lookup stops the server unless
//! `--authentication-tolerate-lookup-failure`.
//!
//! The flags' CA files are polled too ([`CA_FILE_POLL`], like the serving certificate): a
//! rewritten `--client-ca-file` or `--requestheader-client-ca-file` applies without a restart,
//! as upstream's dynamic CA file content does. A file that no longer parses is logged and the
//! previous bundle kept.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use arc_swap::ArcSwap;
use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::Api;
use kube::runtime::WatchStreamExt;

use super::client_cert::{CaBundle, CaBundleError};
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
        problem: FileProblem,
    },
    #[error(
        "unable to load the {CONFIGMAP_NAMESPACE}/{CONFIGMAP_NAME} ConfigMap (grant the \
         extension-apiserver-authentication-reader role, pass --requestheader-client-ca-file \
         and --client-ca-file, or set --authentication-tolerate-lookup-failure): {0}"
    )]
    Lookup(kube::Error),
    #[error("ConfigMap {CONFIGMAP_NAMESPACE}/{CONFIGMAP_NAME} key {key}: {problem}")]
    ConfigMapKey {
        key: &'static str,
        problem: KeyProblem,
    },
}

/// What is wrong with a CA file a flag names.
#[derive(Debug, thiserror::Error)]
pub enum FileProblem {
    #[error(transparent)]
    Read(std::io::Error),
    #[error(transparent)]
    Bundle(CaBundleError),
}

/// What is wrong with one key of the ConfigMap.
#[derive(Debug, thiserror::Error)]
pub enum KeyProblem {
    #[error(transparent)]
    Bundle(CaBundleError),
    #[error("not a JSON list of strings: {0}")]
    NotAList(serde_json::Error),
}

/// How often the flags' CA files are read again to look for a change.
pub const CA_FILE_POLL: Duration = Duration::from_secs(5);

/// The settings from the flags alone.
#[derive(Clone)]
struct FlagSettings {
    client_ca: Option<CaBundle>,
    requestheader: Option<RequestHeaderConfig>,
}

fn read_bundle(flag: &'static str, path: &std::path::Path) -> Result<CaBundle, SourceError> {
    let error = |problem: FileProblem| SourceError::File {
        flag,
        path: path.display().to_string(),
        problem,
    };
    let text = std::fs::read_to_string(path).map_err(|e| error(FileProblem::Read(e)))?;
    CaBundle::from_pem(&text).map_err(|e| error(FileProblem::Bundle(e)))
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
            Some(text) => {
                CaBundle::from_pem(text)
                    .map(Some)
                    .map_err(|e| SourceError::ConfigMapKey {
                        key,
                        problem: KeyProblem::Bundle(e),
                    })
            }
            None => Ok(None),
        }
    };
    let list = |key: &'static str| -> Result<Vec<String>, SourceError> {
        match data.get(key).map(|s| s.trim()).filter(|s| !s.is_empty()) {
            Some(text) => {
                serde_json::from_str::<Vec<String>>(text).map_err(|e| SourceError::ConfigMapKey {
                    key,
                    problem: KeyProblem::NotAList(e),
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

/// The loaded settings and the task that keeps them current (when the ConfigMap is used or a
/// CA file is given).
pub struct Loaded {
    pub current: Arc<ArcSwap<AuthnConfig>>,
    pub watch: Option<futures::future::BoxFuture<'static, ()>>,
}

/// What the settings are merged from: the flags' files as last read and the ConfigMap's data
/// as last applied.
struct Inputs {
    flags: FlagSettings,
    configmap: Option<BTreeMap<String, String>>,
}

/// The inputs and the settings made from them, shared by the ConfigMap watch and the file poll.
#[derive(Clone)]
struct Sources {
    inputs: Arc<Mutex<Inputs>>,
    current: Arc<ArcSwap<AuthnConfig>>,
}

impl Sources {
    fn new(
        flags: FlagSettings,
        configmap: Option<BTreeMap<String, String>>,
        initial: AuthnConfig,
    ) -> Self {
        Sources {
            inputs: Arc::new(Mutex::new(Inputs { flags, configmap })),
            current: Arc::new(ArcSwap::from_pointee(initial)),
        }
    }

    /// Replaces what `change` changes and publishes the merge; a merge that fails keeps
    /// both the previous inputs and the previous settings.
    fn update(&self, what: &str, change: impl FnOnce(&mut Inputs)) -> Result<(), SourceError> {
        let mut inputs = self.inputs.lock().unwrap_or_else(PoisonError::into_inner);
        let mut candidate = Inputs {
            flags: inputs.flags.clone(),
            configmap: inputs.configmap.clone(),
        };
        change(&mut candidate);
        let next = candidate.flags.merge(candidate.configmap.as_ref())?;
        *inputs = candidate;
        if next != **self.current.load() {
            tracing::info!(
                client_ca = next.client_ca.is_some(),
                requestheader = next.requestheader.is_some(),
                "Authentication configuration changed in {what}; applied."
            );
            self.current.store(Arc::new(next));
        }
        Ok(())
    }
}

/// Reads the flags' files and, when needed, the ConfigMap once (fatal on failure unless
/// tolerated); returns the settings and the watch that keeps them current.
pub async fn load(cfg: &AuthConfig, client: Option<kube::Client>) -> Result<Loaded, SourceError> {
    load_polling(cfg, client, CA_FILE_POLL).await
}

/// [`load`] with the CA files polled every `poll`.
async fn load_polling(
    cfg: &AuthConfig,
    client: Option<kube::Client>,
    poll: Duration,
) -> Result<Loaded, SourceError> {
    // Read before parsing: a change in between is seen at the first poll.
    let files = FileContents::read(cfg);
    let flags = flag_settings(cfg)?;
    let client = match client {
        Some(c) if flags.needs_lookup(cfg) => c,
        _ => {
            let initial = flags.merge(None)?;
            let sources = Sources::new(flags, None, initial);
            let current = sources.current.clone();
            let watch = (!files.is_empty())
                .then(|| Box::pin(watch_ca_files(cfg.clone(), files, sources, poll)) as _);
            return Ok(Loaded { current, watch });
        }
    };
    let api: Api<ConfigMap> = Api::namespaced(client, CONFIGMAP_NAMESPACE);
    let initial = match api.get_opt(CONFIGMAP_NAME).await {
        Ok(Some(cm)) => flags.merge(cm.data.as_ref()).map(|c| (c, cm.data)),
        Ok(None) => {
            tracing::warn!(
                "ConfigMap {CONFIGMAP_NAMESPACE}/{CONFIGMAP_NAME} not found: front-proxy and \
                 client-certificate authentication stay off until it appears."
            );
            flags.merge(None).map(|c| (c, None))
        }
        Err(e) => Err(SourceError::Lookup(e)),
    };
    let (initial, data) = match initial {
        Ok(found) => found,
        Err(e) if cfg.tolerate_lookup_failure => {
            tracing::error!(error = %e, "Continuing without the in-cluster authentication configuration; requests may be treated as anonymous.");
            (flags.merge(None)?, None)
        }
        Err(e) => return Err(e),
    };
    let sources = Sources::new(flags, data, initial);
    let current = sources.current.clone();
    let configmap = watch_configmap(api, sources.clone());
    let watch = if files.is_empty() {
        Box::pin(configmap) as futures::future::BoxFuture<'static, ()>
    } else {
        let poll = watch_ca_files(cfg.clone(), files, sources, poll);
        Box::pin(async move {
            futures::join!(configmap, poll);
        })
    };
    Ok(Loaded {
        current,
        watch: Some(watch),
    })
}

/// The CA files the flags name and what each held when read (`None`: unreadable).
#[derive(PartialEq)]
struct FileContents(Vec<(PathBuf, Option<Vec<u8>>)>);

impl FileContents {
    fn read(cfg: &AuthConfig) -> Self {
        let files = [&cfg.client_ca_file, &cfg.requestheader.client_ca_file];
        Self::of(files.into_iter().flatten())
    }

    fn read_again(&self) -> Self {
        Self::of(self.0.iter().map(|(f, _)| f))
    }

    fn of<'a>(files: impl Iterator<Item = &'a PathBuf>) -> Self {
        FileContents(files.map(|f| (f.clone(), std::fs::read(f).ok())).collect())
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Applies every change of the ConfigMap; a broken update keeps the previous settings.
async fn watch_configmap(api: Api<ConfigMap>, sources: Sources) {
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
        let what = format!("{CONFIGMAP_NAMESPACE}/{CONFIGMAP_NAME}");
        if let Err(e) = sources.update(&what, |inputs| inputs.configmap = data) {
            tracing::warn!(error = %e, "Ignoring an unusable update of the authentication ConfigMap.");
        }
    }
}

/// Reads the flags' CA files every `poll`; when one changed, reloads both and applies them.
/// A file that does not parse is logged once per change and the previous bundle kept.
/// `seen` is what the files held when the settings were first read.
async fn watch_ca_files(cfg: AuthConfig, seen: FileContents, sources: Sources, poll: Duration) {
    let mut last = seen;
    let mut ticker = tokio::time::interval(poll);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let now = last.read_again();
        if now == last {
            continue;
        }
        last = now;
        let applied = flag_settings(&cfg)
            .and_then(|flags| sources.update("the CA files", |inputs| inputs.flags = flags));
        if let Err(e) = applied {
            tracing::warn!(error = %e, "A CA file changed but is not usable; keeping the previous bundle.");
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

    async fn eventually(what: &str, done: impl Fn() -> bool) {
        for _ in 0..250 {
            if done() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("{what} within 5 s");
    }

    #[tokio::test]
    async fn rewritten_ca_file_applies_without_a_restart_and_a_broken_one_is_ignored() {
        use clap::Parser;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("client-ca.crt");
        let (first, second) = (
            CertAuthority::new("first-ca").unwrap(),
            CertAuthority::new("second-ca").unwrap(),
        );
        let bundle = |ca: &CertAuthority| Some(CaBundle::from_pem(ca.cert_pem()).unwrap());
        std::fs::write(&path, first.cert_pem()).unwrap();
        let flag = format!("--client-ca-file={}", path.display());
        let cli = crate::config::Cli::try_parse_from([
            "metrics-server",
            flag.as_str(),
            "--authentication-skip-lookup",
        ])
        .unwrap();
        let cfg = cli.serve.validate().unwrap().auth;

        let loaded = load_polling(&cfg, None, Duration::from_millis(20))
            .await
            .unwrap();
        let current = loaded.current.clone();
        assert_eq!(current.load().client_ca, bundle(&first));
        let watch = tokio::spawn(loaded.watch.expect("a CA file is polled"));

        std::fs::write(&path, second.cert_pem()).unwrap();
        eventually("the rewritten CA applies", || {
            current.load().client_ca == bundle(&second)
        })
        .await;
        std::fs::write(&path, "not a certificate").unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(
            current.load().client_ca,
            bundle(&second),
            "a broken file keeps the previous bundle"
        );
        std::fs::write(&path, first.cert_pem()).unwrap();
        eventually("the fixed file applies", || {
            current.load().client_ca == bundle(&first)
        })
        .await;
        watch.abort();
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
