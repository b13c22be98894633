//! An HNSW graph over one named vector of one immutable segment.
//!
//! hnsw_rs can neither delete nor replace a node, which suits immutable segments: the
//! graph's data ids are the segment's rows, and rows deleted after the build are masked
//! during traversal through the search filter. The optimizer rebuilds segments whose
//! deleted rows pile up.

use hnsw_rs::prelude::{Distance as GraphDistance, Hnsw};
use tessera_types::Distance;

use super::kernels;

/// hnsw_rs caps the number of layers at 16.
const MAX_LAYERS: usize = 16;

/// Rows inserted between checks for cancellation and progress reports.
const BUILD_CHUNK: usize = 4096;

/// The build parameters of a graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GraphParams {
    pub m: usize,
    pub ef_construct: usize,
}

/// The graph's notion of distance: non-negative (hnsw_rs asserts it) and smaller-is-closer,
/// ordering candidates exactly as the user-facing score does.
pub struct Metric(pub Distance);

impl GraphDistance<f32> for Metric {
    fn eval(&self, a: &[f32], b: &[f32]) -> f32 {
        let d = match self.0 {
            // Vectors are stored normalized, so 1 - cos is in [0, 2] up to rounding.
            Distance::Cosine => 1.0 - kernels::dot(a, b),
            // A positive map that decreases monotonically with the inner product.
            Distance::Dot => {
                let ip = kernels::dot(a, b);
                if ip >= 0.0 {
                    1.0 / (1.0 + ip)
                } else {
                    1.0 - ip
                }
            }
            Distance::Euclid => kernels::l2_squared(a, b),
            Distance::Manhattan => kernels::l1(a, b),
        };
        // NaN from overflowing sums would trip hnsw_rs's assertions; treat it as far away.
        if d.is_nan() {
            f32::MAX
        } else {
            d.max(0.0)
        }
    }
}

pub struct Graph {
    hnsw: Hnsw<'static, f32, Metric>,
    params: GraphParams,
    /// Rows inserted.
    len: usize,
}

impl Graph {
    /// A graph over `items` (row, vector), inserted in parallel. Returns None when
    /// `cancelled` turns true during the build. `progress` is told the rows inserted so far.
    pub fn build(
        distance: Distance,
        params: GraphParams,
        items: &[(&[f32], usize)],
        cancelled: &dyn Fn() -> bool,
        progress: &dyn Fn(usize),
    ) -> Option<Graph> {
        // hnsw_rs exits the process above 256 connections and needs ln(m) > 0.
        let m = params.m.clamp(2, 256);
        let hnsw = Hnsw::new(
            m,
            items.len().max(1),
            MAX_LAYERS,
            params.ef_construct.max(4),
            Metric(distance),
        );
        let mut done = 0;
        for chunk in items.chunks(BUILD_CHUNK) {
            if cancelled() {
                return None;
            }
            hnsw.parallel_insert_slice(&chunk.to_vec());
            done += chunk.len();
            progress(done);
        }
        Some(Graph {
            hnsw,
            params,
            len: items.len(),
        })
    }

    pub fn params(&self) -> GraphParams {
        self.params
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Up to `k` nearest rows that `accept` lets through (all rows without it), nearest
    /// first. Rejected rows are still traversed, so the graph stays connected.
    pub fn search(
        &self,
        query: &[f32],
        k: usize,
        ef: usize,
        accept: Option<&dyn Fn(usize) -> bool>,
    ) -> Vec<usize> {
        // hnsw_rs preallocates `ef` entries: keep both within the graph's size.
        let k = k.min(self.len);
        if k == 0 {
            return Vec::new();
        }
        let ef = ef.clamp(k, self.len.max(k));
        let hits = match accept {
            Some(accept) => {
                let filter = |row: &usize| accept(*row);
                // hnsw_rs cuts its candidates to the number asked for before it drops the
                // rejected ones: ask for all `ef`, so a rejected entry point or neighbour
                // does not cost a result.
                let mut hits = self.hnsw.search_filter(query, ef, ef, Some(&filter));
                hits.truncate(k);
                hits
            }
            None => self.hnsw.search(query, k, ef),
        };
        hits.into_iter().map(|n| n.d_id).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid() -> Vec<Vec<f32>> {
        (0..200u64)
            .map(|i| vec![(i % 20) as f32, (i / 20) as f32])
            .collect()
    }

    fn build(points: &[Vec<f32>]) -> Graph {
        let items: Vec<(&[f32], usize)> = points
            .iter()
            .enumerate()
            .map(|(i, v)| (v.as_slice(), i))
            .collect();
        let params = GraphParams {
            m: 8,
            ef_construct: 32,
        };
        Graph::build(Distance::Euclid, params, &items, &|| false, &|_| {}).unwrap()
    }

    #[test]
    fn finds_exact_match_and_respects_the_filter() {
        let points = grid();
        let graph = build(&points);
        assert_eq!(graph.len(), 200);
        assert_eq!(graph.search(&[3.0, 4.0], 1, 32, None), vec![83]);
        // Oversized requests are clamped to the graph instead of allocating for them.
        assert_eq!(
            graph
                .search(&[3.0, 4.0], usize::MAX, usize::MAX, None)
                .len(),
            200
        );
        let odd = |row: usize| row % 2 == 1;
        let hits = graph.search(&[0.0, 0.0], 10, 64, Some(&odd));
        assert_eq!(hits.len(), 10);
        assert!(hits.iter().all(|row| row % 2 == 1));
        // Rejecting the nearest rows (the entry of the search among them) still gives k.
        let far = |row: usize| row % 20 >= 5 || row / 20 >= 5;
        let hits = graph.search(&[0.0, 0.0], 10, 40, Some(&far));
        assert_eq!(hits.len(), 10, "{hits:?}");
        assert!(hits.iter().all(|row| far(*row)));
        let not_83 = |row: usize| row != 83;
        assert!(!graph
            .search(&[3.0, 4.0], 5, 64, Some(&not_83))
            .contains(&83));
    }

    #[test]
    fn build_can_be_cancelled() {
        let points = grid();
        let items: Vec<(&[f32], usize)> = points
            .iter()
            .enumerate()
            .map(|(i, v)| (v.as_slice(), i))
            .collect();
        let params = GraphParams {
            m: 8,
            ef_construct: 32,
        };
        assert!(Graph::build(Distance::Euclid, params, &items, &|| true, &|_| {}).is_none());
    }

    #[test]
    fn graph_metric_is_non_negative_and_ordered_like_the_score() {
        let dot = Metric(Distance::Dot);
        let q = [1.0, 2.0];
        let (near, mid, far) = ([5.0, 5.0], [0.1, 0.1], [-3.0, -3.0]);
        let (a, b, c) = (dot.eval(&q, &near), dot.eval(&q, &mid), dot.eval(&q, &far));
        assert!(a >= 0.0 && a < b && b < c);
        let cos = Metric(Distance::Cosine);
        assert_eq!(cos.eval(&[1.0, 0.0], &[1.0, 0.0]), 0.0);
        assert_eq!(
            Metric(Distance::Euclid).eval(&[f32::MAX, 0.0], &[-f32::MAX, 0.0]),
            f32::INFINITY
        );
    }
}
