//! Wire encoders for the `metrics.k8s.io` API: byte-exact ports of what the upstream
//! apiserver emits (upstream spec §2.4, §2.6). Pure: no I/O, no async, no HTTP types.
//!
//! Every top-level document writer mirrors Go's `json.Encoder.Encode`: compact JSON followed by
//! one `\n`. [`json::indent`] turns such a document into the `?pretty=true` form.

use std::collections::BTreeMap;

use crate::time::Timestamp;
use crate::usage::{ExtraUsage, NodeUsage, PodUsage};
use crate::wire::labels::EncodedLabels;

pub mod gzip;
pub mod gzip_text;
pub mod json;
pub mod protobuf;
pub mod quantity;
pub mod table;
pub mod yaml;

/// The served versions of the `metrics.k8s.io` group. Both carry the same schema.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum ApiVersion {
    V1beta1,
    V1,
}

impl ApiVersion {
    /// Every served version, preferred (advertised first) version first.
    pub const ALL: [ApiVersion; 2] = [ApiVersion::V1beta1, ApiVersion::V1];

    /// The version alone: `v1beta1` or `v1`.
    pub fn as_str(self) -> &'static str {
        match self {
            ApiVersion::V1beta1 => "v1beta1",
            ApiVersion::V1 => "v1",
        }
    }

    /// The `apiVersion` field value: `metrics.k8s.io/v1beta1` or `metrics.k8s.io/v1`.
    pub fn group_version(self) -> &'static str {
        match self {
            ApiVersion::V1beta1 => "metrics.k8s.io/v1beta1",
            ApiVersion::V1 => "metrics.k8s.io/v1",
        }
    }

    /// Parses the version path segment (`v1beta1`, `v1`).
    pub fn from_segment(segment: &str) -> Option<ApiVersion> {
        match segment {
            "v1beta1" => Some(ApiVersion::V1beta1),
            "v1" => Some(ApiVersion::V1),
            _ => None,
        }
    }
}

/// The `meta.k8s.io` version of a server-side Table (`as=Table;v=…;g=meta.k8s.io`).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum TableVersion {
    V1,
    V1beta1,
}

impl TableVersion {
    /// The `apiVersion` of the Table and of its `PartialObjectMetadata` rows.
    pub fn group_version(self) -> &'static str {
        match self {
            TableVersion::V1 => "meta.k8s.io/v1",
            TableVersion::V1beta1 => "meta.k8s.io/v1beta1",
        }
    }

    /// The response Content-Type the apiserver sends for this Table version.
    pub fn content_type(self) -> &'static str {
        match self {
            TableVersion::V1 => "application/json;as=Table;v=v1;g=meta.k8s.io",
            TableVersion::V1beta1 => "application/json;as=Table;v=v1beta1;g=meta.k8s.io",
        }
    }
}

/// What a Table row's `object` carries (`?includeObject=`, upstream spec §2.6).
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash)]
pub enum IncludeObject {
    /// `"object":null`.
    None,
    /// A `PartialObjectMetadata` (the default).
    #[default]
    Metadata,
    /// The full NodeMetrics/PodMetrics object.
    Object,
}

/// The object metadata the API emits: no uid, resourceVersion or annotations (§2.4).
#[derive(Copy, Clone, Debug)]
pub struct ObjectMeta<'a> {
    pub name: &'a str,
    /// Pods only.
    pub namespace: Option<&'a str>,
    /// Live labels from the informer; omitted from the output when `None` or empty.
    pub labels: Option<&'a BTreeMap<String, String>>,
    /// `labels` already encoded ([`EncodedLabels::of`] them), written instead of walking
    /// the map.
    pub encoded_labels: Option<&'a EncodedLabels>,
    /// Upstream sets this to the request time.
    pub creation_timestamp: Timestamp,
}

/// One node to encode.
#[derive(Copy, Clone, Debug)]
pub struct NodeItem<'a> {
    pub meta: ObjectMeta<'a>,
    pub usage: &'a NodeUsage,
    /// Swap and ephemeral storage, written into `usage` beside CPU and memory when present.
    pub extra: Option<&'a ExtraUsage>,
}

/// One pod to encode.
#[derive(Copy, Clone, Debug)]
pub struct PodItem<'a> {
    pub meta: ObjectMeta<'a>,
    pub usage: &'a PodUsage,
    /// Swap and ephemeral storage of each container of `usage`, in the same order, written
    /// into each container's `usage` beside CPU and memory when present.
    pub extra: Option<&'a [ExtraUsage]>,
}

impl<'a> PodItem<'a> {
    /// The pod `namespace`/`name` with its labels, created (for the API) at `created`.
    pub fn new(
        namespace: &'a str,
        name: &'a str,
        labels: &'a BTreeMap<String, String>,
        created: Timestamp,
        usage: &'a PodUsage,
    ) -> Self {
        PodItem {
            meta: ObjectMeta {
                name,
                namespace: Some(namespace),
                labels: Some(labels),
                encoded_labels: None,
                creation_timestamp: created,
            },
            usage,
            extra: None,
        }
    }

    /// The same item with the swap and ephemeral storage of its containers.
    pub fn with_extra(mut self, extra: Option<&'a [ExtraUsage]>) -> Self {
        self.extra = extra;
        self
    }

    /// The extra figures of the container at `index` of the usage.
    pub fn container_extra(&self, index: usize) -> Option<&'a ExtraUsage> {
        self.extra.and_then(|e| e.get(index))
    }

    /// The same item, writing `encoded` (the encodings of its labels) instead of the labels.
    pub fn with_encoded_labels(mut self, encoded: Option<&'a EncodedLabels>) -> Self {
        self.meta.encoded_labels = encoded;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::usage::{ContainerUsage, Usage};

    #[test]
    fn pods_with_encoded_labels_encode_to_the_same_bytes() {
        let usage = PodUsage {
            node: "n".into(),
            timestamp: Timestamp::from_secs(1_700_000_000),
            window_ns: 15_004_000_000,
            containers: smallvec::smallvec![ContainerUsage {
                name: "app".into(),
                usage: Usage {
                    cpu_nanocores: 12_345_678,
                    memory_bytes: 40 << 20,
                },
            }],
        };
        let sets = [
            BTreeMap::new(),
            BTreeMap::from([("app".to_owned(), "web".to_owned())]),
            // Escapes in JSON, an empty value, and lengths past one varint byte.
            BTreeMap::from([
                ("a".to_owned(), String::new()),
                ("k<&>\"\u{2028}".to_owned(), "v".repeat(300)),
            ]),
        ];
        for labels in &sets {
            let plain = PodItem::new("ns", "p", labels, Timestamp::from_secs(1), &usage);
            let encoded = EncodedLabels::of(labels);
            let cached = plain.with_encoded_labels(Some(&encoded));
            for api in ApiVersion::ALL {
                let (mut want, mut got) = (Vec::new(), Vec::new());
                json::write_pod_metrics(&mut want, api, &plain);
                json::write_pod_metrics(&mut got, api, &cached);
                assert_eq!(
                    String::from_utf8(got).unwrap(),
                    String::from_utf8(want.clone()).unwrap()
                );
                let shows_labels = String::from_utf8(want).unwrap().contains("\"labels\":{");
                assert_eq!(shows_labels, !labels.is_empty(), "{labels:?}");
                let (mut want, mut got) = (Vec::new(), Vec::new());
                protobuf::write_pod_metrics(&mut want, api, &plain);
                protobuf::write_pod_metrics(&mut got, api, &cached);
                assert_eq!(got, want, "{labels:?}");
            }
        }
    }
}
