//! Who else serves a metrics APIService (pain point 13: only one provider per API group):
//! prometheus-adapter, KEDA, the Datadog Cluster Agent, … told apart by the Service the
//! APIService points at, with what to do about each.

/// A provider of `metrics.k8s.io` other than ours, recognised by its Service's name.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Provider {
    PrometheusAdapter,
    Keda,
    Datadog,
    KubeMetricsAdapter,
    /// Another installation of metrics-server (upstream's, or ours under another name).
    MetricsServer,
    Unknown,
}

/// Guesses the provider behind `namespace/name`.
pub fn provider_of(namespace: &str, name: &str) -> Provider {
    let both = format!("{namespace}/{name}").to_ascii_lowercase();
    let has = |word: &str| both.contains(word);
    if has("prometheus-adapter") || (has("prometheus") && has("adapter")) {
        Provider::PrometheusAdapter
    } else if has("keda") {
        Provider::Keda
    } else if has("datadog") {
        Provider::Datadog
    } else if has("kube-metrics-adapter") {
        Provider::KubeMetricsAdapter
    } else if has("metrics-server") {
        Provider::MetricsServer
    } else {
        Provider::Unknown
    }
}

impl Provider {
    /// How the provider is named in a report line.
    pub fn describe(self) -> &'static str {
        match self {
            Provider::PrometheusAdapter => "prometheus-adapter",
            Provider::Keda => "KEDA",
            Provider::Datadog => "the Datadog Cluster Agent",
            Provider::KubeMetricsAdapter => "kube-metrics-adapter",
            Provider::MetricsServer => "another metrics-server installation",
            Provider::Unknown => "another provider",
        }
    }

    /// What to do so that one provider serves `metrics.k8s.io`, before pointing the
    /// APIService back at ours.
    pub fn advice(self) -> &'static str {
        match self {
            Provider::PrometheusAdapter => {
                "only one server can own metrics.k8s.io: either keep prometheus-adapter and \
                 uninstall this server, or turn off prometheus-adapter's resource metrics (Helm \
                 value rules.resource empty, no resourceRules in its config) so it stops \
                 registering the APIService"
            }
            Provider::Keda => {
                "KEDA serves external.metrics.k8s.io, not metrics.k8s.io: this APIService was \
                 pointed at KEDA by mistake (check the KEDA chart values)"
            }
            Provider::Datadog => {
                "only one server can own metrics.k8s.io: either keep the Datadog Cluster Agent's \
                 metrics provider and uninstall this server, or disable its metricsProvider \
                 registration of metrics.k8s.io"
            }
            Provider::KubeMetricsAdapter => {
                "only one server can own metrics.k8s.io: kube-metrics-adapter should register \
                 custom.metrics.k8s.io and external.metrics.k8s.io only"
            }
            Provider::MetricsServer => {
                "two metrics-server installations compete for the APIService: uninstall one of \
                 them (kubectl get deploy -A | grep metrics-server)"
            }
            Provider::Unknown => {
                "only one server can own metrics.k8s.io: remove the other provider's \
                 registration of it, or uninstall this server"
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_providers_are_recognised_by_their_service() {
        let cases = [
            (
                "monitoring",
                "prometheus-adapter",
                Provider::PrometheusAdapter,
            ),
            (
                "monitoring",
                "kube-prometheus-stack-adapter",
                Provider::PrometheusAdapter,
            ),
            ("keda", "keda-operator-metrics-apiserver", Provider::Keda),
            (
                "datadog",
                "datadog-cluster-agent-metrics-api",
                Provider::Datadog,
            ),
            (
                "kube-system",
                "kube-metrics-adapter",
                Provider::KubeMetricsAdapter,
            ),
            ("monitoring", "metrics-server", Provider::MetricsServer),
            ("default", "my-metrics", Provider::Unknown),
        ];
        for (namespace, name, want) in cases {
            assert_eq!(provider_of(namespace, name), want, "{namespace}/{name}");
        }
    }
}
