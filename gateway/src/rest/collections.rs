//! Cluster and collection endpoints.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use serde_json::json;
use tessera_types::{
    ChangeAliases, CreateCollection, PayloadFieldSchema, PayloadSchemaType, TesseraError,
    UpdateCollection, VectorNameConfig,
};

use super::model::CreateIndexBody;
use super::service::param;
use super::{parse_body, Timer};
use crate::service::{Gateway, OptimizationLists};

pub async fn cluster_status(State(gateway): State<Gateway>) -> Response {
    let timer = Timer::start();
    timer.finish(gateway.cluster_status().await)
}

pub async fn list(State(gateway): State<Gateway>) -> Response {
    let timer = Timer::start();
    let collections: Vec<_> = gateway
        .list_collections()
        .into_iter()
        .map(|name| json!({ "name": name }))
        .collect();
    timer.finish(Ok(json!({ "collections": collections })))
}

pub async fn get(State(gateway): State<Gateway>, Path(name): Path<String>) -> Response {
    let timer = Timer::start();
    timer.finish(gateway.collection_info(&name).await)
}

/// `POST /collections/aliases`: `{"actions": [...]}`, all or none.
pub async fn update_aliases(State(gateway): State<Gateway>, body: Bytes) -> Response {
    let timer = Timer::start();
    let outcome = async {
        let request: ChangeAliases = parse_body(&body)?;
        gateway.update_aliases(request.actions).await
    }
    .await;
    timer.finish(outcome)
}

pub async fn list_aliases(State(gateway): State<Gateway>) -> Response {
    let timer = Timer::start();
    timer.finish(Ok(json!({ "aliases": gateway.list_aliases() })))
}

pub async fn list_collection_aliases(
    State(gateway): State<Gateway>,
    Path(name): Path<String>,
) -> Response {
    let timer = Timer::start();
    let outcome = gateway
        .list_collection_aliases(&name)
        .map(|aliases| json!({ "aliases": aliases }));
    timer.finish(outcome)
}

/// `GET /collections/{name}/optimizations?with=...`.
pub async fn optimizations(
    State(gateway): State<Gateway>,
    Path(name): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let timer = Timer::start();
    let outcome = async {
        let with = query.get("with").map_or("", String::as_str);
        let lists = OptimizationLists::parse(with)?;
        // Validated as Qdrant does, though no completed optimization is kept.
        param::<u64>(&query, "completed_limit")?;
        gateway.optimizations(&name, lists).await
    }
    .await;
    timer.finish(outcome)
}

pub async fn exists(State(gateway): State<Gateway>, Path(name): Path<String>) -> Response {
    let timer = Timer::start();
    timer.finish(Ok(json!({ "exists": gateway.collection_exists(&name) })))
}

pub async fn create(
    State(gateway): State<Gateway>,
    Path(name): Path<String>,
    Query(params): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    let timer = Timer::start();
    let outcome = async {
        if params.get("timeout").map(String::as_str) == Some("0") {
            return Err(super::model::timeout_zero());
        }
        let request: CreateCollection = parse_body(&body)?;
        gateway.create_collection(&name, request).await?;
        Ok(true)
    };
    timer.finish(outcome.await)
}

pub async fn update(
    State(gateway): State<Gateway>,
    Path(name): Path<String>,
    body: Bytes,
) -> Response {
    let timer = Timer::start();
    let outcome = async {
        let request: UpdateCollection = parse_body(&body)?;
        gateway.update_collection(&name, request).await?;
        Ok(true)
    };
    timer.finish(outcome.await)
}

/// `PUT /collections/{name}/vectors/{vector}`: adds a named dense or sparse
/// vector; points written before it lack it.
pub async fn create_vector(
    State(gateway): State<Gateway>,
    Path((name, vector)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let timer = Timer::start();
    let outcome = async {
        let config: VectorNameConfig = parse_body(&body)?;
        let request = UpdateCollection {
            add_vectors: [(vector, config)].into(),
            ..Default::default()
        };
        gateway.update_collection(&name, request).await?;
        Ok(true)
    };
    timer.finish(outcome.await)
}

/// `DELETE /collections/{name}/vectors/{vector}`: removes a named vector
/// from the collection and from every point.
pub async fn delete_vector(
    State(gateway): State<Gateway>,
    Path((name, vector)): Path<(String, String)>,
) -> Response {
    let timer = Timer::start();
    let outcome = async {
        let request = UpdateCollection {
            remove_vectors: vec![vector],
            ..Default::default()
        };
        gateway.update_collection(&name, request).await?;
        Ok(true)
    };
    timer.finish(outcome.await)
}

pub async fn delete(
    State(gateway): State<Gateway>,
    Path(name): Path<String>,
    Query(_params): Query<HashMap<String, String>>,
) -> Response {
    let timer = Timer::start();
    timer.finish(gateway.delete_collection(&name).await)
}

pub async fn cluster_info(State(gateway): State<Gateway>, Path(name): Path<String>) -> Response {
    let timer = Timer::start();
    timer.finish(gateway.collection_cluster_info(&name).await)
}

pub async fn create_index(
    State(gateway): State<Gateway>,
    Path(name): Path<String>,
    body: Bytes,
) -> Response {
    let timer = Timer::start();
    let outcome = async {
        let body: CreateIndexBody = parse_body(&body)?;
        let unknown = || {
            TesseraError::bad_input(
                "`field_schema` must be one of keyword, integer, float, bool, uuid, datetime, text, geo",
            )
        };
        let kind = match &body.field_schema {
            Some(serde_json::Value::Object(params)) => params.get("type").cloned(),
            Some(other) => Some(other.clone()),
            None => {
                return Err(TesseraError::bad_input(
                    "`field_schema` is required: Tessera does not infer index types",
                ))
            }
        };
        let kind: PayloadSchemaType = kind
            .and_then(|k| serde_json::from_value(k).ok())
            .ok_or_else(unknown)?;
        // Parameters are kept: a text index's decide how text is matched.
        let bad = |e: serde_json::Error| TesseraError::malformed_body(format!("field_schema: {e}"));
        let schema = match body.field_schema {
            Some(params @ serde_json::Value::Object(_)) if kind == PayloadSchemaType::Text => {
                PayloadFieldSchema::Text(serde_json::from_value(params).map_err(bad)?)
            }
            Some(params @ serde_json::Value::Object(_)) => {
                PayloadFieldSchema::Params(serde_json::from_value(params).map_err(bad)?)
            }
            _ => PayloadFieldSchema::Type(kind),
        };
        gateway
            .create_payload_index(&name, &body.field_name, schema)
            .await
    };
    timer.finish(outcome.await)
}

pub async fn delete_index(
    State(gateway): State<Gateway>,
    Path((name, field)): Path<(String, String)>,
) -> Response {
    let timer = Timer::start();
    timer.finish(gateway.delete_payload_index(&name, &field).await)
}

/// `PUT /collections/{name}/shards`: a shard key of a custom-sharded collection.
pub async fn create_shard_key(
    State(gateway): State<Gateway>,
    Path(name): Path<String>,
    body: Bytes,
) -> Response {
    let timer = Timer::start();
    let outcome = async {
        let request: tessera_types::CreateShardKey = parse_body(&body)?;
        gateway.create_shard_key(&name, request).await
    };
    timer.finish(outcome.await)
}

/// `POST /collections/{name}/shards/delete`.
pub async fn delete_shard_key(
    State(gateway): State<Gateway>,
    Path(name): Path<String>,
    body: Bytes,
) -> Response {
    let timer = Timer::start();
    let outcome = async {
        let request: tessera_types::DropShardKey = parse_body(&body)?;
        gateway.delete_shard_key(&name, request.shard_key).await
    };
    timer.finish(outcome.await)
}

/// `GET /collections/{name}/shards`: `{"shard_keys": [{"key": ...}]}`, null
/// under automatic sharding.
pub async fn list_shard_keys(State(gateway): State<Gateway>, Path(name): Path<String>) -> Response {
    let timer = Timer::start();
    let outcome = gateway.list_shard_keys(&name).map(|keys| {
        let keys = keys.map(|keys| {
            keys.into_iter()
                .map(|key| serde_json::json!({ "key": key }))
                .collect::<Vec<_>>()
        });
        serde_json::json!({ "shard_keys": keys })
    });
    timer.finish(outcome)
}
