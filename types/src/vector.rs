//! Vectors of a point: dense (a fixed number of floats), sparse (index/value
//! pairs over an unbounded vocabulary) or multi-vectors (several dense vectors
//! of one size, compared by late interaction), and their configuration.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::collection::Distance;
use crate::error::{Result, TesseraError};

/// A sparse vector: `values[i]` is the weight of dimension `indices[i]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SparseVector {
    pub indices: Vec<u32>,
    pub values: Vec<f32>,
}

impl SparseVector {
    /// Checks the shape a user gave and sorts by index, the order every
    /// scoring merge relies on.
    pub fn validated(mut self) -> Result<SparseVector> {
        if self.indices.len() != self.values.len() {
            return Err(TesseraError::validation(format!(
                "sparse vector has {} indices and {} values, they must be as many",
                self.indices.len(),
                self.values.len()
            )));
        }
        if self.values.iter().any(|v| !v.is_finite()) {
            return Err(TesseraError::validation(
                "sparse vector values must be finite numbers",
            ));
        }
        if !self.indices.windows(2).all(|w| w[0] < w[1]) {
            let mut pairs: Vec<(u32, f32)> = self
                .indices
                .iter()
                .copied()
                .zip(self.values.iter().copied())
                .collect();
            pairs.sort_by_key(|(i, _)| *i);
            if pairs.windows(2).any(|w| w[0].0 == w[1].0) {
                return Err(TesseraError::validation(
                    "sparse vector indices must be unique",
                ));
            }
            (self.indices, self.values) = pairs.into_iter().unzip();
        }
        Ok(self)
    }

    pub fn is_sorted(&self) -> bool {
        self.indices.windows(2).all(|w| w[0] < w[1])
    }

    /// The dot product with `other`; both sorted by index.
    pub fn dot(&self, other: &SparseVector) -> f32 {
        self.overlap_dot(other).unwrap_or(0.0)
    }

    /// The dot product with `other` when they share a dimension; both sorted by
    /// index. A sparse search finds only points that share one with the query.
    pub fn overlap_dot(&self, other: &SparseVector) -> Option<f32> {
        let (mut i, mut j, mut sum, mut shared) = (0, 0, 0.0, false);
        while i < self.indices.len() && j < other.indices.len() {
            match self.indices[i].cmp(&other.indices[j]) {
                std::cmp::Ordering::Less => i += 1,
                std::cmp::Ordering::Greater => j += 1,
                std::cmp::Ordering::Equal => {
                    sum += self.values[i] * other.values[j];
                    shared = true;
                    i += 1;
                    j += 1;
                }
            }
        }
        shared.then_some(sum)
    }
}

/// One vector of a point, as written, stored and returned. Variants are tried in
/// order: a multi-vector of two integer rows would also read as a sparse vector in
/// serde's sequence form of a struct, so `Multi` comes before `Sparse`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum Vector {
    Dense(Vec<f32>),
    Multi(Vec<Vec<f32>>),
    Sparse(SparseVector),
}

impl Vector {
    pub fn as_dense(&self) -> Option<&Vec<f32>> {
        match self {
            Vector::Dense(v) => Some(v),
            _ => None,
        }
    }

    pub fn as_sparse(&self) -> Option<&SparseVector> {
        match self {
            Vector::Sparse(v) => Some(v),
            _ => None,
        }
    }

    pub fn as_multi(&self) -> Option<&Vec<Vec<f32>>> {
        match self {
            Vector::Multi(v) => Some(v),
            _ => None,
        }
    }

    pub fn into_dense(self) -> Option<Vec<f32>> {
        match self {
            Vector::Dense(v) => Some(v),
            _ => None,
        }
    }

    /// The vector pointing the other way (every component negated).
    pub fn negated(&self) -> Vector {
        let flip = |v: &[f32]| v.iter().map(|x| -x).collect::<Vec<f32>>();
        match self {
            Vector::Dense(v) => Vector::Dense(flip(v)),
            Vector::Multi(m) => Vector::Multi(m.iter().map(|v| flip(v)).collect()),
            Vector::Sparse(s) => Vector::Sparse(SparseVector {
                indices: s.indices.clone(),
                values: flip(&s.values),
            }),
        }
    }

    /// `sum(weight * vector)` over `terms`, which must all be of one kind (and,
    /// when dense, of one size): how examples combine into one query vector.
    pub fn weighted_sum(terms: &[(&Vector, f32)]) -> Result<Vector> {
        let mismatch =
            || TesseraError::bad_input("Examples must be vectors of the same kind and dimension");
        match terms.first() {
            None => Err(TesseraError::bad_input("No vectors to combine")),
            Some((Vector::Dense(first), _)) => {
                let mut sum = vec![0.0f32; first.len()];
                for (vector, weight) in terms {
                    let v = vector.as_dense().filter(|v| v.len() == sum.len());
                    for (s, x) in sum.iter_mut().zip(v.ok_or_else(mismatch)?) {
                        *s += weight * x;
                    }
                }
                Ok(Vector::Dense(sum))
            }
            Some((Vector::Multi(_), _)) => Err(TesseraError::bad_input(
                "Multi-vectors cannot be combined into one query vector: use the best_score or sum_scores strategy",
            )),
            Some((Vector::Sparse(_), _)) => {
                let mut sum: BTreeMap<u32, f32> = BTreeMap::new();
                for (vector, weight) in terms {
                    let v = vector.as_sparse().ok_or_else(mismatch)?;
                    for (i, x) in v.indices.iter().zip(&v.values) {
                        *sum.entry(*i).or_default() += weight * x;
                    }
                }
                let (indices, values) = sum.into_iter().unzip();
                Ok(Vector::Sparse(SparseVector { indices, values }))
            }
        }
    }

    /// Similarity of two vectors under `distance` as searches score it (sparse
    /// vectors by dot product); vectors of different kinds share nothing.
    pub fn score(&self, other: &Vector, distance: Distance) -> f32 {
        match (self, other) {
            (Vector::Dense(a), Vector::Dense(b)) => dense_score(distance, a, b),
            (Vector::Sparse(a), Vector::Sparse(b)) => a.dot(b),
            (Vector::Multi(a), Vector::Multi(b)) => max_sim(distance, a, b),
            _ => 0.0,
        }
    }

    /// What kind of vector this is, for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Vector::Dense(_) => "dense",
            Vector::Sparse(_) => "sparse",
            Vector::Multi(_) => "multi",
        }
    }
}

impl From<Vec<f32>> for Vector {
    fn from(v: Vec<f32>) -> Self {
        Vector::Dense(v)
    }
}

impl From<SparseVector> for Vector {
    fn from(v: SparseVector) -> Self {
        Vector::Sparse(v)
    }
}

/// The score of dense vectors `a` and `b` under `distance`, computed plainly
/// (the data plane's kernels are the fast path; this serves the gateway).
pub fn dense_score(distance: Distance, a: &[f32], b: &[f32]) -> f32 {
    let pairs = a.iter().zip(b);
    match distance {
        Distance::Cosine | Distance::Dot => pairs.map(|(x, y)| x * y).sum(),
        Distance::Euclid => pairs.map(|(x, y)| (x - y) * (x - y)).sum::<f32>().sqrt(),
        Distance::Manhattan => pairs.map(|(x, y)| (x - y).abs()).sum(),
    }
}

/// Late interaction (ColBERT's MaxSim): each query vector's best score among
/// the document's vectors, summed. "Best" is the highest similarity, or the
/// smallest distance for Euclid and Manhattan. As in Qdrant, Euclid sums
/// squared distances and reports the square root of the sum.
pub fn max_sim<Q: AsRef<[f32]>, D: AsRef<[f32]>>(
    distance: Distance,
    query: &[Q],
    doc: &[D],
) -> f32 {
    let best = |q: &[f32]| {
        let scores = doc.iter().map(|d| match distance {
            Distance::Euclid => q
                .iter()
                .zip(d.as_ref())
                .map(|(x, y)| (x - y) * (x - y))
                .sum::<f32>(),
            _ => dense_score(distance, q, d.as_ref()),
        });
        if distance.higher_is_better() {
            scores.fold(f32::NEG_INFINITY, f32::max)
        } else {
            scores.fold(f32::INFINITY, f32::min)
        }
    };
    let sum: f32 = query.iter().map(|q| best(q.as_ref())).sum();
    if distance == Distance::Euclid {
        sum.sqrt()
    } else {
        sum
    }
}

/// The element type a dense vector is kept in. Values are stored as that type
/// holds them (uint8 truncated to 0..=255, float16 rounded to half precision),
/// so searches and reads see exactly what a Qdrant collection of that
/// datatype would.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Datatype {
    #[default]
    Float32,
    Uint8,
    Float16,
}

impl Datatype {
    /// Rounds `values` to what this type can hold.
    pub fn store(self, values: &mut [f32]) {
        match self {
            Datatype::Float32 => {}
            // As Rust's `as u8`: toward zero, saturating at both ends.
            Datatype::Uint8 => values.iter_mut().for_each(|x| *x = (*x as u8) as f32),
            Datatype::Float16 => values
                .iter_mut()
                .for_each(|x| *x = half::f16::from_f32(*x).to_f32()),
        }
    }
}

/// `multivector_config` of a dense vector: its points hold several vectors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MultiVectorConfig {
    pub comparator: MultiVectorComparator,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum MultiVectorComparator {
    MaxSim,
}

/// How the weights of a sparse vector's dimensions are adjusted at search time.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Modifier {
    #[default]
    None,
    /// Inverse document frequency: a dimension found in fewer points weighs more.
    Idf,
}

/// `index` of a sparse vector's parameters. Accepted as Qdrant has them; the
/// engine keeps every sparse vector in memory with an inverted index.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SparseIndexParams {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full_scan_threshold: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_disk: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub datatype: Option<Datatype>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SparseVectorParams {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<SparseIndexParams>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modifier: Option<Modifier>,
}

impl SparseVectorParams {
    pub fn modifier(&self) -> Modifier {
        self.modifier.unwrap_or_default()
    }
}

/// Sparse vectors of a collection, by name.
pub type SparseVectorsConfig = BTreeMap<String, SparseVectorParams>;

/// Inverse document frequency as Qdrant (and BM25) computes it: `n` of `total`
/// points hold the dimension.
pub fn idf(n: u64, total: u64) -> f32 {
    let (n, total) = (n as f64, total.max(n) as f64);
    (((total - n + 0.5) / (n + 0.5)) + 1.0).ln() as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectors_parse_by_shape() {
        let parse = |json: &str| serde_json::from_str::<Vector>(json).unwrap();
        assert_eq!(parse("[1, 2]"), Vector::Dense(vec![1.0, 2.0]));
        // Two integer rows are a multi-vector, not a sparse vector in sequence form.
        assert_eq!(
            parse("[[1, 0], [0, 1]]"),
            Vector::Multi(vec![vec![1.0, 0.0], vec![0.0, 1.0]])
        );
        assert_eq!(
            parse(r#"{"indices": [3], "values": [0.5]}"#),
            Vector::Sparse(SparseVector {
                indices: vec![3],
                values: vec![0.5]
            })
        );
    }

    #[test]
    fn sparse_vectors_are_sorted_and_checked() {
        let v = SparseVector {
            indices: vec![7, 1, 3],
            values: vec![0.7, 0.1, 0.3],
        }
        .validated()
        .unwrap();
        assert_eq!(v.indices, vec![1, 3, 7]);
        assert_eq!(v.values, vec![0.1, 0.3, 0.7]);
        let dup = SparseVector {
            indices: vec![2, 2],
            values: vec![1.0, 1.0],
        };
        assert!(dup.validated().is_err());
        let uneven = SparseVector {
            indices: vec![2],
            values: vec![1.0, 1.0],
        };
        assert!(uneven.validated().is_err());
    }

    #[test]
    fn dot_multiplies_shared_dimensions() {
        let a = SparseVector {
            indices: vec![1, 4, 9],
            values: vec![1.0, 2.0, 3.0],
        };
        let b = SparseVector {
            indices: vec![0, 4, 9, 12],
            values: vec![5.0, 0.5, 2.0, 1.0],
        };
        assert_eq!(a.dot(&b), 7.0);
    }

    #[test]
    fn vectors_parse_as_dense_or_sparse() {
        let dense: Vector = serde_json::from_str("[1.0, 2.0]").unwrap();
        assert_eq!(dense, Vector::Dense(vec![1.0, 2.0]));
        let sparse: Vector = serde_json::from_str(r#"{"indices":[3],"values":[0.5]}"#).unwrap();
        assert!(matches!(sparse, Vector::Sparse(_)));
    }

    #[test]
    fn sparse_examples_combine_by_dimension() {
        let a = Vector::Sparse(SparseVector {
            indices: vec![1, 3],
            values: vec![2.0, 4.0],
        });
        let b = Vector::Sparse(SparseVector {
            indices: vec![3, 5],
            values: vec![2.0, 6.0],
        });
        let mean = Vector::weighted_sum(&[(&a, 0.5), (&b, 0.5)]).unwrap();
        assert_eq!(
            mean,
            Vector::Sparse(SparseVector {
                indices: vec![1, 3, 5],
                values: vec![1.0, 3.0, 3.0],
            })
        );
        assert!(Vector::weighted_sum(&[(&a, 1.0), (&Vector::Dense(vec![1.0]), 1.0)]).is_err());
    }

    #[test]
    fn max_sim_sums_each_query_vectors_best_match() {
        let query = vec![vec![1.0, 0.0], vec![0.0, 1.0]];
        let doc = vec![vec![0.5, 0.5], vec![2.0, 0.0]];
        assert_eq!(max_sim(Distance::Dot, &query, &doc), 2.0 + 0.5);
        // Qdrant's Euclid: the root of the summed squared distances.
        let euclid_query = vec![
            vec![1.0, 2.0, 3.0],
            vec![3.0, 3.0, 3.0],
            vec![4.0, 5.0, 6.0],
        ];
        let euclid_doc = vec![vec![3.0, 3.0, 3.0], vec![4.0, 2.0, 1.0]];
        assert_eq!(
            max_sim(Distance::Euclid, &euclid_query, &euclid_doc),
            19f32.sqrt()
        );
        let multi: Vector = serde_json::from_str("[[1.0, 0.0], [0.0, 1.0]]").unwrap();
        assert_eq!(multi, Vector::Multi(query));
    }

    #[test]
    fn datatypes_keep_what_their_type_holds() {
        let mut bytes = vec![-3.0, 0.4, 7.9, 300.0];
        Datatype::Uint8.store(&mut bytes);
        assert_eq!(bytes, vec![0.0, 0.0, 7.0, 255.0]);
        let mut halves = vec![0.1f32, 1.0, 65504.0];
        Datatype::Float16.store(&mut halves);
        assert_eq!(halves[1], 1.0);
        assert_eq!(halves[2], 65504.0);
        assert!((halves[0] - 0.1).abs() < 1e-4 && halves[0] != 0.1);
    }

    #[test]
    fn rarer_dimensions_weigh_more() {
        assert!(idf(1, 100) > idf(50, 100));
        assert!(idf(100, 100) > 0.0);
    }
}
