//! What an APIService's `Available` condition means, in plain words, and how to fix it.
//!
//! kube-aggregator's availability controller (`remote_available_controller.go`) writes one
//! reason and one message per APIService; the message is a Go error chain such as
//! `failing or missing response from https://10.244.1.5:10250/apis/metrics.k8s.io/v1beta1:
//! Get "https://…": dial tcp 10.244.1.5:10250: i/o timeout`. Users see only that text (or
//! `ServiceUnavailable` from `kubectl top`). [`explain`] turns it into a [`Problem`] (typed,
//! with the address, Service or status it names) and an [`Explanation`]: what is wrong and
//! the exact fixes, most likely first.
//!
//! Pure: no I/O, no kube types; the running server's watch and `metrics-server diagnose`
//! both use it.

use std::fmt;

/// A Service as an APIService names it (`spec.service`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ServiceRef {
    pub namespace: String,
    pub name: String,
}

impl ServiceRef {
    pub fn new(namespace: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            namespace: namespace.into(),
            name: name.into(),
        }
    }

    /// The DNS name the aggregator verifies the serving certificate against
    /// (`<name>.<namespace>.svc`).
    pub fn serving_name(&self) -> String {
        format!("{}.{}.svc", self.name, self.namespace)
    }
}

impl fmt::Display for ServiceRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// Where the aggregator's discovery check went: `host:port` from the URL in the message (a pod
/// IP with `--enable-aggregator-routing=true`, otherwise the Service's cluster IP).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// The host as written in the URL (IPv6 literals keep their brackets).
    pub host: String,
    /// The port, when the URL carries one.
    pub port: Option<u16>,
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.port {
            Some(port) => write!(f, "{}:{port}", self.host),
            None => f.write_str(&self.host),
        }
    }
}

/// How a connection to the target failed below TLS.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum NetFailure {
    /// `i/o timeout`, `context deadline exceeded`, `Client.Timeout exceeded`, `timed out
    /// waiting for`: packets go unanswered (dropped by a firewall, or no route at all).
    Timeout,
    /// `no route to host`, `network is unreachable`: the apiserver's host has no path there.
    NoRoute,
    /// `connection reset by peer`, `EOF`, `broken pipe`: something accepted and then dropped it.
    Reset,
}

/// What an `Available` condition says is wrong, with the names and numbers it carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Problem {
    /// `Available=True`: nothing is wrong (`Passed`, or `Local` for a built-in group).
    Available,
    /// The apiserver cannot reach the target address at all.
    Unreachable { target: Target, failure: NetFailure },
    /// The address answers, but nothing listens on the port (`connection refused`).
    Refused { target: Target },
    /// The serving certificate is not signed by the APIService's `caBundle`.
    UnknownAuthority { target: Target },
    /// The serving certificate does not name `<service>.<namespace>.svc`.
    NameMismatch {
        target: Target,
        /// What the certificate is valid for, as Go prints it (may be empty).
        valid_for: String,
        /// The name the aggregator wanted.
        wanted: String,
    },
    /// The serving certificate has expired (or is not valid yet).
    CertificateExpired { target: Target, detail: String },
    /// Any other x509 verification error.
    CertificateInvalid { target: Target, detail: String },
    /// The server rejected the aggregator's front-proxy client certificate during the handshake
    /// (`remote error: tls: …`).
    ClientCertificateRejected { target: Target, detail: String },
    /// The port speaks plain HTTP (or something else that is not TLS).
    NotTls { target: Target },
    /// HTTP 401 on discovery: the server did not authenticate the aggregator's request.
    Unauthorized { target: Target },
    /// HTTP 403 on discovery: the server authenticated it but refused it.
    Forbidden { target: Target },
    /// Any other non-2xx/3xx status on discovery.
    BadStatus { target: Target, status: u16 },
    /// `ServiceNotFound`: `spec.service` names a Service that does not exist.
    ServiceNotFound { service: ServiceRef },
    /// `ServicePortError`: the Service has no port equal to `spec.service.port`.
    ServicePortMissing { service: ServiceRef, port: u16 },
    /// `EndpointsNotFound`: the Service has no Endpoints/EndpointSlices object at all.
    EndpointsNotFound { service: ServiceRef },
    /// `MissingEndpoints` (or the resolver's `no endpoints available`): no Ready pod behind the
    /// Service's port.
    NoReadyEndpoints {
        service: Option<ServiceRef>,
        port_name: Option<String>,
    },
    /// `ServiceAccessError` / `EndpointsAccessError`: the aggregator could not read the Service
    /// or its endpoints (its own informers failed).
    AccessError {
        service: Option<ServiceRef>,
        cause: String,
    },
    /// A reason or message this module does not know.
    Unrecognized { reason: String, message: String },
}

impl Problem {
    /// Stable machine-readable name (logs, Event notes, self-metrics labels).
    pub fn kind(&self) -> &'static str {
        match self {
            Problem::Available => "available",
            Problem::Unreachable {
                failure: NetFailure::Timeout,
                ..
            } => "unreachable_timeout",
            Problem::Unreachable {
                failure: NetFailure::NoRoute,
                ..
            } => "unreachable_no_route",
            Problem::Unreachable {
                failure: NetFailure::Reset,
                ..
            } => "connection_reset",
            Problem::Refused { .. } => "connection_refused",
            Problem::UnknownAuthority { .. } => "certificate_unknown_authority",
            Problem::NameMismatch { .. } => "certificate_name_mismatch",
            Problem::CertificateExpired { .. } => "certificate_expired",
            Problem::CertificateInvalid { .. } => "certificate_invalid",
            Problem::ClientCertificateRejected { .. } => "client_certificate_rejected",
            Problem::NotTls { .. } => "not_tls",
            Problem::Unauthorized { .. } => "unauthorized",
            Problem::Forbidden { .. } => "forbidden",
            Problem::BadStatus { .. } => "bad_status",
            Problem::ServiceNotFound { .. } => "service_not_found",
            Problem::ServicePortMissing { .. } => "service_port_missing",
            Problem::EndpointsNotFound { .. } => "endpoints_not_found",
            Problem::NoReadyEndpoints { .. } => "no_ready_endpoints",
            Problem::AccessError { .. } => "aggregator_access_error",
            Problem::Unrecognized { .. } => "unrecognized",
        }
    }
}

/// A condition explained: the typed problem, one sentence on what is wrong, and the fixes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Explanation {
    pub problem: Problem,
    /// What is wrong, in plain words, naming the address/Service the condition names.
    pub summary: String,
    /// The exact fixes, most likely first; empty when nothing is wrong.
    pub fixes: Vec<String>,
}

impl Explanation {
    /// The fixes on one line: `a; or: b; or: c`.
    pub fn fix_line(&self) -> String {
        self.fixes.join("; or: ")
    }
}

impl From<Problem> for Explanation {
    /// The words for a problem already classified.
    fn from(problem: Problem) -> Self {
        explanation(problem)
    }
}

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.summary)?;
        if !self.fixes.is_empty() {
            write!(f, ". Fix: {}", self.fix_line())?;
        }
        Ok(())
    }
}

/// The longest message read; kube-aggregator's are a few hundred bytes.
const MAX_MESSAGE: usize = 4096;

/// Explains an `Available` condition from its `status` (`True`/`False`/`Unknown`), `reason` and
/// `message`, as kube-aggregator writes them.
pub fn explain_condition(status: &str, reason: &str, message: &str) -> Explanation {
    if status == "True" {
        return explanation(Problem::Available);
    }
    explain(reason, message)
}

/// Explains a not-`True` `Available` condition from its `reason` and `message`.
pub fn explain(reason: &str, message: &str) -> Explanation {
    explanation(classify(reason, bounded(message)))
}

/// The typed problem a reason and message describe.
pub fn classify(reason: &str, message: &str) -> Problem {
    let message = bounded(message);
    match reason {
        "Passed" | "Local" => Problem::Available,
        "FailedDiscoveryCheck" => classify_discovery(message),
        "ServiceNotFound" => match quoted_service(message) {
            Some(service) => Problem::ServiceNotFound { service },
            None => unrecognized(reason, message),
        },
        "ServicePortError" => {
            let port = message
                .rsplit_once("not listening on port ")
                .and_then(|(_, port)| port.trim().parse().ok());
            match (quoted_service(message), port) {
                (Some(service), Some(port)) => Problem::ServicePortMissing { service, port },
                _ => unrecognized(reason, message),
            }
        }
        "EndpointsNotFound" => match quoted_service(message) {
            Some(service) => Problem::EndpointsNotFound { service },
            None => unrecognized(reason, message),
        },
        "MissingEndpoints" => Problem::NoReadyEndpoints {
            service: quoted_service(message),
            port_name: message
                .rsplit_once("with port name ")
                .map(|(_, name)| unquote(name.trim()).to_string()),
        },
        "ServiceAccessError" | "EndpointsAccessError" => Problem::AccessError {
            service: quoted_service(message),
            cause: message
                .split_once(" cannot be checked due to: ")
                .map_or(message, |(_, cause)| cause)
                .to_string(),
        },
        _ => unrecognized(reason, message),
    }
}

fn unrecognized(reason: &str, message: &str) -> Problem {
    Problem::Unrecognized {
        reason: reason.to_string(),
        message: message.to_string(),
    }
}

fn bounded(message: &str) -> &str {
    if message.len() <= MAX_MESSAGE {
        return message;
    }
    let mut end = MAX_MESSAGE;
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    &message[..end]
}

/// `FailedDiscoveryCheck`: `failing or missing response from URL: ERR`, `bad status from URL:
/// CODE`, `timed out waiting for URL`, or a resolver error (`no endpoints available for service
/// "NAME"`).
fn classify_discovery(message: &str) -> Problem {
    if let Some(rest) = message.strip_prefix("bad status from ") {
        let (url, status) = rest.rsplit_once(": ").unwrap_or((rest, ""));
        let target = target_of(url);
        return match status.trim().parse::<u16>() {
            Ok(401) => Problem::Unauthorized { target },
            Ok(403) => Problem::Forbidden { target },
            Ok(status) => Problem::BadStatus { target, status },
            Err(_) => unrecognized("FailedDiscoveryCheck", message),
        };
    }
    if let Some(url) = message.strip_prefix("timed out waiting for ") {
        return Problem::Unreachable {
            target: target_of(url.trim()),
            failure: NetFailure::Timeout,
        };
    }
    if message.starts_with("no endpoints available for service ") {
        return Problem::NoReadyEndpoints {
            service: None,
            port_name: None,
        };
    }
    let Some(rest) = message.strip_prefix("failing or missing response from ") else {
        return unrecognized("FailedDiscoveryCheck", message);
    };
    let (url, cause) = rest.split_once(": ").unwrap_or((rest, ""));
    let target = target_of(url);
    classify_cause(target, cause).unwrap_or_else(|| unrecognized("FailedDiscoveryCheck", message))
}

/// The Go error after the URL: usually `Get "URL": <net/tls error>`.
fn classify_cause(target: Target, cause: &str) -> Option<Problem> {
    let detail = go_error_tail(cause);
    let has = |needle: &str| cause.contains(needle);
    if has("connection refused") {
        return Some(Problem::Refused { target });
    }
    if has("no route to host") || has("network is unreachable") || has("host is unreachable") {
        return Some(Problem::Unreachable {
            target,
            failure: NetFailure::NoRoute,
        });
    }
    if let Some(x509) = cause.find("x509: ").map(|at| &cause[at..]) {
        return Some(classify_x509(target, x509));
    }
    if let Some(at) = cause.find("remote error: tls: ") {
        return Some(Problem::ClientCertificateRejected {
            target,
            detail: cause[at..].to_string(),
        });
    }
    if has("server gave HTTP response to HTTPS client")
        || has("first record does not look like a TLS handshake")
    {
        return Some(Problem::NotTls { target });
    }
    if has("i/o timeout")
        || has("deadline exceeded")
        || has("Client.Timeout exceeded")
        || has("TLS handshake timeout")
        || has("request canceled while waiting for connection")
    {
        return Some(Problem::Unreachable {
            target,
            failure: NetFailure::Timeout,
        });
    }
    if has("connection reset by peer") || has("broken pipe") || detail == "EOF" {
        return Some(Problem::Unreachable {
            target,
            failure: NetFailure::Reset,
        });
    }
    None
}

fn classify_x509(target: Target, x509: &str) -> Problem {
    // Go appends `(possibly because of …)` to "unknown authority"; keep the first clause.
    let detail = x509.to_string();
    if x509.starts_with("x509: certificate signed by unknown authority") {
        return Problem::UnknownAuthority { target };
    }
    if let Some(rest) = x509.strip_prefix("x509: certificate is valid for ")
        && let Some((valid_for, wanted)) = rest.rsplit_once(", not ")
    {
        return Problem::NameMismatch {
            target,
            valid_for: valid_for.to_string(),
            wanted: wanted.trim().to_string(),
        };
    }
    if let Some(wanted) =
        x509.strip_prefix("x509: certificate is not valid for any names, but wanted to match ")
    {
        return Problem::NameMismatch {
            target,
            valid_for: String::new(),
            wanted: wanted.trim().to_string(),
        };
    }
    if let Some(rest) = x509.strip_prefix("x509: certificate is valid for ")
        && let Some((_, wanted)) = rest.rsplit_once("but none matched ")
    {
        return Problem::NameMismatch {
            target,
            valid_for: String::new(),
            wanted: wanted.trim().to_string(),
        };
    }
    if x509.starts_with("x509: certificate relies on legacy Common Name field") {
        return Problem::NameMismatch {
            target,
            valid_for: String::new(),
            wanted: String::new(),
        };
    }
    if x509.starts_with("x509: certificate has expired or is not yet valid") {
        return Problem::CertificateExpired { target, detail };
    }
    Problem::CertificateInvalid { target, detail }
}

/// The innermost error of a Go chain `a: b: c` (the text after the last `": "` that follows the
/// quoted URL), used only to spot a bare `EOF`.
fn go_error_tail(cause: &str) -> &str {
    cause
        .rsplit_once(": ")
        .map_or(cause, |(_, tail)| tail)
        .trim()
}

/// `host:port` from `https://host:port/path` (no scheme or port is tolerated).
fn target_of(url: &str) -> Target {
    let url = unquote(url.trim());
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = after_scheme.split('/').next().unwrap_or(after_scheme);
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        match v6.split_once(']') {
            Some((addr, rest)) => (
                format!("[{addr}]"),
                rest.strip_prefix(':').and_then(|p| p.parse().ok()),
            ),
            None => (authority.to_string(), None),
        }
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => match port.parse() {
                Ok(port) => (host.to_string(), Some(port)),
                Err(_) => (authority.to_string(), None),
            },
            None => (authority.to_string(), None),
        }
    };
    Target { host, port }
}

/// `service/NAME in "NAMESPACE"` anywhere in a message.
fn quoted_service(message: &str) -> Option<ServiceRef> {
    let after = &message[message.find("service/")? + "service/".len()..];
    let (name, rest) = after.split_once(" in \"")?;
    let (namespace, _) = rest.split_once('"')?;
    (!name.is_empty() && !namespace.is_empty()).then(|| ServiceRef::new(namespace, name))
}

fn unquote(text: &str) -> &str {
    text.strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or(text)
}

fn port_text(target: &Target) -> String {
    target
        .port
        .map_or_else(|| "its port".to_string(), |port| format!("port {port}"))
}

fn explanation(problem: Problem) -> Explanation {
    let (summary, fixes) = words(&problem);
    Explanation {
        problem,
        summary,
        fixes,
    }
}

fn words(problem: &Problem) -> (String, Vec<String>) {
    match problem {
        Problem::Available => ("the APIService is available".to_string(), Vec::new()),
        Problem::Unreachable { target, failure } => unreachable_words(target, *failure),
        Problem::Refused { target } => (
            format!(
                "the apiserver reaches {} but nothing listens on {} (connection refused)",
                target.host,
                port_text(target)
            ),
            vec![
                format!(
                    "make the Service's targetPort match the port the server listens on \
                     (--secure-port) and the container's containerPort ({})",
                    port_text(target)
                ),
                "if the pod is restarting, read its logs and `kubectl describe pod` for the \
                 cause"
                    .to_string(),
            ],
        ),
        Problem::UnknownAuthority { target } => (
            format!(
                "the serving certificate at {target} is not signed by the CA in the \
                 APIService's caBundle (x509: certificate signed by unknown authority)"
            ),
            vec![
                "set the APIService's spec.caBundle to the base64 PEM of the CA that signed the \
                 server's serving certificate (with a self-managed CA the server keeps it up to \
                 date itself)"
                    .to_string(),
                "for a self-signed serving certificate, set spec.insecureSkipTLSVerify: true \
                 and remove spec.caBundle (the aggregator then does not verify the server)"
                    .to_string(),
            ],
        ),
        Problem::NameMismatch {
            target,
            valid_for,
            wanted,
        } => name_mismatch_words(target, valid_for, wanted),
        Problem::CertificateExpired { target, detail } => (
            format!("the serving certificate at {target} is expired or not yet valid ({detail})"),
            vec![
                "renew the serving certificate (--tls-cert-file/--tls-private-key-file; the \
                 server reloads them), or let the server generate and rotate its own"
                    .to_string(),
                "check the clocks of the control plane and the node (an unsynchronised clock \
                 makes a fresh certificate look not yet valid)"
                    .to_string(),
            ],
        ),
        Problem::CertificateInvalid { target, detail } => (
            format!("the apiserver rejects the serving certificate at {target} ({detail})"),
            vec![
                "serve a certificate for <service>.<namespace>.svc, signed by the CA in the \
                 APIService's caBundle, with the serverAuth extended key usage"
                    .to_string(),
            ],
        ),
        Problem::ClientCertificateRejected { target, detail } => (
            format!(
                "the server at {target} rejected the apiserver's front-proxy client \
                 certificate during the TLS handshake ({detail})"
            ),
            vec![
                "the server must trust the requestheader client CA: it reads it from the \
                 extension-apiserver-authentication ConfigMap in kube-system (RoleBinding \
                 to the extension-apiserver-authentication-reader Role), or from \
                 --requestheader-client-ca-file"
                    .to_string(),
                "the apiserver must present a front-proxy client certificate \
                 (--proxy-client-cert-file/--proxy-client-key-file) signed by that CA"
                    .to_string(),
            ],
        ),
        Problem::NotTls { target } => (
            format!("the port at {target} does not speak TLS"),
            vec![
                "point the Service's targetPort at the server's --secure-port, not at a plain \
                 HTTP port (health or metrics)"
                    .to_string(),
            ],
        ),
        Problem::Unauthorized { target } => (
            format!(
                "the server at {target} did not authenticate the apiserver's request (HTTP 401)"
            ),
            vec![
                "give the server's ServiceAccount the RoleBinding in kube-system to the Role \
                 extension-apiserver-authentication-reader, so it can read the requestheader \
                 client CA"
                    .to_string(),
                "the requestheader client CA (--requestheader-client-ca-file of the apiserver) \
                 must be the CA that signed the apiserver's --proxy-client-cert-file, and its \
                 CN must be in --requestheader-allowed-names (or that list empty)"
                    .to_string(),
                "if the cluster's certificates were renewed, restart the server so it reads the \
                 new CA"
                    .to_string(),
            ],
        ),
        Problem::Forbidden { target } => (
            format!(
                "the server at {target} authenticated the apiserver's request but refused it \
                 (HTTP 403)"
            ),
            vec![
                "the server took the request for system:anonymous: give its ServiceAccount the \
                 RoleBinding in kube-system to the Role extension-apiserver-authentication-reader \
                 so it trusts the requestheader client CA, and put the CN of the apiserver's \
                 --proxy-client-cert-file in --requestheader-allowed-names (or leave that list \
                 empty)"
                    .to_string(),
                "bind the server's ServiceAccount to the ClusterRole system:auth-delegator \
                 (ClusterRoleBinding), so its SubjectAccessReviews and TokenReviews are allowed"
                    .to_string(),
            ],
        ),
        Problem::BadStatus { target, status } => (
            format!(
                "the server at {target} answered the discovery check with HTTP {status} \
                 (2xx or 3xx expected)"
            ),
            vec![format!(
                "check that {target} is this server's --secure-port and read the server's log \
                 for the request"
            )],
        ),
        Problem::ServiceNotFound { service } => (
            format!(
                "the APIService points at service/{} in \"{}\", which does not exist",
                service.name, service.namespace
            ),
            vec![
                format!(
                    "create the Service {service}, or set the APIService's spec.service to the \
                     Service in front of the server"
                ),
                "if you removed this provider, delete the APIService too: a dangling \
                 APIService slows every kubectl discovery call and blocks namespace deletion"
                    .to_string(),
            ],
        ),
        Problem::ServicePortMissing { service, port } => (
            format!("the Service {service} has no port {port}, the port the APIService names"),
            vec![format!(
                "set the APIService's spec.service.port to a port of {service} (443 in the \
                 manifests), or add port {port} to the Service"
            )],
        ),
        Problem::EndpointsNotFound { service } => (
            format!("the Service {service} has no endpoints at all"),
            vec![
                format!(
                    "check that the Service {service}'s selector matches the server's pod \
                     labels (`kubectl get endpointslices -n {} -l \
                     kubernetes.io/service-name={}`)",
                    service.namespace, service.name
                ),
                "check that the server's Deployment has running pods".to_string(),
            ],
        ),
        Problem::NoReadyEndpoints { service, port_name } => no_ready_words(service, port_name),
        Problem::AccessError { service, cause } => (
            match service {
                Some(service) => format!(
                    "the apiserver could not read the Service {service} or its endpoints: \
                     {cause}"
                ),
                None => {
                    format!("the apiserver could not read the Service or its endpoints: {cause}")
                }
            },
            vec![
                "this is on the apiserver's side: read its log; it usually passes once the \
                 apiserver's informers have synced"
                    .to_string(),
            ],
        ),
        Problem::Unrecognized { reason, message } => (
            format!("the APIService is not available: {reason}: {message}"),
            vec![
                "`kubectl describe apiservice` and the server's log; check the Service, its \
                 endpoints and the caBundle"
                    .to_string(),
            ],
        ),
    }
}

fn unreachable_words(target: &Target, failure: NetFailure) -> (String, Vec<String>) {
    let port = port_text(target);
    let how = match failure {
        NetFailure::Timeout => "the connection times out",
        NetFailure::NoRoute => "there is no route to it",
        NetFailure::Reset => "the connection is reset",
    };
    let summary = format!(
        "the apiserver cannot reach {} on {port} ({how})",
        target.host
    );
    let mut fixes = vec![
        format!(
            "if the control plane is not on the pod network (EKS with Calico or Weave, an \
             apiserver outside the cluster), run the server with hostNetwork: true and a free \
             --secure-port (and the same containerPort), or use a CNI that puts the control \
             plane on the pod network"
        ),
        format!(
            "allow the apiserver to {port} of the server's pods: a NetworkPolicy ingress rule \
             from the control plane, and the node firewall or cloud security group (EKS: the \
             cluster security group to the nodes on {port})"
        ),
        "if the address is the Service's cluster IP (kube-apiserver \
         --enable-aggregator-routing=false), kube-proxy must run on the control-plane hosts, \
         or set --enable-aggregator-routing=true"
            .to_string(),
    ];
    if failure == NetFailure::Reset {
        fixes.insert(
            0,
            "check for a proxy, service mesh sidecar or load balancer between the apiserver \
             and the pod that closes the connection (exclude the server's port from the mesh)"
                .to_string(),
        );
    }
    (summary, fixes)
}

fn name_mismatch_words(target: &Target, valid_for: &str, wanted: &str) -> (String, Vec<String>) {
    let summary = match (valid_for.is_empty(), wanted.is_empty()) {
        (false, false) => format!(
            "the serving certificate at {target} is valid for {valid_for}, not {wanted}, the \
             name the apiserver checks"
        ),
        (true, false) => format!(
            "the serving certificate at {target} does not name {wanted}, the name the \
             apiserver checks"
        ),
        _ => format!("the serving certificate at {target} has no subject alternative names"),
    };
    let name = if wanted.is_empty() {
        "<service>.<namespace>.svc"
    } else {
        wanted
    };
    (
        summary,
        vec![
            format!(
                "issue the serving certificate with {name} among its DNS subject alternative \
                 names (<service>.<namespace>.svc of the Service the APIService names)"
            ),
            "set the APIService's spec.service to the Service the certificate was issued for"
                .to_string(),
        ],
    )
}

fn no_ready_words(
    service: &Option<ServiceRef>,
    port_name: &Option<String>,
) -> (String, Vec<String>) {
    let which = service
        .as_ref()
        .map_or_else(|| "the Service".to_string(), |s| format!("the Service {s}"));
    let summary = match port_name.as_deref() {
        Some("") | None => format!("{which} has no Ready pod behind it"),
        Some(name) => format!("{which} has no Ready pod behind its port \"{name}\""),
    };
    let pods = match service {
        Some(service) => format!(
            "the server's pods are not Ready: `kubectl get pods -n {}` and `kubectl describe \
             pod` show why (a failing readiness probe: read the server's log and /readyz)",
            service.namespace
        ),
        None => "the server's pods are not Ready: `kubectl describe pod` shows why (a failing \
                 readiness probe: read the server's log and /readyz)"
            .to_string(),
    };
    (
        summary,
        vec![
            pods,
            "check that the Service's selector matches the pods' labels and that its port \
             name matches the container port's name"
                .to_string(),
        ],
    )
}

#[cfg(test)]
#[path = "guidance_tests.rs"]
mod tests;
