//! Shard transfers and the other user cluster operations (move, replicate
//! and drop replicas; abort and restart transfers; shard keys, in
//! `shard_keys`). A transfer adds a
//! replica on the target in Recovery, which its node catches up from the
//! shard's primary like any recovering replica; `settle` ends the transfer
//! in the entry that makes the target in sync (dropping the source of a
//! move), so no reader ever sees the shard with fewer in-sync copies.

use tessera_types::{
    ClusterOperation, CollectionState, NodeType, PeerId, Replica, ReplicaRef, ReplicaState,
    RestartTransfer, ShardId, ShardPlacement, ShardTransfer, ShardTransferRequest, TesseraError,
    Topology, TransferKey,
};

use super::{replicas, shard_keys};

fn collection_mut<'a>(
    topology: &'a mut Topology,
    name: &str,
) -> Result<&'a mut CollectionState, TesseraError> {
    topology
        .collections
        .get_mut(name)
        .ok_or_else(|| TesseraError::collection_not_found(name))
}

fn shard_of(
    collection: &CollectionState,
    shard_id: ShardId,
) -> Result<&ShardPlacement, TesseraError> {
    collection.shard(shard_id).ok_or_else(|| {
        TesseraError::not_found(format!(
            "Shard {shard_id} of collection `{}` does not exist",
            collection.name
        ))
    })
}

fn shard_mut(collection: &mut CollectionState, shard_id: ShardId) -> &mut ShardPlacement {
    collection
        .shards
        .iter_mut()
        .find(|s| s.shard_id == shard_id)
        .expect("checked by shard_of")
}

/// Applies a user's cluster operation on `collection`.
pub fn apply(
    topology: &mut Topology,
    collection: &str,
    operation: &ClusterOperation,
) -> Result<bool, TesseraError> {
    operation.validate()?;
    match operation {
        ClusterOperation::MoveShard(request) => start(topology, collection, request, false),
        ClusterOperation::ReplicateShard(request) => start(topology, collection, request, true),
        ClusterOperation::AbortTransfer(key) => abort(topology, collection, key),
        ClusterOperation::RestartTransfer(request) => restart(topology, collection, request),
        ClusterOperation::DropReplica(replica) => drop_replica(topology, collection, replica),
        ClusterOperation::CreateShardingKey(request) => {
            shard_keys::create(topology, collection, request)
        }
        ClusterOperation::DropShardingKey(request) => {
            shard_keys::drop(topology, collection, &request.shard_key)
        }
    }
}

fn start(
    topology: &mut Topology,
    name: &str,
    request: &ShardTransferRequest,
    sync: bool,
) -> Result<bool, TesseraError> {
    let ShardTransferRequest {
        shard_id,
        from_peer_id: from,
        to_peer_id: to,
        method,
    } = *request;
    let peers = topology.peers.clone();
    let collection = collection_mut(topology, name)?;
    let shard = shard_of(collection, shard_id)?;
    let source = shard.state_of(from).ok_or_else(|| {
        TesseraError::bad_input(format!(
            "Peer {from} holds no replica of shard {shard_id}: it cannot be the source"
        ))
    })?;
    if peers
        .get(&from)
        .is_some_and(|p| p.node_type == NodeType::Listener)
    {
        return Err(TesseraError::bad_input(format!(
            "Peer {from} is a listener node: its replica cannot be the source of a transfer"
        )));
    }
    if !source.is_source_of_truth() {
        return Err(TesseraError::bad_input(format!(
            "The replica of shard {shard_id} on peer {from} is {source:?}: a transfer's source must be Active"
        )));
    }
    if !peers.contains_key(&to) {
        return Err(TesseraError::not_found(format!("Peer {to} doesn't exist")));
    }
    if collection.transfer_to(shard_id, to).is_some() {
        return Err(TesseraError::bad_input(format!(
            "Shard {shard_id} is already being transferred to peer {to}"
        )));
    }
    if shard.replica(to).is_some() {
        return Err(TesseraError::bad_input(format!(
            "Peer {to} already holds a replica of shard {shard_id}"
        )));
    }
    if !sync
        && collection
            .transfers
            .iter()
            .any(|t| t.shard_id == shard_id && t.from == from && !t.sync)
    {
        return Err(TesseraError::bad_input(format!(
            "The replica of shard {shard_id} on peer {from} is already being moved"
        )));
    }
    shard_mut(collection, shard_id).replicas.push(Replica {
        peer_id: to,
        state: ReplicaState::Recovery,
    });
    collection.transfers.push(ShardTransfer {
        shard_id,
        from,
        to,
        sync,
        method,
    });
    Ok(true)
}

fn find_transfer(
    collection: &CollectionState,
    shard_id: ShardId,
    from: PeerId,
    to: PeerId,
) -> Result<usize, TesseraError> {
    shard_of(collection, shard_id)?;
    collection
        .transfers
        .iter()
        .position(|t| t.shard_id == shard_id && t.from == from && t.to == to)
        .ok_or_else(|| {
            TesseraError::not_found(format!(
                "No transfer of shard {shard_id} from peer {from} to peer {to} is in progress"
            ))
        })
}

fn abort(topology: &mut Topology, name: &str, key: &TransferKey) -> Result<bool, TesseraError> {
    let collection = collection_mut(topology, name)?;
    let at = find_transfer(collection, key.shard_id, key.from_peer_id, key.to_peer_id)?;
    let transfer = collection.transfers.remove(at);
    let shard = shard_mut(collection, transfer.shard_id);
    // The partial target goes; the source was never touched.
    shard
        .replicas
        .retain(|r| r.peer_id != transfer.to || r.state.is_source_of_truth());
    tracing::info!(
        collection = %name,
        shard = transfer.shard_id,
        from = transfer.from,
        to = transfer.to,
        "shard transfer aborted by request; the target's partial copy is dropped"
    );
    Ok(true)
}

fn restart(
    topology: &mut Topology,
    name: &str,
    request: &RestartTransfer,
) -> Result<bool, TesseraError> {
    let collection = collection_mut(topology, name)?;
    let at = find_transfer(
        collection,
        request.shard_id,
        request.from_peer_id,
        request.to_peer_id,
    )?;
    collection.transfers[at].method = Some(request.method);
    let shard = shard_mut(collection, request.shard_id);
    // A target that had caught up partly starts over with the new method.
    for replica in &mut shard.replicas {
        if replica.peer_id == request.to_peer_id && replica.state == ReplicaState::Partial {
            replica.state = ReplicaState::Recovery;
        }
    }
    tracing::info!(
        collection = %name,
        shard = request.shard_id,
        from = request.from_peer_id,
        to = request.to_peer_id,
        method = request.method.as_str(),
        "shard transfer restarted by request"
    );
    Ok(true)
}

fn drop_replica(
    topology: &mut Topology,
    name: &str,
    replica: &ReplicaRef,
) -> Result<bool, TesseraError> {
    let collection = topology
        .collections
        .get(name)
        .ok_or_else(|| TesseraError::collection_not_found(name))?;
    let shard = shard_of(collection, replica.shard_id)?;
    if shard.replica(replica.peer_id).is_none() {
        return Err(TesseraError::not_found(format!(
            "Peer {} holds no replica of shard {}",
            replica.peer_id, replica.shard_id
        )));
    }
    let incarnation = collection.incarnation;
    replicas::remove_replica(
        topology,
        name,
        incarnation,
        replica.shard_id,
        replica.peer_id,
    )?;
    let kept = {
        let collection = &topology.collections[name];
        topology
            .counted_replicas(shard_of(collection, replica.shard_id)?)
            .count() as u32
    };
    let collection = collection_mut(topology, name)?;
    // The user chose this many copies; the reconciler keeps it so.
    shard_mut(collection, replica.shard_id).replication_factor = Some(kept.max(1));
    collection
        .transfers
        .retain(|t| !(t.shard_id == replica.shard_id && t.to == replica.peer_id));
    Ok(true)
}

/// Ends every transfer whose target is in sync (a move then drops its
/// source) and forgets those whose target replica is gone. Runs after every
/// applied command, in the same entry.
pub fn settle(topology: &mut Topology) {
    let listeners: Vec<PeerId> = topology
        .data_peers()
        .filter(|p| p.node_type == NodeType::Listener)
        .map(|p| p.id)
        .collect();
    for collection in topology.collections.values_mut() {
        let transfers = std::mem::take(&mut collection.transfers);
        for transfer in transfers {
            let Some(shard) = collection
                .shards
                .iter_mut()
                .find(|s| s.shard_id == transfer.shard_id)
            else {
                continue;
            };
            let Some(target) = shard.state_of(transfer.to) else {
                tracing::info!(
                    collection = %collection.name,
                    shard = transfer.shard_id,
                    to = transfer.to,
                    "shard transfer ended: its target replica was removed"
                );
                continue;
            };
            let in_sync = target.is_updatable() && !target.is_recovering();
            if !in_sync {
                collection.transfers.push(transfer);
                continue;
            }
            if transfer.sync {
                let counted = shard
                    .replicas
                    .iter()
                    .filter(|r| !listeners.contains(&r.peer_id))
                    .count() as u32;
                shard.replication_factor = Some(counted);
            } else if shard.replica(transfer.from).is_some() {
                if shard.primary == transfer.from
                    && replicas::promote(shard, transfer.from).is_err()
                {
                    // Cannot happen (the target is in sync); keep the source.
                    continue;
                }
                shard.replicas.retain(|r| r.peer_id != transfer.from);
            }
            tracing::info!(
                collection = %collection.name,
                shard = transfer.shard_id,
                from = transfer.from,
                to = transfer.to,
                kind = if transfer.sync { "replicate" } else { "move" },
                "shard transfer finished"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topology::fixtures::one_shard_collection;
    use tessera_types::ReplicaStateChange;
    use ReplicaState::*;

    /// Collection `c` with one shard on peers 1 (primary) and 2; peer 3 free.
    fn topology() -> Topology {
        let peers = [1, 2, 3].map(|id| (id, NodeType::Normal));
        one_shard_collection(&peers, 2, &[(1, Active), (2, Active)])
    }

    fn request(from: PeerId, to: PeerId) -> ShardTransferRequest {
        ShardTransferRequest {
            shard_id: 0,
            from_peer_id: from,
            to_peer_id: to,
            method: None,
        }
    }

    /// The target's node catching up: Recovery → Partial → Active.
    fn catch_up(t: &mut Topology, peer_id: PeerId) {
        for (from, to) in [(Recovery, Partial), (Partial, Active)] {
            let change = ReplicaStateChange {
                collection: "c".into(),
                incarnation: 1,
                shard_id: 0,
                peer_id,
                from,
                to,
            };
            replicas::set_states(t, &[change], None).unwrap();
            settle(t);
        }
    }

    fn shard(t: &Topology) -> &ShardPlacement {
        &t.collections["c"].shards[0]
    }

    #[test]
    fn a_move_of_the_primary_ends_with_the_target_in_and_the_source_out() {
        let mut t = topology();
        apply(&mut t, "c", &ClusterOperation::MoveShard(request(1, 3))).unwrap();
        assert_eq!(shard(&t).state_of(3), Some(Recovery));
        assert_eq!(t.collections["c"].transfers.len(), 1);
        catch_up(&mut t, 3);
        assert!(t.collections["c"].transfers.is_empty());
        assert_eq!(shard(&t).state_of(1), None);
        assert_eq!(shard(&t).readable(), vec![2, 3]);
        assert_ne!(shard(&t).primary, 1);
        assert_eq!(shard(&t).epoch, 2);
    }

    #[test]
    fn a_replication_keeps_the_source_and_the_new_copy_count() {
        let mut t = topology();
        apply(
            &mut t,
            "c",
            &ClusterOperation::ReplicateShard(request(2, 3)),
        )
        .unwrap();
        catch_up(&mut t, 3);
        assert_eq!(shard(&t).readable(), vec![1, 2, 3]);
        assert_eq!(t.collections["c"].replicas_wanted(shard(&t)), 3);
    }

    #[test]
    fn an_abort_removes_the_target_and_leaves_the_source() {
        let mut t = topology();
        apply(&mut t, "c", &ClusterOperation::MoveShard(request(1, 3))).unwrap();
        let key = TransferKey {
            shard_id: 0,
            from_peer_id: 1,
            to_peer_id: 3,
        };
        apply(&mut t, "c", &ClusterOperation::AbortTransfer(key.clone())).unwrap();
        assert_eq!(t, {
            let mut before = topology();
            before.version = t.version;
            before
        });
        assert!(matches!(
            apply(&mut t, "c", &ClusterOperation::AbortTransfer(key)),
            Err(TesseraError::NotFound(_))
        ));
    }

    #[test]
    fn refusals_change_nothing() {
        let mut t = topology();
        apply(
            &mut t,
            "c",
            &ClusterOperation::ReplicateShard(request(1, 3)),
        )
        .unwrap();
        let before = t.clone();
        let refused = [
            ("missing", ClusterOperation::MoveShard(request(1, 3))),
            ("c", ClusterOperation::MoveShard(request(1, 2))),
            ("c", ClusterOperation::MoveShard(request(1, 1))),
            ("c", ClusterOperation::MoveShard(request(3, 2))),
            ("c", ClusterOperation::ReplicateShard(request(2, 3))),
            ("c", ClusterOperation::MoveShard(request(1, 9))),
            (
                "c",
                ClusterOperation::MoveShard(ShardTransferRequest {
                    shard_id: 7,
                    ..request(1, 3)
                }),
            ),
        ];
        for (collection, op) in refused {
            assert!(
                apply(&mut t, collection, &op).is_err(),
                "{op:?} was accepted"
            );
            assert_eq!(t, before);
        }
    }

    #[test]
    fn the_last_active_replica_cannot_be_dropped() {
        let mut t = topology();
        let drop = |peer_id| {
            ClusterOperation::DropReplica(ReplicaRef {
                shard_id: 0,
                peer_id,
            })
        };
        apply(&mut t, "c", &drop(1)).unwrap();
        assert_eq!(shard(&t).primary, 2);
        assert_eq!(t.collections["c"].replicas_wanted(shard(&t)), 1);
        let before = t.clone();
        assert!(matches!(
            apply(&mut t, "c", &drop(2)),
            Err(TesseraError::BadInput(_))
        ));
        assert!(matches!(
            apply(&mut t, "c", &drop(3)),
            Err(TesseraError::NotFound(_))
        ));
        assert_eq!(t, before);
    }
}
