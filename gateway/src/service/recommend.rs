//! Queries by example points and vectors. `average_vector` recommendations
//! are one search for a combined vector. `best_score` and `sum_scores`
//! recommendations, discovery (a target within a context of positive and
//! negative pairs) and context search score candidates here against every
//! example, with Qdrant's formulas; the candidates are the nearest neighbours
//! of the target or of each positive example, so these are as good as that
//! pool (exact when it covers the matching points).

use super::query::Examples;
use super::*;
use tessera_types::Distance;

/// Candidates drawn per seed (target or positive example), at least, and at most.
const POOL_MIN: usize = 100;
const POOL_MAX: usize = 2_000;

/// Multi-vectors have no mean: as Qdrant does, the query is every positive
/// example's inner vectors followed by every negative one's, negated.
fn concatenated_multi(positive: &[Vector], negative: &[Vector]) -> Result<Vector> {
    let mismatch =
        || TesseraError::bad_input("Examples must be vectors of the same kind and dimension");
    let mut inner: Vec<Vec<f32>> = Vec::new();
    for v in positive {
        inner.extend(v.as_multi().ok_or_else(mismatch)?.iter().cloned());
    }
    for v in negative {
        inner.extend(v.negated().as_multi().ok_or_else(mismatch)?.iter().cloned());
    }
    Ok(Vector::Multi(inner))
}

impl Gateway {
    /// `average_vector`: `avg(positive) + (avg(positive) - avg(negative))`,
    /// or `avg(positive)` without negatives.
    pub(super) async fn recommend_vector(
        &self,
        recommend: &Recommend,
        examples: &Examples<'_>,
        read: &ReadOptions,
    ) -> Result<Vector> {
        if recommend.positive.is_empty() {
            return Err(TesseraError::bad_request(
                "At least one positive vector ID required with this strategy",
            ));
        }
        let positive = self.vectors_of(examples, &recommend.positive, read).await?;
        let negative = self.vectors_of(examples, &recommend.negative, read).await?;
        if matches!(positive.first(), Some(Vector::Multi(_))) {
            return concatenated_multi(&positive, &negative);
        }
        let mean = |vectors: &[Vector]| {
            let share = 1.0 / vectors.len() as f32;
            let terms: Vec<(&Vector, f32)> = vectors.iter().map(|v| (v, share)).collect();
            Vector::weighted_sum(&terms)
        };
        let avg_positive = mean(&positive)?;
        if negative.is_empty() {
            return Ok(avg_positive);
        }
        let avg_negative = mean(&negative)?;
        Vector::weighted_sum(&[(&avg_positive, 2.0), (&avg_negative, -1.0)])
    }

    /// `best_score` and `sum_scores`, best first, up to `limit`.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn recommend_by_scores(
        &self,
        collection: &str,
        recommend: &Recommend,
        using: &str,
        examples: &Examples<'_>,
        filter: Option<Filter>,
        limit: usize,
        score_threshold: Option<f32>,
        read: &ReadOptions,
    ) -> Result<Vec<ScoredPoint>> {
        if recommend.positive.is_empty() && recommend.negative.is_empty() {
            return Err(TesseraError::bad_request(
                "At least one positive or negative vector ID required with this strategy",
            ));
        }
        let positive = self.vectors_of(examples, &recommend.positive, read).await?;
        let negative = self.vectors_of(examples, &recommend.negative, read).await?;
        // Without positives the best candidates lie away from the negatives:
        // drawn near their opposites.
        let seeds: Vec<Vector> = if positive.is_empty() {
            negative.iter().map(Vector::negated).collect()
        } else {
            positive.clone()
        };
        let named: Vec<&VectorInput> = recommend
            .positive
            .iter()
            .chain(&recommend.negative)
            .collect();
        let strategy = recommend.strategy;
        let scored = ScoredByExamples {
            collection,
            using,
            seeds: &seeds,
            named: &named,
            limit,
            score_threshold,
            similarity: search_similarity,
        };
        self.score_by_examples(scored, examples, filter, read, |similarity| {
            let pos: Vec<f32> = positive.iter().map(similarity).collect();
            let neg: Vec<f32> = negative.iter().map(similarity).collect();
            if strategy == RecommendStrategy::SumScores {
                return pos.iter().sum::<f32>() - neg.iter().sum::<f32>();
            }
            let best_pos = pos.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let best_neg = neg.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            // Squashed into (0, 1), negated when a negative example is the closest.
            if best_pos > best_neg {
                squashed(best_pos)
            } else {
                -squashed(best_neg)
            }
        })
        .await
    }

    /// Discovery: how many context pairs a point sits on the positive side of
    /// (minus those it does not), plus its squashed similarity to the target.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn discover(
        &self,
        collection: &str,
        discover: &Discover,
        using: &str,
        examples: &Examples<'_>,
        filter: Option<Filter>,
        limit: usize,
        score_threshold: Option<f32>,
        read: &ReadOptions,
    ) -> Result<Vec<ScoredPoint>> {
        let target = self
            .vectors_of(examples, std::slice::from_ref(&discover.target), read)
            .await?;
        let pairs = self.pair_vectors(examples, &discover.context, read).await?;
        let mut named = vec![&discover.target];
        named.extend(discover.context.iter().flat_map(|(p, n)| [p, n]));
        let scored = ScoredByExamples {
            collection,
            using,
            seeds: &target,
            named: &named,
            limit,
            score_threshold,
            similarity: search_similarity,
        };
        self.score_by_examples(scored, examples, filter, read, |similarity| {
            let rank: i32 = pairs
                .iter()
                .map(|(p, n)| similarity(p).total_cmp(&similarity(n)) as i32)
                .sum();
            rank as f32 + squashed(similarity(&target[0]))
        })
        .await
    }

    /// Context search: each pair adds `fast_sigmoid(min(0, sim(positive) -
    /// sim(negative)))`, so points on the positive side of every pair score 0.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn context(
        &self,
        collection: &str,
        context: &[(VectorInput, VectorInput)],
        using: &str,
        examples: &Examples<'_>,
        filter: Option<Filter>,
        limit: usize,
        score_threshold: Option<f32>,
        read: &ReadOptions,
    ) -> Result<Vec<ScoredPoint>> {
        if context.is_empty() {
            return Err(TesseraError::bad_input(
                "Context search needs at least one pair",
            ));
        }
        let pairs = self.pair_vectors(examples, context, read).await?;
        let positives: Vec<Vector> = pairs.iter().map(|(p, _)| p.clone()).collect();
        let named: Vec<&VectorInput> = context.iter().flat_map(|(p, n)| [p, n]).collect();
        let scored = ScoredByExamples {
            collection,
            using,
            seeds: &positives,
            named: &named,
            limit,
            score_threshold,
            similarity: search_similarity,
        };
        self.score_by_examples(scored, examples, filter, read, |similarity| {
            pairs
                .iter()
                .map(|(p, n)| {
                    let difference = (similarity(p) - similarity(n) - f32::EPSILON).min(0.0);
                    difference / (1.0 + difference.abs())
                })
                .sum()
        })
        .await
    }

    async fn pair_vectors(
        &self,
        examples: &Examples<'_>,
        pairs: &[(VectorInput, VectorInput)],
        read: &ReadOptions,
    ) -> Result<Vec<(Vector, Vector)>> {
        let mut vectors = Vec::with_capacity(pairs.len());
        for (positive, negative) in pairs {
            let both = self
                .vectors_of(examples, &[positive.clone(), negative.clone()], read)
                .await?;
            let mut both = both.into_iter();
            if let (Some(p), Some(n)) = (both.next(), both.next()) {
                vectors.push((p, n));
            }
        }
        Ok(vectors)
    }

    /// Scores the nearest neighbours of every seed with `score`, which gets a
    /// similarity to any vector (larger is closer, whatever the distance).
    pub(super) async fn score_by_examples(
        &self,
        scored: ScoredByExamples<'_>,
        examples: &Examples<'_>,
        mut filter: Option<Filter>,
        read: &ReadOptions,
        score: impl Fn(&dyn Fn(&Vector) -> f32) -> f32,
    ) -> Result<Vec<ScoredPoint>> {
        let ScoredByExamples {
            collection,
            using,
            seeds,
            named,
            limit,
            score_threshold,
            similarity,
        } = scored;
        let (_, state) = self.collection(collection)?;
        let distance = state.config.params.distance(using)?;
        // Examples given by id are not found again.
        let ids: Vec<PointId> = named
            .iter()
            .filter_map(|v| match v {
                VectorInput::Point(id) => Some(*id),
                VectorInput::Vector(_) => None,
            })
            .collect();
        if !ids.is_empty() && examples.excluded {
            super::query::exclude(&mut filter, ids);
        }
        let pool = limit.saturating_mul(10).clamp(POOL_MIN, POOL_MAX);
        // Each candidate's version, from its search: results carry it, as in Qdrant.
        let mut versions: HashMap<PointId, u64> = HashMap::new();
        for seed in seeds {
            let near = self
                .search(
                    collection,
                    SearchRequest {
                        vector: seed.clone(),
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
            versions.extend(near.into_iter().map(|p| (p.id, p.version)));
        }
        let mut candidates: Vec<PointId> = versions.keys().copied().collect();
        candidates.sort_unstable();
        let records = self
            .retrieve(
                collection,
                &candidates,
                &WithPayload::Enable(false),
                &WithVector::Include(vec![using.to_string()]),
                read,
            )
            .await?;
        let mut hits: Vec<ScoredPoint> = records
            .into_iter()
            .filter_map(|r| {
                let vector = r.vector?.into_named().remove(using)?;
                let similarity = |example: &Vector| similarity(&vector, example, distance);
                Some(ScoredPoint {
                    version: versions.get(&r.id).copied().unwrap_or_default(),
                    ..ScoredPoint::scored(r.id, score(&similarity))
                })
            })
            .filter(|p| score_threshold.is_none_or(|t| p.score >= t))
            .collect();
        hits.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.id.cmp(&b.id)));
        hits.truncate(limit);
        Ok(hits)
    }
}

/// What a query by examples asks: where, by which vector, from which seeds,
/// naming which points, how many results, and how a candidate's vector
/// compares with an example.
pub(super) struct ScoredByExamples<'a> {
    pub collection: &'a str,
    pub using: &'a str,
    pub seeds: &'a [Vector],
    pub named: &'a [&'a VectorInput],
    pub limit: usize,
    pub score_threshold: Option<f32>,
    pub similarity: fn(&Vector, &Vector, Distance) -> f32,
}

/// A candidate's search score against an example, turned so larger is closer.
fn search_similarity(candidate: &Vector, example: &Vector, distance: Distance) -> f32 {
    let s = candidate.score(example, distance);
    if distance.higher_is_better() {
        s
    } else {
        -s
    }
}

/// `x / (1 + |x|)` mapped from (-1, 1) to (0, 1): monotonic, so order is kept.
fn squashed(x: f32) -> f32 {
    0.5 * (x / (1.0 + x.abs()) + 1.0)
}
