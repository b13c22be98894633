//! The responses served, keyed as Qdrant keys them: REST by `METHOD route`
//! with Qdrant's names for path parameters (`{collection_name}`, not our
//! `{name}`), gRPC by full method path (`/qdrant.Points/Search`) and status
//! code.

use std::collections::BTreeMap;

use serde_json::{json, Value};
use tessera_runtime::metrics::RequestMetrics;
use tessera_runtime::request_stats::ResponseStats;
use tessera_types::time::UtcDateTime;

/// Statistics by Qdrant's operation key, then by status code.
pub type Responses = BTreeMap<String, BTreeMap<String, ResponseStats>>;

/// REST responses; requests no route matched are left out, as Qdrant has no
/// route to file them under.
pub fn rest_responses(metrics: &RequestMetrics) -> Responses {
    metrics
        .stats()
        .responses()
        .into_iter()
        .filter_map(|(operation, statuses)| {
            let (method, route) = operation.split_once(' ')?;
            (route != "unmatched").then(|| {
                let route = qdrant_route(route);
                (format!("{method} {route}"), statuses.into_iter().collect())
            })
        })
        .collect()
}

/// gRPC responses with a status code (a dropped transport has none).
pub fn grpc_responses(metrics: &RequestMetrics) -> Responses {
    metrics
        .stats()
        .responses()
        .into_iter()
        .map(|(path, statuses)| {
            let coded = statuses
                .into_iter()
                .filter(|(code, _)| code.parse::<i32>().is_ok())
                .collect();
            (path, coded)
        })
        .collect()
}

pub fn rest(metrics: &RequestMetrics, level: u32) -> Value {
    render(rest_responses(metrics), level)
}

pub fn grpc(metrics: &RequestMetrics, level: u32) -> Value {
    render(grpc_responses(metrics), level)
}

fn render(responses: Responses, level: u32) -> Value {
    let operations: serde_json::Map<String, Value> = responses
        .into_iter()
        .map(|(operation, statuses)| {
            let statuses: serde_json::Map<String, Value> = statuses
                .into_iter()
                .map(|(status, stats)| (status, statistics(&stats, level)))
                .collect();
            (operation, Value::Object(statuses))
        })
        .collect();
    Value::Object(operations)
}

/// Qdrant's `OperationDurationStatistics`: from level 1 with the extremes,
/// the total and when the last response went out.
fn statistics(stats: &ResponseStats, level: u32) -> Value {
    let mut out =
        json!({ "count": stats.count, "avg_duration_micros": shortest(stats.avg_micros) });
    if level >= 1 {
        out["min_duration_micros"] = json!(shortest(stats.min_micros));
        out["max_duration_micros"] = json!(shortest(stats.max_micros));
        out["total_duration_micros"] = json!(stats.total_micros);
        out["last_responded"] =
            json!(UtcDateTime::from_system_time(stats.last_responded).rfc3339());
    }
    out
}

/// An `f32` as the `f64` of its shortest text, so it is written as Qdrant
/// writes its `f32`s (`2291.134`, not `2291.134033203125`).
fn shortest(x: f32) -> f64 {
    x.to_string().parse().unwrap_or(f64::from(x))
}

/// Our route with Qdrant's path parameter names.
pub fn qdrant_route(route: &str) -> String {
    let parts: Vec<&str> = route.split('/').collect();
    let renamed: Vec<&str> = parts
        .iter()
        .enumerate()
        .map(|(i, part)| match *part {
            "{name}" => "{collection_name}",
            "{vector}" => "{vector_name}",
            "{field}" => "{field_name}",
            "{shard_id}" => "{shard}",
            // Shard snapshots keep `{snapshot}` in Qdrant's routes.
            "{snapshot}" if i < 2 || parts[i - 2] != "{shard_id}" => "{snapshot_name}",
            other => other,
        })
        .collect();
    renamed.join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_take_qdrants_parameter_names() {
        assert_eq!(
            qdrant_route("/collections/{name}/points"),
            "/collections/{collection_name}/points"
        );
        assert_eq!(
            qdrant_route("/collections/{name}/snapshots/{snapshot}"),
            "/collections/{collection_name}/snapshots/{snapshot_name}"
        );
        assert_eq!(
            qdrant_route("/collections/{name}/shards/{shard_id}/snapshots/{snapshot}"),
            "/collections/{collection_name}/shards/{shard}/snapshots/{snapshot}"
        );
        assert_eq!(
            qdrant_route("/collections/{name}/index/{field}"),
            "/collections/{collection_name}/index/{field_name}"
        );
    }
}
