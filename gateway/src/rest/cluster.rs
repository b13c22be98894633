//! Cluster maintenance: moving, replicating and dropping shard replicas
//! (`POST /collections/{c}/cluster`), removing data-plane peers
//! (`DELETE /cluster/peer/{id}`) and control-plane members
//! (`DELETE /cluster/control-plane/{id}`), and consensus checkpoints
//! (`POST /cluster/recover`).

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use tessera_types::{ClusterOperation, TesseraError};

use super::{parse_body, Timer};
use crate::service::Gateway;

fn parse_id(raw: &str, what: &str) -> Result<u64, TesseraError> {
    raw.parse().map_err(|_| {
        TesseraError::bad_input(format!(
            "{what} must be a non-negative integer, not `{raw}`"
        ))
    })
}

/// `?force=`: Qdrant's boolean, false when absent.
fn parse_force(query: &HashMap<String, String>) -> Result<bool, TesseraError> {
    match query.get("force").map(String::as_str) {
        None | Some("false") => Ok(false),
        Some("true") | Some("") => Ok(true),
        Some(other) => Err(TesseraError::bad_input(format!(
            "Query parameter `force` must be true or false, not `{other}`"
        ))),
    }
}

pub async fn update_collection_cluster(
    State(gateway): State<Gateway>,
    Path(name): Path<String>,
    body: Bytes,
) -> Response {
    let timer = Timer::start();
    let outcome = async {
        let operation: ClusterOperation = parse_body(&body)?;
        gateway.update_cluster_setup(&name, operation).await
    }
    .await;
    timer.finish(outcome)
}

pub async fn remove_peer(
    State(gateway): State<Gateway>,
    Path(peer_id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let timer = Timer::start();
    let outcome = async {
        let peer_id = parse_id(&peer_id, "peer id")?;
        gateway.remove_peer(peer_id, parse_force(&query)?).await
    }
    .await;
    timer.finish(outcome)
}

pub async fn remove_control_plane_member(
    State(gateway): State<Gateway>,
    Path(node_id): Path<String>,
) -> Response {
    let timer = Timer::start();
    let outcome = async {
        let node_id = parse_id(&node_id, "control-plane node id")?;
        gateway.remove_control_plane_member(node_id).await
    }
    .await;
    timer.finish(outcome)
}

pub async fn recover(State(gateway): State<Gateway>) -> Response {
    let timer = Timer::start();
    timer.finish(gateway.checkpoint().await)
}
