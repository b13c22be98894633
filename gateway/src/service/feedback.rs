//! Relevance feedback (Qdrant 1.17): a target, examples a judge scored for
//! relevance, and the naive strategy's trained coefficients `a`, `b`, `c`.
//! A point scores `a * sim(target, x) + Σ c * confidence^b * (sim(better, x) -
//! sim(worse, x))` over every pair of examples with different scores, where
//! `sim` is Qdrant's raw similarity (larger is closer; no square root for
//! Euclid). Candidates are the nearest neighbours of the target and of every
//! better-scored example, scored here as other queries by example are.

use super::query::Examples;
use super::recommend::ScoredByExamples;
use super::*;
use tessera_types::Distance;

#[derive(Debug, Clone, PartialEq)]
pub struct RelevanceFeedback {
    pub target: VectorInput,
    /// Each example with the relevance it was judged to have.
    pub feedback: Vec<(VectorInput, f32)>,
    pub strategy: NaiveFeedback,
}

/// The naive strategy's coefficients; `b` is at least 0 (checked at the edges).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NaiveFeedback {
    pub a: f32,
    pub b: f32,
    pub c: f32,
}

/// A pair of examples: the better one's index, the worse one's, and the
/// weight of their difference, `c * (score_better - score_worse)^b`.
#[derive(Debug, Clone, Copy, PartialEq)]
struct FeedbackPair {
    better: usize,
    worse: usize,
    weight: f32,
}

/// Every ordered pair whose first example scored strictly higher, as Qdrant
/// builds them: examples with equal scores make no pair, one example none.
fn feedback_pairs(scores: &[f32], strategy: NaiveFeedback) -> Vec<FeedbackPair> {
    let mut pairs = Vec::new();
    for (i, better) in scores.iter().enumerate() {
        for (j, worse) in scores.iter().enumerate() {
            let confidence = better - worse;
            if i != j && confidence > 0.0 {
                pairs.push(FeedbackPair {
                    better: i,
                    worse: j,
                    weight: confidence.powf(strategy.b) * strategy.c,
                });
            }
        }
    }
    pairs
}

/// A candidate's score from its similarities to the target and the examples.
fn feedback_score(
    strategy: NaiveFeedback,
    pairs: &[FeedbackPair],
    to_target: f32,
    to_examples: &[f32],
) -> f32 {
    strategy.a * to_target
        + pairs
            .iter()
            .map(|p| p.weight * (to_examples[p.better] - to_examples[p.worse]))
            .sum::<f32>()
}

/// Qdrant's raw similarity of a stored vector to a query vector: larger is
/// closer, and distances are negated as they are, squared for Euclid.
fn raw_similarity(candidate: &Vector, query: &Vector, distance: Distance) -> f32 {
    let dense = |a: &[f32], b: &[f32]| -> f32 {
        let pairs = a.iter().zip(b);
        match distance {
            Distance::Cosine | Distance::Dot => pairs.map(|(x, y)| x * y).sum(),
            Distance::Euclid => -pairs.map(|(x, y)| (x - y) * (x - y)).sum::<f32>(),
            Distance::Manhattan => -pairs.map(|(x, y)| (x - y).abs()).sum::<f32>(),
        }
    };
    match (candidate, query) {
        (Vector::Dense(a), Vector::Dense(b)) => dense(a, b),
        (Vector::Sparse(a), Vector::Sparse(b)) => a.dot(b),
        // MaxSim: each query vector's best match among the stored ones.
        (Vector::Multi(stored), Vector::Multi(queries)) => queries
            .iter()
            .map(|q| {
                stored
                    .iter()
                    .map(|s| dense(s, q))
                    .fold(f32::NEG_INFINITY, f32::max)
            })
            .sum(),
        _ => 0.0,
    }
}

/// Stored Cosine vectors are unit length; inline examples are made so too,
/// as Qdrant prepares query vectors.
fn prepared(vector: Vector, distance: Distance) -> Vector {
    fn unit(mut v: Vec<f32>) -> Vec<f32> {
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        if norm > f32::EPSILON {
            v.iter_mut().for_each(|x| *x /= norm);
        }
        v
    }
    match (vector, distance) {
        (Vector::Dense(v), Distance::Cosine) => Vector::Dense(unit(v)),
        (Vector::Multi(m), Distance::Cosine) => Vector::Multi(m.into_iter().map(unit).collect()),
        (v, _) => v,
    }
}

impl Gateway {
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn relevance_feedback(
        &self,
        collection: &str,
        query: &RelevanceFeedback,
        using: &str,
        examples: &Examples<'_>,
        filter: Option<Filter>,
        limit: usize,
        score_threshold: Option<f32>,
        read: &ReadOptions,
    ) -> Result<Vec<ScoredPoint>> {
        let distance = {
            let (_, state) = self.collection(collection)?;
            state.config.params.distance(using)?
        };
        let mut inputs = vec![query.target.clone()];
        inputs.extend(query.feedback.iter().map(|(example, _)| example.clone()));
        let mut vectors = self
            .vectors_of(examples, &inputs, read)
            .await?
            .into_iter()
            .map(|v| prepared(v, distance));
        let target = vectors.next().expect("the target was asked for");
        let feedback: Vec<Vector> = vectors.collect();
        let scores: Vec<f32> = query.feedback.iter().map(|(_, score)| *score).collect();
        let pairs = feedback_pairs(&scores, query.strategy);
        // The best points lie near the target or near examples judged better.
        let mut seeds = vec![target.clone()];
        for (i, example) in feedback.iter().enumerate() {
            if pairs.iter().any(|p| p.better == i) {
                seeds.push(example.clone());
            }
        }
        let named: Vec<&VectorInput> = inputs.iter().collect();
        let scored = ScoredByExamples {
            collection,
            using,
            seeds: &seeds,
            named: &named,
            limit,
            score_threshold,
            similarity: raw_similarity,
        };
        let strategy = query.strategy;
        self.score_by_examples(scored, examples, filter, read, |similarity| {
            let to_examples: Vec<f32> = feedback.iter().map(similarity).collect();
            feedback_score(strategy, &pairs, similarity(&target), &to_examples)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAIVE: NaiveFeedback = NaiveFeedback {
        a: 0.5,
        b: 2.0,
        c: 3.0,
    };

    #[test]
    fn pairs_put_the_better_example_first_and_skip_ties() {
        let pairs = feedback_pairs(&[0.9, 0.4, 0.9, 0.1], NAIVE);
        let as_tuples: Vec<(usize, usize)> = pairs.iter().map(|p| (p.better, p.worse)).collect();
        assert_eq!(as_tuples, vec![(0, 1), (0, 3), (1, 3), (2, 1), (2, 3)]);
        // c * (0.9 - 0.4)^2
        assert!((pairs[0].weight - 3.0 * 0.25).abs() < 1e-6);
        assert!(feedback_pairs(&[0.7], NAIVE).is_empty());
    }

    #[test]
    fn score_is_the_target_term_plus_weighted_pair_differences() {
        let pairs = feedback_pairs(&[1.0, 0.0], NAIVE);
        // 0.5 * 2 + 3 * 1^2 * (0.8 - 0.3)
        let score = feedback_score(NAIVE, &pairs, 2.0, &[0.8, 0.3]);
        assert!((score - 2.5).abs() < 1e-6);
        // One example: the target term alone.
        assert_eq!(feedback_score(NAIVE, &[], 2.0, &[0.8]), 1.0);
    }

    #[test]
    fn raw_similarity_is_qdrants_internal_one() {
        let (a, b) = (Vector::Dense(vec![1.0, 2.0]), Vector::Dense(vec![3.0, 0.0]));
        assert_eq!(raw_similarity(&a, &b, Distance::Dot), 3.0);
        assert_eq!(raw_similarity(&a, &b, Distance::Euclid), -8.0);
        assert_eq!(raw_similarity(&a, &b, Distance::Manhattan), -4.0);
        let stored = Vector::Multi(vec![vec![1.0, 0.0], vec![0.0, 1.0]]);
        let query = Vector::Multi(vec![vec![2.0, 1.0], vec![0.0, 3.0]]);
        // max(2, 1) + max(0, 3)
        assert_eq!(raw_similarity(&stored, &query, Distance::Dot), 5.0);
        let unit = prepared(Vector::Dense(vec![3.0, 4.0]), Distance::Cosine);
        assert_eq!(unit, Vector::Dense(vec![0.6, 0.8]));
    }
}
