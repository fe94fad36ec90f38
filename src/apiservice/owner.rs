//! Whose APIService this is: does its `spec.service` point at our Service?
//!
//! Only one provider can serve `metrics.k8s.io`; prometheus-adapter, KEDA or the Datadog
//! Cluster Agent installed next to us take the APIService over silently. Pure: plain strings in.

use std::fmt;

use super::guidance::ServiceRef;

/// The port an APIService uses when `spec.service.port` is unset.
pub const DEFAULT_SERVICE_PORT: i32 = 443;

/// The Service in front of this server, and the port of it an APIService must name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OurService {
    pub service: ServiceRef,
    pub port: i32,
}

impl OurService {
    pub fn new(namespace: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            service: ServiceRef::new(namespace, name),
            port: DEFAULT_SERVICE_PORT,
        }
    }
}

/// An APIService's `spec.service` (`namespace`, `name`, `port`) as plain values.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct ServiceTarget<'a> {
    pub namespace: &'a str,
    pub name: &'a str,
    /// `spec.service.port`; `None` means 443.
    pub port: Option<i32>,
}

/// Who serves an APIService.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Owner {
    /// It points at our Service and port.
    Ours,
    /// It points at our Service but another port: the aggregator reports `ServicePortError`.
    OursOnOtherPort { port: i32 },
    /// It points at another Service: another provider serves the group.
    Other(OtherProvider),
    /// `spec.service` is unset: the kube-apiserver serves the group itself.
    Local,
}

/// Another provider's Service, and what it most likely is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OtherProvider {
    pub service: ServiceRef,
    pub port: i32,
    /// A well-known product guessed from the Service's name and namespace.
    pub product: Option<&'static str>,
}

impl fmt::Display for OtherProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.product {
            Some(product) => write!(f, "{product} (service {})", self.service),
            None => write!(f, "service {}", self.service),
        }
    }
}

/// Why `--apiservice-service` was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "--apiservice-service must be NAMESPACE/NAME or NAMESPACE/NAME:PORT (a port 1-65535), but value {0:?} provided"
)]
pub struct ServiceFlagError(pub String);

/// Parses `--apiservice-service`: `NAMESPACE/NAME` (port 443) or `NAMESPACE/NAME:PORT`.
pub fn parse_service_flag(text: &str) -> Result<OurService, ServiceFlagError> {
    let refuse = || ServiceFlagError(text.to_string());
    let (namespace, rest) = text.trim().split_once('/').ok_or_else(refuse)?;
    let (name, port) = match rest.split_once(':') {
        Some((name, port)) => (
            name,
            port.parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(refuse)?,
        ),
        None => (rest, 443),
    };
    let label = |s: &str| {
        !s.is_empty()
            && s.len() <= 253
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
    };
    if !label(namespace) || !label(name) {
        return Err(refuse());
    }
    Ok(OurService {
        service: ServiceRef::new(namespace, name),
        port: i32::from(port),
    })
}

/// Whose APIService a `spec.service` (`None`: unset) makes it, seen from `ours`.
pub fn owner(target: Option<ServiceTarget<'_>>, ours: &OurService) -> Owner {
    let Some(target) = target else {
        return Owner::Local;
    };
    let port = target.port.unwrap_or(DEFAULT_SERVICE_PORT);
    if target.namespace == ours.service.namespace && target.name == ours.service.name {
        return if port == ours.port {
            Owner::Ours
        } else {
            Owner::OursOnOtherPort { port }
        };
    }
    Owner::Other(OtherProvider {
        service: ServiceRef::new(target.namespace, target.name),
        port,
        product: product_of(target.namespace, target.name),
    })
}

/// Well-known providers of `metrics.k8s.io` (and neighbours that take it by mistake), by the
/// names their charts and manifests give the Service.
fn product_of(namespace: &str, name: &str) -> Option<&'static str> {
    const PRODUCTS: [(&str, &str); 7] = [
        ("prometheus-adapter", "prometheus-adapter"),
        ("keda", "KEDA metrics apiserver"),
        ("datadog", "Datadog Cluster Agent"),
        ("kube-metrics-adapter", "kube-metrics-adapter"),
        ("custom-metrics", "a custom-metrics adapter"),
        ("metrics-server", "another metrics-server"),
        ("adapter", "a metrics adapter"),
    ];
    let name = name.to_ascii_lowercase();
    let namespace = namespace.to_ascii_lowercase();
    PRODUCTS
        .iter()
        .find(|(needle, _)| name.contains(needle))
        .or_else(|| {
            PRODUCTS
                .iter()
                .find(|(needle, _)| namespace.contains(needle))
        })
        .map(|(_, product)| *product)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ours() -> OurService {
        OurService::new("kube-system", "metrics-server")
    }

    fn target<'a>(namespace: &'a str, name: &'a str, port: Option<i32>) -> ServiceTarget<'a> {
        ServiceTarget {
            namespace,
            name,
            port,
        }
    }

    #[test]
    fn our_service_on_the_default_port_is_ours() {
        assert_eq!(
            owner(Some(target("kube-system", "metrics-server", None)), &ours()),
            Owner::Ours
        );
        assert_eq!(
            owner(
                Some(target("kube-system", "metrics-server", Some(443))),
                &ours()
            ),
            Owner::Ours
        );
    }

    #[test]
    fn our_service_on_another_port_is_flagged() {
        assert_eq!(
            owner(
                Some(target("kube-system", "metrics-server", Some(4443))),
                &ours()
            ),
            Owner::OursOnOtherPort { port: 4443 }
        );
    }

    #[test]
    fn the_flag_takes_namespace_name_and_an_optional_port() {
        assert_eq!(parse_service_flag("kube-system/metrics-server"), Ok(ours()));
        let mut on_8443 = OurService::new("monitoring", "ms-rs");
        on_8443.port = 8443;
        assert_eq!(parse_service_flag("monitoring/ms-rs:8443"), Ok(on_8443));
        for bad in [
            "",
            "metrics-server",
            "/metrics-server",
            "kube-system/",
            "kube-system/metrics-server:0",
            "kube-system/metrics-server:https",
            "kube-system/metrics-server:70000",
            "Kube-System/metrics-server",
            "kube-system/metrics server",
        ] {
            assert!(parse_service_flag(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn no_service_is_local() {
        assert_eq!(owner(None, &ours()), Owner::Local);
    }

    #[test]
    fn another_service_is_named_with_its_product() {
        let Owner::Other(other) = owner(
            Some(target("monitoring", "prometheus-adapter", None)),
            &ours(),
        ) else {
            panic!("not another provider");
        };
        assert_eq!(
            other.service,
            ServiceRef::new("monitoring", "prometheus-adapter")
        );
        assert_eq!(
            other.to_string(),
            "prometheus-adapter (service monitoring/prometheus-adapter)"
        );
        let Owner::Other(keda) = owner(
            Some(target("keda", "keda-operator-metrics-apiserver", Some(443))),
            &ours(),
        ) else {
            panic!("not another provider");
        };
        assert_eq!(keda.product, Some("KEDA metrics apiserver"));
        let Owner::Other(dd) = owner(
            Some(target("datadog", "datadog-cluster-agent-metrics-api", None)),
            &ours(),
        ) else {
            panic!("not another provider");
        };
        assert_eq!(dd.product, Some("Datadog Cluster Agent"));
    }

    #[test]
    fn same_name_in_another_namespace_is_another_provider() {
        let Owner::Other(other) =
            owner(Some(target("monitoring", "metrics-server", None)), &ours())
        else {
            panic!("not another provider");
        };
        assert_eq!(other.product, Some("another metrics-server"));
        assert_eq!(
            other.to_string(),
            "another metrics-server (service monitoring/metrics-server)"
        );
    }

    #[test]
    fn an_unknown_service_is_named_by_its_service() {
        let Owner::Other(other) = owner(Some(target("team-a", "metrics-api", None)), &ours())
        else {
            panic!("not another provider");
        };
        assert_eq!(other.product, None);
        assert_eq!(other.to_string(), "service team-a/metrics-api");
    }
}
