//! The inverted index of a sealed segment's sparse vectors: for each dimension,
//! the rows holding it and their weights, so a query touches only rows that share
//! a dimension with it.

use std::collections::HashMap;

use tessera_types::{SparseVector, Vector};

use crate::segment::VaryingColumn;

#[derive(Debug, Default)]
pub(crate) struct InvertedIndex {
    postings: HashMap<u32, Vec<(u32, f32)>>,
}

impl InvertedIndex {
    /// The index of a column's sparse vectors.
    pub(crate) fn build(column: &VaryingColumn) -> Self {
        let mut postings: HashMap<u32, Vec<(u32, f32)>> = HashMap::new();
        for (row, vector) in column.rows.iter().enumerate() {
            let sparse = vector.as_ref().and_then(Vector::as_sparse);
            for (dim, value) in sparse.iter().flat_map(|v| v.indices.iter().zip(&v.values)) {
                postings.entry(*dim).or_default().push((row as u32, *value));
            }
        }
        Self { postings }
    }

    /// Rows holding `dim` that `live` accepts.
    pub(crate) fn count(&self, dim: u32, live: &dyn Fn(usize) -> bool) -> usize {
        self.postings.get(&dim).map_or(0, |p| {
            p.iter().filter(|(row, _)| live(*row as usize)).count()
        })
    }

    /// The dot product of `query` with every row sharing a dimension with it
    /// (rows that share none are not results), in row order.
    pub(crate) fn scores(&self, query: &SparseVector, rows: usize) -> Vec<(usize, f32)> {
        let mut sums = vec![0f32; rows];
        let mut touched = vec![false; rows];
        let mut hit = Vec::new();
        for (dim, weight) in query.indices.iter().zip(&query.values) {
            for (row, value) in self.postings.get(dim).into_iter().flatten() {
                let row = *row as usize;
                sums[row] += weight * value;
                if !touched[row] {
                    touched[row] = true;
                    hit.push(row);
                }
            }
        }
        hit.sort_unstable();
        hit.into_iter().map(|row| (row, sums[row])).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sv(pairs: &[(u32, f32)]) -> SparseVector {
        SparseVector {
            indices: pairs.iter().map(|p| p.0).collect(),
            values: pairs.iter().map(|p| p.1).collect(),
        }
    }

    #[test]
    fn scores_match_dot_products_of_overlapping_rows() {
        let column = VaryingColumn {
            rows: vec![
                Some(sv(&[(1, 1.0), (5, 2.0)]).into()),
                None,
                Some(sv(&[(2, 3.0)]).into()),
                Some(sv(&[(5, 0.5), (9, 1.0)]).into()),
            ],
        };
        let index = InvertedIndex::build(&column);
        let query = sv(&[(5, 2.0), (9, 1.0)]);
        assert_eq!(index.scores(&query, 4), vec![(0, 4.0), (3, 2.0)]);
        for (row, score) in index.scores(&query, 4) {
            let doc = column.get(row).and_then(Vector::as_sparse).unwrap();
            assert_eq!(doc.dot(&query), score);
        }
        assert_eq!(index.count(5, &|_| true), 2);
        assert_eq!(index.count(5, &|row| row != 0), 1);
    }
}
