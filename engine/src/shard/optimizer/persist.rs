//! Writing what the optimizer built: segments, graphs, payload indexes and
//! quantized codes, each to a scratch file renamed into place.

use std::sync::Arc;

use crate::index::{Graph, QuantizedVectors};
use crate::segment::{read_segment_with, write_segment, ImmutableSegment, SegmentData};
use crate::shard::checkpoint::{graph_file, quantized_file, segment_dir, GRAPH_SCRATCH_DIR};
use crate::shard::{Inner, Segments, ShardError};

impl Inner {
    /// Writes `segment` to its directory. When the collection keeps vectors or payloads
    /// on disk, returns the segment's rows read back with those parts mapped, for a copy
    /// of the segment that replaces the in-memory one.
    pub(super) fn persist(
        &self,
        segment: &ImmutableSegment,
    ) -> Result<Option<SegmentData>, ShardError> {
        let dir = segment_dir(&self.dir, segment.id);
        write_segment(&dir, &segment.data)?;
        segment.mark_persisted();
        let on_disk = crate::shard::on_disk(&self.config.read());
        // Below `memmap_threshold` (and without `on_disk` parts) nothing would be mapped.
        if !on_disk.maps_any_of(&segment.data) {
            return Ok(None);
        }
        Ok(Some(read_segment_with(&dir, &on_disk)?))
    }

    /// Persists a segment of the current list, and swaps in its mapped copy if any.
    pub(super) fn persist_listed(&self, segment: &Arc<ImmutableSegment>) -> Result<(), ShardError> {
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

    /// Saves `graph`, built for vector `name` of the persisted `segment`, beside it, and
    /// returns the copy to serve: the saved file mapped when the collection keeps that
    /// vector on disk, so neither vectors nor links need stay resident. A graph is derived
    /// data: when saving fails the one in memory serves, and a restart rebuilds it.
    pub(super) fn save_graph(
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

    /// Runs `save(scratch)` with an empty scratch directory, removed afterwards.
    pub(super) fn save_index_file(
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

    /// Saves quantized `codes` of vector `name` beside the persisted `segment` and returns
    /// the copy to serve: mapped when the vector is kept on disk and the settings do not
    /// ask for `always_ram`. Derived data, like graphs: an unsaved copy serves from memory.
    pub(super) fn save_quantized(
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
    pub(super) fn drop_quantized(&self, segment: &ImmutableSegment, name: &str) {
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
}
