//! Routing of point operations to shard replicas: one channel per data-plane
//! peer, per-point shard selection, fan-out to every shard and merging.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::RwLock;
use tessera_proto::common::ShardTarget;
use tessera_proto::data_plane::data_plane_client::DataPlaneClient;
use tessera_types::{
    CollectionState, PeerId, ReplicaState, ShardId, ShardPlacement, TesseraError, Topology,
};
use tonic::transport::{Channel, Endpoint};

type Result<T> = std::result::Result<T, TesseraError>;

/// Channels to data-plane peers, opened lazily and reused.
#[derive(Default, Clone)]
pub struct DataPlanes {
    channels: Arc<RwLock<HashMap<(PeerId, String), Channel>>>,
}

impl DataPlanes {
    pub fn client(&self, topology: &Topology, peer: PeerId) -> Result<DataPlaneClient<Channel>> {
        let uri = topology
            .peers
            .get(&peer)
            .map(|p| p.uri.clone())
            .ok_or_else(|| {
                TesseraError::Unavailable(format!("peer {peer} is not in the topology"))
            })?;
        if let Some(channel) = self.channels.read().get(&(peer, uri.clone())) {
            return Ok(client(channel.clone()));
        }
        let channel = Endpoint::from_shared(uri.clone())
            .map_err(|e| TesseraError::internal(format!("bad peer uri {uri}: {e}")))?
            .connect_timeout(Duration::from_secs(2))
            .tcp_nodelay(true)
            .connect_lazy();
        self.channels.write().insert((peer, uri), channel.clone());
        Ok(client(channel))
    }
}

fn client(channel: Channel) -> DataPlaneClient<Channel> {
    DataPlaneClient::new(channel)
        .max_decoding_message_size(256 * 1024 * 1024)
        .max_encoding_message_size(256 * 1024 * 1024)
}

pub fn target(topology: &Topology, collection: &CollectionState, shard: ShardId) -> ShardTarget {
    ShardTarget {
        collection: collection.name.clone(),
        incarnation: collection.incarnation,
        shard_id: shard,
        topology_version: topology.version,
    }
}

/// Replicas that can serve reads, Active ones first.
pub fn readable_replicas(shard: &ShardPlacement) -> Vec<PeerId> {
    shard
        .replicas
        .iter()
        .filter(|r| r.state == ReplicaState::Active)
        .map(|r| r.peer_id)
        .collect()
}

/// Replicas that must receive writes.
pub fn updatable_replicas(shard: &ShardPlacement) -> Vec<PeerId> {
    shard
        .replicas
        .iter()
        .filter(|r| {
            matches!(
                r.state,
                ReplicaState::Active
                    | ReplicaState::Partial
                    | ReplicaState::Initializing
                    | ReplicaState::Listener
            )
        })
        .map(|r| r.peer_id)
        .collect()
}
