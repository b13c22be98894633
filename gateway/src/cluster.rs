//! The cluster as users see and change it: a collection's replicas and
//! transfers (`GET /collections/{c}/cluster`), the operations of
//! `POST /collections/{c}/cluster`, and removing data-plane peers.

use futures::future::join_all;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tessera_proto::control_plane as cp;
use tessera_proto::convert::to_msgpack;
use tessera_types::shard_client::RecoveryProgress;
use tessera_types::{
    ClusterOperation, CollectionState, CreateShardKey, DropShardKey, NodeType, ShardId, Topology,
};

use crate::service::{replica_call, Gateway, Result};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RemoteShardInfo {
    pub shard_id: ShardId,
    pub shard_key: Option<serde_json::Value>,
    pub peer_id: u64,
    pub state: tessera_types::ReplicaState,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LocalShardInfo {
    pub shard_id: ShardId,
    pub shard_key: Option<serde_json::Value>,
    pub points_count: u64,
    pub state: tessera_types::ReplicaState,
}

/// `GET /collections/{name}/cluster`. A gateway holds no shards, so every
/// replica is listed as remote, with the data-plane peer that holds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CollectionClusterInfo {
    pub peer_id: u64,
    pub shard_count: usize,
    pub local_shards: Vec<LocalShardInfo>,
    pub remote_shards: Vec<RemoteShardInfo>,
    pub shard_transfers: Vec<ShardTransferInfo>,
    /// Why the collection has fewer replicas than it asks for, when it does.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// A shard transfer, or a replica recovering by itself, in Qdrant's shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShardTransferInfo {
    pub shard_id: ShardId,
    pub from: u64,
    pub to: u64,
    /// `false` for a move (the source is dropped at the end).
    pub sync: bool,
    /// "wal_delta", "snapshot" or "stream_records".
    pub method: Option<String>,
    /// Stage and progress, e.g. "wal_delta: 1200 of 5000 operations (24%)".
    pub comment: Option<String>,
}

impl Gateway {
    pub async fn collection_cluster_info(&self, name: &str) -> Result<CollectionClusterInfo> {
        let (topology, collection) = self.collection(name)?;
        let status = self
            .topology()
            .call_repeatable(
                |mut c| async move { c.cluster_status(cp::ClusterStatusRequest {}).await },
            )
            .await
            .map(|s| s.into_inner().node_id)
            .unwrap_or_default();
        let shard_transfers = self.transfers(&topology, &collection).await;
        let warnings = replica_warnings(&topology, &collection);
        Ok(CollectionClusterInfo {
            peer_id: status,
            shard_count: collection.shards.len(),
            local_shards: Vec::new(),
            remote_shards: collection
                .shards
                .iter()
                .flat_map(|s| {
                    s.replicas.iter().map(|r| RemoteShardInfo {
                        shard_id: s.shard_id,
                        shard_key: s.shard_key.clone(),
                        peer_id: r.peer_id,
                        state: r.state,
                    })
                })
                .collect(),
            shard_transfers,
            warnings,
        })
    }

    /// Every transfer the control plane records, and every replica
    /// recovering by itself, with the progress its node reports.
    async fn transfers(
        &self,
        topology: &Topology,
        collection: &CollectionState,
    ) -> Vec<ShardTransferInfo> {
        let mut listed: Vec<ShardTransferInfo> = collection
            .transfers
            .iter()
            .map(|t| ShardTransferInfo {
                shard_id: t.shard_id,
                from: t.from,
                to: t.to,
                sync: t.sync,
                method: t.method.map(|m| m.as_str().to_string()),
                comment: None,
            })
            .collect();
        for shard in &collection.shards {
            for replica in shard.replicas.iter().filter(|r| r.state.is_recovering()) {
                if collection
                    .transfer_to(shard.shard_id, replica.peer_id)
                    .is_none()
                {
                    listed.push(ShardTransferInfo {
                        shard_id: shard.shard_id,
                        from: shard.primary,
                        to: replica.peer_id,
                        sync: true,
                        method: None,
                        comment: None,
                    });
                }
            }
        }
        join_all(listed.into_iter().map(|mut info| async move {
            let state = collection
                .shard(info.shard_id)
                .and_then(|s| s.state_of(info.to));
            let progress = match self.data_planes().shards(topology, info.to) {
                Ok(node) => node
                    .shard_stats(replica_call(topology, collection, info.shard_id), false)
                    .await
                    .ok()
                    .and_then(|stats| stats.recovery),
                Err(_) => None,
            };
            info.comment = Some(match (&progress, state) {
                (Some(p), _) => progress_comment(p),
                (None, Some(s)) if s.is_recovering() => "starting".to_string(),
                (None, Some(s)) => format!("waiting: the target replica is {s:?}"),
                (None, None) => "waiting for the target replica".to_string(),
            });
            if info.method.is_none() {
                info.method = progress.map(|p| p.method);
            }
            info
        }))
        .await
    }

    /// `POST /collections/{c}/cluster`: one move, replicate, drop, abort or
    /// restart. Returns once the topology that holds it is here; the
    /// transfer itself goes on in the background.
    pub async fn update_cluster_setup(
        &self,
        collection: &str,
        operation: ClusterOperation,
    ) -> Result<bool> {
        let (_, state) = self.collection(collection)?;
        let request = cp::UpdateClusterSetupRequest {
            collection: state.name,
            operation: to_msgpack(&operation),
        };
        self.change(request, |mut c, r| async move {
            c.update_cluster_setup(r).await
        })
        .await?;
        Ok(true)
    }

    /// `PUT /collections/{c}/shards`: a new shard key with its shards.
    pub async fn create_shard_key(
        &self,
        collection: &str,
        request: CreateShardKey,
    ) -> Result<bool> {
        self.update_cluster_setup(collection, ClusterOperation::CreateShardingKey(request))
            .await
    }

    /// `POST /collections/{c}/shards/delete`: a shard key and its shards, data included.
    pub async fn delete_shard_key(&self, collection: &str, shard_key: Value) -> Result<bool> {
        self.update_cluster_setup(
            collection,
            ClusterOperation::DropShardingKey(DropShardKey { shard_key }),
        )
        .await
    }

    /// `GET /collections/{c}/shards`: the shard keys (none under automatic sharding).
    pub fn list_shard_keys(&self, collection: &str) -> Result<Option<Vec<Value>>> {
        let (_, collection) = self.collection(collection)?;
        Ok(collection
            .is_custom_sharded()
            .then(|| collection.shard_keys()))
    }

    /// `DELETE /cluster/peer/{id}`: removes a data-plane peer. Refused while it
    /// holds shard replicas, unless `force`, which drops them.
    pub async fn remove_peer(&self, peer_id: u64, force: bool) -> Result<bool> {
        let request = cp::RemovePeerRequest { peer_id, force };
        let reply = self
            .change(request, |mut c, r| async move { c.remove_peer(r).await })
            .await?;
        Ok(reply.changed)
    }
}

/// Why a shard has fewer replicas on normal nodes than it asks for.
fn replica_warnings(topology: &Topology, collection: &CollectionState) -> Vec<String> {
    let normal_peers = topology
        .peers
        .values()
        .filter(|p| p.node_type == NodeType::Normal)
        .count();
    collection
        .shards
        .iter()
        .filter_map(|s| {
            let wanted = collection.replicas_wanted(s);
            let normal = topology.counted_replicas(s).count();
            (normal < wanted).then(|| {
                format!(
                    "shard {} has {normal} of {wanted} replicas: the cluster has {normal_peers} data nodes",
                    s.shard_id
                )
            })
        })
        .collect()
}

/// "wal_delta: 12,500 of 40,000 operations (31%), 5,200 operations/s", or
/// with bytes in MB for a snapshot.
fn progress_comment(p: &RecoveryProgress) -> String {
    if p.method == "queued" {
        return "queued: waiting for a free transfer slot on the target".to_string();
    }
    let percent = (p.done * 100).checked_div(p.total).unwrap_or(100);
    if p.method == "snapshot" {
        let mb = |bytes: f64| bytes / 1_000_000.0;
        format!(
            "snapshot: {:.1} of {:.1} MB ({percent}%), {:.1} MB/s",
            mb(p.done as f64),
            mb(p.total as f64),
            mb(p.rate_per_second)
        )
    } else {
        let unit = if p.method == "stream_records" {
            "points"
        } else {
            "operations"
        };
        format!(
            "{}: {} of {} {unit} ({percent}%), {} {unit}/s",
            p.method,
            thousands(p.done),
            thousands(p.total),
            thousands(p.rate_per_second as u64)
        )
    }
}

fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_reads_like_a_sentence() {
        let p = RecoveryProgress {
            method: "wal_delta".into(),
            done: 12_500,
            total: 40_000,
            rate_per_second: 5_200.4,
        };
        assert_eq!(
            progress_comment(&p),
            "wal_delta: 12,500 of 40,000 operations (31%), 5,200 operations/s"
        );
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000_000), "1,000,000");
    }
}
