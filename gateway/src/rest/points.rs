//! Point endpoints: writes, retrieval, scroll and count.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request, State};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde_json::json;
use tessera_types::{
    PointId, ScrollRequest, ShardOperation, TesseraError, WithPayload, WithVector,
};

use super::model::{
    from_value, parse_insert, read_options, take_shard_key, CountBody, DeletePayloadBody,
    DeleteVectorsBody, RetrieveBody, ScrollBody, Selector, SetPayloadBody, UpdateVectorsBody,
    WriteParams,
};
use super::{parse_body, Timer};
use crate::service::Gateway;

/// A write: the collection, `?wait=` / `?ordering=` and the JSON body.
pub struct WriteCall {
    gateway: Gateway,
    name: String,
    params: HashMap<String, String>,
    body: Bytes,
}

impl FromRequest<Gateway> for WriteCall {
    type Rejection = Response;

    async fn from_request(request: Request, gateway: &Gateway) -> Result<Self, Response> {
        let (mut parts, body) = request.into_parts();
        let Path(name) = Path::<String>::from_request_parts(&mut parts, gateway)
            .await
            .map_err(IntoResponse::into_response)?;
        let Query(params) =
            Query::<HashMap<String, String>>::from_request_parts(&mut parts, gateway)
                .await
                .map_err(IntoResponse::into_response)?;
        let body = Bytes::from_request(Request::from_parts(parts, body), gateway)
            .await
            .map_err(IntoResponse::into_response)?;
        Ok(WriteCall {
            gateway: gateway.clone(),
            name,
            params,
            body,
        })
    }
}

impl WriteCall {
    /// Parses the body as `B`, builds the operation from it and runs it.
    async fn run<B: DeserializeOwned>(
        self,
        build: impl FnOnce(B) -> Result<ShardOperation, TesseraError>,
    ) -> Response {
        let timer = Timer::start();
        let outcome = async {
            let params = WriteParams::parse(&self.params)?;
            // One parse of the body: the shard key comes off the parsed value.
            let mut body: serde_json::Value = parse_body(&self.body)?;
            let shard_key = take_shard_key(&mut body)?;
            let operation = build(from_value(body)?)?;
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
}

pub async fn upsert(call: WriteCall) -> Response {
    call.run(|body| Ok(ShardOperation::Upsert(parse_insert(body)?)))
        .await
}

pub async fn delete(call: WriteCall) -> Response {
    call.run(|b: Selector| Ok(ShardOperation::Delete(b.selection()?)))
        .await
}

pub async fn set_payload(call: WriteCall) -> Response {
    call.run(|b: SetPayloadBody| {
        Ok(ShardOperation::SetPayload {
            payload: b.payload,
            selection: b.selector.selection()?,
            key: b.key,
        })
    })
    .await
}

pub async fn overwrite_payload(call: WriteCall) -> Response {
    call.run(|b: SetPayloadBody| {
        Ok(ShardOperation::OverwritePayload {
            payload: b.payload,
            selection: b.selector.selection()?,
        })
    })
    .await
}

pub async fn delete_payload(call: WriteCall) -> Response {
    call.run(|b: DeletePayloadBody| {
        Ok(ShardOperation::DeletePayload {
            keys: b.keys,
            selection: b.selector.selection()?,
        })
    })
    .await
}

pub async fn clear_payload(call: WriteCall) -> Response {
    call.run(|b: Selector| Ok(ShardOperation::ClearPayload(b.selection()?)))
        .await
}

pub async fn update_vectors(call: WriteCall) -> Response {
    call.run(|b: UpdateVectorsBody| {
        Ok(ShardOperation::UpdateVectors(
            b.points
                .into_iter()
                .map(|p| (p.id, p.vector.into_named()))
                .collect(),
        ))
    })
    .await
}

pub async fn delete_vectors(call: WriteCall) -> Response {
    call.run(|b: DeleteVectorsBody| {
        Ok(ShardOperation::DeleteVectors {
            names: b.vector,
            selection: b.selector.selection()?,
        })
    })
    .await
}

pub async fn retrieve(
    State(gateway): State<Gateway>,
    Path(name): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    let timer = Timer::start();
    let outcome = async {
        let b: RetrieveBody = parse_body(&body)?;
        let read = read_options(&query, b.shard_key)?;
        gateway
            .retrieve(
                &name,
                &b.ids,
                &b.with_payload.unwrap_or(WithPayload::Enable(true)),
                &b.with_vector.unwrap_or_default(),
                &read,
            )
            .await
    };
    timer.finish(outcome.await)
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
            .retrieve(
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

pub async fn scroll(
    State(gateway): State<Gateway>,
    Path(name): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    let timer = Timer::start();
    let outcome = async {
        let b: ScrollBody = parse_body(&body)?;
        let read = read_options(&query, b.shard_key.clone())?;
        if b.order_by.as_ref().is_some_and(|o| !o.is_null()) {
            return Err(TesseraError::Unimplemented("scroll `order_by`".into()));
        }
        let limit = b.limit.unwrap_or(10);
        if limit == 0 {
            return Err(TesseraError::bad_input(
                "Validation error in JSON body: [limit: value 0 invalid, must be 1 or more]",
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
                },
                &read,
            )
            .await
    };
    timer.finish(outcome.await)
}

pub async fn count(
    State(gateway): State<Gateway>,
    Path(name): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    let timer = Timer::start();
    let outcome = async {
        let b: CountBody = parse_body(&body)?;
        let read = read_options(&query, b.shard_key)?;
        let count = gateway.count(&name, b.filter, &read).await?;
        Ok(json!({ "count": count }))
    };
    timer.finish(outcome.await)
}
