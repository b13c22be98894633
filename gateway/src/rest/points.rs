//! Point endpoints: writes, retrieval, scroll and count.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use serde_json::json;
use tessera_types::{
    PointId, ScrollRequest, ShardOperation, TesseraError, WithPayload, WithVector,
};

use super::model::{
    parse_insert, CountBody, DeletePayloadBody, DeleteVectorsBody, RetrieveBody, ScrollBody,
    Selector, SetPayloadBody, UpdateVectorsBody, WriteParams,
};
use super::{parse_body, Timer};
use crate::service::Gateway;

type Params = Query<HashMap<String, String>>;

/// Runs a write built from the body, honouring `?wait=` and `?ordering=`.
async fn write(
    gateway: &Gateway,
    name: &str,
    params: &HashMap<String, String>,
    operation: Result<ShardOperation, TesseraError>,
) -> Response {
    let timer = Timer::start();
    let outcome = async {
        let params = WriteParams::parse(params)?;
        gateway
            .update_points(name, operation?, params.wait, params.ordering)
            .await
    };
    timer.finish(outcome.await)
}

pub async fn upsert(
    State(gateway): State<Gateway>,
    Path(name): Path<String>,
    Query(params): Params,
    body: Bytes,
) -> Response {
    let operation = parse_body(&body)
        .and_then(parse_insert)
        .map(ShardOperation::Upsert);
    write(&gateway, &name, &params, operation).await
}

pub async fn delete(
    State(gateway): State<Gateway>,
    Path(name): Path<String>,
    Query(params): Params,
    body: Bytes,
) -> Response {
    let operation = parse_body::<Selector>(&body)
        .and_then(Selector::selection)
        .map(ShardOperation::Delete);
    write(&gateway, &name, &params, operation).await
}

pub async fn set_payload(
    State(gateway): State<Gateway>,
    Path(name): Path<String>,
    Query(params): Params,
    body: Bytes,
) -> Response {
    let operation = parse_body::<SetPayloadBody>(&body).and_then(|b| {
        Ok(ShardOperation::SetPayload {
            payload: b.payload,
            selection: b.selector.selection()?,
            key: b.key,
        })
    });
    write(&gateway, &name, &params, operation).await
}

pub async fn overwrite_payload(
    State(gateway): State<Gateway>,
    Path(name): Path<String>,
    Query(params): Params,
    body: Bytes,
) -> Response {
    let operation = parse_body::<SetPayloadBody>(&body).and_then(|b| {
        Ok(ShardOperation::OverwritePayload {
            payload: b.payload,
            selection: b.selector.selection()?,
        })
    });
    write(&gateway, &name, &params, operation).await
}

pub async fn delete_payload(
    State(gateway): State<Gateway>,
    Path(name): Path<String>,
    Query(params): Params,
    body: Bytes,
) -> Response {
    let operation = parse_body::<DeletePayloadBody>(&body).and_then(|b| {
        Ok(ShardOperation::DeletePayload {
            keys: b.keys,
            selection: b.selector.selection()?,
        })
    });
    write(&gateway, &name, &params, operation).await
}

pub async fn clear_payload(
    State(gateway): State<Gateway>,
    Path(name): Path<String>,
    Query(params): Params,
    body: Bytes,
) -> Response {
    let operation = parse_body::<Selector>(&body)
        .and_then(Selector::selection)
        .map(ShardOperation::ClearPayload);
    write(&gateway, &name, &params, operation).await
}

pub async fn update_vectors(
    State(gateway): State<Gateway>,
    Path(name): Path<String>,
    Query(params): Params,
    body: Bytes,
) -> Response {
    let operation = parse_body::<UpdateVectorsBody>(&body).map(|b| {
        ShardOperation::UpdateVectors(
            b.points
                .into_iter()
                .map(|p| (p.id, p.vector.into_named()))
                .collect(),
        )
    });
    write(&gateway, &name, &params, operation).await
}

pub async fn delete_vectors(
    State(gateway): State<Gateway>,
    Path(name): Path<String>,
    Query(params): Params,
    body: Bytes,
) -> Response {
    let operation = parse_body::<DeleteVectorsBody>(&body).and_then(|b| {
        Ok(ShardOperation::DeleteVectors {
            names: b.vector,
            selection: b.selector.selection()?,
        })
    });
    write(&gateway, &name, &params, operation).await
}

pub async fn retrieve(
    State(gateway): State<Gateway>,
    Path(name): Path<String>,
    body: Bytes,
) -> Response {
    let timer = Timer::start();
    let outcome = async {
        let b: RetrieveBody = parse_body(&body)?;
        gateway
            .retrieve(
                &name,
                &b.ids,
                &b.with_payload.unwrap_or(WithPayload::Enable(true)),
                &b.with_vector.unwrap_or_default(),
            )
            .await
    };
    timer.finish(outcome.await)
}

pub async fn retrieve_one(
    State(gateway): State<Gateway>,
    Path((name, id)): Path<(String, String)>,
) -> Response {
    let timer = Timer::start();
    let outcome = async {
        let id = PointId::parse_str(&id)?;
        gateway
            .retrieve(
                &name,
                &[id],
                &WithPayload::Enable(true),
                &WithVector::Enable(true),
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
    body: Bytes,
) -> Response {
    let timer = Timer::start();
    let outcome = async {
        let b: ScrollBody = parse_body(&body)?;
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
            )
            .await
    };
    timer.finish(outcome.await)
}

pub async fn count(
    State(gateway): State<Gateway>,
    Path(name): Path<String>,
    body: Bytes,
) -> Response {
    let timer = Timer::start();
    let outcome = async {
        let b: CountBody = parse_body(&body)?;
        let count = gateway.count(&name, b.filter).await?;
        Ok(json!({ "count": count }))
    };
    timer.finish(outcome.await)
}
