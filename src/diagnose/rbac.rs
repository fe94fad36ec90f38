//! What the server's ServiceAccount may do, asked of the API with SubjectAccessReviews (which
//! store nothing): watch nodes and pods, read kubelet metrics (`nodes/metrics`, and
//! `nodes/stats` when the Summary API may be used), review tokens and accesses of incoming
//! requests, read the front-proxy CA from the `extension-apiserver-authentication` ConfigMap;
//! with `--self-managed-ca`, its Secret and the APIServices. Each denial names the binding of
//! `manifests/components.yaml` that grants it, with the command that recreates it; a denial
//! fails, except for what only explains problems (watching the two APIServices, recording
//! Events on them), which warns. Also: the ServiceAccount exists, and the aggregated
//! ClusterRole that lets `view` users read metrics.

use futures::future::join_all;
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec, SubjectAccessReviewStatus,
};
use k8s_openapi::api::core::v1::ServiceAccount;
use k8s_openapi::api::rbac::v1::ClusterRole;
use kube::api::{Api, PostParams};

use super::cluster_api::{self, ReadError};
use super::report::{Check, Report, quoted};
use crate::config::diagnose::ObjectName;
use crate::config::{Config, MetricsSource};
use crate::server::auth::ca_sources::{CONFIGMAP_NAME, CONFIGMAP_NAMESPACE};

/// The ClusterRole that gives `view`, `edit` and `admin` users read access to metrics.
pub const AGGREGATED_READER: &str = "system:aggregated-metrics-reader";
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
    /// `manifests/overlays/self-managed-ca/rbac-ca.yaml`.
    SelfManagedCa,
    /// RoleBinding `default/metrics-server-events` → Role `metrics-server-events`.
    Events,
}

/// One thing the server does with the API, as a review asks it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Permission {
    pub verb: &'static str,
    pub group: &'static str,
    pub resource: &'static str,
    pub subresource: Option<&'static str>,
    pub namespace: Option<String>,
    pub name: Option<String>,
    /// What breaks without it.
    pub impact: &'static str,
    pub grant: Grant,
    /// Without it the server serves no metrics (else: it explains less).
    pub essential: bool,
}

impl Permission {
    fn new(verb: &'static str, group: &'static str, resource: &'static str, grant: Grant) -> Self {
        Permission {
            verb,
            group,
            resource,
            subresource: None,
            namespace: None,
            name: None,
            impact: "",
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

    fn named(mut self, namespace: &str, name: &str) -> Self {
        self.namespace = Some(namespace.to_owned());
        self.name = Some(name.to_owned());
        self
    }

    fn cluster_object(mut self, name: &str) -> Self {
        self.name = Some(name.to_owned());
        self
    }

    fn within(mut self, namespace: &str) -> Self {
        self.namespace = Some(namespace.to_owned());
        self
    }

    fn impact(mut self, impact: &'static str) -> Self {
        self.impact = impact;
        self
    }

    /// `get nodes/metrics`, `create tokenreviews.authentication.k8s.io`, `get
    /// configmaps/NAME in NAMESPACE`.
    pub fn describe(&self) -> String {
        let mut resource = self.resource.to_owned();
        if !self.group.is_empty() {
            resource = format!("{resource}.{}", self.group);
        }
        if let Some(sub) = self.subresource {
            resource = format!("{resource}/{sub}");
        }
        if let Some(name) = &self.name {
            resource = format!("{resource} {name}");
        }
        match &self.namespace {
            Some(ns) => format!("{} {resource} in {ns}", self.verb),
            None => format!("{} {resource}", self.verb),
        }
    }
}

/// Everything the server needs with these flags.
pub fn needed(cfg: &Config, account: &ObjectName) -> Vec<Permission> {
    use Grant::*;
    let mut needed = Vec::new();
    for verb in ["list", "watch"] {
        needed.push(
            Permission::new(verb, "", "nodes", MetricsServerRole)
                .impact("without it the node watch fails and no node is scraped"),
        );
        needed.push(
            Permission::new(verb, "", "pods", MetricsServerRole)
                .impact("without it the pod watch fails and no pod metrics are served"),
        );
    }
    needed.push(
        Permission::new("get", "", "nodes", MetricsServerRole)
            .sub("metrics")
            .impact("kubelets answer 403 to /metrics/resource: every node scrape fails"),
    );
    if cfg.kubelet.metrics_source != MetricsSource::Resource {
        needed.push(
            Permission::new("get", "", "nodes", MetricsServerRole)
                .sub("stats")
                .impact("kubelets answer 403 to /stats/summary (the Summary API source)"),
        );
    }
    needed.push(
        Permission::new(
            "create",
            "authentication.k8s.io",
            "tokenreviews",
            AuthDelegator,
        )
        .impact("callers with bearer tokens cannot be authenticated"),
    );
    needed.push(
        Permission::new(
            "create",
            "authorization.k8s.io",
            "subjectaccessreviews",
            AuthDelegator,
        )
        .impact("no request can be authorized: kubectl top and the HPA get 403 Forbidden"),
    );
    if !cfg.auth.skip_lookup {
        for verb in ["get", "watch"] {
            needed.push(
                Permission::new(verb, "", "configmaps", AuthReader)
                    .named(CONFIGMAP_NAMESPACE, CONFIGMAP_NAME)
                    .impact(
                        "the server cannot read the front-proxy CA: it stops at start-up, or \
                         (with --authentication-tolerate-lookup-failure) treats the \
                         aggregator's requests as anonymous",
                    ),
            );
        }
    }
    needed.extend(explaining());
    if cfg.auth.self_managed_ca {
        needed.extend(self_managed_ca(account));
    }
    needed
}

/// What the server needs to explain its APIServices (see [`crate::apiservice`]).
fn explaining() -> Vec<Permission> {
    let mut needed = Vec::new();
    for name in crate::apiservice::METRICS_API_SERVICES {
        for verb in ["list", "watch"] {
            needed.push(
                Permission::new(verb, "apiregistration.k8s.io", "apiservices", Grant::MetricsServerRole)
                    .cluster_object(name)
                    .impact("the server cannot watch its APIServices to explain why one is unavailable (metrics are still served)")
                    .optional(),
            );
        }
    }
    for verb in ["create", "patch"] {
        needed.push(
            Permission::new(verb, "events.k8s.io", "events", Grant::Events)
                .within(crate::apiservice::events::EVENT_NAMESPACE)
                .impact("the server cannot record Events on its APIServices (its log still explains them)")
                .optional(),
        );
    }
    needed
}

fn self_managed_ca(account: &ObjectName) -> Vec<Permission> {
    let mut needed = Vec::new();
    for verb in ["get", "update"] {
        needed.push(
            Permission::new(verb, "", "secrets", Grant::SelfManagedCa)
                .named(&account.namespace, SELF_MANAGED_SECRET)
                .impact("--self-managed-ca cannot keep its CA"),
        );
    }
    needed.push(
        Permission::new("create", "", "secrets", Grant::SelfManagedCa)
            .within(&account.namespace)
            .impact("--self-managed-ca cannot create its CA Secret"),
    );
    for name in crate::apiservice::METRICS_API_SERVICES {
        needed.push(
            Permission::new(
                "patch",
                "apiregistration.k8s.io",
                "apiservices",
                Grant::SelfManagedCa,
            )
            .cluster_object(name)
            .impact("--self-managed-ca cannot publish its caBundle"),
        );
    }
    needed
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
        Grant::SelfManagedCa => {
            "kubectl apply -f manifests/overlays/self-managed-ca/rbac-ca.yaml (needed by \
             --self-managed-ca)"
                .to_owned()
        }
    }
}

/// The review of `permission` for the ServiceAccount `account`.
pub fn review(permission: &Permission, account: &ObjectName) -> SubjectAccessReview {
    SubjectAccessReview {
        spec: SubjectAccessReviewSpec {
            user: Some(format!(
                "system:serviceaccount:{}:{}",
                account.namespace, account.name
            )),
            groups: Some(vec![
                "system:serviceaccounts".to_owned(),
                format!("system:serviceaccounts:{}", account.namespace),
                "system:authenticated".to_owned(),
            ]),
            resource_attributes: Some(ResourceAttributes {
                verb: Some(permission.verb.to_owned()),
                group: Some(permission.group.to_owned()),
                resource: Some(permission.resource.to_owned()),
                subresource: permission.subresource.map(str::to_owned),
                namespace: permission.namespace.clone(),
                name: permission.name.clone(),
                ..ResourceAttributes::default()
            }),
            ..SubjectAccessReviewSpec::default()
        },
        ..SubjectAccessReview::default()
    }
}

/// The report line of one review's answer.
pub fn verdict(
    permission: &Permission,
    answer: Result<SubjectAccessReviewStatus, ReadError>,
    account: &ObjectName,
) -> Check {
    let object = format!("serviceaccount/{account}");
    let what = permission.describe();
    match answer {
        Ok(status) if status.allowed => Check::ok("rbac", object, format!("may {what}")),
        Ok(status) => {
            let why = (status.evaluation_error.iter().chain(status.reason.iter()))
                .map(|s| quoted(s))
                .collect::<Vec<_>>()
                .join("; ");
            let why = match why.is_empty() {
                true => String::new(),
                false => format!(" ({why})"),
            };
            let check = Check::fail(
                "rbac",
                object,
                format!("may not {what}{why}: {}", permission.impact),
                grant_fix(permission.grant, account),
            );
            match permission.essential {
                true => check,
                false => check.softened(),
            }
        }
        Err(err) => Check::warn(
            "rbac",
            object,
            format!(
                "not checked whether it may {what}: creating a SubjectAccessReview failed: {err}"
            ),
            "run diagnose with a kubeconfig that may create subjectaccessreviews",
        ),
    }
}

/// Checks the ServiceAccount, every permission, and the aggregated reader ClusterRole.
pub async fn check(client: &kube::Client, cfg: &Config, account: &ObjectName, report: &mut Report) {
    let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), &account.namespace);
    match cluster_api::get(&accounts, &account.name).await {
        Ok(_) => report.push(Check::ok(
            "rbac-serviceaccount",
            format!("serviceaccount/{account}"),
            "exists",
        )),
        Err(ReadError::NotFound) => report.push(Check::fail(
            "rbac-serviceaccount",
            format!("serviceaccount/{account}"),
            "does not exist: the server's pod cannot start with it",
            "apply manifests/components.yaml, or pass --service-account NAMESPACE/NAME of the \
             Deployment's serviceAccountName",
        )),
        Err(_) => {}
    }
    let reviews: Api<SubjectAccessReview> = Api::all(client.clone());
    let permissions = needed(cfg, account);
    let answers = join_all(permissions.iter().map(|p| {
        let reviews = reviews.clone();
        let request = review(p, account);
        async move {
            let created =
                cluster_api::call(async { reviews.create(&PostParams::default(), &request).await })
                    .await?;
            Ok(created.status.unwrap_or_default())
        }
    }))
    .await;
    for (permission, answer) in permissions.iter().zip(answers) {
        report.push(verdict(permission, answer, account));
    }
    report.push(aggregated_reader(client).await);
}

async fn aggregated_reader(client: &kube::Client) -> Check {
    let object = format!("clusterrole/{AGGREGATED_READER}");
    let roles: Api<ClusterRole> = Api::all(client.clone());
    match cluster_api::get(&roles, AGGREGATED_READER).await {
        Ok(_) => Check::ok(
            "rbac-aggregated-reader",
            object,
            "exists: view, edit and admin users may read metrics.k8s.io",
        ),
        Err(ReadError::NotFound) => Check::fail(
            "rbac-aggregated-reader",
            object,
            "does not exist: only cluster admins may run kubectl top (others get 403 Forbidden)",
            "apply manifests/components.yaml (it holds the ClusterRole, aggregated into view, \
             edit and admin)",
        ),
        Err(err) => Check::warn(
            "rbac-aggregated-reader",
            object,
            format!("not checked: {err}"),
            "run diagnose with a kubeconfig that may get clusterroles",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ServeArgs;
    use crate::diagnose::report::Status;
    use clap::Parser;

    #[derive(Parser)]
    struct Flags {
        #[command(flatten)]
        serve: ServeArgs,
    }

    fn config(args: &[&str]) -> Config {
        let flags = Flags::try_parse_from(std::iter::once("x").chain(args.iter().copied()));
        flags.unwrap().serve.validate().unwrap()
    }

    fn account() -> ObjectName {
        "kube-system/metrics-server".parse().unwrap()
    }

    fn described(cfg: &Config) -> Vec<String> {
        needed(cfg, &account())
            .iter()
            .map(Permission::describe)
            .collect()
    }

    #[test]
    fn the_flags_decide_what_is_needed() {
        let all = described(&config(&[]));
        for want in [
            "list nodes",
            "watch pods",
            "get nodes/metrics",
            "get nodes/stats",
            "create tokenreviews.authentication.k8s.io",
            "create subjectaccessreviews.authorization.k8s.io",
            "get configmaps extension-apiserver-authentication in kube-system",
        ] {
            assert!(all.iter().any(|d| d == want), "{want} missing from {all:?}");
        }
        let resource_only = described(&config(&["--kubelet-metrics-source=resource"]));
        assert!(!resource_only.iter().any(|d| d == "get nodes/stats"));
        let no_lookup = described(&config(&["--authentication-skip-lookup"]));
        assert!(!no_lookup.iter().any(|d| d.contains("configmaps")));
        assert!(
            all.iter()
                .any(|d| d == "watch apiservices.apiregistration.k8s.io v1.metrics.k8s.io"),
            "{all:?}"
        );
        assert!(
            all.iter()
                .any(|d| d == "create events.events.k8s.io in default"),
            "{all:?}"
        );
        let self_managed = described(&config(&["--self-managed-ca"]));
        assert!(
            self_managed
                .iter()
                .any(|d| d == "create secrets in kube-system"),
            "{self_managed:?}"
        );
        assert!(
            self_managed
                .iter()
                .any(|d| d == "patch apiservices.apiregistration.k8s.io v1.metrics.k8s.io"),
            "{self_managed:?}"
        );
    }

    #[test]
    fn reviews_ask_as_the_service_account() {
        let permission =
            Permission::new("get", "", "nodes", Grant::MetricsServerRole).sub("metrics");
        let review = review(&permission, &account());
        let spec = review.spec;
        assert_eq!(
            spec.user.as_deref(),
            Some("system:serviceaccount:kube-system:metrics-server")
        );
        assert!(
            spec.groups
                .unwrap()
                .contains(&"system:serviceaccounts:kube-system".to_owned())
        );
        let attributes = spec.resource_attributes.unwrap();
        assert_eq!(attributes.subresource.as_deref(), Some("metrics"));
        assert_eq!(attributes.namespace, None);
    }

    #[test]
    fn a_denial_names_the_missing_binding_and_the_command() {
        let configmap = needed(&config(&[]), &account())
            .into_iter()
            .find(|p| p.resource == "configmaps")
            .unwrap();
        let denied = SubjectAccessReviewStatus {
            allowed: false,
            reason: Some("no RBAC policy matched".into()),
            ..Default::default()
        };
        let check = verdict(&configmap, Ok(denied), &account());
        assert_eq!(check.status, Status::Fail);
        assert!(check.cause.contains("may not get configmaps extension-apiserver-authentication in kube-system (no RBAC policy matched)"), "{}", check.cause);
        assert_eq!(
            check.fix.as_deref(),
            Some(
                "kubectl -n kube-system create rolebinding metrics-server-auth-reader --role=extension-apiserver-authentication-reader --serviceaccount=kube-system:metrics-server"
            )
        );
        let allowed = SubjectAccessReviewStatus {
            allowed: true,
            ..Default::default()
        };
        assert_eq!(
            verdict(&configmap, Ok(allowed), &account()).status,
            Status::Ok
        );
        let not_asked = verdict(
            &configmap,
            Err(ReadError::Forbidden("no".into())),
            &account(),
        );
        assert_eq!(not_asked.status, Status::Warn);
    }
}
