//! The operations a client can ask of Tessera, independent of REST or gRPC.
//! Both edges translate their requests into these calls.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use futures::future::join_all;
use serde::{Deserialize, Serialize};
use tessera_proto::common::ShardTarget;
use tessera_proto::control_plane as cp;
use tessera_proto::control_plane::control_plane_client::ControlPlaneClient;
use tessera_proto::convert::{selectors_to_proto, status_to_error, to_json};
use tessera_proto::data_plane as dp;
use tessera_proto::data_plane::data_plane_client::DataPlaneClient;
use tessera_types::{
    CollectionConfig, CollectionState, CreateCollection, Filter, PayloadSchemaType, Point, PointId,
    PointSelection, ReadConsistency, Record, ScoredPoint, ScrollRequest, ScrollResult,
    SearchParams, SearchRequest, ShardId, ShardKeySelector, ShardOperation, TesseraError, Topology,
    UpdateCollection, UpdateResult, UpdateStatus, WithPayload, WithVector,
};
use tonic::transport::Channel;

use crate::routing::{target, Applied, DataPlanes, ReadPlan};
use tessera_proto::topology_watch::{is_transport_failure, TopologyCache};

pub(crate) type Result<T> = std::result::Result<T, TesseraError>;

/// How long one call to a data-plane replica may take.
const REPLICA_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a write (weak or medium ordering) waits for a new primary when the
/// shard's primary is unreachable.
const FAILOVER_WAIT: Duration = Duration::from_secs(15);

/// What a query asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Query {
    /// Nearest neighbours of this vector.
    Nearest(Vec<f32>),
    /// Nearest neighbours of the stored vector of this point.
    NearestToPoint(PointId),
}

/// A universal query (`points/query`); without `query` it lists points by id.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryRequest {
    pub query: Option<Query>,
    pub using: String,
    pub filter: Option<Filter>,
    pub limit: usize,
    pub offset: usize,
    pub with_payload: WithPayload,
    pub with_vector: WithVector,
    pub score_threshold: Option<f32>,
    pub params: SearchParams,
}

/// How a read picks its shards (`shard_key`, under custom sharding) and how
/// many replicas of each must answer (`consistency`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReadOptions {
    pub consistency: ReadConsistency,
    pub shard_key: Option<ShardKeySelector>,
}

impl From<ReadConsistency> for ReadOptions {
    fn from(consistency: ReadConsistency) -> Self {
        ReadOptions {
            consistency,
            shard_key: None,
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
    pub indexed_vectors_count: u64,
    pub points_count: u64,
    pub segments_count: u64,
    pub config: CollectionConfig,
    pub payload_schema: BTreeMap<String, PayloadFieldInfo>,
}

/// An indexed payload field as collection info shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PayloadFieldInfo {
    pub data_type: PayloadSchemaType,
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
}

impl Gateway {
    pub fn new(topology: TopologyCache) -> Self {
        Gateway {
            topology,
            data_planes: DataPlanes::default(),
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

    pub(crate) fn collection(&self, name: &str) -> Result<(Arc<Topology>, CollectionState)> {
        let topology = self.topology.current();
        let collection = topology
            .collections
            .get(name)
            .cloned()
            .ok_or_else(|| TesseraError::collection_not_found(name))?;
        Ok((topology, collection))
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
        self.topology.current().collections.contains_key(name)
    }

    pub async fn collection_info(&self, name: &str) -> Result<CollectionInfo> {
        let (topology, collection) = self.collection(name)?;
        let replies = join_all(collection.shards.iter().map(|shard| {
            let topology = topology.clone();
            let collection = &collection;
            async move {
                let peer = *shard.readable().first().ok_or_else(|| {
                    TesseraError::Unavailable(format!(
                        "shard {} has no active replica",
                        shard.shard_id
                    ))
                })?;
                let mut client = self.data_planes.client(&topology, peer)?;
                let request = dp::ShardStatsRequest {
                    target: Some(target(&topology, collection, shard.shard_id)),
                };
                call(client.shard_stats(request)).await
            }
        }))
        .await;
        let mut info = CollectionInfo {
            status: CollectionStatus::Green,
            optimizer_status: "ok".into(),
            indexed_vectors_count: 0,
            points_count: 0,
            segments_count: 0,
            config: collection.config.clone(),
            payload_schema: collection
                .payload_schema
                .iter()
                .map(|(field, data_type)| {
                    let info = PayloadFieldInfo {
                        data_type: *data_type,
                        points: 0,
                    };
                    (field.clone(), info)
                })
                .collect(),
        };
        for reply in replies {
            match reply {
                Ok(stats) => {
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
        F: Fn(ControlPlaneClient<Channel>, Req) -> Fut,
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
        let request = cp::CreateCollectionRequest {
            name: name.to_string(),
            request_json: to_json(&request),
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
            name: name.to_string(),
            request_json: to_json(&request),
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
        schema: PayloadSchemaType,
    ) -> Result<UpdateResult> {
        let request = cp::CreatePayloadIndexRequest {
            collection: collection.to_string(),
            field_name: field.to_string(),
            field_schema_json: to_json(&schema),
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
            collection: collection.to_string(),
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
            .call(|mut c| async move { c.cluster_status(cp::ClusterStatusRequest {}).await })
            .await?
            .into_inner();
        let topology = self.topology.current();
        Ok(ClusterStatus {
            status: "enabled".into(),
            peer_id: status.node_id,
            peers: topology
                .peers
                .values()
                .map(|p| (p.id.to_string(), PeerInfo { uri: p.uri.clone() }))
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
                "last_update": now_rfc3339(),
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

    // ---- points: writes ----------------------------------------------------

    /// Applies a write to every shard it touches, through each shard's
    /// primary. Bad input is rejected before any shard sees the operation, so
    /// it changes nothing.
    pub async fn update_points(
        &self,
        collection: &str,
        operation: ShardOperation,
        shard_key: Option<&ShardKeySelector>,
        wait: bool,
        ordering: WriteOrdering,
    ) -> Result<UpdateResult> {
        let (_, state) = self.collection(collection)?;
        validate_operation(&state.config, &operation)?;
        // Under custom sharding a write goes to each named key's shards.
        let per_shard: Vec<_> = state
            .write_scopes(shard_key)?
            .iter()
            .flat_map(|scope| split_by_shard(scope, operation.clone()))
            .collect();
        let results = join_all(per_shard.into_iter().map(|(shard_id, op)| {
            self.update_shard(collection, shard_id, op.into(), wait, ordering)
        }))
        .await;
        let mut operation_id = 0;
        for result in results {
            operation_id = operation_id.max(result?);
        }
        Ok(UpdateResult {
            operation_id: Some(operation_id),
            status: if wait {
                UpdateStatus::Completed
            } else {
                UpdateStatus::Acknowledged
            },
        })
    }

    /// Sends one shard's part of a write to the shard's primary, which orders
    /// it, forwards it to the other replicas and applies
    /// `write_consistency_factor`. When the primary has moved (a failover), the
    /// write follows it; when it is unreachable, a weak or medium write waits
    /// for the control plane to promote another in-sync replica (if there is
    /// one), a strong one fails.
    /// Retrying is safe: every operation leaves the same state when repeated.
    async fn update_shard(
        &self,
        collection: &str,
        shard_id: ShardId,
        operation: dp::Operation,
        wait: bool,
        ordering: WriteOrdering,
    ) -> Result<u64> {
        let deadline = tokio::time::Instant::now() + FAILOVER_WAIT;
        loop {
            let (topology, state) = self.collection(collection)?;
            let shard = state
                .shard(shard_id)
                .ok_or_else(|| TesseraError::internal(format!("shard {shard_id} vanished")))?;
            let why = if shard.primary == 0 {
                format!("shard {shard_id} has no in-sync replica to lead it")
            } else {
                let request = dp::UpdateRequest {
                    target: Some(target(&topology, &state, shard_id)),
                    wait,
                    operation: Some(operation.clone()),
                    epoch: shard.epoch,
                };
                let mut client = self.data_planes.client(&topology, shard.primary)?;
                match tokio::time::timeout(REPLICA_TIMEOUT, client.update(request)).await {
                    Ok(Ok(reply)) => return Ok(reply.into_inner().operation_id),
                    Ok(Err(status)) if status.code() == tonic::Code::FailedPrecondition => {
                        status.message().to_string()
                    }
                    // Only a primary that could not be reached may be failing
                    // over; an error it sent (say, too few copies) is final.
                    Ok(Err(status)) if is_transport_failure(&status) => {
                        let why = format!(
                            "the primary of shard {shard_id} (peer {}) is unreachable: {}",
                            shard.primary,
                            status.message()
                        );
                        if ordering == WriteOrdering::Strong {
                            return Err(TesseraError::Unavailable(format!(
                                "{why}; ordering=strong does not wait for a new primary"
                            )));
                        }
                        let successor = shard
                            .replicas
                            .iter()
                            .any(|r| r.peer_id != shard.primary && r.state.is_source_of_truth());
                        if !successor {
                            return Err(TesseraError::Unavailable(format!(
                                "{why}, and no other in-sync replica can take over"
                            )));
                        }
                        why
                    }
                    Ok(Err(status)) => return Err(status_to_error(status)),
                    Err(_) => {
                        return Err(TesseraError::Timeout(format!(
                            "the primary of shard {shard_id} did not answer in time"
                        )))
                    }
                }
            };
            if tokio::time::Instant::now() >= deadline {
                return Err(TesseraError::Unavailable(why));
            }
            // A newer topology (a new primary) or a short pause, then again.
            let _ = tokio::time::timeout(
                Duration::from_millis(200),
                self.topology.wait_for_version(topology.version + 1),
            )
            .await;
        }
    }

    // ---- points: reads -----------------------------------------------------

    pub async fn retrieve(
        &self,
        collection: &str,
        ids: &[PointId],
        with_payload: &WithPayload,
        with_vector: &WithVector,
        read: &ReadOptions,
    ) -> Result<Vec<Record>> {
        let (topology, collection) = self.collection(collection)?;
        let collection = collection.read_scope(read.shard_key.as_ref())?;
        let consistency = read.consistency;
        let mut by_shard: BTreeMap<ShardId, Vec<PointId>> = BTreeMap::new();
        if collection.is_custom_sharded() {
            // Any key may hold the point: ask every shard in scope.
            for shard in &collection.shards {
                by_shard.insert(shard.shard_id, ids.to_vec());
            }
        } else {
            let router = collection.router();
            for id in ids {
                by_shard.entry(router.shard_for(id)).or_default().push(*id);
            }
        }
        let selectors = selectors_to_proto(with_payload, with_vector);
        let replies = join_all(by_shard.into_iter().map(|(shard_id, ids)| {
            let request = dp::RetrieveRequest {
                target: Some(target(&topology, &collection, shard_id)),
                ids: ids.into_iter().map(Into::into).collect(),
                selectors: Some(selectors.clone()),
            };
            self.read_shard(
                &topology,
                &collection,
                shard_id,
                consistency,
                move |mut c| {
                    let request = request.clone();
                    async move { c.retrieve(request).await }
                },
            )
        }))
        .await;
        let mut found: HashMap<PointId, Record> = HashMap::new();
        for reply in replies {
            for record in reply?.records {
                let record = Record::try_from(record)?;
                found.insert(record.id, record);
            }
        }
        // Answer in the order asked, once per id.
        Ok(ids.iter().filter_map(|id| found.remove(id)).collect())
    }

    pub async fn search(
        &self,
        collection: &str,
        request: SearchRequest,
        read: &ReadOptions,
    ) -> Result<Vec<ScoredPoint>> {
        let (topology, collection) = self.collection(collection)?;
        let collection = collection.read_scope(read.shard_key.as_ref())?;
        let consistency = read.consistency;
        let params = collection.config.params.vectors.require(&request.using)?;
        if request.vector.len() as u64 != params.size {
            return Err(dimension_error(params.size, request.vector.len()));
        }
        let distance = params.distance;
        let request_json = to_json(&request);
        let replies = self
            .read_every_shard(
                &topology,
                &collection,
                consistency,
                |target| dp::SearchRequest {
                    target: Some(target),
                    request_json: request_json.clone(),
                },
                |mut c, r| async move { c.search(r).await },
            )
            .await?;
        let mut merged = Vec::new();
        for reply in replies {
            for point in reply.points {
                merged.push(ScoredPoint::try_from(point)?);
            }
        }
        merged.sort_by(|a, b| {
            let order = a.score.total_cmp(&b.score);
            let order = if distance.higher_is_better() {
                order.reverse()
            } else {
                order
            };
            order.then_with(|| a.id.cmp(&b.id))
        });
        Ok(merged
            .into_iter()
            .skip(request.offset)
            .take(request.limit)
            .collect())
    }

    pub async fn search_batch(
        &self,
        collection: &str,
        requests: Vec<(SearchRequest, ReadOptions)>,
    ) -> Result<Vec<Vec<ScoredPoint>>> {
        let results = join_all(
            requests
                .iter()
                .map(|(request, read)| self.search(collection, request.clone(), read)),
        )
        .await;
        results.into_iter().collect()
    }

    pub async fn query(
        &self,
        collection: &str,
        mut request: QueryRequest,
        read: &ReadOptions,
    ) -> Result<Vec<ScoredPoint>> {
        let vector = match request.query {
            None => return self.query_by_id_order(collection, request, read).await,
            Some(Query::Nearest(vector)) => vector,
            Some(Query::NearestToPoint(id)) => {
                // As in Qdrant, the point a query refers to is not among its results.
                let filter = request.filter.get_or_insert_with(Filter::default);
                filter.must_not.push(tessera_types::Condition::HasId(
                    tessera_types::HasIdCondition { has_id: vec![id] },
                ));
                let records = self
                    .retrieve(
                        collection,
                        &[id],
                        &WithPayload::Enable(false),
                        &WithVector::Include(vec![request.using.clone()]),
                        read,
                    )
                    .await?;
                let vectors = records
                    .into_iter()
                    .next()
                    .and_then(|r| r.vector)
                    .map(|v| v.into_named())
                    .ok_or_else(|| {
                        TesseraError::not_found(format!("No point with id {id} found"))
                    })?;
                vectors.get(&request.using).cloned().ok_or_else(|| {
                    TesseraError::bad_input(format!(
                        "Point {id} has no vector named `{}`",
                        request.using
                    ))
                })?
            }
        };
        self.search(
            collection,
            SearchRequest {
                vector,
                using: request.using,
                filter: request.filter,
                limit: request.limit,
                offset: request.offset,
                with_payload: request.with_payload,
                with_vector: request.with_vector,
                score_threshold: request.score_threshold,
                params: request.params,
            },
            read,
        )
        .await
    }

    /// A query without a vector lists points in id order, as Qdrant does.
    async fn query_by_id_order(
        &self,
        collection: &str,
        request: QueryRequest,
        read: &ReadOptions,
    ) -> Result<Vec<ScoredPoint>> {
        let page = self
            .scroll(
                collection,
                ScrollRequest {
                    offset: None,
                    limit: request.offset.saturating_add(request.limit),
                    filter: request.filter,
                    with_payload: request.with_payload,
                    with_vector: request.with_vector,
                },
                read,
            )
            .await?;
        Ok(page
            .points
            .into_iter()
            .skip(request.offset)
            .map(|r| ScoredPoint {
                id: r.id,
                version: 0,
                score: 0.0,
                payload: r.payload,
                vector: r.vector,
                shard_key: None,
                order_value: None,
            })
            .collect())
    }

    /// Pages through points in id order. Each shard returns up to `limit + 1`
    /// points from the offset; the merged list decides the next page's offset.
    pub async fn scroll(
        &self,
        collection: &str,
        request: ScrollRequest,
        read: &ReadOptions,
    ) -> Result<ScrollResult> {
        let (topology, collection) = self.collection(collection)?;
        let collection = collection.read_scope(read.shard_key.as_ref())?;
        let consistency = read.consistency;
        let limit = request.limit;
        let request_json = to_json(&ScrollRequest {
            limit: limit.saturating_add(1),
            ..request
        });
        let replies = self
            .read_every_shard(
                &topology,
                &collection,
                consistency,
                |target| dp::ScrollRequest {
                    target: Some(target),
                    request_json: request_json.clone(),
                },
                |mut c, r| async move { c.scroll(r).await },
            )
            .await?;
        let mut points = Vec::new();
        for reply in replies {
            for record in reply.records {
                points.push(Record::try_from(record)?);
            }
        }
        points.sort_by_key(|r| r.id);
        let next_page_offset = points.get(limit).map(|r| r.id);
        points.truncate(limit);
        Ok(ScrollResult {
            points,
            next_page_offset,
        })
    }

    pub async fn count(
        &self,
        collection: &str,
        filter: Option<Filter>,
        read: &ReadOptions,
    ) -> Result<u64> {
        let (topology, collection) = self.collection(collection)?;
        let collection = collection.read_scope(read.shard_key.as_ref())?;
        let consistency = read.consistency;
        let filter_json = filter.as_ref().map(to_json);
        let replies = self
            .read_every_shard(
                &topology,
                &collection,
                consistency,
                |target| dp::CountRequest {
                    target: Some(target),
                    filter_json: filter_json.clone(),
                },
                |mut c, r| async move { c.count(r).await },
            )
            .await?;
        Ok(replies.iter().map(|reply| reply.count).sum())
    }

    /// Runs the same read on every shard of a collection, concurrently; the
    /// first failing shard fails the whole read.
    async fn read_every_shard<T, Req, F, Fut>(
        &self,
        topology: &Topology,
        collection: &CollectionState,
        consistency: ReadConsistency,
        request: impl Fn(ShardTarget) -> Req,
        send: F,
    ) -> Result<Vec<T>>
    where
        T: Applied,
        Req: Clone,
        F: Fn(DataPlaneClient<Channel>, Req) -> Fut + Clone,
        Fut: std::future::Future<Output = std::result::Result<tonic::Response<T>, tonic::Status>>,
    {
        let replies = join_all(collection.shards.iter().map(|shard| {
            let request = request(target(topology, collection, shard.shard_id));
            let send = send.clone();
            self.read_shard(
                topology,
                collection,
                shard.shard_id,
                consistency,
                move |client| send(client, request.clone()),
            )
        }))
        .await;
        replies.into_iter().collect()
    }

    /// Runs a read on a shard at `consistency`. One replica: the next readable
    /// one (reads spread across replicas), trying another when one cannot
    /// answer. More: that many answer, or the read fails; of their answers the
    /// one from the replica that applied the most operations is returned, so a
    /// delete seen by any of them is never undone by a lagging one.
    async fn read_shard<T, F, Fut>(
        &self,
        topology: &Topology,
        collection: &CollectionState,
        shard_id: ShardId,
        consistency: ReadConsistency,
        f: F,
    ) -> Result<T>
    where
        T: Applied,
        F: Fn(DataPlaneClient<Channel>) -> Fut,
        Fut: std::future::Future<Output = std::result::Result<tonic::Response<T>, tonic::Status>>,
    {
        let shard = collection
            .shard(shard_id)
            .ok_or_else(|| TesseraError::internal(format!("shard {shard_id} vanished")))?;
        let plan = ReadPlan::new(topology, shard, consistency)?;
        if plan.required == 1 {
            let mut last =
                TesseraError::Unavailable(format!("shard {shard_id} has no active replica"));
            for peer in plan.replicas {
                let client = self.data_planes.client(topology, peer)?;
                match call(f(client)).await {
                    Ok(reply) => return Ok(reply),
                    Err(
                        e @ (TesseraError::Unavailable(_)
                        | TesseraError::Timeout(_)
                        | TesseraError::Stale(_)),
                    ) => last = e,
                    Err(e) => return Err(e),
                }
            }
            return Err(last);
        }
        let replies = join_all(plan.replicas.iter().map(|peer| {
            let client = self.data_planes.client(topology, *peer);
            let reply = client.map(&f);
            async move { call(reply?).await }
        }))
        .await;
        let mut answers = Vec::new();
        let mut first_error = None;
        for reply in replies {
            match reply {
                Ok(reply) => answers.push(reply),
                Err(e @ TesseraError::BadInput(_)) => return Err(e),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        if answers.len() < plan.required {
            let why = first_error.map(|e| format!(" ({e})")).unwrap_or_default();
            return Err(TesseraError::Unavailable(format!(
                "Consistency requirement not met: {} of {} required replicas of shard {shard_id} answered{why}",
                answers.len(),
                plan.required
            )));
        }
        Ok(answers
            .into_iter()
            .max_by_key(Applied::applied_seq)
            .expect("at least one answer"))
    }
}

pub(crate) async fn call<T>(
    fut: impl std::future::Future<Output = std::result::Result<tonic::Response<T>, tonic::Status>>,
) -> Result<T> {
    match tokio::time::timeout(REPLICA_TIMEOUT, fut).await {
        Ok(Ok(reply)) => Ok(reply.into_inner()),
        Ok(Err(status)) => Err(status_to_error(status)),
        Err(_) => Err(TesseraError::Timeout(
            "a data-plane replica did not answer in time".into(),
        )),
    }
}

fn dimension_error(expected: u64, got: usize) -> TesseraError {
    TesseraError::bad_input(format!(
        "Vector dimension error: expected dim: {expected}, got {got}"
    ))
}

fn completed(operation_id: u64) -> UpdateResult {
    UpdateResult {
        operation_id: Some(operation_id),
        status: UpdateStatus::Completed,
    }
}

/// Checks vector names and sizes against the collection's config.
fn validate_operation(config: &CollectionConfig, operation: &ShardOperation) -> Result<()> {
    let check = |vectors: &tessera_types::NamedVectors| -> Result<()> {
        for (name, vector) in vectors {
            let params = config.params.vectors.require(name)?;
            if vector.len() as u64 != params.size {
                return Err(dimension_error(params.size, vector.len()));
            }
            if vector.iter().any(|x| !x.is_finite()) {
                return Err(TesseraError::bad_input(
                    "Vectors must contain finite numbers only",
                ));
            }
        }
        Ok(())
    };
    match operation {
        ShardOperation::Upsert(points) => {
            for point in points {
                check(&point.vectors)?;
            }
        }
        ShardOperation::UpdateVectors(points) => {
            for (_, vectors) in points {
                check(vectors)?;
            }
        }
        ShardOperation::DeleteVectors { names, .. } => {
            for name in names {
                config.params.vectors.require(name)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// Splits a write into the part each shard must apply: explicit ids go to the
/// shard that owns them; a filter goes to every shard.
fn split_by_shard(
    collection: &CollectionState,
    operation: ShardOperation,
) -> Vec<(ShardId, ShardOperation)> {
    let all_shards = || collection.shards.iter().map(|s| s.shard_id);
    let router = collection.router();
    let group_ids = |ids: Vec<PointId>| {
        let mut groups: BTreeMap<ShardId, Vec<PointId>> = BTreeMap::new();
        for id in ids {
            groups.entry(router.shard_for(&id)).or_default().push(id);
        }
        groups
    };
    let with_selection =
        |selection: PointSelection, make: &dyn Fn(PointSelection) -> ShardOperation| match selection
        {
            PointSelection::Ids(ids) => group_ids(ids)
                .into_iter()
                .map(|(shard, ids)| (shard, make(PointSelection::Ids(ids))))
                .collect::<Vec<_>>(),
            PointSelection::Filter(filter) => all_shards()
                .map(|shard| (shard, make(PointSelection::Filter(filter.clone()))))
                .collect(),
        };
    match operation {
        ShardOperation::Upsert(points) => {
            let mut groups: BTreeMap<ShardId, Vec<Point>> = BTreeMap::new();
            for point in points {
                groups
                    .entry(router.shard_for(&point.id))
                    .or_default()
                    .push(point);
            }
            groups
                .into_iter()
                .map(|(shard, points)| (shard, ShardOperation::Upsert(points)))
                .collect()
        }
        ShardOperation::UpdateVectors(points) => {
            let mut groups: BTreeMap<ShardId, Vec<_>> = BTreeMap::new();
            for (id, vectors) in points {
                groups
                    .entry(router.shard_for(&id))
                    .or_default()
                    .push((id, vectors));
            }
            groups
                .into_iter()
                .map(|(shard, points)| (shard, ShardOperation::UpdateVectors(points)))
                .collect()
        }
        ShardOperation::Delete(selection) => with_selection(selection, &ShardOperation::Delete),
        ShardOperation::ClearPayload(selection) => {
            with_selection(selection, &ShardOperation::ClearPayload)
        }
        ShardOperation::SetPayload {
            payload,
            selection,
            key,
        } => with_selection(selection, &|selection| ShardOperation::SetPayload {
            payload: payload.clone(),
            selection,
            key: key.clone(),
        }),
        ShardOperation::OverwritePayload { payload, selection } => {
            with_selection(selection, &|selection| ShardOperation::OverwritePayload {
                payload: payload.clone(),
                selection,
            })
        }
        ShardOperation::DeletePayload { keys, selection } => {
            with_selection(selection, &|selection| ShardOperation::DeletePayload {
                keys: keys.clone(),
                selection,
            })
        }
        ShardOperation::DeleteVectors { names, selection } => {
            with_selection(selection, &|selection| ShardOperation::DeleteVectors {
                names: names.clone(),
                selection,
            })
        }
    }
}

/// The current time as RFC 3339 (UTC, second precision).
fn now_rfc3339() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's civil-from-days algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}
