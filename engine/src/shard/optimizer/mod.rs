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

//!
//! `plan` decides what is due, `build` makes new segments, graphs and codes outside
//! every lock, `persist` writes them and swaps them in.

mod build;
mod persist;
mod plan;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tessera_types::{PayloadSchemaType, QuantizationConfig};

use super::{Inner, ShardError};
use crate::filter::path::JsonPath;
use crate::index::GraphParams;
use crate::payload_index::FieldIndex;
use crate::segment::ImmutableSegment;

/// How often the optimizer looks for work when nobody wakes it.
const TICK: Duration = Duration::from_millis(200);
/// Pause after a failed optimization, so a persistent fault is not retried in a hot loop.
const BACKOFF: Duration = Duration::from_secs(5);
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

pub(super) enum Task {
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
                // A snapshot waiting for the lock goes next, not after the whole pass:
                // under steady writes a pass may not end.
                parking_lot::MutexGuard::bump(&mut manifest);
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

    pub(super) fn run_task(&self, task: Task) -> Result<(), ShardError> {
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
                    build::release_vector_pages(&segment, &name);
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
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicBool;

    use serde_json::json;
    use tessera_types::{
        CreateCollection, Distance, NamedVectors, Point, PointId, ShardOperation, VectorParams,
        VectorsConfig,
    };

    use super::*;
    use crate::shard::Shard;

    fn points(ids: std::ops::Range<u64>) -> ShardOperation {
        ShardOperation::Upsert(
            ids.map(|id| Point {
                id: PointId::Num(id),
                // Spread over 16 dimensions so the graph has real work to do.
                vectors: NamedVectors::from([(
                    String::new(),
                    (0..16)
                        .map(|d| ((id * 31 + d * 7) % 97) as f32)
                        .collect::<Vec<f32>>()
                        .into(),
                )]),
                payload: Default::default(),
            })
            .collect(),
        )
    }

    /// Writes faster than an index build: with no optimizer thread to seal
    /// between tasks, only the build's own steps can seal what they write.
    #[test]
    fn writes_outpacing_an_index_build_are_sealed_between_its_steps() {
        const BUILT: u64 = 20_000;
        let dir = tempfile::tempdir().unwrap();
        let config = CreateCollection {
            vectors: Some(VectorsConfig::Single(VectorParams {
                size: 16,
                distance: Distance::Euclid,
                hnsw_config: None,
                quantization_config: None,
                on_disk: None,
                datatype: None,
                multivector_config: None,
            })),
            // 16 floats: 25 KB is 400 points, both the seal size and the largest segment.
            optimizers_config: Some(json!({
                "indexing_threshold": 25,
                "max_segment_size": 25,
                "flush_interval_sec": 3600,
            })),
            ..Default::default()
        }
        .into_config(1)
        .unwrap();
        let shard = Shard::open_still(dir.path(), config).unwrap();
        let inner = &shard.inner;
        shard.apply(points(0..BUILT), false).unwrap();
        inner.seal().unwrap();
        let built = inner.segments().sealed[0].id;
        let Some(task @ Task::Index(..)) = inner.next_task() else {
            panic!("the sealed segment should be due for its graph");
        };

        let building = AtomicBool::new(true);
        let written = std::thread::scope(|scope| {
            let writer = scope.spawn(|| {
                let mut next = BUILT;
                while building.load(Ordering::Acquire) {
                    shard.apply(points(next..next + 50), false).unwrap();
                    next += 50;
                }
                next - BUILT
            });
            let _maintenance = inner.maintenance.lock();
            inner.run_task(task).unwrap();
            building.store(false, Ordering::Release);
            writer.join().unwrap()
        });

        let stats = shard.stats();
        assert_eq!(stats.indexed_vectors_count, BUILT);
        let sealed_meanwhile = stats
            .segments
            .iter()
            .filter(|(id, _)| id.is_some_and(|id| id != built))
            .count();
        assert!(
            sealed_meanwhile >= 1,
            "{written} points written during the build, {sealed_meanwhile} segments sealed from them"
        );
        assert!(
            stats.segments[0].1 < written,
            "the appendable segment kept all {written} points written during the build"
        );
        assert_eq!(shard.count(None).unwrap(), BUILT + written);
    }
}
