//! The data plane's gRPC edge: requests converted to domain types once, the
//! node's service ([`DataPlaneService`]) called, replies converted back.

mod snapshots;
mod transfers;

use std::time::{Duration, Instant};

use futures::StreamExt;
use tessera_proto::common;
use tessera_proto::convert::{
    error_to_status, filter, operation, point_ids, replicated_ops, selectors_from_proto,
    shard_target, snapshot_kind,
};
use tessera_proto::data_plane as dp;
use tessera_proto::data_plane::data_plane_server::DataPlane;
use tessera_proto::data_plane::SnapshotChunk;
use tessera_proto::data_plane::{
    CountReply, CountRequest, DeleteSnapshotReply, FacetReply, FacetRequest, FetchOpsReply,
    FetchOpsRequest, FetchSnapshotRequest, ListSnapshotsReply, ListSnapshotsRequest,
    NodeQuotaReply, NodeQuotaRequest, ReplicateReply, ReplicateRequest, RestoreShardChunk,
    RestoreShardReply, RetrieveReply, RetrieveRequest, ScrollReply, ScrollRequest, SearchReply,
    SearchRequest, ShardSnapshotRequest, ShardStatsReply, ShardStatsRequest, SnapshotInfo,
    SnapshotLocation, StoreSnapshotChunk, TextSearchRequest, UpdateReply, UpdateRequest,
};
use tessera_types::shard_client::{
    ReplicaAnswer, ReplicateOutcome, ReplicatedOps, ShardCall, ShardClient, ShardWrite,
};
use tessera_types::{OpId, ScoredPoint, TesseraError};
use tonic::{Request, Response, Status, Streaming};

pub use crate::service::DataPlaneService;

/// How long a call whose sender set no `grpc-timeout` may take.
const DEFAULT_DEADLINE: Duration = Duration::from_secs(60);

/// The sender's deadline: its `grpc-timeout`, else `DEFAULT_DEADLINE`.
fn deadline<T>(request: &Request<T>) -> Instant {
    let timeout = request
        .metadata()
        .get("grpc-timeout")
        .and_then(|v| parse_grpc_timeout(v.to_str().ok()?))
        .unwrap_or(DEFAULT_DEADLINE);
    Instant::now() + timeout
}

/// The call a request makes: its shard target, and the sender's deadline.
fn shard_call<T>(
    request: &Request<T>,
    target: Option<common::ShardTarget>,
) -> Result<ShardCall, Status> {
    Ok(ShardCall {
        target: shard_target(target).map_err(error_to_status)?,
        deadline: deadline(request),
    })
}

/// gRPC's `grpc-timeout` header: up to eight digits and a unit; anything
/// else is ignored.
fn parse_grpc_timeout(value: &str) -> Option<Duration> {
    let (digits, unit) = value.split_at(value.len().checked_sub(1)?);
    if digits.is_empty() || digits.len() > 8 {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n * 3600),
        "M" => Duration::from_secs(n * 60),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

fn scored(answer: ReplicaAnswer<Vec<ScoredPoint>>) -> SearchReply {
    SearchReply {
        points: answer.value.into_iter().map(Into::into).collect(),
        applied_seq: answer.applied.seq,
        applied_epoch: answer.applied.epoch,
    }
}

#[tonic::async_trait]
impl DataPlane for DataPlaneService {
    async fn update(
        &self,
        request: Request<UpdateRequest>,
    ) -> Result<Response<UpdateReply>, Status> {
        let target = request.get_ref().target.clone();
        let call = shard_call(&request, target)?;
        let request = request.into_inner();
        let write = ShardWrite {
            operation: operation(request.operation).map_err(error_to_status)?,
            epoch: request.epoch,
            wait: request.wait,
        };
        let operation_id = ShardClient::update(self, call, write)
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
        let target = request.get_ref().target.clone();
        let call = shard_call(&request, target)?;
        let request = request.into_inner();
        let ops = ReplicatedOps {
            ops: replicated_ops(request.ops).map_err(error_to_status)?,
            prev_epoch: request.prev_epoch,
            wait: request.wait,
        };
        let (outcome, last) = match ShardClient::replicate(self, call, ops)
            .await
            .map_err(error_to_status)?
        {
            ReplicateOutcome::Applied => (dp::ReplicateOutcome::Applied, OpId::default()),
            ReplicateOutcome::Gap { last } => (dp::ReplicateOutcome::Gap, last),
            ReplicateOutcome::Diverged { last } => (dp::ReplicateOutcome::Diverged, last),
        };
        Ok(Response::new(ReplicateReply {
            outcome: outcome as i32,
            last_seq: last.seq,
            last_epoch: last.epoch,
        }))
    }

    async fn fetch_ops(
        &self,
        request: Request<FetchOpsRequest>,
    ) -> Result<Response<FetchOpsReply>, Status> {
        let target = request.get_ref().target.clone();
        let call = shard_call(&request, target)?;
        let request = request.into_inner();
        let after = OpId {
            epoch: request.last_epoch,
            seq: request.last_seq,
        };
        let missed = ShardClient::missed_ops(self, call, after, request.max_ops, request.peer_id)
            .await
            .map_err(error_to_status)?;
        Ok(Response::new(FetchOpsReply {
            need_snapshot: missed.ops.is_none(),
            ops: missed
                .ops
                .unwrap_or_default()
                .into_iter()
                .map(Into::into)
                .collect(),
            primary_last_seq: missed.primary_last_seq,
            forwarding: missed.forwarding,
        }))
    }

    type FetchSnapshotStream = snapshots::ChunkStream;

    async fn fetch_snapshot(
        &self,
        request: Request<FetchSnapshotRequest>,
    ) -> Result<Response<Self::FetchSnapshotStream>, Status> {
        let target = shard_target(request.into_inner().target).map_err(error_to_status)?;
        let snapshot = ShardClient::transfer_snapshot(self, target)
            .await
            .map_err(error_to_status)?;
        Ok(Response::new(snapshots::chunks(
            snapshot.size,
            snapshot.at,
            snapshot.bytes,
        )))
    }

    type FetchRecordsStream = transfers::RecordStream;

    async fn fetch_records(
        &self,
        request: Request<FetchSnapshotRequest>,
    ) -> Result<Response<Self::FetchRecordsStream>, Status> {
        let target = shard_target(request.into_inner().target).map_err(error_to_status)?;
        let records = ShardClient::transfer_records(self, target)
            .await
            .map_err(error_to_status)?;
        Ok(Response::new(transfers::record_batches(records)))
    }

    async fn retrieve(
        &self,
        request: Request<RetrieveRequest>,
    ) -> Result<Response<RetrieveReply>, Status> {
        let target = request.get_ref().target.clone();
        let call = shard_call(&request, target)?;
        let request = request.into_inner();
        let ids = point_ids(request.ids).map_err(error_to_status)?;
        let (with_payload, with_vector) = selectors_from_proto(request.selectors);
        let answer = ShardClient::retrieve(self, call, ids, with_payload, with_vector)
            .await
            .map_err(error_to_status)?;
        Ok(Response::new(RetrieveReply {
            records: answer.value.into_iter().map(Into::into).collect(),
            applied_seq: answer.applied.seq,
            applied_epoch: answer.applied.epoch,
        }))
    }

    async fn search(
        &self,
        request: Request<SearchRequest>,
    ) -> Result<Response<SearchReply>, Status> {
        let target = request.get_ref().target.clone();
        let call = shard_call(&request, target)?;
        let search = tessera_types::SearchRequest::try_from(request.into_inner())
            .map_err(error_to_status)?;
        let answer = ShardClient::search(self, call, search)
            .await
            .map_err(error_to_status)?;
        Ok(Response::new(scored(answer)))
    }

    async fn text_search(
        &self,
        request: Request<TextSearchRequest>,
    ) -> Result<Response<SearchReply>, Status> {
        let target = request.get_ref().target.clone();
        let call = shard_call(&request, target)?;
        let search = tessera_types::text_query::TextSearchRequest::try_from(request.into_inner())
            .map_err(error_to_status)?;
        let answer = ShardClient::text_search(self, call, search)
            .await
            .map_err(error_to_status)?;
        Ok(Response::new(scored(answer)))
    }

    async fn scroll(
        &self,
        request: Request<ScrollRequest>,
    ) -> Result<Response<ScrollReply>, Status> {
        let target = request.get_ref().target.clone();
        let call = shard_call(&request, target)?;
        let scroll = tessera_types::ScrollRequest::try_from(request.into_inner())
            .map_err(error_to_status)?;
        let answer = ShardClient::scroll(self, call, scroll)
            .await
            .map_err(error_to_status)?;
        Ok(Response::new(ScrollReply {
            records: answer.value.points.into_iter().map(Into::into).collect(),
            next_page_offset: answer.value.next_page_offset.map(Into::into),
            applied_seq: answer.applied.seq,
            applied_epoch: answer.applied.epoch,
        }))
    }

    async fn count(&self, request: Request<CountRequest>) -> Result<Response<CountReply>, Status> {
        let target = request.get_ref().target.clone();
        let call = shard_call(&request, target)?;
        let filter = filter(request.into_inner().filter).map_err(error_to_status)?;
        let answer = ShardClient::count(self, call, filter)
            .await
            .map_err(error_to_status)?;
        Ok(Response::new(CountReply {
            count: answer.value,
            applied_seq: answer.applied.seq,
            applied_epoch: answer.applied.epoch,
        }))
    }

    async fn facet(&self, request: Request<FacetRequest>) -> Result<Response<FacetReply>, Status> {
        let target = request.get_ref().target.clone();
        let call = shard_call(&request, target)?;
        let request = request.into_inner();
        let filter = filter(request.filter).map_err(error_to_status)?;
        let answer = ShardClient::facet(self, call, request.key, filter)
            .await
            .map_err(error_to_status)?;
        Ok(Response::new(FacetReply {
            hits: answer.value.into_iter().map(Into::into).collect(),
            applied_seq: answer.applied.seq,
            applied_epoch: answer.applied.epoch,
        }))
    }

    async fn node_quota(
        &self,
        request: Request<NodeQuotaRequest>,
    ) -> Result<Response<NodeQuotaReply>, Status> {
        let deadline = deadline(&request);
        let version = request.into_inner().topology_version;
        let usage = ShardClient::node_quota(self, version, deadline)
            .await
            .map_err(error_to_status)?;
        Ok(Response::new(usage.into()))
    }

    async fn shard_stats(
        &self,
        request: Request<ShardStatsRequest>,
    ) -> Result<Response<ShardStatsReply>, Status> {
        let target = request.get_ref().target.clone();
        let call = shard_call(&request, target)?;
        let with_payload_bytes = request.get_ref().with_payload_bytes;
        let stats = ShardClient::shard_stats(self, call, with_payload_bytes)
            .await
            .map_err(error_to_status)?;
        Ok(Response::new(stats.into()))
    }

    type ShardSnapshotStream = snapshots::ChunkStream;

    async fn shard_snapshot(
        &self,
        request: Request<ShardSnapshotRequest>,
    ) -> Result<Response<Self::ShardSnapshotStream>, Status> {
        let target = shard_target(request.into_inner().target).map_err(error_to_status)?;
        let (size, bytes) = ShardClient::shard_snapshot(self, target)
            .await
            .map_err(error_to_status)?;
        Ok(Response::new(snapshots::chunks(
            size,
            OpId::default(),
            bytes,
        )))
    }

    async fn store_snapshot(
        &self,
        request: Request<Streaming<StoreSnapshotChunk>>,
    ) -> Result<Response<SnapshotInfo>, Status> {
        let mut stream = request.into_inner();
        let mut first = stream
            .message()
            .await?
            .ok_or_else(|| error_to_status(TesseraError::bad_input("an empty snapshot upload")))?;
        let location = first.location.take().ok_or_else(|| {
            error_to_status(TesseraError::bad_input("the snapshot upload names no file"))
        })?;
        let kind = snapshot_kind(first.kind).map_err(error_to_status)?;
        let data = snapshots::incoming(first, stream, |chunk| (chunk.data, chunk.last));
        let stored = ShardClient::store_snapshot(self, location.into(), kind, data)
            .await
            .map_err(error_to_status)?;
        Ok(Response::new(stored.into()))
    }

    async fn list_snapshots(
        &self,
        request: Request<ListSnapshotsRequest>,
    ) -> Result<Response<ListSnapshotsReply>, Status> {
        let deadline = deadline(&request);
        let files = ShardClient::list_snapshots(self, request.into_inner().scope, deadline)
            .await
            .map_err(error_to_status)?;
        Ok(Response::new(ListSnapshotsReply {
            snapshots: files.into_iter().map(Into::into).collect(),
        }))
    }

    type ReadSnapshotStream = snapshots::ChunkStream;

    async fn read_snapshot(
        &self,
        request: Request<SnapshotLocation>,
    ) -> Result<Response<Self::ReadSnapshotStream>, Status> {
        let bytes = ShardClient::read_snapshot(self, request.into_inner().into())
            .await
            .map_err(error_to_status)?;
        Ok(Response::new(Box::pin(bytes.map(|chunk| {
            chunk
                .map(|data| SnapshotChunk {
                    data,
                    ..Default::default()
                })
                .map_err(error_to_status)
        }))))
    }

    async fn delete_snapshot(
        &self,
        request: Request<SnapshotLocation>,
    ) -> Result<Response<DeleteSnapshotReply>, Status> {
        let deadline = deadline(&request);
        let found = ShardClient::delete_snapshot(self, request.into_inner().into(), deadline)
            .await
            .map_err(error_to_status)?;
        Ok(Response::new(DeleteSnapshotReply { found }))
    }

    async fn restore_shard(
        &self,
        request: Request<Streaming<RestoreShardChunk>>,
    ) -> Result<Response<RestoreShardReply>, Status> {
        let mut stream = request.into_inner();
        let mut first = stream
            .message()
            .await?
            .ok_or_else(|| error_to_status(TesseraError::bad_input("an empty shard restore")))?;
        let target = shard_target(first.target.take()).map_err(error_to_status)?;
        let epoch = first.epoch;
        let data = snapshots::incoming(first, stream, |chunk| (chunk.data, chunk.last));
        let points_count = ShardClient::restore_shard(self, target, epoch, data)
            .await
            .map_err(error_to_status)?;
        Ok(Response::new(RestoreShardReply { points_count }))
    }
}
