//! A shard's points as records, for the `stream_records` transfer. The source
//! reads them page by page from a still view of the shard (a snapshot of it,
//! opened without an optimizer), so every record is as of one operation `S`
//! while writes go on. The target loads them, each with the version (the
//! sequence number) that last wrote it, into a new shard whose history ends at
//! `S` in the source's epochs, and then takes the operations after `S` from
//! the primary as any recovering replica does: so a streamed record never
//! overwrites a newer write.

use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use tessera_types::{CollectionConfig, OpId, Point, PointId, ShardOperation};

use super::checkpoint::Opening;
use super::{apply, checkpoint, Inner, Shard, ShardError};

/// A point and the version it was last written at.
pub type VersionedPoint = (u64, Point);

impl Shard {
    /// Opens the shard in `dir` for loading records into: no optimizer runs.
    pub fn open_still(dir: &Path, config: CollectionConfig) -> Result<Shard, ShardError> {
        Ok(Shard {
            inner: Arc::new(Inner::open(dir, config, Opening::Serving)?),
            optimizer: None,
        })
    }

    /// Opens the shard in `dir` as a read-only view to page records from: no
    /// optimizer runs, and every segment's dense vectors and payloads are
    /// mapped from its files rather than read in, whatever the collection's
    /// config says, so the view holds ids, versions and what the WAL replays,
    /// not the shard's size. [`Shard::release_resident`] lets go of the pages
    /// read so far.
    pub fn open_records_view(dir: &Path, config: CollectionConfig) -> Result<Shard, ShardError> {
        let view = Shard {
            inner: Arc::new(Inner::open(dir, config, Opening::RecordsView)?),
            optimizer: None,
        };
        // Opening decoded every mapped payload once to check it.
        view.release_resident();
        Ok(view)
    }

    /// Lets the kernel drop this process's resident pages of the mapped
    /// vectors and payloads of the shard's persisted segments (a records view
    /// reads each page once; a serving shard would only slow its next reads).
    pub fn release_resident(&self) {
        for segment in &self.inner.segments().sealed {
            segment.data.release_resident();
        }
    }

    /// Up to `limit` live points from id `from` on, in id order, with their
    /// versions, and the id the next page starts at.
    pub fn records_page(
        &self,
        from: Option<PointId>,
        limit: usize,
    ) -> (Vec<VersionedPoint>, Option<PointId>) {
        let from = from.unwrap_or(PointId::Num(0));
        let want = limit.saturating_add(1);
        let segments = self.inner.segments();
        let app = segments.appendable.read();
        // Candidates by id and version alone (in memory); only the page's
        // winners are read from the (mapped) vectors and payloads.
        let mut found: Vec<(PointId, u64, Option<usize>, usize)> = app
            .live_from(from)
            .take(want)
            .map(|(id, row)| (id, app.data.versions[row], None, row))
            .collect();
        for (i, s) in segments.sealed.iter().enumerate() {
            found.extend(
                s.live_from(from)
                    .take(want)
                    .map(|(id, row)| (id, s.data.versions[row], Some(i), row)),
            );
        }
        // Newest copy first, so dedup keeps it.
        found.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
        found.dedup_by_key(|c| c.0);
        let next = found.get(limit).map(|c| c.0);
        found.truncate(limit);
        let page = found
            .into_iter()
            .map(|(_, version, segment, row)| {
                let stored = match segment {
                    None => app.data.point(row),
                    Some(i) => segments.sealed[i].data.point(row),
                };
                let point = Point {
                    id: stored.id,
                    vectors: stored.vectors,
                    payload: stored.payload,
                };
                (version, point)
            })
            .collect();
        (page, next)
    }

    /// Where each epoch of this shard's history began: `(first seq, epoch)`.
    pub fn epochs(&self) -> Vec<(u64, u64)> {
        self.inner.epochs.read().clone()
    }
}

/// A shard being filled with streamed records in a directory of its own; it
/// becomes a replica only once [`RecordLoader::finish`] has persisted it.
pub struct RecordLoader {
    shard: Shard,
    loaded: u64,
}

impl RecordLoader {
    /// Starts a shard in the empty directory `dir` whose history ends at `at`,
    /// in the epochs `epochs` of the source.
    pub fn create(
        dir: &Path,
        config: CollectionConfig,
        at: OpId,
        epochs: Vec<(u64, u64)>,
    ) -> Result<RecordLoader, ShardError> {
        if dir.exists() {
            std::fs::remove_dir_all(dir)?;
        }
        std::fs::create_dir_all(dir)?;
        checkpoint::write_empty(dir, at.seq, epochs)?;
        Ok(RecordLoader {
            shard: Shard::open_still(dir, config)?,
            loaded: 0,
        })
    }

    /// Loads a batch of records, each at its own version, outside the WAL:
    /// they are the state as of the history's end, not operations after it.
    pub fn load(&mut self, records: Vec<VersionedPoint>) -> Result<(), ShardError> {
        self.load_batch(records)?;
        // A shard of any size streams through: the appendable segment is sealed and
        // written out at its usual size, not held in memory until the end.
        let inner = &self.shard.inner;
        if inner.seal_due() {
            let _maintenance = inner.maintenance.lock();
            inner.seal()?;
        }
        Ok(())
    }

    fn load_batch(&mut self, records: Vec<VersionedPoint>) -> Result<(), ShardError> {
        let inner = &self.shard.inner;
        let _writer = inner.apply_lock.lock();
        let segments = inner.segments();
        let mut records = records.into_iter().peekable();
        while let Some((version, first)) = records.next() {
            let mut points = vec![first];
            while let Some((_, point)) = records.next_if(|(v, _)| *v == version) {
                points.push(point);
            }
            self.loaded += points.len() as u64;
            let op = ShardOperation::Upsert(points);
            let plan = apply::plan(&segments, &op)?;
            apply::apply(&segments, version, op, plan);
        }
        inner.appendable_dirty.store(true, Ordering::Release);
        Ok(())
    }

    /// Persists everything loaded as a checkpoint at the history's end.
    /// Returns the number of records loaded.
    pub fn finish(self) -> Result<u64, ShardError> {
        self.shard.flush()?;
        Ok(self.loaded)
    }
}
