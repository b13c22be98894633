//! Seeded test data and the brute-force answers searches are checked against.

use std::collections::HashMap;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Largest difference between a server's cosine score and ours that still
/// counts as equal: the server stores normalized f32 vectors and may sum in
/// another order, which moves scores in the last few bits.
pub const SCORE_TOLERANCE: f32 = 1e-4;

/// A seeded random source, so every run of a test sees the same data.
pub fn rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

/// A vector with components uniform in [-1, 1).
pub fn random_vector(rng: &mut StdRng, dim: usize) -> Vec<f32> {
    (0..dim).map(|_| rng.random_range(-1.0..1.0)).collect()
}

/// `n` vectors with ids `0..n`.
pub fn random_points(seed: u64, n: u64, dim: usize) -> Vec<(u64, Vec<f32>)> {
    let mut rng = rng(seed);
    (0..n)
        .map(|id| (id, random_vector(&mut rng, dim)))
        .collect()
}

/// `v` scaled to unit length, as a Cosine collection stores it.
pub fn normalized(v: &[f32]) -> Vec<f32> {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.iter().map(|x| x / norm).collect()
}

pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let norms =
        a.iter().map(|x| x * x).sum::<f32>().sqrt() * b.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / norms
}

/// The `k` points most similar to `query` by cosine among those `keep`
/// accepts, best first, with their scores.
pub fn exact_top_k(
    points: &[(u64, Vec<f32>)],
    query: &[f32],
    k: usize,
    keep: impl Fn(u64) -> bool,
) -> Vec<(u64, f32)> {
    let mut scored: Vec<(u64, f32)> = points
        .iter()
        .filter(|(id, _)| keep(*id))
        .map(|(id, v)| (*id, cosine(v, query)))
        .collect();
    scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    scored.truncate(k);
    scored
}

/// Checks a server's top-k answer against the brute-force one. Points whose
/// scores tie within [`SCORE_TOLERANCE`] may come in either order, and either
/// of two tied points may take the last place; anything else must match.
pub fn assert_top_k(
    context: &str,
    points: &[(u64, Vec<f32>)],
    query: &[f32],
    expected: &[(u64, f32)],
    got: &[(u64, f32)],
) {
    let vectors: HashMap<u64, &Vec<f32>> = points.iter().map(|(id, v)| (*id, v)).collect();
    assert_eq!(
        got.len(),
        expected.len(),
        "{context}: got {} hits, want {}: got {got:?}, want {expected:?}",
        got.len(),
        expected.len()
    );
    for (rank, ((got_id, got_score), (_, want_score))) in got.iter().zip(expected).enumerate() {
        assert!(
            (got_score - want_score).abs() <= SCORE_TOLERANCE,
            "{context}: rank {rank} has score {got_score}, brute force has {want_score}: \
             got {got:?}, want {expected:?}"
        );
        let vector = vectors
            .get(got_id)
            .unwrap_or_else(|| panic!("{context}: hit {got_id} is not a point we stored"));
        let true_score = cosine(vector, query);
        assert!(
            (got_score - true_score).abs() <= SCORE_TOLERANCE,
            "{context}: point {got_id} reported with score {got_score}, its true score is {true_score}"
        );
    }
    let mut ids: Vec<u64> = got.iter().map(|(id, _)| *id).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), got.len(), "{context}: duplicate hits in {got:?}");
}
