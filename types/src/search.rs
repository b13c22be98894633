//! Read requests as the data plane executes them on one shard.

use serde::{Deserialize, Serialize};

use crate::filter::Filter;
use crate::point::{PointId, Record, WithPayload, WithVector};
use crate::quantization::QuantizationSearchParams;
use crate::vector::Vector;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SearchParams {
    #[serde(default)]
    pub hnsw_ef: Option<usize>,
    #[serde(default)]
    pub exact: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantization: Option<QuantizationSearchParams>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub indexed_only: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acorn: Option<serde_json::Value>,
    /// Which points a sparse vector's `idf` modifier counts (Qdrant 1.19).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idf: Option<IdfParams>,
}

/// `"idf": "global"` (every point holding the vector, the default) or
/// `"idf": {"corpus": <filter>}` (only the points the filter passes).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum IdfParams {
    Scope(IdfScope),
    Corpus { corpus: Filter },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum IdfScope {
    Global,
}

impl SearchParams {
    /// The filter of the points a query's IDF counts, when narrowed.
    pub fn idf_corpus(&self) -> Option<&Filter> {
        match &self.idf {
            Some(IdfParams::Corpus { corpus }) => Some(corpus),
            Some(IdfParams::Scope(IdfScope::Global)) | None => None,
        }
    }
}

/// Nearest-neighbour search of one vector. `limit` already includes any `offset`
/// when it reaches a shard: shards cannot skip, only the merge can.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchRequest {
    pub vector: Vector,
    /// Name of the vector to search ("" for the unnamed one).
    pub using: String,
    pub filter: Option<Filter>,
    pub limit: usize,
    pub offset: usize,
    pub with_payload: WithPayload,
    pub with_vector: WithVector,
    pub score_threshold: Option<f32>,
    pub params: SearchParams,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScrollRequest {
    pub offset: Option<PointId>,
    pub limit: usize,
    pub filter: Option<Filter>,
    pub with_payload: WithPayload,
    pub with_vector: WithVector,
    /// Points in the order of a numeric payload field instead of by id.
    #[serde(default)]
    pub order_by: Option<OrderBy>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    #[default]
    Asc,
    Desc,
}

/// `order_by` of a scroll or query, in Qdrant's shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderBy {
    pub key: String,
    #[serde(default)]
    pub direction: Option<Direction>,
    /// The first value to list (inclusive), in the order's direction.
    #[serde(default)]
    pub start_from: Option<f64>,
}

impl OrderBy {
    pub fn direction(&self) -> Direction {
        self.direction.unwrap_or_default()
    }
}

impl Direction {
    /// Orders points by value in this direction, ties by point id: the one
    /// order every shard and the gateway's merge agree on.
    pub fn sort(self, points: &mut [(f64, crate::point::Record)]) {
        points.sort_by(|(a, ra), (b, rb)| {
            let by_value = match self {
                Direction::Asc => a.total_cmp(b),
                Direction::Desc => b.total_cmp(a),
            };
            by_value.then(ra.id.cmp(&rb.id))
        });
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScrollResult {
    pub points: Vec<Record>,
    pub next_page_offset: Option<PointId>,
}

/// Per-shard statistics shown in collection info.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ShardStats {
    pub points_count: u64,
    pub indexed_vectors_count: u64,
    pub segments_count: u64,
    /// Whether an optimization (index build, merge, vacuum) is running.
    pub optimizing: bool,
    /// Points holding a value of each indexed payload field, by key.
    #[serde(default)]
    pub payload_points: std::collections::BTreeMap<String, u64>,
    /// Live vectors stored, by vector name (`""` for the unnamed one).
    #[serde(default)]
    pub vectors: std::collections::BTreeMap<String, u64>,
    /// Each segment: its id (none for the appendable one) and live points.
    #[serde(default)]
    pub segments: Vec<(Option<u64>, u64)>,
}
