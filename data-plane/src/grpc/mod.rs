//! The data plane's gRPC service: point operations on the replicas this node holds.

mod records;
mod snapshots;

use tessera_proto::common::ShardTarget;
use tessera_proto::convert::{
    error_to_status, filter, from_json, operation, point_ids, selectors_from_proto,
};
use tessera_proto::data_plane::data_plane_server::DataPlane;
use tessera_proto::data_plane::{
    CountReply, CountRequest, DeleteSnapshotReply, FacetHit, FacetReply, FacetRequest,
    FetchOpsReply, FetchOpsRequest, FetchSnapshotRequest, ListSnapshotsReply, ListSnapshotsRequest,
    NodeQuotaReply, NodeQuotaRequest, RecoveryProgress, ReplicateReply, ReplicateRequest,
    RestoreShardChunk, RestoreShardReply, RetrieveReply, RetrieveRequest, ScrollReply,
    ScrollRequest, SearchReply, SearchRequest, SegmentSummary, ShardSnapshotRequest,
    ShardStatsReply, ShardStatsRequest, SnapshotInfo, SnapshotLocation, StoreSnapshotChunk,
    TextSearchRequest, UpdateReply, UpdateRequest,
};
use tessera_types::TesseraError;
use tonic::{Request, Response, Status, Streaming};

use crate::quota::NodeQuota;
use crate::registry::ReplicaKey;
use crate::replica_set::ReplicaSet;
use tessera_engine::shard::{read_pool, Shard};
use tessera_engine::snapshot::store::SnapshotStore;

pub struct DataPlaneService {
    replicas: ReplicaSet,
    snapshots: SnapshotStore,
    quota: NodeQuota,
}

impl DataPlaneService {
    pub fn new(replicas: ReplicaSet, snapshots: SnapshotStore, quota: NodeQuota) -> Self {
        DataPlaneService {
            replicas,
            snapshots,
            quota,
        }
    }

    /// Runs a read on the replica a request targets, which must be in sync, on
    /// the shard read pool; errors are mapped once, here at the edge.
    async fn on_shard<T: Send + 'static>(
        &self,
        target: Option<ShardTarget>,
        f: impl FnOnce(&Shard) -> Result<T, TesseraError> + Send + 'static,
    ) -> Result<Response<T>, Status> {
        let shard = self
            .replicas
            .registry()
            .readable_shard(target)
            .await
            .map_err(error_to_status)?;
        read_pool::run(move || f(&shard))
            .await
            .map(Response::new)
            .map_err(error_to_status)
    }
}

#[tonic::async_trait]
impl DataPlane for DataPlaneService {
    async fn update(
        &self,
        request: Request<UpdateRequest>,
    ) -> Result<Response<UpdateReply>, Status> {
        let request = request.into_inner();
        let operation = operation(request.operation).map_err(error_to_status)?;
        let target = request
            .target
            .ok_or_else(|| error_to_status(TesseraError::bad_input("shard target is missing")))?;
        // At the entry only: a write the primary took is forwarded to its
        // replicas whatever their usage, so they stay in sync.
        self.quota
            .check_update(target.topology_version, &operation)
            .await
            .map_err(error_to_status)?;
        let operation_id = self
            .replicas
            .write(target, request.epoch, operation, request.wait)
            .await
            .map_err(error_to_status)?;
        Ok(Response::new(UpdateReply {
            operation_id,
            completed: true,
        }))
    }

    async fn replicate(
        &self,
        request: Request<ReplicateRequest>,
    ) -> Result<Response<ReplicateReply>, Status> {
        self.replicas
            .replicate(request.into_inner())
            .await
            .map(Response::new)
            .map_err(error_to_status)
    }

    async fn fetch_ops(
        &self,
        request: Request<FetchOpsRequest>,
    ) -> Result<Response<FetchOpsReply>, Status> {
        self.replicas
            .fetch_ops(request.into_inner())
            .await
            .map(Response::new)
            .map_err(error_to_status)
    }

    type FetchSnapshotStream = snapshots::ChunkStream;

    async fn fetch_snapshot(
        &self,
        request: Request<FetchSnapshotRequest>,
    ) -> Result<Response<Self::FetchSnapshotStream>, Status> {
        let target = request
            .into_inner()
            .target
            .ok_or_else(|| error_to_status(TesseraError::bad_input("shard target is missing")))?;
        let slot = self.replicas.slots().outgoing().await;
        let (file, id) = self
            .replicas
            .snapshot_for_transfer(target)
            .await
            .map_err(error_to_status)?;
        Ok(Response::new(snapshots::stream_file(file, id, true, slot)))
    }

    type FetchRecordsStream = records::RecordStream;

    async fn fetch_records(
        &self,
        request: Request<FetchSnapshotRequest>,
    ) -> Result<Response<Self::FetchRecordsStream>, Status> {
        let target = request
            .into_inner()
            .target
            .ok_or_else(|| error_to_status(TesseraError::bad_input("shard target is missing")))?;
        let slot = self.replicas.slots().outgoing().await;
        let view = self
            .replicas
            .records_for_transfer(target)
            .await
            .map_err(error_to_status)?;
        Ok(Response::new(records::stream(view, slot)))
    }

    async fn retrieve(
        &self,
        request: Request<RetrieveRequest>,
    ) -> Result<Response<RetrieveReply>, Status> {
        let request = request.into_inner();
        let ids = point_ids(request.ids).map_err(error_to_status)?;
        let (with_payload, with_vector) = selectors_from_proto(request.selectors);
        self.on_shard(request.target, move |shard| {
            let applied = shard.last_op();
            let records = shard.retrieve(&ids, &with_payload, &with_vector);
            Ok(RetrieveReply {
                records: records.into_iter().map(Into::into).collect(),
                applied_seq: applied.seq,
                applied_epoch: applied.epoch,
            })
        })
        .await
    }

    async fn search(
        &self,
        request: Request<SearchRequest>,
    ) -> Result<Response<SearchReply>, Status> {
        let mut request = request.into_inner();
        let target = request.target.take();
        let search = tessera_types::SearchRequest::try_from(request).map_err(error_to_status)?;
        self.on_shard(target, move |shard| {
            let applied = shard.last_op();
            let points = shard.search(&search)?;
            Ok(SearchReply {
                points: points.into_iter().map(Into::into).collect(),
                applied_seq: applied.seq,
                applied_epoch: applied.epoch,
            })
        })
        .await
    }

    async fn text_search(
        &self,
        request: Request<TextSearchRequest>,
    ) -> Result<Response<SearchReply>, Status> {
        let mut request = request.into_inner();
        let target = request.target.take();
        let search = tessera_types::text_query::TextSearchRequest::try_from(request)
            .map_err(error_to_status)?;
        self.on_shard(target, move |shard| {
            let applied = shard.last_op();
            let points = shard.text_search(&search)?;
            Ok(SearchReply {
                points: points.into_iter().map(Into::into).collect(),
                applied_seq: applied.seq,
                applied_epoch: applied.epoch,
            })
        })
        .await
    }

    async fn scroll(
        &self,
        request: Request<ScrollRequest>,
    ) -> Result<Response<ScrollReply>, Status> {
        let request = request.into_inner();
        let scroll: tessera_types::ScrollRequest =
            from_json(&request.request_json, "scroll request").map_err(error_to_status)?;
        self.on_shard(request.target, move |shard| {
            let applied = shard.last_op();
            let page = shard.scroll(&scroll)?;
            Ok(ScrollReply {
                records: page.points.into_iter().map(Into::into).collect(),
                next_page_offset: page.next_page_offset.map(Into::into),
                applied_seq: applied.seq,
                applied_epoch: applied.epoch,
            })
        })
        .await
    }

    async fn count(&self, request: Request<CountRequest>) -> Result<Response<CountReply>, Status> {
        let request = request.into_inner();
        let filter = filter(request.filter).map_err(error_to_status)?;
        self.on_shard(request.target, move |shard| {
            let applied = shard.last_op();
            let count = shard.count(filter.as_ref())?;
            Ok(CountReply {
                count,
                applied_seq: applied.seq,
                applied_epoch: applied.epoch,
            })
        })
        .await
    }

    async fn facet(&self, request: Request<FacetRequest>) -> Result<Response<FacetReply>, Status> {
        let request = request.into_inner();
        let filter = filter(request.filter).map_err(error_to_status)?;
        let key = request.key;
        self.on_shard(request.target, move |shard| {
            let applied = shard.last_op();
            let hits = shard
                .facet(&key, filter.as_ref())?
                .into_iter()
                .map(|(value, count)| FacetHit {
                    value_json: tessera_proto::convert::to_json(&value),
                    count,
                })
                .collect();
            Ok(FacetReply {
                hits,
                applied_seq: applied.seq,
                applied_epoch: applied.epoch,
            })
        })
        .await
    }

    async fn node_quota(
        &self,
        request: Request<NodeQuotaRequest>,
    ) -> Result<Response<NodeQuotaReply>, Status> {
        let version = request.into_inner().topology_version;
        let usage = self.quota.usage(version).await.map_err(error_to_status)?;
        Ok(Response::new(usage.into()))
    }

    async fn shard_stats(
        &self,
        request: Request<ShardStatsRequest>,
    ) -> Result<Response<ShardStatsReply>, Status> {
        let request = request.into_inner();
        let target = request.target;
        let key = target
            .as_ref()
            .map(|t| ReplicaKey::new(t.collection.clone(), t.incarnation, t.shard_id));
        let shard = self
            .replicas
            .registry()
            .shard(target)
            .await
            .map_err(error_to_status)?;
        let recovery = key
            .and_then(|key| self.replicas.progress().get(&key))
            .map(|(p, rate)| RecoveryProgress {
                method: p.method.to_string(),
                done: p.done,
                total: p.total,
                rate_per_second: rate,
            });
        let stats = shard.stats();
        let payload_bytes = if request.with_payload_bytes {
            let shard = shard.clone();
            read_pool::run(move || Ok(shard.payload_bytes()))
                .await
                .map_err(error_to_status)?
        } else {
            0
        };
        Ok(Response::new(ShardStatsReply {
            payload_bytes,
            points_count: stats.points_count,
            indexed_vectors_count: stats.indexed_vectors_count,
            segments_count: stats.segments_count,
            optimizing: stats.optimizing,
            payload_points: stats.payload_points.into_iter().collect(),
            vectors: stats.vectors.into_iter().collect(),
            segments: stats
                .segments
                .into_iter()
                .map(|(id, points_count)| SegmentSummary { id, points_count })
                .collect(),
            recovery,
        }))
    }

    type ShardSnapshotStream = snapshots::ChunkStream;

    async fn shard_snapshot(
        &self,
        request: Request<ShardSnapshotRequest>,
    ) -> Result<Response<Self::ShardSnapshotStream>, Status> {
        let target = request
            .into_inner()
            .target
            .ok_or_else(|| error_to_status(TesseraError::bad_input("shard target is missing")))?;
        snapshots::shard_snapshot(self.replicas.registry(), target)
            .await
            .map(Response::new)
            .map_err(error_to_status)
    }

    async fn store_snapshot(
        &self,
        request: Request<Streaming<StoreSnapshotChunk>>,
    ) -> Result<Response<SnapshotInfo>, Status> {
        snapshots::store(&self.snapshots, request.into_inner())
            .await
            .map(Response::new)
            .map_err(error_to_status)
    }

    async fn list_snapshots(
        &self,
        request: Request<ListSnapshotsRequest>,
    ) -> Result<Response<ListSnapshotsReply>, Status> {
        snapshots::list(&self.snapshots, &request.into_inner().scope)
            .map(Response::new)
            .map_err(error_to_status)
    }

    type ReadSnapshotStream = snapshots::ChunkStream;

    async fn read_snapshot(
        &self,
        request: Request<SnapshotLocation>,
    ) -> Result<Response<Self::ReadSnapshotStream>, Status> {
        snapshots::read(&self.snapshots, request.into_inner())
            .map(Response::new)
            .map_err(error_to_status)
    }

    async fn delete_snapshot(
        &self,
        request: Request<SnapshotLocation>,
    ) -> Result<Response<DeleteSnapshotReply>, Status> {
        snapshots::delete(&self.snapshots, &request.into_inner())
            .map(Response::new)
            .map_err(error_to_status)
    }

    async fn restore_shard(
        &self,
        request: Request<Streaming<RestoreShardChunk>>,
    ) -> Result<Response<RestoreShardReply>, Status> {
        snapshots::restore_shard(self.replicas.registry(), request.into_inner())
            .await
            .map(Response::new)
            .map_err(error_to_status)
    }
}
