//! Qdrant's service endpoints: `/`, the Kubernetes probes, `/telemetry`,
//! `/metrics` and `/issues`, answered with Qdrant's texts and shapes.

use std::collections::HashMap;
use std::str::FromStr;

use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use prometheus::TextEncoder;
use serde::Serialize;
use serde_json::json;
use tessera_types::{TesseraError, QDRANT_COMPATIBLE_VERSION};

use super::Timer;
use crate::service::Gateway;
use crate::telemetry::{metrics, Detail, Telemetry};

/// Qdrant's `VersionInfo`, unwrapped; `commit` is the build's, when known.
#[derive(Serialize)]
struct VersionInfo {
    title: &'static str,
    version: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    commit: Option<&'static str>,
}

pub async fn root() -> Response {
    axum::Json(VersionInfo {
        title: "qdrant - vector search engine",
        version: QDRANT_COMPATIBLE_VERSION,
        commit: option_env!("TESSERA_GIT_COMMIT"),
    })
    .into_response()
}

/// `/healthz` and `/livez` (Qdrant answers both with this text).
pub async fn healthz() -> &'static str {
    "healthz check passed"
}

pub async fn readyz(State(gateway): State<Gateway>) -> Response {
    if gateway.is_ready() {
        (StatusCode::OK, "all shards are ready").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "some shards are not ready").into_response()
    }
}

pub async fn telemetry(
    State(gateway): State<Gateway>,
    Extension(telemetry): Extension<Telemetry>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let timer = Timer::start();
    let outcome = async {
        let detail = Detail {
            level: param(&query, "details_level")?.unwrap_or(0),
            anonymize: param(&query, "anonymize")?.unwrap_or(false),
        };
        telemetry.collect(&gateway, detail).await
    }
    .await;
    timer.finish(outcome)
}

/// `GET /cluster/telemetry`: every collection's replicas and the peers, from
/// the gateway's topology.
pub async fn cluster_telemetry(State(gateway): State<Gateway>) -> Response {
    let timer = Timer::start();
    let topology = gateway.topology().current();
    timer.finish::<serde_json::Value>(Ok(crate::telemetry::cluster_telemetry(&topology)))
}

/// Tessera's own series (`tessera_*`), then Qdrant's.
pub async fn metrics(
    State(gateway): State<Gateway>,
    Extension(telemetry): Extension<Telemetry>,
) -> Response {
    let collections = gateway.all_collection_stats().await;
    // Without the control plane the cluster's series are left out, not failed.
    let cluster = gateway.cluster_status().await.ok();
    let mut families = telemetry.registry.gather();
    families.extend(metrics::families(
        &telemetry,
        &collections,
        cluster.as_ref(),
    ));
    match TextEncoder::new().encode_to_string(&families) {
        Ok(text) => ([(header::CONTENT_TYPE, prometheus::TEXT_FORMAT)], text).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

/// Tessera detects none of the issues Qdrant reports (unindexed fields and
/// the like), so there are never any to list or clear.
pub async fn issues() -> Response {
    Timer::start().finish(Ok(json!({ "issues": [] })))
}

pub async fn clear_issues() -> Response {
    Timer::start().finish(Ok(true))
}

/// An optional query parameter of type `T`.
pub fn param<T: FromStr>(
    query: &HashMap<String, String>,
    name: &str,
) -> Result<Option<T>, TesseraError> {
    query
        .get(name)
        .map(|raw| {
            raw.parse().map_err(|_| {
                TesseraError::bad_input(format!("Query parameter `{name}` is invalid: `{raw}`"))
            })
        })
        .transpose()
}
