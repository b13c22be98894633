//! A user's snapshot restore of one shard goes through the shard's order in
//! two entries. `begin` fences the shard: every replica the restore will
//! replace goes to ManualRecovery (no reads, no writes) and every other one to
//! Dead, and the epoch grows, so nothing written under the old epoch lands on
//! restored data and a replica left out cannot catch up by WAL delta on top of
//! its old data. `finish` brings the restored replicas back in sync and leaves
//! the rest Dead, to recover from a restored one. A restore that never
//! finishes (its gateway crashed, every replica failed) leaves the shard in
//! ManualRecovery until the user recovers the snapshot again, as in Qdrant.

use tessera_types::{PeerId, ReplicaState, ShardId, ShardPlacement, TesseraError, Topology};

use super::replicas;

/// The shard a restore changes; refused while a transfer of it runs.
fn shard_mut<'a>(
    topology: &'a mut Topology,
    collection: &str,
    incarnation: u64,
    shard_id: ShardId,
) -> Result<&'a mut ShardPlacement, TesseraError> {
    let in_transfer = topology
        .collections
        .get(collection)
        .filter(|c| c.incarnation == incarnation)
        .is_some_and(|c| c.transfers.iter().any(|t| t.shard_id == shard_id));
    if in_transfer {
        return Err(TesseraError::bad_input(format!(
            "Shard {shard_id} of collection `{collection}` has a transfer in progress; \
             wait for it or abort it before recovering a snapshot"
        )));
    }
    replicas::shard_mut(topology, collection, incarnation, shard_id)
}

/// Fences the shard for a restore. Refused when no replica can take it.
pub fn begin(
    topology: &mut Topology,
    collection: &str,
    incarnation: u64,
    shard_id: ShardId,
) -> Result<bool, TesseraError> {
    let shard = shard_mut(topology, collection, incarnation, shard_id)?;
    let primary_takes_it = shard
        .state_of(shard.primary)
        .is_some_and(|s| s.takes_a_restore());
    if !primary_takes_it {
        return Err(TesseraError::Unavailable(format!(
            "Shard {shard_id} of collection `{collection}` has no active replica to restore"
        )));
    }
    for replica in &mut shard.replicas {
        replica.state = if replica.state.takes_a_restore() {
            ReplicaState::ManualRecovery
        } else {
            ReplicaState::Dead
        };
    }
    shard.epoch += 1;
    Ok(true)
}

/// Ends the restore that began at `epoch`. The `restored` replicas are in
/// sync again; when none is, the `unchanged` ones (which kept their data) are;
/// every other replica that waited for the restore is Dead. Refused, leaving
/// the shard in ManualRecovery, when neither holds a replica that can lead.
pub fn finish(
    topology: &mut Topology,
    (collection, incarnation, shard_id): (&str, u64, ShardId),
    epoch: u64,
    (restored, unchanged): (&[PeerId], &[PeerId]),
) -> Result<bool, TesseraError> {
    let listeners: Vec<PeerId> = topology
        .peers
        .keys()
        .copied()
        .filter(|&p| topology.is_listener(p))
        .collect();
    let shard = shard_mut(topology, collection, incarnation, shard_id)?;
    if shard.epoch != epoch {
        return Err(TesseraError::Stale(format!(
            "shard {shard_id} is at epoch {}, not at the restore's epoch {epoch}",
            shard.epoch
        )));
    }
    let waiting = |p: &PeerId| shard.state_of(*p) == Some(ReplicaState::ManualRecovery);
    let leader_of = |peers: &[PeerId]| {
        peers
            .iter()
            .copied()
            .filter(|p| waiting(p) && !listeners.contains(p))
            .min()
    };
    let (in_sync, leader) = match (leader_of(restored), leader_of(unchanged)) {
        (Some(leader), _) => (restored, leader),
        (None, Some(leader)) => (unchanged, leader),
        (None, None) => {
            return Err(TesseraError::Unavailable(format!(
                "No replica of shard {shard_id} of collection `{collection}` took the snapshot; \
                 the shard stays in ManualRecovery until the snapshot is recovered again"
            )))
        }
    };
    let in_sync: Vec<PeerId> = in_sync.iter().copied().filter(waiting).collect();
    for replica in &mut shard.replicas {
        if replica.state != ReplicaState::ManualRecovery {
            continue;
        }
        replica.state = if !in_sync.contains(&replica.peer_id) {
            ReplicaState::Dead
        } else if listeners.contains(&replica.peer_id) {
            ReplicaState::Listener
        } else {
            ReplicaState::Active
        };
    }
    if shard.state_of(shard.primary) != Some(ReplicaState::Active) {
        shard.primary = leader;
        shard.epoch += 1;
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use tessera_types::{NodeType, ReplicaState::*};

    use super::*;
    use crate::topology::fixtures;

    /// Peers 1 to 3 and one shard with `replicas`, the first its primary.
    fn with_replicas(replicas: &[(PeerId, ReplicaState)]) -> Topology {
        let peers: Vec<_> = (1..=3).map(|p| (p, NodeType::Normal)).collect();
        fixtures::one_shard_collection(&peers, replicas.len() as u32, replicas)
    }

    fn states(topology: &Topology) -> Vec<(PeerId, ReplicaState)> {
        topology.collections["c"].shards[0]
            .replicas
            .iter()
            .map(|r| (r.peer_id, r.state))
            .collect()
    }

    fn shard(topology: &Topology) -> &ShardPlacement {
        &topology.collections["c"].shards[0]
    }

    #[test]
    fn a_restore_fences_the_shard_and_takes_the_others_out_of_sync() {
        let mut topology = with_replicas(&[(1, Active), (2, Active), (3, Recovery)]);
        let epoch = shard(&topology).epoch;
        begin(&mut topology, "c", 1, 0).unwrap();
        assert_eq!(
            states(&topology),
            vec![(1, ManualRecovery), (2, ManualRecovery), (3, Dead)]
        );
        assert_eq!(shard(&topology).epoch, epoch + 1);

        finish(&mut topology, ("c", 1, 0), epoch + 1, (&[1, 2], &[])).unwrap();
        assert_eq!(states(&topology), vec![(1, Active), (2, Active), (3, Dead)]);
        assert_eq!(
            shard(&topology).epoch,
            epoch + 1,
            "the primary kept its place"
        );
    }

    #[test]
    fn a_replica_that_failed_its_restore_is_dead_and_the_primary_moves() {
        let mut topology = with_replicas(&[(1, Active), (2, Active)]);
        begin(&mut topology, "c", 1, 0).unwrap();
        let epoch = shard(&topology).epoch;
        finish(&mut topology, ("c", 1, 0), epoch, (&[2], &[1])).unwrap();
        assert_eq!(states(&topology), vec![(1, Dead), (2, Active)]);
        assert_eq!(shard(&topology).primary, 2);
        assert_eq!(shard(&topology).epoch, epoch + 1);
    }

    #[test]
    fn listeners_are_restored_and_never_lead() {
        let mut topology = with_replicas(&[(1, Active), (3, Listener)]);
        topology.peers.get_mut(&3).unwrap().node_type = NodeType::Listener;
        begin(&mut topology, "c", 1, 0).unwrap();
        let epoch = shard(&topology).epoch;
        let refused = finish(&mut topology, ("c", 1, 0), epoch, (&[3], &[]));
        assert!(matches!(refused, Err(TesseraError::Unavailable(_))));
        assert_eq!(
            states(&topology),
            vec![(1, ManualRecovery), (3, ManualRecovery)]
        );
        finish(&mut topology, ("c", 1, 0), epoch, (&[1, 3], &[])).unwrap();
        assert_eq!(states(&topology), vec![(1, Active), (3, Listener)]);
    }

    #[test]
    fn a_restore_begun_again_is_not_finished_by_the_first() {
        let mut topology = with_replicas(&[(1, Active), (2, Active)]);
        begin(&mut topology, "c", 1, 0).unwrap();
        let first = shard(&topology).epoch;
        begin(&mut topology, "c", 1, 0).unwrap();
        assert_eq!(
            states(&topology),
            vec![(1, ManualRecovery), (2, ManualRecovery)],
            "a shard left in ManualRecovery takes the next restore"
        );
        let stale = finish(&mut topology, ("c", 1, 0), first, (&[1, 2], &[]));
        assert!(matches!(stale, Err(TesseraError::Stale(_))));
        finish(&mut topology, ("c", 1, 0), first + 1, (&[1, 2], &[])).unwrap();
        assert_eq!(states(&topology), vec![(1, Active), (2, Active)]);
    }

    #[test]
    fn a_restore_that_reached_no_replica_whole_leaves_their_data_in_sync() {
        let mut topology = with_replicas(&[(1, Active), (2, Active), (3, Partial)]);
        begin(&mut topology, "c", 1, 0).unwrap();
        let epoch = shard(&topology).epoch;
        finish(&mut topology, ("c", 1, 0), epoch, (&[], &[1, 2])).unwrap();
        assert_eq!(states(&topology), vec![(1, Active), (2, Active), (3, Dead)]);
    }

    #[test]
    fn a_shard_without_a_copy_to_restore_is_refused_unchanged() {
        let mut topology = with_replicas(&[(1, Active), (2, Dead)]);
        topology.collections.get_mut("c").unwrap().shards[0].primary = 2;
        let before = topology.clone();
        assert!(begin(&mut topology, "c", 1, 0).is_err());
        assert_eq!(topology, before);
    }
}
