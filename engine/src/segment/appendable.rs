//! The segment writes land in: rows updated in place, freed rows reused, searched by
//! exact scan. The optimizer seals it into an immutable segment once it is large.

use std::collections::BTreeMap;
use std::time::Instant;

use tessera_types::PointId;

use super::data::{SegmentData, StoredPoint, VectorLayout};

#[derive(Debug, Clone, Default)]
pub(crate) struct Appendable {
    pub data: SegmentData,
    /// Live points, ordered for scrolling.
    index: BTreeMap<PointId, usize>,
    free: Vec<usize>,
    /// Whether each row holds a live point; lets scans skip freed rows without lookups.
    live: Vec<bool>,
    /// Live vectors of each name.
    vector_counts: BTreeMap<String, usize>,
    /// When a point was last written or removed here.
    last_write: Option<Instant>,
}

impl Appendable {
    pub fn new(layout: &VectorLayout) -> Self {
        Self {
            data: SegmentData::new(layout),
            ..Default::default()
        }
    }

    /// Every row of `data` as live points (rows must have distinct ids). The
    /// rows are taken as they are, not copied: a reopened shard's appendable
    /// segment costs its size once.
    pub fn from_data(data: SegmentData) -> Self {
        let rows = data.len();
        let mut segment = Self {
            index: data
                .ids
                .iter()
                .enumerate()
                .map(|(row, id)| (*id, row))
                .collect(),
            live: vec![true; rows],
            last_write: (rows > 0).then(Instant::now),
            data,
            ..Default::default()
        };
        for row in 0..rows {
            segment.count(row, 1);
        }
        segment
    }

    /// Takes the collection's current vectors: new names start absent from
    /// every row, removed ones are dropped.
    pub fn adopt_layout(&mut self, layout: &VectorLayout) {
        self.data.adopt_layout(layout);
        let names = self.data.layout();
        self.vector_counts
            .retain(|name, _| names.dense.contains_key(name) || names.varying.contains(name));
    }

    pub fn get(&self, id: &PointId) -> Option<usize> {
        self.index.get(id).copied()
    }

    pub fn is_live(&self, row: usize) -> bool {
        self.live[row]
    }

    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn vector_count(&self, name: &str) -> usize {
        self.vector_counts.get(name).copied().unwrap_or(0)
    }

    /// Vectors of each name.
    pub fn vector_counts(&self) -> impl Iterator<Item = (&str, usize)> + '_ {
        self.vector_counts
            .iter()
            .map(|(name, n)| (name.as_str(), *n))
    }

    fn count(&mut self, row: usize, delta: isize) {
        let dense = self
            .data
            .columns
            .iter()
            .filter(|(_, c)| c.present[row])
            .map(|(name, _)| name);
        let varying = self
            .data
            .varying
            .iter()
            .filter(|(_, c)| c.rows[row].is_some())
            .map(|(name, _)| name);
        for name in dense.chain(varying) {
            let n = self.vector_counts.entry(name.clone()).or_default();
            *n = n.saturating_add_signed(delta);
        }
    }

    /// Writes `p`, replacing the point's previous row if it has one.
    pub fn upsert(&mut self, p: &StoredPoint) {
        self.last_write = Some(Instant::now());
        match self.index.get(&p.id) {
            Some(&row) => {
                self.count(row, -1);
                self.data.set(row, p);
                self.count(row, 1);
            }
            None => {
                let row = match self.free.pop() {
                    Some(row) => {
                        self.data.set(row, p);
                        self.live[row] = true;
                        row
                    }
                    None => {
                        self.live.push(true);
                        self.data.push(p)
                    }
                };
                self.index.insert(p.id, row);
                self.count(row, 1);
            }
        }
    }

    pub fn remove(&mut self, id: &PointId) -> bool {
        match self.index.remove(id) {
            Some(row) => {
                self.last_write = Some(Instant::now());
                self.count(row, -1);
                self.live[row] = false;
                self.free.push(row);
                true
            }
            None => false,
        }
    }

    /// Live (id, row) pairs from `from` on, in id order.
    pub fn live_from(&self, from: PointId) -> impl Iterator<Item = (PointId, usize)> + '_ {
        self.index.range(from..).map(|(id, row)| (*id, *row))
    }

    pub fn live_rows(&self) -> impl Iterator<Item = usize> + '_ {
        self.index.values().copied()
    }

    /// How long no point has been written or removed here (None: never written).
    pub fn resting_for(&self) -> Option<std::time::Duration> {
        self.last_write.map(|at| at.elapsed())
    }

    /// The live points alone, in id order.
    pub fn compact(&self) -> SegmentData {
        self.data.gather(self.index.values().copied())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_types::NamedVectors;

    fn p(id: u64, v: Option<f32>) -> StoredPoint {
        StoredPoint {
            id: PointId::Num(id),
            version: id,
            vectors: v
                .map(|x| NamedVectors::from([(String::new(), vec![x, x].into())]))
                .unwrap_or_default(),
            payload: Default::default(),
        }
    }

    #[test]
    fn rows_are_replaced_freed_and_reused() {
        let mut a = Appendable::new(&VectorLayout {
            dense: BTreeMap::from([(String::new(), 2)]),
            ..Default::default()
        });
        a.upsert(&p(3, Some(1.0)));
        a.upsert(&p(1, Some(2.0)));
        a.upsert(&p(3, None));
        assert_eq!(a.len(), 2);
        assert_eq!(a.vector_count(""), 1);
        assert!(a.remove(&PointId::Num(1)));
        assert!(!a.remove(&PointId::Num(1)));
        a.upsert(&p(7, Some(5.0)));
        assert_eq!(a.data.len(), 2, "the freed row is reused");
        let compact = a.compact();
        assert_eq!(compact.ids, vec![PointId::Num(3), PointId::Num(7)]);
        assert_eq!(compact.vector(1, ""), Some(&[5.0, 5.0][..]));
        assert_eq!(compact.vector(0, ""), None);
        let back = Appendable::from_data(compact);
        assert_eq!(back.len(), 2);
        assert_eq!(back.vector_count(""), 1);
    }
}
