//! Columnar point storage shared by both kinds of segment: one row (offset) per point.

use std::collections::BTreeMap;

use tessera_types::{NamedVectors, Payload, PointId};

/// A point as the engine stores it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StoredPoint {
    pub id: PointId,
    /// Sequence number of the last operation that wrote the point.
    pub version: u64,
    pub vectors: NamedVectors,
    pub payload: Payload,
}

/// The vectors of one name, `dim` floats per row; rows without the vector are zeros.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Column {
    pub dim: usize,
    pub data: Vec<f32>,
    pub present: Vec<bool>,
}

impl Column {
    pub fn new(dim: usize) -> Self {
        Self {
            dim,
            data: Vec::new(),
            present: Vec::new(),
        }
    }

    pub fn get(&self, row: usize) -> Option<&[f32]> {
        self.present[row].then(|| &self.data[row * self.dim..(row + 1) * self.dim])
    }

    fn set(&mut self, row: usize, vector: Option<&Vec<f32>>) {
        let slot = &mut self.data[row * self.dim..(row + 1) * self.dim];
        match vector {
            Some(v) => slot.copy_from_slice(v),
            None => slot.fill(0.0),
        }
        self.present[row] = vector.is_some();
    }

    fn push(&mut self, vector: Option<&Vec<f32>>) {
        self.data.resize(self.data.len() + self.dim, 0.0);
        self.present.push(false);
        self.set(self.present.len() - 1, vector);
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct SegmentData {
    pub ids: Vec<PointId>,
    pub versions: Vec<u64>,
    pub columns: BTreeMap<String, Column>,
    pub payloads: Vec<Payload>,
}

impl SegmentData {
    /// Empty storage for vectors of the given names and sizes.
    pub fn new(dims: &BTreeMap<String, usize>) -> Self {
        Self {
            columns: dims
                .iter()
                .map(|(name, dim)| (name.clone(), Column::new(*dim)))
                .collect(),
            ..Default::default()
        }
    }

    pub fn dims(&self) -> BTreeMap<String, usize> {
        self.columns
            .iter()
            .map(|(name, c)| (name.clone(), c.dim))
            .collect()
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Appends `p` as a new row and returns its offset.
    pub fn push(&mut self, p: &StoredPoint) -> usize {
        self.ids.push(p.id);
        self.versions.push(p.version);
        self.payloads.push(p.payload.clone());
        for (name, column) in &mut self.columns {
            column.push(p.vectors.get(name));
        }
        self.ids.len() - 1
    }

    /// Replaces row `row` with `p`.
    pub fn set(&mut self, row: usize, p: &StoredPoint) {
        self.ids[row] = p.id;
        self.versions[row] = p.version;
        self.payloads[row] = p.payload.clone();
        for (name, column) in &mut self.columns {
            column.set(row, p.vectors.get(name));
        }
    }

    pub fn vector(&self, row: usize, name: &str) -> Option<&[f32]> {
        self.columns.get(name)?.get(row)
    }

    pub fn has_vector(&self, row: usize, name: &str) -> bool {
        self.columns.get(name).is_some_and(|c| c.present[row])
    }

    pub fn vectors(&self, row: usize) -> NamedVectors {
        self.columns
            .iter()
            .filter_map(|(name, c)| Some((name.clone(), c.get(row)?.to_vec())))
            .collect()
    }

    pub fn point(&self, row: usize) -> StoredPoint {
        StoredPoint {
            id: self.ids[row],
            version: self.versions[row],
            vectors: self.vectors(row),
            payload: self.payloads[row].clone(),
        }
    }

    /// The rows `rows`, in that order, as a new segment's storage.
    pub fn gather(&self, rows: impl IntoIterator<Item = usize>) -> SegmentData {
        let mut out = SegmentData::new(&self.dims());
        for row in rows {
            out.ids.push(self.ids[row]);
            out.versions.push(self.versions[row]);
            out.payloads.push(self.payloads[row].clone());
            for (name, column) in &self.columns {
                let target = out.columns.get_mut(name).expect("same names");
                target
                    .data
                    .extend_from_slice(&column.data[row * column.dim..(row + 1) * column.dim]);
                target.present.push(column.present[row]);
            }
        }
        out
    }
}
