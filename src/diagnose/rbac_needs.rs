//! What the server's ServiceAccount must be allowed to do with these flags, one
//! [`Permission`] per report line (its verbs and object names asked one review each), and
//! the binding of `manifests/components.yaml` that grants each, with the command that
//! recreates it.

use crate::config::diagnose::ObjectName;
use crate::config::{Config, MetricsSource};
use crate::server::auth::ca_sources::{CONFIGMAP_NAME, CONFIGMAP_NAMESPACE};

/// The Secret `--self-managed-ca` keeps its CA in (beside the server).
const SELF_MANAGED_SECRET: &str = "metrics-server-ca";

/// Which binding of the manifests grants a permission.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Grant {
    /// ClusterRoleBinding `system:metrics-server` → ClusterRole `system:metrics-server`.
    MetricsServerRole,
    /// ClusterRoleBinding `metrics-server:system:auth-delegator` → `system:auth-delegator`.
    AuthDelegator,
    /// RoleBinding `kube-system/metrics-server-auth-reader` →
    /// Role `extension-apiserver-authentication-reader`.
    AuthReader,
    /// RoleBinding `default/metrics-server-events` → Role `metrics-server-events`.
    Events,
    /// `manifests/overlays/self-managed-ca/rbac-ca.yaml`.
    SelfManagedCa,
}

/// Something the server does with the API: every verb on every named object (any object when
/// none is named).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Permission {
    pub verbs: &'static [&'static str],
    pub group: &'static str,
    pub resource: &'static str,
    pub subresource: Option<&'static str>,
    pub namespace: Option<String>,
    pub names: Vec<String>,
    /// What breaks without it.
    pub impact: &'static str,
    pub grant: Grant,
    /// Without it the server serves no metrics (else: it only explains less).
    pub essential: bool,
}

/// One review: a verb, on one object or on any.
pub type Request<'a> = (&'static str, Option<&'a str>);

impl Permission {
    fn new(
        verbs: &'static [&'static str],
        group: &'static str,
        resource: &'static str,
        grant: Grant,
        impact: &'static str,
    ) -> Self {
        Permission {
            verbs,
            group,
            resource,
            subresource: None,
            namespace: None,
            names: Vec::new(),
            impact,
            grant,
            essential: true,
        }
    }

    fn optional(mut self) -> Self {
        self.essential = false;
        self
    }

    fn sub(mut self, subresource: &'static str) -> Self {
        self.subresource = Some(subresource);
        self
    }

    fn names(mut self, names: &[&str]) -> Self {
        self.names = names.iter().map(|n| (*n).to_owned()).collect();
        self
    }

    fn within(mut self, namespace: &str) -> Self {
        self.namespace = Some(namespace.to_owned());
        self
    }

    /// Every (verb, object) pair, one review each.
    pub fn requests(&self) -> Vec<Request<'_>> {
        let names: Vec<Option<&str>> = match self.names.is_empty() {
            true => vec![None],
            false => self.names.iter().map(|n| Some(n.as_str())).collect(),
        };
        (self.verbs.iter())
            .flat_map(|verb| names.iter().map(move |name| (*verb, *name)))
            .collect()
    }

    /// `list and watch nodes`, `get nodes/metrics`, `get and watch configmaps NAME in NS`.
    pub fn describe(&self) -> String {
        let names: Vec<&str> = self.names.iter().map(String::as_str).collect();
        self.describe_some(self.verbs, &names)
    }

    /// Like [`Permission::describe`], for some of its verbs and names.
    pub fn describe_some(&self, verbs: &[&str], names: &[&str]) -> String {
        let mut resource = self.resource.to_owned();
        if !self.group.is_empty() {
            resource = format!("{resource}.{}", self.group);
        }
        if let Some(sub) = self.subresource {
            resource = format!("{resource}/{sub}");
        }
        if !names.is_empty() {
            resource = format!("{resource} {}", and_list(names));
        }
        let verbs = and_list(verbs);
        match &self.namespace {
            Some(ns) => format!("{verbs} {resource} in {ns}"),
            None => format!("{verbs} {resource}"),
        }
    }
}

/// `a`, `a and b`, `a, b and c`.
fn and_list(words: &[&str]) -> String {
    match words {
        [] => String::new(),
        [one] => (*one).to_owned(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

/// Everything the server needs with these flags.
pub fn needed(cfg: &Config, account: &ObjectName) -> Vec<Permission> {
    use Grant::*;
    const WATCH: &[&str] = &["list", "watch"];
    let mut needed = vec![
        Permission::new(
            WATCH,
            "",
            "nodes",
            MetricsServerRole,
            "the node watch fails and no node is scraped",
        ),
        Permission::new(
            WATCH,
            "",
            "pods",
            MetricsServerRole,
            "the pod watch fails and no pod metrics are served",
        ),
        Permission::new(
            &["get"],
            "",
            "nodes",
            MetricsServerRole,
            "kubelets answer 403 to /metrics/resource: every node scrape fails",
        )
        .sub("metrics"),
    ];
    if cfg.kubelet.metrics_source != MetricsSource::Resource {
        needed.push(
            Permission::new(
                &["get"],
                "",
                "nodes",
                MetricsServerRole,
                "kubelets answer 403 to /stats/summary (the Summary API source)",
            )
            .sub("stats"),
        );
    }
    needed.push(Permission::new(
        &["create"],
        "authentication.k8s.io",
        "tokenreviews",
        AuthDelegator,
        "callers with bearer tokens cannot be authenticated",
    ));
    needed.push(Permission::new(
        &["create"],
        "authorization.k8s.io",
        "subjectaccessreviews",
        AuthDelegator,
        "no request can be authorized: kubectl top and the HPA get 403 Forbidden",
    ));
    if !cfg.auth.skip_lookup {
        needed.push(
            Permission::new(
                &["get", "watch"],
                "",
                "configmaps",
                AuthReader,
                "the server cannot read the front-proxy CA: it stops at start-up, or (with \
                 --authentication-tolerate-lookup-failure) treats the aggregator's requests as \
                 anonymous",
            )
            .names(&[CONFIGMAP_NAME])
            .within(CONFIGMAP_NAMESPACE),
        );
    }
    needed.extend(explaining());
    if cfg.auth.self_managed_ca {
        needed.extend(self_managed_ca(account));
    }
    needed
}

/// What the server needs to explain its APIServices (see [`crate::apiservice`]).
fn explaining() -> [Permission; 2] {
    [
        Permission::new(
            &["list", "watch"],
            "apiregistration.k8s.io",
            "apiservices",
            Grant::MetricsServerRole,
            "the server cannot watch its APIServices to explain why one is unavailable \
             (metrics are still served)",
        )
        .names(&crate::apiservice::METRICS_API_SERVICES)
        .optional(),
        Permission::new(
            &["create", "patch"],
            "events.k8s.io",
            "events",
            Grant::Events,
            "the server cannot record Events on its APIServices (its log still explains them)",
        )
        .within(crate::apiservice::events::EVENT_NAMESPACE)
        .optional(),
    ]
}

fn self_managed_ca(account: &ObjectName) -> [Permission; 3] {
    [
        Permission::new(
            &["get", "update"],
            "",
            "secrets",
            Grant::SelfManagedCa,
            "--self-managed-ca cannot keep its CA",
        )
        .names(&[SELF_MANAGED_SECRET])
        .within(&account.namespace),
        Permission::new(
            &["create"],
            "",
            "secrets",
            Grant::SelfManagedCa,
            "--self-managed-ca cannot create its CA Secret",
        )
        .within(&account.namespace),
        Permission::new(
            &["patch"],
            "apiregistration.k8s.io",
            "apiservices",
            Grant::SelfManagedCa,
            "--self-managed-ca cannot publish its caBundle",
        )
        .names(&crate::apiservice::METRICS_API_SERVICES),
    ]
}

/// The command that grants what `grant` covers to `account`.
pub fn grant_fix(grant: Grant, account: &ObjectName) -> String {
    let sa = format!("{}:{}", account.namespace, account.name);
    match grant {
        Grant::MetricsServerRole => format!(
            "kubectl create clusterrolebinding system:metrics-server \
             --clusterrole=system:metrics-server --serviceaccount={sa} (if the ClusterRole \
             system:metrics-server is missing or lacks the rule, apply manifests/components.yaml)"
        ),
        Grant::AuthDelegator => format!(
            "kubectl create clusterrolebinding metrics-server:system:auth-delegator \
             --clusterrole=system:auth-delegator --serviceaccount={sa}"
        ),
        Grant::AuthReader => format!(
            "kubectl -n {CONFIGMAP_NAMESPACE} create rolebinding metrics-server-auth-reader \
             --role=extension-apiserver-authentication-reader --serviceaccount={sa}"
        ),
        Grant::Events => format!(
            "kubectl -n default create role metrics-server-events --verb=create,patch \
             --resource=events.events.k8s.io; kubectl -n default create rolebinding \
             metrics-server-events --role=metrics-server-events --serviceaccount={sa}"
        ),
        Grant::SelfManagedCa => "kubectl apply -f manifests/overlays/self-managed-ca/rbac-ca.yaml \
                                 (needed by --self-managed-ca)"
            .to_owned(),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::config::ServeArgs;
    use clap::Parser;

    #[derive(Parser)]
    struct Flags {
        #[command(flatten)]
        serve: ServeArgs,
    }

    pub(crate) fn config(args: &[&str]) -> Config {
        let flags = Flags::try_parse_from(std::iter::once("x").chain(args.iter().copied()));
        flags.unwrap().serve.validate().unwrap()
    }

    fn described(args: &[&str]) -> Vec<String> {
        let account = "kube-system/metrics-server".parse().unwrap();
        let needed = needed(&config(args), &account);
        needed.iter().map(Permission::describe).collect()
    }

    #[test]
    fn the_flags_decide_what_is_needed() {
        let all = described(&[]);
        for want in [
            "list and watch nodes",
            "list and watch pods",
            "get nodes/metrics",
            "get nodes/stats",
            "create tokenreviews.authentication.k8s.io",
            "create subjectaccessreviews.authorization.k8s.io",
            "get and watch configmaps extension-apiserver-authentication in kube-system",
            "list and watch apiservices.apiregistration.k8s.io v1beta1.metrics.k8s.io and v1.metrics.k8s.io",
            "create and patch events.events.k8s.io in default",
        ] {
            assert!(all.iter().any(|d| d == want), "{want} missing from {all:?}");
        }
        let resource_only = described(&["--kubelet-metrics-source=resource"]);
        assert!(!resource_only.iter().any(|d| d == "get nodes/stats"));
        let no_lookup = described(&["--authentication-skip-lookup"]);
        assert!(!no_lookup.iter().any(|d| d.contains("configmaps")));
        let self_managed = described(&["--self-managed-ca"]);
        for want in [
            "create secrets in kube-system",
            "get and update secrets metrics-server-ca in kube-system",
            "patch apiservices.apiregistration.k8s.io v1beta1.metrics.k8s.io and v1.metrics.k8s.io",
        ] {
            assert!(
                self_managed.iter().any(|d| d == want),
                "{want} missing from {self_managed:?}"
            );
        }
    }

    #[test]
    fn each_verb_and_name_is_one_review() {
        let account = "kube-system/metrics-server".parse().unwrap();
        let needed = needed(&config(&[]), &account);
        let apiservices = needed.iter().find(|p| p.resource == "apiservices").unwrap();
        assert_eq!(
            apiservices.requests(),
            [
                ("list", Some("v1beta1.metrics.k8s.io")),
                ("list", Some("v1.metrics.k8s.io")),
                ("watch", Some("v1beta1.metrics.k8s.io")),
                ("watch", Some("v1.metrics.k8s.io")),
            ]
        );
        assert_eq!(needed[0].requests(), [("list", None), ("watch", None)]);
        assert_eq!(and_list(&["a", "b", "c"]), "a, b and c");
    }
}
