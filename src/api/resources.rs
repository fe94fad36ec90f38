//! The NodeMetrics and PodMetrics handlers: join the published snapshot with the watched
//! cluster objects, apply selectors, encode. Port of metrics-server `pkg/api/node.go`,
//! `pod.go` and `filter.go`, plus `spec.nodeName` field selection and the reason in 404s.

use super::context::ApiContext;
use super::encode::{ApiVersion, NodeItem, ObjectMeta, PodItem, gzip, json, protobuf, table};
use super::list_cache::ListFormat;
use super::metav1_status::Status;
use super::negotiate::Representation;
use super::query::ListOptions;
use super::reply_body::Body;
use super::selector::{FieldSelector, LabelSelector};
use crate::time::Timestamp;

/// Fields node lists can be selected by (upstream: the metav1 defaults).
const NODE_FIELDS: &[&str] = &["metadata.name", "metadata.namespace"];
/// Fields pod lists can be selected by: upstream's plus `spec.nodeName` (the reporting node).
const POD_FIELDS: &[&str] = &["metadata.name", "metadata.namespace", "spec.nodeName"];

/// Handler errors are Kubernetes `Status` objects (boxed: they are large and rare).
type Result<T> = std::result::Result<T, Box<Status>>;

struct Selectors {
    labels: LabelSelector,
    fields: FieldSelector,
}

fn selectors(opts: &ListOptions, allowed: &[&str]) -> Result<Selectors> {
    let labels = match opts.label_selector.as_deref() {
        Some(s) => LabelSelector::parse(s).map_err(|e| Box::new(e.to_status()))?,
        None => LabelSelector::everything(),
    };
    let fields = match opts.field_selector.as_deref() {
        Some(s) => FieldSelector::parse(s, allowed).map_err(|e| Box::new(e.to_status()))?,
        None => FieldSelector::everything(),
    };
    Ok(Selectors { labels, fields })
}

/// `GET …/nodes`: every node that matches the selectors and `--node-selector` and has metrics.
pub fn list_nodes(
    ctx: &ApiContext,
    v: ApiVersion,
    opts: &ListOptions,
    repr: Representation,
) -> Result<Vec<u8>> {
    if opts.watch {
        return Err(Box::new(Status::watch_not_supported(
            "nodes.metrics.k8s.io",
        )));
    }
    let sel = selectors(opts, NODE_FIELDS)?;
    let snapshot = ctx.snapshot.load();
    let nodes: Vec<_> = snapshot
        .nodes()
        .filter_map(|(name, usage)| ctx.cluster.node(name).map(|node| (name, usage, node)))
        .collect();
    let now = Timestamp::now();
    let items: Vec<NodeItem<'_>> = nodes
        .iter()
        .filter(|(name, _, node)| {
            sel.labels.matches(&node.labels)
                && ctx.node_selector.matches(&node.labels)
                && sel.fields.matches(|f| match f {
                    "metadata.name" => Some(&**name),
                    "metadata.namespace" => Some(""),
                    _ => None,
                })
        })
        .map(|(name, usage, node)| NodeItem {
            meta: ObjectMeta {
                name,
                namespace: None,
                labels: Some(&node.labels),
                encoded_labels: None,
                creation_timestamp: now,
            },
            usage,
            extra: snapshot.node_extra(name),
        })
        .collect();
    observe_freshness(ctx, now, items.iter().map(|i| i.usage.timestamp));
    let mut out = Vec::with_capacity(256 + items.len() * 320);
    let extra = snapshot.extra_resources();
    match repr {
        Representation::Table(tv) => {
            table::write_node_table(&mut out, tv, &items, opts.include_object, v, extra)
        }
        Representation::Protobuf => protobuf::write_node_metrics_list(&mut out, v, &items),
        _ => json::write_node_metrics_list(&mut out, v, &items),
    }
    Ok(out)
}

/// `GET …/nodes/{name}`; like upstream it ignores `--node-selector`.
pub fn get_node(
    ctx: &ApiContext,
    v: ApiVersion,
    name: &str,
    opts: &ListOptions,
    repr: Representation,
) -> Result<Vec<u8>> {
    let node = ctx
        .cluster
        .node(name)
        .ok_or_else(|| Box::new(Status::node_not_found(name)))?;
    let snapshot = ctx.snapshot.load();
    let Some(usage) = snapshot.node(name) else {
        let why = snapshot.node_missing_reason(name).describe();
        return Err(Box::new(Status::node_metrics_not_found(name, Some(why))));
    };
    let item = NodeItem {
        meta: ObjectMeta {
            name,
            namespace: None,
            labels: Some(&node.labels),
            encoded_labels: None,
            creation_timestamp: Timestamp::now(),
        },
        usage,
        extra: snapshot.node_extra(name),
    };
    observe_freshness(ctx, item.meta.creation_timestamp, [item.usage.timestamp]);
    let mut out = Vec::with_capacity(512);
    let extra = snapshot.extra_resources();
    match repr {
        Representation::Table(tv) => {
            table::write_node_table(&mut out, tv, &[item], opts.include_object, v, extra)
        }
        Representation::Protobuf => protobuf::write_node_metrics(&mut out, v, &item),
        _ => json::write_node_metrics(&mut out, v, &item),
    }
    Ok(out)
}

/// `GET …/pods` and `…/namespaces/{ns}/pods`: Running pods that match and have metrics
/// (`gzip`: the cached list may be answered compressed).
pub fn list_pods(
    ctx: &ApiContext,
    v: ApiVersion,
    namespace: Option<&str>,
    opts: &ListOptions,
    repr: Representation,
    gzip: bool,
) -> Result<Body> {
    if opts.watch {
        return Err(Box::new(Status::watch_not_supported("pods.metrics.k8s.io")));
    }
    let sel = selectors(opts, POD_FIELDS)?;
    let snapshot = ctx.snapshot.load();
    let unfiltered = opts.label_selector.is_none() && opts.field_selector.is_none();
    let cached_format = match repr {
        Representation::Json => Some(ListFormat::Json),
        Representation::Protobuf => Some(ListFormat::Protobuf),
        _ => None,
    };
    if let Some(format) = cached_format.filter(|_| unfiltered) {
        let now = Timestamp::now();
        let threshold = gzip::THRESHOLD_BYTES;
        let small = ctx.pod_lists.last_items_at_most(format, threshold as u64);
        let body: Option<Body> = if gzip && !small {
            // A list that could not be compressed (logged) is encoded for this request below,
            // and so is one whose items fit under the gzip threshold: that one is then sent
            // compressed only when its whole body is over it, like every other body and as
            // upstream.
            let cached = ctx.pod_lists.get_gzip(&snapshot, &ctx.cluster, format);
            cached
                .ok()
                .filter(|c| c.items_len(namespace) > threshold as u64)
                .map(|c| c.render(v, namespace).into())
        } else {
            // Without gzip, or when the last list was under the threshold: the uncompressed
            // cache (a list that has grown past the threshold since is compressed below, and
            // the next request takes the compressed cache).
            let cached = ctx.pod_lists.get(&snapshot, &ctx.cluster, format);
            cached
                .render(v, namespace, now)
                .filter(|body| !gzip || body.remaining() <= threshold)
                .map(Body::from)
        };
        if let Some(body) = body {
            // The cached body holds the snapshot's pods that the cluster cache knows.
            match namespace {
                None => ctx
                    .metrics
                    .observe_freshness_of_all(now, snapshot.pod_sample_times()),
                Some(_) => {
                    observe_freshness(ctx, now, snapshot.pods(namespace).map(|(_, u)| u.timestamp))
                }
            }
            return Ok(body);
        }
    }
    let pods: Vec<_> = snapshot
        .pods(namespace)
        .filter_map(|(key, usage)| {
            ctx.cluster
                .pod(&key.namespace, &key.name)
                .map(|meta| (key, usage, meta))
        })
        .collect();
    let now = Timestamp::now();
    let items: Vec<PodItem<'_>> = pods
        .iter()
        .filter(|(key, usage, meta)| {
            sel.labels.matches(meta.labels())
                && sel.fields.matches(|f| match f {
                    "metadata.name" => Some(&*key.name),
                    "metadata.namespace" => Some(&*key.namespace),
                    "spec.nodeName" => Some(&*usage.node),
                    _ => None,
                })
        })
        .map(|(key, usage, meta)| {
            PodItem::new(&key.namespace, &key.name, meta.labels(), now, usage)
                .with_extra(snapshot.pod_extra(usage))
        })
        .collect();
    observe_freshness(ctx, now, items.iter().map(|i| i.usage.timestamp));
    let mut out = Vec::with_capacity(256 + items.len() * 400);
    let extra = snapshot.extra_resources();
    match repr {
        Representation::Table(tv) => {
            table::write_pod_table(&mut out, tv, &items, opts.include_object, v, extra)
        }
        Representation::Protobuf => protobuf::write_pod_metrics_list(&mut out, v, &items),
        _ => json::write_pod_metrics_list(&mut out, v, &items),
    }
    Ok(out.into())
}

/// `GET …/namespaces/{ns}/pods/{name}`.
pub fn get_pod(
    ctx: &ApiContext,
    v: ApiVersion,
    namespace: &str,
    name: &str,
    opts: &ListOptions,
    repr: Representation,
) -> Result<Vec<u8>> {
    let meta = ctx
        .cluster
        .pod(namespace, name)
        .ok_or_else(|| Box::new(Status::pod_not_found(name)))?;
    let snapshot = ctx.snapshot.load();
    let Some(usage) = snapshot.pod(namespace, name) else {
        let why = snapshot.pod_missing_reason(namespace, name).describe();
        return Err(Box::new(Status::pod_metrics_not_found(
            namespace,
            name,
            Some(why),
        )));
    };
    let item = PodItem::new(namespace, name, meta.labels(), Timestamp::now(), usage)
        .with_extra(snapshot.pod_extra(usage));
    observe_freshness(ctx, item.meta.creation_timestamp, [item.usage.timestamp]);
    let mut out = Vec::with_capacity(1024);
    let extra = snapshot.extra_resources();
    match repr {
        Representation::Table(tv) => {
            table::write_pod_table(&mut out, tv, &[item], opts.include_object, v, extra)
        }
        Representation::Protobuf => protobuf::write_pod_metrics(&mut out, v, &item),
        _ => json::write_pod_metrics(&mut out, v, &item),
    }
    Ok(out)
}

/// Upstream's `metrics_server_api_metric_freshness_seconds`: one observation per item served.
fn observe_freshness(
    ctx: &ApiContext,
    now: Timestamp,
    samples: impl IntoIterator<Item = Timestamp>,
) {
    ctx.metrics.observe_freshness(now, samples);
}
