//! Which shard a point of an automatically sharded collection lives on.
//!
//! Collections created by this version use a hash ring with
//! `RING_POINTS_PER_SHARD` points per shard, so adding a shard would move only
//! the points the new shard takes over; collections created before it keep
//! `hash % shards`, recorded as `Modulo`, so their points stay where they are.

use serde::{Deserialize, Serialize};

use crate::point::PointId;
use crate::topology::{CollectionState, ShardId};

/// Points each shard owns on the ring.
pub const RING_POINTS_PER_SHARD: u64 = 100;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ShardRouting {
    /// `hash(id) % shards`: collections created before the ring.
    #[default]
    Modulo,
    /// Consistent hashing over a ring of points per shard.
    Ring,
}

/// SplitMix64's finalizer: spreads a 64-bit value over the ring.
fn mix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// Routes point ids to the shards of one collection (or of one shard key's
/// shards); built once per request.
pub enum ShardRouter {
    Modulo(Vec<ShardId>),
    /// Ring positions, sorted, with the shard that owns each.
    Ring(Vec<(u64, ShardId)>),
}

impl ShardRouter {
    pub fn new(routing: ShardRouting, shards: &[ShardId]) -> ShardRouter {
        match routing {
            ShardRouting::Modulo => ShardRouter::Modulo(shards.to_vec()),
            ShardRouting::Ring => {
                let mut ring: Vec<(u64, ShardId)> = shards
                    .iter()
                    .flat_map(|&shard| {
                        (0..RING_POINTS_PER_SHARD)
                            .map(move |i| (mix(((shard as u64) << 32) | i), shard))
                    })
                    .collect();
                ring.sort_unstable();
                ShardRouter::Ring(ring)
            }
        }
    }

    pub fn shard_for(&self, id: &PointId) -> ShardId {
        match self {
            ShardRouter::Modulo(shards) => shards[(id.shard_hash() % shards.len() as u64) as usize],
            ShardRouter::Ring(ring) => {
                let at = mix(id.shard_hash());
                let i = ring.partition_point(|(position, _)| *position < at);
                ring[i % ring.len()].1
            }
        }
    }
}

impl CollectionState {
    /// The router for this collection's shards (all of them, or those of the
    /// shard key it was narrowed to).
    pub fn router(&self) -> ShardRouter {
        let shards: Vec<ShardId> = self.shards.iter().map(|s| s.shard_id).collect();
        ShardRouter::new(self.routing, &shards)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owners(router: &ShardRouter) -> Vec<ShardId> {
        (0..10_000u64)
            .map(|i| router.shard_for(&PointId::Num(i)))
            .collect()
    }

    #[test]
    fn a_new_shard_takes_points_only_from_the_others() {
        let three = owners(&ShardRouter::new(ShardRouting::Ring, &[0, 1, 2]));
        let four = owners(&ShardRouter::new(ShardRouting::Ring, &[0, 1, 2, 3]));
        let moved = three.iter().zip(&four).filter(|(a, b)| a != b).count();
        // Every moved point went to the new shard, about a quarter of them.
        assert!(three.iter().zip(&four).all(|(a, b)| a == b || *b == 3));
        assert!((1_500..3_500).contains(&moved), "{moved} of 10,000 moved");
        // Modulo would have moved about three quarters.
        let modulo3 = owners(&ShardRouter::new(ShardRouting::Modulo, &[0, 1, 2]));
        let modulo4 = owners(&ShardRouter::new(ShardRouting::Modulo, &[0, 1, 2, 3]));
        assert!(modulo3.iter().zip(&modulo4).filter(|(a, b)| a != b).count() > 6_000);
    }

    #[test]
    fn shards_get_similar_shares() {
        let owned = owners(&ShardRouter::new(ShardRouting::Ring, &[0, 1, 2]));
        for shard in 0..3 {
            let share = owned.iter().filter(|s| **s == shard).count();
            assert!((2_300..4_400).contains(&share), "shard {shard}: {share}");
        }
    }

    #[test]
    fn collections_from_before_the_ring_keep_their_routing() {
        let router = ShardRouter::new(ShardRouting::Modulo, &[0, 1, 2]);
        let id = PointId::Num(42);
        assert_eq!(router.shard_for(&id), (id.shard_hash() % 3) as ShardId);
    }
}
