//! What optimization is due: thresholds from the collection's config, segment
//! sizes, and the next task (persist, seal, index, quantize, vacuum, merge).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tessera_types::{CollectionConfig, PointId, QuantizationConfig};

use crate::index::{Graph, GraphParams};
use crate::payload_index::FieldIndex;
use crate::segment::{Appendable, AtomicBitmap, ImmutableSegment};
use crate::shard::{Inner, Segments};

use super::Task;

/// `indexing_threshold` when the config leaves it unset (Qdrant's default).
pub(super) const DEFAULT_INDEXING_KB: usize = 10_000;
/// `max_segment_size` when the config leaves it unset.
pub(super) const DEFAULT_MAX_SEGMENT_KB: usize = 200_000;
/// Vectors from which a segment is worth a graph even below `indexing_threshold`: a
/// graph search measures a few thousand vectors at most, a scan measures them all.
pub(super) const GRAPH_WORTHY_VECTORS: usize = 4096;
/// How long the appendable segment must go without writes before it is sealed below
/// `indexing_threshold`, so that an upload's unindexed tail gets its graph.
pub(super) const TAIL_REST: Duration = Duration::from_secs(1);

/// Size at which the appendable segment is sealed.
pub(super) fn seal_kb(config: &CollectionConfig) -> usize {
    match config.optimizer_config.indexing_threshold {
        Some(0) => config
            .optimizer_config
            .max_segment_size
            .unwrap_or(DEFAULT_MAX_SEGMENT_KB),
        Some(kb) => kb,
        None => DEFAULT_INDEXING_KB,
    }
    .max(1)
}

/// The graph a segment should have for vector `name`, if any: as in Qdrant, a
/// segment whose vectors pass `indexing_threshold` kilobytes is indexed
/// (`full_scan_threshold` only steers filtered searches), and so is one holding
/// `GRAPH_WORTHY_VECTORS` of them, such as an upload's sealed tail.
pub(super) fn wanted_graph(
    config: &CollectionConfig,
    segment: &ImmutableSegment,
    name: &str,
) -> Option<GraphParams> {
    // Multi-vectors are scored exactly: no graph.
    config
        .params
        .vectors
        .get(name)
        .filter(|p| p.multivector_config.is_none())?;
    let hnsw = config.hnsw_for(name);
    let threshold_kb = match config.optimizer_config.indexing_threshold {
        Some(0) => return None,
        Some(kb) => kb,
        None => DEFAULT_INDEXING_KB,
    };
    let large = segment_kb(config, |n| segment.vector_count(n)) >= threshold_kb
        || segment.vector_count(name) >= GRAPH_WORTHY_VECTORS;
    (hnsw.m > 0 && large && segment.vector_count(name) > 0).then_some(GraphParams {
        m: hnsw.m,
        ef_construct: hnsw.ef_construct,
    })
}

/// The quantized codes a segment should keep for vector `name`: those its settings ask
/// for, in segments that are indexed.
pub(super) fn wanted_quantization(
    config: &CollectionConfig,
    segment: &ImmutableSegment,
    name: &str,
) -> Option<QuantizationConfig> {
    wanted_graph(config, segment, name)?;
    config
        .quantization_for(name)
        .filter(|q| !matches!(q, QuantizationConfig::Turbo(_)))
        .cloned()
}

/// Sealed segments a shard aims at: `default_segment_number`, or when that is 0
/// (auto) one, up to `max_segment_size`. A search walks every segment's graph, and
/// one graph over all points costs little more than one over half of them, so
/// under concurrent searches one segment serves the most; merges keep the largest
/// graph and insert the rest, so they cost no full rebuild.
pub(super) fn segment_target(config: &CollectionConfig) -> usize {
    match config.optimizer_config.default_segment_number {
        0 => 1,
        n => n,
    }
}

/// Whether an appendable segment below `indexing_threshold` is to be sealed so its
/// vectors get a graph: when indexing is on and it holds enough vectors of one
/// indexed vector to be worth one. It is sealed once writes have rested for
/// `TAIL_REST`; a merge may follow, which inserts the tail into the graph of the
/// segment it joins (merges stay within `max_segment_size`).
pub(super) enum TailSeal {
    No,
    Waiting,
    Due,
}

pub(super) fn tail_seal(config: &CollectionConfig, app: &Appendable) -> TailSeal {
    let indexing = config.optimizer_config.indexing_threshold != Some(0);
    let worthy = config.params.vectors.iter().any(|(name, params)| {
        params.multivector_config.is_none()
            && config.hnsw_for(name).m > 0
            && app.vector_count(name) >= GRAPH_WORTHY_VECTORS
    });
    if !indexing || !worthy {
        return TailSeal::No;
    }
    match app.resting_for() {
        Some(rest) if rest >= TAIL_REST => TailSeal::Due,
        _ => TailSeal::Waiting,
    }
}

/// Points of a merge's source that may be gone for its graph to be kept: links to them
/// are dropped, and the search quality of the kept graph declines with their share.
pub(super) const MERGE_BASE_MAX_DELETED: f64 = 0.1;

/// The graph a merge of `sources` into `rows` (id, source, row; in the new segment's
/// order) can keep for vector `name`: the largest graph built with `params` whose
/// segment lost few points; with the new row of each of its rows.
pub(super) fn merge_base(
    sources: &[Arc<ImmutableSegment>],
    snapshots: &[AtomicBitmap],
    rows: &[(PointId, usize, usize)],
    name: &str,
    params: GraphParams,
) -> Option<(Arc<Graph>, Vec<Option<u32>>)> {
    let (source, graph) = sources
        .iter()
        .zip(snapshots)
        .enumerate()
        .filter(|(_, (segment, deleted))| {
            (deleted.count() as f64) <= MERGE_BASE_MAX_DELETED * segment.rows() as f64
        })
        .filter_map(|(i, (segment, _))| Some((i, segment.graph(name)?)))
        .filter(|(_, graph)| graph.params() == params)
        .max_by_key(|(_, graph)| graph.len())?;
    let mut new_rows = vec![None; sources[source].rows()];
    for (new_row, (_, from, row)) in rows.iter().enumerate() {
        if *from == source {
            new_rows[*row] = Some(new_row as u32);
        }
    }
    Some((graph, new_rows))
}

/// `max_segment_size`: what merges stay within.
fn max_segment_kb(config: &CollectionConfig) -> usize {
    config
        .optimizer_config
        .max_segment_size
        .unwrap_or(DEFAULT_MAX_SEGMENT_KB)
}

/// A merge of the smallest sealed segments while there are more than the target,
/// into one of at most `max_segment_size` kilobytes: segments that cannot merge
/// without passing it stay apart, so each merge copies a bounded amount of data.
pub(super) fn merge_task(config: &CollectionConfig, segments: &Segments) -> Option<Task> {
    let target = segment_target(config);
    if segments.sealed.len() <= target {
        return None;
    }
    let max_kb = max_segment_kb(config);
    let mut by_size: Vec<_> = segments.sealed.clone();
    by_size.sort_by_key(|s| s.live_count());
    let mut chosen = Vec::new();
    let mut kb = 0;
    for s in by_size.into_iter().take(segments.sealed.len() - target + 1) {
        let size = segment_kb(config, |n| s.vector_count(n));
        if kb + size > max_kb {
            break;
        }
        kb += size;
        chosen.push(s);
    }
    (chosen.len() >= 2).then(|| Task::Rebuild(chosen, "merge"))
}

/// What a sparse vector is taken to weigh when sizing segments: about 32 dimensions
/// of an index and a value each.
pub(super) const SPARSE_VECTOR_BYTES: usize = 256;

/// Kilobytes of live vectors in a segment.
pub(super) fn segment_kb(config: &CollectionConfig, count: impl Fn(&str) -> usize) -> usize {
    let dense = config
        .params
        .vectors
        .iter()
        .map(|(name, p)| count(name) * p.size as usize * 4);
    let sparse = config
        .params
        .sparse_vectors
        .iter()
        .flat_map(|m| m.keys())
        .map(|name| count(name) * SPARSE_VECTOR_BYTES);
    dense.chain(sparse).sum::<usize>() / 1024
}

impl Inner {
    pub(super) fn checkpoint_due(&self) -> bool {
        let (interval, wal_limit) = {
            let config = self.config.read();
            (
                Duration::from_secs(config.optimizer_config.flush_interval_sec),
                config.wal_config.wal_capacity_mb.max(1) as u64 * 1024 * 1024,
            )
        };
        let logged = self.wal.appended_bytes() - self.checkpoint_bytes.load(Ordering::Acquire);
        self.last_checkpoint.lock().elapsed() >= interval || logged >= wal_limit
    }

    /// Whether the appendable segment has reached the size at which it is sealed.
    pub(in crate::shard) fn seal_due(&self) -> bool {
        let config = self.config.read();
        let segments = self.segments();
        let app = segments.appendable.read();
        app.len() > 0 && segment_kb(&config, |n| app.vector_count(n)) >= seal_kb(&config)
    }

    /// Whether the appendable segment has grown past what a merge may produce
    /// (`max_segment_size`, and at least the seal size): writes outpacing a
    /// long build get there, and it is then sealed between the build's steps
    /// instead of growing without bound until the build ends.
    pub(super) fn appendable_overgrown(&self) -> bool {
        let config = self.config.read();
        let segments = self.segments();
        let app = segments.appendable.read();
        let limit = max_segment_kb(&config).max(seal_kb(&config));
        app.len() > 0 && segment_kb(&config, |n| app.vector_count(n)) >= limit
    }

    /// Whether an optimization is due now (whether or not one runs), or will be
    /// once writes rest.
    pub(in crate::shard) fn optimization_due(&self) -> bool {
        self.next_task().is_some() || {
            let config = self.config.read();
            let segments = self.segments();
            let app = segments.appendable.read();
            config.optimizer_config.max_optimization_threads != Some(0)
                && matches!(tail_seal(&config, &app), TailSeal::Waiting)
        }
    }

    /// The optimization due now, if any. On the way it drops graphs and
    /// payload indexes no longer wanted, which is right at any moment.
    pub(super) fn next_task(&self) -> Option<Task> {
        let config = self.config.read().clone();
        let segments = self.segments();
        if let Some(s) = segments.sealed.iter().find(|s| !s.is_persisted()) {
            return Some(Task::Persist(s.clone()));
        }
        // As in Qdrant, no optimization threads means no optimizations.
        if config.optimizer_config.max_optimization_threads == Some(0) {
            return None;
        }
        {
            if self.seal_due() {
                return Some(Task::Seal);
            }
            let app = segments.appendable.read();
            if let TailSeal::Due = tail_seal(&config, &app) {
                return Some(Task::Seal);
            }
        }
        // Before indexing: a segment about to be merged is indexed as part of the merge.
        if let Some(merge) = merge_task(&config, &segments) {
            return Some(merge);
        }
        for segment in &segments.sealed {
            for (name, _) in config.params.vectors.iter() {
                let have = segment.graph(name).map(|g| g.params());
                match wanted_graph(&config, segment, name) {
                    Some(params) if have != Some(params) => {
                        return Some(Task::Index(segment.clone(), name.to_string(), params));
                    }
                    None if have.is_some() => segment.set_graph(name, None),
                    _ => {}
                }
                let have = segment.quantized(name);
                match wanted_quantization(&config, segment, name) {
                    Some(wanted) if have.as_ref().map(|q| q.config()) != Some(&wanted) => {
                        return Some(Task::Quantize(segment.clone(), name.to_string(), wanted));
                    }
                    None if have.is_some() => self.drop_quantized(segment, name),
                    _ => {}
                }
            }
        }
        let schema = self.payload_schema.read().clone();
        for segment in &segments.sealed {
            for key in segment.field_keys() {
                if !schema.contains_key(&key) {
                    segment.set_field_index(&key, None);
                }
            }
            for (key, field) in &schema {
                let kind = field.kind();
                let current = segment.field_index(key).map(|i| i.kind);
                if FieldIndex::supported(kind) && current != Some(kind) {
                    return Some(Task::FieldIndex(segment.clone(), key.clone(), kind));
                }
            }
        }
        let opt = &config.optimizer_config;
        for segment in &segments.sealed {
            let deleted = segment.deleted_count();
            if deleted > 0
                && deleted >= opt.vacuum_min_vector_number
                && deleted as f64 / segment.rows() as f64 > opt.deleted_threshold
            {
                return Some(Task::Rebuild(vec![segment.clone()], "vacuum"));
            }
        }
        None
    }
}
