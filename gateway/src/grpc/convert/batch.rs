//! `UpdateBatch`: each operation of a batch as the write it stands for.

use super::*;

/// One batch operation and the shard keys it names.
pub fn batch_operation_from_proto(
    op: q::PointsUpdateOperation,
) -> Result<(t::ShardOperation, Option<q::ShardKeySelector>)> {
    use q::points_update_operation::Operation as O;
    Ok(match op.operation {
        Some(O::Upsert(list)) => {
            let points = list
                .points
                .into_iter()
                .map(point_from_proto)
                .collect::<Result<_>>()?;
            let upsert = t::ShardOperation::upsert(
                points,
                list.update_mode.map(update_mode_from_proto).transpose()?,
                optional_filter_from_proto(list.update_filter)?,
            );
            (upsert, list.shard_key_selector)
        }
        Some(O::DeleteDeprecated(selector)) => (
            t::ShardOperation::Delete(points_selector_from_proto(Some(selector))?),
            None,
        ),
        Some(O::DeletePoints(d)) => (
            t::ShardOperation::Delete(points_selector_from_proto(d.points)?),
            d.shard_key_selector,
        ),
        Some(O::SetPayload(s)) => (
            t::ShardOperation::SetPayload {
                payload: payload_from_proto(s.payload)?,
                selection: points_selector_from_proto(s.points_selector)?,
                key: s.key,
            },
            s.shard_key_selector,
        ),
        Some(O::OverwritePayload(s)) => (
            t::ShardOperation::OverwritePayload {
                payload: payload_from_proto(s.payload)?,
                selection: points_selector_from_proto(s.points_selector)?,
            },
            s.shard_key_selector,
        ),
        Some(O::DeletePayload(d)) => (
            t::ShardOperation::DeletePayload {
                keys: d.keys,
                selection: points_selector_from_proto(d.points_selector)?,
            },
            d.shard_key_selector,
        ),
        Some(O::ClearPayloadDeprecated(selector)) => (
            t::ShardOperation::ClearPayload(points_selector_from_proto(Some(selector))?),
            None,
        ),
        Some(O::ClearPayload(c)) => (
            t::ShardOperation::ClearPayload(points_selector_from_proto(c.points)?),
            c.shard_key_selector,
        ),
        Some(O::UpdateVectors(u)) => {
            let points = u
                .points
                .into_iter()
                .map(point_vectors_from_proto)
                .collect::<Result<_>>()?;
            let update = t::ShardOperation::update_vectors(
                points,
                optional_filter_from_proto(u.update_filter)?,
            );
            (update, u.shard_key_selector)
        }
        Some(O::DeleteVectors(d)) => (
            t::ShardOperation::DeleteVectors {
                names: d
                    .vectors
                    .ok_or_else(|| bad_input("Vector names are missing"))?
                    .names,
                selection: points_selector_from_proto(d.points_selector)?,
            },
            d.shard_key_selector,
        ),
        None => return Err(bad_input("A batch operation names no operation")),
    })
}
