//! Conversions of the shard interface's messages ([`tessera_types::shard_client`]).

use tessera_types as t;
use tessera_types::shard_client as sc;

use super::{json_from_proto, json_to_proto, point_id, Result};
use crate::common;
use crate::data_plane as dp;

impl From<&sc::ShardTarget> for common::ShardTarget {
    fn from(target: &sc::ShardTarget) -> Self {
        common::ShardTarget {
            collection: target.collection.clone(),
            incarnation: target.incarnation,
            shard_id: target.shard_id,
            topology_version: target.topology_version,
        }
    }
}

impl From<common::ShardTarget> for sc::ShardTarget {
    fn from(target: common::ShardTarget) -> Self {
        sc::ShardTarget {
            collection: target.collection,
            incarnation: target.incarnation,
            shard_id: target.shard_id,
            topology_version: target.topology_version,
        }
    }
}

/// A request's shard target, which every shard call names.
pub fn shard_target(target: Option<common::ShardTarget>) -> Result<sc::ShardTarget> {
    target
        .map(Into::into)
        .ok_or_else(|| t::TesseraError::bad_input("shard target is missing"))
}

/// The replica's position in the shard's order, from a reply's two fields.
pub fn applied(epoch: u64, seq: u64) -> t::OpId {
    t::OpId { epoch, seq }
}

impl From<sc::FacetCount> for dp::FacetHit {
    fn from(hit: sc::FacetCount) -> Self {
        dp::FacetHit {
            value: Some(json_to_proto(&hit.value)),
            count: hit.count,
        }
    }
}

impl TryFrom<dp::FacetHit> for sc::FacetCount {
    type Error = t::TesseraError;
    fn try_from(hit: dp::FacetHit) -> Result<Self> {
        Ok(sc::FacetCount {
            value: json_from_proto(
                hit.value
                    .ok_or_else(|| t::TesseraError::bad_input("facet value is missing"))?,
                "facet value",
            )?,
            count: hit.count,
        })
    }
}

impl From<sc::ReplicaStats> for dp::ShardStatsReply {
    fn from(replica: sc::ReplicaStats) -> Self {
        let stats = replica.stats;
        dp::ShardStatsReply {
            payload_bytes: replica.payload_bytes,
            points_count: stats.points_count,
            indexed_vectors_count: stats.indexed_vectors_count,
            segments_count: stats.segments_count,
            optimizing: stats.optimizing,
            payload_points: stats.payload_points.into_iter().collect(),
            vectors: stats.vectors.into_iter().collect(),
            segments: stats
                .segments
                .into_iter()
                .map(|(id, points_count)| dp::SegmentSummary { id, points_count })
                .collect(),
            recovery: replica.recovery.map(|p| dp::RecoveryProgress {
                method: p.method,
                done: p.done,
                total: p.total,
                rate_per_second: p.rate_per_second,
            }),
        }
    }
}

impl From<dp::ShardStatsReply> for sc::ReplicaStats {
    fn from(reply: dp::ShardStatsReply) -> Self {
        sc::ReplicaStats {
            stats: t::ShardStats {
                points_count: reply.points_count,
                indexed_vectors_count: reply.indexed_vectors_count,
                segments_count: reply.segments_count,
                optimizing: reply.optimizing,
                payload_points: reply.payload_points.into_iter().collect(),
                vectors: reply.vectors.into_iter().collect(),
                segments: reply
                    .segments
                    .into_iter()
                    .map(|s| (s.id, s.points_count))
                    .collect(),
            },
            payload_bytes: reply.payload_bytes,
            recovery: reply.recovery.map(|p| sc::RecoveryProgress {
                method: p.method,
                done: p.done,
                total: p.total,
                rate_per_second: p.rate_per_second,
            }),
        }
    }
}

impl TryFrom<dp::ScrollReply> for sc::ReplicaAnswer<t::ScrollResult> {
    type Error = t::TesseraError;
    fn try_from(reply: dp::ScrollReply) -> Result<Self> {
        Ok(sc::ReplicaAnswer {
            value: t::ScrollResult {
                points: reply
                    .records
                    .into_iter()
                    .map(t::Record::try_from)
                    .collect::<Result<_>>()?,
                next_page_offset: reply
                    .next_page_offset
                    .map(|id| point_id(Some(id)))
                    .transpose()?,
            },
            applied: applied(reply.applied_epoch, reply.applied_seq),
        })
    }
}

impl From<sc::SnapshotLocation> for dp::SnapshotLocation {
    fn from(l: sc::SnapshotLocation) -> Self {
        dp::SnapshotLocation {
            scope: l.scope,
            name: l.name,
            entry: l.entry,
        }
    }
}

impl From<dp::SnapshotLocation> for sc::SnapshotLocation {
    fn from(l: dp::SnapshotLocation) -> Self {
        sc::SnapshotLocation {
            scope: l.scope,
            name: l.name,
            entry: l.entry,
        }
    }
}

impl From<sc::SnapshotKind> for dp::SnapshotKind {
    fn from(kind: sc::SnapshotKind) -> Self {
        match kind {
            sc::SnapshotKind::Shard => dp::SnapshotKind::Shard,
            sc::SnapshotKind::Collection => dp::SnapshotKind::Collection,
            sc::SnapshotKind::Full => dp::SnapshotKind::Full,
        }
    }
}

/// A snapshot kind as a message carries it.
pub fn snapshot_kind(kind: i32) -> Result<sc::SnapshotKind> {
    match dp::SnapshotKind::try_from(kind) {
        Ok(dp::SnapshotKind::Shard) => Ok(sc::SnapshotKind::Shard),
        Ok(dp::SnapshotKind::Collection) => Ok(sc::SnapshotKind::Collection),
        Ok(dp::SnapshotKind::Full) => Ok(sc::SnapshotKind::Full),
        Err(_) => Err(t::TesseraError::bad_input("unknown snapshot kind")),
    }
}

impl From<sc::SnapshotFile> for dp::SnapshotInfo {
    fn from(f: sc::SnapshotFile) -> Self {
        dp::SnapshotInfo {
            name: f.name,
            created_unix_seconds: f.created_unix_seconds,
            size: f.size,
            checksum: f.checksum,
        }
    }
}

impl From<dp::SnapshotInfo> for sc::SnapshotFile {
    fn from(i: dp::SnapshotInfo) -> Self {
        sc::SnapshotFile {
            name: i.name,
            created_unix_seconds: i.created_unix_seconds,
            size: i.size,
            checksum: i.checksum,
        }
    }
}
