//! The write path: the primary orders and forwards, replicas apply in order.

use std::sync::Arc;

use futures::future::join_all;
use tessera_proto::convert::{replicated_ops, shard_target};
use tessera_proto::data_plane as dp;
use tessera_types::shard_client::ShardTarget;
use tessera_types::{OpId, PeerId, ReplicaState, ReplicaStateChange, ShardOperation, TesseraError};

use super::{call, ReplicaSet, GAP_WAIT, MAX_GAP_FILL};
use crate::registry::{Placed, ReplicaKey};
use tessera_engine::shard::{Ordered, Replicated, Shard};

fn not_primary(placed: &Placed, me: PeerId, epoch: u64) -> TesseraError {
    TesseraError::Stale(format!(
        "peer {me} is not the primary of shard {} at epoch {epoch} (the primary is peer {} at epoch {})",
        placed.key.shard_id, placed.placement.primary, placed.placement.epoch
    ))
}

/// Runs file or shard work that blocks on tokio's blocking pool.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, TesseraError> + Send + 'static,
) -> Result<T, TesseraError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(TesseraError::internal_from)?
}

impl ReplicaSet {
    /// A client's write, which this node must order as the shard's primary at
    /// `epoch`. Acknowledged once `write_consistency_factor` in-sync copies
    /// (at most the shard's replica count) have it and every updatable replica
    /// that failed is out of the in-sync set.
    pub async fn write(
        &self,
        target: ShardTarget,
        epoch: u64,
        operation: ShardOperation,
        wait: bool,
    ) -> Result<u64, TesseraError> {
        let me = self.peer_id();
        let placed = self.registry.place(&target).await?;
        if placed.placement.primary != me || placed.placement.epoch != epoch {
            return Err(not_primary(&placed, me, epoch));
        }
        if placed.placement.state_of(me) == Some(ReplicaState::ManualRecovery) {
            return Err(TesseraError::Unavailable(format!(
                "Shard {} of collection `{}` is being recovered from a snapshot; writes resume when the recovery ends",
                target.shard_id, target.collection
            )));
        }
        let shard = self.registry.shard(target.clone()).await?;
        let Ordered {
            id,
            prev_epoch,
            op: operation,
        } = {
            let shard = shard.clone();
            blocking(move || Ok(shard.apply_as_primary(epoch, operation, wait)?)).await?
        };
        // The replicas to forward to are read after the operation is ordered, so
        // a replica a recovery has just made updatable gets every later write.
        let topology = self.registry.topology().current();
        let placement = topology
            .collections
            .get(&target.collection)
            .filter(|c| c.incarnation == target.incarnation)
            .and_then(|c| c.shard(target.shard_id))
            .cloned()
            .unwrap_or(placed.placement.clone());
        let followers: Vec<_> = placement
            .replicas
            .iter()
            .filter(|r| r.peer_id != me && r.state.is_updatable())
            .cloned()
            .collect();
        let request = dp::ReplicateRequest {
            target: Some(
                (&ShardTarget {
                    topology_version: topology.version,
                    ..target.clone()
                })
                    .into(),
            ),
            wait,
            ops: vec![(id, operation).into()],
            prev_epoch,
        };
        let results =
            join_all(followers.iter().map(|replica| {
                self.forward(&topology, replica.peer_id, request.clone(), &shard, id)
            }))
            .await;
        let mut copies = 1;
        let mut failed = Vec::new();
        for (replica, result) in followers.iter().zip(results) {
            match result {
                Ok(()) => copies += usize::from(replica.state.counts_for_writes()),
                Err(e) => {
                    tracing::warn!(
                        collection = %target.collection,
                        shard = target.shard_id,
                        peer = replica.peer_id,
                        error = %e,
                        "a replica failed a write; taking it out of sync"
                    );
                    failed.push(ReplicaStateChange {
                        collection: target.collection.clone(),
                        incarnation: target.incarnation,
                        shard_id: target.shard_id,
                        peer_id: replica.peer_id,
                        from: replica.state,
                        to: ReplicaState::Dead,
                    });
                }
            }
        }
        if !failed.is_empty() {
            self.mark_out_of_sync(failed, epoch, copies).await?;
        }
        // The factor counts against the shard's replicas, not only those still
        // in sync: with a replica down, a factor of 2 keeps refusing writes that
        // only one copy took, as the user asked (listeners hold extra copies and
        // are not counted).
        let replicas = placement
            .replicas
            .iter()
            .filter(|r| r.state != ReplicaState::Listener)
            .count();
        let factor = placed
            .topology
            .collections
            .get(&target.collection)
            .map(|c| c.config.params.write_consistency_factor as usize)
            .unwrap_or(1);
        let required = factor.clamp(1, replicas.max(1));
        if copies < required {
            return Err(TesseraError::Unavailable(format!(
                "write consistency factor {factor} not met: {copies} of {required} required \
                 copies applied the write to shard {}",
                target.shard_id
            )));
        }
        Ok(id.seq)
    }

    /// Takes replicas that failed a write out of the in-sync set. When the
    /// compare-and-set loses (the replica's state moved on), the write is still
    /// safe if none of them is updatable any more.
    async fn mark_out_of_sync(
        &self,
        failed: Vec<ReplicaStateChange>,
        epoch: u64,
        copies: usize,
    ) -> Result<(), TesseraError> {
        let (collection, incarnation, shard_id) = (
            failed[0].collection.clone(),
            failed[0].incarnation,
            failed[0].shard_id,
        );
        let peers: Vec<PeerId> = failed.iter().map(|c| c.peer_id).collect();
        let outcome = self.set_states(failed, Some(epoch)).await;
        let topology = self.registry.topology().current();
        let placement = topology
            .collections
            .get(&collection)
            .filter(|c| c.incarnation == incarnation)
            .and_then(|c| c.shard(shard_id));
        let still_updatable = placement.is_none_or(|p| {
            p.epoch != epoch
                || peers
                    .iter()
                    .any(|peer| p.state_of(*peer).is_some_and(|s| s.is_updatable()))
        });
        match outcome {
            Ok(_) => Ok(()),
            Err(_) if !still_updatable => Ok(()),
            // The shard changed under the write (a new primary or new states, which
            // this node may not have seen yet): not acknowledged here; the gateway
            // retries it on the newer topology.
            Err(e @ TesseraError::Stale(_)) => Err(TesseraError::Stale(format!(
                "the replicas of shard {shard_id} changed while this write was replicated: {e}"
            ))),
            Err(e) => Err(TesseraError::Unavailable(format!(
                "the write reached {copies} copies of shard {shard_id}, but replicas that \
                 missed it could not be taken out of sync: {e}"
            ))),
        }
    }

    /// Sends operations to one replica, filling a gap from this node's WAL when
    /// the replica reports one.
    async fn forward(
        &self,
        topology: &tessera_types::Topology,
        peer: PeerId,
        mut request: dp::ReplicateRequest,
        shard: &Arc<Shard>,
        id: OpId,
    ) -> Result<(), TesseraError> {
        let mut client = self.peers.client(topology, peer)?;
        let original = request.clone();
        // Held while this forward fills the replica's gap: one fill per replica
        // at a time, however many writes find the gap at once.
        let mut filling = None;
        for _ in 0..4 {
            let reply = call(client.replicate(request.clone())).await?;
            let last = OpId {
                epoch: reply.last_epoch,
                seq: reply.last_seq,
            };
            match reply.outcome() {
                dp::ReplicateOutcome::Applied => return Ok(()),
                dp::ReplicateOutcome::Diverged => {
                    return Err(TesseraError::Unavailable(format!(
                        "peer {peer}'s history differs from the primary's after {last:?}"
                    )))
                }
                dp::ReplicateOutcome::Gap => {
                    if filling.is_none() {
                        let lock = self.gap_fill_lock(&original, peer);
                        match lock.clone().try_lock_owned() {
                            Ok(guard) => filling = Some(guard),
                            Err(_) => {
                                // Another write is filling this gap: once it has,
                                // this operation alone is likely all that is missing.
                                filling = Some(lock.lock_owned().await);
                                request = original.clone();
                                continue;
                            }
                        }
                    }
                    let missing = (id.seq - last.seq) as usize;
                    if missing > MAX_GAP_FILL {
                        return Err(TesseraError::Unavailable(format!(
                            "peer {peer} is {missing} operations behind"
                        )));
                    }
                    let shard = shard.clone();
                    let ops = blocking(move || Ok(shard.ops_after(last, missing)?)).await?;
                    let ops = ops.ok_or_else(|| {
                        TesseraError::Unavailable(format!(
                            "peer {peer} needs operations after {last:?} this WAL no longer has"
                        ))
                    })?;
                    request.prev_epoch = last.epoch;
                    request.ops = ops.into_iter().map(Into::into).collect();
                }
            }
        }
        Err(TesseraError::Unavailable(format!(
            "peer {peer} kept reporting gaps"
        )))
    }

    /// The lock that serializes gap fills to `peer`'s replica of the shard
    /// `request` is for.
    fn gap_fill_lock(
        &self,
        request: &dp::ReplicateRequest,
        peer: PeerId,
    ) -> Arc<tokio::sync::Mutex<()>> {
        let target = request.target.as_ref();
        let key = ReplicaKey::new(
            target.map(|t| t.collection.clone()).unwrap_or_default(),
            target.map(|t| t.incarnation).unwrap_or_default(),
            target.map(|t| t.shard_id).unwrap_or_default(),
        );
        self.gap_fills
            .lock()
            .entry((key, peer))
            .or_default()
            .clone()
    }

    /// Applies operations forwarded by the primary, if the sender still leads
    /// the shard and this replica is updatable in this node's topology.
    pub async fn replicate(
        &self,
        request: dp::ReplicateRequest,
    ) -> Result<dp::ReplicateReply, TesseraError> {
        let target = shard_target(request.target)?;
        let ops = replicated_ops(request.ops)?;
        let placed = self.registry.place(&target).await?;
        let me = self.peer_id();
        let state = placed.placement.state_of(me);
        if !state.is_some_and(|s| s.is_updatable()) {
            return Err(TesseraError::Stale(format!(
                "the replica of shard {} on peer {me} is {state:?} and takes no forwarded writes",
                target.shard_id
            )));
        }
        if ops
            .last()
            .is_some_and(|(id, _)| id.epoch < placed.placement.epoch)
        {
            return Err(TesseraError::Stale(format!(
                "shard {} is at epoch {}: the sender no longer leads it",
                target.shard_id, placed.placement.epoch
            )));
        }
        let shard = self.registry.shard(target).await?;
        let (prev_epoch, wait) = (request.prev_epoch, request.wait);
        let outcome =
            blocking(move || Ok(shard.apply_replicated(prev_epoch, ops, wait, GAP_WAIT)?)).await?;
        let (outcome, last) = match outcome {
            Replicated::Applied => (dp::ReplicateOutcome::Applied, OpId::default()),
            Replicated::Gap { last } => (dp::ReplicateOutcome::Gap, last),
            Replicated::Diverged { last } => (dp::ReplicateOutcome::Diverged, last),
        };
        Ok(dp::ReplicateReply {
            outcome: outcome as i32,
            last_seq: last.seq,
            last_epoch: last.epoch,
        })
    }

    /// As primary: the operations a recovering replica misses.
    pub async fn fetch_ops(
        &self,
        request: dp::FetchOpsRequest,
    ) -> Result<dp::FetchOpsReply, TesseraError> {
        let target = shard_target(request.target)?;
        let placed = self.registry.place(&target).await?;
        let me = self.peer_id();
        if placed.placement.primary != me {
            return Err(not_primary(&placed, me, placed.placement.epoch));
        }
        // Whether writes are forwarded is read before the last operation, so
        // every operation after `primary_last_seq` reaches the requester.
        let forwarding = self
            .registry
            .topology()
            .current()
            .collections
            .get(&target.collection)
            .and_then(|c| c.shard(target.shard_id))
            .and_then(|s| s.state_of(request.peer_id))
            .is_some_and(|s| s.is_updatable());
        let shard = self.registry.shard(target).await?;
        let after = OpId {
            epoch: request.last_epoch,
            seq: request.last_seq,
        };
        let max = request.max_ops.clamp(1, MAX_GAP_FILL as u32) as usize;
        blocking(move || {
            let primary_last_seq = shard.last_op().seq;
            Ok(match shard.ops_after(after, max)? {
                Some(ops) => dp::FetchOpsReply {
                    need_snapshot: false,
                    ops: ops.into_iter().map(Into::into).collect(),
                    primary_last_seq,
                    forwarding,
                },
                None => dp::FetchOpsReply {
                    need_snapshot: true,
                    ops: Vec::new(),
                    primary_last_seq,
                    forwarding,
                },
            })
        })
        .await
    }

    /// As primary: writes a snapshot of the shard to a scratch file and returns
    /// it with the last operation it holds.
    pub async fn snapshot_for_transfer(
        &self,
        target: ShardTarget,
    ) -> Result<(std::path::PathBuf, OpId), TesseraError> {
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
        let id = blocking(move || Ok(shard.snapshot_at(&out)?)).await?;
        Ok((file, id))
    }
}

/// A still view of a shard for a record stream: the shard as of `at`, opened
/// from a snapshot in a scratch directory that goes when the view is dropped.
pub struct RecordsView {
    pub shard: tessera_engine::shard::Shard,
    pub at: OpId,
    dir: std::path::PathBuf,
}

impl Drop for RecordsView {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl ReplicaSet {
    /// As primary: a still view of the shard to stream its records from, while
    /// writes go on (a snapshot is taken and opened without an optimizer).
    pub async fn records_for_transfer(
        &self,
        target: ShardTarget,
    ) -> Result<RecordsView, TesseraError> {
        let config = self
            .registry
            .topology()
            .current()
            .collections
            .get(&target.collection)
            .map(|c| c.config.clone())
            .ok_or_else(|| TesseraError::collection_not_found(&target.collection))?;
        let (file, at) = self.snapshot_for_transfer(target.clone()).await?;
        let key = ReplicaKey::new(target.collection, target.incarnation, target.shard_id);
        let dir = self
            .registry
            .scratch_file(&key, &format!("records-view-{}", rand_suffix()));
        blocking(move || {
            let opened = tessera_engine::shard::Shard::restore_snapshot(
                &file,
                &dir,
                tessera_engine::shard::RestoredHistory::Keep,
            )
            .and_then(|()| tessera_engine::shard::Shard::open_still(&dir, config));
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

fn rand_suffix() -> u64 {
    use std::time::{SystemTime, UNIX_EPOCH};
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or_default()
}
