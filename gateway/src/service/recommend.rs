//! Recommendations from positive and negative examples: `average_vector`
//! as one search for a combined vector; `best_score` and `sum_scores` by
//! scoring candidates against every example. The candidates are the nearest
//! neighbours of each positive example, so those two strategies are as good as
//! that pool (exact when the pool covers the matching points).

use super::matrix::distance_score;
use super::query::Examples;
use super::*;

/// Candidates drawn per positive example for `best_score` and `sum_scores`,
/// at least, and at most.
const POOL_MIN: usize = 100;
const POOL_MAX: usize = 2_000;

impl Gateway {
    /// `average_vector`: `avg(positive) + (avg(positive) - avg(negative))`,
    /// or `avg(positive)` without negatives.
    pub(super) async fn recommend_vector(
        &self,
        recommend: &Recommend,
        examples: &Examples<'_>,
        read: &ReadOptions,
    ) -> Result<Vec<f32>> {
        if recommend.positive.is_empty() {
            return Err(TesseraError::bad_input(
                "Recommend needs at least one positive example",
            ));
        }
        let positive = self.vectors_of(examples, &recommend.positive, read).await?;
        let negative = self.vectors_of(examples, &recommend.negative, read).await?;
        let mean = |vectors: &[Vec<f32>]| -> Result<Vec<f32>> {
            let dim = vectors[0].len();
            if vectors.iter().any(|v| v.len() != dim) {
                return Err(TesseraError::bad_input(
                    "Recommend examples must have the same dimension",
                ));
            }
            let mut sum = vec![0.0f32; dim];
            for v in vectors {
                for (s, x) in sum.iter_mut().zip(v) {
                    *s += x;
                }
            }
            Ok(sum.into_iter().map(|s| s / vectors.len() as f32).collect())
        };
        let avg_positive = mean(&positive)?;
        if negative.is_empty() {
            return Ok(avg_positive);
        }
        let avg_negative = mean(&negative)?;
        if avg_negative.len() != avg_positive.len() {
            return Err(TesseraError::bad_input(
                "Recommend examples must have the same dimension",
            ));
        }
        Ok(avg_positive
            .iter()
            .zip(&avg_negative)
            .map(|(p, n)| p + p - n)
            .collect())
    }

    /// `best_score` and `sum_scores`, best first, up to `limit`.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn recommend_by_scores(
        &self,
        collection: &str,
        recommend: &Recommend,
        using: &str,
        examples: &Examples<'_>,
        mut filter: Option<Filter>,
        limit: usize,
        score_threshold: Option<f32>,
        read: &ReadOptions,
    ) -> Result<Vec<ScoredPoint>> {
        if recommend.positive.is_empty() {
            return Err(TesseraError::bad_input(
                "Recommend needs at least one positive example",
            ));
        }
        let (_, state) = self.collection(collection)?;
        let distance = state.config.params.vectors.require(using)?.distance;
        let positive = self.vectors_of(examples, &recommend.positive, read).await?;
        let negative = self.vectors_of(examples, &recommend.negative, read).await?;
        let ids: Vec<PointId> = recommend
            .positive
            .iter()
            .chain(&recommend.negative)
            .filter_map(|v| match v {
                VectorInput::Point(id) => Some(*id),
                VectorInput::Vector(_) => None,
            })
            .collect();
        if !ids.is_empty() && examples.excluded {
            super::query::exclude(&mut filter, ids);
        }
        let pool = limit.saturating_mul(10).clamp(POOL_MIN, POOL_MAX);
        let mut candidates: Vec<PointId> = Vec::new();
        for vector in &positive {
            let near = self
                .search(
                    collection,
                    SearchRequest {
                        vector: vector.clone(),
                        using: using.to_string(),
                        filter: filter.clone(),
                        limit: pool,
                        offset: 0,
                        with_payload: WithPayload::Enable(false),
                        with_vector: WithVector::Enable(false),
                        score_threshold: None,
                        params: SearchParams::default(),
                    },
                    read,
                )
                .await?;
            candidates.extend(near.into_iter().map(|p| p.id));
        }
        candidates.sort_unstable();
        candidates.dedup();
        let records = self
            .retrieve(
                collection,
                &candidates,
                &WithPayload::Enable(false),
                &WithVector::Include(vec![using.to_string()]),
                read,
            )
            .await?;
        // Larger is closer, whatever the distance.
        let similarity = |a: &[f32], b: &[f32]| {
            let s = distance_score(distance, a, b);
            if distance.higher_is_better() {
                s
            } else {
                -s
            }
        };
        let mut scored: Vec<ScoredPoint> = records
            .into_iter()
            .filter_map(|r| {
                let vector = r.vector?.into_named().remove(using)?;
                let to = |examples: &[Vec<f32>]| -> Vec<f32> {
                    examples.iter().map(|e| similarity(&vector, e)).collect()
                };
                let (pos, neg) = (to(&positive), to(&negative));
                let score = match recommend.strategy {
                    RecommendStrategy::SumScores => {
                        pos.iter().sum::<f32>() - neg.iter().sum::<f32>()
                    }
                    _ => {
                        let best_pos = pos.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                        let best_neg = neg.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                        // As Qdrant scores it: squashed into (0, 1), negated
                        // when a negative example is the closest.
                        if best_pos > best_neg {
                            squashed(best_pos)
                        } else {
                            -squashed(best_neg)
                        }
                    }
                };
                Some(ScoredPoint {
                    id: r.id,
                    version: 0,
                    score,
                    payload: None,
                    vector: None,
                    shard_key: None,
                    order_value: None,
                })
            })
            .filter(|p| score_threshold.is_none_or(|t| p.score >= t))
            .collect();
        scored.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.id.cmp(&b.id)));
        scored.truncate(limit);
        Ok(scored)
    }
}

/// `x / (1 + |x|)` mapped from (-1, 1) to (0, 1): monotonic, so order is kept.
fn squashed(x: f32) -> f32 {
    0.5 * (x / (1.0 + x.abs()) + 1.0)
}
