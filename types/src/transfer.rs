//! Shard transfers and the cluster operations that start, restart and stop
//! them (`POST /collections/{c}/cluster`), in Qdrant's shapes.

use serde::{Deserialize, Serialize};

use crate::error::TesseraError;
use crate::topology::{PeerId, ShardId};

/// How a transfer's target gets the shard's data from the primary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TransferMethod {
    /// The primary's points in batches with their versions (as of one
    /// operation), then the operations after it. The target builds its own
    /// indexes.
    StreamRecords,
    /// A snapshot of the primary's shard, then the operations after it.
    Snapshot,
    /// Only the operations the target lacks, from the primary's WAL; a
    /// snapshot when the WAL no longer holds them.
    WalDelta,
    /// Qdrant's resharding transfer; refused (Tessera does not reshard).
    ReshardingStreamRecords,
}

impl TransferMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            TransferMethod::StreamRecords => "stream_records",
            TransferMethod::Snapshot => "snapshot",
            TransferMethod::WalDelta => "wal_delta",
            TransferMethod::ReshardingStreamRecords => "resharding_stream_records",
        }
    }

    /// Refuses the methods a user may not ask for.
    pub fn check(self) -> Result<Self, TesseraError> {
        match self {
            TransferMethod::ReshardingStreamRecords => Err(TesseraError::bad_input(
                "Transfer method resharding_stream_records is only used by resharding, which Tessera does not do",
            )),
            method => Ok(method),
        }
    }
}

/// A shard being copied to a peer, as the control plane records it. The
/// target holds a replica that recovers from the shard's primary; when it is
/// in sync the transfer ends, and a move then drops the source replica.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardTransfer {
    pub shard_id: ShardId,
    pub from: PeerId,
    pub to: PeerId,
    /// `true` for replicate (the source stays), `false` for move.
    pub sync: bool,
    /// `None`: the target node's configured default.
    pub method: Option<TransferMethod>,
}

/// `{shard_id, from_peer_id, to_peer_id, method?}` of move and replicate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ShardTransferRequest {
    pub shard_id: ShardId,
    pub from_peer_id: PeerId,
    pub to_peer_id: PeerId,
    #[serde(default)]
    pub method: Option<TransferMethod>,
}

/// `{shard_id, from_peer_id, to_peer_id}` of abort.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TransferKey {
    pub shard_id: ShardId,
    pub from_peer_id: PeerId,
    pub to_peer_id: PeerId,
}

/// `{shard_id, from_peer_id, to_peer_id, method}` of restart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RestartTransfer {
    pub shard_id: ShardId,
    pub from_peer_id: PeerId,
    pub to_peer_id: PeerId,
    pub method: TransferMethod,
}

/// `{shard_id, peer_id}` of drop_replica.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplicaRef {
    pub shard_id: ShardId,
    pub peer_id: PeerId,
}

/// The body of `POST /collections/{c}/cluster`: exactly one operation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum ClusterOperation {
    MoveShard(ShardTransferRequest),
    ReplicateShard(ShardTransferRequest),
    AbortTransfer(TransferKey),
    RestartTransfer(RestartTransfer),
    DropReplica(ReplicaRef),
    CreateShardingKey(crate::sharding::CreateShardKey),
    DropShardingKey(crate::sharding::DropShardKey),
}

impl ClusterOperation {
    /// Checks what can be checked without the topology.
    pub fn validate(&self) -> Result<(), TesseraError> {
        let (from, to, method) = match self {
            ClusterOperation::MoveShard(r) | ClusterOperation::ReplicateShard(r) => {
                (r.from_peer_id, r.to_peer_id, r.method)
            }
            ClusterOperation::RestartTransfer(r) => (r.from_peer_id, r.to_peer_id, Some(r.method)),
            ClusterOperation::CreateShardingKey(request) => return request.validate(),
            ClusterOperation::DropShardingKey(request) => {
                return crate::sharding::check_shard_key(&request.shard_key)
            }
            ClusterOperation::AbortTransfer(_) | ClusterOperation::DropReplica(_) => return Ok(()),
        };
        if from == to {
            return Err(TesseraError::bad_input(format!(
                "Source and target peer are the same ({from}): the shard is already there"
            )));
        }
        if let Some(method) = method {
            method.check()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_read_qdrant_bodies() {
        let op: ClusterOperation = serde_json::from_str(
            r#"{"move_shard": {"shard_id": 0, "from_peer_id": 1, "to_peer_id": 2, "method": "snapshot"}}"#,
        )
        .unwrap();
        assert_eq!(
            op,
            ClusterOperation::MoveShard(ShardTransferRequest {
                shard_id: 0,
                from_peer_id: 1,
                to_peer_id: 2,
                method: Some(TransferMethod::Snapshot),
            })
        );
        let op: ClusterOperation =
            serde_json::from_str(r#"{"drop_replica": {"shard_id": 3, "peer_id": 9}}"#).unwrap();
        assert!(matches!(op, ClusterOperation::DropReplica(r) if r.peer_id == 9));
        assert!(
            serde_json::from_str::<ClusterOperation>(r#"{"move_shard": {"shard_id": 0}}"#).is_err()
        );
        assert!(serde_json::from_str::<ClusterOperation>(
            r#"{"replicate_shard": {"shard_id": 0, "from_peer_id": 1, "to_peer_id": 1}}"#
        )
        .unwrap()
        .validate()
        .is_err());
    }
}
