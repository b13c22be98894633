//! Columnar point storage shared by both kinds of segment: one row (offset) per point.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use memmap2::Mmap;
use tessera_types::{NamedVectors, Payload, PointId, Vector};

/// A point as the engine stores it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StoredPoint {
    pub id: PointId,
    /// Sequence number of the last operation that wrote the point.
    pub version: u64,
    pub vectors: NamedVectors,
    pub payload: Payload,
}

/// A column's floats: in memory, or read through a read-only map of a segment file
/// (`on_disk: true`), where the kernel pages them in and out on demand.
#[derive(Clone)]
pub(crate) enum Floats {
    Memory(Vec<f32>),
    /// `len` f32 (little-endian) at the start of `map`.
    Mapped {
        map: Arc<Mmap>,
        len: usize,
    },
}

impl Floats {
    /// The floats at the start of `map`, which must hold `len` of them (f32 LE). Used in
    /// place on little-endian targets (mmap is page-aligned, so the cast is aligned),
    /// decoded into memory elsewhere.
    pub fn mapped(map: Arc<Mmap>, len: usize) -> Self {
        assert!(map.len() >= len * 4);
        if cfg!(target_endian = "big") {
            return Floats::Memory(
                map[..len * 4]
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")))
                    .collect(),
            );
        }
        assert_eq!(map.as_ptr() as usize % std::mem::align_of::<f32>(), 0);
        Floats::Mapped { map, len }
    }

    /// Lets the kernel drop this process's resident pages of a mapped column (they are
    /// read back from the file, or its page cache, when next touched). Nothing for a
    /// column in memory.
    pub fn release_resident(&self) {
        if let Floats::Mapped { map, .. } = self {
            release_pages(map);
        }
    }

    /// The floats as a growable vector (a mapped column is copied into memory first).
    pub fn to_mut(&mut self) -> &mut Vec<f32> {
        if let Floats::Mapped { .. } = self {
            *self = Floats::Memory(self.to_vec());
        }
        match self {
            Floats::Memory(v) => v,
            Floats::Mapped { .. } => unreachable!(),
        }
    }
}

/// Drops this process's resident pages of a read-only map of a segment file.
fn release_pages(map: &Mmap) {
    // SAFETY: the map is a read-only view of a file that is never written after it
    // is renamed into place, so dropping its pages loses nothing: the next read
    // faults the same bytes back in from the file (or the page cache).
    let released = unsafe { map.unchecked_advise(memmap2::UncheckedAdvice::DontNeed) };
    if let Err(e) = released {
        tracing::debug!(error = %e, "madvise(DONTNEED) on a segment map failed");
    }
}

impl Default for Floats {
    fn default() -> Self {
        Floats::Memory(Vec::new())
    }
}

impl std::ops::Deref for Floats {
    type Target = [f32];
    fn deref(&self) -> &[f32] {
        match self {
            Floats::Memory(v) => v,
            // SAFETY: `mapped` checked size and alignment; the map is read-only and the
            // file is never written after the segment directory is renamed into place
            // (segment files are only ever created whole, then removed).
            Floats::Mapped { map, len } => unsafe {
                std::slice::from_raw_parts(map.as_ptr().cast::<f32>(), *len)
            },
        }
    }
}

impl std::fmt::Debug for Floats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Floats::Memory(v) => write!(f, "Memory({} floats)", v.len()),
            Floats::Mapped { len, .. } => write!(f, "Mapped({len} floats)"),
        }
    }
}

impl PartialEq for Floats {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

/// Row payloads: in memory, or JSON read on demand from a map of the segment's
/// `payloads.bin` (`on_disk_payload: true`): `rows + 1` u64 LE offsets, then the bodies.
#[derive(Clone)]
pub(crate) enum Payloads {
    Memory(Vec<Payload>),
    Mapped { map: Arc<Mmap>, rows: usize },
}

impl Payloads {
    /// Bytes the payloads take: the mapped file, or their JSON in memory.
    pub fn stored_bytes(&self) -> u64 {
        match self {
            Payloads::Memory(v) => v
                .iter()
                .map(|p| serde_json::to_vec(p).map_or(0, |b| b.len() as u64))
                .sum(),
            Payloads::Mapped { map, .. } => map.len() as u64,
        }
    }

    pub fn len(&self) -> usize {
        match self {
            Payloads::Memory(v) => v.len(),
            Payloads::Mapped { rows, .. } => *rows,
        }
    }

    pub fn get(&self, row: usize) -> Cow<'_, Payload> {
        match self {
            Payloads::Memory(v) => Cow::Borrowed(&v[row]),
            Payloads::Mapped { map, rows } => {
                let offset = |i: usize| {
                    u64::from_le_bytes(map[i * 8..i * 8 + 8].try_into().expect("8 bytes")) as usize
                };
                let header = (rows + 1) * 8;
                let body = &map[header + offset(row)..header + offset(row + 1)];
                // Mapping the file checked its checksum and offsets and decoded
                // every payload once (`read_segment_with`).
                Cow::Owned(
                    serde_json::from_slice(body)
                        .expect("a mapped payload decoded when its segment was read"),
                )
            }
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = Cow<'_, Payload>> + '_ {
        (0..self.len()).map(|row| self.get(row))
    }

    /// Lets the kernel drop this process's resident pages of mapped payloads.
    pub fn release_resident(&self) {
        if let Payloads::Mapped { map, .. } = self {
            release_pages(map);
        }
    }

    fn to_mut(&mut self) -> &mut Vec<Payload> {
        if let Payloads::Mapped { .. } = self {
            *self = Payloads::Memory(self.iter().map(Cow::into_owned).collect());
        }
        match self {
            Payloads::Memory(v) => v,
            Payloads::Mapped { .. } => unreachable!(),
        }
    }
}

impl Default for Payloads {
    fn default() -> Self {
        Payloads::Memory(Vec::new())
    }
}

impl std::fmt::Debug for Payloads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Payloads::Memory(v) => f.debug_list().entries(v).finish(),
            Payloads::Mapped { rows, .. } => write!(f, "Mapped({rows} payloads)"),
        }
    }
}

impl PartialEq for Payloads {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().zip(other.iter()).all(|(a, b)| a == b)
    }
}

/// The vectors of one name, `dim` floats per row; rows without the vector are zeros.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Column {
    pub dim: usize,
    pub data: Floats,
    pub present: Vec<bool>,
}

impl Column {
    pub fn new(dim: usize) -> Self {
        Self {
            dim,
            data: Floats::default(),
            present: Vec::new(),
        }
    }

    pub fn get(&self, row: usize) -> Option<&[f32]> {
        self.present[row].then(|| &self.data[row * self.dim..(row + 1) * self.dim])
    }

    fn set(&mut self, row: usize, vector: Option<&Vec<f32>>) {
        let slot = &mut self.data.to_mut()[row * self.dim..(row + 1) * self.dim];
        match vector {
            Some(v) => slot.copy_from_slice(v),
            None => slot.fill(0.0),
        }
        self.present[row] = vector.is_some();
    }

    fn push(&mut self, vector: Option<&Vec<f32>>) {
        let data = self.data.to_mut();
        data.resize(data.len() + self.dim, 0.0);
        self.present.push(false);
        self.set(self.present.len() - 1, vector);
    }
}

/// Vectors of one name whose size differs from row to row (sparse vectors,
/// sorted by index, and multi-vectors): each row's vector, or none.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct VaryingColumn {
    pub rows: Vec<Option<Vector>>,
}

impl VaryingColumn {
    pub fn get(&self, row: usize) -> Option<&Vector> {
        self.rows[row].as_ref()
    }
}

/// Which vectors a segment stores: fixed-size dense ones by name and size, the
/// others (sparse and multi-vectors) by name.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct VectorLayout {
    pub dense: BTreeMap<String, usize>,
    pub varying: BTreeSet<String>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct SegmentData {
    pub ids: Vec<PointId>,
    pub versions: Vec<u64>,
    pub columns: BTreeMap<String, Column>,
    pub varying: BTreeMap<String, VaryingColumn>,
    pub payloads: Payloads,
}

impl SegmentData {
    /// Lets the kernel drop this process's resident pages of every mapped column and
    /// of mapped payloads; what is in memory stays.
    pub fn release_resident(&self) {
        for column in self.columns.values() {
            column.data.release_resident();
        }
        self.payloads.release_resident();
    }

    /// Empty storage for the vectors of `layout`.
    pub fn new(layout: &VectorLayout) -> Self {
        Self {
            columns: layout
                .dense
                .iter()
                .map(|(name, dim)| (name.clone(), Column::new(*dim)))
                .collect(),
            varying: layout
                .varying
                .iter()
                .map(|name| (name.clone(), VaryingColumn::default()))
                .collect(),
            ..Default::default()
        }
    }

    /// Whether every vector stored here is one of `layout`'s (at its size).
    pub fn fits(&self, layout: &VectorLayout) -> bool {
        self.columns
            .iter()
            .all(|(name, c)| layout.dense.get(name) == Some(&c.dim))
            && self
                .varying
                .keys()
                .all(|name| layout.varying.contains(name))
    }

    /// Drops the vectors `layout` no longer has (or has at another size).
    pub fn retain_layout(&mut self, layout: &VectorLayout) {
        self.columns
            .retain(|name, c| layout.dense.get(name) == Some(&c.dim));
        self.varying.retain(|name, _| layout.varying.contains(name));
    }

    /// Storage for exactly `layout`'s vectors: extra ones dropped, new ones
    /// added as absent from every row.
    pub fn adopt_layout(&mut self, layout: &VectorLayout) {
        self.retain_layout(layout);
        let rows = self.len();
        for (name, dim) in &layout.dense {
            self.columns.entry(name.clone()).or_insert_with(|| Column {
                dim: *dim,
                data: Floats::Memory(vec![0.0; dim * rows]),
                present: vec![false; rows],
            });
        }
        for name in &layout.varying {
            self.varying
                .entry(name.clone())
                .or_insert_with(|| VaryingColumn {
                    rows: vec![None; rows],
                });
        }
    }

    pub fn layout(&self) -> VectorLayout {
        VectorLayout {
            dense: self
                .columns
                .iter()
                .map(|(name, c)| (name.clone(), c.dim))
                .collect(),
            varying: self.varying.keys().cloned().collect(),
        }
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Appends `p` as a new row and returns its offset.
    pub fn push(&mut self, p: &StoredPoint) -> usize {
        self.ids.push(p.id);
        self.versions.push(p.version);
        self.payloads.to_mut().push(p.payload.clone());
        for (name, column) in &mut self.columns {
            column.push(p.vectors.get(name).and_then(Vector::as_dense));
        }
        for (name, column) in &mut self.varying {
            column.rows.push(p.vectors.get(name).cloned());
        }
        self.ids.len() - 1
    }

    /// Replaces row `row` with `p`.
    pub fn set(&mut self, row: usize, p: &StoredPoint) {
        self.ids[row] = p.id;
        self.versions[row] = p.version;
        self.payloads.to_mut()[row] = p.payload.clone();
        for (name, column) in &mut self.columns {
            column.set(row, p.vectors.get(name).and_then(Vector::as_dense));
        }
        for (name, column) in &mut self.varying {
            column.rows[row] = p.vectors.get(name).cloned();
        }
    }

    pub fn payload(&self, row: usize) -> Cow<'_, Payload> {
        self.payloads.get(row)
    }

    pub fn vector(&self, row: usize, name: &str) -> Option<&[f32]> {
        self.columns.get(name)?.get(row)
    }

    /// The row's sparse or multi-vector called `name`.
    pub fn varying_vector(&self, row: usize, name: &str) -> Option<&Vector> {
        self.varying.get(name)?.get(row)
    }

    pub fn has_vector(&self, row: usize, name: &str) -> bool {
        self.columns.get(name).is_some_and(|c| c.present[row])
            || self.varying_vector(row, name).is_some()
    }

    pub fn vectors(&self, row: usize) -> NamedVectors {
        let dense = self
            .columns
            .iter()
            .filter_map(|(name, c)| Some((name.clone(), Vector::Dense(c.get(row)?.to_vec()))));
        let varying = self
            .varying
            .iter()
            .filter_map(|(name, c)| Some((name.clone(), c.get(row)?.clone())));
        dense.chain(varying).collect()
    }

    pub fn point(&self, row: usize) -> StoredPoint {
        StoredPoint {
            id: self.ids[row],
            version: self.versions[row],
            vectors: self.vectors(row),
            payload: self.payloads.get(row).into_owned(),
        }
    }

    /// The rows `rows`, in that order, as a new segment's storage.
    pub fn gather(&self, rows: impl IntoIterator<Item = usize>) -> SegmentData {
        let mut out = SegmentData::new(&self.layout());
        for row in rows {
            out.ids.push(self.ids[row]);
            out.versions.push(self.versions[row]);
            out.payloads
                .to_mut()
                .push(self.payloads.get(row).into_owned());
            for (name, column) in &self.columns {
                let target = out.columns.get_mut(name).expect("same names");
                target
                    .data
                    .to_mut()
                    .extend_from_slice(&column.data[row * column.dim..(row + 1) * column.dim]);
                target.present.push(column.present[row]);
            }
            for (name, column) in &self.varying {
                let target = out.varying.get_mut(name).expect("same names");
                target.rows.push(column.rows[row].clone());
            }
        }
        out
    }
}
