//! A sealed segment: rows sorted by point id that never change, deletions marked in a
//! bitmap, and one HNSW graph per vector name once the optimizer has built it.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use parking_lot::RwLock;
use tessera_types::PointId;

use super::bitmap::AtomicBitmap;
use super::data::SegmentData;
use crate::index::{Graph, InvertedIndex, QuantizedVectors};
use crate::payload_index::FieldIndex;

pub(crate) struct ImmutableSegment {
    pub id: u64,
    pub data: SegmentData,
    /// Shared with the segment's copies (`with_data`), so a search still holding the
    /// copy it started with sees every deletion made through the current one.
    deleted: Arc<AtomicBitmap>,
    /// Present vectors of each name, and how many of them were deleted since.
    vectors: BTreeMap<String, (usize, AtomicUsize)>,
    graphs: RwLock<BTreeMap<String, Arc<Graph>>>,
    /// Quantized codes per dense vector name, built with the graph when configured.
    quantized: RwLock<BTreeMap<String, Arc<QuantizedVectors>>>,
    /// One inverted index per sparse vector name, built with the segment.
    inverted: BTreeMap<String, Arc<InvertedIndex>>,
    /// Payload indexes by key.
    fields: RwLock<BTreeMap<String, Arc<FieldIndex>>>,
    /// Whether the rows are written to the segment's directory.
    persisted: AtomicBool,
    /// Deleted rows as of the last checkpoint that wrote this segment's bitmap.
    checkpointed_deletions: AtomicUsize,
    /// Bytes of the rows' payloads, measured once when first asked.
    payload_bytes: std::sync::OnceLock<u64>,
}

impl ImmutableSegment {
    /// A segment of `data` (rows sorted by id, ids distinct) with `deleted` rows masked.
    pub fn new(id: u64, data: SegmentData, deleted: AtomicBitmap) -> Self {
        Self::with_bitmap(id, data, Arc::new(deleted))
    }

    /// A segment of `data` to read rows from only, as a records view does: no
    /// index of its sparse vectors is built.
    pub fn for_reading(id: u64, data: SegmentData, deleted: AtomicBitmap) -> Self {
        Self::with_parts(id, data, Arc::new(deleted), BTreeMap::new())
    }

    fn with_bitmap(id: u64, data: SegmentData, deleted: Arc<AtomicBitmap>) -> Self {
        let inverted = data
            .varying
            .iter()
            .filter(|(_, column)| {
                column
                    .rows
                    .iter()
                    .flatten()
                    .any(|v| v.as_sparse().is_some())
            })
            .map(|(name, column)| (name.clone(), Arc::new(InvertedIndex::build(column))))
            .collect();
        Self::with_parts(id, data, deleted, inverted)
    }

    fn with_parts(
        id: u64,
        data: SegmentData,
        deleted: Arc<AtomicBitmap>,
        inverted: BTreeMap<String, Arc<InvertedIndex>>,
    ) -> Self {
        debug_assert!(data.ids.windows(2).all(|w| w[0] < w[1]));
        debug_assert_eq!(deleted.len(), data.len());
        let dense = data
            .columns
            .iter()
            .map(|(name, c)| (name, c.present.clone()));
        let varying = data
            .varying
            .iter()
            .map(|(name, c)| (name, c.rows.iter().map(Option::is_some).collect()));
        let vectors = dense
            .chain(varying)
            .map(|(name, present): (&String, Vec<bool>)| {
                let count = present.iter().filter(|p| **p).count();
                let gone = (0..data.len())
                    .filter(|row| present[*row] && deleted.get(*row))
                    .count();
                (name.clone(), (count, AtomicUsize::new(gone)))
            })
            .collect();
        Self {
            id,
            data,
            checkpointed_deletions: AtomicUsize::new(deleted.count()),
            deleted,
            vectors,
            graphs: RwLock::new(BTreeMap::new()),
            quantized: RwLock::new(BTreeMap::new()),
            inverted,
            fields: RwLock::new(BTreeMap::new()),
            persisted: AtomicBool::new(false),
            payload_bytes: std::sync::OnceLock::new(),
        }
    }

    /// This segment over `data`, the same rows stored differently (read back from the
    /// segment's files, mapped): graphs and payload indexes carry over, and the deletion
    /// bitmap is shared. Callers hold the writers' lock, so the counts stay exact.
    pub fn with_data(&self, data: SegmentData) -> Self {
        debug_assert_eq!(data.ids, self.data.ids);
        let segment = Self::with_parts(self.id, data, self.deleted.clone(), self.inverted.clone());
        *segment.graphs.write() = self.graphs.read().clone();
        *segment.quantized.write() = self.quantized.read().clone();
        *segment.fields.write() = self.fields.read().clone();
        segment
            .persisted
            .store(self.is_persisted(), Ordering::Release);
        segment.checkpointed_deletions.store(
            self.checkpointed_deletions.load(Ordering::Acquire),
            Ordering::Release,
        );
        segment
    }

    pub fn rows(&self) -> usize {
        self.data.len()
    }

    pub fn is_live(&self, row: usize) -> bool {
        !self.deleted.get(row)
    }

    /// The live row holding `id`.
    pub fn locate(&self, id: &PointId) -> Option<usize> {
        let row = self.data.ids.binary_search(id).ok()?;
        self.is_live(row).then_some(row)
    }

    /// Marks `row` deleted; returns whether it was live.
    pub fn delete(&self, row: usize) -> bool {
        let newly = self.deleted.set(row);
        if newly {
            for (name, (_, gone)) in &self.vectors {
                if self.data.has_vector(row, name) {
                    gone.fetch_add(1, Ordering::AcqRel);
                }
            }
        }
        newly
    }

    pub fn deleted_count(&self) -> usize {
        self.deleted.count()
    }

    pub fn live_count(&self) -> usize {
        self.rows() - self.deleted_count()
    }

    /// Live vectors of `name`.
    pub fn vector_count(&self, name: &str) -> usize {
        self.vectors
            .get(name)
            .map_or(0, |(present, gone)| present - gone.load(Ordering::Acquire))
    }

    /// Live vectors of each name.
    pub fn vector_counts(&self) -> impl Iterator<Item = (&str, usize)> + '_ {
        self.vectors
            .keys()
            .map(|name| (name.as_str(), self.vector_count(name)))
    }

    pub fn live_rows(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.rows()).filter(|row| self.is_live(*row))
    }

    /// Live (id, row) pairs from `from` on, in id order.
    pub fn live_from(&self, from: PointId) -> impl Iterator<Item = (PointId, usize)> + '_ {
        let start = self.data.ids.partition_point(|id| *id < from);
        (start..self.rows())
            .filter(|row| self.is_live(*row))
            .map(|row| (self.data.ids[row], row))
    }

    pub fn deletions(&self) -> &AtomicBitmap {
        &self.deleted
    }

    pub fn graph(&self, name: &str) -> Option<Arc<Graph>> {
        self.graphs.read().get(name).cloned()
    }

    pub fn inverted_index(&self, name: &str) -> Option<&InvertedIndex> {
        self.inverted.get(name).map(|i| &**i)
    }

    pub fn set_graph(&self, name: &str, graph: Option<Arc<Graph>>) {
        let old = match graph {
            Some(g) => self.graphs.write().insert(name.to_string(), g),
            None => self.graphs.write().remove(name),
        };
        // Freeing a large graph takes a while: after the lock is released.
        drop(old);
    }

    pub fn quantized(&self, name: &str) -> Option<Arc<QuantizedVectors>> {
        self.quantized.read().get(name).cloned()
    }

    pub fn set_quantized(&self, name: &str, codes: Option<Arc<QuantizedVectors>>) {
        let old = match codes {
            Some(c) => self.quantized.write().insert(name.to_string(), c),
            None => self.quantized.write().remove(name),
        };
        drop(old);
    }

    /// Live vectors held by graphs.
    pub fn indexed_vectors(&self) -> usize {
        let graphs = self.graphs.read();
        graphs.keys().map(|name| self.vector_count(name)).sum()
    }

    pub fn field_index(&self, key: &str) -> Option<Arc<FieldIndex>> {
        self.fields.read().get(key).cloned()
    }

    pub fn field_keys(&self) -> Vec<String> {
        self.fields.read().keys().cloned().collect()
    }

    pub fn set_field_index(&self, key: &str, index: Option<Arc<FieldIndex>>) {
        match index {
            Some(i) => self.fields.write().insert(key.to_string(), i),
            None => self.fields.write().remove(key),
        };
    }

    /// Live rows holding a value of the indexed field `key` (None without an index).
    pub fn indexed_points(&self, key: &str) -> Option<usize> {
        let index = self.field_index(key)?;
        Some(
            index
                .rows_with_value()
                .iter()
                .filter(|row| self.is_live(**row as usize))
                .count(),
        )
    }

    /// Bytes the rows' payloads take (rows never change, so measured once).
    pub fn payload_bytes(&self) -> u64 {
        *self
            .payload_bytes
            .get_or_init(|| self.data.payloads.stored_bytes())
    }

    pub fn is_persisted(&self) -> bool {
        self.persisted.load(Ordering::Acquire)
    }

    pub fn mark_persisted(&self) {
        self.persisted.store(true, Ordering::Release);
    }

    /// Whether deletions happened since the last checkpoint recorded them.
    pub fn deletions_changed(&self) -> bool {
        self.checkpointed_deletions.load(Ordering::Acquire) != self.deleted_count()
    }

    pub fn mark_deletions_checkpointed(&self, count: usize) {
        self.checkpointed_deletions.store(count, Ordering::Release);
    }
}
