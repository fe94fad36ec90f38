//! What the server's ServiceAccount may do, asked of the API with SubjectAccessReviews (which
//! store nothing), one line per [`Permission`] of [`rbac_needs`](super::rbac_needs): watch
//! nodes and pods, read kubelet metrics (`nodes/metrics`, and `nodes/stats` when the Summary
//! API may be used), review tokens and accesses of incoming requests, read the front-proxy
//! CA from the `extension-apiserver-authentication` ConfigMap, watch its APIServices and
//! record Events on them; with `--self-managed-ca`, its Secret and the APIServices. A denial
//! names the binding that grants it, with the command that recreates it; it fails, except for
//! what only explains problems (the APIService watch, Events), which warns. Also: the
//! ServiceAccount exists, and the aggregated ClusterRole that lets `view` users read metrics.

use futures::future::join_all;
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec, SubjectAccessReviewStatus,
};
use k8s_openapi::api::core::v1::ServiceAccount;
use k8s_openapi::api::rbac::v1::ClusterRole;
use kube::api::{Api, PostParams};

use super::cluster_api::{self, ReadError};
use super::rbac_needs::{Permission, Request, grant_fix, needed};
use super::report::{Check, Report, quoted};
use crate::config::Config;
use crate::config::diagnose::ObjectName;

/// The ClusterRole that gives `view`, `edit` and `admin` users read access to metrics.
pub const AGGREGATED_READER: &str = "system:aggregated-metrics-reader";

/// The review of one request of `permission` for the ServiceAccount `account`.
pub fn review(
    permission: &Permission,
    (verb, name): Request<'_>,
    account: &ObjectName,
) -> SubjectAccessReview {
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
                verb: Some(verb.to_owned()),
                group: Some(permission.group.to_owned()),
                resource: Some(permission.resource.to_owned()),
                subresource: permission.subresource.map(str::to_owned),
                namespace: permission.namespace.clone(),
                name: name.map(str::to_owned),
                ..ResourceAttributes::default()
            }),
            ..SubjectAccessReviewSpec::default()
        },
        ..SubjectAccessReview::default()
    }
}

/// The answer to one review: allowed or not, and why not.
pub type Answer = Result<SubjectAccessReviewStatus, ReadError>;

/// The report line of `permission` from the answers to its [`Permission::requests`], in order.
pub fn verdict(permission: &Permission, answers: &[Answer], account: &ObjectName) -> Check {
    let object = format!("serviceaccount/{account}");
    if let Some(Err(err)) = answers.iter().find(|a| a.is_err()) {
        return Check::warn(
            "rbac",
            object,
            format!(
                "not checked whether it may {}: creating a SubjectAccessReview failed: {err}",
                permission.describe()
            ),
            "run diagnose with a kubeconfig that may create subjectaccessreviews",
        );
    }
    let requests = permission.requests();
    let denied: Vec<(Request<'_>, &SubjectAccessReviewStatus)> = (requests.iter().copied())
        .zip(answers.iter().filter_map(|a| a.as_ref().ok()))
        .filter(|(_, status)| !status.allowed)
        .collect();
    if denied.is_empty() {
        return Check::ok("rbac", object, format!("may {}", permission.describe()));
    }
    let why: Vec<String> = (denied.iter())
        .flat_map(|(_, s)| s.evaluation_error.iter().chain(s.reason.iter()))
        .filter(|text| !text.is_empty())
        .map(|text| quoted(text))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let why = match why.is_empty() {
        true => String::new(),
        false => format!(" ({})", why.join("; ")),
    };
    let check = Check::fail(
        "rbac",
        object,
        format!(
            "may not {}{why}: {}",
            describe_denied(permission, &denied),
            permission.impact
        ),
        grant_fix(permission.grant, account),
    );
    match permission.essential {
        true => check,
        false => check.softened(),
    }
}

/// The denied requests as few words as say them exactly: `get and watch configmaps X`, or one
/// by one when they are not every verb on every name of a subset.
fn describe_denied(
    permission: &Permission,
    denied: &[(Request<'_>, &SubjectAccessReviewStatus)],
) -> String {
    let mut verbs: Vec<&str> = Vec::new();
    let mut names: Vec<&str> = Vec::new();
    for ((verb, name), _) in denied {
        if !verbs.contains(verb) {
            verbs.push(verb);
        }
        if let Some(name) = name
            && !names.contains(name)
        {
            names.push(name);
        }
    }
    let product = verbs.len() * names.len().max(1);
    if product == denied.len() {
        return permission.describe_some(&verbs, &names);
    }
    (denied.iter())
        .map(|((verb, name), _)| permission.describe_some(&[verb], name.as_slice()))
        .collect::<Vec<_>>()
        .join("; ")
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
    let asked = permissions.iter().flat_map(|p| {
        p.requests()
            .into_iter()
            .map(|request| review(p, request, account))
    });
    let mut answers = join_all(asked.map(|request| {
        let reviews = reviews.clone();
        async move {
            let created =
                cluster_api::call(async { reviews.create(&PostParams::default(), &request).await })
                    .await?;
            Ok(created.status.unwrap_or_default())
        }
    }))
    .await
    .into_iter();
    for permission in &permissions {
        let own: Vec<Answer> = answers.by_ref().take(permission.requests().len()).collect();
        report.push(verdict(permission, &own, account));
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
    use crate::diagnose::rbac_needs::Grant;
    use crate::diagnose::report::Status;

    fn account() -> ObjectName {
        "kube-system/metrics-server".parse().unwrap()
    }

    fn permission(resource: &str) -> Permission {
        let cfg = crate::diagnose::rbac_needs::tests::config(&[]);
        needed(&cfg, &account())
            .into_iter()
            .find(|p| p.resource == resource)
            .unwrap()
    }

    fn allowed(yes: bool) -> Answer {
        Ok(SubjectAccessReviewStatus {
            allowed: yes,
            reason: (!yes).then(|| "no RBAC policy matched".to_owned()),
            ..Default::default()
        })
    }

    #[test]
    fn reviews_ask_as_the_service_account() {
        let metrics = permission("nodes");
        let spec = review(&metrics, ("watch", None), &account()).spec;
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
        assert_eq!(attributes.verb.as_deref(), Some("watch"));
        assert_eq!(attributes.namespace, None);
        let configmap = permission("configmaps");
        let asked = review(
            &configmap,
            ("get", Some("extension-apiserver-authentication")),
            &account(),
        );
        let attributes = asked.spec.resource_attributes.unwrap();
        assert_eq!(attributes.namespace.as_deref(), Some("kube-system"));
        assert_eq!(
            attributes.name.as_deref(),
            Some("extension-apiserver-authentication")
        );
    }

    #[test]
    fn a_denial_names_what_is_missing_the_binding_and_the_command() {
        let configmap = permission("configmaps");
        let check = verdict(&configmap, &[allowed(false), allowed(false)], &account());
        assert_eq!(check.status, Status::Fail);
        assert!(
            check.cause.starts_with(
                "may not get and watch configmaps extension-apiserver-authentication in kube-system (no RBAC policy matched): the server cannot read the front-proxy CA"
            ),
            "{}",
            check.cause
        );
        assert_eq!(
            check.fix.as_deref(),
            Some(
                "kubectl -n kube-system create rolebinding metrics-server-auth-reader --role=extension-apiserver-authentication-reader --serviceaccount=kube-system:metrics-server"
            )
        );
        let partly = verdict(&configmap, &[allowed(true), allowed(false)], &account());
        assert!(
            partly.cause.starts_with("may not watch configmaps"),
            "{}",
            partly.cause
        );
        let fine = verdict(&configmap, &[allowed(true), allowed(true)], &account());
        assert_eq!(fine.status, Status::Ok);
        assert_eq!(
            fine.cause,
            "may get and watch configmaps extension-apiserver-authentication in kube-system"
        );
        let not_asked = verdict(
            &configmap,
            &[allowed(true), Err(ReadError::Forbidden("no".into()))],
            &account(),
        );
        assert_eq!(not_asked.status, Status::Warn);
    }

    #[test]
    fn what_only_explains_problems_warns_when_denied() {
        let apiservices = permission("apiservices");
        let answers = [allowed(true), allowed(false), allowed(true), allowed(false)];
        let check = verdict(&apiservices, &answers, &account());
        assert_eq!(check.status, Status::Warn);
        assert!(
            check.cause.starts_with(
                "may not list and watch apiservices.apiregistration.k8s.io v1.metrics.k8s.io ("
            ),
            "{}",
            check.cause
        );
        let odd = [allowed(true), allowed(false), allowed(false), allowed(true)];
        let check = verdict(&apiservices, &odd, &account());
        assert!(
            check.cause.starts_with(
                "may not list apiservices.apiregistration.k8s.io v1.metrics.k8s.io; watch \
                 apiservices.apiregistration.k8s.io v1beta1.metrics.k8s.io"
            ),
            "{}",
            check.cause
        );
        assert_eq!(apiservices.grant, Grant::MetricsServerRole);
        let events = permission("events");
        let check = verdict(&events, &[allowed(false), allowed(false)], &account());
        assert_eq!(check.status, Status::Warn);
        assert!(
            check
                .fix
                .unwrap()
                .contains("create rolebinding metrics-server-events")
        );
    }
}
