//! Sparse-vector statistics of a shard: how many of its points hold each
//! dimension, behind the `idf` modifier.

use tessera_types::{idf, SparseVector, Vector};

use super::{passes, Shard};
use crate::filter::CompiledFilter;
use crate::segment::SegmentData;

impl Shard {
    /// Multiplies each weight of `query` by its dimension's inverse document
    /// frequency among this shard's live points holding the vector `name`.
    /// Statistics are the shard's own: a collection of several shards weighs a
    /// dimension by each shard's counts, as Qdrant does. With a `corpus`
    /// filter (a query's `params.idf`), only the points it passes count.
    pub(super) fn weigh_by_idf(
        &self,
        name: &str,
        query: &mut SparseVector,
        corpus: Option<&CompiledFilter>,
    ) {
        if let Some(corpus) = corpus {
            return self.weigh_by_corpus(name, query, corpus);
        }
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

    /// IDF over the points `corpus` passes: every live row of every segment
    /// is looked at, as a narrowed corpus has no precomputed counts.
    fn weigh_by_corpus(&self, name: &str, query: &mut SparseVector, corpus: &CompiledFilter) {
        let segments = self.inner.segments();
        let mut holders = vec![0u64; query.indices.len()];
        let mut total = 0u64;
        let mut count = |data: &SegmentData, row: usize| {
            let Some(v) = data
                .varying
                .get(name)
                .and_then(|c| c.get(row))
                .and_then(Vector::as_sparse)
            else {
                return;
            };
            if !passes(Some(corpus), data, row) {
                return;
            }
            total += 1;
            for (i, dim) in query.indices.iter().enumerate() {
                if v.indices.binary_search(dim).is_ok() {
                    holders[i] += 1;
                }
            }
        };
        {
            let app = segments.appendable.read();
            for row in app.live_rows() {
                count(&app.data, row);
            }
        }
        for segment in &segments.sealed {
            for row in (0..segment.data.len()).filter(|row| segment.is_live(*row)) {
                count(&segment.data, row);
            }
        }
        for (value, n) in query.values.iter_mut().zip(holders) {
            *value *= idf(n, total);
        }
    }
}
