//! Routing of point operations to shard replicas: one channel per data-plane
//! peer, a shard's address at a topology version, and route affinity (which
//! replica a client's reads prefer). Which replicas a read asks and which
//! answer wins is the replica set's (`crate::replica_set`).

use tessera_types::shard_client::ShardTarget;
use tessera_types::{CollectionState, ShardId, Topology};

pub use tessera_runtime::peers::DataPlanes;

pub mod affinity;

pub fn target(topology: &Topology, collection: &CollectionState, shard: ShardId) -> ShardTarget {
    ShardTarget {
        collection: collection.name.clone(),
        incarnation: collection.incarnation,
        shard_id: shard,
        topology_version: topology.version,
    }
}
