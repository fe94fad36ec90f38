//! Pods to encode in the list-cache tests.

use std::collections::BTreeMap;

use crate::api::encode::PodItem;
use crate::time::Timestamp;
use crate::usage::{ContainerUsage, PodUsage, Usage};

/// A one-container pod whose usage grows with `n`.
pub fn usage(n: u64) -> PodUsage {
    PodUsage {
        node: "node-1".into(),
        timestamp: Timestamp::from_secs(1_700_000_000),
        window_ns: 15_004_000_000,
        containers: smallvec::smallvec![ContainerUsage {
            name: "app".into(),
            usage: Usage {
                cpu_nanocores: n * 1000,
                memory_bytes: n << 20,
            },
        }],
    }
}

/// One item per `(namespace, name)`, all with `labels` and `ts`.
pub fn pod_items<'a>(
    pods: &[(&'a str, &'a str)],
    usages: &'a [PodUsage],
    labels: &'a BTreeMap<String, String>,
    ts: Timestamp,
) -> Vec<PodItem<'a>> {
    pods.iter()
        .zip(usages)
        .map(|(&(ns, name), usage)| PodItem::new(ns, name, labels, ts, usage))
        .collect()
}
