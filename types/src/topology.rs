//! The cluster as the control plane records it and everyone else watches it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::collection::CollectionConfig;

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
    /// The failure zone the node says it is in (`--zone`): replicas of a shard
    /// go to distinct zones while there are enough of them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone: Option<String>,
}

/// Where a shard replica stands. Each state answers, through its predicates,
/// what the replica may do; every service asks these, never the variants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReplicaState {
    /// In sync: serves reads, receives every write, may be primary.
    Active,
    /// Missed writes (or its node is gone): neither read nor written until recovered.
    Dead,
    /// Caught up except for a tail it is still fetching; receives every new write.
    Partial,
    /// Being created with its collection; receives writes, serves no reads.
    Initializing,
    /// On a listener node and in sync: receives every write, serves no reads.
    Listener,
    /// Fetching what it missed from the primary (WAL delta or snapshot); no writes yet.
    Recovery,
    /// Waiting for (or taking) a user's snapshot restore: its shard's writes are
    /// fenced, it serves nothing, and it stays so until a restore ends, even one
    /// a crash interrupted (the user recovers the snapshot again), as in Qdrant.
    ManualRecovery,
}

impl ReplicaState {
    /// Whether reads may be served from this replica.
    pub fn is_readable(self) -> bool {
        self == ReplicaState::Active
    }

    /// Whether the primary must forward every write to this replica (and so
    /// whether a failure to apply one takes it out of sync).
    pub fn is_updatable(self) -> bool {
        matches!(
            self,
            ReplicaState::Active
                | ReplicaState::Partial
                | ReplicaState::Initializing
                | ReplicaState::Listener
        )
    }

    /// Whether this replica holds every acknowledged write, so it can be
    /// promoted to primary or serve as a transfer source.
    pub fn is_source_of_truth(self) -> bool {
        self == ReplicaState::Active
    }

    /// Whether a copy applied here counts toward `write_consistency_factor`.
    pub fn counts_for_writes(self) -> bool {
        self == ReplicaState::Active
    }

    /// Whether this replica needs a recovery transfer before it is in sync.
    pub fn is_recovering(self) -> bool {
        matches!(self, ReplicaState::Recovery | ReplicaState::Partial)
    }

    /// Whether a user's snapshot restore replaces this replica's data: it
    /// holds the shard's data now, or a restore already began on it. Any other
    /// replica is out of sync afterwards and recovers from a restored one.
    pub fn takes_a_restore(self) -> bool {
        matches!(
            self,
            ReplicaState::Active | ReplicaState::Listener | ReplicaState::ManualRecovery
        )
    }

    /// The state an in-sync replica has on a node of `node_type`.
    pub fn in_sync_on(node_type: NodeType) -> ReplicaState {
        match node_type {
            NodeType::Normal => ReplicaState::Active,
            NodeType::Listener => ReplicaState::Listener,
        }
    }
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
    /// The replica that orders the shard's writes; always an Active one.
    pub primary: PeerId,
    /// Grows by one each time another replica becomes primary; writes carry it,
    /// so a deposed primary's writes are refused.
    pub epoch: u64,
    /// Replicas this shard keeps, when a user replicated or dropped one by hand;
    /// otherwise the collection's `replication_factor`. Cleared when that changes.
    #[serde(default)]
    pub replication_factor: Option<u32>,
}

impl ShardPlacement {
    pub fn replica(&self, peer_id: PeerId) -> Option<&Replica> {
        self.replicas.iter().find(|r| r.peer_id == peer_id)
    }

    pub fn state_of(&self, peer_id: PeerId) -> Option<ReplicaState> {
        self.replica(peer_id).map(|r| r.state)
    }

    /// Peers whose replica serves reads.
    pub fn readable(&self) -> Vec<PeerId> {
        self.replicas
            .iter()
            .filter(|r| r.state.is_readable())
            .map(|r| r.peer_id)
            .collect()
    }
}

/// An operation's identity in its shard: the primary's epoch and the shard's
/// sequence number. Every replica applies a shard's operations in `seq` order,
/// and a point's version is the `seq` of the operation that last wrote it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct OpId {
    pub epoch: u64,
    pub seq: u64,
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
    /// Shard transfers in progress.
    #[serde(default)]
    pub transfers: Vec<crate::transfer::ShardTransfer>,
    /// How point ids map to shards; `Modulo` for collections recorded before
    /// the ring existed.
    #[serde(default)]
    pub routing: crate::routing::ShardRouting,
}

impl CollectionState {
    pub fn shard(&self, shard_id: ShardId) -> Option<&ShardPlacement> {
        self.shards.iter().find(|s| s.shard_id == shard_id)
    }

    /// The transfer of `shard_id` to `to`, if one is in progress.
    pub fn transfer_to(
        &self,
        shard_id: ShardId,
        to: PeerId,
    ) -> Option<&crate::transfer::ShardTransfer> {
        self.transfers
            .iter()
            .find(|t| t.shard_id == shard_id && t.to == to)
    }

    /// How many replicas `shard` should have.
    pub fn replicas_wanted(&self, shard: &ShardPlacement) -> usize {
        shard
            .replication_factor
            .unwrap_or(self.config.params.replication_factor) as usize
    }
}

/// Everything the control plane owns, at one version. The version grows by one
/// with every applied change, so watchers can tell which copy is newer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Topology {
    pub version: u64,
    pub peers: BTreeMap<PeerId, Peer>,
    pub collections: BTreeMap<String, CollectionState>,
    /// Collection aliases: alias name to collection name.
    #[serde(default)]
    pub aliases: BTreeMap<String, String>,
    /// Peers removed with `DELETE /cluster/peer/{id}`: they may not register
    /// again under that id. Kept by the control plane only (not streamed).
    #[serde(default)]
    pub removed_peers: std::collections::BTreeSet<PeerId>,
    /// The node-wide resource quota (`PUT /quotas`): one config for the
    /// cluster, each data node enforcing it on its own memory and disk.
    #[serde(default)]
    pub quota: crate::quota::QuotaConfig,
}

impl Topology {
    pub fn data_peers(&self) -> impl Iterator<Item = &Peer> {
        self.peers.values()
    }

    /// The zone of each data peer that has one.
    pub fn zones(&self) -> BTreeMap<PeerId, String> {
        self.peers
            .values()
            .filter_map(|p| Some((p.id, p.zone.clone()?)))
            .collect()
    }

    pub fn is_listener(&self, peer: PeerId) -> bool {
        self.peers
            .get(&peer)
            .is_some_and(|p| p.node_type == NodeType::Listener)
    }

    /// Replicas of `shard` not on listener nodes: what `replication_factor`
    /// and read consistency count.
    pub fn counted_replicas<'a>(
        &'a self,
        shard: &'a ShardPlacement,
    ) -> impl Iterator<Item = &'a Replica> + 'a {
        shard
            .replicas
            .iter()
            .filter(|r| !self.is_listener(r.peer_id))
    }
}

/// A compare-and-set of one replica's state: applied only while the replica
/// is still in `from`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicaStateChange {
    pub collection: String,
    pub incarnation: u64,
    pub shard_id: ShardId,
    pub peer_id: PeerId,
    pub from: ReplicaState,
    pub to: ReplicaState,
}
