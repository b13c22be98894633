//! One shard replaced by a user's snapshot, through the shard's order: the
//! control plane fences the shard first (its replicas in ManualRecovery under
//! a new epoch, every replica it cannot restore out of sync), the snapshot is
//! streamed to every fenced replica at once, and the control plane then
//! brings back in sync those that took it. The others recover from them.

use futures::future::join_all;
use futures::StreamExt;
use tessera_proto::control_plane as cp;
use tessera_types::shard_client::{ShardTarget, SnapshotLocation};
use tessera_types::{
    CollectionState, PeerId, ReplicaState, ShardId, SnapshotPriority, TesseraError,
};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use super::shard_not_found;
use crate::routing::target;
use crate::service::{replica_call, Gateway, Result};

/// How the streaming of a snapshot to a shard's fenced replicas ended.
struct Streamed {
    /// Replicas that hold the snapshot's data now.
    restored: Vec<PeerId>,
    /// Replicas whose data is as before: the snapshot never reached them
    /// whole, and a data node only swaps in a file it checked whole.
    unchanged: Vec<PeerId>,
    /// Why the restore did not reach every replica.
    failure: Option<TesseraError>,
}

impl Gateway {
    /// Replaces the shard's data with the shard snapshot at `source`. Under
    /// `Replica` priority a shard that holds points keeps them.
    pub(super) async fn restore_shard(
        &self,
        state: &CollectionState,
        shard_id: ShardId,
        priority: SnapshotPriority,
        source: (PeerId, SnapshotLocation),
    ) -> Result<()> {
        let placement = state
            .shard(shard_id)
            .ok_or_else(|| shard_not_found(&state.name, shard_id))?;
        if priority == SnapshotPriority::Replica {
            if let Some(&peer) = placement.readable().first() {
                let topology = self.topology().current();
                let node = self.data_planes().shards(&topology, peer)?;
                let call = replica_call(&topology, state, shard_id);
                let stats = node.shard_stats(call, false).await?.stats;
                if stats.points_count > 0 {
                    tracing::info!(collection = %state.name, shard = shard_id, "shard holds points: kept under replica priority");
                    return Ok(());
                }
            }
        }
        let begin = cp::BeginShardRestoreRequest {
            collection: state.name.clone(),
            incarnation: state.incarnation,
            shard_id,
        };
        self.change(
            begin,
            |mut c, r| async move { c.begin_shard_restore(r).await },
        )
        .await?;
        let topology = self.topology().current();
        let fenced = topology
            .collections
            .get(&state.name)
            .filter(|c| c.incarnation == state.incarnation)
            .ok_or_else(|| TesseraError::collection_not_found(&state.name))?;
        let placement = fenced
            .shard(shard_id)
            .ok_or_else(|| shard_not_found(&state.name, shard_id))?;
        let epoch = placement.epoch;
        let peers: Vec<PeerId> = placement
            .replicas
            .iter()
            .filter(|r| r.state == ReplicaState::ManualRecovery)
            .map(|r| r.peer_id)
            .collect();
        tracing::info!(collection = %state.name, shard = shard_id, epoch, ?peers, "shard fenced for a snapshot restore");
        let shard_target = target(&topology, fenced, shard_id);
        let streamed = self
            .stream_restore(&topology, shard_target, epoch, &peers, source)
            .await;
        if let Some(e) = &streamed.failure {
            tracing::warn!(collection = %state.name, shard = shard_id, error = %e, restored = ?streamed.restored, "a shard restore did not reach every replica");
        }
        let finish = cp::FinishShardRestoreRequest {
            collection: state.name.clone(),
            incarnation: state.incarnation,
            shard_id,
            epoch,
            restored: streamed.restored.clone(),
            unchanged: streamed.unchanged.clone(),
        };
        let finished = self
            .change(
                finish,
                |mut c, r| async move { c.finish_shard_restore(r).await },
            )
            .await;
        match (finished, streamed.failure) {
            (Err(e), failure) => Err(failure.unwrap_or(e)),
            // Nothing restored: the shard kept its data, and the user hears why.
            (Ok(_), Some(failure)) if streamed.restored.is_empty() => Err(failure),
            (Ok(_), _) => {
                tracing::info!(collection = %state.name, shard = shard_id, restored = ?streamed.restored, "shard restored from a snapshot");
                Ok(())
            }
        }
    }

    /// Streams the snapshot at `source` to every replica in `peers` at once.
    async fn stream_restore(
        &self,
        topology: &tessera_types::Topology,
        shard_target: ShardTarget,
        epoch: u64,
        peers: &[PeerId],
        source: (PeerId, SnapshotLocation),
    ) -> Streamed {
        let mut feeds = Vec::new();
        let mut calls = Vec::new();
        for &peer in peers {
            let node = match self.data_planes().shards(topology, peer) {
                Ok(node) => node,
                Err(e) => {
                    calls.push((peer, tokio::spawn(async move { Err(e) })));
                    continue;
                }
            };
            let (tx, rx) = mpsc::channel(4);
            let shard_target = shard_target.clone();
            calls.push((
                peer,
                tokio::spawn(async move {
                    node.restore_shard(shard_target, epoch, Box::pin(ReceiverStream::new(rx)))
                        .await
                }),
            ));
            feeds.push(tx);
        }
        let source_failure = match self.copy_source(source, &feeds).await {
            Ok(()) => None,
            Err(e) => {
                calls.iter().for_each(|(_, call)| call.abort());
                Some(e)
            }
        };
        drop(feeds);
        let mut streamed = Streamed {
            restored: Vec::new(),
            unchanged: Vec::new(),
            failure: None,
        };
        let (peers, handles): (Vec<_>, Vec<_>) = calls.into_iter().unzip();
        for (peer, outcome) in peers.into_iter().zip(join_all(handles).await) {
            match outcome {
                _ if source_failure.is_some() => streamed.unchanged.push(peer),
                Ok(Ok(_)) => streamed.restored.push(peer),
                Ok(Err(e)) => {
                    streamed.failure.get_or_insert(e);
                }
                Err(e) => {
                    streamed.failure.get_or_insert(TesseraError::internal(e));
                }
            }
        }
        if source_failure.is_some() {
            streamed.failure = source_failure;
        }
        streamed
    }

    /// Reads the snapshot at `source` and hands each chunk to every feed.
    async fn copy_source(
        &self,
        (peer, location): (PeerId, SnapshotLocation),
        feeds: &[mpsc::Sender<Result<Vec<u8>>>],
    ) -> Result<()> {
        let topology = self.topology().current();
        let node = self.data_planes().shards(&topology, peer)?;
        let mut chunks = node.read_snapshot(location).await?;
        while let Some(chunk) = chunks.next().await {
            let data = chunk?;
            for feed in feeds {
                // A replica that stopped listening reports why when it ends.
                let _ = feed.send(Ok(data.clone())).await;
            }
        }
        Ok(())
    }
}
