//! The one interface through which a gateway reaches a shard replica on a data
//! node, and a data node another's (replication, recovery and transfers):
//! every operation on domain types, failing with [`TesseraError`].
//!
//! A node in another process is reached over gRPC (the request converted to
//! protobuf once, at that client); the node in the same process (standalone)
//! is called directly, with no encoding and no socket. Each call that answers
//! once carries a deadline: past it the caller has gone, and the replica does
//! not start the work (over gRPC the server drops it). The streamed calls
//! (snapshots) run as long as their streams do and end when dropped.

use std::pin::Pin;
use std::time::Instant;

use async_trait::async_trait;
use futures::Stream;
use serde_json::Value;

use crate::error::{Result, TesseraError};
use crate::quota::NodeQuotaUsage;
use crate::search::{ScrollRequest, ScrollResult, SearchRequest, ShardStats};
use crate::text_query::TextSearchRequest;
use crate::topology::{OpId, PeerId, ShardId};
use crate::{Filter, Point, PointId, Record, ScoredPoint, ShardOperation, WithPayload, WithVector};

/// A replica of one shard of one incarnation of a collection, as the caller's
/// topology (of `topology_version`) places it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardTarget {
    pub collection: String,
    pub incarnation: u64,
    pub shard_id: ShardId,
    pub topology_version: u64,
}

/// A write for a shard's primary, which orders it in the shard's history.
#[derive(Debug, Clone, PartialEq)]
pub struct ShardWrite {
    pub operation: ShardOperation,
    /// The primary's epoch the sender saw: a primary at another epoch refuses
    /// the write as [`TesseraError::Stale`].
    pub epoch: u64,
    /// Answer once the write is applied (true) or once it is ordered.
    pub wait: bool,
}

/// A read's answer with how far its replica had applied the shard's order:
/// of several replicas' answers, the one furthest along wins.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplicaAnswer<T> {
    pub value: T,
    pub applied: OpId,
}

/// A payload value and the points holding it (a shard's, or the collection's
/// once the gateway has added the shards' counts up).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct FacetCount {
    pub value: Value,
    pub count: u64,
}

/// How far a recovering replica has come.
#[derive(Debug, Clone, PartialEq)]
pub struct RecoveryProgress {
    /// `wal_delta` (operations), `snapshot` (bytes), `stream_records` (points)
    /// or `queued` (waiting for a transfer slot).
    pub method: String,
    pub done: u64,
    pub total: u64,
    /// Units done per second since this method started.
    pub rate_per_second: f64,
}

/// One replica's statistics.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplicaStats {
    pub stats: ShardStats,
    /// Stored payload bytes (deleted points' until a vacuum), when asked for.
    pub payload_bytes: u64,
    /// Set while the replica recovers from its primary.
    pub recovery: Option<RecoveryProgress>,
}

/// Bytes streamed to or from a node (a snapshot), in chunks; an error ends
/// the stream, and what was sent before it is not to be kept.
pub type ByteStream = Pin<Box<dyn Stream<Item = Result<Vec<u8>>> + Send>>;

/// Where a file is kept in a node's snapshot store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotLocation {
    /// `collections/<name>`, `collections/<name>/shards/<id>`, `full` or `staging`.
    pub scope: String,
    pub name: String,
    /// A file inside a snapshot archive (`shards/0.snapshot`); empty for the
    /// whole file.
    pub entry: String,
}

/// What a stored snapshot file holds, which decides how the store checks it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnapshotKind {
    Shard,
    Collection,
    Full,
}

/// A file in a node's snapshot store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotFile {
    pub name: String,
    pub created_unix_seconds: i64,
    pub size: u64,
    /// SHA-256 of the file, hex.
    pub checksum: String,
}

/// What a call on a replica needs besides its request.
#[derive(Debug, Clone, PartialEq)]
pub struct ShardCall {
    pub target: ShardTarget,
    /// When the caller stops waiting for the answer.
    pub deadline: Instant,
}

impl ShardCall {
    /// The caller's deadline has passed: the work would be wasted.
    pub fn expired(&self) -> bool {
        Instant::now() >= self.deadline
    }

    /// The error a call past its deadline ends with.
    pub fn timed_out(&self) -> TesseraError {
        TesseraError::Timeout(format!(
            "shard {} of `{}` did not answer in time",
            self.target.shard_id, self.target.collection
        ))
    }
}

/// Operations a primary ordered, forwarded to a replica in that order.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplicatedOps {
    /// Consecutive operations, each with its place in the shard's order.
    pub ops: Vec<(OpId, ShardOperation)>,
    /// The epoch of the operation before the first: a replica whose history
    /// differs there has diverged.
    pub prev_epoch: u64,
    /// Answer once applied (true) or once logged.
    pub wait: bool,
}

/// How a replica took forwarded operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplicateOutcome {
    /// Applied, or already there.
    Applied,
    /// Operations before the first are missing: the replica has up to `last`.
    Gap { last: OpId },
    /// The replica's history differs from the primary's after `last`; only a
    /// whole copy mends it.
    Diverged { last: OpId },
}

/// What a primary answers a recovering replica that asks for the operations
/// after its last one.
#[derive(Debug, Clone, PartialEq)]
pub struct MissedOps {
    /// The next operations, or none when the primary's WAL no longer has
    /// them (or the histories differ): the replica needs a whole copy.
    pub ops: Option<Vec<(OpId, ShardOperation)>>,
    /// The primary's last operation when it answered.
    pub primary_last_seq: u64,
    /// Whether the primary already forwards new writes to the replica.
    pub forwarding: bool,
}

/// A snapshot of a primary's shard on its way to a recovering replica.
pub struct TransferSnapshot {
    /// The last operation the snapshot holds.
    pub at: OpId,
    pub size: u64,
    pub bytes: ByteStream,
}

/// Points, each with the sequence number of the operation that last wrote it.
pub type RecordBatches = Pin<Box<dyn Stream<Item = Result<Vec<(u64, Point)>>> + Send>>;

/// A primary's shard as its records, as of one operation, on its way to a
/// recovering replica (the `stream_records` transfer).
pub struct TransferRecords {
    /// The operation the records are as of.
    pub at: OpId,
    /// Where each epoch of the history up to `at` starts: (first seq, epoch).
    pub epochs: Vec<(u64, u64)>,
    /// How many records the batches hold in all.
    pub total: u64,
    pub batches: RecordBatches,
}

/// Every operation a gateway asks of a data node's replicas, and one data
/// node of another's.
#[async_trait]
pub trait ShardClient: Send + Sync {
    /// Orders and applies a write at the shard's primary; returns the
    /// operation's sequence number.
    async fn update(&self, call: ShardCall, write: ShardWrite) -> Result<u64>;

    async fn retrieve(
        &self,
        call: ShardCall,
        ids: Vec<PointId>,
        with_payload: WithPayload,
        with_vector: WithVector,
    ) -> Result<ReplicaAnswer<Vec<Record>>>;

    async fn search(
        &self,
        call: ShardCall,
        request: SearchRequest,
    ) -> Result<ReplicaAnswer<Vec<ScoredPoint>>>;

    async fn text_search(
        &self,
        call: ShardCall,
        request: TextSearchRequest,
    ) -> Result<ReplicaAnswer<Vec<ScoredPoint>>>;

    async fn scroll(
        &self,
        call: ShardCall,
        request: ScrollRequest,
    ) -> Result<ReplicaAnswer<ScrollResult>>;

    async fn count(&self, call: ShardCall, filter: Option<Filter>) -> Result<ReplicaAnswer<u64>>;

    async fn facet(
        &self,
        call: ShardCall,
        key: String,
        filter: Option<Filter>,
    ) -> Result<ReplicaAnswer<Vec<FacetCount>>>;

    /// Statistics of a replica in any state (a recovering one reports its
    /// progress).
    async fn shard_stats(&self, call: ShardCall, with_payload_bytes: bool) -> Result<ReplicaStats>;

    /// The node's resource usage against the quota of a topology at least
    /// as new as `topology_version`.
    async fn node_quota(&self, topology_version: u64, deadline: Instant) -> Result<NodeQuotaUsage>;

    /// A snapshot of the in-sync replica `target`, streamed as it is read
    /// from the node's scratch file: its size, then its bytes.
    async fn shard_snapshot(&self, target: ShardTarget) -> Result<(u64, ByteStream)>;

    /// Writes `data` into the node's snapshot store at `location`, checked
    /// whole as a file of `kind` before it is kept; nothing is kept when
    /// `data` ends in an error or the call is dropped.
    async fn store_snapshot(
        &self,
        location: SnapshotLocation,
        kind: SnapshotKind,
        data: ByteStream,
    ) -> Result<SnapshotFile>;

    /// The files the node's store keeps under `scope`.
    async fn list_snapshots(&self, scope: String, deadline: Instant) -> Result<Vec<SnapshotFile>>;

    /// A stored file, or one entry of a stored archive.
    async fn read_snapshot(&self, location: SnapshotLocation) -> Result<ByteStream>;

    /// Removes a stored file; false when there was none.
    async fn delete_snapshot(&self, location: SnapshotLocation, deadline: Instant) -> Result<bool>;

    /// Replaces the replica `target`, fenced for a restore at `epoch`, with
    /// the shard snapshot `data`; returns the points it holds. Nothing
    /// changes when `data` ends in an error or the call is dropped.
    async fn restore_shard(&self, target: ShardTarget, epoch: u64, data: ByteStream)
        -> Result<u64>;

    /// Applies operations the shard's primary forwards, if the sender still
    /// leads the shard and this replica takes writes.
    async fn replicate(&self, call: ShardCall, ops: ReplicatedOps) -> Result<ReplicateOutcome>;

    /// As primary: up to `max_ops` operations after `after`, for `peer`'s
    /// recovering replica.
    async fn missed_ops(
        &self,
        call: ShardCall,
        after: OpId,
        max_ops: u32,
        peer: PeerId,
    ) -> Result<MissedOps>;

    /// As primary: a snapshot of the shard for a recovering replica, streamed
    /// from a scratch file (holding one of the node's outgoing transfer slots).
    async fn transfer_snapshot(&self, target: ShardTarget) -> Result<TransferSnapshot>;

    /// As primary: every record of a still view of the shard, in batches
    /// (holding one of the node's outgoing transfer slots).
    async fn transfer_records(&self, target: ShardTarget) -> Result<TransferRecords>;
}
