//! Searching a shard: each segment's hits (by graph or exact scan, per the cardinality
//! estimates behind that choice), top-k selection, and the merge across segments.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};

use rayon::prelude::*;
use tessera_types::{
    max_sim, Distance, PointId, ScoredPoint, SearchRequest, SparseVector, Vector, VectorStruct,
};

use super::passes;
use crate::filter::CompiledFilter;
use crate::index::{graph_distance, kernels, WalkDistance};
use crate::segment::{Column, ImmutableSegment, SegmentData};

/// Scans over at least this many points run on the rayon pool.
const PARALLEL_SCAN_MIN: usize = 16_384;
/// Rows one thread of a parallel scan takes at a time.
const SCAN_CHUNK: usize = 4096;

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
    let top_of = |rows: std::ops::Range<usize>| {
        let mut top = TopK::new(k, distance);
        for row in rows {
            if let Some((id, score)) = candidate(row) {
                top.push(id, row, score);
            }
        }
        top
    };
    // Parallel by chunks of rows: a plain loop inside each, not a task per row.
    let top = if rows >= PARALLEL_SCAN_MIN && !super::read_pool::saturated() {
        (0..rows.div_ceil(SCAN_CHUNK))
            .into_par_iter()
            .map(|chunk| top_of(chunk * SCAN_CHUNK..((chunk + 1) * SCAN_CHUNK).min(rows)))
            .reduce(|| TopK::new(k, distance), TopK::merge)
    } else {
        top_of(0..rows)
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

/// One segment's candidate for a search result.
pub(super) struct Hit {
    id: PointId,
    version: u64,
    score: f32,
    point: ScoredPoint,
}

pub(super) struct SearchContext<'a> {
    pub(super) req: &'a SearchRequest,
    /// Dense: normalized for Cosine; sparse: sorted, weighted by the modifier.
    pub(super) query: &'a Vector,
    pub(super) distance: Distance,
    pub(super) dim: usize,
    pub(super) k: usize,
    pub(super) ef: usize,
    pub(super) full_scan_threshold: usize,
    pub(super) filter: Option<&'a CompiledFilter>,
}

impl SearchContext<'_> {
    fn passes_threshold(&self, score: f32) -> bool {
        self.req
            .score_threshold
            .is_none_or(|t| self.distance.passes_threshold(score, t))
    }

    /// The query's score against the row's vector, None when the row has no such
    /// vector (or, for sparse vectors, shares no dimension with the query).
    /// Scores `data`'s rows against the query (None: the row lacks the vector).
    /// The vector's column is looked up once here, not once per row: a scan
    /// spent most of its time comparing the name's string otherwise.
    fn row_scorer<'s>(
        &'s self,
        data: &'s SegmentData,
    ) -> impl Fn(usize) -> Option<f32> + Sync + 's {
        let name = self.req.using.as_str();
        let dense = data.columns.get(name);
        let varying = data.varying.get(name);
        move |row| match self.query {
            Vector::Dense(query) => Some(kernels::score(self.distance, query, dense?.get(row)?)),
            Vector::Sparse(query) => query.overlap_dot(varying?.get(row)?.as_sparse()?),
            Vector::Multi(query) => Some(max_sim(
                self.distance,
                query,
                varying?.get(row)?.as_multi()?,
            )),
        }
    }

    fn hit(&self, data: &SegmentData, row: usize, score: f32) -> Hit {
        Hit {
            id: data.ids[row],
            version: data.versions[row],
            score,
            point: ScoredPoint {
                id: data.ids[row],
                version: data.versions[row],
                score,
                // A mapped payload is decoded only when asked for.
                payload: self
                    .req
                    .with_payload
                    .is_enabled()
                    .then(|| self.req.with_payload.select(&data.payload(row)))
                    .flatten(),
                vector: self
                    .req
                    .with_vector
                    .is_enabled()
                    .then(|| self.req.with_vector.select(&data.vectors(row)))
                    .flatten()
                    .map(VectorStruct::from_named),
                shard_key: None,
                order_value: None,
            },
        }
    }

    /// Exact top-k over the rows of `data` that `live` accepts.
    pub(super) fn scan(
        &self,
        data: &SegmentData,
        live: &(dyn Fn(usize) -> bool + Sync),
    ) -> Vec<Hit> {
        let score_row = self.row_scorer(data);
        let candidate = |row: usize| {
            // The cheap checks first: a dead or filtered-out row costs no distance.
            if !live(row) || !passes(self.filter, data, row) {
                return None;
            }
            let score = score_row(row)?;
            self.passes_threshold(score)
                .then_some((data.ids[row], score))
        };
        exact_top_k(data.len(), self.k, self.distance, &candidate)
            .into_iter()
            .map(|(_, row, score)| self.hit(data, row, score))
            .collect()
    }

    /// Exact top-k over the listed rows only.
    fn scan_rows(
        &self,
        data: &SegmentData,
        rows: &[u32],
        live: &(dyn Fn(usize) -> bool + Sync),
    ) -> Vec<Hit> {
        let score_row = self.row_scorer(data);
        let candidate = |i: usize| {
            let row = rows[i] as usize;
            // The cheap checks first: a dead or filtered-out row costs no distance.
            if !live(row) || !passes(self.filter, data, row) {
                return None;
            }
            let score = score_row(row)?;
            self.passes_threshold(score)
                .then_some((data.ids[row], score))
        };
        exact_top_k(rows.len(), self.k, self.distance, &candidate)
            .into_iter()
            .map(|(_, i, score)| self.hit(data, rows[i] as usize, score))
            .collect()
    }

    /// Rows that can pass the filter, from the segment's payload indexes: the smallest
    /// answer among the filter's indexed `must` conditions. None when no index applies.
    fn candidate_rows(&self, segment: &ImmutableSegment) -> Option<Vec<u32>> {
        self.filter?
            .index_queries()
            .iter()
            .filter_map(|(key, query)| segment.field_index(key)?.lookup(query))
            .min_by_key(Vec::len)
    }

    /// Top-k of a sealed segment's sparse vectors through its inverted index, or
    /// over the filter's indexed candidates when those are fewer.
    fn search_sparse(&self, segment: &ImmutableSegment, query: &SparseVector) -> Vec<Hit> {
        let data = &segment.data;
        let live = |row: usize| segment.is_live(row);
        let Some(index) = segment.inverted_index(&self.req.using) else {
            return Vec::new();
        };
        if let Some(rows) = self.candidate_rows(segment) {
            if rows.len() < data.len() / 8 {
                return self.scan_rows(data, &rows, &live);
            }
        }
        let mut top = TopK::new(self.k, self.distance);
        for (row, score) in index.scores(query, data.len()) {
            if live(row) && passes(self.filter, data, row) && self.passes_threshold(score) {
                top.push(data.ids[row], row, score);
            }
        }
        top.into_sorted()
            .into_iter()
            .map(|(_, row, score)| self.hit(data, row, score))
            .collect()
    }

    pub(super) fn search_sealed(&self, segment: &ImmutableSegment) -> Vec<Hit> {
        let query = match self.query {
            Vector::Dense(query) => query,
            Vector::Sparse(query) => return self.search_sparse(segment, query),
            // Multi-vectors have no graph: scored exactly, over indexed candidates if any.
            Vector::Multi(_) => {
                let live = |row: usize| segment.is_live(row);
                return match self.candidate_rows(segment) {
                    Some(rows) => self.scan_rows(&segment.data, &rows, &live),
                    None => self.scan(&segment.data, &live),
                };
            }
        };
        let name = self.req.using.as_str();
        let data = &segment.data;
        let candidates = self.candidate_rows(segment);
        // A segment with a graph is searched through it, unless asked for an
        // exact search or a filter leaves fewer matches than full_scan_threshold.
        let graph = segment.graph(name).filter(|_| {
            !self.req.params.exact
                && self.filter.is_none_or(|f| {
                    // Few matches: scoring them directly beats walking the graph past the rest.
                    // An index bounds the matches; otherwise a sample estimates them.
                    let matching = match &candidates {
                        Some(rows) => rows.len(),
                        None => estimate_matches(&data.ids, &|row| {
                            segment.is_live(row)
                                && data.has_vector(row, name)
                                && passes(Some(f), data, row)
                        }),
                    };
                    reaches_kb(matching, self.dim, self.full_scan_threshold)
                })
        });
        let exact = |candidates: Option<Vec<u32>>| match candidates {
            Some(rows) => self.scan_rows(data, &rows, &|row| segment.is_live(row)),
            None => self.scan(data, &|row| segment.is_live(row)),
        };
        let Some(graph) = graph else {
            return exact(candidates);
        };
        let accept = |row: usize| segment.is_live(row) && passes(self.filter, data, row);
        let masked = self.filter.is_some() || segment.deleted_count() > 0;
        let accept = masked.then_some(&accept as &dyn Fn(usize) -> bool);
        let Some(column) = data.columns.get(name) else {
            return Vec::new();
        };
        let quantization = self.req.params.quantization.unwrap_or_default();
        let codes = segment.quantized(name).filter(|_| !quantization.ignore);
        // With codes the walk reads them, gathering `oversampling` candidates per result;
        // re-scoring (unless asked not to) reads the stored vectors of every candidate
        // the walk kept, at least `ef` of them: a few hundred reads beside the walk's
        // thousands of code comparisons, and it recovers what the codes' rounding hid.
        let (rows, estimates) = match &codes {
            Some(codes) => {
                let prepared = codes.prepare(query);
                let wanted = quantization.candidates(self.k);
                let gathered = if quantization.rescore() {
                    self.ef.max(wanted)
                } else {
                    wanted
                };
                let rows = graph.search(gathered, self.ef.max(wanted), accept, &|row| {
                    codes.walk_distance(&prepared, row as usize)
                });
                let estimates = (!quantization.rescore()).then(|| {
                    rows.iter()
                        .map(|row| codes.estimate(&prepared, *row))
                        .collect::<Vec<_>>()
                });
                (rows, estimates)
            }
            None => {
                let walk = DenseWalk {
                    column,
                    query,
                    distance: graph.distance(),
                };
                (graph.search(self.k, self.ef, accept, &walk), None)
            }
        };
        // A graph walk that found fewer than k accepted rows, where more may match (masks
        // can cut the graph), would let far points of other segments into the results.
        if rows.len() < self.k && rows.len() < segment.live_count() {
            return exact(candidates);
        }
        let mut top = TopK::new(self.k, self.distance);
        for (i, row) in rows.into_iter().enumerate() {
            // Scores come from the stored vectors, so graph and scan report the same.
            let score = match &estimates {
                Some(estimates) => Some(estimates[i]),
                None => column
                    .get(row)
                    .map(|v| kernels::score(self.distance, query, v)),
            };
            if let Some(score) = score.filter(|s| self.passes_threshold(*s)) {
                top.push(data.ids[row], row, score);
            }
        }
        top.into_sorted()
            .into_iter()
            .map(|(_, row, score)| self.hit(data, row, score))
            .collect()
    }
}

/// Searches again, deeper, each sealed segment whose top k held a point that another
/// segment's hits show newer: a write lands in the appendable segment before it masks
/// the old rows, so a search between the two reads both versions, and the old one,
/// dropped by the merge, would leave its segment's list one short and let a point
/// from below everyone's top k into the results. Rare (only during that window), so
/// the deeper search is not worth avoiding.
pub(super) fn refill_superseded(
    ctx: &SearchContext<'_>,
    sealed: &[std::sync::Arc<ImmutableSegment>],
    appendable_hits: &[Hit],
    sealed_hits: &mut [Vec<Hit>],
) {
    let mut newest: HashMap<PointId, u64> = HashMap::new();
    for hit in appendable_hits.iter().chain(sealed_hits.iter().flatten()) {
        let version = newest.entry(hit.id).or_insert(hit.version);
        *version = (*version).max(hit.version);
    }
    let superseded = |hits: &[Hit]| {
        hits.iter()
            .filter(|hit| newest.get(&hit.id).is_some_and(|v| *v > hit.version))
            .count()
    };
    for (segment, hits) in sealed.iter().zip(sealed_hits.iter_mut()) {
        let mut k = ctx.k;
        loop {
            let stale = superseded(hits);
            // A list shorter than asked holds all the segment has.
            if stale == 0 || hits.len() < k || k >= segment.rows() {
                break;
            }
            k = k.saturating_add(stale.max(k / 2));
            let deeper = SearchContext {
                k,
                ef: ctx.ef.max(k),
                ..*ctx
            };
            *hits = deeper.search_sealed(segment);
        }
    }
}

/// The best `k` hits, one per point: where a write moved a point while the search ran,
/// the newer copy wins.
pub(super) fn merge_hits(hits: Vec<Hit>, k: usize, distance: Distance) -> Vec<ScoredPoint> {
    let mut newest: HashMap<PointId, Hit> = HashMap::with_capacity(hits.len());
    for hit in hits {
        match newest.get(&hit.id) {
            Some(kept) if kept.version >= hit.version => {}
            _ => {
                newest.insert(hit.id, hit);
            }
        }
    }
    let mut all: Vec<Hit> = newest.into_values().collect();
    let higher = distance.higher_is_better();
    all.sort_by(|a, b| {
        let by_score = if higher {
            b.score.total_cmp(&a.score)
        } else {
            a.score.total_cmp(&b.score)
        };
        by_score.then_with(|| a.id.cmp(&b.id))
    });
    all.truncate(k);
    all.into_iter().map(|h| h.point).collect()
}

/// A graph walk over the stored dense vectors.
struct DenseWalk<'a> {
    column: &'a Column,
    query: &'a [f32],
    distance: Distance,
}

impl WalkDistance for DenseWalk<'_> {
    fn distance(&self, row: u32) -> f32 {
        self.column
            .get(row as usize)
            .map_or(f32::MAX, |v| graph_distance(self.distance, self.query, v))
    }

    fn prefetch(&self, row: u32) {
        if let Some(v) = self.column.get(row as usize) {
            kernels::prefetch(v);
        }
    }
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
