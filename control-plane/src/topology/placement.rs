//! Deterministic shard placement.

use tessera_types::{PeerId, Replica, ReplicaState, ShardId, ShardPlacement};

/// Places shard `i` on `peers[(i + r) % n]` for each replica `r`, so shards
/// spread round-robin and no peer holds two replicas of one shard. `peers` must
/// be sorted (every node then computes the same placement) and non-empty.
pub fn place_shards(
    peers: &[PeerId],
    shard_number: u32,
    replication_factor: u32,
) -> Vec<ShardPlacement> {
    let n = peers.len();
    let replicas = (replication_factor as usize).min(n);
    (0..shard_number)
        .map(|shard_id: ShardId| ShardPlacement {
            shard_id,
            shard_key: None,
            replicas: (0..replicas)
                .map(|r| Replica {
                    peer_id: peers[(shard_id as usize + r) % n],
                    state: ReplicaState::Active,
                })
                .collect(),
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
        let shards = place_shards(&[10, 20, 30], 4, 2);
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
        let shards = place_shards(&[5, 6], 2, 3);
        assert_eq!(peers_of(&shards[0]), vec![5, 6]);
        assert_eq!(peers_of(&shards[1]), vec![6, 5]);
    }
}
