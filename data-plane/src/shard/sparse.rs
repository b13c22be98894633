//! Sparse-vector statistics of a shard: how many of its points hold each
//! dimension, behind the `idf` modifier.

use tessera_types::{idf, SparseVector, Vector};

use super::Shard;

impl Shard {
    /// Multiplies each weight of `query` by its dimension's inverse document
    /// frequency among this shard's live points holding the vector `name`.
    /// Statistics are the shard's own: a collection of several shards weighs a
    /// dimension by each shard's counts, as Qdrant does.
    pub(super) fn weigh_by_idf(&self, name: &str, query: &mut SparseVector) {
        let segments = self.inner.segments();
        let mut holders = vec![0u64; query.indices.len()];
        let mut total = 0u64;
        {
            let app = segments.appendable.read();
            total += app.vector_count(name) as u64;
            let column = app.data.varying.get(name);
            for row in app.live_rows() {
                if let Some(v) = column.and_then(|c| c.get(row)).and_then(Vector::as_sparse) {
                    for (i, dim) in query.indices.iter().enumerate() {
                        if v.indices.binary_search(dim).is_ok() {
                            holders[i] += 1;
                        }
                    }
                }
            }
        }
        for segment in &segments.sealed {
            total += segment.vector_count(name) as u64;
            if let Some(index) = segment.inverted_index(name) {
                for (i, dim) in query.indices.iter().enumerate() {
                    holders[i] += index.count(*dim, &|row| segment.is_live(row)) as u64;
                }
            }
        }
        for (value, n) in query.values.iter_mut().zip(holders) {
            *value *= idf(n, total);
        }
    }
}
