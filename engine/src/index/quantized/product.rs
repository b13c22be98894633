//! Product quantization: the dimensions split into groups of `sub_dim` (the last may be
//! shorter), each group coded by one byte, the index of its nearest of up to 256
//! centroids learnt by k-means on a sample. A query becomes a table of its partial
//! score against every centroid, so a code's estimate is one lookup per group.

use rayon::prelude::*;
use tessera_types::Distance;

use super::CodecHeader;
use crate::index::kernels;

const ITERATIONS: usize = 8;
const MAX_CENTROIDS: usize = 256;

pub struct Product {
    dim: usize,
    sub_dim: usize,
    centroids: usize,
    /// Group `g` (starting at dimension `s`) keeps its centroids at `centroids * s`,
    /// one after another, each as long as the group.
    table: Vec<f32>,
}

pub struct Query {
    /// Partial scores: group after group, one per centroid.
    partial: Vec<f32>,
}

impl Product {
    pub fn new(dim: usize, sub_dim: usize, centroids: usize, table: Vec<f32>) -> Self {
        Product {
            dim,
            sub_dim: sub_dim.max(1),
            centroids,
            table,
        }
    }

    fn groups(&self) -> impl Iterator<Item = std::ops::Range<usize>> + '_ {
        (0..self.dim)
            .step_by(self.sub_dim)
            .map(|start| start..(start + self.sub_dim).min(self.dim))
    }

    fn group_centroids(&self, group: &std::ops::Range<usize>) -> &[f32] {
        let at = self.centroids * group.start;
        &self.table[at..at + self.centroids * group.len()]
    }

    pub fn train(sample: &[&[f32]], dim: usize, sub_dim: usize) -> Self {
        let centroids = sample.len().clamp(1, MAX_CENTROIDS);
        let mut codec = Product::new(dim, sub_dim, centroids, Vec::new());
        let groups: Vec<_> = codec.groups().collect();
        let tables: Vec<Vec<f32>> = groups
            .par_iter()
            .map(|group| k_means(sample, group.clone(), centroids))
            .collect();
        codec.table = tables.concat();
        codec
    }

    pub fn header(&self) -> CodecHeader {
        CodecHeader::Product {
            sub_dim: self.sub_dim,
            centroids: self.centroids,
        }
    }

    pub fn floats(&self) -> &[f32] {
        &self.table
    }

    pub fn code_len(&self) -> usize {
        self.dim.div_ceil(self.sub_dim)
    }

    pub fn encode(&self, v: &[f32], code: &mut [u8]) {
        for (byte, group) in code.iter_mut().zip(self.groups()) {
            let part = &v[group.clone()];
            *byte = nearest(self.group_centroids(&group), part) as u8;
        }
    }

    pub fn prepare(&self, query: &[f32], distance: Distance) -> Query {
        let mut partial = Vec::with_capacity(self.code_len() * self.centroids);
        for group in self.groups() {
            let part = &query[group.clone()];
            for centroid in self.group_centroids(&group).chunks_exact(group.len()) {
                partial.push(match distance {
                    Distance::Cosine | Distance::Dot => kernels::dot(part, centroid),
                    Distance::Euclid => kernels::l2_squared(part, centroid),
                    Distance::Manhattan => kernels::l1(part, centroid),
                });
            }
        }
        Query { partial }
    }

    pub fn estimate(&self, query: &Query, code: &[u8], distance: Distance) -> f32 {
        let sum: f32 = code
            .iter()
            .enumerate()
            .map(|(g, c)| query.partial[g * self.centroids + *c as usize])
            .sum();
        match distance {
            Distance::Euclid => sum.max(0.0).sqrt(),
            _ => sum,
        }
    }
}

/// The centroid nearest to `point` among `centroids` (laid out one after another).
fn nearest(centroids: &[f32], point: &[f32]) -> usize {
    centroids
        .chunks_exact(point.len())
        .map(|c| kernels::l2_squared(c, point))
        .enumerate()
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .map_or(0, |(i, _)| i)
}

/// Lloyd's k-means over one group of the sample's dimensions, seeded with evenly
/// spaced sample points; a centroid left without points keeps its place.
fn k_means(sample: &[&[f32]], group: std::ops::Range<usize>, k: usize) -> Vec<f32> {
    let len = group.len();
    let points: Vec<&[f32]> = sample.iter().map(|v| &v[group.clone()]).collect();
    let mut centroids: Vec<f32> = (0..k)
        .flat_map(|i| {
            points
                .get(i * points.len() / k)
                .map_or(vec![0.0; len], |p| p.to_vec())
        })
        .collect();
    for _ in 0..ITERATIONS {
        let mut sums = vec![0.0f64; k * len];
        let mut counts = vec![0usize; k];
        for p in &points {
            let c = nearest(&centroids, p);
            counts[c] += 1;
            for (s, x) in sums[c * len..(c + 1) * len].iter_mut().zip(*p) {
                *s += *x as f64;
            }
        }
        for (c, count) in counts.iter().enumerate().filter(|(_, n)| **n > 0) {
            for d in 0..len {
                centroids[c * len + d] = (sums[c * len + d] / *count as f64) as f32;
            }
        }
    }
    centroids
}
