//! Routing of point operations to shard replicas: one channel per data-plane
//! peer, the replicas a read asks at its consistency, and how their answers
//! are chosen from.

use std::sync::atomic::{AtomicUsize, Ordering};

use tessera_proto::common::ShardTarget;
use tessera_proto::data_plane as dp;
use tessera_types::{
    CollectionState, PeerId, ReadConsistency, ShardId, ShardPlacement, TesseraError, Topology,
};

pub use tessera_proto::peers::DataPlanes;

pub mod affinity;

pub fn target(topology: &Topology, collection: &CollectionState, shard: ShardId) -> ShardTarget {
    ShardTarget {
        collection: collection.name.clone(),
        incarnation: collection.incarnation,
        shard_id: shard,
        topology_version: topology.version,
    }
}

/// Which replicas of a shard a read asks, and how many must answer.
pub struct ReadPlan {
    /// Readable replicas, in the order to try them.
    pub replicas: Vec<PeerId>,
    /// Answers required.
    pub required: usize,
}

/// Spreads single-replica reads over a shard's replicas.
static NEXT_READ: AtomicUsize = AtomicUsize::new(0);

impl ReadPlan {
    /// Plans a read of `shard` at `consistency`. The count it needs is taken of
    /// every replica except listeners, in sync or not, so `all` with a replica
    /// down fails rather than answering from fewer. Replicas are tried in the
    /// order the request's route affinity gives, or else in turn.
    pub fn new(
        topology: &Topology,
        shard: &ShardPlacement,
        consistency: ReadConsistency,
    ) -> Result<ReadPlan, TesseraError> {
        let voting = topology.counted_replicas(shard).count();
        let required = consistency.required(voting)?;
        let mut replicas = shard.readable();
        if !replicas.is_empty() && !affinity::order(&mut replicas) {
            let start = NEXT_READ.fetch_add(1, Ordering::Relaxed) % replicas.len();
            replicas.rotate_left(start);
        }
        Ok(ReadPlan { replicas, required })
    }
}

/// A data-plane read reply, which says how far its replica had applied the
/// shard's operations: of several answers, the most advanced one is kept.
pub trait Applied {
    /// The last operation the answering replica had applied, as (epoch, seq):
    /// of two in-sync replicas, the greater has seen more of the shard's order.
    fn applied(&self) -> (u64, u64);
}

macro_rules! applied {
    ($($reply:ty),*) => {$(
        impl Applied for $reply {
            fn applied(&self) -> (u64, u64) {
                (self.applied_epoch, self.applied_seq)
            }
        }
    )*};
}

applied!(
    dp::SearchReply,
    dp::ScrollReply,
    dp::CountReply,
    dp::FacetReply,
    dp::RetrieveReply
);
