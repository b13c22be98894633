//! The cluster as the control plane records it and everyone else watches it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::collection::CollectionConfig;
use crate::point::PointId;

pub type PeerId = u64;
pub type ShardId = u32;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum NodeType {
    #[default]
    Normal,
    /// Receives writes but serves no searches.
    Listener,
}

/// A data-plane node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Peer {
    pub id: PeerId,
    pub uri: String,
    pub node_type: NodeType,
    /// Milliseconds since the Unix epoch of the last heartbeat the control plane saw.
    pub last_heartbeat_ms: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReplicaState {
    Active,
    Dead,
    Partial,
    Initializing,
    Listener,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Replica {
    pub peer_id: PeerId,
    pub state: ReplicaState,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShardPlacement {
    pub shard_id: ShardId,
    pub shard_key: Option<serde_json::Value>,
    pub replicas: Vec<Replica>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CollectionState {
    pub name: String,
    /// Distinguishes a collection from an earlier one of the same name (the Raft
    /// log index that created it), so a recreated collection never sees old data.
    pub incarnation: u64,
    pub config: CollectionConfig,
    pub shards: Vec<ShardPlacement>,
    /// Payload fields with an index.
    #[serde(default)]
    pub payload_schema: crate::collection::PayloadSchema,
}

impl CollectionState {
    /// The shard a point lives on under automatic sharding.
    pub fn shard_for(&self, id: &PointId) -> ShardId {
        let n = self.shards.len().max(1) as u64;
        self.shards[(id.shard_hash() % n) as usize].shard_id
    }

    pub fn shard(&self, shard_id: ShardId) -> Option<&ShardPlacement> {
        self.shards.iter().find(|s| s.shard_id == shard_id)
    }
}

/// Everything the control plane owns, at one version. The version grows by one
/// with every applied change, so watchers can tell which copy is newer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Topology {
    pub version: u64,
    pub peers: BTreeMap<PeerId, Peer>,
    pub collections: BTreeMap<String, CollectionState>,
}

impl Topology {
    pub fn data_peers(&self) -> impl Iterator<Item = &Peer> {
        self.peers.values()
    }
}
