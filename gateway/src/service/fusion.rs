//! Fusion of ranked lists (`rrf`, `dbsf`), as Qdrant computes them.

use super::*;
use crate::service::Fusion;

/// Combines ranked lists into one, best first.
pub fn fuse(lists: Vec<Vec<ScoredPoint>>, fusion: &Fusion) -> Result<Vec<ScoredPoint>> {
    let mut fused: Vec<ScoredPoint> = Vec::new();
    let mut at: HashMap<PointId, usize> = HashMap::new();
    let mut add = |point: ScoredPoint, score: f32| match at.get(&point.id) {
        Some(&i) => fused[i].score += score,
        None => {
            at.insert(point.id, fused.len());
            fused.push(ScoredPoint { score, ..point });
        }
    };
    match fusion {
        Fusion::Rrf { k, weights } => {
            if let Some(w) = weights {
                if w.len() != lists.len() {
                    return Err(TesseraError::bad_input(format!(
                        "Number of weights in RRF should match number of prefetches: got {}, expected {}",
                        w.len(),
                        lists.len()
                    )));
                }
            }
            let k = (*k).max(1) as f32;
            for (i, list) in lists.into_iter().enumerate() {
                let weight = weights.as_ref().map_or(1.0, |w| w[i]);
                for (rank, point) in list.into_iter().enumerate() {
                    let score = if weight <= 0.0 {
                        0.0
                    } else {
                        1.0 / ((rank + 1) as f32 / weight + k - 1.0)
                    };
                    add(point, score);
                }
            }
        }
        Fusion::Dbsf => {
            for list in lists {
                let normalized = distribution_normalized(&list);
                for (point, score) in list.into_iter().zip(normalized) {
                    add(point, score);
                }
            }
        }
    }
    fused.sort_by(|a, b| b.score.total_cmp(&a.score));
    Ok(fused)
}

/// Scores mapped to [0, 1] between mean - 3 sd and mean + 3 sd (sample sd);
/// a single score, or all equal, maps to 0.5.
fn distribution_normalized(list: &[ScoredPoint]) -> Vec<f32> {
    let n = list.len();
    if n < 2 {
        return vec![0.5; n];
    }
    let mean = list.iter().map(|p| p.score).sum::<f32>() / n as f32;
    let variance = list.iter().map(|p| (p.score - mean).powi(2)).sum::<f32>() / (n - 1) as f32;
    let (low, high) = (mean - 3.0 * variance.sqrt(), mean + 3.0 * variance.sqrt());
    if low == high {
        return vec![0.5; n];
    }
    list.iter()
        .map(|p| (p.score - low) / (high - low))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::DEFAULT_RRF_K;

    fn hit(id: u64, score: f32) -> ScoredPoint {
        ScoredPoint::scored(PointId::Num(id), score)
    }

    fn ranked(points: &[ScoredPoint]) -> Vec<(u64, f32)> {
        points
            .iter()
            .map(|p| match p.id {
                PointId::Num(n) => (n, (p.score * 1e4).round() / 1e4),
                PointId::Uuid(_) => unreachable!(),
            })
            .collect()
    }

    #[test]
    fn rrf_adds_reciprocal_ranks() {
        let lists = vec![
            vec![hit(2, 0.9), hit(1, 0.8)],
            vec![hit(1, 0.7), hit(2, 0.6), hit(3, 0.5)],
            vec![hit(5, 0.9), hit(3, 0.5), hit(1, 0.4)],
        ];
        let fused = fuse(
            lists,
            &Fusion::Rrf {
                k: DEFAULT_RRF_K,
                weights: None,
            },
        )
        .unwrap();
        // 1: 1/3 + 1/2 + 1/4; 2: 1/2 + 1/3; 3: 1/4 + 1/3; 5: 1/2.
        assert_eq!(
            ranked(&fused),
            vec![(1, 1.0833), (2, 0.8333), (3, 0.5833), (5, 0.5)]
        );
        let refused = fuse(
            vec![vec![hit(1, 1.0)]],
            &Fusion::Rrf {
                k: 2,
                weights: Some(vec![1.0, 2.0]),
            },
        );
        assert!(refused.is_err());
    }

    #[test]
    fn dbsf_sums_scores_normalized_by_their_spread() {
        let lists = vec![vec![hit(1, 10.0), hit(2, 0.0)], vec![hit(2, 0.3)]];
        let fused = fuse(lists, &Fusion::Dbsf).unwrap();
        // List 1: mean 5, sd 7.0711: low -16.213, high 26.213; 1 -> 0.6179, 2 -> 0.3821.
        // List 2: a single score -> 0.5.
        assert_eq!(ranked(&fused), vec![(2, 0.8821), (1, 0.6179)]);
    }
}
