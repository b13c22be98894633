//! Exact scans, top-k selection and the exact-versus-graph decision.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BinaryHeap};

use rayon::prelude::*;
use tessera_types::{Distance, PointId};

use super::store::StoredPoint;
use crate::filter::CompiledFilter;
use crate::index::kernels;

/// Scans over at least this many points run on the rayon pool.
const PARALLEL_SCAN_MIN: usize = 16_384;

/// Points whose filter result is sampled to estimate a filter's cardinality.
const CARDINALITY_SAMPLE: usize = 1_024;

/// Whether `vectors` vectors of `dim` floats reach `threshold_kb` kilobytes, the size
/// from which a graph beats a scan.
pub(crate) fn reaches_kb(vectors: usize, dim: usize, threshold_kb: usize) -> bool {
    vectors.saturating_mul(dim).saturating_mul(4) / 1024 >= threshold_kb
}

#[derive(Debug, Clone, Copy)]
struct Candidate {
    /// Smaller is better whatever the distance.
    key: f32,
    score: f32,
    id: PointId,
}

impl PartialEq for Candidate {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Candidate {}

impl PartialOrd for Candidate {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Candidate {
    /// Worse candidates compare greater; ties go to the smaller id, for stable results.
    fn cmp(&self, other: &Self) -> Ordering {
        self.key
            .total_cmp(&other.key)
            .then_with(|| self.id.cmp(&other.id))
    }
}

/// The best `k` (point, score) pairs seen so far.
pub(crate) struct TopK {
    k: usize,
    higher_is_better: bool,
    /// A max-heap on badness: the root is the worst kept candidate.
    heap: BinaryHeap<Candidate>,
}

impl TopK {
    pub fn new(k: usize, distance: Distance) -> Self {
        Self {
            k,
            higher_is_better: distance.higher_is_better(),
            heap: BinaryHeap::with_capacity(k.min(4096) + 1),
        }
    }

    pub fn push(&mut self, id: PointId, score: f32) {
        let key = if self.higher_is_better { -score } else { score };
        self.offer(Candidate { key, score, id });
    }

    fn offer(&mut self, candidate: Candidate) {
        if self.heap.len() < self.k {
            self.heap.push(candidate);
        } else if self.heap.peek().is_some_and(|worst| candidate < *worst) {
            self.heap.pop();
            self.heap.push(candidate);
        }
    }

    fn merge(mut self, other: TopK) -> TopK {
        for candidate in other.heap {
            self.offer(candidate);
        }
        self
    }

    /// Best first.
    pub fn into_sorted(self) -> Vec<(PointId, f32)> {
        self.heap
            .into_sorted_vec()
            .into_iter()
            .map(|c| (c.id, c.score))
            .collect()
    }
}

/// A brute-force query over every point's vector `name`.
pub(crate) struct ExactScan<'a> {
    pub name: &'a str,
    pub query: &'a [f32],
    pub distance: Distance,
    pub k: usize,
    pub filter: Option<&'a CompiledFilter>,
    pub threshold: Option<f32>,
}

impl ExactScan<'_> {
    fn candidate(&self, id: PointId, point: &StoredPoint) -> Option<(PointId, f32)> {
        let vector = point.vectors.get(self.name)?;
        if let Some(filter) = self.filter {
            if !filter.matches(id, &point.payload, &point.vectors) {
                return None;
            }
        }
        let score = kernels::score(self.distance, self.query, vector);
        self.threshold
            .is_none_or(|t| self.distance.passes_threshold(score, t))
            .then_some((id, score))
    }

    pub fn run(&self, points: &BTreeMap<PointId, StoredPoint>) -> Vec<(PointId, f32)> {
        let top = if points.len() >= PARALLEL_SCAN_MIN {
            points
                .par_iter()
                .filter_map(|(id, p)| self.candidate(*id, p))
                .fold(
                    || TopK::new(self.k, self.distance),
                    |mut top, (id, score)| {
                        top.push(id, score);
                        top
                    },
                )
                .reduce(|| TopK::new(self.k, self.distance), TopK::merge)
        } else {
            let mut top = TopK::new(self.k, self.distance);
            for (id, p) in points {
                if let Some((id, score)) = self.candidate(*id, p) {
                    top.push(id, score);
                }
            }
            top
        };
        top.into_sorted()
    }
}

/// A well-mixed hash, so the sample is independent of id order and of shard placement
/// (which uses the same `shard_hash`).
fn sample_hash(id: &PointId) -> u64 {
    let mut z = id.shard_hash().wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Estimates from a sample whether `filter` leaves few enough vectors `name` that an
/// exact scan of them beats the graph.
pub(crate) fn filter_is_selective(
    points: &BTreeMap<PointId, StoredPoint>,
    filter: &CompiledFilter,
    name: &str,
    dim: usize,
    threshold_kb: usize,
) -> bool {
    // Keep a point when its hash falls in the lowest 1/stride of the range.
    let stride = (points.len() / CARDINALITY_SAMPLE).max(1) as u64;
    let cutoff = u64::MAX / stride;
    let (mut sampled, mut matched) = (0usize, 0usize);
    for (id, p) in points {
        if stride > 1 && sample_hash(id) > cutoff {
            continue;
        }
        sampled += 1;
        if p.vectors.contains_key(name) && filter.matches(*id, &p.payload, &p.vectors) {
            matched += 1;
        }
    }
    if sampled == 0 {
        return true;
    }
    let estimate = matched.saturating_mul(points.len()) / sampled;
    !reaches_kb(estimate, dim, threshold_kb)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_k_keeps_the_best_in_order() {
        let mut top = TopK::new(3, Distance::Dot);
        for (i, s) in [0.5, 0.9, 0.1, 0.7, 0.9].into_iter().enumerate() {
            top.push(PointId::Num(i as u64), s);
        }
        let ids: Vec<_> = top.into_sorted().into_iter().map(|(id, _)| id).collect();
        assert_eq!(ids, vec![PointId::Num(1), PointId::Num(4), PointId::Num(3)]);

        let mut top = TopK::new(2, Distance::Euclid);
        for (i, s) in [3.0, 1.0, 2.0].into_iter().enumerate() {
            top.push(PointId::Num(i as u64), s);
        }
        assert_eq!(
            top.into_sorted(),
            vec![(PointId::Num(1), 1.0), (PointId::Num(2), 2.0)]
        );
    }

    #[test]
    fn kilobyte_threshold() {
        assert!(!reaches_kb(79, 32, 10));
        assert!(reaches_kb(80, 32, 10));
        assert!(reaches_kb(0, 32, 0));
    }
}
