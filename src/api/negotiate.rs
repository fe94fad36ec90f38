//! `Accept` negotiation: which representation to send (upstream spec §2.5; kubectl-wire §1
//! legend, §2.1, pitfalls 2 and 3 in §8).
//!
//! The list is honoured in order (entries with `q=0` are excluded; other weights keep list
//! order). Media-type parameters (`as`, `g`, `v`) may come in any order, with or without
//! spaces. Protobuf is chosen only when the caller says it can produce it (the metrics
//! resources can, so the HPA's `application/vnd.kubernetes.protobuf, */*` gets protobuf there);
//! elsewhere that entry is skipped and the same header gives JSON.

use crate::api::discovery::{DiscoveryVersion, JSON_CONTENT_TYPE};
use crate::api::encode::TableVersion;
use crate::api::metav1_status::Status;

/// Content-Type of Kubernetes protobuf bodies.
pub const PROTOBUF_CONTENT_TYPE: &str = "application/vnd.kubernetes.protobuf";

/// At most this many Accept entries are examined.
const MAX_ENTRIES: usize = 64;

/// Content-Type of YAML bodies.
pub const YAML_CONTENT_TYPE: &str = "application/yaml";

/// What to send back.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Representation {
    Json,
    Yaml,
    Table(TableVersion),
    AggregatedDiscovery(DiscoveryVersion),
    Protobuf,
}

impl Representation {
    /// The response Content-Type header value. Tables go out as plain `application/json`,
    /// as upstream sends them.
    pub fn content_type(self) -> &'static str {
        match self {
            Representation::Json | Representation::Table(_) => JSON_CONTENT_TYPE,
            Representation::Yaml => YAML_CONTENT_TYPE,
            Representation::AggregatedDiscovery(v) => v.content_type(),
            Representation::Protobuf => PROTOBUF_CONTENT_TYPE,
        }
    }
}

/// The kind of path being answered, which decides the representations allowed.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// Metrics objects and lists: YAML, Table and protobuf besides JSON.
    Resource,
    /// `/apis`: YAML and aggregated discovery besides JSON.
    DiscoveryRoot,
    /// `/apis/metrics.k8s.io` and its versions: YAML besides JSON.
    Discovery,
    /// `/version`: JSON only.
    Other,
}

/// The serializers the apiserver negotiates among, named in its 406 message.
const SERIALIZERS: [&str; 3] = [JSON_CONTENT_TYPE, YAML_CONTENT_TYPE, PROTOBUF_CONTENT_TYPE];

/// What the router declares for lists: the serializers and their watch streams.
const LIST_PRODUCES: [&str; 5] = [
    JSON_CONTENT_TYPE,
    YAML_CONTENT_TYPE,
    PROTOBUF_CONTENT_TYPE,
    "application/json;stream=watch",
    "application/vnd.kubernetes.protobuf;stream=watch",
];

impl Endpoint {
    /// The media types the apiserver's router declares for the path (a single object's;
    /// lists add [`LIST_PRODUCES`]' watch streams), named in its 406.
    fn produces(self) -> &'static [&'static str] {
        match self {
            Endpoint::Resource | Endpoint::DiscoveryRoot | Endpoint::Discovery => &SERIALIZERS,
            Endpoint::Other => &[JSON_CONTENT_TYPE],
        }
    }
}

/// Nothing in the Accept header can be produced (answer 406).
#[derive(Copy, Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("none of the accepted media types can be produced")]
pub struct NotAcceptable {
    pub endpoint: Endpoint,
    /// Whether some entry named a type the path produces (so the router let it through and
    /// only the entry's parameters, `as=Table;v=v2` say, could not be served).
    pub type_produced: bool,
}

impl NotAcceptable {
    /// The 406 Status, in the router's words when no entry named a type the path produces,
    /// else in the serializer negotiation's.
    pub fn to_status(&self) -> Status {
        self.status_producing(self.endpoint.produces())
    }

    /// [`Self::to_status`] for a list of metrics, whose route also declares watch streams.
    pub fn to_list_status(&self) -> Status {
        self.status_producing(&LIST_PRODUCES)
    }

    fn status_producing(&self, produces: &[&str]) -> Status {
        if self.type_produced {
            Status::not_acceptable(&SERIALIZERS)
        } else {
            Status::not_acceptable_by_route(produces)
        }
    }
}

/// Picks the representation for `accept` (the raw header; `None` when absent).
pub fn choose(
    accept: Option<&str>,
    endpoint: Endpoint,
    protobuf_supported: bool,
) -> Result<Representation, NotAcceptable> {
    let Some(accept) = accept.map(str::trim).filter(|a| !a.is_empty()) else {
        return Ok(Representation::Json);
    };
    let ranges = || {
        accept
            .split(',')
            .take(MAX_ENTRIES)
            .filter_map(MediaRange::parse)
            .filter(|m| !m.excluded)
    };
    ranges()
        .find_map(|m| m.representation(endpoint, protobuf_supported))
        .ok_or_else(|| NotAcceptable {
            endpoint,
            type_produced: ranges().any(|m| m.names_one_of(endpoint.produces())),
        })
}

/// One Accept entry: `type/subtype;k=v;…`, with the parameters the apiserver looks at.
#[derive(Debug, Default)]
struct MediaRange<'a> {
    media_type: &'a str,
    subtype: &'a str,
    as_kind: Option<&'a str>,
    group: Option<&'a str>,
    version: Option<&'a str>,
    excluded: bool,
}

impl<'a> MediaRange<'a> {
    fn parse(entry: &'a str) -> Option<Self> {
        let mut parts = entry.split(';');
        let (media_type, subtype) = parts.next()?.trim().split_once('/')?;
        let mut range = MediaRange {
            media_type: media_type.trim(),
            subtype: subtype.trim(),
            ..MediaRange::default()
        };
        for param in parts {
            let Some((key, value)) = param.split_once('=') else {
                continue;
            };
            let value = value.trim().trim_matches('"');
            match key.trim().to_ascii_lowercase().as_str() {
                "as" => range.as_kind = Some(value),
                "g" => range.group = Some(value),
                "v" => range.version = Some(value),
                "q" => range.excluded = is_zero_weight(value),
                _ => {}
            }
        }
        Some(range)
    }

    fn is(&self, media_type: &str, subtype: &str) -> bool {
        self.media_type.eq_ignore_ascii_case(media_type)
            && self.subtype.eq_ignore_ascii_case(subtype)
    }

    /// Whether this entry's type (parameters aside, wildcards included) is one of `types`.
    fn names_one_of(&self, types: &[&str]) -> bool {
        if self.is("*", "*") || self.is("application", "*") {
            return true;
        }
        types.iter().any(|t| {
            let bare = t.split(';').next().unwrap_or(t);
            bare.split_once('/').is_some_and(|(m, s)| self.is(m, s))
        })
    }

    fn representation(&self, endpoint: Endpoint, protobuf: bool) -> Option<Representation> {
        let wildcard = self.is("*", "*") || self.is("application", "*");
        let json = self.is("application", "json");
        match self.as_kind {
            _ if endpoint == Endpoint::Other => (json || wildcard).then_some(Representation::Json),
            None if json || wildcard => Some(Representation::Json),
            None if self.is("application", "yaml") => Some(Representation::Yaml),
            None if self.is("application", "vnd.kubernetes.protobuf") => {
                (protobuf && endpoint == Endpoint::Resource).then_some(Representation::Protobuf)
            }
            None => None,
            Some(_) if !self.is("application", "json") => None,
            Some(kind) => self.converted(kind, endpoint),
        }
    }

    /// `as=Table` on resources, `as=APIGroupDiscoveryList` on discovery roots.
    fn converted(&self, kind: &str, endpoint: Endpoint) -> Option<Representation> {
        match (endpoint, kind, self.group?, self.version?) {
            (Endpoint::Resource, "Table", "meta.k8s.io", "v1") => {
                Some(Representation::Table(TableVersion::V1))
            }
            (Endpoint::Resource, "Table", "meta.k8s.io", "v1beta1") => {
                Some(Representation::Table(TableVersion::V1beta1))
            }
            (Endpoint::DiscoveryRoot, "APIGroupDiscoveryList", "apidiscovery.k8s.io", "v2") => {
                Some(Representation::AggregatedDiscovery(DiscoveryVersion::V2))
            }
            (
                Endpoint::DiscoveryRoot,
                "APIGroupDiscoveryList",
                "apidiscovery.k8s.io",
                "v2beta1",
            ) => Some(Representation::AggregatedDiscovery(
                DiscoveryVersion::V2beta1,
            )),
            _ => None,
        }
    }
}

/// `q=0`, `q=0.0`, `q=0.000`: the client refuses this type.
fn is_zero_weight(q: &str) -> bool {
    let q = q.trim();
    let (int, frac) = q.split_once('.').unwrap_or((q, ""));
    int == "0" && frac.bytes().all(|b| b == b'0')
}

#[cfg(test)]
mod tests {
    use super::*;
    use Representation::*;

    const AGG_OLD: &str = "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";
    const AGG_NEW: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";
    const PB_STAR: &str = "application/vnd.kubernetes.protobuf, */*";
    const PB_JSON: &str = "application/vnd.kubernetes.protobuf,application/json";
    const JSON_STAR: &str = "application/json, */*";
    const TABLE: &str = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";

    fn pick(accept: Option<&str>, endpoint: Endpoint) -> Result<Representation, NotAcceptable> {
        choose(accept, endpoint, false)
    }

    #[test]
    fn kubectl_accept_headers() {
        let cases: &[(&str, Endpoint, Representation)] = &[
            (
                AGG_OLD,
                Endpoint::DiscoveryRoot,
                AggregatedDiscovery(DiscoveryVersion::V2beta1),
            ),
            (
                AGG_NEW,
                Endpoint::DiscoveryRoot,
                AggregatedDiscovery(DiscoveryVersion::V2),
            ),
            (AGG_NEW, Endpoint::Other, Json),
            (AGG_NEW, Endpoint::Resource, Json),
            (PB_STAR, Endpoint::Resource, Json),
            (PB_JSON, Endpoint::Resource, Json),
            (JSON_STAR, Endpoint::Resource, Json),
            (JSON_STAR, Endpoint::Other, Json),
            ("application/json", Endpoint::Resource, Json),
            (TABLE, Endpoint::Resource, Table(TableVersion::V1)),
            (TABLE, Endpoint::DiscoveryRoot, Json),
            (
                "application/json;as=Table;v=v1beta1;g=meta.k8s.io",
                Endpoint::Resource,
                Table(TableVersion::V1beta1),
            ),
        ];
        for &(accept, endpoint, want) in cases {
            assert_eq!(
                pick(Some(accept), endpoint),
                Ok(want),
                "{accept} on {endpoint:?}"
            );
        }
    }

    #[test]
    fn parameter_order_and_spaces_do_not_matter() {
        for accept in [
            "application/json; g=apidiscovery.k8s.io; v=v2; as=APIGroupDiscoveryList",
            "application/json;as=APIGroupDiscoveryList;g=apidiscovery.k8s.io;v=v2",
            " Application/JSON ;AS=APIGroupDiscoveryList ;g=apidiscovery.k8s.io;v=\"v2\"",
        ] {
            assert_eq!(
                pick(Some(accept), Endpoint::DiscoveryRoot),
                Ok(AggregatedDiscovery(DiscoveryVersion::V2)),
                "{accept}"
            );
        }
    }

    #[test]
    fn protobuf_only_when_supported() {
        assert_eq!(
            choose(Some(PB_STAR), Endpoint::Resource, true),
            Ok(Protobuf)
        );
        assert_eq!(choose(Some(PB_STAR), Endpoint::Other, true), Ok(Json));
        assert!(pick(Some(PROTOBUF_CONTENT_TYPE), Endpoint::Resource).is_err());
    }

    #[test]
    fn missing_wildcards_and_refusals() {
        assert_eq!(pick(None, Endpoint::Resource), Ok(Json));
        assert_eq!(pick(Some("  "), Endpoint::Resource), Ok(Json));
        assert_eq!(pick(Some("application/*"), Endpoint::Resource), Ok(Json));
        assert_eq!(
            pick(Some("application/json;charset=utf-8"), Endpoint::Resource),
            Ok(Json)
        );
        let err = pick(Some("text/html"), Endpoint::Resource).unwrap_err();
        assert_eq!(err.to_status().code, 406);
        assert!(err.to_status().message.contains("application/json"));
        assert!(pick(Some("application/json;q=0, text/html"), Endpoint::Resource).is_err());
        assert_eq!(
            pick(
                Some("application/json;q=0.0, */*;q=0.1"),
                Endpoint::Resource
            ),
            Ok(Json)
        );
        assert!(
            pick(
                Some("application/json;as=Table;g=meta.k8s.io;v=v2"),
                Endpoint::Resource
            )
            .is_err()
        );
        assert!(pick(Some("garbage,,;;"), Endpoint::Resource).is_err());
    }
}
