//! The shard interface ([`ShardClient`]) over gRPC: a data node in another
//! process. Each call converts its request to protobuf and the reply back
//! once, sends the caller's deadline as the call's `grpc-timeout` (the node
//! drops the call once it passes) and gives up waiting at that deadline too.

use std::time::Instant;

use async_trait::async_trait;
use futures::StreamExt;
use tessera_types::quota::NodeQuotaUsage;
use tessera_types::shard_client::{
    ByteStream, FacetCount, MissedOps, ReplicaAnswer, ReplicaStats, ReplicateOutcome,
    ReplicatedOps, ShardCall, ShardClient, ShardTarget, ShardWrite, SnapshotFile, SnapshotKind,
    SnapshotLocation, TransferRecords, TransferSnapshot,
};
use tessera_types::text_query::TextSearchRequest;
use tessera_types::{
    Filter, OpId, PeerId, PointId, Record, ScoredPoint, ScrollRequest, ScrollResult, SearchRequest,
    TesseraError, WithPayload, WithVector,
};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};
use tracing::Instrument;

use crate::internal_auth::InternalChannel;
use tessera_proto::convert::{applied, replicated_ops, selectors_to_proto, status_to_error};
use tessera_proto::data_plane as dp;
use tessera_proto::data_plane::data_plane_client::DataPlaneClient;

type Result<T, E = TesseraError> = std::result::Result<T, E>;

/// Sends `request` with `send` on a clone of `client` (tonic's calls take
/// `&mut self`; a clone shares the channel), within `deadline`.
async fn remote<Req, Reply, Fut>(
    client: &DataPlaneClient<InternalChannel>,
    operation: &'static str,
    deadline: Instant,
    request: Req,
    send: impl FnOnce(DataPlaneClient<InternalChannel>, Request<Req>) -> Fut,
) -> Result<Reply>
where
    Fut: std::future::Future<Output = Result<Response<Reply>, Status>>,
{
    let timed_out =
        || TesseraError::Timeout(format!("a data node did not answer {operation} in time"));
    let left = deadline
        .checked_duration_since(Instant::now())
        .ok_or_else(timed_out)?;
    let mut request = Request::new(request);
    request.set_timeout(left);
    let span = tracing::info_span!("call", otel.name = operation, otel.kind = "client");
    let reply = tokio::time::timeout(left, send(client.clone(), request).instrument(span))
        .await
        .map_err(|_| timed_out())?;
    reply.map(Response::into_inner).map_err(status_to_error)
}

/// A one-answer call `$rpc` (named `$name` in traces) on the node behind
/// `$shard`, through [`remote`].
macro_rules! unary {
    ($shard:expr, $rpc:ident, $name:literal, $deadline:expr, $request:expr) => {
        remote(
            &$shard.0,
            $name,
            $deadline,
            $request,
            |mut c, r| async move { DataPlaneClient::$rpc(&mut c, r).await },
        )
    };
}

/// A data node in another process, reached over gRPC.
#[derive(Clone)]
pub struct RemoteShard(DataPlaneClient<InternalChannel>);

impl RemoteShard {
    pub fn new(client: DataPlaneClient<InternalChannel>) -> Self {
        RemoteShard(client)
    }
}

#[async_trait]
impl ShardClient for RemoteShard {
    async fn update(&self, call: ShardCall, write: ShardWrite) -> Result<u64> {
        let request = dp::UpdateRequest {
            target: Some((&call.target).into()),
            wait: write.wait,
            operation: Some(write.operation.into()),
            epoch: write.epoch,
        };
        let reply = unary!(self, update, "DataPlane/Update", call.deadline, request).await?;
        Ok(reply.operation_id)
    }

    async fn retrieve(
        &self,
        call: ShardCall,
        ids: Vec<PointId>,
        with_payload: WithPayload,
        with_vector: WithVector,
    ) -> Result<ReplicaAnswer<Vec<Record>>> {
        let request = dp::RetrieveRequest {
            target: Some((&call.target).into()),
            ids: ids.into_iter().map(Into::into).collect(),
            selectors: Some(selectors_to_proto(&with_payload, &with_vector)),
        };
        let reply = unary!(self, retrieve, "DataPlane/Retrieve", call.deadline, request).await?;
        Ok(ReplicaAnswer {
            value: reply
                .records
                .into_iter()
                .map(Record::try_from)
                .collect::<Result<_>>()?,
            applied: applied(reply.applied_epoch, reply.applied_seq),
        })
    }

    async fn search(
        &self,
        call: ShardCall,
        request: SearchRequest,
    ) -> Result<ReplicaAnswer<Vec<ScoredPoint>>> {
        let request = dp::SearchRequest {
            target: Some((&call.target).into()),
            ..dp::SearchRequest::from(&request)
        };
        let reply = unary!(self, search, "DataPlane/Search", call.deadline, request).await?;
        scored(reply)
    }

    async fn text_search(
        &self,
        call: ShardCall,
        request: TextSearchRequest,
    ) -> Result<ReplicaAnswer<Vec<ScoredPoint>>> {
        let request = dp::TextSearchRequest {
            target: Some((&call.target).into()),
            ..dp::TextSearchRequest::from(&request)
        };
        let reply = unary!(
            self,
            text_search,
            "DataPlane/TextSearch",
            call.deadline,
            request
        )
        .await?;
        scored(reply)
    }

    async fn scroll(
        &self,
        call: ShardCall,
        request: ScrollRequest,
    ) -> Result<ReplicaAnswer<ScrollResult>> {
        let request = dp::ScrollRequest {
            target: Some((&call.target).into()),
            ..dp::ScrollRequest::from(&request)
        };
        let reply = unary!(self, scroll, "DataPlane/Scroll", call.deadline, request).await?;
        reply.try_into()
    }

    async fn count(&self, call: ShardCall, filter: Option<Filter>) -> Result<ReplicaAnswer<u64>> {
        let request = dp::CountRequest {
            target: Some((&call.target).into()),
            filter: filter.as_ref().map(Into::into),
        };
        let reply = unary!(self, count, "DataPlane/Count", call.deadline, request).await?;
        Ok(ReplicaAnswer {
            value: reply.count,
            applied: applied(reply.applied_epoch, reply.applied_seq),
        })
    }

    async fn facet(
        &self,
        call: ShardCall,
        key: String,
        filter: Option<Filter>,
    ) -> Result<ReplicaAnswer<Vec<FacetCount>>> {
        let request = dp::FacetRequest {
            target: Some((&call.target).into()),
            key,
            filter: filter.as_ref().map(Into::into),
        };
        let reply = unary!(self, facet, "DataPlane/Facet", call.deadline, request).await?;
        Ok(ReplicaAnswer {
            value: reply
                .hits
                .into_iter()
                .map(FacetCount::try_from)
                .collect::<Result<_>>()?,
            applied: applied(reply.applied_epoch, reply.applied_seq),
        })
    }

    async fn shard_stats(&self, call: ShardCall, with_payload_bytes: bool) -> Result<ReplicaStats> {
        let request = dp::ShardStatsRequest {
            target: Some((&call.target).into()),
            with_payload_bytes,
        };
        let reply = unary!(
            self,
            shard_stats,
            "DataPlane/ShardStats",
            call.deadline,
            request
        )
        .await?;
        Ok(reply.into())
    }

    async fn node_quota(&self, topology_version: u64, deadline: Instant) -> Result<NodeQuotaUsage> {
        let request = dp::NodeQuotaRequest { topology_version };
        let reply = unary!(self, node_quota, "DataPlane/NodeQuota", deadline, request).await?;
        Ok(reply.into())
    }

    async fn shard_snapshot(&self, target: ShardTarget) -> Result<(u64, ByteStream)> {
        let request = dp::ShardSnapshotRequest {
            target: Some((&target).into()),
        };
        let stream = DataPlaneClient::shard_snapshot(&mut self.0.clone(), request).await;
        let (first, bytes) = snapshot_chunks(stream, "an empty shard snapshot").await?;
        Ok((first.total_bytes, bytes))
    }

    async fn store_snapshot(
        &self,
        location: SnapshotLocation,
        kind: SnapshotKind,
        data: ByteStream,
    ) -> Result<SnapshotFile> {
        let first = dp::StoreSnapshotChunk {
            location: Some(location.into()),
            kind: dp::SnapshotKind::from(kind) as i32,
            data: Vec::new(),
            last: false,
        };
        let wrap = |data, last| dp::StoreSnapshotChunk {
            location: None,
            kind: 0,
            data,
            last,
        };
        let mut client = self.0.clone();
        let stored = send_stream(first, data, wrap, move |chunks| async move {
            DataPlaneClient::store_snapshot(&mut client, chunks)
                .await
                .map_err(status_to_error)
        })
        .await?;
        Ok(stored.into_inner().into())
    }

    async fn list_snapshots(&self, scope: String, deadline: Instant) -> Result<Vec<SnapshotFile>> {
        let request = dp::ListSnapshotsRequest { scope };
        let reply = unary!(
            self,
            list_snapshots,
            "DataPlane/ListSnapshots",
            deadline,
            request
        )
        .await?;
        Ok(reply.snapshots.into_iter().map(Into::into).collect())
    }

    async fn read_snapshot(&self, location: SnapshotLocation) -> Result<ByteStream> {
        let request = dp::SnapshotLocation::from(location);
        let stream = DataPlaneClient::read_snapshot(&mut self.0.clone(), request)
            .await
            .map_err(status_to_error)?
            .into_inner();
        Ok(Box::pin(stream.map(|chunk| {
            chunk.map(|c| c.data).map_err(status_to_error)
        })))
    }

    async fn delete_snapshot(&self, location: SnapshotLocation, deadline: Instant) -> Result<bool> {
        let request = dp::SnapshotLocation::from(location);
        let reply = unary!(
            self,
            delete_snapshot,
            "DataPlane/DeleteSnapshot",
            deadline,
            request
        )
        .await?;
        Ok(reply.found)
    }

    async fn restore_shard(
        &self,
        target: ShardTarget,
        epoch: u64,
        data: ByteStream,
    ) -> Result<u64> {
        let first = dp::RestoreShardChunk {
            target: Some((&target).into()),
            data: Vec::new(),
            epoch,
            last: false,
        };
        let wrap = |data, last| dp::RestoreShardChunk {
            target: None,
            data,
            epoch: 0,
            last,
        };
        let mut client = self.0.clone();
        let restored = send_stream(first, data, wrap, move |chunks| async move {
            DataPlaneClient::restore_shard(&mut client, chunks)
                .await
                .map_err(status_to_error)
        })
        .await?;
        Ok(restored.into_inner().points_count)
    }

    async fn replicate(&self, call: ShardCall, ops: ReplicatedOps) -> Result<ReplicateOutcome> {
        let request = dp::ReplicateRequest {
            target: Some((&call.target).into()),
            wait: ops.wait,
            ops: ops.ops.into_iter().map(Into::into).collect(),
            prev_epoch: ops.prev_epoch,
        };
        let reply = unary!(
            self,
            replicate,
            "DataPlane/Replicate",
            call.deadline,
            request
        )
        .await?;
        let last = OpId {
            epoch: reply.last_epoch,
            seq: reply.last_seq,
        };
        Ok(match reply.outcome() {
            dp::ReplicateOutcome::Applied => ReplicateOutcome::Applied,
            dp::ReplicateOutcome::Gap => ReplicateOutcome::Gap { last },
            dp::ReplicateOutcome::Diverged => ReplicateOutcome::Diverged { last },
        })
    }

    async fn missed_ops(
        &self,
        call: ShardCall,
        after: OpId,
        max_ops: u32,
        peer: PeerId,
    ) -> Result<MissedOps> {
        let request = dp::FetchOpsRequest {
            target: Some((&call.target).into()),
            last_seq: after.seq,
            last_epoch: after.epoch,
            max_ops,
            peer_id: peer,
        };
        let reply = unary!(
            self,
            fetch_ops,
            "DataPlane/FetchOps",
            call.deadline,
            request
        )
        .await?;
        Ok(MissedOps {
            ops: if reply.need_snapshot {
                None
            } else {
                Some(replicated_ops(reply.ops)?)
            },
            primary_last_seq: reply.primary_last_seq,
            forwarding: reply.forwarding,
        })
    }

    async fn transfer_snapshot(&self, target: ShardTarget) -> Result<TransferSnapshot> {
        let request = dp::FetchSnapshotRequest {
            target: Some((&target).into()),
        };
        let stream = DataPlaneClient::fetch_snapshot(&mut self.0.clone(), request).await;
        let (first, bytes) = snapshot_chunks(stream, "the primary sent no snapshot").await?;
        Ok(TransferSnapshot {
            at: OpId {
                epoch: first.epoch,
                seq: first.seq,
            },
            size: first.total_bytes,
            bytes,
        })
    }

    async fn transfer_records(&self, target: ShardTarget) -> Result<TransferRecords> {
        let request = dp::FetchSnapshotRequest {
            target: Some((&target).into()),
        };
        let mut stream = DataPlaneClient::fetch_records(&mut self.0.clone(), request)
            .await
            .map_err(status_to_error)?
            .into_inner();
        let first = stream
            .message()
            .await
            .map_err(status_to_error)?
            .ok_or_else(|| TesseraError::Unavailable("the primary sent no records".into()))?;
        let at = OpId {
            epoch: first.epoch,
            seq: first.seq,
        };
        let epochs = first
            .epochs
            .iter()
            .map(|e| (e.first_seq, e.epoch))
            .collect();
        let total = first.total;
        let batches = futures::stream::once(async move { Ok(first) })
            .chain(stream)
            .map(|batch| {
                batch
                    .map_err(status_to_error)?
                    .points
                    .into_iter()
                    .map(|p| {
                        let point = p.point.ok_or_else(|| {
                            TesseraError::internal("a streamed record without a point")
                        })?;
                        Ok((p.version, point.try_into()?))
                    })
                    .collect()
            });
        Ok(TransferRecords {
            at,
            epochs,
            total,
            batches: Box::pin(batches),
        })
    }
}

/// A snapshot's chunk stream as its first message (size and, for a
/// transfer, the last operation it holds) and its bytes, that message's
/// included; `empty` says what a stream without a first message means.
async fn snapshot_chunks(
    call: Result<Response<tonic::Streaming<dp::SnapshotChunk>>, Status>,
    empty: &str,
) -> Result<(dp::SnapshotChunk, ByteStream)> {
    let mut stream = call.map_err(status_to_error)?.into_inner();
    let mut first = stream
        .message()
        .await
        .map_err(status_to_error)?
        .ok_or_else(|| TesseraError::Unavailable(empty.into()))?;
    let data = std::mem::take(&mut first.data);
    let rest = stream.map(|chunk| chunk.map(|c| c.data).map_err(status_to_error));
    let bytes = futures::stream::once(async move { Ok(data) }).chain(rest);
    Ok((first, Box::pin(bytes)))
}

/// Sends `data` as the client stream of `call`: the `first` message, one
/// message per chunk (`wrap(chunk, false)`), and once `data` has ended whole
/// a last, empty one (`wrap(vec![], true)`). When `data` fails the stream
/// ends without that last message, so the node discards what it received,
/// and the call fails with `data`'s error.
async fn send_stream<M, T, Fut>(
    first: M,
    data: ByteStream,
    wrap: fn(Vec<u8>, bool) -> M,
    call: impl FnOnce(ReceiverStream<M>) -> Fut,
) -> Result<T>
where
    M: Send + 'static,
    Fut: std::future::Future<Output = Result<T>>,
{
    let (messages, received) = tokio::sync::mpsc::channel(4);
    let forward = async move {
        let mut data = data;
        // A send fails only once the call has ended; it reports why.
        if messages.send(first).await.is_err() {
            return Ok(());
        }
        while let Some(chunk) = data.next().await {
            if messages.send(wrap(chunk?, false)).await.is_err() {
                return Ok(());
            }
        }
        let _ = messages.send(wrap(Vec::new(), true)).await;
        Ok(())
    };
    let call = call(ReceiverStream::new(received));
    tokio::pin!(forward, call);
    let mut forwarding = true;
    loop {
        tokio::select! {
            reply = &mut call => return reply,
            sent = &mut forward, if forwarding => {
                forwarding = false;
                sent?;
            }
        }
    }
}

fn scored(reply: dp::SearchReply) -> Result<ReplicaAnswer<Vec<ScoredPoint>>> {
    Ok(ReplicaAnswer {
        value: reply
            .points
            .into_iter()
            .map(ScoredPoint::try_from)
            .collect::<Result<_>>()?,
        applied: applied(reply.applied_epoch, reply.applied_seq),
    })
}
