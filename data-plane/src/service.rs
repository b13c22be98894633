//! The node's point operations on the replicas it holds, on domain types: the
//! shard interface ([`ShardClient`]) a gateway in this process calls directly
//! and the gRPC edge (`grpc`) calls for a remote one.

use std::time::Instant;

use async_trait::async_trait;
use tessera_engine::shard::{read_pool, Shard};
use tessera_engine::snapshot::store::SnapshotStore;
use tessera_types::quota::NodeQuotaUsage;
use tessera_types::shard_client::{
    ByteStream, FacetCount, MissedOps, RecoveryProgress, ReplicaAnswer, ReplicaStats,
    ReplicateOutcome, ReplicatedOps, ShardCall, ShardClient, ShardTarget, ShardWrite, SnapshotFile,
    SnapshotKind, SnapshotLocation, TransferRecords, TransferSnapshot,
};
use tessera_types::text_query::TextSearchRequest;
use tessera_types::{
    Filter, OpId, PeerId, PointId, Record, ScoredPoint, ScrollRequest, ScrollResult, SearchRequest,
    TesseraError, WithPayload, WithVector,
};
use tracing::Instrument;

use crate::quota::NodeQuota;
use crate::registry::ReplicaKey;
use crate::replica_set::primary::blocking;
use crate::replica_set::ReplicaSet;
use crate::snapshots;

type Result<T, E = TesseraError> = std::result::Result<T, E>;

pub struct DataPlaneService {
    pub(crate) replicas: ReplicaSet,
    pub(crate) snapshots: SnapshotStore,
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

    /// Runs `read` on the replica `call` targets, which must be in sync, on the
    /// shard read pool, with the position in the shard's order it answers at.
    /// A read still queued when its caller's deadline passes is not started.
    async fn read<T: Send + 'static>(
        &self,
        call: ShardCall,
        read: impl FnOnce(&Shard) -> Result<T> + Send + 'static,
    ) -> Result<ReplicaAnswer<T>> {
        let deadline = call.deadline;
        let answer = async {
            let shard = self
                .replicas
                .registry()
                .readable_shard(call.target.clone())
                .await?;
            read_pool::run(move || {
                if call.expired() {
                    return Err(call.timed_out());
                }
                let applied = shard.last_op();
                Ok(ReplicaAnswer {
                    value: read(&shard)?,
                    applied,
                })
            })
            .await
        };
        by_deadline(deadline, "a shard read", answer).await
    }

    /// A replica's statistics, with its recovery's progress while it recovers.
    async fn replica_stats(
        &self,
        target: ShardTarget,
        with_payload_bytes: bool,
    ) -> Result<ReplicaStats> {
        let key = ReplicaKey::new(
            target.collection.clone(),
            target.incarnation,
            target.shard_id,
        );
        let shard = self.replicas.registry().shard(target).await?;
        let recovery = self
            .replicas
            .progress()
            .get(&key)
            .map(|(p, rate)| RecoveryProgress {
                method: p.method.to_string(),
                done: p.done,
                total: p.total,
                rate_per_second: rate,
            });
        let stats = shard.stats();
        let payload_bytes = if with_payload_bytes {
            read_pool::run(move || Ok(shard.payload_bytes())).await?
        } else {
            0
        };
        Ok(ReplicaStats {
            stats,
            payload_bytes,
            recovery,
        })
    }
}

/// Runs `work` until `deadline`, when its caller stops waiting for it.
async fn by_deadline<T>(
    deadline: Instant,
    what: &str,
    work: impl std::future::Future<Output = Result<T>>,
) -> Result<T> {
    tokio::time::timeout_at(tokio::time::Instant::from_std(deadline), work)
        .await
        .unwrap_or_else(|_| {
            Err(TesseraError::Timeout(format!(
                "{what} did not finish before its deadline"
            )))
        })
}

#[async_trait]
impl ShardClient for DataPlaneService {
    async fn update(&self, call: ShardCall, write: ShardWrite) -> Result<u64> {
        let target = call.target;
        // At the entry only: a write the primary took is forwarded to its
        // replicas whatever their usage, so they stay in sync.
        self.quota
            .check_update(target.topology_version, &write.operation)
            .await?;
        let write = self
            .replicas
            .write(target, write.epoch, write.operation, write.wait);
        by_deadline(call.deadline, "a write", write).await
    }

    async fn retrieve(
        &self,
        call: ShardCall,
        ids: Vec<PointId>,
        with_payload: WithPayload,
        with_vector: WithVector,
    ) -> Result<ReplicaAnswer<Vec<Record>>> {
        self.read(call, move |shard| {
            Ok(shard.retrieve(&ids, &with_payload, &with_vector))
        })
        .await
    }

    async fn search(
        &self,
        call: ShardCall,
        request: SearchRequest,
    ) -> Result<ReplicaAnswer<Vec<ScoredPoint>>> {
        self.read(call, move |shard| Ok(shard.search(&request)?))
            .await
    }

    async fn text_search(
        &self,
        call: ShardCall,
        request: TextSearchRequest,
    ) -> Result<ReplicaAnswer<Vec<ScoredPoint>>> {
        self.read(call, move |shard| Ok(shard.text_search(&request)?))
            .await
    }

    async fn scroll(
        &self,
        call: ShardCall,
        request: ScrollRequest,
    ) -> Result<ReplicaAnswer<ScrollResult>> {
        self.read(call, move |shard| Ok(shard.scroll(&request)?))
            .await
    }

    async fn count(&self, call: ShardCall, filter: Option<Filter>) -> Result<ReplicaAnswer<u64>> {
        self.read(call, move |shard| Ok(shard.count(filter.as_ref())?))
            .await
    }

    async fn facet(
        &self,
        call: ShardCall,
        key: String,
        filter: Option<Filter>,
    ) -> Result<ReplicaAnswer<Vec<FacetCount>>> {
        self.read(call, move |shard| {
            Ok(shard
                .facet(&key, filter.as_ref())?
                .into_iter()
                .map(|(value, count)| FacetCount { value, count })
                .collect())
        })
        .await
    }

    async fn shard_stats(&self, call: ShardCall, with_payload_bytes: bool) -> Result<ReplicaStats> {
        by_deadline(
            call.deadline,
            "a replica's statistics",
            self.replica_stats(call.target, with_payload_bytes),
        )
        .await
    }

    async fn node_quota(&self, topology_version: u64, deadline: Instant) -> Result<NodeQuotaUsage> {
        by_deadline(
            deadline,
            "measuring the node's usage",
            self.quota.usage(topology_version),
        )
        .await
    }

    async fn shard_snapshot(&self, target: ShardTarget) -> Result<(u64, ByteStream)> {
        snapshots::shard_snapshot(self.replicas.registry(), target).await
    }

    async fn store_snapshot(
        &self,
        location: SnapshotLocation,
        kind: SnapshotKind,
        data: ByteStream,
    ) -> Result<SnapshotFile> {
        snapshots::store(&self.snapshots, location, kind, data).await
    }

    async fn list_snapshots(&self, scope: String, deadline: Instant) -> Result<Vec<SnapshotFile>> {
        let store = self.snapshots.clone();
        let list = blocking(move || snapshots::list(&store, &scope));
        by_deadline(deadline, "listing snapshots", list).await
    }

    async fn read_snapshot(&self, location: SnapshotLocation) -> Result<ByteStream> {
        snapshots::read(&self.snapshots, location).await
    }

    async fn delete_snapshot(&self, location: SnapshotLocation, deadline: Instant) -> Result<bool> {
        let store = self.snapshots.clone();
        let delete = blocking(move || snapshots::delete(&store, &location));
        by_deadline(deadline, "deleting a snapshot", delete).await
    }

    async fn restore_shard(
        &self,
        target: ShardTarget,
        epoch: u64,
        data: ByteStream,
    ) -> Result<u64> {
        snapshots::restore_shard(self.replicas.registry(), target, epoch, data).await
    }

    async fn replicate(&self, call: ShardCall, ops: ReplicatedOps) -> Result<ReplicateOutcome> {
        let replicate = self.replicas.replicate(call.target, ops);
        by_deadline(call.deadline, "a forwarded write", replicate).await
    }

    async fn missed_ops(
        &self,
        call: ShardCall,
        after: OpId,
        max_ops: u32,
        peer: PeerId,
    ) -> Result<MissedOps> {
        let missed = self.replicas.missed_ops(call.target, after, max_ops, peer);
        by_deadline(call.deadline, "reading missed operations", missed).await
    }

    async fn transfer_snapshot(&self, target: ShardTarget) -> Result<TransferSnapshot> {
        self.replicas.transfer_snapshot(target).await
    }

    async fn transfer_records(&self, target: ShardTarget) -> Result<TransferRecords> {
        self.replicas.transfer_records(target).await
    }
}

/// This node's shards as a gateway in the same process calls them: each call
/// runs in the span a remote node's request would have.
pub struct InProcess(pub std::sync::Arc<DataPlaneService>);

macro_rules! in_process {
    ($($method:ident($($arg:ident: $ty:ty),*) -> $reply:ty, $rpc:literal;)*) => {
        #[async_trait]
        impl ShardClient for InProcess {
            $(async fn $method(&self, $($arg: $ty),*) -> Result<$reply> {
                let span = tracing::info_span!("request", otel.name = $rpc, otel.kind = "internal");
                ShardClient::$method(&*self.0, $($arg),*).instrument(span).await
            })*
        }
    };
}

in_process! {
    update(call: ShardCall, write: ShardWrite) -> u64, "DataPlane/Update";
    retrieve(call: ShardCall, ids: Vec<PointId>, with_payload: WithPayload, with_vector: WithVector)
        -> ReplicaAnswer<Vec<Record>>, "DataPlane/Retrieve";
    search(call: ShardCall, request: SearchRequest) -> ReplicaAnswer<Vec<ScoredPoint>>, "DataPlane/Search";
    text_search(call: ShardCall, request: TextSearchRequest)
        -> ReplicaAnswer<Vec<ScoredPoint>>, "DataPlane/TextSearch";
    scroll(call: ShardCall, request: ScrollRequest) -> ReplicaAnswer<ScrollResult>, "DataPlane/Scroll";
    count(call: ShardCall, filter: Option<Filter>) -> ReplicaAnswer<u64>, "DataPlane/Count";
    facet(call: ShardCall, key: String, filter: Option<Filter>)
        -> ReplicaAnswer<Vec<FacetCount>>, "DataPlane/Facet";
    shard_stats(call: ShardCall, with_payload_bytes: bool) -> ReplicaStats, "DataPlane/ShardStats";
    node_quota(topology_version: u64, deadline: Instant) -> NodeQuotaUsage, "DataPlane/NodeQuota";
    shard_snapshot(target: ShardTarget) -> (u64, ByteStream), "DataPlane/ShardSnapshot";
    store_snapshot(location: SnapshotLocation, kind: SnapshotKind, data: ByteStream)
        -> SnapshotFile, "DataPlane/StoreSnapshot";
    list_snapshots(scope: String, deadline: Instant) -> Vec<SnapshotFile>, "DataPlane/ListSnapshots";
    read_snapshot(location: SnapshotLocation) -> ByteStream, "DataPlane/ReadSnapshot";
    delete_snapshot(location: SnapshotLocation, deadline: Instant) -> bool, "DataPlane/DeleteSnapshot";
    restore_shard(target: ShardTarget, epoch: u64, data: ByteStream) -> u64, "DataPlane/RestoreShard";
    replicate(call: ShardCall, ops: ReplicatedOps) -> ReplicateOutcome, "DataPlane/Replicate";
    missed_ops(call: ShardCall, after: OpId, max_ops: u32, peer: PeerId) -> MissedOps, "DataPlane/FetchOps";
    transfer_snapshot(target: ShardTarget) -> TransferSnapshot, "DataPlane/FetchSnapshot";
    transfer_records(target: ShardTarget) -> TransferRecords, "DataPlane/FetchRecords";
}
