//! The node's snapshots: a replica packed for a user, the node's snapshot
//! store, and a replica replaced by a user's snapshot, all on domain types
//! (the gRPC edge adapts them to its chunk messages). Gateways compose these
//! into collection and full snapshots.

use std::path::PathBuf;

use futures::StreamExt;
use tessera_types::shard_client::{
    ByteStream, ShardTarget, SnapshotFile, SnapshotKind, SnapshotLocation,
};
use tessera_types::{ReplicaState, TesseraError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::registry::{ReplicaKey, ShardRegistry};
use tessera_engine::shard::RestoredHistory;
use tessera_engine::snapshot::archive;
use tessera_engine::snapshot::store::{SnapshotStore, StoredKind, StoredSnapshot, CHUNK};

/// A scratch file, removed when dropped: on every path, a call cut short
/// included.
pub struct ScratchFile(pub PathBuf);

impl Drop for ScratchFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A file to stream, and what becomes of it once sent.
pub enum Streamed {
    Kept(PathBuf),
    Removed(ScratchFile),
}

impl Streamed {
    fn path(&self) -> &PathBuf {
        match self {
            Streamed::Kept(path) | Streamed::Removed(ScratchFile(path)) => path,
        }
    }
}

/// The bytes of `file` in chunks, with its size. `guard` (a transfer slot)
/// is held until the last chunk is sent; a scratch file is removed then.
pub async fn stream_file<G: Send + 'static>(
    file: Streamed,
    guard: G,
) -> Result<(u64, ByteStream), TesseraError> {
    let size = tokio::fs::metadata(file.path())
        .await
        .map_err(TesseraError::internal_from)?
        .len();
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tokio::spawn(async move {
        let _guard = guard;
        let result = async {
            let mut input = tokio::fs::File::open(file.path()).await?;
            loop {
                let mut data = vec![0u8; CHUNK];
                let n = input.read(&mut data).await?;
                if n == 0 {
                    break;
                }
                data.truncate(n);
                if tx.send(Ok(data)).await.is_err() {
                    break;
                }
            }
            Ok::<_, std::io::Error>(())
        }
        .await;
        if let Err(e) = result {
            let _ = tx.send(Err(TesseraError::internal_from(e))).await;
        }
        drop(file);
    });
    Ok((
        size,
        Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx)),
    ))
}

/// A snapshot of the in-sync replica `target`, written to a scratch file and
/// streamed.
pub async fn shard_snapshot(
    registry: &ShardRegistry,
    target: ShardTarget,
) -> Result<(u64, ByteStream), TesseraError> {
    let key = ReplicaKey::new(
        target.collection.clone(),
        target.incarnation,
        target.shard_id,
    );
    let shard = registry.readable_shard(target).await?;
    let file = ScratchFile(registry.scratch_file(
        &key,
        &format!("user-{}.snapshot", uuid::Uuid::new_v4().simple()),
    ));
    let out = file.0.clone();
    let id = tokio::task::spawn_blocking(move || shard.snapshot_at(&out, None))
        .await
        .map_err(TesseraError::internal_from)??;
    tracing::info!(collection = %key.collection, shard = key.shard_id, seq = id.seq, "packed a shard snapshot for a user");
    stream_file(Streamed::Removed(file), ()).await
}

/// Writes `data` into the store at `location`; the writer removes what it
/// wrote unless the file was finished whole and checked.
pub async fn store(
    store: &SnapshotStore,
    location: SnapshotLocation,
    kind: SnapshotKind,
    mut data: ByteStream,
) -> Result<SnapshotFile, TesseraError> {
    let kind = match kind {
        SnapshotKind::Shard => StoredKind::Shard,
        SnapshotKind::Collection => StoredKind::Collection,
        SnapshotKind::Full => StoredKind::Full,
    };
    let mut writer = store.writer(&location.scope, &location.name, kind)?;
    while let Some(chunk) = data.next().await {
        let chunk = chunk?;
        writer = tokio::task::spawn_blocking(move || writer.write(&chunk).map(|()| writer))
            .await
            .map_err(TesseraError::internal_from)??;
    }
    let stored = tokio::task::spawn_blocking(move || writer.finish())
        .await
        .map_err(TesseraError::internal_from)??;
    Ok(file_info(stored))
}

pub fn list(store: &SnapshotStore, scope: &str) -> Result<Vec<SnapshotFile>, TesseraError> {
    Ok(store.list(scope)?.into_iter().map(file_info).collect())
}

pub fn delete(store: &SnapshotStore, location: &SnapshotLocation) -> Result<bool, TesseraError> {
    Ok(store.delete(&location.scope, &location.name)?)
}

/// A stored file, or one entry of a stored archive.
pub async fn read(
    store: &SnapshotStore,
    location: SnapshotLocation,
) -> Result<ByteStream, TesseraError> {
    let path = store.path(&location.scope, &location.name)?;
    if location.entry.is_empty() {
        return Ok(stream_file(Streamed::Kept(path), ()).await?.1);
    }
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tokio::task::spawn_blocking(move || {
        let result = archive::read_entry(&path, &location.entry, |_, data| {
            tx.blocking_send(Ok(data.to_vec())).is_ok()
        });
        if let Err(e) = result {
            let _ = tx.blocking_send(Err(e.into()));
        }
    });
    Ok(Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx)))
}

/// Replaces the replica `target`, fenced for a restore at `epoch`, with the
/// shard snapshot `data`. The snapshot's data starts a new history in the
/// shard. Returns the points it holds.
pub async fn restore_shard(
    registry: &ShardRegistry,
    target: ShardTarget,
    epoch: u64,
    mut data: ByteStream,
) -> Result<u64, TesseraError> {
    // Placed here and fenced for this restore, or refused before anything is received.
    let placed = registry.place(&target).await?;
    let me = registry.peer_id();
    if placed.placement.epoch != epoch
        || placed.placement.state_of(me) != Some(ReplicaState::ManualRecovery)
    {
        return Err(TesseraError::Stale(format!(
            "the replica of shard {} on peer {me} is not waiting for a restore at epoch {} \
             (it is {:?} at epoch {})",
            target.shard_id,
            epoch,
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
    let scratch = ScratchFile(registry.scratch_file(
        &key,
        &format!("restore-{}.snapshot", uuid::Uuid::new_v4().simple()),
    ));
    let file = scratch.0.clone();
    let result = async {
        let mut out = tokio::fs::File::create(&file)
            .await
            .map_err(TesseraError::internal_from)?;
        let mut size = 0u64;
        while let Some(chunk) = data.next().await {
            let chunk = chunk?;
            size += chunk.len() as u64;
            out.write_all(&chunk)
                .await
                .map_err(TesseraError::internal_from)?;
        }
        // Not synced: a scratch file; the unpacked shard's files are.
        out.flush().await.map_err(TesseraError::internal_from)?;
        let checked = file.clone();
        tokio::task::spawn_blocking(move || {
            tessera_engine::snapshot::verify(std::fs::File::open(&checked)?, size)
        })
        .await
        .map_err(TesseraError::internal_from)??;
        tracing::info!(collection = %key.collection, shard = key.shard_id, bytes = size, "replacing a replica with a user's snapshot");
        let shard = registry
            .replace_from_snapshot(target, file.clone(), RestoredHistory::Restored { epoch })
            .await?;
        let points_count = shard.stats().points_count;
        tracing::info!(collection = %key.collection, shard = key.shard_id, points = points_count, "restored a replica from a user's snapshot");
        Ok(points_count)
    }
    .await;
    drop(scratch);
    result
}

fn file_info(stored: StoredSnapshot) -> SnapshotFile {
    SnapshotFile {
        name: stored.name,
        created_unix_seconds: stored.created_unix_seconds,
        size: stored.size,
        checksum: stored.checksum,
    }
}
