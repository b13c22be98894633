//! The `text` query (Qdrant 1.20): points ranked by BM25 over the text index
//! of a payload field, and the per-shard search it becomes.

use serde::{Deserialize, Serialize};

use crate::error::{Result, TesseraError};
use crate::filter::Filter;

/// BM25's term-frequency saturation when the query does not set `k`.
pub const DEFAULT_BM25_K: f32 = 1.2;
/// BM25's document-length normalization when the query does not set `b`.
pub const DEFAULT_BM25_B: f32 = 0.75;

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bm25Params {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub k: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub b: Option<f32>,
}

impl Bm25Params {
    pub fn k(&self) -> f32 {
        self.k.unwrap_or(DEFAULT_BM25_K)
    }

    pub fn b(&self) -> f32 {
        self.b.unwrap_or(DEFAULT_BM25_B)
    }

    pub fn validate(&self) -> Result<()> {
        let k = self.k();
        if !k.is_finite() || k < 0.0 {
            return Err(TesseraError::bad_input(format!(
                "bm25.k must be a finite number >= 0, got {k}"
            )));
        }
        let b = self.b();
        if !(0.0..=1.0).contains(&b) {
            return Err(TesseraError::bad_input(format!(
                "bm25.b must be between 0 and 1, got {b}"
            )));
        }
        Ok(())
    }
}

/// `{"text": "..."}` or `{"text": {"query": "...", "scoring": {"bm25": {...}}}}`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TextQuery {
    pub query: String,
    pub bm25: Bm25Params,
}

/// A text query on one shard: the `limit` best points holding a query term in
/// `field`, among those `filter` passes.
#[derive(Debug, Clone, PartialEq)]
pub struct TextSearchRequest {
    pub field: String,
    pub query: TextQuery,
    pub filter: Option<Filter>,
    pub limit: usize,
    pub score_threshold: Option<f32>,
    /// The points IDF and the average length count (`params.idf`); None: all
    /// the shard's points holding the field.
    pub idf_corpus: Option<Filter>,
}
