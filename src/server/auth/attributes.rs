//! What a request asks to do, in the terms of a SubjectAccessReview: the apiserver's
//! `RequestInfoFactory` (resource requests under `/apis/<group>/<version>/…` and
//! `/api/<version>/…`; everything else is a non-resource request on its path), and the
//! `Forbidden` text it produces (`responsewriters.forbiddenMessage`).

use crate::api::metav1_status::go_quote;

/// A resource request's target.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct ResourceAttributes {
    pub group: String,
    pub version: String,
    pub resource: String,
    pub subresource: String,
    pub namespace: String,
    pub name: String,
}

/// The authorization attributes of one request.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RequestAttributes {
    /// `get`, `list`, `watch`, `create`, … (resource) or the lowercased method (non-resource).
    pub verb: String,
    /// The request path (non-resource requests are authorized on it).
    pub path: String,
    pub resource: Option<ResourceAttributes>,
}

impl RequestAttributes {
    /// Derives the attributes from the method, path and query string.
    pub fn from_request(method: &http::Method, path: &str, query: Option<&str>) -> Self {
        let non_resource = || RequestAttributes {
            verb: non_resource_verb(method),
            path: path.to_owned(),
            resource: None,
        };
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        let (group, version, rest) = match segments.as_slice() {
            ["apis", group, version, rest @ ..] if !rest.is_empty() => (*group, *version, rest),
            ["api", version, rest @ ..] if !rest.is_empty() => ("", *version, rest),
            _ => return non_resource(),
        };
        let (namespace, rest) = match rest {
            ["namespaces", ns, more @ ..] if !more.is_empty() => (*ns, more),
            other => ("", other),
        };
        let (resource, name, subresource) = match rest {
            [r] => (*r, "", ""),
            [r, n] => (*r, *n, ""),
            [r, n, s, ..] => (*r, *n, *s),
            [] => return non_resource(),
        };
        let watch = query.is_some_and(wants_watch);
        let verb = resource_verb(method, !name.is_empty(), watch);
        RequestAttributes {
            verb: verb.to_owned(),
            path: path.to_owned(),
            resource: Some(ResourceAttributes {
                group: group.to_owned(),
                version: version.to_owned(),
                resource: resource.to_owned(),
                subresource: subresource.to_owned(),
                namespace: namespace.to_owned(),
                name: name.to_owned(),
            }),
        }
    }

    /// `User "x" cannot list resource "pods" in API group "metrics.k8s.io" in the namespace
    /// "default"` (or `… cannot get path "/metrics"`), as the apiserver words it.
    pub fn forbidden_message(&self, user: &str) -> String {
        let user = go_quote(user);
        let Some(r) = &self.resource else {
            return format!(
                "User {user} cannot {} path {}",
                self.verb,
                go_quote(&self.path)
            );
        };
        let resource = if r.subresource.is_empty() {
            r.resource.clone()
        } else {
            format!("{}/{}", r.resource, r.subresource)
        };
        let (resource, group) = (go_quote(&resource), go_quote(&r.group));
        let scope = if r.namespace.is_empty() {
            "at the cluster scope".to_owned()
        } else {
            format!("in the namespace {}", go_quote(&r.namespace))
        };
        format!(
            "User {user} cannot {} resource {resource} in API group {group} {scope}",
            self.verb
        )
    }
}

fn wants_watch(query: &str) -> bool {
    crate::api::query::parse_query(Some(query)).is_ok_and(|q| q.watch)
}

fn non_resource_verb(method: &http::Method) -> String {
    match *method {
        http::Method::HEAD => "get".to_owned(),
        ref m => m.as_str().to_ascii_lowercase(),
    }
}

fn resource_verb(method: &http::Method, named: bool, watch: bool) -> &'static str {
    match *method {
        http::Method::GET | http::Method::HEAD if watch => "watch",
        http::Method::GET | http::Method::HEAD if named => "get",
        http::Method::GET | http::Method::HEAD => "list",
        http::Method::POST => "create",
        http::Method::PUT => "update",
        http::Method::PATCH => "patch",
        http::Method::DELETE if named => "delete",
        http::Method::DELETE => "deletecollection",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(path: &str, query: Option<&str>) -> RequestAttributes {
        RequestAttributes::from_request(&http::Method::GET, path, query)
    }

    #[test]
    fn metrics_resources_are_resource_requests() {
        let a = attrs(
            "/apis/metrics.k8s.io/v1beta1/namespaces/team-a/pods/web-1",
            None,
        );
        assert_eq!(a.verb, "get");
        let r = a.resource.unwrap();
        assert_eq!(
            (r.group.as_str(), r.version.as_str(), r.resource.as_str()),
            ("metrics.k8s.io", "v1beta1", "pods")
        );
        assert_eq!((r.namespace.as_str(), r.name.as_str()), ("team-a", "web-1"));

        let a = attrs("/apis/metrics.k8s.io/v1/nodes", None);
        assert_eq!(a.verb, "list");
        assert_eq!(a.resource.unwrap().resource, "nodes");
        let a = attrs("/apis/metrics.k8s.io/v1/pods", Some("watch=true"));
        assert_eq!(a.verb, "watch");
        let a = attrs(
            "/apis/metrics.k8s.io/v1/namespaces/x/pods",
            Some("watch=false"),
        );
        assert_eq!(a.verb, "list");
        assert_eq!(a.resource.unwrap().namespace, "x");
    }

    #[test]
    fn discovery_and_other_paths_are_non_resource_requests() {
        for p in [
            "/apis",
            "/apis/metrics.k8s.io",
            "/apis/metrics.k8s.io/v1beta1",
            "/metrics",
            "/version",
            "/openapi/v2",
            "/",
        ] {
            let a = attrs(p, None);
            assert_eq!(
                (a.verb.as_str(), a.resource.is_none()),
                ("get", true),
                "{p}"
            );
            assert_eq!(a.path, p);
        }
        let head = RequestAttributes::from_request(&http::Method::HEAD, "/metrics", None);
        assert_eq!(head.verb, "get");
    }

    #[test]
    fn forbidden_messages_match_the_apiserver() {
        assert_eq!(
            attrs("/apis/metrics.k8s.io/v1beta1/nodes", None).forbidden_message("system:anonymous"),
            "User \"system:anonymous\" cannot list resource \"nodes\" in API group \"metrics.k8s.io\" at the cluster scope"
        );
        assert_eq!(
            attrs("/apis/metrics.k8s.io/v1beta1/namespaces/a/pods", None).forbidden_message("bob"),
            "User \"bob\" cannot list resource \"pods\" in API group \"metrics.k8s.io\" in the namespace \"a\""
        );
        assert_eq!(
            attrs("/metrics", None).forbidden_message("bob"),
            "User \"bob\" cannot get path \"/metrics\""
        );
    }
}
