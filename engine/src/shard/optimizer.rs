//! The shard's background optimizer: seals the appendable segment once it is large (or,
//! once writes rest, when it holds enough vectors to be worth a graph), builds HNSW
//! graphs and quantized codes for immutable segments, rebuilds segments with many
//! deleted points (vacuum) and merges segments down to the target count (keeping the
//! largest graph), and writes checkpoints. Builds run outside every lock; only the
//! final swap takes the writers' lock, briefly.
//!
//! Thresholds come from the collection's `optimizer_config` (`indexing_threshold` and
//! `max_segment_size` in KB of vectors, `deleted_threshold`, `vacuum_min_vector_number`,
//! `default_segment_number`, `flush_interval_sec`, `max_optimization_threads`: 0 turns
//! optimizations off, N bounds a build's threads) and `hnsw_config`
//! (`max_indexing_threads` bounds a graph build's threads).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::RwLock;
use tessera_types::{CollectionConfig, PayloadSchemaType, PointId, QuantizationConfig};

use super::checkpoint::{graph_file, quantized_file, segment_dir, GRAPH_SCRATCH_DIR};
use super::{Inner, Segments, ShardError};
use crate::filter::path::JsonPath;
use crate::index::{Graph, GraphParams, QuantizedVectors, RowRenaming};
use crate::payload_index::FieldIndex;
use crate::segment::{
    read_segment_with, write_segment, Appendable, AtomicBitmap, ImmutableSegment, SegmentData,
};

/// How often the optimizer looks for work when nobody wakes it.
const TICK: Duration = Duration::from_millis(200);
/// Pause after a failed optimization, so a persistent fault is not retried in a hot loop.
const BACKOFF: Duration = Duration::from_secs(5);
/// `indexing_threshold` when the config leaves it unset (Qdrant's default).
const DEFAULT_INDEXING_KB: usize = 10_000;
/// `max_segment_size` when the config leaves it unset.
const DEFAULT_MAX_SEGMENT_KB: usize = 200_000;
/// Vectors from which a segment is worth a graph even below `indexing_threshold`: a
/// graph search measures a few thousand vectors at most, a scan measures them all.
const GRAPH_WORTHY_VECTORS: usize = 4096;
/// How long the appendable segment must go without writes before it is sealed below
/// `indexing_threshold`, so that an upload's unindexed tail gets its graph.
const TAIL_REST: Duration = Duration::from_secs(1);

pub(crate) fn run(inner: Arc<Inner>) {
    loop {
        {
            let mut woken = inner.wake.0.lock();
            if !*woken && !inner.stop.load(Ordering::Acquire) {
                inner.wake.1.wait_for(&mut woken, TICK);
            }
            *woken = false;
        }
        if inner.stop.load(Ordering::Acquire) {
            break;
        }
        if let Err(e) = inner.maintain(false) {
            tracing::error!(shard = %inner.dir.display(), error = %e, "shard optimization failed");
            let mut woken = inner.wake.0.lock();
            if !inner.stop.load(Ordering::Acquire) {
                inner.wake.1.wait_for(&mut woken, BACKOFF);
            }
        }
    }
}

enum Task {
    /// Write an immutable segment that exists only in memory.
    Persist(Arc<ImmutableSegment>),
    /// Turn the appendable segment into an immutable one.
    Seal,
    /// Build (or rebuild with new parameters) a segment's graph for one vector.
    Index(Arc<ImmutableSegment>, String, GraphParams),
    /// Build (or rebuild with new settings) a segment's quantized codes for one vector.
    Quantize(Arc<ImmutableSegment>, String, QuantizationConfig),
    /// Replace segments with one holding their live points.
    Rebuild(Vec<Arc<ImmutableSegment>>, &'static str),
    /// Build a segment's index of one payload field.
    FieldIndex(Arc<ImmutableSegment>, String, PayloadSchemaType),
}

/// Size at which the appendable segment is sealed.
fn seal_kb(config: &CollectionConfig) -> usize {
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
fn wanted_graph(
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
fn wanted_quantization(
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
fn segment_target(config: &CollectionConfig) -> usize {
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
enum TailSeal {
    No,
    Waiting,
    Due,
}

fn tail_seal(config: &CollectionConfig, app: &Appendable) -> TailSeal {
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
const MERGE_BASE_MAX_DELETED: f64 = 0.1;

/// The graph a merge of `sources` into `rows` (id, source, row; in the new segment's
/// order) can keep for vector `name`: the largest graph built with `params` whose
/// segment lost few points; with the new row of each of its rows.
fn merge_base(
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

/// A merge of the smallest sealed segments while there are more than the target,
/// into one of at most `max_segment_size` kilobytes: segments that cannot merge
/// without passing it stay apart, so each merge copies a bounded amount of data.
fn merge_task(config: &CollectionConfig, segments: &Segments) -> Option<Task> {
    let target = segment_target(config);
    if segments.sealed.len() <= target {
        return None;
    }
    let max_kb = config
        .optimizer_config
        .max_segment_size
        .unwrap_or(DEFAULT_MAX_SEGMENT_KB);
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

/// Runs `build` on a pool of `threads` threads (the shared pool when 0, or when a
/// pool cannot be made).
fn within_threads<T: Send>(threads: usize, build: impl FnOnce() -> T + Send) -> T {
    match (threads > 0).then(|| rayon::ThreadPoolBuilder::new().num_threads(threads).build()) {
        Some(Ok(pool)) => pool.install(build),
        _ => build(),
    }
}

/// Searches of a segment with codes read only the best candidates' full vectors: an
/// on-disk vector's pages, all read by the builds, need not stay resident.
fn release_vector_pages(segment: &ImmutableSegment, name: &str) {
    if let Some(column) = segment.data.columns.get(name) {
        column.data.release_resident();
    }
}

/// What a sparse vector is taken to weigh when sizing segments: about 32 dimensions
/// of an index and a value each.
const SPARSE_VECTOR_BYTES: usize = 256;

/// Kilobytes of live vectors in a segment.
fn segment_kb(config: &CollectionConfig, count: impl Fn(&str) -> usize) -> usize {
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
    /// Runs optimizations until none is due, checkpointing after each, then a checkpoint
    /// if one is due (or `force`).
    pub(crate) fn maintain(&self, force: bool) -> Result<(), ShardError> {
        let mut manifest = self.maintenance.lock();
        // The shard counts as optimizing for the whole pass, checkpoints between
        // tasks included, so its collection does not look green mid-way.
        let mut pass = || -> Result<(), ShardError> {
            while !self.stop.load(Ordering::Acquire) {
                let Some(task) = self.next_task() else {
                    break;
                };
                self.optimizing.store(true, Ordering::Release);
                self.run_task(task)?;
                self.checkpoint(&mut manifest)?;
            }
            Ok(())
        };
        let result = pass();
        self.optimizing.store(false, Ordering::Release);
        result?;
        if force || self.checkpoint_due() {
            self.checkpoint(&mut manifest)?;
        }
        Ok(())
    }

    fn checkpoint_due(&self) -> bool {
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

    /// Whether an optimization is due now (whether or not one runs), or will be
    /// once writes rest.
    pub(super) fn optimization_due(&self) -> bool {
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
    fn next_task(&self) -> Option<Task> {
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
            let app = segments.appendable.read();
            if app.len() > 0 && segment_kb(&config, |n| app.vector_count(n)) >= seal_kb(&config) {
                return Some(Task::Seal);
            }
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

    fn run_task(&self, task: Task) -> Result<(), ShardError> {
        match task {
            Task::Persist(segment) => self.persist_listed(&segment),
            Task::Seal => self.seal(),
            Task::Index(segment, name, params) => {
                if let Some(graph) = self.build_graph(&segment, &name, params, None) {
                    segment.set_graph(&name, Some(self.save_graph(&segment, &name, graph)));
                }
                Ok(())
            }
            Task::Quantize(segment, name, wanted) => {
                if let Some(codes) = self.quantize(&segment, &name, &wanted) {
                    segment.set_quantized(&name, Some(self.save_quantized(&segment, &name, codes)));
                    release_vector_pages(&segment, &name);
                }
                Ok(())
            }
            Task::Rebuild(sources, why) => self.rebuild(&sources, why),
            Task::FieldIndex(segment, key, kind) => {
                let index = match JsonPath::parse(&key) {
                    Ok(path) => {
                        let started = Instant::now();
                        let index = FieldIndex::build(kind, &path, segment.data.payloads.iter());
                        tracing::info!(
                            shard = %self.dir.display(),
                            segment = segment.id,
                            field = %key,
                            kind = ?kind,
                            points = index.rows_with_value().len(),
                            elapsed_ms = started.elapsed().as_millis() as u64,
                            "built payload index"
                        );
                        index
                    }
                    Err(e) => {
                        // Not a key the filter language can address: index nothing.
                        tracing::warn!(field = %key, error = %e, "payload index key is not a valid path");
                        FieldIndex::build(
                            kind,
                            &JsonPath::parse("_").expect("valid"),
                            std::iter::empty::<tessera_types::Payload>(),
                        )
                    }
                };
                segment.set_field_index(&key, Some(Arc::new(index)));
                Ok(())
            }
        }
    }

    /// Writes `segment` to its directory. When the collection keeps vectors or payloads
    /// on disk, returns the segment's rows read back with those parts mapped, for a copy
    /// of the segment that replaces the in-memory one.
    fn persist(&self, segment: &ImmutableSegment) -> Result<Option<SegmentData>, ShardError> {
        let dir = segment_dir(&self.dir, segment.id);
        write_segment(&dir, &segment.data)?;
        segment.mark_persisted();
        let on_disk = super::on_disk(&self.config.read());
        if !on_disk.any() {
            return Ok(None);
        }
        Ok(Some(read_segment_with(&dir, &on_disk)?))
    }

    /// Persists a segment of the current list, and swaps in its mapped copy if any.
    fn persist_listed(&self, segment: &Arc<ImmutableSegment>) -> Result<(), ShardError> {
        let Some(data) = self.persist(segment)? else {
            return Ok(());
        };
        let _writers = self.apply_lock.lock();
        let current = self.segments();
        if let Some(i) = current.sealed.iter().position(|s| s.id == segment.id) {
            let mut sealed = current.sealed.clone();
            sealed[i] = Arc::new(segment.with_data(data));
            *self.segments.write() = Arc::new(Segments {
                appendable: current.appendable.clone(),
                sealed,
            });
        }
        Ok(())
    }

    fn seal(&self) -> Result<(), ShardError> {
        let segment = {
            let _writers = self.apply_lock.lock();
            let current = self.segments();
            let (data, layout) = {
                let app = current.appendable.read();
                (app.compact(), app.data.layout())
            };
            let rows = data.len();
            let segment = Arc::new(ImmutableSegment::new(
                self.new_segment_id(),
                data,
                AtomicBitmap::new(rows),
            ));
            let mut sealed = current.sealed.clone();
            sealed.push(segment.clone());
            *self.segments.write() = Arc::new(Segments {
                appendable: Arc::new(RwLock::new(Appendable::new(&layout))),
                sealed,
            });
            // The next checkpoint must record the appendable segment as empty.
            self.appendable_dirty.store(true, Ordering::Release);
            segment
        };
        tracing::info!(
            shard = %self.dir.display(),
            segment = segment.id,
            points = segment.rows(),
            "sealed the appendable segment"
        );
        self.persist_listed(&segment)
    }

    /// A graph over the live rows of `segment` holding vector `name`; None when the shard
    /// is closing or the vector is unknown. With `base` (another segment's graph, and
    /// the row of `segment` each of its rows became) the build starts from its links.
    fn build_graph(
        &self,
        segment: &ImmutableSegment,
        name: &str,
        params: GraphParams,
        base: Option<(&Graph, &[Option<u32>])>,
    ) -> Option<Graph> {
        let distance = self.config.read().params.vectors.get(name)?.distance;
        let items: Vec<(&[f32], usize)> = segment
            .live_rows()
            .filter_map(|row| Some((segment.data.vector(row, name)?, row)))
            .collect();
        let mut node_of_row: Vec<Option<u32>> = vec![None; segment.rows()];
        for (node, (_, row)) in items.iter().enumerate() {
            node_of_row[*row] = Some(node as u32);
        }
        let node_of = |base_row: u32| {
            let (_, new_row) = base?;
            node_of_row[(*new_row.get(base_row as usize)?)? as usize]
        };
        let base = base.map(|(graph, _)| (graph, &node_of as &RowRenaming<'_>));
        let started = Instant::now();
        let total = items.len();
        tracing::info!(
            shard = %self.dir.display(),
            segment = segment.id,
            vector = name,
            points = total,
            m = params.m,
            ef_construct = params.ef_construct,
            kept = base.map_or(0, |(graph, _)| graph.len()),
            "building HNSW graph"
        );
        let step = (total / 10).max(1);
        let reported = std::sync::atomic::AtomicUsize::new(0);
        let progress = |done: usize| {
            if done / step > reported.load(Ordering::Relaxed) && done < total {
                reported.store(done / step, Ordering::Relaxed);
                tracing::info!(
                    shard = %self.dir.display(),
                    segment = segment.id,
                    vector = name,
                    "HNSW build {done}/{total} points"
                );
            }
        };
        let graph = within_threads(self.build_threads(name), || {
            Graph::build(
                distance,
                params,
                &items,
                base,
                &|| self.stop.load(Ordering::Acquire),
                &progress,
            )
        })?;
        tracing::info!(
            shard = %self.dir.display(),
            segment = segment.id,
            vector = name,
            points = total,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "built HNSW graph"
        );
        Some(graph)
    }

    /// Saves `graph`, built for vector `name` of the persisted `segment`, beside it, and
    /// returns the copy to serve: the saved file mapped when the collection keeps that
    /// vector on disk, so neither vectors nor links need stay resident. A graph is derived
    /// data: when saving fails the one in memory serves, and a restart rebuilds it.
    fn save_graph(
        &self,
        segment: &ImmutableSegment,
        name: &str,
        graph: impl Into<Arc<Graph>>,
    ) -> Arc<Graph> {
        let graph = graph.into();
        let Some(file) = graph_file(&segment.data, name) else {
            return graph;
        };
        let path = segment_dir(&self.dir, segment.id).join(file);
        if let Err(e) = self.save_index_file(|scratch| graph.save(&path, scratch)) {
            tracing::warn!(shard = %self.dir.display(), segment = segment.id, vector = name, error = %e, "could not save the HNSW graph; it is rebuilt after a restart");
            return graph;
        }
        let (distance, mapped) = {
            let config = self.config.read();
            let Some(params) = config.params.vectors.get(name) else {
                return graph;
            };
            (params.distance, params.on_disk == Some(true))
        };
        if !mapped {
            return graph;
        }
        match Graph::open(&path, distance, true) {
            Ok(Some(reopened)) => Arc::new(reopened),
            Ok(None) => graph,
            Err(e) => {
                tracing::warn!(shard = %self.dir.display(), segment = segment.id, vector = name, error = %e, "could not map the saved HNSW graph");
                graph
            }
        }
    }

    /// Threads an index build of vector `name` may use: the vector's
    /// `max_indexing_threads` and the collection's `max_optimization_threads`, the
    /// smaller of those set (0 for all cores).
    fn build_threads(&self, name: &str) -> usize {
        let config = self.config.read();
        [
            config.hnsw_for(name).max_indexing_threads,
            config
                .optimizer_config
                .max_optimization_threads
                .unwrap_or(0),
        ]
        .into_iter()
        .filter(|n| *n > 0)
        .min()
        .unwrap_or(0)
    }

    /// Runs `save(scratch)` with an empty scratch directory, removed afterwards.
    fn save_index_file(
        &self,
        save: impl FnOnce(&std::path::Path) -> std::io::Result<()>,
    ) -> std::io::Result<()> {
        let scratch = self.dir.join(GRAPH_SCRATCH_DIR);
        if scratch.exists() {
            std::fs::remove_dir_all(&scratch)?;
        }
        std::fs::create_dir_all(&scratch)?;
        let saved = save(&scratch);
        std::fs::remove_dir_all(&scratch)?;
        saved
    }

    /// Quantized codes of vector `name` for every row of `segment` that holds it; None
    /// when the shard is closing or the vector is unknown.
    fn quantize(
        &self,
        segment: &ImmutableSegment,
        name: &str,
        wanted: &QuantizationConfig,
    ) -> Option<QuantizedVectors> {
        let (distance, dim) = {
            let config = self.config.read();
            let params = config.params.vectors.get(name)?;
            (params.distance, params.size as usize)
        };
        let started = Instant::now();
        let codes = within_threads(self.build_threads(name), || {
            QuantizedVectors::build(
                wanted,
                distance,
                dim,
                segment.rows(),
                &|row| segment.data.vector(row, name),
                &|| self.stop.load(Ordering::Acquire),
            )
        })?;
        tracing::info!(
            shard = %self.dir.display(),
            segment = segment.id,
            vector = name,
            points = segment.vector_count(name),
            code_bytes = codes.code_bytes(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "built quantized vectors"
        );
        Some(codes)
    }

    /// Saves quantized `codes` of vector `name` beside the persisted `segment` and returns
    /// the copy to serve: mapped when the vector is kept on disk and the settings do not
    /// ask for `always_ram`. Derived data, like graphs: an unsaved copy serves from memory.
    fn save_quantized(
        &self,
        segment: &ImmutableSegment,
        name: &str,
        codes: QuantizedVectors,
    ) -> Arc<QuantizedVectors> {
        let Some(file) = quantized_file(&segment.data, name) else {
            return Arc::new(codes);
        };
        let path = segment_dir(&self.dir, segment.id).join(file);
        if let Err(e) = self.save_index_file(|scratch| codes.save(&path, scratch)) {
            tracing::warn!(shard = %self.dir.display(), segment = segment.id, vector = name, error = %e, "could not save quantized vectors; they are rebuilt after a restart");
            return Arc::new(codes);
        }
        let (distance, on_disk) = {
            let config = self.config.read();
            let Some(params) = config.params.vectors.get(name) else {
                return Arc::new(codes);
            };
            (params.distance, params.on_disk == Some(true))
        };
        if !on_disk || codes.config().always_ram() {
            return Arc::new(codes);
        }
        match QuantizedVectors::open(&path, distance, true) {
            Ok(Some(mapped)) => Arc::new(mapped),
            Ok(None) => Arc::new(codes),
            Err(e) => {
                tracing::warn!(shard = %self.dir.display(), segment = segment.id, vector = name, error = %e, "could not map saved quantized vectors");
                Arc::new(codes)
            }
        }
    }

    /// Stops using a segment's codes of vector `name` and removes their file.
    fn drop_quantized(&self, segment: &ImmutableSegment, name: &str) {
        segment.set_quantized(name, None);
        if let Some(file) = quantized_file(&segment.data, name) {
            let path = segment_dir(&self.dir, segment.id).join(file);
            if let Err(e) = std::fs::remove_file(&path) {
                if e.kind() != std::io::ErrorKind::NotFound {
                    tracing::warn!(path = %path.display(), error = %e, "could not remove quantized vectors");
                }
            }
        }
    }

    /// Replaces `sources` with one segment of their live points, graphs included.
    fn rebuild(&self, sources: &[Arc<ImmutableSegment>], why: &str) -> Result<(), ShardError> {
        let started = Instant::now();
        let snapshots: Vec<AtomicBitmap> = sources.iter().map(|s| s.deletions().copy()).collect();
        let mut rows: Vec<(PointId, usize, usize)> = Vec::new();
        for (i, (source, deleted)) in sources.iter().zip(&snapshots).enumerate() {
            rows.extend(
                (0..source.rows())
                    .filter(|row| !deleted.get(*row))
                    .map(|row| (source.data.ids[row], i, row)),
            );
        }
        rows.sort_unstable_by_key(|(id, _, _)| *id);
        // The collection's vectors now: sources written before a vector was
        // added lack it, and none may lose it in the merge.
        let mut data = SegmentData::new(&super::vector_layout(&self.config.read()));
        for (_, i, row) in &rows {
            data.push(&sources[*i].data.point(*row));
        }
        let segment = Arc::new(ImmutableSegment::new(
            self.new_segment_id(),
            data,
            AtomicBitmap::new(rows.len()),
        ));
        tracing::info!(
            shard = %self.dir.display(),
            operation = why,
            sources = ?sources.iter().map(|s| s.id).collect::<Vec<_>>(),
            segment = segment.id,
            points = rows.len(),
            "rebuilding segments"
        );
        let config = self.config.read().clone();
        for (name, _) in config.params.vectors.iter() {
            if let Some(params) = wanted_graph(&config, &segment, name) {
                let base = merge_base(sources, &snapshots, &rows, name, params);
                let base = base
                    .as_ref()
                    .map(|(graph, rows)| (graph.as_ref(), rows.as_slice()));
                match self.build_graph(&segment, name, params, base) {
                    Some(graph) => segment.set_graph(name, Some(Arc::new(graph))),
                    None => return Ok(()),
                }
            }
        }
        let mut quantized = Vec::new();
        for (name, _) in config.params.vectors.iter() {
            if let Some(wanted) = wanted_quantization(&config, &segment, name) {
                match self.quantize(&segment, name, &wanted) {
                    Some(codes) => quantized.push((name, codes)),
                    None => return Ok(()),
                }
            }
        }
        // Not listed yet: nothing deletes from it before the swap below.
        let segment = match self.persist(&segment)? {
            Some(data) => Arc::new(segment.with_data(data)),
            None => segment,
        };
        for (name, _) in config.params.vectors.iter() {
            if let Some(graph) = segment.graph(name) {
                let saved = self.save_graph(&segment, name, graph);
                segment.set_graph(name, Some(saved));
            }
        }
        for (name, codes) in quantized {
            segment.set_quantized(name, Some(self.save_quantized(&segment, name, codes)));
            release_vector_pages(&segment, name);
        }
        {
            let _writers = self.apply_lock.lock();
            // Deletions that happened during the build apply to the new copies too.
            for (source, deleted) in sources.iter().zip(&snapshots) {
                for row in source.deletions().set_since(deleted) {
                    if let Some(new_row) = segment.locate(&source.data.ids[row]) {
                        segment.delete(new_row);
                    }
                }
            }
            let current = self.segments();
            let mut sealed: Vec<_> = current
                .sealed
                .iter()
                .filter(|s| !sources.iter().any(|src| src.id == s.id))
                .cloned()
                .collect();
            sealed.push(segment.clone());
            *self.segments.write() = Arc::new(Segments {
                appendable: current.appendable.clone(),
                sealed,
            });
        }
        tracing::info!(
            shard = %self.dir.display(),
            operation = why,
            segment = segment.id,
            points = segment.live_count(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "segments rebuilt"
        );
        Ok(())
    }
}
