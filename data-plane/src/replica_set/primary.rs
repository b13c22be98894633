//! The write path: the primary orders and forwards, replicas apply in order.

use std::sync::Arc;

use futures::future::join_all;
use tessera_types::shard_client::{MissedOps, ReplicateOutcome, ReplicatedOps, ShardTarget};
use tessera_types::{OpId, PeerId, ReplicaState, ReplicaStateChange, ShardOperation, TesseraError};

use super::{peer_call, ReplicaSet, GAP_WAIT, MAX_GAP_FILL};
use crate::registry::{Placed, ReplicaKey};
use tessera_engine::shard::{Ordered, Replicated, Shard};

pub(super) fn not_primary(placed: &Placed, me: PeerId, epoch: u64) -> TesseraError {
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
        let forwarded = ShardTarget {
            topology_version: topology.version,
            ..target.clone()
        };
        let ops = ReplicatedOps {
            ops: vec![(id, operation)],
            prev_epoch,
            wait,
        };
        let results = join_all(followers.iter().map(|replica| {
            self.forward(
                &topology,
                replica.peer_id,
                &forwarded,
                ops.clone(),
                &shard,
                id,
            )
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
        target: &ShardTarget,
        original: ReplicatedOps,
        shard: &Arc<Shard>,
        id: OpId,
    ) -> Result<(), TesseraError> {
        let replica = self.peers.shards(topology, peer)?;
        let mut request = original.clone();
        // Held while this forward fills the replica's gap: one fill per replica
        // at a time, however many writes find the gap at once.
        let mut filling = None;
        for _ in 0..4 {
            let outcome = replica
                .replicate(peer_call(target.clone()), request.clone())
                .await?;
            match outcome {
                ReplicateOutcome::Applied => return Ok(()),
                ReplicateOutcome::Diverged { last } => {
                    return Err(TesseraError::Unavailable(format!(
                        "peer {peer}'s history differs from the primary's after {last:?}"
                    )))
                }
                ReplicateOutcome::Gap { last } => {
                    if filling.is_none() {
                        let lock = self.gap_fill_lock(target, peer);
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
                    request.ops = ops;
                }
            }
        }
        Err(TesseraError::Unavailable(format!(
            "peer {peer} kept reporting gaps"
        )))
    }

    /// The lock that serializes gap fills to `peer`'s replica of the shard
    /// `request` is for.
    fn gap_fill_lock(&self, target: &ShardTarget, peer: PeerId) -> Arc<tokio::sync::Mutex<()>> {
        let key = ReplicaKey::new(
            target.collection.clone(),
            target.incarnation,
            target.shard_id,
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
        target: ShardTarget,
        forwarded: ReplicatedOps,
    ) -> Result<ReplicateOutcome, TesseraError> {
        let ReplicatedOps {
            ops,
            prev_epoch,
            wait,
        } = forwarded;
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
        let outcome =
            blocking(move || Ok(shard.apply_replicated(prev_epoch, ops, wait, GAP_WAIT)?)).await?;
        Ok(match outcome {
            Replicated::Applied => ReplicateOutcome::Applied,
            Replicated::Gap { last } => ReplicateOutcome::Gap { last },
            Replicated::Diverged { last } => ReplicateOutcome::Diverged { last },
        })
    }

    /// As primary: the operations `peer`'s recovering replica misses after
    /// `after`, at most `max_ops`.
    pub async fn missed_ops(
        &self,
        target: ShardTarget,
        after: OpId,
        max_ops: u32,
        peer: PeerId,
    ) -> Result<MissedOps, TesseraError> {
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
            .and_then(|s| s.state_of(peer))
            .is_some_and(|s| s.is_updatable());
        let shard = self.registry.shard(target).await?;
        let max = max_ops.clamp(1, MAX_GAP_FILL as u32) as usize;
        blocking(move || {
            // The WAL keeps what the peer still reads until it has caught up.
            let holder = format!("peer {peer}");
            shard.pin_wal(&holder, after.seq);
            let primary_last_seq = shard.last_op().seq;
            let ops = shard.ops_after(after, max)?;
            let caught_up = ops.as_ref().is_some_and(|ops| {
                ops.last().map_or(after.seq, |(id, _)| id.seq) >= primary_last_seq
            });
            if ops.is_none() || (caught_up && forwarding) {
                shard.unpin_wal(&holder);
            }
            Ok(MissedOps {
                ops,
                primary_last_seq,
                forwarding,
            })
        })
        .await
    }
}
