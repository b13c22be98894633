//! What each collection's shards report about themselves (points, vectors,
//! segments, whether they optimize), gathered for telemetry, metrics and
//! optimization progress.

use std::collections::BTreeMap;

use serde_json::{json, Value};
use tessera_types::shard_client::ReplicaStats;
use tessera_types::{CollectionState, ShardId};

use super::{Gateway, Result};

/// One segment of one shard replica.
#[derive(Clone, Debug)]
pub struct SegmentStats {
    pub shard_id: ShardId,
    /// None for the shard's appendable segment.
    pub id: Option<u64>,
    pub points: u64,
    /// Whether its shard has an optimization running or due.
    pub optimizing: bool,
}

/// A collection and what its shards (one readable replica each) report.
pub struct CollectionStats {
    pub state: CollectionState,
    pub points: u64,
    /// Live vectors by vector name.
    pub vectors: BTreeMap<String, u64>,
    pub segments: Vec<SegmentStats>,
    pub optimizing_shards: usize,
    /// Shards that did not answer.
    pub failed_shards: usize,
}

impl CollectionStats {
    /// Qdrant's `OptimizersStatus`: shards that cannot answer are the only
    /// error Tessera can see from here.
    pub fn optimizer_status(&self) -> Value {
        if self.failed_shards == 0 {
            json!("ok")
        } else {
            json!({ "error": format!("{} shard(s) did not report", self.failed_shards) })
        }
    }
}

impl Gateway {
    pub async fn collection_stats(&self, name: &str) -> Result<CollectionStats> {
        let (topology, state) = self.collection(name)?;
        let replies = self.shard_stats(&topology, &state, false).await;
        let mut stats = CollectionStats {
            state,
            points: 0,
            vectors: BTreeMap::new(),
            segments: Vec::new(),
            optimizing_shards: 0,
            failed_shards: 0,
        };
        for (shard, reply) in stats.state.shards.iter().zip(replies) {
            let Ok(ReplicaStats { stats: reply, .. }) = reply else {
                stats.failed_shards += 1;
                continue;
            };
            stats.points += reply.points_count;
            stats.optimizing_shards += usize::from(reply.optimizing);
            for (name, count) in reply.vectors {
                *stats.vectors.entry(name).or_default() += count;
            }
            stats
                .segments
                .extend(reply.segments.into_iter().map(|(id, points)| SegmentStats {
                    shard_id: shard.shard_id,
                    id,
                    points,
                    optimizing: reply.optimizing,
                }));
        }
        Ok(stats)
    }

    /// Every collection's statistics; a collection dropped meanwhile is left out.
    pub async fn all_collection_stats(&self) -> Vec<CollectionStats> {
        let names = self.list_collections();
        let all = futures::future::join_all(names.iter().map(|n| self.collection_stats(n))).await;
        all.into_iter().filter_map(Result::ok).collect()
    }
}
