//! The operations a client can ask of Tessera, independent of REST or gRPC.
//! Both edges translate their requests into these calls.

mod collection_stats;
mod facet;
mod feedback;
mod formula;
mod fusion;
mod groups;
mod matrix;
mod mmr;
mod optimizations;
mod query;
mod rate_limit;
mod reads;
mod recommend;
mod strict_mode;
mod text_query;
mod writes;

pub use collection_stats::{CollectionStats, SegmentStats};
pub use facet::FacetRequest;
pub use feedback::{NaiveFeedback, RelevanceFeedback};
pub use groups::{GroupsRequest, PointGroup, WithLookup};
pub use matrix::{DistanceMatrix, MatrixPair, MatrixRequest};
pub use optimizations::{OptimizationLists, OptimizationsResponse};
pub use query::{
    Discover, Fusion, LookupFrom, Mmr, Prefetch, Query, QueryRequest, Recommend, RecommendStrategy,
    VectorInput, DEFAULT_MMR_DIVERSITY, DEFAULT_RRF_K,
};

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::join_all;
use serde::{Deserialize, Serialize};
use tessera_proto::control_plane as cp;
use tessera_proto::control_plane::control_plane_client::ControlPlaneClient;
use tessera_proto::convert::to_msgpack;
use tessera_runtime::internal_auth::InternalChannel;
use tessera_runtime::topology_watch::TopologyCache;
use tessera_types::shard_client::{
    ReplicaAnswer, ReplicaStats, ShardCall, ShardClient, ShardWrite,
};
use tessera_types::{
    CollectionConfig, CollectionState, CreateCollection, Filter, PayloadFieldSchema,
    PayloadSchemaType, Point, PointId, PointSelection, ReadConsistency, Record, ScoredPoint,
    ScrollRequest, ScrollResult, SearchParams, SearchRequest, ShardId, ShardKeySelector,
    ShardOperation, TesseraError, Topology, UpdateCollection, UpdateResult, UpdateStatus, Vector,
    WithPayload, WithVector,
};

use crate::routing::{target, DataPlanes};

pub(crate) type Result<T> = std::result::Result<T, TesseraError>;

/// How long one call to a data-plane replica may take.
const REPLICA_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a write (weak or medium ordering) waits for a new primary when the
/// shard's primary is unreachable.
const FAILOVER_WAIT: Duration = Duration::from_secs(15);

/// How a read picks its shards (`shard_key`, under custom sharding) and how
/// many replicas of each must answer (`consistency`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReadOptions {
    pub consistency: ReadConsistency,
    pub shard_key: Option<ShardKeySelector>,
    /// The caller's `timeout` in seconds: the read fails past it.
    pub timeout: Option<u64>,
}

impl ReadOptions {
    /// When the replicas' answers are due: at the caller's `timeout`, else
    /// within the time any replica call gets. A timeout too large to add to
    /// the clock is as good as none beyond that.
    pub fn deadline(&self) -> Instant {
        let now = Instant::now();
        let wait = self.timeout.map_or(REPLICA_TIMEOUT, Duration::from_secs);
        now.checked_add(wait)
            .unwrap_or_else(|| now + Duration::from_secs(u64::from(u32::MAX)))
    }
}

impl From<ReadConsistency> for ReadOptions {
    fn from(consistency: ReadConsistency) -> Self {
        ReadOptions {
            consistency,
            shard_key: None,
            timeout: None,
        }
    }
}

/// Write ordering guarantees (`?ordering=`); see the seed's "Write ordering".
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WriteOrdering {
    #[default]
    Weak,
    Medium,
    Strong,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CollectionStatus {
    Green,
    Yellow,
    Red,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CollectionInfo {
    pub status: CollectionStatus,
    pub optimizer_status: String,
    /// Settings that will be ignored, as Qdrant warns of them; omitted when none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<CollectionWarning>,
    pub indexed_vectors_count: u64,
    pub points_count: u64,
    pub segments_count: u64,
    pub config: CollectionConfig,
    pub payload_schema: BTreeMap<String, PayloadFieldInfo>,
    pub update_queue: UpdateQueue,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CollectionWarning {
    pub message: String,
}

/// Writes accepted but not yet applied. A data node applies a write before
/// it acknowledges it, so nothing waits in a queue.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UpdateQueue {
    pub length: u64,
}

/// An indexed payload field as collection info shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PayloadFieldInfo {
    pub data_type: PayloadSchemaType,
    /// The parameters the index was created with, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<serde_json::Value>,
    /// Points with a value for this field.
    pub points: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RaftInfo {
    pub term: u64,
    pub commit: u64,
    pub pending_operations: u64,
    pub leader: Option<u64>,
    pub role: Option<String>,
    pub is_voter: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PeerInfo {
    pub uri: String,
    /// The peer's failure zone, when it has one (a Tessera addition).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ControlPlaneMember {
    pub id: u64,
    pub uri: String,
    pub voter: bool,
}

/// `GET /cluster`, in Qdrant's shape plus the control-plane members.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClusterStatus {
    pub status: String,
    pub peer_id: u64,
    /// Data-plane peers by id.
    pub peers: BTreeMap<String, PeerInfo>,
    pub raft_info: RaftInfo,
    pub consensus_thread_status: serde_json::Value,
    pub message_send_failures: serde_json::Map<String, serde_json::Value>,
    pub control_plane: Vec<ControlPlaneMember>,
}

/// The gateway's view of the cluster and the operations it offers.
#[derive(Clone)]
pub struct Gateway {
    topology: TopologyCache,
    data_planes: DataPlanes,
    rate_limits: Arc<rate_limit::RateLimits>,
    stored_sizes: Arc<strict_mode::StoredSizes>,
}

impl Gateway {
    pub fn new(topology: TopologyCache, data_planes: DataPlanes) -> Self {
        Gateway {
            topology,
            data_planes,
            rate_limits: Default::default(),
            stored_sizes: Default::default(),
        }
    }

    pub fn is_ready(&self) -> bool {
        self.topology.is_ready()
    }

    pub(crate) fn topology(&self) -> &TopologyCache {
        &self.topology
    }

    pub(crate) fn data_planes(&self) -> &DataPlanes {
        &self.data_planes
    }

    /// The collection `name` names, directly or through an alias.
    pub(crate) fn collection(&self, name: &str) -> Result<(Arc<Topology>, CollectionState)> {
        let topology = self.topology.current();
        let collection = topology
            .resolve(name)
            .cloned()
            .ok_or_else(|| TesseraError::collection_not_found(name))?;
        Ok((topology, collection))
    }

    /// The name of the collection `name` names (itself, or an alias's target).
    fn collection_name(&self, name: &str) -> Result<String> {
        Ok(self.collection(name)?.1.name)
    }

    // ---- collections -------------------------------------------------------

    pub fn list_collections(&self) -> Vec<String> {
        self.topology
            .current()
            .collections
            .keys()
            .cloned()
            .collect()
    }

    pub fn collection_exists(&self, name: &str) -> bool {
        self.topology.current().resolve(name).is_some()
    }

    /// A collection other points are looked up in (`lookup_from`,
    /// `with_lookup`), refused in Qdrant's words when it does not exist.
    pub(crate) fn require_lookup_collection(&self, name: &str) -> Result<()> {
        if self.collection_exists(name) {
            Ok(())
        } else {
            Err(TesseraError::not_found(format!(
                "Collection {name} not found"
            )))
        }
    }

    /// Every shard's statistics, from one readable replica each.
    async fn shard_stats(
        &self,
        topology: &Arc<Topology>,
        collection: &CollectionState,
        with_payload_bytes: bool,
    ) -> Vec<Result<ReplicaStats>> {
        join_all(collection.shards.iter().map(|shard| async move {
            let peer = *shard.readable().first().ok_or_else(|| {
                TesseraError::Unavailable(format!("shard {} has no active replica", shard.shard_id))
            })?;
            let node = self.data_planes.shards(topology, peer)?;
            node.shard_stats(
                replica_call(topology, collection, shard.shard_id),
                with_payload_bytes,
            )
            .await
        }))
        .await
    }

    pub async fn collection_info(&self, name: &str) -> Result<CollectionInfo> {
        let (topology, collection) = self.collection(name)?;
        let replies = self.shard_stats(&topology, &collection, false).await;
        let mut info = CollectionInfo {
            status: CollectionStatus::Green,
            optimizer_status: "ok".into(),
            warnings: collection
                .config
                .warnings()
                .into_iter()
                .map(|message| CollectionWarning { message })
                .collect(),
            update_queue: UpdateQueue::default(),
            indexed_vectors_count: 0,
            points_count: 0,
            segments_count: 0,
            config: collection.config.clone(),
            payload_schema: collection
                .payload_schema
                .iter()
                .map(|(field, schema)| {
                    let info = PayloadFieldInfo {
                        data_type: schema.kind(),
                        params: schema.params(),
                        points: 0,
                    };
                    (field.clone(), info)
                })
                .collect(),
        };
        for reply in replies {
            match reply {
                Ok(ReplicaStats { stats, .. }) => {
                    info.points_count += stats.points_count;
                    info.indexed_vectors_count += stats.indexed_vectors_count;
                    info.segments_count += stats.segments_count;
                    if stats.optimizing && info.status == CollectionStatus::Green {
                        info.status = CollectionStatus::Yellow;
                    }
                    for (field, points) in stats.payload_points {
                        if let Some(field) = info.payload_schema.get_mut(&field) {
                            field.points += points;
                        }
                    }
                }
                // A collection whose shard cannot answer is degraded, not missing.
                Err(_) => info.status = CollectionStatus::Red,
            }
        }
        Ok(info)
    }

    /// Sends a topology change to the control plane and waits until this
    /// gateway's topology contains it, so the caller's next request sees it.
    pub(crate) async fn change<Req, F, Fut>(&self, request: Req, send: F) -> Result<cp::ChangeReply>
    where
        Req: Clone,
        F: Fn(ControlPlaneClient<InternalChannel>, Req) -> Fut,
        Fut: std::future::Future<
            Output = std::result::Result<tonic::Response<cp::ChangeReply>, tonic::Status>,
        >,
    {
        let reply = self
            .topology
            .call(|client| send(client, request.clone()))
            .await?
            .into_inner();
        self.topology
            .wait_for_version(reply.topology_version)
            .await?;
        Ok(reply)
    }

    pub async fn create_collection(&self, name: &str, request: CreateCollection) -> Result<()> {
        // The body is checked before the name is, as Qdrant checks it; the
        // control plane checks it again against the cluster it has.
        request.clone().into_config(1)?;
        let request = cp::CreateCollectionRequest {
            name: name.to_string(),
            request: to_msgpack(&request),
        };
        self.change(
            request,
            |mut c, r| async move { c.create_collection(r).await },
        )
        .await?;
        Ok(())
    }

    pub async fn update_collection(&self, name: &str, request: UpdateCollection) -> Result<()> {
        let request = cp::UpdateCollectionRequest {
            name: self.collection_name(name)?,
            request: to_msgpack(&request),
        };
        self.change(
            request,
            |mut c, r| async move { c.update_collection(r).await },
        )
        .await?;
        Ok(())
    }

    /// Returns whether the collection existed.
    pub async fn delete_collection(&self, name: &str) -> Result<bool> {
        let request = cp::DeleteCollectionRequest {
            name: name.to_string(),
        };
        let reply = self
            .change(
                request,
                |mut c, r| async move { c.delete_collection(r).await },
            )
            .await?;
        Ok(reply.changed)
    }

    /// Indexes a payload field. The data nodes build the index when they see
    /// the new topology; the call returns once this gateway has it.
    pub async fn create_payload_index(
        &self,
        collection: &str,
        field: &str,
        schema: PayloadFieldSchema,
    ) -> Result<UpdateResult> {
        match &schema {
            PayloadFieldSchema::Text(params) => params.validate()?,
            PayloadFieldSchema::Params(params) => params.validate()?,
            PayloadFieldSchema::Type(_) => {}
        }
        let (_, state) = self.collection(collection)?;
        if let Some(strict) = strict_mode::StrictMode::of(&state) {
            strict.payload_indexes(state.payload_schema.len())?;
        }
        let request = cp::CreatePayloadIndexRequest {
            collection: self.collection_name(collection)?,
            field_name: field.to_string(),
            field_schema: to_msgpack(&schema),
        };
        let reply = self
            .change(request, |mut c, r| async move {
                c.create_payload_index(r).await
            })
            .await?;
        Ok(completed(reply.topology_version))
    }

    pub async fn delete_payload_index(
        &self,
        collection: &str,
        field: &str,
    ) -> Result<UpdateResult> {
        let request = cp::DeletePayloadIndexRequest {
            collection: self.collection_name(collection)?,
            field_name: field.to_string(),
        };
        let reply = self
            .change(request, |mut c, r| async move {
                c.delete_payload_index(r).await
            })
            .await?;
        Ok(completed(reply.topology_version))
    }

    // ---- cluster -----------------------------------------------------------

    pub async fn cluster_status(&self) -> Result<ClusterStatus> {
        let status = self
            .topology
            .call_repeatable(
                |mut c| async move { c.cluster_status(cp::ClusterStatusRequest {}).await },
            )
            .await?
            .into_inner();
        let topology = self.topology.current();
        Ok(ClusterStatus {
            status: "enabled".into(),
            peer_id: status.node_id,
            peers: topology
                .peers
                .values()
                .map(|p| {
                    let info = PeerInfo {
                        uri: p.uri.clone(),
                        zone: p.zone.clone(),
                    };
                    (p.id.to_string(), info)
                })
                .collect(),
            raft_info: RaftInfo {
                term: status.term,
                commit: status.commit,
                pending_operations: status.pending_operations,
                leader: status.leader,
                role: Some(status.role),
                is_voter: status.is_voter,
            },
            consensus_thread_status: serde_json::json!({
                "consensus_thread_status": "working",
                "last_update": tessera_types::time::UtcDateTime::now().rfc3339(),
            }),
            message_send_failures: Default::default(),
            control_plane: status
                .members
                .into_iter()
                .map(|m| ControlPlaneMember {
                    id: m.id,
                    uri: m.uri,
                    voter: m.voter,
                })
                .collect(),
        })
    }

    /// `DELETE /cluster/control-plane/{id}`: removes a control-plane member;
    /// returns the members left.
    pub async fn remove_control_plane_member(
        &self,
        node_id: u64,
    ) -> Result<Vec<ControlPlaneMember>> {
        let request = cp::RemoveMemberRequest { node_id };
        let reply = self
            .topology
            .call(|mut c| async move { c.remove_member(request).await })
            .await?
            .into_inner();
        Ok(reply
            .members
            .into_iter()
            .map(|m| ControlPlaneMember {
                id: m.id,
                uri: m.uri,
                voter: m.voter,
            })
            .collect())
    }

    /// `POST /cluster/recover`: the control-plane leader snapshots its state
    /// machine (a consensus checkpoint), which lets it purge its log.
    pub async fn checkpoint(&self) -> Result<bool> {
        self.topology
            .call(|mut c| async move { c.checkpoint(cp::CheckpointRequest {}).await })
            .await?;
        Ok(true)
    }
}

/// A call on `shard`'s replica, answered within the time any replica call gets.
pub(crate) fn replica_call(
    topology: &Topology,
    collection: &CollectionState,
    shard: ShardId,
) -> ShardCall {
    ShardCall {
        target: target(topology, collection, shard),
        deadline: replica_deadline(),
    }
}

/// When a call to a replica, made now, is given up.
pub(crate) fn replica_deadline() -> Instant {
    Instant::now() + REPLICA_TIMEOUT
}

fn completed(operation_id: u64) -> UpdateResult {
    UpdateResult {
        operation_id: Some(operation_id),
        status: UpdateStatus::Completed,
    }
}
