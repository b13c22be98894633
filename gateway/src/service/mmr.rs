//! Maximal marginal relevance: nearest neighbours reranked so each pick is
//! relevant to the query and unlike the picks before it.

use super::query::{exclude, Examples, Mmr, Prefetch, VectorInput};
use super::*;

impl Gateway {
    /// The stage's `limit` points picked by MMR from its nearest candidates.
    /// Each point's score is its MMR value when picked, so scores fall.
    pub(super) async fn mmr(
        &self,
        collection: &str,
        mmr: &Mmr,
        stage: &Prefetch,
        examples: &Examples<'_>,
        mut filter: Option<Filter>,
        read: &ReadOptions,
    ) -> Result<Vec<ScoredPoint>> {
        if !(0.0..=1.0).contains(&mmr.diversity) {
            return Err(TesseraError::validation(
                "[mmr.diversity: must be between 0 and 1]",
            ));
        }
        let using = stage.using.as_str();
        let query = match &mmr.nearest {
            VectorInput::Vector(v) => v.clone(),
            VectorInput::Point(id) => {
                if examples.excluded {
                    exclude(&mut filter, vec![*id]);
                }
                self.vector_of(examples, *id, read).await?
            }
        };
        let (_, state) = self.collection(collection)?;
        let distance = state.config.params.distance(using)?;
        let candidates = self
            .search(
                collection,
                SearchRequest {
                    vector: query,
                    using: using.to_string(),
                    filter,
                    limit: mmr.candidates_limit.unwrap_or(stage.limit).max(stage.limit),
                    offset: 0,
                    with_payload: WithPayload::Enable(false),
                    with_vector: WithVector::Include(vec![using.to_string()]),
                    score_threshold: stage.score_threshold,
                    params: stage.params.clone(),
                },
                read,
            )
            .await?;
        // Larger is closer for every distance from here on.
        let closeness = |score: f32| {
            if distance.higher_is_better() {
                score
            } else {
                -score
            }
        };
        let candidates: Vec<(PointId, f32, Vector)> = candidates
            .into_iter()
            .filter_map(|p| {
                let vector = p.vector?.into_named().remove(using)?;
                Some((p.id, closeness(p.score), vector))
            })
            .collect();
        Ok(pick(&candidates, stage.limit, mmr.diversity, &|a, b| {
            closeness(a.score(b, distance))
        })
        .into_iter()
        .map(|(i, score)| ScoredPoint::scored(candidates[i].0, score))
        .collect())
    }
}

/// Greedy MMR over `(id, relevance, vector)` candidates: indexes of the picks
/// in order, each with its MMR value.
fn pick(
    candidates: &[(PointId, f32, Vector)],
    limit: usize,
    diversity: f32,
    similarity: &dyn Fn(&Vector, &Vector) -> f32,
) -> Vec<(usize, f32)> {
    let mut picked: Vec<(usize, f32)> = Vec::new();
    // Each candidate's largest similarity to a pick so far.
    let mut nearest_pick: Vec<Option<f32>> = vec![None; candidates.len()];
    while picked.len() < limit.min(candidates.len()) {
        let best = (0..candidates.len())
            .filter(|i| !picked.iter().any(|(p, _)| p == i))
            .map(|i| {
                let redundancy = nearest_pick[i].unwrap_or(0.0);
                (
                    i,
                    (1.0 - diversity) * candidates[i].1 - diversity * redundancy,
                )
            })
            .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)));
        let Some((chosen, value)) = best else { break };
        picked.push((chosen, value));
        for (i, slot) in nearest_pick.iter_mut().enumerate() {
            let s = similarity(&candidates[i].2, &candidates[chosen].2);
            *slot = Some(slot.map_or(s, |m| m.max(s)));
        }
    }
    picked
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diversity_skips_near_duplicates() {
        let v = |x: f32, y: f32| Vector::Dense(vec![x, y]);
        let candidates = vec![
            (PointId::Num(1), 1.0, v(1.0, 0.0)),
            (PointId::Num(2), 0.99, v(1.0, 0.0)),
            (PointId::Num(3), 0.5, v(0.0, 1.0)),
        ];
        let dot = |a: &Vector, b: &Vector| a.score(b, tessera_types::Distance::Dot);
        let relevant: Vec<usize> = pick(&candidates, 2, 0.0, &dot)
            .iter()
            .map(|p| p.0)
            .collect();
        assert_eq!(relevant, vec![0, 1]);
        let diverse: Vec<usize> = pick(&candidates, 2, 0.5, &dot)
            .iter()
            .map(|p| p.0)
            .collect();
        assert_eq!(diverse, vec![0, 2]);
    }
}
