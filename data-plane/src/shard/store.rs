//! The shard's points and how each operation changes them.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use tessera_types::{NamedVectors, Payload, PointId, PointSelection, ShardOperation};

use super::payload;
use super::ShardError;
use crate::filter::{self, path::JsonPath};

pub(crate) struct StoredPoint {
    /// Sequence number of the last operation that wrote the point.
    pub version: u64,
    pub vectors: NamedVectors,
    pub payload: Payload,
}

#[derive(Default)]
pub(crate) struct PointStore {
    pub points: BTreeMap<PointId, StoredPoint>,
    /// Points holding a vector of each name.
    vector_counts: HashMap<String, usize>,
}

/// Points whose vector of a given name was written or removed.
pub(crate) type Touched = BTreeMap<String, BTreeSet<PointId>>;

/// What an operation resolves to against the current state. Computed before the operation
/// is logged (so bad input is rejected first) and again on replay, from the same state.
pub(crate) struct Plan {
    /// Existing points a selection names.
    targets: Vec<PointId>,
    /// `set_payload`'s key, or `delete_payload`'s keys.
    paths: Vec<JsonPath>,
}

fn parse_path(key: &str) -> Result<JsonPath, ShardError> {
    JsonPath::parse(key).map_err(ShardError::BadInput)
}

impl PointStore {
    pub fn vector_count(&self, name: &str) -> usize {
        self.vector_counts.get(name).copied().unwrap_or(0)
    }

    pub fn plan(&self, op: &ShardOperation) -> Result<Plan, ShardError> {
        let mut plan = Plan {
            targets: Vec::new(),
            paths: Vec::new(),
        };
        match op {
            ShardOperation::Upsert(_) => {}
            ShardOperation::UpdateVectors(updates) => {
                if let Some((id, _)) = updates.iter().find(|(id, _)| !self.points.contains_key(id))
                {
                    return Err(ShardError::BadInput(format!("No point with id {id} found")));
                }
            }
            ShardOperation::SetPayload { selection, key, .. } => {
                plan.targets = self.select(selection)?;
                plan.paths = key
                    .iter()
                    .map(|k| parse_path(k))
                    .collect::<Result<_, _>>()?;
            }
            ShardOperation::DeletePayload { keys, selection } => {
                plan.targets = self.select(selection)?;
                plan.paths = keys
                    .iter()
                    .map(|k| parse_path(k))
                    .collect::<Result<_, _>>()?;
            }
            ShardOperation::Delete(selection)
            | ShardOperation::OverwritePayload { selection, .. }
            | ShardOperation::ClearPayload(selection)
            | ShardOperation::DeleteVectors { selection, .. } => {
                plan.targets = self.select(selection)?;
            }
        }
        Ok(plan)
    }

    fn select(&self, selection: &PointSelection) -> Result<Vec<PointId>, ShardError> {
        Ok(match selection {
            PointSelection::Ids(ids) => ids
                .iter()
                .filter(|id| self.points.contains_key(id))
                .copied()
                .collect(),
            PointSelection::Filter(f) => {
                let f = filter::compile(f)?;
                self.points
                    .iter()
                    .filter(|(id, p)| f.matches(**id, &p.payload, &p.vectors))
                    .map(|(id, _)| *id)
                    .collect()
            }
        })
    }

    /// Applies a planned operation as sequence number `seq`; returns whose vectors changed.
    pub fn apply(&mut self, seq: u64, op: ShardOperation, plan: Plan) -> Touched {
        let mut touched = Touched::new();
        let counts = &mut self.vector_counts;
        let mut track = |name: &str, id: PointId, delta: isize| {
            touched.entry(name.to_string()).or_default().insert(id);
            let count = counts.entry(name.to_string()).or_default();
            *count = count.saturating_add_signed(delta);
        };
        let targets = plan.targets.as_slice();
        match op {
            ShardOperation::Upsert(points) => {
                for p in points {
                    for name in p.vectors.keys() {
                        track(name, p.id, 1);
                    }
                    let stored = StoredPoint {
                        version: seq,
                        vectors: p.vectors,
                        payload: p.payload,
                    };
                    if let Some(old) = self.points.insert(p.id, stored) {
                        for name in old.vectors.keys() {
                            track(name, p.id, -1);
                        }
                    }
                }
            }
            ShardOperation::Delete(_) => {
                for id in targets {
                    if let Some(old) = self.points.remove(id) {
                        for name in old.vectors.keys() {
                            track(name, *id, -1);
                        }
                    }
                }
            }
            ShardOperation::UpdateVectors(updates) => {
                for (id, vectors) in updates {
                    if let Some(point) = self.points.get_mut(&id) {
                        for (name, vector) in vectors {
                            let added = point.vectors.insert(name.clone(), vector).is_none();
                            track(&name, id, isize::from(added));
                        }
                        point.version = seq;
                    }
                }
            }
            ShardOperation::SetPayload { payload, .. } => {
                edit(&mut self.points, targets, seq, |_, p| {
                    payload::merge(&mut p.payload, plan.paths.first(), &payload)
                })
            }
            ShardOperation::OverwritePayload { payload, .. } => {
                edit(&mut self.points, targets, seq, |_, p| {
                    p.payload = payload.clone()
                })
            }
            ShardOperation::DeletePayload { .. } => edit(&mut self.points, targets, seq, |_, p| {
                for path in &plan.paths {
                    payload::remove(&mut p.payload, path);
                }
            }),
            ShardOperation::ClearPayload(_) => {
                edit(&mut self.points, targets, seq, |_, p| p.payload.clear())
            }
            ShardOperation::DeleteVectors { names, .. } => {
                edit(&mut self.points, targets, seq, |id, p| {
                    for name in &names {
                        if p.vectors.remove(name).is_some() {
                            track(name, id, -1);
                        }
                    }
                })
            }
        }
        touched
    }
}

/// Runs `f` on each existing target and stamps it with the operation's sequence number.
fn edit(
    points: &mut BTreeMap<PointId, StoredPoint>,
    targets: &[PointId],
    seq: u64,
    mut f: impl FnMut(PointId, &mut StoredPoint),
) {
    for id in targets {
        if let Some(point) = points.get_mut(id) {
            f(*id, point);
            point.version = seq;
        }
    }
}
