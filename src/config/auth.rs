//! Flags of the request path: delegated authentication (spec §1.4), delegated authorization
//! (§1.5), serving TLS policy (§1.3 `--tls-min-version`, `--tls-cipher-suites`), the
//! in-flight and timeout limits (§1.6), and our opt-in `--self-managed-ca`. Names, defaults and
//! list syntax are upstream's; [`AuthArgs::validate`] turns them into an [`AuthConfig`].

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::{GoDuration, any_path, parse_go_bool};

/// Request-path flags, flattened into the server's flags.
#[derive(Debug, Args)]
pub struct AuthArgs {
    /// kubeconfig file pointing at the 'core' kubernetes server with enough rights to create
    /// tokenreviews.authentication.k8s.io (defaults to --kubeconfig, else in-cluster).
    #[arg(long, value_name = "PATH", value_parser = any_path())]
    pub authentication_kubeconfig: Option<PathBuf>,
    /// If false, the authentication-kubeconfig will be used to lookup missing authentication
    /// configuration from the cluster.
    #[arg(long, value_name = "BOOL", value_parser = parse_go_bool, default_value = "false",
          num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub authentication_skip_lookup: bool,
    /// If true, failures to look up missing authentication configuration from the cluster are
    /// not considered fatal. Note that this can result in authentication that treats all
    /// requests as anonymous.
    #[arg(long, value_name = "BOOL", value_parser = parse_go_bool, default_value = "false",
          num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub authentication_tolerate_lookup_failure: bool,
    /// The duration to cache responses from the webhook token authenticator.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = GoDuration::parse)]
    pub authentication_token_webhook_cache_ttl: GoDuration,
    /// If set, any request presenting a client certificate signed by one of the authorities in
    /// the client-ca-file is authenticated with an identity corresponding to the CommonName of
    /// the client certificate.
    #[arg(long, value_name = "PATH", value_parser = any_path())]
    pub client_ca_file: Option<PathBuf>,
    /// Root certificate bundle to use to verify client certificates on incoming requests
    /// before trusting usernames in headers specified by --requestheader-username-headers.
    #[arg(long, value_name = "PATH", value_parser = any_path())]
    pub requestheader_client_ca_file: Option<PathBuf>,
    /// List of client certificate common names to allow to provide usernames in headers
    /// specified by --requestheader-username-headers. If empty, any client certificate
    /// validated by the authorities in --requestheader-client-ca-file is allowed.
    #[arg(long, value_name = "NAMES", value_delimiter = ',')]
    pub requestheader_allowed_names: Vec<String>,
    /// List of request headers to inspect for usernames. X-Remote-User is common.
    #[arg(
        long,
        value_name = "HEADERS",
        value_delimiter = ',',
        default_value = "x-remote-user"
    )]
    pub requestheader_username_headers: Vec<String>,
    /// List of request headers to inspect for groups. X-Remote-Group is suggested.
    #[arg(
        long,
        value_name = "HEADERS",
        value_delimiter = ',',
        default_value = "x-remote-group"
    )]
    pub requestheader_group_headers: Vec<String>,
    /// List of request header prefixes to inspect. X-Remote-Extra- is suggested.
    #[arg(
        long,
        value_name = "PREFIXES",
        value_delimiter = ',',
        default_value = "x-remote-extra-"
    )]
    pub requestheader_extra_headers_prefix: Vec<String>,
    /// List of request headers to inspect for UIDs. X-Remote-Uid is suggested.
    #[arg(long, value_name = "HEADERS", value_delimiter = ',')]
    pub requestheader_uid_headers: Vec<String>,
    /// kubeconfig file pointing at the 'core' kubernetes server with enough rights to create
    /// subjectaccessreviews.authorization.k8s.io (defaults to --kubeconfig, else in-cluster).
    #[arg(long, value_name = "PATH", value_parser = any_path())]
    pub authorization_kubeconfig: Option<PathBuf>,
    /// A list of HTTP paths to skip during authorization, i.e. these are authorized without
    /// contacting the 'core' kubernetes server. A trailing '*' matches a prefix.
    #[arg(
        long,
        value_name = "PATHS",
        value_delimiter = ',',
        default_value = "/healthz,/readyz,/livez"
    )]
    pub authorization_always_allow_paths: Vec<String>,
    /// The duration to cache 'authorized' responses from the webhook authorizer.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = GoDuration::parse)]
    pub authorization_webhook_cache_authorized_ttl: GoDuration,
    /// The duration to cache 'unauthorized' responses from the webhook authorizer.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = GoDuration::parse)]
    pub authorization_webhook_cache_unauthorized_ttl: GoDuration,
    /// Minimum TLS version supported. Possible values: VersionTLS10, VersionTLS11,
    /// VersionTLS12, VersionTLS13 (below 1.2 is never negotiated here).
    #[arg(long, value_name = "VERSION", default_value = "VersionTLS12")]
    pub tls_min_version: String,
    /// Comma-separated list of cipher suites for the server (Go names). TLS 1.3 suites are not
    /// configurable. If omitted, the default suites are used.
    #[arg(long, value_name = "SUITES", value_delimiter = ',')]
    pub tls_cipher_suites: Vec<String>,
    /// The maximum number of non-mutating requests in flight at a given time. When the
    /// server exceeds this, it rejects requests (429). Zero for no limit.
    #[arg(long, value_name = "N", default_value_t = 400)]
    pub max_requests_inflight: u32,
    /// An optional field indicating the duration a handler must keep a request open before
    /// timing it out.
    #[arg(long, value_name = "DURATION", default_value = "1m0s", value_parser = GoDuration::parse)]
    pub request_timeout: GoDuration,
    /// Keep a CA in a Secret beside the server, issue the serving certificate from it for the
    /// Service's DNS names, and write the CA into the caBundle of the metrics APIServices.
    #[arg(long, value_name = "BOOL", value_parser = parse_go_bool, default_value = "false",
          num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub self_managed_ca: bool,
}

/// The validated request-path configuration.
#[derive(Clone, Debug)]
pub struct AuthConfig {
    pub authentication_kubeconfig: Option<PathBuf>,
    pub skip_lookup: bool,
    pub tolerate_lookup_failure: bool,
    pub token_cache_ttl: Duration,
    pub client_ca_file: Option<PathBuf>,
    pub requestheader: RequestHeaderFlags,
    pub authorization_kubeconfig: Option<PathBuf>,
    pub always_allow_paths: Vec<String>,
    pub authorized_ttl: Duration,
    pub unauthorized_ttl: Duration,
    pub tls: TlsPolicy,
    /// `0` = unlimited.
    pub max_requests_inflight: u32,
    pub request_timeout: Duration,
    pub self_managed_ca: bool,
}

/// `--requestheader-*`: used as a whole when `--requestheader-client-ca-file` is given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestHeaderFlags {
    pub client_ca_file: Option<PathBuf>,
    pub allowed_names: Vec<String>,
    pub username_headers: Vec<String>,
    pub group_headers: Vec<String>,
    pub extra_headers_prefix: Vec<String>,
    pub uid_headers: Vec<String>,
}

/// Lowest TLS version the server negotiates.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum TlsMinVersion {
    Tls12,
    Tls13,
}

/// Serving TLS policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsPolicy {
    pub min_version: TlsMinVersion,
    /// TLS 1.2 suites allowed; empty = rustls's defaults. TLS 1.3 suites are always on.
    pub tls12_suites: Vec<rustls::CipherSuite>,
}

/// A request-path flag that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthFlagError {
    #[error("--{flag} must not be negative, but value {value} provided")]
    NegativeDuration {
        flag: &'static str,
        value: GoDuration,
    },
    #[error("--request-timeout should be positive, but value {0} provided")]
    RequestTimeoutNotPositive(GoDuration),
    #[error(
        "--tls-min-version {0:?} is not supported: use VersionTLS10, VersionTLS11, VersionTLS12 \
         or VersionTLS13"
    )]
    UnknownTlsVersion(String),
    #[error("--tls-cipher-suites: unknown cipher suite {0:?}")]
    UnknownCipherSuite(String),
    #[error(
        "--tls-cipher-suites: {0} is insecure and not offered by this server; use ECDHE suites \
         with AES-GCM or ChaCha20-Poly1305"
    )]
    InsecureCipherSuite(String),
    #[error(
        "--tls-cipher-suites names no TLS 1.2 suite this server supports while \
         --tls-min-version allows TLS 1.2"
    )]
    NoTls12Suite,
}

impl AuthArgs {
    /// Checks the flags; the first problem wins.
    pub fn validate(self) -> Result<AuthConfig, AuthFlagError> {
        let ttl = |flag: &'static str, value: GoDuration| {
            value
                .to_std()
                .ok_or(AuthFlagError::NegativeDuration { flag, value })
        };
        let token_cache_ttl = ttl(
            "authentication-token-webhook-cache-ttl",
            self.authentication_token_webhook_cache_ttl,
        )?;
        let authorized_ttl = ttl(
            "authorization-webhook-cache-authorized-ttl",
            self.authorization_webhook_cache_authorized_ttl,
        )?;
        let unauthorized_ttl = ttl(
            "authorization-webhook-cache-unauthorized-ttl",
            self.authorization_webhook_cache_unauthorized_ttl,
        )?;
        let request_timeout = self
            .request_timeout
            .to_std()
            .filter(|d| !d.is_zero())
            .ok_or(AuthFlagError::RequestTimeoutNotPositive(
                self.request_timeout,
            ))?;
        let tls = tls_policy(&self.tls_min_version, &self.tls_cipher_suites)?;
        Ok(AuthConfig {
            authentication_kubeconfig: non_empty(self.authentication_kubeconfig),
            skip_lookup: self.authentication_skip_lookup,
            tolerate_lookup_failure: self.authentication_tolerate_lookup_failure,
            token_cache_ttl,
            client_ca_file: non_empty(self.client_ca_file),
            requestheader: RequestHeaderFlags {
                client_ca_file: non_empty(self.requestheader_client_ca_file),
                allowed_names: clean(self.requestheader_allowed_names),
                username_headers: clean(self.requestheader_username_headers),
                group_headers: clean(self.requestheader_group_headers),
                extra_headers_prefix: clean(self.requestheader_extra_headers_prefix),
                uid_headers: clean(self.requestheader_uid_headers),
            },
            authorization_kubeconfig: non_empty(self.authorization_kubeconfig),
            always_allow_paths: clean(self.authorization_always_allow_paths),
            authorized_ttl,
            unauthorized_ttl,
            tls,
            max_requests_inflight: self.max_requests_inflight,
            request_timeout,
            self_managed_ca: self.self_managed_ca,
        })
    }
}

fn non_empty(path: Option<PathBuf>) -> Option<PathBuf> {
    path.filter(|p| !p.as_os_str().is_empty())
}

/// Trimmed, without empty entries (`--flag=` gives an empty list, as pflag does).
fn clean(list: Vec<String>) -> Vec<String> {
    list.into_iter()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect()
}

/// `--tls-min-version` and `--tls-cipher-suites` into a [`TlsPolicy`].
pub fn tls_policy(min_version: &str, suites: &[String]) -> Result<TlsPolicy, AuthFlagError> {
    let min_version = match min_version.trim() {
        // rustls never speaks TLS 1.0/1.1: accepting the names keeps manifests working.
        "" | "VersionTLS10" | "VersionTLS11" | "VersionTLS12" => TlsMinVersion::Tls12,
        "VersionTLS13" => TlsMinVersion::Tls13,
        other => return Err(AuthFlagError::UnknownTlsVersion(other.to_owned())),
    };
    let mut tls12_suites = Vec::new();
    let mut named_any = false;
    for name in suites.iter().map(|s| s.trim()).filter(|s| !s.is_empty()) {
        named_any = true;
        match go_cipher_suite(name)? {
            GoSuite::Tls12(suite) if !tls12_suites.contains(&suite) => tls12_suites.push(suite),
            GoSuite::Tls12(_) | GoSuite::Tls13 => {}
        }
    }
    if named_any && tls12_suites.is_empty() && min_version == TlsMinVersion::Tls12 {
        return Err(AuthFlagError::NoTls12Suite);
    }
    Ok(TlsPolicy {
        min_version,
        tls12_suites,
    })
}

enum GoSuite {
    Tls12(rustls::CipherSuite),
    /// A TLS 1.3 suite: accepted and ignored, as Go does (TLS 1.3 suites are always on).
    Tls13,
}

/// Go's `crypto/tls` cipher suite names: the ones rustls offers, the TLS 1.3 ones, and the
/// insecure ones Go knows (rejected with a clear message); anything else is unknown.
fn go_cipher_suite(name: &str) -> Result<GoSuite, AuthFlagError> {
    use rustls::CipherSuite as C;
    let suite = match name {
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256" => C::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256" => C::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384" => C::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384" => C::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305"
        | "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256" => {
            C::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256
        }
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305" | "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256" => {
            C::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256
        }
        "TLS_AES_128_GCM_SHA256" | "TLS_AES_256_GCM_SHA384" | "TLS_CHACHA20_POLY1305_SHA256" => {
            return Ok(GoSuite::Tls13);
        }
        "TLS_RSA_WITH_RC4_128_SHA"
        | "TLS_RSA_WITH_3DES_EDE_CBC_SHA"
        | "TLS_RSA_WITH_AES_128_CBC_SHA"
        | "TLS_RSA_WITH_AES_256_CBC_SHA"
        | "TLS_RSA_WITH_AES_128_CBC_SHA256"
        | "TLS_RSA_WITH_AES_128_GCM_SHA256"
        | "TLS_RSA_WITH_AES_256_GCM_SHA384"
        | "TLS_ECDHE_ECDSA_WITH_RC4_128_SHA"
        | "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA"
        | "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA"
        | "TLS_ECDHE_RSA_WITH_RC4_128_SHA"
        | "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA"
        | "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA"
        | "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA"
        | "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256"
        | "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256" => {
            return Err(AuthFlagError::InsecureCipherSuite(name.to_owned()));
        }
        other => return Err(AuthFlagError::UnknownCipherSuite(other.to_owned())),
    };
    Ok(GoSuite::Tls12(suite))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_versions_map_to_what_rustls_speaks() {
        assert_eq!(
            tls_policy("", &[]).unwrap().min_version,
            TlsMinVersion::Tls12
        );
        assert_eq!(
            tls_policy("VersionTLS10", &[]).unwrap().min_version,
            TlsMinVersion::Tls12
        );
        assert_eq!(
            tls_policy("VersionTLS13", &[]).unwrap().min_version,
            TlsMinVersion::Tls13
        );
        assert_eq!(
            tls_policy("TLS1.3", &[]),
            Err(AuthFlagError::UnknownTlsVersion("TLS1.3".into()))
        );
    }

    #[test]
    fn cipher_suites_use_go_names() {
        let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let p = tls_policy(
            "VersionTLS12",
            &names(&[
                "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
                "TLS_AES_128_GCM_SHA256",
                "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305",
            ]),
        )
        .unwrap();
        assert_eq!(
            p.tls12_suites,
            [
                rustls::CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
                rustls::CipherSuite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256
            ]
        );
        assert_eq!(
            tls_policy("", &names(&["TLS_FOO"])),
            Err(AuthFlagError::UnknownCipherSuite("TLS_FOO".into()))
        );
        assert!(matches!(
            tls_policy("", &names(&["TLS_RSA_WITH_3DES_EDE_CBC_SHA"])),
            Err(AuthFlagError::InsecureCipherSuite(_))
        ));
        assert_eq!(
            tls_policy("", &names(&["TLS_AES_128_GCM_SHA256"])),
            Err(AuthFlagError::NoTls12Suite)
        );
        assert!(tls_policy("VersionTLS13", &names(&["TLS_AES_128_GCM_SHA256"])).is_ok());
    }
}
