//! Checkpoints: the shard's persisted state, named by `manifest.json`.
//!
//! A checkpoint at sequence number S records the segments that hold every operation up
//! to S: the immutable segments' directories with their deletion bitmaps as of S, and a
//! copy of the appendable segment's live points. It is written as new files first, then
//! the manifest is replaced atomically (temporary name, fsync, rename, directory fsync),
//! and only then are WAL files up to S and files no manifest names removed. A crash at
//! any point leaves the previous manifest and everything it names intact.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use tessera_types::Distance;

use super::{Inner, ShardError};
use crate::index::{Graph, QuantizedVectors};
use crate::segment::{
    deletions_file, read_deletions, read_segment, read_segment_with, write_deletions,
    write_segment, Appendable, AtomicBitmap, ImmutableSegment, OnDisk, SegmentData, VectorLayout,
};
use crate::wal::sync_dir;

const MANIFEST: &str = "manifest.json";
const SEGMENTS_DIR: &str = "segments";

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Manifest {
    /// Every operation up to this sequence number is in the segments below.
    pub checkpoint: u64,
    pub next_segment_id: u64,
    pub segments: Vec<SegmentEntry>,
    /// The segment directory holding the appendable segment's points, if any.
    pub appendable: Option<u64>,
    /// Where each primary epoch of the shard's history began: `(first seq, epoch)`,
    /// ascending. Tells the epoch of any operation, so a replica can tell whether its
    /// history and the primary's agree.
    #[serde(default)]
    pub epochs: Vec<(u64, u64)>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct SegmentEntry {
    pub id: u64,
    /// The deletion bitmap file and its CRC32, when rows were deleted.
    pub deletions: Option<(String, u32)>,
}

pub(crate) fn segment_dir(shard: &Path, id: u64) -> PathBuf {
    shard.join(SEGMENTS_DIR).join(id.to_string())
}

/// Where graphs are written before they move into their segment's directory; left over
/// only by a crash, and removed when the shard opens.
pub(crate) const GRAPH_SCRATCH_DIR: &str = "graph.tmp";

/// The file a segment's graph of vector `name` is saved as: `graph-{i}.bin` for the
/// i-th vector of the segment, as its `vectors-{i}.bin`.
pub(crate) fn graph_file(data: &SegmentData, name: &str) -> Option<String> {
    let i = data.columns.keys().position(|n| n == name)?;
    Some(format!("graph-{i}.bin"))
}

/// The file a segment's quantized codes of vector `name` are saved as: `quant-{i}.bin`,
/// numbered as its graph.
pub(crate) fn quantized_file(data: &SegmentData, name: &str) -> Option<String> {
    let i = data.columns.keys().position(|n| n == name)?;
    Some(format!("quant-{i}.bin"))
}

/// Reopens the graphs and quantized codes saved beside `segment` (in `dir`); a damaged
/// one is skipped, and the optimizer builds it again.
fn open_graphs(
    dir: &Path,
    segment: &ImmutableSegment,
    distances: &BTreeMap<String, Distance>,
    on_disk: &OnDisk,
) {
    for (name, distance) in distances {
        let Some(file) = graph_file(&segment.data, name) else {
            continue;
        };
        let mapped = on_disk.vectors.contains(name);
        match Graph::open(&dir.join(file), *distance, mapped) {
            Ok(Some(graph)) => segment.set_graph(name, Some(Arc::new(graph))),
            Ok(None) => {}
            Err(e) => tracing::warn!(
                segment = %dir.display(),
                vector = %name,
                error = %e,
                "ignoring a damaged saved HNSW graph; it will be rebuilt"
            ),
        }
        let Some(file) = quantized_file(&segment.data, name) else {
            continue;
        };
        match QuantizedVectors::open(&dir.join(file), *distance, mapped) {
            Ok(Some(codes)) => segment.set_quantized(name, Some(Arc::new(codes))),
            Ok(None) => {}
            Err(e) => tracing::warn!(
                segment = %dir.display(),
                vector = %name,
                error = %e,
                "ignoring damaged saved quantized vectors; they will be rebuilt"
            ),
        }
    }
}

/// The state a shard opens with.
pub(crate) struct Loaded {
    pub manifest: Manifest,
    pub sealed: Vec<Arc<ImmutableSegment>>,
    pub appendable: Appendable,
}

/// What a shard's checkpoint is loaded for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Opening {
    /// A replica: segments as the collection's config says, graphs opened.
    Serving,
    /// A read-only view to page records from: every segment's dense vectors and
    /// payloads mapped from its files, the persisted appendable segment opened as
    /// one more immutable one, no graphs or sparse indexes; so the view holds
    /// ids, versions and any multi or sparse vectors (read in, not mapped).
    RecordsView,
}

/// Reads the last checkpoint of the shard in `dir` and removes files it does not name
/// (left by a crash before a manifest named them, or after it stopped naming them).
pub(crate) fn load(
    dir: &Path,
    layout: &VectorLayout,
    distances: &BTreeMap<String, Distance>,
    on_disk: &OnDisk,
    opening: Opening,
) -> Result<Loaded, ShardError> {
    let scratch = dir.join(GRAPH_SCRATCH_DIR);
    if scratch.exists() {
        std::fs::remove_dir_all(&scratch)?;
    }
    let manifest: Manifest = match std::fs::read(dir.join(MANIFEST)) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
            ShardError::Corrupt(format!("{}: unreadable {MANIFEST}: {e}", dir.display()))
        })?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Manifest::default(),
        Err(e) => return Err(e.into()),
    };
    // A records view opens the persisted appendable segment as one more immutable
    // one: written by `Appendable::compact`, its rows are live and sorted by id.
    let (view_appendable, appendable_id) = match opening {
        Opening::RecordsView => (manifest.appendable, None),
        Opening::Serving => (None, manifest.appendable),
    };
    let entries = manifest
        .segments
        .iter()
        .map(|entry| (entry.id, entry.deletions.as_ref()))
        .chain(view_appendable.map(|id| (id, None)));
    let mut sealed = Vec::new();
    for (id, deletions) in entries {
        let seg_dir = segment_dir(dir, id);
        let mut data = read_segment_with(&seg_dir, on_disk)?;
        // Vectors removed from the collection since the segment was written.
        data.retain_layout(layout);
        let deleted = match deletions {
            Some((file, crc)) => read_deletions(&seg_dir, file, *crc, data.len())?,
            None => AtomicBitmap::new(data.len()),
        };
        let segment = match opening {
            Opening::Serving => ImmutableSegment::new(id, data, deleted),
            Opening::RecordsView => ImmutableSegment::for_reading(id, data, deleted),
        };
        segment.mark_persisted();
        if opening == Opening::Serving {
            open_graphs(&seg_dir, &segment, distances, on_disk);
        }
        sealed.push(Arc::new(segment));
    }
    let appendable = match appendable_id {
        Some(id) => {
            let mut appendable = Appendable::from_data(read_segment(&segment_dir(dir, id))?);
            appendable.adopt_layout(layout);
            appendable
        }
        None => Appendable::new(layout),
    };
    remove_unnamed(dir, &manifest)?;
    Ok(Loaded {
        manifest,
        sealed,
        appendable,
    })
}

/// The files of the checkpoint `manifest` names, relative to the shard's directory.
pub(crate) fn named_files(dir: &Path, manifest: &Manifest) -> Result<Vec<PathBuf>, ShardError> {
    // A shard that never checkpointed has no manifest: its snapshot is empty.
    let mut files: Vec<PathBuf> = dir
        .join(MANIFEST)
        .exists()
        .then(|| PathBuf::from(MANIFEST))
        .into_iter()
        .collect();
    let segments = manifest
        .segments
        .iter()
        .map(|s| (s.id, s.deletions.as_ref().map(|(f, _)| f.as_str())))
        .chain(manifest.appendable.map(|id| (id, None)));
    for (id, deletions) in segments {
        let relative = Path::new(SEGMENTS_DIR).join(id.to_string());
        for entry in std::fs::read_dir(dir.join(&relative))? {
            let name = entry?.file_name().to_string_lossy().into_owned();
            if !name.starts_with("deleted-") || Some(name.as_str()) == deletions {
                files.push(relative.join(name));
            }
        }
    }
    Ok(files)
}

/// Removes segment directories and bitmap files that `manifest` does not name.
fn remove_unnamed(dir: &Path, manifest: &Manifest) -> Result<(), ShardError> {
    let root = dir.join(SEGMENTS_DIR);
    let entries = match std::fs::read_dir(&root) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    let named: BTreeMap<String, Option<&str>> = manifest
        .segments
        .iter()
        .map(|s| {
            (
                s.id.to_string(),
                s.deletions.as_ref().map(|(f, _)| f.as_str()),
            )
        })
        .chain(manifest.appendable.map(|id| (id.to_string(), None)))
        .collect();
    let mut removed = false;
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        match named.get(&name) {
            None => {
                std::fs::remove_dir_all(entry.path())?;
                removed = true;
            }
            Some(keep) => {
                for file in std::fs::read_dir(entry.path())? {
                    let file = file?;
                    let file_name = file.file_name().to_string_lossy().into_owned();
                    if file_name.starts_with("deleted-") && Some(file_name.as_str()) != *keep {
                        std::fs::remove_file(file.path())?;
                    }
                }
            }
        }
    }
    if removed {
        sync_dir(&root)?;
    }
    Ok(())
}

/// Starts an empty shard in `dir` whose history ends at `seq`, in `epochs`:
/// opened, it continues from there (the target of a record stream).
pub(crate) fn write_empty(dir: &Path, seq: u64, epochs: Vec<(u64, u64)>) -> Result<(), ShardError> {
    let manifest = Manifest {
        checkpoint: seq,
        epochs,
        ..Manifest::default()
    };
    write_manifest(dir, &manifest)
}

/// Replaces the history the checkpoint in `dir` was written under with one
/// whose last operation is in `epoch`: its earlier operations count as epoch 0,
/// below every epoch of the shard it now joins.
pub(crate) fn restamp_epochs(dir: &Path, epoch: u64) -> Result<(), ShardError> {
    let bytes = std::fs::read(dir.join(MANIFEST))?;
    let mut manifest: Manifest = serde_json::from_slice(&bytes)
        .map_err(|e| ShardError::Corrupt(format!("unreadable {MANIFEST}: {e}")))?;
    manifest.epochs.clear();
    if manifest.checkpoint > 0 {
        manifest.epochs.push((manifest.checkpoint, epoch));
    }
    write_manifest(dir, &manifest)
}

fn write_manifest(dir: &Path, manifest: &Manifest) -> Result<(), ShardError> {
    let bytes = serde_json::to_vec_pretty(manifest)
        .map_err(|e| ShardError::Io(std::io::Error::other(e)))?;
    let tmp = dir.join(format!("{MANIFEST}.tmp"));
    {
        use std::io::Write;
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(&bytes)?;
        file.sync_all()?;
    }
    std::fs::rename(&tmp, dir.join(MANIFEST))?;
    sync_dir(dir)?;
    Ok(())
}

impl Inner {
    /// Writes a checkpoint of the current state and drops the WAL files it covers.
    /// Caller holds `maintenance` (passed in as the last manifest).
    pub(crate) fn checkpoint(&self, last: &mut Manifest) -> Result<(), ShardError> {
        let started = Instant::now();
        // A consistent cut: no write runs while it is taken.
        let (seq, segments, appendable, bitmaps) = {
            let _writers = self.apply_lock.lock();
            let seq = self.wal.last_seq();
            let epochs = self.epochs.read().clone();
            let segments = self.segments();
            if segments.sealed.iter().any(|s| !s.is_persisted()) {
                // The optimizer persists sealed segments before anything else: try later.
                return Ok(());
            }
            let listed: BTreeSet<u64> = last.segments.iter().map(|s| s.id).collect();
            let same_segments = segments.sealed.len() == listed.len()
                && segments.sealed.iter().all(|s| listed.contains(&s.id));
            let dirty = self.appendable_dirty.swap(false, Ordering::AcqRel);
            let changed: Vec<_> = segments
                .sealed
                .iter()
                .filter(|s| s.deletions_changed() || !listed.contains(&s.id))
                .map(|s| (s.clone(), s.deletions().copy()))
                .collect();
            if seq == last.checkpoint && same_segments && !dirty && changed.is_empty() {
                return Ok(());
            }
            let appendable = dirty.then(|| segments.appendable.read().compact());
            self.checkpoint_bytes
                .store(self.wal.appended_bytes(), Ordering::Release);
            (seq, (segments, epochs), appendable, changed)
        };
        let (segments, epochs) = segments;
        let result =
            self.write_checkpoint(last, (seq, epochs), &segments.sealed, appendable, bitmaps);
        if result.is_err() {
            // What this checkpoint would have recorded still has to be written.
            self.appendable_dirty.store(true, Ordering::Release);
        }
        result?;
        *self.last_checkpoint.lock() = Instant::now();
        tracing::debug!(
            shard = %self.dir.display(),
            checkpoint = seq,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "checkpoint written"
        );
        Ok(())
    }

    fn write_checkpoint(
        &self,
        last: &mut Manifest,
        (seq, epochs): (u64, Vec<(u64, u64)>),
        sealed: &[Arc<ImmutableSegment>],
        appendable: Option<crate::segment::SegmentData>,
        bitmaps: Vec<(Arc<ImmutableSegment>, AtomicBitmap)>,
    ) -> Result<(), ShardError> {
        let appendable_id = match appendable {
            None => last.appendable,
            Some(data) if data.len() == 0 => None,
            Some(data) => {
                let id = self.new_segment_id();
                write_segment(&segment_dir(&self.dir, id), &data)?;
                Some(id)
            }
        };
        let mut deletions: BTreeMap<u64, Option<(String, u32)>> = last
            .segments
            .iter()
            .map(|s| (s.id, s.deletions.clone()))
            .collect();
        let mut recorded = Vec::new();
        for (segment, bitmap) in &bitmaps {
            let entry = if bitmap.count() == 0 {
                None
            } else {
                let file = deletions_file(self.new_segment_id());
                let crc = write_deletions(&segment_dir(&self.dir, segment.id), &file, bitmap)?;
                Some((file, crc))
            };
            deletions.insert(segment.id, entry);
            recorded.push((segment.clone(), bitmap.count()));
        }
        let manifest = Manifest {
            checkpoint: seq,
            next_segment_id: self.next_segment_id.load(Ordering::Acquire),
            segments: sealed
                .iter()
                .map(|s| SegmentEntry {
                    id: s.id,
                    deletions: deletions.get(&s.id).cloned().flatten(),
                })
                .collect(),
            appendable: appendable_id,
            epochs,
        };
        write_manifest(&self.dir, &manifest)?;
        for (segment, count) in recorded {
            segment.mark_deletions_checkpointed(count);
        }
        *last = manifest;
        // Recent operations stay in the WAL, so a replica that missed them catches up
        // from it rather than from a snapshot.
        let through = self.wal_keeper.removable_through(&self.wal, seq);
        let removed = self.wal.truncate_through(through)?;
        remove_unnamed(&self.dir, last)?;
        if removed > 0 {
            tracing::debug!(shard = %self.dir.display(), removed, "removed WAL files covered by a checkpoint");
        }
        Ok(())
    }
}
