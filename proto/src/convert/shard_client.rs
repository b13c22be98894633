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
