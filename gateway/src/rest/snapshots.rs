//! Snapshot endpoints: collection (`/collections/{c}/snapshots…`), shard
//! (`/collections/{c}/shards/{id}/snapshots…`) and full storage (`/snapshots…`),
//! with recovery from a location or an upload.

use std::collections::HashMap;

use axum::body::{Body, Bytes};
use axum::extract::{Multipart, Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use tessera_types::{ShardId, SnapshotRecover, TesseraError};

use super::{parse_body, Timer};
use crate::service::Gateway;
use crate::snapshots::{ByteStream, SnapshotScope};

fn shard_scope(name: String, shard_id: &str) -> Result<SnapshotScope, TesseraError> {
    let shard_id: ShardId = shard_id.parse().map_err(|_| {
        TesseraError::bad_input(format!(
            "shard id must be a non-negative integer, not `{shard_id}`"
        ))
    })?;
    Ok(SnapshotScope::Shard(name, shard_id))
}

/// `?wait=`: snapshot calls wait by default, as Qdrant's do.
fn waits(query: &HashMap<String, String>) -> bool {
    query.get("wait").is_none_or(|w| w != "false")
}

/// Runs `work` and answers with its outcome, or, with `wait=false`, answers
/// 202 at once and lets it finish in the background (its effect shows in
/// the listing when done).
async fn unless_not_waiting<T, F>(
    timer: Timer,
    query: &HashMap<String, String>,
    work: F,
) -> Response
where
    T: serde::Serialize + Send + 'static,
    F: std::future::Future<Output = Result<T, TesseraError>> + Send + 'static,
{
    if waits(query) {
        return timer.finish(work.await);
    }
    tokio::spawn(async move {
        if let Err(e) = work.await {
            tracing::warn!(error = %e, "a snapshot operation run without waiting failed");
        }
    });
    timer.accepted()
}

async fn create(
    gateway: Gateway,
    scope: Result<SnapshotScope, TesseraError>,
    query: &HashMap<String, String>,
) -> Response {
    let timer = Timer::start();
    match scope {
        Ok(scope) => {
            let work = async move { gateway.create_snapshot(&scope).await };
            unless_not_waiting(timer, query, work).await
        }
        Err(e) => timer.finish::<()>(Err(e)),
    }
}

async fn list(gateway: Gateway, scope: Result<SnapshotScope, TesseraError>) -> Response {
    let timer = Timer::start();
    let outcome = async { gateway.list_snapshots(&scope?).await }.await;
    timer.finish(outcome)
}

async fn delete(
    gateway: Gateway,
    scope: Result<SnapshotScope, TesseraError>,
    name: String,
    query: &HashMap<String, String>,
) -> Response {
    let timer = Timer::start();
    match scope {
        Ok(scope) => {
            let work = async move { gateway.delete_snapshot(&scope, &name).await };
            unless_not_waiting(timer, query, work).await
        }
        Err(e) => timer.finish::<()>(Err(e)),
    }
}

async fn download(
    gateway: Gateway,
    scope: Result<SnapshotScope, TesseraError>,
    name: String,
) -> Response {
    let timer = Timer::start();
    match async { gateway.download_snapshot(&scope?, &name).await }.await {
        Ok(chunks) => file_response(chunks, &name),
        Err(e) => timer.finish::<()>(Err(e)),
    }
}

async fn recover(
    gateway: Gateway,
    scope: Result<SnapshotScope, TesseraError>,
    body: Bytes,
) -> Response {
    let timer = Timer::start();
    let outcome = async {
        let scope = scope?;
        let request: SnapshotRecover = parse_body(&body)?;
        gateway.recover_snapshot(&scope, request).await
    }
    .await;
    timer.finish(outcome)
}

/// A snapshot body, streamed as it arrives from the data node.
fn file_response(chunks: ByteStream, name: &str) -> Response {
    let body = Body::from_stream(chunks.map(|chunk| {
        chunk
            .map(Bytes::from)
            .map_err(|e| std::io::Error::other(e.to_string()))
    }));
    (
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        body,
    )
        .into_response()
}

pub async fn create_collection_snapshot(
    State(gateway): State<Gateway>,
    Path(name): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    create(gateway, Ok(SnapshotScope::Collection(name)), &query).await
}

pub async fn list_collection_snapshots(
    State(gateway): State<Gateway>,
    Path(name): Path<String>,
) -> Response {
    let timer = Timer::start();
    // Unlike the files' listing, Qdrant answers 404 for a missing collection.
    if !gateway.collection_exists(&name) {
        return timer.finish::<()>(Err(TesseraError::collection_not_found(&name)));
    }
    list(gateway, Ok(SnapshotScope::Collection(name))).await
}

pub async fn download_collection_snapshot(
    State(gateway): State<Gateway>,
    Path((name, snapshot)): Path<(String, String)>,
) -> Response {
    download(gateway, Ok(SnapshotScope::Collection(name)), snapshot).await
}

pub async fn delete_collection_snapshot(
    State(gateway): State<Gateway>,
    Path((name, snapshot)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    delete(
        gateway,
        Ok(SnapshotScope::Collection(name)),
        snapshot,
        &query,
    )
    .await
}

pub async fn recover_collection_snapshot(
    State(gateway): State<Gateway>,
    Path(name): Path<String>,
    body: Bytes,
) -> Response {
    recover(gateway, Ok(SnapshotScope::Collection(name)), body).await
}

pub async fn create_shard_snapshot(
    State(gateway): State<Gateway>,
    Path((name, shard_id)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    create(gateway, shard_scope(name, &shard_id), &query).await
}

pub async fn list_shard_snapshots(
    State(gateway): State<Gateway>,
    Path((name, shard_id)): Path<(String, String)>,
) -> Response {
    list(gateway, shard_scope(name, &shard_id)).await
}

pub async fn download_shard_snapshot(
    State(gateway): State<Gateway>,
    Path((name, shard_id, snapshot)): Path<(String, String, String)>,
) -> Response {
    download(gateway, shard_scope(name, &shard_id), snapshot).await
}

pub async fn delete_shard_snapshot(
    State(gateway): State<Gateway>,
    Path((name, shard_id, snapshot)): Path<(String, String, String)>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    delete(gateway, shard_scope(name, &shard_id), snapshot, &query).await
}

pub async fn recover_shard_snapshot(
    State(gateway): State<Gateway>,
    Path((name, shard_id)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    recover(gateway, shard_scope(name, &shard_id), body).await
}

/// `GET /collections/{c}/shards/{id}/snapshot`: packed and streamed, kept nowhere.
pub async fn stream_shard_snapshot(
    State(gateway): State<Gateway>,
    Path((name, shard_id)): Path<(String, String)>,
) -> Response {
    let timer = Timer::start();
    let outcome = async {
        let Ok(SnapshotScope::Shard(name, shard_id)) = shard_scope(name, &shard_id) else {
            return Err(TesseraError::bad_input(
                "shard id must be a non-negative integer",
            ));
        };
        let chunks = gateway.stream_shard_snapshot(&name, shard_id).await?;
        Ok((chunks, format!("{name}-shard-{shard_id}.snapshot")))
    }
    .await;
    match outcome {
        Ok((chunks, file_name)) => file_response(chunks, &file_name),
        Err(e) => timer.finish::<()>(Err(e)),
    }
}

pub async fn create_full_snapshot(
    State(gateway): State<Gateway>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    create(gateway, Ok(SnapshotScope::Full), &query).await
}

pub async fn list_full_snapshots(State(gateway): State<Gateway>) -> Response {
    list(gateway, Ok(SnapshotScope::Full)).await
}

pub async fn download_full_snapshot(
    State(gateway): State<Gateway>,
    Path(snapshot): Path<String>,
) -> Response {
    download(gateway, Ok(SnapshotScope::Full), snapshot).await
}

pub async fn delete_full_snapshot(
    State(gateway): State<Gateway>,
    Path(snapshot): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    delete(gateway, Ok(SnapshotScope::Full), snapshot, &query).await
}

/// `POST .../snapshots/upload?priority=&checksum=`: the snapshot file as the
/// multipart field `snapshot`, recovered as it streams into a data node.
async fn upload(
    gateway: Gateway,
    scope: Result<SnapshotScope, TesseraError>,
    query: HashMap<String, String>,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Response {
    let timer = Timer::start();
    let outcome = async {
        let scope = scope?;
        let priority = query
            .get("priority")
            .map(|p| {
                serde_json::from_value(serde_json::Value::String(p.clone())).map_err(|_| {
                    TesseraError::bad_input(format!(
                        "priority must be no_sync, snapshot or replica, not `{p}`"
                    ))
                })
            })
            .transpose()?;
        let request = SnapshotRecover {
            location: "upload".into(),
            priority,
            checksum: query.get("checksum").cloned(),
            api_key: None,
        };
        let mut multipart = multipart
            .map_err(|e| TesseraError::bad_input(format!("Expected a multipart upload: {e}")))?;
        while let Some(field) = multipart
            .next_field()
            .await
            .map_err(|e| TesseraError::bad_input(format!("Malformed multipart upload: {e}")))?
        {
            if field.name() != Some("snapshot") {
                continue;
            }
            let chunks = Box::pin(futures::stream::unfold(field, |mut field| async {
                match field.chunk().await {
                    Ok(Some(bytes)) => Some((Ok(bytes.to_vec()), field)),
                    Ok(None) => None,
                    Err(e) => Some((
                        Err(TesseraError::bad_input(format!("Upload broke off: {e}"))),
                        field,
                    )),
                }
            }));
            return gateway.recover_from(&scope, chunks, request).await;
        }
        Err(TesseraError::bad_input(
            "The upload has no `snapshot` field with the file",
        ))
    }
    .await;
    timer.finish(outcome)
}

pub async fn upload_collection_snapshot(
    State(gateway): State<Gateway>,
    Path(name): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Response {
    upload(
        gateway,
        Ok(SnapshotScope::Collection(name)),
        query,
        multipart,
    )
    .await
}

pub async fn upload_shard_snapshot(
    State(gateway): State<Gateway>,
    Path((name, shard_id)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Response {
    upload(gateway, shard_scope(name, &shard_id), query, multipart).await
}
