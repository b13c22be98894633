//! The data plane's snapshot RPCs: a replica packed for a user, the node's
//! snapshot store, and a replica replaced by a user's snapshot. Gateways
//! compose these into collection and full snapshots.

use std::path::PathBuf;
use std::pin::Pin;

use futures::Stream;
use tessera_proto::convert::shard_target;
use tessera_proto::data_plane::{
    DeleteSnapshotReply, ListSnapshotsReply, RestoreShardChunk, RestoreShardReply, SnapshotChunk,
    SnapshotInfo, SnapshotKind, SnapshotLocation, StoreSnapshotChunk,
};
use tessera_types::shard_client::ShardTarget;
use tessera_types::{OpId, ReplicaState, TesseraError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tonic::{Status, Streaming};

use crate::registry::{ReplicaKey, ShardRegistry};
use tessera_engine::shard::RestoredHistory;
use tessera_engine::snapshot::archive;
use tessera_engine::snapshot::store::{SnapshotStore, StoredKind, StoredSnapshot, CHUNK};

pub type ChunkStream = Pin<Box<dyn Stream<Item = Result<SnapshotChunk, Status>> + Send>>;

/// Streams the file `file` in chunks, the first telling its size and the last
/// operation `id` it holds. `guard` (a transfer slot) is held until the last
/// chunk is sent; the file is removed afterwards when `remove`.
pub fn stream_file<G: Send + 'static>(
    file: PathBuf,
    id: OpId,
    remove: bool,
    guard: G,
) -> ChunkStream {
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tokio::spawn(async move {
        let _guard = guard;
        let result = async {
            let mut input = tokio::fs::File::open(&file).await?;
            let total = input.metadata().await?.len();
            let mut first = true;
            loop {
                let mut data = vec![0u8; CHUNK];
                let n = input.read(&mut data).await?;
                if n == 0 && !first {
                    break;
                }
                data.truncate(n);
                let chunk = SnapshotChunk {
                    data,
                    seq: id.seq,
                    epoch: id.epoch,
                    total_bytes: if first { total.max(1) } else { 0 },
                };
                first = false;
                if tx.send(Ok(chunk)).await.is_err() || n == 0 {
                    break;
                }
            }
            Ok::<_, std::io::Error>(())
        }
        .await;
        if let Err(e) = result {
            let _ = tx.send(Err(Status::internal(e.to_string()))).await;
        }
        if remove {
            let _ = tokio::fs::remove_file(&file).await;
        }
    });
    Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx))
}

/// A snapshot of the in-sync replica `target`, written to a scratch file and
/// streamed.
pub async fn shard_snapshot(
    registry: &ShardRegistry,
    target: ShardTarget,
) -> Result<ChunkStream, TesseraError> {
    let key = ReplicaKey::new(
        target.collection.clone(),
        target.incarnation,
        target.shard_id,
    );
    let shard = registry.readable_shard(target).await?;
    let file = registry.scratch_file(
        &key,
        &format!("user-{}.snapshot", uuid::Uuid::new_v4().simple()),
    );
    let out = file.clone();
    let id = tokio::task::spawn_blocking(move || shard.snapshot_at(&out))
        .await
        .map_err(TesseraError::internal_from)??;
    tracing::info!(collection = %key.collection, shard = key.shard_id, seq = id.seq, "packed a shard snapshot for a user");
    Ok(stream_file(file, id, true, ()))
}

pub async fn store(
    store: &SnapshotStore,
    mut stream: Streaming<StoreSnapshotChunk>,
) -> Result<SnapshotInfo, TesseraError> {
    let first = stream
        .message()
        .await
        .map_err(tessera_proto::convert::status_to_error)?
        .ok_or_else(|| TesseraError::bad_input("an empty snapshot upload"))?;
    let location = first
        .location
        .ok_or_else(|| TesseraError::bad_input("the snapshot upload names no file"))?;
    let kind = match SnapshotKind::try_from(first.kind) {
        Ok(SnapshotKind::Shard) => StoredKind::Shard,
        Ok(SnapshotKind::Collection) => StoredKind::Collection,
        Ok(SnapshotKind::Full) => StoredKind::Full,
        Err(_) => return Err(TesseraError::bad_input("unknown snapshot kind")),
    };
    let mut writer = store.writer(&location.scope, &location.name, kind)?;
    let mut data = first.data;
    loop {
        writer = tokio::task::spawn_blocking(move || writer.write(&data).map(|()| writer))
            .await
            .map_err(TesseraError::internal_from)??;
        match stream
            .message()
            .await
            .map_err(tessera_proto::convert::status_to_error)?
        {
            Some(chunk) => data = chunk.data,
            None => break,
        }
    }
    let stored = tokio::task::spawn_blocking(move || writer.finish())
        .await
        .map_err(TesseraError::internal_from)??;
    Ok(info(stored))
}

pub fn list(store: &SnapshotStore, scope: &str) -> Result<ListSnapshotsReply, TesseraError> {
    Ok(ListSnapshotsReply {
        snapshots: store.list(scope)?.into_iter().map(info).collect(),
    })
}

pub fn delete(
    store: &SnapshotStore,
    location: &SnapshotLocation,
) -> Result<DeleteSnapshotReply, TesseraError> {
    Ok(DeleteSnapshotReply {
        found: store.delete(&location.scope, &location.name)?,
    })
}

/// A stored file, or one entry of a stored archive.
pub fn read(
    store: &SnapshotStore,
    location: SnapshotLocation,
) -> Result<ChunkStream, TesseraError> {
    let path = store.path(&location.scope, &location.name)?;
    if location.entry.is_empty() {
        return Ok(stream_file(path, OpId::default(), false, ()));
    }
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tokio::task::spawn_blocking(move || {
        let mut first = true;
        let result = archive::read_entry(&path, &location.entry, |size, data| {
            let chunk = SnapshotChunk {
                data: data.to_vec(),
                total_bytes: if first { size.max(1) } else { 0 },
                ..Default::default()
            };
            first = false;
            tx.blocking_send(Ok(chunk)).is_ok()
        });
        if let Err(e) = result {
            let status = tessera_proto::convert::error_to_status(e.into());
            let _ = tx.blocking_send(Err(status));
        }
    });
    Ok(Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx)))
}

/// Replaces the replica the first message names with the shard snapshot the
/// rest carry. The snapshot's data starts a new history in the shard.
pub async fn restore_shard(
    registry: &ShardRegistry,
    mut stream: Streaming<RestoreShardChunk>,
) -> Result<RestoreShardReply, TesseraError> {
    let first = stream
        .message()
        .await
        .map_err(tessera_proto::convert::status_to_error)?
        .ok_or_else(|| TesseraError::bad_input("an empty shard restore"))?;
    let target = shard_target(first.target)?;
    // Placed here and fenced for this restore, or refused before anything is received.
    let placed = registry.place(&target).await?;
    let me = registry.peer_id();
    if placed.placement.epoch != first.epoch
        || placed.placement.state_of(me) != Some(ReplicaState::ManualRecovery)
    {
        return Err(TesseraError::Stale(format!(
            "the replica of shard {} on peer {me} is not waiting for a restore at epoch {} \
             (it is {:?} at epoch {})",
            target.shard_id,
            first.epoch,
            placed.placement.state_of(me),
            placed.placement.epoch
        )));
    }
    registry.shard(target.clone()).await?;
    let key = ReplicaKey::new(
        target.collection.clone(),
        target.incarnation,
        target.shard_id,
    );
    let file = registry.scratch_file(
        &key,
        &format!("restore-{}.snapshot", uuid::Uuid::new_v4().simple()),
    );
    let result = async {
        let mut out = tokio::fs::File::create(&file)
            .await
            .map_err(TesseraError::internal_from)?;
        let mut size = first.data.len() as u64;
        out.write_all(&first.data)
            .await
            .map_err(TesseraError::internal_from)?;
        while let Some(chunk) = stream
            .message()
            .await
            .map_err(tessera_proto::convert::status_to_error)?
        {
            size += chunk.data.len() as u64;
            out.write_all(&chunk.data)
                .await
                .map_err(TesseraError::internal_from)?;
        }
        out.sync_all().await.map_err(TesseraError::internal_from)?;
        let checked = file.clone();
        tokio::task::spawn_blocking(move || {
            tessera_engine::snapshot::verify(std::fs::File::open(&checked)?, size)
        })
        .await
        .map_err(TesseraError::internal_from)??;
        tracing::info!(collection = %key.collection, shard = key.shard_id, bytes = size, "replacing a replica with a user's snapshot");
        let shard = registry
            .replace_from_snapshot(target, file.clone(), RestoredHistory::Restored { epoch: first.epoch })
            .await?;
        let points_count = shard.stats().points_count;
        tracing::info!(collection = %key.collection, shard = key.shard_id, points = points_count, "restored a replica from a user's snapshot");
        Ok(RestoreShardReply { points_count })
    }
    .await;
    let _ = tokio::fs::remove_file(&file).await;
    result
}

fn info(stored: StoredSnapshot) -> SnapshotInfo {
    SnapshotInfo {
        name: stored.name,
        created_unix_seconds: stored.created_unix_seconds,
        size: stored.size,
        checksum: stored.checksum,
    }
}
