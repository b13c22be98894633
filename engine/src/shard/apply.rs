//! How each operation changes the shard's segments.
//!
//! Every point has at most one live copy. A write to a point of an immutable segment
//! copies the new state into the appendable segment and only then masks the old row, so
//! a concurrent reader sees at least one copy (readers keep the newer of two).

use std::collections::BTreeMap;

use tessera_types::{PointId, PointSelection, ShardOperation, UpdateMode};

use super::payload;
use super::{Segments, ShardError};
use crate::filter::{self, path::JsonPath, CompiledFilter};
use crate::segment::{Appendable, ImmutableSegment, StoredPoint};
use tessera_types::Point;

/// What an operation resolves to against the current state. Computed before the operation
/// is logged (so bad input is rejected first) and again on replay, from the same state.
pub(crate) struct Plan {
    /// Existing points a selection names; for a conditional upsert, the points
    /// it writes.
    targets: Vec<PointId>,
    /// `set_payload`'s key, or `delete_payload`'s keys.
    paths: Vec<JsonPath>,
}

fn parse_path(key: &str) -> Result<JsonPath, ShardError> {
    JsonPath::parse(key).map_err(ShardError::BadInput)
}

/// Where a point's live copy is.
enum Location {
    Appendable(usize),
    Sealed(usize, usize),
}

fn locate(
    app: &Appendable,
    sealed: &[std::sync::Arc<ImmutableSegment>],
    id: &PointId,
) -> Option<Location> {
    if let Some(row) = app.get(id) {
        return Some(Location::Appendable(row));
    }
    sealed
        .iter()
        .enumerate()
        .find_map(|(i, s)| Some(Location::Sealed(i, s.locate(id)?)))
}

/// Whether the live copy of `id` matches `filter`.
fn point_matches(
    app: &Appendable,
    sealed: &[std::sync::Arc<ImmutableSegment>],
    id: &PointId,
    filter: &CompiledFilter,
) -> bool {
    let (data, row) = match locate(app, sealed, id) {
        Some(Location::Appendable(row)) => (&app.data, row),
        Some(Location::Sealed(i, row)) => (&sealed[i].data, row),
        None => return false,
    };
    filter.matches(*id, &data.payload(row), &|n| data.has_vector(row, n))
}

/// Live points matching `filter`, in no particular order.
pub(crate) fn select_by_filter(
    app: &Appendable,
    sealed: &[std::sync::Arc<ImmutableSegment>],
    filter: &CompiledFilter,
) -> Vec<PointId> {
    let mut out: Vec<PointId> = app
        .live_rows()
        .filter(|row| {
            let data = &app.data;
            filter.matches(data.ids[*row], &data.payload(*row), &|n| {
                data.has_vector(*row, n)
            })
        })
        .map(|row| app.data.ids[row])
        .collect();
    for s in sealed {
        out.extend(
            s.live_rows()
                .filter(|row| {
                    let data = &s.data;
                    filter.matches(data.ids[*row], &data.payload(*row), &|n| {
                        data.has_vector(*row, n)
                    })
                })
                .map(|row| s.data.ids[row]),
        );
    }
    out
}

pub(crate) fn plan(segments: &Segments, op: &ShardOperation) -> Result<Plan, ShardError> {
    let app = segments.appendable.read();
    let sealed = &segments.sealed;
    let exists = |id: &PointId| locate(&app, sealed, id).is_some();
    let select = |selection: &PointSelection| -> Result<Vec<PointId>, ShardError> {
        Ok(match selection {
            PointSelection::Ids(ids) => ids.iter().filter(|id| exists(id)).copied().collect(),
            PointSelection::Filter(f) => select_by_filter(&app, sealed, &filter::compile(f)?),
        })
    };
    let mut plan = Plan {
        targets: Vec::new(),
        paths: Vec::new(),
    };
    match op {
        ShardOperation::Upsert(_) => {}
        ShardOperation::ConditionalUpsert {
            points,
            mode,
            update_filter,
        } => {
            let filter = update_filter.as_ref().map(filter::compile).transpose()?;
            plan.targets = points
                .iter()
                .map(|p| p.id)
                .filter(|id| match (exists(id), mode) {
                    (true, UpdateMode::InsertOnly) | (false, UpdateMode::UpdateOnly) => false,
                    (false, _) => true,
                    (true, _) => filter
                        .as_ref()
                        .is_none_or(|f| point_matches(&app, sealed, id, f)),
                })
                .collect();
        }
        ShardOperation::UpdateVectors(updates) => {
            if let Some((id, _)) = updates.iter().find(|(id, _)| !exists(id)) {
                return Err(ShardError::NotFound(format!("No point with id {id} found")));
            }
        }
        ShardOperation::ConditionalUpdateVectors {
            points,
            update_filter,
        } => {
            // Points missing or not matching keep their current state.
            let filter = filter::compile(update_filter)?;
            plan.targets = points
                .iter()
                .map(|(id, _)| *id)
                .filter(|id| point_matches(&app, sealed, id, &filter))
                .collect();
        }
        ShardOperation::SetPayload { selection, key, .. } => {
            plan.targets = select(selection)?;
            plan.paths = key
                .iter()
                .map(|k| parse_path(k))
                .collect::<Result<_, _>>()?;
        }
        ShardOperation::DeletePayload { keys, selection } => {
            plan.targets = select(selection)?;
            plan.paths = keys
                .iter()
                .map(|k| parse_path(k))
                .collect::<Result<_, _>>()?;
        }
        ShardOperation::Delete(selection)
        | ShardOperation::OverwritePayload { selection, .. }
        | ShardOperation::ClearPayload(selection)
        | ShardOperation::DeleteVectors { selection, .. } => {
            plan.targets = select(selection)?;
        }
    }
    Ok(plan)
}

/// Applies a planned operation as sequence number `seq`.
pub(crate) fn apply(segments: &Segments, seq: u64, op: ShardOperation, plan: Plan) {
    let sealed = &segments.sealed;
    // Rows of immutable segments whose point was rewritten or deleted, masked once the
    // appendable segment holds the new state.
    let mut retire: Vec<(usize, usize)> = Vec::new();
    {
        let mut app = segments.appendable.write();
        // Runs `f` on the current state of each target; `None` from `f` deletes the point.
        let mut rewrite =
            |app: &mut Appendable,
             targets: &[PointId],
             f: &mut dyn FnMut(StoredPoint) -> Option<StoredPoint>| {
                for id in targets {
                    let current = match locate(app, sealed, id) {
                        Some(Location::Appendable(row)) => app.data.point(row),
                        Some(Location::Sealed(i, row)) => {
                            retire.push((i, row));
                            sealed[i].data.point(row)
                        }
                        None => continue,
                    };
                    match f(current) {
                        Some(mut next) => {
                            next.version = seq;
                            app.upsert(&next);
                        }
                        None => {
                            app.remove(id);
                        }
                    }
                }
            };
        let targets = plan.targets.as_slice();
        let upsert = |app: &mut Appendable, retire: &mut Vec<(usize, usize)>, p: Point| {
            if let Some(Location::Sealed(i, row)) = locate(app, sealed, &p.id) {
                retire.push((i, row));
            }
            app.upsert(&StoredPoint {
                id: p.id,
                version: seq,
                vectors: p.vectors,
                payload: p.payload,
            });
        };
        match op {
            ShardOperation::ConditionalUpsert { points, .. } => {
                for p in points.into_iter().filter(|p| targets.contains(&p.id)) {
                    upsert(&mut app, &mut retire, p);
                }
            }
            ShardOperation::Upsert(points) => {
                for p in points {
                    upsert(&mut app, &mut retire, p);
                }
            }
            ShardOperation::Delete(_) => rewrite(&mut app, targets, &mut |_| None),
            ShardOperation::UpdateVectors(updates) => {
                let by_id = updates_by_point(updates);
                let ids: Vec<PointId> = by_id.keys().copied().collect();
                rewrite(&mut app, &ids, &mut |mut p| {
                    p.vectors.extend(by_id[&p.id].clone());
                    Some(p)
                });
            }
            ShardOperation::ConditionalUpdateVectors { points, .. } => {
                let by_id = updates_by_point(points);
                rewrite(&mut app, targets, &mut |mut p| {
                    p.vectors.extend(by_id[&p.id].clone());
                    Some(p)
                });
            }
            ShardOperation::SetPayload { payload, .. } => {
                rewrite(&mut app, targets, &mut |mut p| {
                    payload::merge(&mut p.payload, plan.paths.first(), &payload);
                    Some(p)
                })
            }
            ShardOperation::OverwritePayload { payload, .. } => {
                rewrite(&mut app, targets, &mut |mut p| {
                    p.payload = payload.clone();
                    Some(p)
                })
            }
            ShardOperation::DeletePayload { .. } => rewrite(&mut app, targets, &mut |mut p| {
                for path in &plan.paths {
                    payload::remove(&mut p.payload, path);
                }
                Some(p)
            }),
            ShardOperation::ClearPayload(_) => rewrite(&mut app, targets, &mut |mut p| {
                p.payload.clear();
                Some(p)
            }),
            ShardOperation::DeleteVectors { names, .. } => {
                rewrite(&mut app, targets, &mut |mut p| {
                    for name in &names {
                        p.vectors.remove(name);
                    }
                    Some(p)
                })
            }
        }
    }
    for (i, row) in retire {
        sealed[i].delete(row);
    }
}

/// Vector updates by point, in order: a point named twice in one batch gets
/// both updates, the later one winning for a vector both set (Qdrant #3376).
fn updates_by_point(
    updates: Vec<(PointId, tessera_types::NamedVectors)>,
) -> BTreeMap<PointId, tessera_types::NamedVectors> {
    let mut by_id: BTreeMap<PointId, tessera_types::NamedVectors> = BTreeMap::new();
    for (id, vectors) in updates {
        by_id.entry(id).or_default().extend(vectors);
    }
    by_id
}
