//! Qdrant's Prometheus series, named and described as Qdrant names and
//! describes them (dashboards and alerts written for Qdrant read them), served
//! on `/metrics` beside Tessera's own `tessera_*` series.

use prometheus::proto::MetricType;
use prometheus::proto::{Bucket, Counter, Gauge, Histogram, LabelPair, Metric, MetricFamily};
use tessera_runtime::request_stats::{ResponseStats, BUCKET_BOUNDS_MICROS};
use tessera_types::QDRANT_COMPATIBLE_VERSION;

use super::requests::{grpc_responses, rest_responses, Responses};
use super::Telemetry;
use crate::service::{ClusterStatus, CollectionStats};

/// The REST routes whose responses are exported (Qdrant's list: the
/// point operations), sorted.
const REST_ROUTES: &[&str] = &[
    "/collections/{collection_name}/index",
    "/collections/{collection_name}/points",
    "/collections/{collection_name}/points/batch",
    "/collections/{collection_name}/points/count",
    "/collections/{collection_name}/points/delete",
    "/collections/{collection_name}/points/discover",
    "/collections/{collection_name}/points/discover/batch",
    "/collections/{collection_name}/points/facet",
    "/collections/{collection_name}/points/payload",
    "/collections/{collection_name}/points/payload/clear",
    "/collections/{collection_name}/points/payload/delete",
    "/collections/{collection_name}/points/query",
    "/collections/{collection_name}/points/query/batch",
    "/collections/{collection_name}/points/query/groups",
    "/collections/{collection_name}/points/recommend",
    "/collections/{collection_name}/points/recommend/batch",
    "/collections/{collection_name}/points/recommend/groups",
    "/collections/{collection_name}/points/scroll",
    "/collections/{collection_name}/points/search",
    "/collections/{collection_name}/points/search/batch",
    "/collections/{collection_name}/points/search/groups",
    "/collections/{collection_name}/points/search/matrix/offsets",
    "/collections/{collection_name}/points/search/matrix/pairs",
    "/collections/{collection_name}/points/vectors",
    "/collections/{collection_name}/points/vectors/delete",
    "/collections/{collection_name}/vectors/{vector_name}",
];

/// The gRPC methods whose responses are exported (Qdrant's list), sorted.
const GRPC_METHODS: &[&str] = &[
    "/qdrant.Points/ClearPayload",
    "/qdrant.Points/Count",
    "/qdrant.Points/CreateVectorName",
    "/qdrant.Points/Delete",
    "/qdrant.Points/DeletePayload",
    "/qdrant.Points/DeleteVectorName",
    "/qdrant.Points/Discover",
    "/qdrant.Points/DiscoverBatch",
    "/qdrant.Points/Facet",
    "/qdrant.Points/Get",
    "/qdrant.Points/OverwritePayload",
    "/qdrant.Points/Query",
    "/qdrant.Points/QueryBatch",
    "/qdrant.Points/QueryGroups",
    "/qdrant.Points/Recommend",
    "/qdrant.Points/RecommendBatch",
    "/qdrant.Points/RecommendGroups",
    "/qdrant.Points/Scroll",
    "/qdrant.Points/Search",
    "/qdrant.Points/SearchBatch",
    "/qdrant.Points/SearchGroups",
    "/qdrant.Points/SetPayload",
    "/qdrant.Points/UpdateBatch",
    "/qdrant.Points/UpdateVectors",
    "/qdrant.Points/Upsert",
];

/// Qdrant's series for this gateway: the app, the collections, the cluster
/// (when the control plane answers) and the responses served.
pub fn families(
    telemetry: &Telemetry,
    collections: &[CollectionStats],
    cluster: Option<&ClusterStatus>,
) -> Vec<MetricFamily> {
    let mut out = Vec::new();
    let mut push = |family: Option<MetricFamily>| out.extend(family);
    push(family(
        "app_info",
        "information about qdrant server",
        MetricType::GAUGE,
        vec![gauge(
            1.0,
            &[("name", "qdrant"), ("version", QDRANT_COMPATIBLE_VERSION)],
        )],
    ));
    push(family(
        "app_status_recovery_mode",
        "features enabled in qdrant server",
        MetricType::GAUGE,
        vec![gauge(0.0, &[])],
    ));
    for f in collection_families(collections) {
        push(Some(f));
    }
    push(family(
        "cluster_enabled",
        "is cluster support enabled",
        MetricType::GAUGE,
        vec![gauge(1.0, &[])],
    ));
    if let Some(status) = cluster {
        for f in cluster_families(status) {
            push(Some(f));
        }
    }
    let rest = rest_responses(telemetry.rest());
    for f in response_families("rest", &rest, |route| {
        let (method, path) = route.split_once(' ')?;
        REST_ROUTES
            .binary_search(&path)
            .ok()
            .map(|_| vec![("method", method.to_owned()), ("endpoint", path.to_owned())])
    }) {
        push(Some(f));
    }
    let grpc = grpc_responses(telemetry.grpc());
    for f in response_families("grpc", &grpc, |path| {
        GRPC_METHODS
            .binary_search(&path)
            .ok()
            .map(|_| vec![("endpoint", path.to_owned())])
    }) {
        push(Some(f));
    }
    out
}

fn collection_families(collections: &[CollectionStats]) -> Vec<MetricFamily> {
    let mut vectors = Vec::new();
    let mut points = Vec::new();
    let mut optimizing = Vec::new();
    for c in collections {
        let id = c.state.name.as_str();
        for (name, count) in &c.vectors {
            vectors.push(gauge(
                *count as f64,
                &[("collection", id), ("vector", name)],
            ));
        }
        points.push(gauge(c.points as f64, &[("id", id)]));
        optimizing.push(gauge(c.optimizing_shards as f64, &[("id", id)]));
    }
    let total: u64 = collections.iter().flat_map(|c| c.vectors.values()).sum();
    [
        family(
            "collections_total",
            "number of collections",
            MetricType::GAUGE,
            vec![gauge(collections.len() as f64, &[])],
        ),
        family(
            "collections_vector_total",
            "total number of vectors in all collections",
            MetricType::GAUGE,
            vec![gauge(total as f64, &[])],
        ),
        family(
            "collection_vectors",
            "amount of vectors grouped by vector name",
            MetricType::GAUGE,
            vectors,
        ),
        family(
            "collection_running_optimizations",
            "number of currently running optimization tasks per collection",
            MetricType::GAUGE,
            optimizing,
        ),
        family(
            "collection_points",
            "approximate amount of points per collection",
            MetricType::GAUGE,
            points,
        ),
    ]
    .into_iter()
    .flatten()
    .collect()
}

fn cluster_families(status: &ClusterStatus) -> Vec<MetricFamily> {
    let raft = &status.raft_info;
    let peer_id = status.peer_id.to_string();
    [
        family(
            "cluster_peers_total",
            "total number of cluster peers",
            MetricType::GAUGE,
            vec![gauge(status.peers.len() as f64, &[])],
        ),
        family(
            "cluster_term",
            "current cluster term",
            MetricType::COUNTER,
            vec![counter(raft.term as f64, &[])],
        ),
        family(
            "cluster_commit",
            "index of last committed (finalized) operation cluster peer is aware of",
            MetricType::COUNTER,
            vec![counter(raft.commit as f64, &[("peer_id", &peer_id)])],
        ),
        family(
            "cluster_pending_operations_total",
            "total number of pending operations for cluster peer",
            MetricType::GAUGE,
            vec![gauge(raft.pending_operations as f64, &[])],
        ),
        family(
            "cluster_voter",
            "is cluster peer a voter or learner",
            MetricType::GAUGE,
            vec![gauge(if raft.is_voter { 1.0 } else { 0.0 }, &[])],
        ),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// `{api}_responses_*`: counts for every status, timings for successes
/// (REST: 200; gRPC: every code, as Qdrant reports them).
fn response_families(
    api: &str,
    responses: &Responses,
    labels_of: impl Fn(&str) -> Option<Vec<(&'static str, String)>>,
) -> Vec<MetricFamily> {
    let (mut total, mut avg, mut min, mut max, mut histogram) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (operation, statuses) in responses {
        let Some(base) = labels_of(operation) else {
            continue;
        };
        for (status, stats) in statuses {
            let mut owned = base.clone();
            owned.push(("status", status.clone()));
            let labels: Vec<(&str, &str)> = owned.iter().map(|(k, v)| (*k, v.as_str())).collect();
            total.push(counter(stats.count as f64, &labels));
            if api == "rest" && status != "200" {
                continue;
            }
            avg.push(gauge(f64::from(stats.avg_micros) / 1e6, &labels));
            min.push(gauge(f64::from(stats.min_micros) / 1e6, &labels));
            max.push(gauge(f64::from(stats.max_micros) / 1e6, &labels));
            histogram.push(duration_histogram(stats, &labels));
        }
    }
    let name = |suffix: &str| format!("{api}_responses_{suffix}");
    [
        family(
            &name("total"),
            "total number of responses",
            MetricType::COUNTER,
            total,
        ),
        family(
            &name("avg_duration_seconds"),
            "average response duration",
            MetricType::GAUGE,
            avg,
        ),
        family(
            &name("min_duration_seconds"),
            "minimum response duration",
            MetricType::GAUGE,
            min,
        ),
        family(
            &name("max_duration_seconds"),
            "maximum response duration",
            MetricType::GAUGE,
            max,
        ),
        family(
            &name("duration_seconds"),
            "response duration histogram",
            MetricType::HISTOGRAM,
            histogram,
        ),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// A family; none without series (Prometheus' format has no empty family).
fn family(name: &str, help: &str, kind: MetricType, metrics: Vec<Metric>) -> Option<MetricFamily> {
    if metrics.is_empty() {
        return None;
    }
    let mut family = MetricFamily::default();
    family.set_name(name.into());
    family.set_help(help.into());
    family.set_field_type(kind);
    family.set_metric(metrics);
    Some(family)
}

fn labelled(labels: &[(&str, &str)]) -> Metric {
    let mut metric = Metric::default();
    metric.set_label(
        labels
            .iter()
            .map(|(name, value)| {
                let mut pair = LabelPair::default();
                pair.set_name((*name).into());
                pair.set_value((*value).into());
                pair
            })
            .collect(),
    );
    metric
}

fn gauge(value: f64, labels: &[(&str, &str)]) -> Metric {
    let mut metric = labelled(labels);
    let mut gauge = Gauge::default();
    gauge.set_value(value);
    metric.set_gauge(gauge);
    metric
}

fn counter(value: f64, labels: &[(&str, &str)]) -> Metric {
    let mut metric = labelled(labels);
    let mut counter = Counter::default();
    counter.set_value(value);
    metric.set_counter(counter);
    metric
}

fn duration_histogram(stats: &ResponseStats, labels: &[(&str, &str)]) -> Metric {
    let mut metric = labelled(labels);
    let mut histogram = Histogram::default();
    histogram.set_sample_count(stats.count);
    histogram.set_sample_sum(stats.total_micros as f64 / 1e6);
    histogram.set_bucket(
        BUCKET_BOUNDS_MICROS
            .iter()
            .zip(stats.buckets)
            .map(|(le, count)| {
                let mut bucket = Bucket::default();
                bucket.set_upper_bound(f64::from(*le) / 1e6);
                bucket.set_cumulative_count(count);
                bucket
            })
            .collect(),
    );
    metric.set_histogram(histogram);
    metric
}
