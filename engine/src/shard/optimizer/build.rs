//! Building outside every lock: sealing the appendable segment, graphs, quantized
//! codes, and rebuilt (vacuumed or merged) segments.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use parking_lot::RwLock;
use tessera_types::{PointId, QuantizationConfig};

use crate::index::{Graph, GraphParams, QuantizedVectors, RowRenaming};
use crate::segment::{Appendable, AtomicBitmap, ImmutableSegment, SegmentData};
use crate::shard::{Inner, Segments, ShardError};

use super::plan::{merge_base, wanted_graph, wanted_quantization};

/// Runs `build` on a pool of `threads` threads (the shared pool when 0, or when a
/// pool cannot be made).
pub(super) fn within_threads<T: Send>(threads: usize, build: impl FnOnce() -> T + Send) -> T {
    match (threads > 0).then(|| rayon::ThreadPoolBuilder::new().num_threads(threads).build()) {
        Some(Ok(pool)) => pool.install(build),
        _ => build(),
    }
}

/// Searches of a segment with codes read only the best candidates' full vectors: an
/// on-disk vector's pages, all read by the builds, need not stay resident.
pub(super) fn release_vector_pages(segment: &ImmutableSegment, name: &str) {
    if let Some(column) = segment.data.columns.get(name) {
        column.data.release_resident();
    }
}

impl Inner {
    pub(in crate::shard) fn seal(&self) -> Result<(), ShardError> {
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

    /// Seals the appendable segment if it has outgrown `max_segment_size`
    /// during a graph build (between its insertion chunks and its connect and
    /// repair steps). Only from within an optimizer task (a seal needs the
    /// maintenance lock the task holds); a failure is left to the next pass.
    fn seal_if_overgrown(&self) {
        if self.stop.load(Ordering::Acquire) || !self.appendable_overgrown() {
            return;
        }
        if let Err(e) = self.seal() {
            tracing::warn!(shard = %self.dir.display(), error = %e, "sealing the appendable segment during a build failed");
        }
    }

    /// A graph over the live rows of `segment` holding vector `name`; None when the shard
    /// is closing or the vector is unknown. With `base` (another segment's graph, and
    /// the row of `segment` each of its rows became) the build starts from its links.
    pub(super) fn build_graph(
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
        // Called between the build's steps, on the optimizer's behalf: it holds
        // the maintenance lock a seal needs.
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
            self.seal_if_overgrown();
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

    /// Threads an index build of vector `name` may use: the vector's
    /// `max_indexing_threads` and the collection's `max_optimization_threads`, the
    /// smaller of those set (0 for all cores).
    pub(super) fn build_threads(&self, name: &str) -> usize {
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

    /// Quantized codes of vector `name` for every row of `segment` that holds it; None
    /// when the shard is closing or the vector is unknown.
    pub(super) fn quantize(
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

    /// Replaces `sources` with one segment of their live points, graphs included.
    pub(super) fn rebuild(
        &self,
        sources: &[Arc<ImmutableSegment>],
        why: &str,
    ) -> Result<(), ShardError> {
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
        let mut data = SegmentData::new(&crate::shard::vector_layout(&self.config.read()));
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
