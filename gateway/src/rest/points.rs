//! Point endpoints: writes, retrieval, scroll and count.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::response::Response;
use serde_json::json;
use tessera_types::{
    PointId, ScrollRequest, ShardKeySelector, ShardOperation, TesseraError, WithPayload, WithVector,
};

use super::call::PointsCall;
use super::model::{
    from_value, parse_order_by, parse_upsert, read_options, take_shard_key, CountBody,
    DeletePayloadBody, DeleteVectorsBody, RetrieveBody, ScrollBody, Selector, SetPayloadBody,
    UpdateVectorsBody, WriteParams,
};
use super::{parse_body, Timer};
use crate::inference::{self, Unnamed};
use crate::service::Gateway;

/// Writes: `?wait=` and `?ordering=`, and a body of one kind (or a batch).
impl PointsCall {
    /// Parses the body as a `kind` write and runs it.
    async fn run(self, kind: WriteKind) -> Response {
        let timer = Timer::start();
        let outcome = async {
            let params = WriteParams::parse(&self.params)?;
            let body: serde_json::Value = parse_body(&self.body)?;
            let (operation, shard_key) = kind.parse(body)?;
            self.gateway
                .update_points(
                    &self.name,
                    operation,
                    shard_key.as_ref(),
                    params.wait,
                    params.ordering,
                )
                .await
        };
        timer.finish(outcome.await)
    }

    /// `POST .../points/batch`: `{"operations": [{"upsert": {...}}, ...]}`.
    /// Every operation is parsed before the first runs; they run in order.
    async fn run_batch(self) -> Response {
        let timer = Timer::start();
        let outcome = async {
            let params = WriteParams::parse(&self.params)?;
            let body: BatchBody = parse_body(&self.body)?;
            let operations = body
                .operations
                .into_iter()
                .enumerate()
                .map(|(i, op)| {
                    let serde_json::Value::Object(op) = op else {
                        return Err(TesseraError::bad_input(format!(
                            "operations[{i}]: expected an object naming one operation"
                        )));
                    };
                    let mut entries = op.into_iter();
                    match (entries.next(), entries.next()) {
                        (Some((name, body)), None) => WriteKind::named(&name)
                            .ok_or_else(|| {
                                TesseraError::bad_input(format!(
                                    "operations[{i}]: unknown operation `{name}`"
                                ))
                            })?
                            .parse(body),
                        _ => Err(TesseraError::bad_input(format!(
                            "operations[{i}]: expected an object naming one operation"
                        ))),
                    }
                })
                .collect::<Result<Vec<_>, TesseraError>>()?;
            let mut results = Vec::with_capacity(operations.len());
            for (operation, shard_key) in operations {
                results.push(
                    self.gateway
                        .update_points(
                            &self.name,
                            operation,
                            shard_key.as_ref(),
                            params.wait,
                            params.ordering,
                        )
                        .await?,
                );
            }
            Ok(results)
        };
        timer.finish(outcome.await)
    }
}

/// `POST /collections/{name}/points/batch`: each operation an object naming
/// one write, such as `{"upsert": {"points": [...]}}`.
#[derive(serde::Deserialize, schemars::JsonSchema)]
pub struct BatchBody {
    operations: Vec<serde_json::Value>,
}

/// The point writes, each with its body's shape.
#[derive(Debug, Clone, Copy)]
enum WriteKind {
    Upsert,
    Delete,
    SetPayload,
    OverwritePayload,
    DeletePayload,
    ClearPayload,
    UpdateVectors,
    DeleteVectors,
}

impl WriteKind {
    /// The write a `points/batch` operation names.
    fn named(name: &str) -> Option<WriteKind> {
        Some(match name {
            "upsert" => WriteKind::Upsert,
            "delete" => WriteKind::Delete,
            "set_payload" => WriteKind::SetPayload,
            "overwrite_payload" => WriteKind::OverwritePayload,
            "delete_payload" => WriteKind::DeletePayload,
            "clear_payload" => WriteKind::ClearPayload,
            "update_vectors" => WriteKind::UpdateVectors,
            "delete_vectors" => WriteKind::DeleteVectors,
            _ => return None,
        })
    }

    /// The operation and shard key of a body of this kind. The shard key is
    /// taken off the parsed value, so the body is parsed once.
    fn parse(
        self,
        mut body: serde_json::Value,
    ) -> Result<(ShardOperation, Option<ShardKeySelector>), TesseraError> {
        let shard_key = take_shard_key(&mut body)?;
        let operation = match self {
            WriteKind::Upsert => {
                inference::embed_write_body(&mut body, Unnamed::Point)?;
                parse_upsert(body)?
            }
            WriteKind::Delete => ShardOperation::Delete(from_value::<Selector>(body)?.selection()?),
            WriteKind::SetPayload => {
                let b: SetPayloadBody = from_value(body)?;
                ShardOperation::SetPayload {
                    payload: b.payload,
                    selection: b.selector.selection()?,
                    key: b.key,
                }
            }
            WriteKind::OverwritePayload => {
                let b: SetPayloadBody = from_value(body)?;
                ShardOperation::OverwritePayload {
                    payload: b.payload,
                    selection: b.selector.selection()?,
                }
            }
            WriteKind::DeletePayload => {
                let b: DeletePayloadBody = from_value(body)?;
                ShardOperation::DeletePayload {
                    keys: b.keys,
                    selection: b.selector.selection()?,
                }
            }
            WriteKind::ClearPayload => {
                ShardOperation::ClearPayload(from_value::<Selector>(body)?.selection()?)
            }
            WriteKind::UpdateVectors => {
                inference::embed_write_body(&mut body, Unnamed::PointVectors)?;
                let b: UpdateVectorsBody = from_value(body)?;
                ShardOperation::update_vectors(
                    b.points
                        .into_iter()
                        .map(|p| (p.id, p.vector.into_named()))
                        .collect(),
                    b.update_filter,
                )
            }
            WriteKind::DeleteVectors => {
                let b: DeleteVectorsBody = from_value(body)?;
                ShardOperation::DeleteVectors {
                    names: b.vector,
                    selection: b.selector.selection()?,
                }
            }
        };
        Ok((operation, shard_key))
    }
}

pub async fn upsert(call: PointsCall) -> Response {
    call.run(WriteKind::Upsert).await
}

pub async fn delete(call: PointsCall) -> Response {
    call.run(WriteKind::Delete).await
}

pub async fn set_payload(call: PointsCall) -> Response {
    call.run(WriteKind::SetPayload).await
}

pub async fn overwrite_payload(call: PointsCall) -> Response {
    call.run(WriteKind::OverwritePayload).await
}

pub async fn delete_payload(call: PointsCall) -> Response {
    call.run(WriteKind::DeletePayload).await
}

pub async fn clear_payload(call: PointsCall) -> Response {
    call.run(WriteKind::ClearPayload).await
}

pub async fn update_vectors(call: PointsCall) -> Response {
    call.run(WriteKind::UpdateVectors).await
}

pub async fn delete_vectors(call: PointsCall) -> Response {
    call.run(WriteKind::DeleteVectors).await
}

pub async fn batch(call: PointsCall) -> Response {
    call.run_batch().await
}

pub async fn retrieve(call: PointsCall) -> Response {
    call.read(|gateway, name, b: RetrieveBody, read| async move {
        gateway
            .retrieve_points(
                &name,
                &b.ids,
                // Qdrant's retrieve leaves the payload out unless asked.
                &b.with_payload.unwrap_or(WithPayload::Enable(false)),
                &b.with_vector.unwrap_or_default(),
                &read,
            )
            .await
    })
    .await
}

pub async fn retrieve_one(
    State(gateway): State<Gateway>,
    Path((name, id)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let timer = Timer::start();
    let outcome = async {
        let read = read_options(&query, None)?;
        let id = PointId::parse_str(&id)?;
        gateway
            .retrieve_points(
                &name,
                &[id],
                &WithPayload::Enable(true),
                &WithVector::Enable(true),
                &read,
            )
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| TesseraError::not_found(format!("No point with id {id} found")))
    };
    timer.finish(outcome.await)
}

pub async fn scroll(call: PointsCall) -> Response {
    call.read(|gateway, name, b: ScrollBody, read| async move {
        let order_by = parse_order_by(b.order_by)?;
        let limit = b.limit.unwrap_or(10);
        if limit == 0 {
            return Err(TesseraError::validation(
                "[limit: value 0 invalid, must be 1 or more]",
            ));
        }
        gateway
            .scroll(
                &name,
                ScrollRequest {
                    offset: b.offset,
                    limit,
                    filter: b.filter,
                    with_payload: b.with_payload.unwrap_or(WithPayload::Enable(true)),
                    with_vector: b.with_vector.unwrap_or_default(),
                    order_by,
                },
                &read,
            )
            .await
    })
    .await
}

pub async fn count(call: PointsCall) -> Response {
    call.read(|gateway, name, b: CountBody, read| async move {
        let count = gateway.count(&name, b.filter, &read).await?;
        Ok(json!({ "count": count }))
    })
    .await
}
