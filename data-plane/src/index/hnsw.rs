//! An HNSW graph over one named vector, with deletion by masking.
//!
//! hnsw_rs cannot delete or replace a node, so every stored vector gets a fresh internal
//! id (the graph's data id). A point's previous entry is masked when it is replaced or
//! deleted, and masked entries are skipped during traversal through the search filter.
//! The owner rebuilds the graph once masked entries dominate it.

use std::collections::HashMap;

use hnsw_rs::prelude::{Distance as GraphDistance, Hnsw};
use tessera_types::{Distance, PointId};

use super::kernels;

/// hnsw_rs caps the number of layers at 16.
const MAX_LAYERS: usize = 16;

/// Batches at least this large are inserted with rayon.
const PARALLEL_INSERT_MIN: usize = 64;

/// The build parameters of a graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GraphParams {
    pub m: usize,
    pub ef_construct: usize,
}

/// The graph's notion of distance: non-negative (hnsw_rs asserts it) and smaller-is-closer,
/// ordering candidates exactly as the user-facing score does.
struct Metric(Distance);

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

pub struct VectorIndex {
    graph: Hnsw<'static, f32, Metric>,
    params: GraphParams,
    /// Internal id -> the point whose vector it holds.
    slots: Vec<PointId>,
    /// Internal id -> whether it is the point's current vector and visible to searches.
    live: Vec<bool>,
    /// Point -> its current internal id (reserved or published).
    current: HashMap<PointId, usize>,
}

impl VectorIndex {
    pub fn new(distance: Distance, params: GraphParams, capacity: usize) -> Self {
        // hnsw_rs exits the process above 256 connections and needs ln(m) > 0.
        let m = params.m.clamp(2, 256);
        let graph = Hnsw::new(
            m,
            capacity.max(1),
            MAX_LAYERS,
            params.ef_construct.max(4),
            Metric(distance),
        );
        Self {
            graph,
            params,
            slots: Vec::with_capacity(capacity),
            live: Vec::with_capacity(capacity),
            current: HashMap::with_capacity(capacity),
        }
    }

    /// A graph holding `items`, built in parallel.
    pub fn build(distance: Distance, params: GraphParams, items: &[(PointId, &[f32])]) -> Self {
        let mut index = Self::new(distance, params, items.len());
        let batch: Vec<(&[f32], usize)> = items
            .iter()
            .map(|(id, v)| (*v, index.reserve(*id)))
            .collect();
        index.insert(&batch);
        index.publish(batch.iter().map(|(_, slot)| *slot));
        index
    }

    pub fn params(&self) -> GraphParams {
        self.params
    }

    /// Masks the current entry of `point`, if it has one.
    pub fn retire(&mut self, point: PointId) {
        if let Some(slot) = self.current.remove(&point) {
            self.live[slot] = false;
        }
    }

    /// Allocates an internal id for a new vector of `point`, masking its previous one.
    /// The entry stays invisible until [`publish`](Self::publish).
    pub fn reserve(&mut self, point: PointId) -> usize {
        self.retire(point);
        let slot = self.slots.len();
        self.slots.push(point);
        self.live.push(false);
        self.current.insert(point, slot);
        slot
    }

    /// Adds reserved entries to the graph. Takes `&self` so searches can run meanwhile.
    pub fn insert(&self, batch: &[(&[f32], usize)]) {
        if batch.len() >= PARALLEL_INSERT_MIN {
            self.graph.parallel_insert_slice(&batch.to_vec());
        } else {
            for &item in batch {
                self.graph.insert_slice(item);
            }
        }
    }

    /// Makes inserted entries visible, unless they were superseded meanwhile.
    pub fn publish(&mut self, slots: impl IntoIterator<Item = usize>) {
        for slot in slots {
            let point = self.slots[slot];
            if self.current.get(&point) == Some(&slot) {
                self.live[slot] = true;
            }
        }
    }

    /// Vectors currently represented in the graph.
    pub fn vector_count(&self) -> usize {
        self.current.len()
    }

    /// Whether masked entries make up more than half of the graph.
    pub fn needs_rebuild(&self) -> bool {
        (self.slots.len() - self.current.len()) * 2 > self.slots.len()
    }

    /// Up to `k` nearest live points accepted by `accept`, nearest first.
    pub fn search(
        &self,
        query: &[f32],
        k: usize,
        ef: usize,
        accept: impl Fn(PointId) -> bool,
    ) -> Vec<PointId> {
        // hnsw_rs preallocates `ef` entries: keep both within the graph's size.
        let k = k.min(self.current.len());
        if k == 0 {
            return Vec::new();
        }
        let ef = ef.clamp(k, self.slots.len());
        let filter = |slot: &usize| {
            self.live.get(*slot).copied().unwrap_or(false) && accept(self.slots[*slot])
        };
        self.graph
            .search_filter(query, k, ef, Some(&filter))
            .into_iter()
            .map(|n| self.slots[n.d_id])
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid() -> Vec<(PointId, Vec<f32>)> {
        (0..200u64)
            .map(|i| (PointId::Num(i), vec![(i % 20) as f32, (i / 20) as f32]))
            .collect()
    }

    fn build(points: &[(PointId, Vec<f32>)]) -> VectorIndex {
        let items: Vec<(PointId, &[f32])> =
            points.iter().map(|(id, v)| (*id, v.as_slice())).collect();
        let params = GraphParams {
            m: 8,
            ef_construct: 32,
        };
        VectorIndex::build(Distance::Euclid, params, &items)
    }

    #[test]
    fn finds_exact_match_and_masks_replaced_entries() {
        let points = grid();
        let mut index = build(&points);
        assert_eq!(index.vector_count(), 200);
        let hits = index.search(&[3.0, 4.0], 1, 32, |_| true);
        assert_eq!(hits, vec![PointId::Num(83)]);
        // Oversized requests are clamped to the graph instead of allocating for them.
        assert_eq!(
            index
                .search(&[3.0, 4.0], usize::MAX, usize::MAX, |_| true)
                .len(),
            200
        );

        // Move point 83 far away: its old entry must never be returned again.
        let slot = index.reserve(PointId::Num(83));
        let far = [100.0, 100.0];
        index.insert(&[(&far, slot)]);
        index.publish([slot]);
        let hits = index.search(&[3.0, 4.0], 5, 64, |_| true);
        assert!(!hits.contains(&PointId::Num(83)));
        assert_eq!(
            index.search(&[100.0, 100.0], 1, 32, |_| true),
            vec![PointId::Num(83)]
        );

        index.retire(PointId::Num(84));
        let hits = index.search(&[4.0, 4.0], 5, 64, |_| true);
        assert!(!hits.contains(&PointId::Num(84)));
        assert_eq!(index.vector_count(), 199);
    }

    #[test]
    fn accept_predicate_restricts_results_and_rebuild_threshold_trips() {
        let points = grid();
        let mut index = build(&points);
        let hits = index.search(
            &[0.0, 0.0],
            10,
            64,
            |id| matches!(id, PointId::Num(n) if n % 2 == 1),
        );
        assert_eq!(hits.len(), 10);
        assert!(hits
            .iter()
            .all(|id| matches!(id, PointId::Num(n) if n % 2 == 1)));

        assert!(!index.needs_rebuild());
        for i in 0..101 {
            index.retire(PointId::Num(i));
        }
        assert!(index.needs_rebuild());
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
