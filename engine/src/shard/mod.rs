//! A shard replica's storage engine: a WAL, one appendable segment that takes writes,
//! immutable segments with HNSW graphs built by a background optimizer, and checkpoints
//! that persist the segments so old WAL files can be removed.
//!
//! Concurrency: writers are serialized by `apply_lock` (held while a write is planned,
//! logged and applied, never while it waits for its fsync, so concurrent `wait=true`
//! writers share one). Readers take no shard-wide lock beyond cloning the current segment
//! list: immutable segments are read without locks, the appendable one under its own
//! read lock. The optimizer builds new segments outside every lock and takes
//! `apply_lock` only to swap them in.

mod apply;
mod checkpoint;
mod facet;
mod optimizer;
mod order;
mod payload;
pub mod read_pool;
mod records;
mod replication;
mod resources;
mod search;
mod sparse;
mod text_query;
mod wal_retention;

pub use records::{RecordLoader, VersionedPoint};
pub use replication::{Ordered, Replicated};
pub use wal_retention::WalRetention;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use parking_lot::{Condvar, Mutex, RwLock};
use rayon::prelude::*;
use tessera_types::{
    CollectionConfig, Distance, Filter, Modifier, OpId, PayloadSchema, PointId, Record,
    ScoredPoint, ScrollRequest, ScrollResult, SearchRequest, ShardOperation, ShardStats,
    TesseraError, Vector, VectorKind, VectorStruct, WithPayload, WithVector,
};

use crate::filter::path::JsonPath;
use crate::filter::{self, CompiledFilter, FilterError, TextAnalyzer, TextIndexes};
use crate::index::kernels;
use crate::payload_index::{self, FieldIndex};
use crate::segment::{
    Appendable, ImmutableSegment, OnDisk, SegmentData, StorageError, VectorLayout,
};
use crate::snapshot::{self, SnapshotError};
use crate::wal::{Wal, WalError};
use checkpoint::{Manifest, Opening};
use search::{merge_hits, Hit, SearchContext};

const WAL_DIR: &str = "wal";

#[derive(Debug, thiserror::Error)]
pub enum ShardError {
    #[error("Wrong input: {0}")]
    BadInput(String),
    /// A refusal Qdrant words as a bad request (strict mode's resource limits).
    #[error("Bad request: {0}")]
    BadRequest(String),
    /// A request that parses but breaks one of Qdrant's validation rules.
    #[error("Validation error in JSON body: {0}")]
    Validation(String),
    /// An operation names a point the shard does not have.
    #[error("Not found: {0}")]
    NotFound(String),
    #[error("shard I/O error: {0}")]
    Io(#[from] std::io::Error),
    #[error("shard data is corrupt: {0}")]
    Corrupt(String),
    /// A write from an epoch older than the shard's: its sender is no longer primary.
    #[error("{0}")]
    Stale(String),
}

impl From<WalError> for ShardError {
    fn from(e: WalError) -> Self {
        match e {
            WalError::Io(e) => ShardError::Io(e),
            WalError::Broken => ShardError::Io(std::io::Error::other(e.to_string())),
            WalError::Corrupt(_) | WalError::Encode(_) => ShardError::Corrupt(e.to_string()),
        }
    }
}

impl From<StorageError> for ShardError {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::Io(e) => ShardError::Io(e),
            StorageError::Corrupt(msg) => ShardError::Corrupt(msg),
        }
    }
}

impl From<SnapshotError> for ShardError {
    fn from(e: SnapshotError) -> Self {
        match e {
            SnapshotError::Io(e) => ShardError::Io(e),
            SnapshotError::Corrupt(msg) => ShardError::Corrupt(msg),
            SnapshotError::NotEmpty(_) | SnapshotError::NotFound(_) | SnapshotError::BadName(_) => {
                ShardError::BadInput(e.to_string())
            }
        }
    }
}

impl From<FilterError> for ShardError {
    fn from(e: FilterError) -> Self {
        match e {
            FilterError::Validation(msg) => ShardError::Validation(msg),
            FilterError::Invalid(_) | FilterError::Unsupported(_) => {
                ShardError::BadInput(e.to_string())
            }
        }
    }
}

impl From<ShardError> for TesseraError {
    fn from(e: ShardError) -> Self {
        match e {
            ShardError::BadInput(msg) => TesseraError::BadInput(msg),
            ShardError::BadRequest(msg) => TesseraError::BadRequest(msg),
            ShardError::NotFound(msg) => TesseraError::NotFound(msg),
            ShardError::Validation(msg) => TesseraError::Validation(msg),
            ShardError::Stale(msg) => TesseraError::Stale(msg),
            other => TesseraError::internal_from(other),
        }
    }
}

/// Whether a restored snapshot keeps the operation history it was taken with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestoredHistory {
    /// A transfer: the replica continues the primary's history.
    Keep,
    /// A user's recover, begun at `epoch` (a new one, that no primary wrote
    /// under): the data's history ends in it, so it is told apart from every
    /// history before the restore and every write after continues it.
    Restored { epoch: u64 },
}

/// Config lookups report user errors as `TesseraError::BadInput`.
fn bad_input(e: TesseraError) -> ShardError {
    match e {
        TesseraError::BadInput(msg) => ShardError::BadInput(msg),
        other => ShardError::BadInput(other.to_string()),
    }
}

/// The segments at one moment. Replaced as a whole when the optimizer swaps segments.
pub(crate) struct Segments {
    pub appendable: Arc<RwLock<Appendable>>,
    pub sealed: Vec<Arc<ImmutableSegment>>,
}

pub(crate) struct Inner {
    dir: PathBuf,
    wal: Wal,
    /// Serializes writers, and the optimizer's segment swaps with them.
    apply_lock: Mutex<()>,
    /// Signalled after each write, for replicated writes waiting for their predecessor.
    applied: Condvar,
    /// `(first seq, epoch)` of each primary epoch in the shard's history; changed under
    /// `apply_lock`.
    epochs: RwLock<Vec<(u64, u64)>>,
    /// What the WAL keeps behind each checkpoint.
    wal_keeper: wal_retention::WalKeeper,
    /// The WAL's appended bytes when the last checkpoint was taken.
    checkpoint_bytes: AtomicU64,
    config: RwLock<CollectionConfig>,
    /// Payload fields to index, as the collection's topology lists them.
    payload_schema: RwLock<PayloadSchema>,
    /// Analyzers of the text indexes among them, for reads' text matches.
    /// (Writes selecting by filter match text as substrings: a write's
    /// outcome must not depend on indexes created after it was logged.)
    text_indexes: RwLock<Arc<TextIndexes>>,
    /// The topology version whose config and payload indexes the shard has.
    adopted_version: Mutex<u64>,
    segments: RwLock<Arc<Segments>>,
    /// Whether the appendable segment changed since the last checkpoint.
    appendable_dirty: AtomicBool,
    next_segment_id: AtomicU64,
    /// Held while optimizations or a checkpoint run; holds the last manifest written.
    maintenance: Mutex<Manifest>,
    last_checkpoint: Mutex<Instant>,
    optimizing: AtomicBool,
    stop: AtomicBool,
    wake: (Mutex<bool>, Condvar),
}

pub struct Shard {
    inner: Arc<Inner>,
    optimizer: Option<JoinHandle<()>>,
}

/// What the collection keeps on disk (memory-mapped) in its persisted immutable segments:
/// vectors whose params say `on_disk: true` and those of segments past
/// `memmap_threshold` (0 turns it off, as in Qdrant), and payloads with
/// `on_disk_payload: true`.
pub(crate) fn on_disk(config: &CollectionConfig) -> OnDisk {
    OnDisk {
        vectors: config
            .params
            .vectors
            .iter()
            .filter(|(_, p)| p.on_disk == Some(true))
            .map(|(name, _)| name.to_string())
            .collect(),
        payloads: config.params.on_disk_payload,
        memmap_threshold_kb: config
            .optimizer_config
            .memmap_threshold
            .filter(|kb| *kb > 0),
    }
}

/// Analyzers for the schema's text indexes; an index whose parameters cannot
/// be used (refused by the gateway before they reach here) matches substrings.
fn text_analyzers(schema: &PayloadSchema) -> TextIndexes {
    schema
        .iter()
        .filter_map(|(key, field)| {
            let params = field.text()?;
            match TextAnalyzer::new(&params) {
                Ok(analyzer) => Some((key.clone(), Arc::new(analyzer))),
                Err(e) => {
                    tracing::warn!(key, error = %e, "unusable text index parameters");
                    None
                }
            }
        })
        .collect()
}

fn vector_layout(config: &CollectionConfig) -> VectorLayout {
    let (multi, dense): (Vec<_>, Vec<_>) = config
        .params
        .vectors
        .iter()
        .partition(|(_, p)| p.multivector_config.is_some());
    let sparse = config.params.sparse_vectors.iter().flat_map(|m| m.keys());
    VectorLayout {
        dense: dense
            .into_iter()
            .map(|(name, p)| (name.to_string(), p.size as usize))
            .collect(),
        varying: multi
            .into_iter()
            .map(|(name, _)| name)
            .chain(sparse.map(String::as_str))
            .map(str::to_string)
            .collect(),
    }
}

impl Shard {
    /// Opens the shard stored in `dir` (creating it if missing): loads the segments of the
    /// last checkpoint, replays the WAL after it, and starts the background optimizer.
    pub fn open(dir: &Path, config: CollectionConfig) -> Result<Shard, ShardError> {
        let inner = Arc::new(Inner::open(dir, config, Opening::Serving)?);
        let thread_inner = inner.clone();
        let optimizer = std::thread::Builder::new()
            .name("shard-optimizer".into())
            .spawn(move || optimizer::run(thread_inner))?;
        Ok(Shard {
            inner,
            optimizer: Some(optimizer),
        })
    }

    /// Logs `op`, applies it, and returns its sequence number; with `wait` the record is
    /// on stable storage first. Invalid input is rejected before anything is logged. The
    /// operation joins the shard's current epoch (a lone replica's writes).
    pub fn apply(&self, op: ShardOperation, wait: bool) -> Result<u64, ShardError> {
        let epoch = self.inner.wal.last_op().epoch.max(1);
        Ok(self.apply_as_primary(epoch, op, wait)?.id.seq)
    }

    /// Points with the given ids, in that order; missing ids are skipped.
    pub fn retrieve(
        &self,
        ids: &[PointId],
        with_payload: &WithPayload,
        with_vector: &WithVector,
    ) -> Vec<Record> {
        let segments = self.inner.segments();
        let app = segments.appendable.read();
        ids.iter()
            .filter_map(|id| {
                let mut best: Option<Record> = None;
                let mut best_version = 0;
                if let Some(row) = app.get(id) {
                    best_version = app.data.versions[row];
                    best = Some(record(&app.data, row, with_payload, with_vector));
                }
                for s in &segments.sealed {
                    if let Some(row) = s.locate(id) {
                        if best.is_none() || s.data.versions[row] > best_version {
                            best_version = s.data.versions[row];
                            best = Some(record(&s.data, row, with_payload, with_vector));
                        }
                    }
                }
                best
            })
            .collect()
    }

    /// The best `limit + offset` points for the query, best first.
    pub fn search(&self, req: &SearchRequest) -> Result<Vec<ScoredPoint>, ShardError> {
        let (distance, dim, hnsw, modifier) = {
            let config = self.inner.config.read();
            let (dim, modifier) = match config.params.vector_kind(&req.using).map_err(bad_input)? {
                VectorKind::Dense(p) => (p.size as usize, Modifier::None),
                VectorKind::Sparse(p) => (0, p.modifier()),
            };
            (
                config.params.distance(&req.using).map_err(bad_input)?,
                dim,
                config.hnsw_for(&req.using),
                modifier,
            )
        };
        let mut query = req.vector.clone();
        check_vector(&self.inner.config.read(), &req.using, &mut query)?;
        if req.params.idf_corpus().is_some()
            && !matches!((&query, modifier), (Vector::Sparse(_), Modifier::Idf))
        {
            return Err(ShardError::BadInput(format!(
                "`idf` parameters apply only to sparse vectors with the idf modifier, which `{}` is not",
                req.using
            )));
        }
        if let (Vector::Sparse(sparse), Modifier::Idf) = (&mut query, modifier) {
            let corpus = self.inner.compile_filter(req.params.idf_corpus())?;
            self.weigh_by_idf(&req.using, sparse, corpus.as_ref());
        }
        let filter = self.inner.compile_filter(req.filter.as_ref())?;
        let k = req.limit.saturating_add(req.offset);
        if k == 0 {
            return Ok(Vec::new());
        }
        let ctx = SearchContext {
            req,
            query: &query,
            distance,
            dim,
            k,
            ef: req.params.hnsw_ef.unwrap_or(hnsw.ef_construct).max(k),
            full_scan_threshold: hnsw.full_scan_threshold,
            filter: filter.as_ref(),
        };
        let segments = self.inner.segments();
        let mut hits = {
            let app = segments.appendable.read();
            ctx.scan(&app.data, &|row| app.is_live(row))
        };
        let total_rows: usize = segments.sealed.iter().map(|s| s.rows()).sum();
        let split = segments.sealed.len() > 1 && total_rows >= 4096 && !read_pool::saturated();
        let mut sealed_hits: Vec<Vec<Hit>> = if split {
            segments
                .sealed
                .par_iter()
                .map(|s| ctx.search_sealed(s))
                .collect()
        } else {
            segments
                .sealed
                .iter()
                .map(|s| ctx.search_sealed(s))
                .collect()
        };
        search::refill_superseded(&ctx, &segments.sealed, &hits, &mut sealed_hits);
        hits.extend(sealed_hits.into_iter().flatten());
        Ok(merge_hits(hits, k, distance))
    }

    /// Matching points with id >= `offset`, in id order, and the id to continue from.
    pub fn scroll(&self, req: &ScrollRequest) -> Result<ScrollResult, ShardError> {
        if let Some(order) = &req.order_by {
            return self.scroll_ordered(req, order);
        }
        let filter = self.inner.compile_filter(req.filter.as_ref())?;
        let from = req.offset.unwrap_or(PointId::Num(0));
        let want = req.limit.saturating_add(1);
        let segments = self.inner.segments();
        let page = |data: &SegmentData, rows: &mut dyn Iterator<Item = (PointId, usize)>| {
            rows.filter(|(_, row)| passes(filter.as_ref(), data, *row))
                .take(want)
                .map(|(id, row)| {
                    (
                        id,
                        data.versions[row],
                        record(data, row, &req.with_payload, &req.with_vector),
                    )
                })
                .collect::<Vec<_>>()
        };
        let mut found = {
            let app = segments.appendable.read();
            let found = page(&app.data, &mut app.live_from(from));
            found
        };
        for s in &segments.sealed {
            found.extend(page(&s.data, &mut s.live_from(from)));
        }
        // Newest copy first, so dedup keeps it.
        found.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
        found.dedup_by_key(|(id, _, _)| *id);
        let next_page_offset = found.get(req.limit).map(|(id, _, _)| *id);
        found.truncate(req.limit);
        Ok(ScrollResult {
            points: found.into_iter().map(|(_, _, r)| r).collect(),
            next_page_offset,
        })
    }

    pub fn count(&self, filter: Option<&Filter>) -> Result<u64, ShardError> {
        let filter = self.inner.compile_filter(filter)?;
        let segments = self.inner.segments();
        let app = segments.appendable.read();
        Ok(match &filter {
            None => {
                app.len()
                    + segments
                        .sealed
                        .iter()
                        .map(|s| s.live_count())
                        .sum::<usize>()
            }
            Some(f) => apply::select_by_filter(&app, &segments.sealed, f).len(),
        } as u64)
    }

    pub fn stats(&self) -> ShardStats {
        let segments = self.inner.segments();
        let appendable_points = segments.appendable.read().len() as u64;
        let points_count = appendable_points
            + segments
                .sealed
                .iter()
                .map(|s| s.live_count() as u64)
                .sum::<u64>();
        ShardStats {
            points_count,
            indexed_vectors_count: segments
                .sealed
                .iter()
                .map(|s| s.indexed_vectors() as u64)
                .sum(),
            segments_count: segments.sealed.len() as u64 + 1,
            // Running, or due: after the last write and before the optimizer
            // thread wakes, a seal or merge is due though none runs yet.
            optimizing: self.inner.optimizing.load(Ordering::Acquire)
                || self.inner.optimization_due(),
            payload_points: self.payload_points(&segments),
            vectors: Self::vector_counts(&segments),
            segments: std::iter::once((None, appendable_points))
                .chain(
                    segments
                        .sealed
                        .iter()
                        .map(|s| (Some(s.id), s.live_count() as u64)),
                )
                .collect(),
        }
    }

    fn vector_counts(segments: &Segments) -> BTreeMap<String, u64> {
        let mut counts = BTreeMap::new();
        for (name, n) in segments.appendable.read().vector_counts() {
            *counts.entry(name.to_owned()).or_default() += n as u64;
        }
        for segment in &segments.sealed {
            for (name, n) in segment.vector_counts() {
                *counts.entry(name.to_owned()).or_default() += n as u64;
            }
        }
        counts
    }

    /// Bytes of this replica's WAL files on disk.
    pub fn wal_bytes(&self) -> u64 {
        self.inner.wal.disk_bytes()
    }

    /// Bytes of stored payloads: each sealed segment's, measured once, and the
    /// appendable segment's (small), measured now.
    pub fn payload_bytes(&self) -> u64 {
        let segments = self.inner.segments();
        let appendable = segments.appendable.read().data.payloads.stored_bytes();
        appendable
            + segments
                .sealed
                .iter()
                .map(|s| s.payload_bytes())
                .sum::<u64>()
    }

    /// Points holding each indexed field: those in indexed immutable segments and in the
    /// appendable segment (whose payloads are scanned: it is small).
    fn payload_points(&self, segments: &Segments) -> BTreeMap<String, u64> {
        let schema = self.inner.payload_schema.read().clone();
        let app = segments.appendable.read();
        schema
            .into_iter()
            .map(|(key, field)| (key, field.kind()))
            .filter(|(_, kind)| FieldIndex::supported(*kind))
            .filter_map(|(key, kind)| {
                let path = JsonPath::parse(&key).ok()?;
                let sealed: usize = segments
                    .sealed
                    .iter()
                    .filter_map(|s| s.indexed_points(&key))
                    .sum();
                let appendable = app
                    .live_rows()
                    .filter(|row| payload_index::has_value(kind, &path, &app.data.payload(*row)))
                    .count();
                Some((key, (sealed + appendable) as u64))
            })
            .collect()
    }

    /// The newest topology version whose config this replica adopted.
    pub fn adopted_version(&self) -> u64 {
        *self.inner.adopted_version.lock()
    }

    /// Adopts the collection's config and payload indexes as of topology
    /// `version`, unless a version as new was adopted already. Requests call
    /// it too, so none runs on a version's data with an older configuration.
    pub fn adopt(&self, version: u64, config: &CollectionConfig, schema: &PayloadSchema) {
        let mut adopted = self.inner.adopted_version.lock();
        if *adopted >= version {
            return;
        }
        self.update_config(config.clone());
        self.set_payload_schema(schema);
        *adopted = version;
    }

    /// Adopts the collection's payload indexes: the optimizer builds indexes for new
    /// fields in every immutable segment and drops those of removed fields.
    pub fn set_payload_schema(&self, schema: &PayloadSchema) {
        let changed = {
            let mut current = self.inner.payload_schema.write();
            let changed = *current != *schema;
            *current = schema.clone();
            changed
        };
        if changed {
            *self.inner.text_indexes.write() = Arc::new(text_analyzers(schema));
            self.inner.wake();
        }
    }

    /// Adopts a new configuration; the optimizer builds, rebuilds or drops graphs to match.
    pub fn update_config(&self, config: CollectionConfig) {
        let layout = vector_layout(&config);
        let changed = {
            let mut current = self.inner.config.write();
            let changed = *current != config;
            *current = config;
            changed
        };
        if changed {
            self.inner.adopt_layout(&layout);
            self.inner.wake();
        }
    }

    /// Runs every due optimization in the caller's thread, then a checkpoint.
    pub fn optimize(&self) -> Result<(), ShardError> {
        self.inner.maintain(true)
    }

    /// Stops background optimization for good: a running build is abandoned at its
    /// next check and the optimizer's thread ends. For a node that is stopping, so its
    /// last [`flush`](Self::flush) does not wait for a build (graphs are derived data,
    /// rebuilt after the restart).
    pub fn stop_optimizing(&self) {
        self.inner.stop.store(true, Ordering::Release);
        self.inner.wake();
    }

    /// Persists the current state so the WAL up to now can be dropped.
    pub fn flush(&self) -> Result<(), ShardError> {
        let mut manifest = self.inner.maintenance.lock();
        self.inner.checkpoint(&mut manifest)
    }

    /// Writes a snapshot of the shard to the file `out` while writes continue, and returns
    /// the sequence number it is consistent at: a checkpoint is taken, and the files it
    /// names (never changed once written) are packed while the optimizer is held off.
    pub fn snapshot(&self, out: &Path) -> Result<u64, ShardError> {
        self.snapshot_pinning(out, None)
    }

    /// [`snapshot`](Self::snapshot), keeping the WAL's records after the snapshot for
    /// `pin` (a replica that continues from it), pinned before any checkpoint can trim
    /// them.
    pub(crate) fn snapshot_pinning(
        &self,
        out: &Path,
        pin: Option<&str>,
    ) -> Result<u64, ShardError> {
        let mut manifest = self.inner.maintenance.lock();
        self.inner.checkpoint(&mut manifest)?;
        if let Some(holder) = pin {
            self.inner.wal_keeper.pin(holder, manifest.checkpoint);
        }
        let files = checkpoint::named_files(&self.inner.dir, &manifest)?;
        snapshot::write(&self.inner.dir, &files, out)?;
        tracing::info!(
            shard = %self.inner.dir.display(),
            snapshot = %out.display(),
            seq = manifest.checkpoint,
            files = files.len(),
            "wrote shard snapshot"
        );
        Ok(manifest.checkpoint)
    }

    /// Unpacks the snapshot file `snapshot` into `dir` (missing or empty), after checking
    /// its checksum; `Shard::open(dir, ..)` then serves it.
    pub fn restore_snapshot(
        snapshot: &Path,
        dir: &Path,
        history: RestoredHistory,
    ) -> Result<(), ShardError> {
        snapshot::restore(snapshot, dir)?;
        if let RestoredHistory::Restored { epoch } = history {
            checkpoint::restamp_epochs(dir, epoch)?;
        }
        Ok(())
    }
}

impl Drop for Shard {
    fn drop(&mut self) {
        self.inner.stop.store(true, Ordering::Release);
        self.inner.wake();
        if let Some(thread) = self.optimizer.take() {
            if thread.join().is_err() {
                tracing::error!(shard = %self.inner.dir.display(), "shard optimizer panicked");
            }
        }
    }
}

impl Inner {
    /// Follows a change of the collection's vectors (named vectors added or
    /// removed): the appendable segment gets the new ones, and every segment
    /// drops the removed ones (their files keep them until rewritten; a shard
    /// opening drops them again).
    fn adopt_layout(&self, layout: &VectorLayout) {
        let _writers = self.apply_lock.lock();
        let current = self.segments();
        current.appendable.write().adopt_layout(layout);
        let sealed = current
            .sealed
            .iter()
            .map(|s| {
                if s.data.fits(layout) {
                    return s.clone();
                }
                let mut data = s.data.clone();
                data.retain_layout(layout);
                Arc::new(s.with_data(data))
            })
            .collect();
        *self.segments.write() = Arc::new(Segments {
            appendable: current.appendable.clone(),
            sealed,
        });
    }

    /// A read's filter, text matches going by the collection's text indexes.
    fn compile_filter(&self, f: Option<&Filter>) -> Result<Option<CompiledFilter>, FilterError> {
        let texts = self.text_indexes.read().clone();
        f.map(|f| filter::compile_with(f, &texts)).transpose()
    }

    fn open(dir: &Path, config: CollectionConfig, opening: Opening) -> Result<Inner, ShardError> {
        std::fs::create_dir_all(dir)?;
        let layout = vector_layout(&config);
        let distances = config
            .params
            .vectors
            .iter()
            .map(|(name, p)| (name.to_string(), p.distance))
            .collect();
        let on_disk = match opening {
            Opening::Serving => on_disk(&config),
            Opening::RecordsView => OnDisk::everything(&layout),
        };
        let loaded = checkpoint::load(dir, &layout, &distances, &on_disk, opening)?;
        let mut epochs = loaded.manifest.epochs.clone();
        let checkpoint = OpId {
            epoch: replication::epoch_at(&epochs, loaded.manifest.checkpoint),
            seq: loaded.manifest.checkpoint,
        };
        let segments = Segments {
            appendable: Arc::new(RwLock::new(loaded.appendable)),
            sealed: loaded.sealed,
        };
        let wal_capacity = config.wal_config.wal_capacity_mb.max(1) as u64 * 1024 * 1024;
        let replay_started = Instant::now();
        let mut replayed = 0u64;
        let wal = Wal::open(
            &dir.join(WAL_DIR),
            wal_capacity,
            checkpoint,
            |id: OpId, op| {
                let seq = id.seq;
                let plan = apply::plan(&segments, &op).map_err(|e| {
                    ShardError::Corrupt(format!("WAL record {seq} cannot be applied: {e}"))
                })?;
                replication::note_epoch(&mut epochs, id);
                apply::apply(&segments, seq, op, plan);
                replayed += 1;
                Ok::<_, ShardError>(())
            },
        )?;
        if replayed > 0 {
            tracing::info!(
                shard = %dir.display(),
                checkpoint = loaded.manifest.checkpoint,
                replayed,
                elapsed_ms = replay_started.elapsed().as_millis() as u64,
                "replayed the WAL after the last checkpoint"
            );
        }
        Ok(Inner {
            dir: dir.to_path_buf(),
            wal,
            apply_lock: Mutex::new(()),
            applied: Condvar::new(),
            epochs: RwLock::new(epochs),
            wal_keeper: wal_retention::WalKeeper::new(),
            checkpoint_bytes: AtomicU64::new(0),
            config: RwLock::new(config),
            payload_schema: RwLock::new(PayloadSchema::new()),
            text_indexes: RwLock::new(Arc::new(TextIndexes::new())),
            adopted_version: Mutex::new(0),
            segments: RwLock::new(Arc::new(segments)),
            appendable_dirty: AtomicBool::new(replayed > 0),
            next_segment_id: AtomicU64::new(loaded.manifest.next_segment_id),
            maintenance: Mutex::new(loaded.manifest),
            last_checkpoint: Mutex::new(Instant::now()),
            optimizing: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            wake: (Mutex::new(false), Condvar::new()),
        })
    }

    fn segments(&self) -> Arc<Segments> {
        self.segments.read().clone()
    }

    fn wake(&self) {
        *self.wake.0.lock() = true;
        self.wake.1.notify_all();
    }

    fn new_segment_id(&self) -> u64 {
        self.next_segment_id.fetch_add(1, Ordering::AcqRel)
    }
}

fn passes(filter: Option<&CompiledFilter>, data: &SegmentData, row: usize) -> bool {
    filter.is_none_or(|f| {
        f.matches(data.ids[row], &data.payload(row), &|name| {
            data.has_vector(row, name)
        })
    })
}

fn record(
    data: &SegmentData,
    row: usize,
    with_payload: &WithPayload,
    with_vector: &WithVector,
) -> Record {
    Record {
        id: data.ids[row],
        payload: with_payload
            .is_enabled()
            .then(|| with_payload.select(&data.payload(row)))
            .flatten(),
        vector: with_vector
            .is_enabled()
            .then(|| with_vector.select(&data.vectors(row)))
            .flatten()
            .map(VectorStruct::from_named),
        shard_key: None,
        order_value: None,
    }
}

/// Validates the parts of `op` that depend on the collection's configuration and stores
/// Cosine vectors normalized, so the WAL holds exactly what is applied.
fn prepare(
    mut op: ShardOperation,
    config: &CollectionConfig,
) -> Result<ShardOperation, ShardError> {
    op.check_vectors(&config.params).map_err(bad_input)?;
    for vectors in op.written_vectors_mut() {
        for (name, vector) in vectors.iter_mut() {
            normalize_for(config, name, vector)?;
        }
    }
    Ok(op)
}

/// Checks a query vector against the collection's config, and normalizes it for Cosine.
fn check_vector(
    config: &CollectionConfig,
    name: &str,
    vector: &mut Vector,
) -> Result<(), ShardError> {
    config
        .params
        .check_vector(name, vector)
        .map_err(bad_input)?;
    normalize_for(config, name, vector)
}

/// Normalizes a checked vector of a Cosine vector name, as it is stored and searched.
fn normalize_for(
    config: &CollectionConfig,
    name: &str,
    vector: &mut Vector,
) -> Result<(), ShardError> {
    if config.params.distance(name).map_err(bad_input)? == Distance::Cosine {
        match vector {
            Vector::Dense(v) => kernels::normalize(v),
            Vector::Multi(vectors) => vectors.iter_mut().for_each(|v| kernels::normalize(v)),
            Vector::Sparse(_) => {}
        }
    }
    Ok(())
}
