//! The source side of a transfer, at the shard's primary: a snapshot of the
//! shard (`snapshot`, and `wal_delta` when the WAL falls short), or its
//! records from a still view (`stream_records`), each streamed while writes
//! go on and each holding one of the node's outgoing transfer slots.

use std::path::PathBuf;

use tessera_engine::shard::{RestoredHistory, Shard};
use tessera_types::shard_client::{ShardTarget, TransferRecords, TransferSnapshot};
use tessera_types::{OpId, TesseraError};

use super::primary::{blocking, not_primary};
use super::ReplicaSet;
use crate::registry::ReplicaKey;
use crate::snapshots::{stream_file, ScratchFile, Streamed};

/// Points per batch: about a megabyte for 512-dimension vectors.
const RECORDS_PER_BATCH: usize = 500;

/// Batches read from the view's mapped files between two releases of the
/// pages they brought in: a few megabytes of resident memory at most.
const BATCHES_PER_RELEASE: u32 = 8;

impl ReplicaSet {
    /// A snapshot of the shard, written to a scratch file (removed once
    /// streamed) with the last operation it holds.
    pub async fn transfer_snapshot(
        &self,
        target: ShardTarget,
    ) -> Result<TransferSnapshot, TesseraError> {
        let slot = self.slots().outgoing().await;
        let (file, at) = self.snapshot_file(target).await?;
        let (size, bytes) = stream_file(Streamed::Removed(ScratchFile(file)), slot).await?;
        Ok(TransferSnapshot { at, size, bytes })
    }

    /// Every record of the shard as of one operation, in batches.
    pub async fn transfer_records(
        &self,
        target: ShardTarget,
    ) -> Result<TransferRecords, TesseraError> {
        let slot = self.slots().outgoing().await;
        let view = self.records_view(target).await?;
        let (at, epochs, total) = (
            view.at,
            view.shard.epochs(),
            view.shard.stats().points_count,
        );
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        tokio::task::spawn_blocking(move || {
            let _slot = slot;
            let mut from = None;
            for batch in 1.. {
                let (page, next) = view.shard.records_page(from, RECORDS_PER_BATCH);
                if tx.blocking_send(Ok(page)).is_err() {
                    return;
                }
                if batch % BATCHES_PER_RELEASE == 0 {
                    view.shard.release_resident();
                }
                match next {
                    Some(id) => from = Some(id),
                    None => break,
                }
            }
            tracing::info!(
                records = total,
                seq = view.at.seq,
                "streamed a shard's records"
            );
        });
        Ok(TransferRecords {
            at,
            epochs,
            total,
            batches: Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx)),
        })
    }

    /// Writes a snapshot of the shard, of which this node must be the
    /// primary, to a scratch file; returns it with the last operation it holds.
    async fn snapshot_file(&self, target: ShardTarget) -> Result<(PathBuf, OpId), TesseraError> {
        let placed = self.registry.place(&target).await?;
        let me = self.peer_id();
        if placed.placement.primary != me {
            return Err(not_primary(&placed, me, placed.placement.epoch));
        }
        let shard = self.registry.shard(target).await?;
        let file = self
            .registry
            .scratch_file(&placed.key, &format!("transfer-{}.snapshot", rand_suffix()));
        let out = file.clone();
        // The target catches up from the WAL after the snapshot's last
        // operation: the WAL keeps it until the target asks (a lease).
        let id = blocking(move || {
            let holder = format!("snapshot {}", out.display());
            Ok(shard.snapshot_at(&out, Some(&holder))?)
        })
        .await?;
        Ok((file, id))
    }

    /// A still view of the shard to read records from while writes go on (a
    /// snapshot, opened without an optimizer and with its vectors and payloads
    /// mapped, so the view costs ids and versions, not the shard's size).
    async fn records_view(&self, target: ShardTarget) -> Result<RecordsView, TesseraError> {
        let config = self
            .registry
            .topology()
            .current()
            .collections
            .get(&target.collection)
            .map(|c| c.config.clone())
            .ok_or_else(|| TesseraError::collection_not_found(&target.collection))?;
        let (file, at) = self.snapshot_file(target.clone()).await?;
        let key = ReplicaKey::new(target.collection, target.incarnation, target.shard_id);
        let dir = self
            .registry
            .scratch_file(&key, &format!("records-view-{}", rand_suffix()));
        blocking(move || {
            let opened = Shard::restore_snapshot(&file, &dir, RestoredHistory::Keep)
                .and_then(|()| Shard::open_records_view(&dir, config));
            let _ = std::fs::remove_file(&file);
            match opened {
                Ok(shard) => Ok(RecordsView { shard, at, dir }),
                Err(e) => {
                    let _ = std::fs::remove_dir_all(&dir);
                    Err(e.into())
                }
            }
        })
        .await
    }
}

/// A still view of a shard for a record stream: the shard as of `at`, opened
/// from a snapshot in a scratch directory that goes when the view is dropped.
struct RecordsView {
    shard: Shard,
    at: OpId,
    dir: PathBuf,
}

impl Drop for RecordsView {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn rand_suffix() -> u64 {
    use std::time::{SystemTime, UNIX_EPOCH};
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or_default()
}
