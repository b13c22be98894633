//! Deterministic shard placement.

use std::collections::{BTreeMap, BTreeSet};

use tessera_types::{PeerId, Replica, ReplicaState, ShardId, ShardPlacement};

/// `peers` reordered so that zones alternate (the first peer of each zone,
/// then the second of each, ...): neighbours on the ring are then in distinct
/// zones, and round robin over it spreads both shards and zones. A peer
/// without a zone counts as a zone of its own. Without zones, `peers` as given.
fn zone_ring(peers: &[PeerId], zones: &BTreeMap<PeerId, String>) -> Vec<PeerId> {
    let mut by_zone: BTreeMap<(Option<&str>, PeerId), Vec<PeerId>> = BTreeMap::new();
    for &peer in peers {
        let key = match zones.get(&peer) {
            Some(zone) => (Some(zone.as_str()), 0),
            None => (None, peer),
        };
        by_zone.entry(key).or_default().push(peer);
    }
    let deepest = by_zone.values().map(Vec::len).max().unwrap_or(0);
    (0..deepest)
        .flat_map(|i| {
            by_zone
                .values()
                .filter_map(move |group| group.get(i).copied())
        })
        .collect()
}

/// The peers shard `shard_id`'s `replicas` copies go to: walking `ring` round
/// robin from `ring[shard_id % n]` (the primary), the next peer of a zone not
/// yet used, then, when zones run out, the next peers in turn.
fn replica_peers(
    ring: &[PeerId],
    zones: &BTreeMap<PeerId, String>,
    shard_id: ShardId,
    replicas: usize,
) -> Vec<PeerId> {
    let (peers, n) = (ring, ring.len());
    let walk = || (0..n).map(|k| peers[(shard_id as usize + k) % n]);
    let mut chosen: Vec<PeerId> = Vec::with_capacity(replicas);
    let mut used: BTreeSet<&str> = BTreeSet::new();
    for distinct_zones in [true, false] {
        for peer in walk() {
            if chosen.len() == replicas {
                return chosen;
            }
            let zone = zones.get(&peer).map(String::as_str);
            if chosen.contains(&peer) || (distinct_zones && zone.is_some_and(|z| used.contains(z)))
            {
                continue;
            }
            chosen.push(peer);
            used.extend(zone);
        }
    }
    chosen
}

/// Places shard `i` on `peers[(i + r) % n]` for each replica `r`, so shards
/// spread round-robin and no peer holds two replicas of one shard; the first
/// replica is the primary. With `zones`, peers are walked in an order that
/// alternates zones, and a replica skips peers of zones the shard already has
/// while other zones remain. Every listener gets a replica
/// of every shard on top. `peers` must be sorted (every node then computes the
/// same placement) and non-empty.
pub fn place_shards(
    peers: &[PeerId],
    zones: &BTreeMap<PeerId, String>,
    listeners: &[PeerId],
    shard_number: u32,
    replication_factor: u32,
) -> Vec<ShardPlacement> {
    let n = peers.len();
    let replicas = (replication_factor as usize).min(n);
    let ring = zone_ring(peers, zones);
    (0..shard_number)
        .map(|shard_id: ShardId| {
            let normal = replica_peers(&ring, zones, shard_id, replicas)
                .into_iter()
                .map(|peer_id| Replica {
                    peer_id,
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
                primary: ring[shard_id as usize % n],
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
        let shards = place_shards(&[10, 20, 30], &BTreeMap::new(), &[], 4, 2);
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
        let shards = place_shards(&[5, 6], &BTreeMap::new(), &[9], 2, 3);
        assert_eq!(peers_of(&shards[0]), vec![5, 6, 9]);
        assert_eq!(peers_of(&shards[1]), vec![6, 5, 9]);
        assert_eq!(shards[1].primary, 6);
        assert_eq!(shards[1].state_of(9), Some(ReplicaState::Listener));
    }

    #[test]
    fn replicas_of_a_shard_go_to_distinct_zones_while_there_are_enough() {
        let zones: BTreeMap<PeerId, String> = [(1, "a"), (2, "a"), (3, "b"), (4, "b")]
            .into_iter()
            .map(|(p, z)| (p, z.to_string()))
            .collect();
        let shards = place_shards(&[1, 2, 3, 4], &zones, &[], 4, 2);
        let placed: Vec<_> = shards.iter().map(peers_of).collect();
        // The ring is 1 (a), 3 (b), 2 (a), 4 (b): two copies each, one per zone.
        assert_eq!(placed, vec![vec![1, 3], vec![3, 2], vec![2, 4], vec![4, 1]]);
        // Three copies over two zones: the third goes wherever is next.
        let shards = place_shards(&[1, 2, 3, 4], &zones, &[], 1, 3);
        assert_eq!(peers_of(&shards[0]), vec![1, 3, 2]);
    }
}
