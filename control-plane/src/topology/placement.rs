//! Deterministic shard placement.

use tessera_types::{PeerId, Replica, ReplicaState, ShardId, ShardPlacement};

/// Places shard `i` on `peers[(i + r) % n]` for each replica `r`, so shards
/// spread round-robin and no peer holds two replicas of one shard; the first
/// replica is the primary. Every listener gets a replica of every shard on
/// top. `peers` must be sorted (every node then computes the same placement)
/// and non-empty.
pub fn place_shards(
    peers: &[PeerId],
    listeners: &[PeerId],
    shard_number: u32,
    replication_factor: u32,
) -> Vec<ShardPlacement> {
    let n = peers.len();
    let replicas = (replication_factor as usize).min(n);
    (0..shard_number)
        .map(|shard_id: ShardId| {
            let normal = (0..replicas).map(|r| Replica {
                peer_id: peers[(shard_id as usize + r) % n],
                state: ReplicaState::Active,
            });
            let listening = listeners.iter().map(|&peer_id| Replica {
                peer_id,
                state: ReplicaState::Listener,
            });
            ShardPlacement {
                shard_id,
                shard_key: None,
                replicas: normal.chain(listening).collect(),
                primary: peers[shard_id as usize % n],
                epoch: 1,
                replication_factor: None,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peers_of(shard: &ShardPlacement) -> Vec<PeerId> {
        shard.replicas.iter().map(|r| r.peer_id).collect()
    }

    #[test]
    fn shards_go_round_robin() {
        let shards = place_shards(&[10, 20, 30], &[], 4, 2);
        let placed: Vec<_> = shards.iter().map(peers_of).collect();
        assert_eq!(
            placed,
            vec![vec![10, 20], vec![20, 30], vec![30, 10], vec![10, 20]]
        );
        assert!(shards
            .iter()
            .flat_map(|s| &s.replicas)
            .all(|r| r.state == ReplicaState::Active));
    }

    #[test]
    fn replication_is_capped_by_the_number_of_peers() {
        let shards = place_shards(&[5, 6], &[9], 2, 3);
        assert_eq!(peers_of(&shards[0]), vec![5, 6, 9]);
        assert_eq!(peers_of(&shards[1]), vec![6, 5, 9]);
        assert_eq!(shards[1].primary, 6);
        assert_eq!(shards[1].state_of(9), Some(ReplicaState::Listener));
    }
}
