//! Cluster views and operations: `CollectionClusterInfo` out, and
//! `UpdateCollectionClusterSetup` operations in.

use q::update_collection_cluster_setup_request::Operation;
use qdrant_client::qdrant as q;
use tessera_types as t;

use super::{bad_input, shard_key_from_proto, shard_key_to_proto, unsupported, Result};
use crate::cluster::CollectionClusterInfo;

fn replica_state_to_proto(state: t::ReplicaState) -> i32 {
    (match state {
        t::ReplicaState::Active => q::ReplicaState::Active,
        t::ReplicaState::Dead => q::ReplicaState::Dead,
        t::ReplicaState::Partial => q::ReplicaState::Partial,
        t::ReplicaState::Initializing => q::ReplicaState::Initializing,
        t::ReplicaState::Listener => q::ReplicaState::Listener,
        t::ReplicaState::Recovery => q::ReplicaState::Recovery,
        t::ReplicaState::ManualRecovery => q::ReplicaState::ManualRecovery,
    }) as i32
}

pub fn cluster_info_to_proto(
    info: CollectionClusterInfo,
    time: f64,
) -> q::CollectionClusterInfoResponse {
    q::CollectionClusterInfoResponse {
        peer_id: info.peer_id,
        shard_count: info.shard_count as u64,
        local_shards: info
            .local_shards
            .into_iter()
            .map(|s| q::LocalShardInfo {
                shard_id: s.shard_id,
                points_count: s.points_count,
                state: replica_state_to_proto(s.state),
                shard_key: s.shard_key.and_then(shard_key_to_proto),
            })
            .collect(),
        remote_shards: info
            .remote_shards
            .into_iter()
            .map(|s| q::RemoteShardInfo {
                shard_id: s.shard_id,
                peer_id: s.peer_id,
                state: replica_state_to_proto(s.state),
                shard_key: s.shard_key.and_then(shard_key_to_proto),
            })
            .collect(),
        shard_transfers: info
            .shard_transfers
            .into_iter()
            .map(|t| q::ShardTransferInfo {
                shard_id: t.shard_id,
                to_shard_id: None,
                from: t.from,
                to: t.to,
                sync: t.sync,
            })
            .collect(),
        resharding_operations: Vec::new(),
        time,
    }
}

fn method_from_proto(method: i32) -> Result<t::TransferMethod> {
    Ok(match q::ShardTransferMethod::try_from(method) {
        Ok(q::ShardTransferMethod::StreamRecords) => t::TransferMethod::StreamRecords,
        Ok(q::ShardTransferMethod::Snapshot) => t::TransferMethod::Snapshot,
        Ok(q::ShardTransferMethod::WalDelta) => t::TransferMethod::WalDelta,
        Ok(q::ShardTransferMethod::ReshardingStreamRecords) => {
            t::TransferMethod::ReshardingStreamRecords
        }
        Err(_) => return Err(bad_input(format!("unknown shard transfer method {method}"))),
    })
}

fn no_resharding(to_shard_id: Option<u32>) -> Result<()> {
    match to_shard_id {
        Some(_) => Err(bad_input(
            "to_shard_id is only used by resharding, which Tessera does not do",
        )),
        None => Ok(()),
    }
}

fn transfer_request(
    shard_id: u32,
    to_shard_id: Option<u32>,
    from_peer_id: u64,
    to_peer_id: u64,
    method: Option<i32>,
) -> Result<t::ShardTransferRequest> {
    no_resharding(to_shard_id)?;
    Ok(t::ShardTransferRequest {
        shard_id,
        from_peer_id,
        to_peer_id,
        method: method.map(method_from_proto).transpose()?,
    })
}

pub fn cluster_operation_from_proto(operation: Option<Operation>) -> Result<t::ClusterOperation> {
    Ok(match operation {
        Some(Operation::MoveShard(m)) => t::ClusterOperation::MoveShard(transfer_request(
            m.shard_id,
            m.to_shard_id,
            m.from_peer_id,
            m.to_peer_id,
            m.method,
        )?),
        Some(Operation::ReplicateShard(m)) => {
            t::ClusterOperation::ReplicateShard(transfer_request(
                m.shard_id,
                m.to_shard_id,
                m.from_peer_id,
                m.to_peer_id,
                m.method,
            )?)
        }
        Some(Operation::AbortTransfer(m)) => {
            no_resharding(m.to_shard_id)?;
            t::ClusterOperation::AbortTransfer(t::TransferKey {
                shard_id: m.shard_id,
                from_peer_id: m.from_peer_id,
                to_peer_id: m.to_peer_id,
            })
        }
        Some(Operation::RestartTransfer(m)) => {
            no_resharding(m.to_shard_id)?;
            t::ClusterOperation::RestartTransfer(t::RestartTransfer {
                shard_id: m.shard_id,
                from_peer_id: m.from_peer_id,
                to_peer_id: m.to_peer_id,
                method: method_from_proto(m.method)?,
            })
        }
        Some(Operation::DropReplica(m)) => t::ClusterOperation::DropReplica(t::ReplicaRef {
            shard_id: m.shard_id,
            peer_id: m.peer_id,
        }),
        Some(Operation::CreateShardKey(m)) => {
            t::ClusterOperation::CreateShardingKey(create_shard_key_from_proto(Some(m))?)
        }
        Some(Operation::DeleteShardKey(m)) => {
            t::ClusterOperation::DropShardingKey(t::DropShardKey {
                shard_key: delete_shard_key_from_proto(Some(m))?,
            })
        }
        Some(Operation::ReplicatePoints(_)) => {
            return Err(unsupported(
                "Replicating points between shard keys is not supported yet",
            ))
        }
        None => return Err(bad_input("an operation is required")),
    })
}

pub fn create_shard_key_from_proto(
    request: Option<q::CreateShardKey>,
) -> Result<t::CreateShardKey> {
    let request = request.ok_or_else(|| bad_input("the shard key request is missing"))?;
    if request.initial_state.is_some() {
        return Err(unsupported("initial_state of a shard key"));
    }
    let shard_key = request
        .shard_key
        .ok_or_else(|| bad_input("shard_key is required"))
        .and_then(shard_key_from_proto)?;
    Ok(t::CreateShardKey {
        shard_key,
        shards_number: request.shards_number,
        replication_factor: request.replication_factor,
        placement: (!request.placement.is_empty()).then_some(request.placement),
    })
}

pub fn delete_shard_key_from_proto(
    request: Option<q::DeleteShardKey>,
) -> Result<serde_json::Value> {
    request
        .and_then(|r| r.shard_key)
        .ok_or_else(|| bad_input("shard_key is required"))
        .and_then(shard_key_from_proto)
}
