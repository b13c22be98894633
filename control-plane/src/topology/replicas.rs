//! Replica state changes, compare-and-set, and the primary failover they can
//! cause; adding and removing replicas. Every rule that keeps a shard safe
//! (never lose the last in-sync replica, only an in-sync replica leads) is
//! checked here, when the entry is applied.

use tessera_types::{
    PeerId, Replica, ReplicaState, ReplicaStateChange, ShardId, ShardPlacement, TesseraError,
    Topology,
};

fn stale(msg: String) -> TesseraError {
    TesseraError::Stale(msg)
}

pub(super) fn shard_mut<'a>(
    topology: &'a mut Topology,
    collection: &str,
    incarnation: u64,
    shard_id: ShardId,
) -> Result<&'a mut ShardPlacement, TesseraError> {
    let state = topology
        .collections
        .get_mut(collection)
        .filter(|c| c.incarnation == incarnation)
        .ok_or_else(|| TesseraError::collection_not_found(collection))?;
    state
        .shards
        .iter_mut()
        .find(|s| s.shard_id == shard_id)
        .ok_or_else(|| {
            TesseraError::not_found(format!(
                "Shard {shard_id} of collection `{collection}` does not exist"
            ))
        })
}

/// Whether `from → to` is a step a replica may take.
fn allowed(from: ReplicaState, to: ReplicaState) -> bool {
    use ReplicaState::*;
    match to {
        Dead => true,
        Recovery => from == Dead,
        Partial => from == Recovery,
        Active | Listener => from == Partial,
        // Only a restore's own entries (`restore`) enter and leave it.
        Initializing | ManualRecovery => false,
    }
}

/// Makes the lowest-id Active replica other than `leaving` the primary and
/// bumps the epoch; refuses when there is none.
pub fn promote(shard: &mut ShardPlacement, leaving: PeerId) -> Result<(), TesseraError> {
    let next = shard
        .replicas
        .iter()
        .filter(|r| r.peer_id != leaving && r.state.is_source_of_truth())
        .map(|r| r.peer_id)
        .min()
        .ok_or_else(|| {
            TesseraError::bad_input(format!(
                "peer {leaving} holds the last active replica of shard {}",
                shard.shard_id
            ))
        })?;
    shard.primary = next;
    shard.epoch += 1;
    Ok(())
}

/// Applies every change or none. `epoch`, when given, must be each shard's.
pub fn set_states(
    topology: &mut Topology,
    changes: &[ReplicaStateChange],
    epoch: Option<u64>,
) -> Result<bool, TesseraError> {
    let mut next = topology.clone();
    for change in changes {
        let shard = shard_mut(
            &mut next,
            &change.collection,
            change.incarnation,
            change.shard_id,
        )?;
        if let Some(epoch) = epoch.filter(|e| *e != shard.epoch) {
            return Err(stale(format!(
                "shard {} is at epoch {}, not {epoch}",
                shard.shard_id, shard.epoch
            )));
        }
        let current = shard.state_of(change.peer_id).ok_or_else(|| {
            stale(format!(
                "peer {} holds no replica of shard {}",
                change.peer_id, shard.shard_id
            ))
        })?;
        if current != change.from {
            return Err(stale(format!(
                "replica of shard {} on peer {} is {current:?}, not {:?}",
                shard.shard_id, change.peer_id, change.from
            )));
        }
        if !allowed(current, change.to) {
            return Err(TesseraError::bad_input(format!(
                "a replica cannot go from {current:?} to {:?}",
                change.to
            )));
        }
        if shard.primary == change.peer_id && !change.to.is_source_of_truth() {
            promote(shard, change.peer_id)?;
        }
        for replica in &mut shard.replicas {
            if replica.peer_id == change.peer_id {
                replica.state = change.to;
            }
        }
    }
    let changed = next != *topology;
    *topology = next;
    Ok(changed)
}

/// Adds a replica of a shard on `peer_id` in state `state`.
pub fn add_replica(
    topology: &mut Topology,
    collection: &str,
    incarnation: u64,
    shard_id: ShardId,
    peer_id: PeerId,
    state: ReplicaState,
) -> Result<bool, TesseraError> {
    if !topology.peers.contains_key(&peer_id) {
        return Err(TesseraError::not_found(format!(
            "Peer {peer_id} doesn't exist"
        )));
    }
    let shard = shard_mut(topology, collection, incarnation, shard_id)?;
    if shard.replica(peer_id).is_some() {
        return Ok(false);
    }
    shard.replicas.push(Replica { peer_id, state });
    Ok(true)
}

/// Drops the replica of a shard on `peer_id`; the primary moves first, and
/// the last in-sync replica is never dropped.
pub fn remove_replica(
    topology: &mut Topology,
    collection: &str,
    incarnation: u64,
    shard_id: ShardId,
    peer_id: PeerId,
) -> Result<bool, TesseraError> {
    let shard = shard_mut(topology, collection, incarnation, shard_id)?;
    if shard.replica(peer_id).is_none() {
        return Ok(false);
    }
    if shard.primary == peer_id {
        promote(shard, peer_id)?;
    }
    shard.replicas.retain(|r| r.peer_id != peer_id);
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topology::fixtures::one_shard_collection;
    use tessera_types::NodeType;

    fn topology(states: &[(PeerId, ReplicaState)]) -> Topology {
        let peers: Vec<_> = states
            .iter()
            .map(|(id, _)| (*id, NodeType::Normal))
            .collect();
        one_shard_collection(&peers, 1, states)
    }

    fn change(peer_id: PeerId, from: ReplicaState, to: ReplicaState) -> ReplicaStateChange {
        ReplicaStateChange {
            collection: "c".into(),
            incarnation: 1,
            shard_id: 0,
            peer_id,
            from,
            to,
        }
    }

    fn shard(t: &Topology) -> &ShardPlacement {
        &t.collections["c"].shards[0]
    }

    use ReplicaState::*;

    #[test]
    fn a_dead_primary_hands_over_to_an_active_replica_with_a_new_epoch() {
        let mut t = topology(&[(1, Active), (2, Active), (3, Dead)]);
        set_states(&mut t, &[change(1, Active, Dead)], None).unwrap();
        assert_eq!(shard(&t).primary, 2);
        assert_eq!(shard(&t).epoch, 2);
        assert_eq!(shard(&t).state_of(1), Some(Dead));
    }

    #[test]
    fn the_last_active_replica_is_never_marked_dead() {
        let mut t = topology(&[(1, Active), (2, Dead)]);
        let before = t.clone();
        assert!(set_states(&mut t, &[change(1, Active, Dead)], None).is_err());
        assert_eq!(t, before);
    }

    #[test]
    fn compare_and_set_and_epoch_fence() {
        let mut t = topology(&[(1, Active), (2, Active)]);
        let before = t.clone();
        let err = set_states(&mut t, &[change(2, Partial, Dead)], None).unwrap_err();
        assert!(matches!(err, TesseraError::Stale(_)));
        let err = set_states(&mut t, &[change(2, Active, Dead)], Some(7)).unwrap_err();
        assert!(matches!(err, TesseraError::Stale(_)));
        // All or nothing: the second change fails, so the first is not kept.
        let both = [change(2, Active, Dead), change(1, Active, Dead)];
        assert!(set_states(&mut t, &both, Some(1)).is_err());
        assert_eq!(t, before);
    }

    #[test]
    fn recovery_walks_dead_recovery_partial_active() {
        let mut t = topology(&[(1, Active), (2, Dead)]);
        assert!(set_states(&mut t, &[change(2, Dead, Active)], None).is_err());
        for (from, to) in [(Dead, Recovery), (Recovery, Partial), (Partial, Active)] {
            set_states(&mut t, &[change(2, from, to)], None).unwrap();
        }
        assert_eq!(shard(&t).readable(), vec![1, 2]);
    }

    #[test]
    fn removing_the_primary_promotes_another() {
        let mut t = topology(&[(1, Active), (2, Active)]);
        assert!(remove_replica(&mut t, "c", 1, 0, 1).unwrap());
        assert_eq!(shard(&t).primary, 2);
        assert!(remove_replica(&mut t, "c", 1, 0, 2).is_err());
    }
}
