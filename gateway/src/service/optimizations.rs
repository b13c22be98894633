//! `GET /collections/{name}/optimizations` as Qdrant (1.17+) answers it. A
//! Tessera shard reports only whether an optimization is running or due, not
//! which segments it takes: a shard that optimizes counts as one queued
//! optimization of all its segments, and no optimization is listed as running
//! or completed, for want of its progress.

use serde::Serialize;
use tessera_types::TesseraError;
use uuid::Uuid;

use super::collection_stats::SegmentStats;
use super::{Gateway, Result};

/// Which optional lists to include (`?with=queued,completed,idle_segments`).
#[derive(Clone, Copy, Default, Debug, PartialEq)]
pub struct OptimizationLists {
    pub queued: bool,
    pub completed: bool,
    pub idle_segments: bool,
}

impl OptimizationLists {
    /// Parses `?with=`: comma-separated, spaces and empty items ignored.
    pub fn parse(with: &str) -> Result<Self> {
        let mut lists = OptimizationLists::default();
        for item in with.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            match item {
                "queued" => lists.queued = true,
                "completed" => lists.completed = true,
                "idle_segments" => lists.idle_segments = true,
                other => {
                    return Err(TesseraError::bad_input(format!(
                        "Unknown field in 'with' parameter: {other}"
                    )))
                }
            }
        }
        Ok(lists)
    }
}

#[derive(Serialize, Debug, PartialEq)]
pub struct OptimizationsResponse {
    pub summary: OptimizationsSummary,
    pub running: Vec<()>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queued: Option<Vec<()>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completed: Option<Vec<()>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idle_segments: Option<Vec<SegmentInfo>>,
}

#[derive(Serialize, Debug, PartialEq, Default)]
pub struct OptimizationsSummary {
    pub queued_optimizations: usize,
    pub queued_segments: usize,
    pub queued_points: u64,
    pub idle_segments: usize,
}

#[derive(Serialize, Debug, PartialEq)]
pub struct SegmentInfo {
    pub uuid: Uuid,
    pub points_count: u64,
}

/// A segment's UUID: stable for as long as the segment lives, and unique in
/// its collection (shard, appendable or sealed, sealed id).
fn segment_uuid(segment: &SegmentStats) -> Uuid {
    let high = (u64::from(segment.shard_id) << 1) | u64::from(segment.id.is_none());
    Uuid::from_u64_pair(high, segment.id.unwrap_or(0))
}

pub fn summarize(
    segments: &[SegmentStats],
    optimizing_shards: usize,
    lists: OptimizationLists,
) -> OptimizationsResponse {
    let (busy, idle): (Vec<&SegmentStats>, Vec<&SegmentStats>) =
        segments.iter().partition(|s| s.optimizing);
    OptimizationsResponse {
        summary: OptimizationsSummary {
            queued_optimizations: optimizing_shards,
            queued_segments: busy.len(),
            queued_points: busy.iter().map(|s| s.points).sum(),
            idle_segments: idle.len(),
        },
        running: Vec::new(),
        // What a queued optimization would take is not known: none is listed.
        queued: lists.queued.then(Vec::new),
        completed: lists.completed.then(Vec::new),
        idle_segments: lists.idle_segments.then(|| {
            idle.iter()
                .map(|s| SegmentInfo {
                    uuid: segment_uuid(s),
                    points_count: s.points,
                })
                .collect()
        }),
    }
}

impl Gateway {
    pub async fn optimizations(
        &self,
        collection: &str,
        lists: OptimizationLists,
    ) -> Result<OptimizationsResponse> {
        let stats = self.collection_stats(collection).await?;
        Ok(summarize(&stats.segments, stats.optimizing_shards, lists))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn with_lists_are_parsed_as_qdrant_parses_them() {
        let all = OptimizationLists::parse("queued ,  completed  , idle_segments").unwrap();
        assert!(all.queued && all.completed && all.idle_segments);
        assert_eq!(OptimizationLists::parse(",").unwrap(), Default::default());
        let err = OptimizationLists::parse("queued,nope").unwrap_err();
        assert_eq!(
            err.to_string(),
            "Wrong input: Unknown field in 'with' parameter: nope"
        );
    }

    #[test]
    fn an_optimizing_shard_queues_its_segments() {
        let segment = |shard_id, id, points, optimizing| SegmentStats {
            shard_id,
            id,
            points,
            optimizing,
        };
        let segments = [
            segment(0, None, 3, false),
            segment(0, Some(7), 10, false),
            segment(1, None, 5, true),
        ];
        let lists = OptimizationLists {
            idle_segments: true,
            ..Default::default()
        };
        let answer = summarize(&segments, 1, lists);
        assert_eq!(
            serde_json::to_value(&answer).unwrap(),
            serde_json::json!({
                "summary": {"queued_optimizations": 1, "queued_segments": 1,
                            "queued_points": 5, "idle_segments": 2},
                "running": [],
                "idle_segments": [
                    {"uuid": "00000000-0000-0001-0000-000000000000", "points_count": 3},
                    {"uuid": "00000000-0000-0000-0000-000000000007", "points_count": 10},
                ],
            })
        );
    }
}
