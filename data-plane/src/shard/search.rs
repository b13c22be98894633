//! Exact scans, top-k selection and the cardinality estimates behind the exact-versus-graph
//! decision.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use rayon::prelude::*;
use tessera_types::{Distance, PointId};

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
    row: usize,
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

/// The best `k` (point, row, score) triples seen so far.
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

    pub fn push(&mut self, id: PointId, row: usize, score: f32) {
        let key = if self.higher_is_better { -score } else { score };
        self.offer(Candidate {
            key,
            score,
            id,
            row,
        });
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

    /// Best first: (point, row, score).
    pub fn into_sorted(self) -> Vec<(PointId, usize, f32)> {
        self.heap
            .into_sorted_vec()
            .into_iter()
            .map(|c| (c.id, c.row, c.score))
            .collect()
    }
}

/// Brute-force top `k` over `rows`, where `candidate` scores a row (None skips it).
pub(crate) fn exact_top_k(
    rows: usize,
    k: usize,
    distance: Distance,
    candidate: &(dyn Fn(usize) -> Option<(PointId, f32)> + Sync),
) -> Vec<(PointId, usize, f32)> {
    let top = if rows >= PARALLEL_SCAN_MIN {
        (0..rows)
            .into_par_iter()
            .with_min_len(1024)
            .fold(
                || TopK::new(k, distance),
                |mut top, row| {
                    if let Some((id, score)) = candidate(row) {
                        top.push(id, row, score);
                    }
                    top
                },
            )
            .reduce(|| TopK::new(k, distance), TopK::merge)
    } else {
        let mut top = TopK::new(k, distance);
        for row in 0..rows {
            if let Some((id, score)) = candidate(row) {
                top.push(id, row, score);
            }
        }
        top
    };
    top.into_sorted()
}

/// A well-mixed hash, so the sample is independent of id order and of shard placement
/// (which uses the same `shard_hash`).
fn sample_hash(id: &PointId) -> u64 {
    let mut z = id.shard_hash().wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Estimates from a sample of `ids` how many of the rows `matches` accepts.
pub(crate) fn estimate_matches(ids: &[PointId], matches: &dyn Fn(usize) -> bool) -> usize {
    // Keep a row when its id's hash falls in the lowest 1/stride of the range.
    let stride = (ids.len() / CARDINALITY_SAMPLE).max(1) as u64;
    let cutoff = u64::MAX / stride;
    let (mut sampled, mut matched) = (0usize, 0usize);
    for (row, id) in ids.iter().enumerate() {
        if stride > 1 && sample_hash(id) > cutoff {
            continue;
        }
        sampled += 1;
        if matches(row) {
            matched += 1;
        }
    }
    if sampled == 0 {
        return 0;
    }
    matched.saturating_mul(ids.len()) / sampled
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_k_keeps_the_best_in_order() {
        let mut top = TopK::new(3, Distance::Dot);
        for (i, s) in [0.5, 0.9, 0.1, 0.7, 0.9].into_iter().enumerate() {
            top.push(PointId::Num(i as u64), i, s);
        }
        let ids: Vec<_> = top.into_sorted().into_iter().map(|(id, _, _)| id).collect();
        assert_eq!(ids, vec![PointId::Num(1), PointId::Num(4), PointId::Num(3)]);

        let mut top = TopK::new(2, Distance::Euclid);
        for (i, s) in [3.0, 1.0, 2.0].into_iter().enumerate() {
            top.push(PointId::Num(i as u64), i, s);
        }
        assert_eq!(
            top.into_sorted(),
            vec![(PointId::Num(1), 1, 1.0), (PointId::Num(2), 2, 2.0)]
        );
    }

    #[test]
    fn kilobyte_threshold() {
        assert!(!reaches_kb(79, 32, 10));
        assert!(reaches_kb(80, 32, 10));
        assert!(reaches_kb(0, 32, 0));
    }
}
