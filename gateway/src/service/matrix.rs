//! Random samples of a collection: `{"sample": "random"}` queries and the
//! distance matrices of `points/search/matrix/pairs` and `.../offsets`,
//! computed here over the sampled points' vectors.

use rand::seq::SliceRandom;
use serde::Serialize;

use super::*;

/// Ids listed per scroll page while sampling.
const SAMPLE_PAGE: usize = 10_000;

#[derive(Debug, Clone, PartialEq)]
pub struct MatrixRequest {
    pub filter: Option<Filter>,
    pub sample: usize,
    pub limit: usize,
    pub using: String,
}

/// The sampled points' nearest neighbours among themselves: `ids[row]` and
/// `ids[col]` are `scores[k]` apart for each k.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DistanceMatrix {
    pub offsets_row: Vec<u64>,
    pub offsets_col: Vec<u64>,
    pub scores: Vec<f32>,
    pub ids: Vec<PointId>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MatrixPair {
    pub a: PointId,
    pub b: PointId,
    pub score: f32,
}

impl DistanceMatrix {
    pub fn pairs(&self) -> Vec<MatrixPair> {
        (0..self.scores.len())
            .map(|k| MatrixPair {
                a: self.ids[self.offsets_row[k] as usize],
                b: self.ids[self.offsets_col[k] as usize],
                score: self.scores[k],
            })
            .collect()
    }
}

impl Gateway {
    /// Up to `n` ids drawn at random from the points matching `filter`.
    pub(crate) async fn sample_ids(
        &self,
        collection: &str,
        filter: Option<Filter>,
        n: usize,
        read: &ReadOptions,
    ) -> Result<Vec<PointId>> {
        let mut ids = Vec::new();
        let mut offset = None;
        loop {
            let page = self
                .run_scroll(
                    collection,
                    ScrollRequest {
                        offset,
                        limit: SAMPLE_PAGE,
                        filter: filter.clone(),
                        with_payload: WithPayload::Enable(false),
                        with_vector: WithVector::Enable(false),
                        order_by: None,
                    },
                    read,
                )
                .await?;
            ids.extend(page.points.into_iter().map(|r| r.id));
            match page.next_page_offset {
                Some(next) => offset = Some(next),
                None => break,
            }
        }
        ids.shuffle(&mut rand::rng());
        ids.truncate(n);
        Ok(ids)
    }

    /// `{"sample": "random"}`: points drawn at random, score 0.
    pub(crate) async fn query_sample(
        &self,
        collection: &str,
        request: QueryRequest,
        read: &ReadOptions,
    ) -> Result<Vec<ScoredPoint>> {
        let ids = self
            .sample_ids(collection, request.filter, request.limit, read)
            .await?;
        let records = self
            .retrieve(
                collection,
                &ids,
                &request.with_payload,
                &request.with_vector,
                read,
            )
            .await?;
        Ok(records
            .into_iter()
            .map(|r| ScoredPoint::from_record(r, 0.0))
            .collect())
    }

    pub async fn distance_matrix(
        &self,
        collection: &str,
        request: MatrixRequest,
        read: &ReadOptions,
    ) -> Result<DistanceMatrix> {
        if request.sample < 2 || request.limit == 0 {
            return Err(TesseraError::validation(
                "[sample must be 2 or more and limit 1 or more]",
            ));
        }
        self.strict_mode(collection, |strict| {
            strict.limit(request.sample.saturating_mul(request.limit))?;
            strict.filter(request.filter.as_ref(), false)?;
            Ok(super::strict_mode::cost::scroll(request.filter.as_ref()))
        })?;
        let (_, state) = self.collection(collection)?;
        let distance = state.config.params.distance(&request.using)?;
        let ids = self
            .sample_ids(collection, request.filter, request.sample, read)
            .await?;
        let records = self
            .retrieve(
                collection,
                &ids,
                &WithPayload::Enable(false),
                &WithVector::Include(vec![request.using.clone()]),
                read,
            )
            .await?;
        let mut sampled: Vec<(PointId, Vector)> = records
            .into_iter()
            .filter_map(|r| {
                let vector = r.vector?.into_named().remove(&request.using)?;
                Some((r.id, vector))
            })
            .collect();
        // Rows in id order, as Qdrant lists a sample.
        sampled.sort_by_key(|(id, _)| *id);
        let mut matrix = DistanceMatrix {
            offsets_row: Vec::new(),
            offsets_col: Vec::new(),
            scores: Vec::new(),
            ids: sampled.iter().map(|(id, _)| *id).collect(),
        };
        for (row, (_, a)) in sampled.iter().enumerate() {
            let mut nearest: Vec<(usize, f32)> = sampled
                .iter()
                .enumerate()
                .filter(|(col, _)| *col != row)
                .map(|(col, (_, b))| (col, a.score(b, distance)))
                .collect();
            nearest.sort_by(|x, y| {
                if distance.higher_is_better() {
                    y.1.total_cmp(&x.1)
                } else {
                    x.1.total_cmp(&y.1)
                }
            });
            for (col, s) in nearest.into_iter().take(request.limit) {
                matrix.offsets_row.push(row as u64);
                matrix.offsets_col.push(col as u64);
                matrix.scores.push(s);
            }
        }
        Ok(matrix)
    }
}
