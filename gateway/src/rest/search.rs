//! Search and query endpoints.

use axum::body::Bytes;
use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::response::Response;
use serde_json::json;
use tessera_types::SearchRequest;

use super::model::{read_options, SearchBatchBody, SearchBody};
use super::query_body::{
    FacetBody, MatrixBody, QueryBatchBody, QueryBody, QueryGroupsBody, RecommendBatchBody,
    RecommendBody, SearchGroupsBody,
};
use super::{parse_body, Timer};
use crate::service::{Gateway, GroupsRequest, QueryRequest};

pub async fn search(
    State(gateway): State<Gateway>,
    Path(name): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    let timer = Timer::start();
    let outcome = async {
        let mut b: SearchBody = parse_body(&body)?;
        let read = read_options(&query, b.shard_key.take())?;
        gateway.search(&name, SearchRequest::from(b), &read).await
    };
    timer.finish(outcome.await)
}

pub async fn search_batch(
    State(gateway): State<Gateway>,
    Path(name): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    let timer = Timer::start();
    let outcome = async {
        let b: SearchBatchBody = parse_body(&body)?;
        let requests = b
            .searches
            .into_iter()
            .map(|mut search| {
                let read = read_options(&query, search.shard_key.take())?;
                Ok((SearchRequest::from(search), read))
            })
            .collect::<Result<Vec<_>, tessera_types::TesseraError>>()?;
        gateway.search_batch(&name, requests).await
    };
    timer.finish(outcome.await)
}

pub async fn query(
    State(gateway): State<Gateway>,
    Path(name): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    let timer = Timer::start();
    let outcome = async {
        let mut b: QueryBody = parse_body(&body)?;
        let read = read_options(&query, b.shard_key.take())?;
        let points = gateway
            .query(&name, QueryRequest::try_from(b)?, &read)
            .await?;
        Ok(json!({ "points": points }))
    };
    timer.finish(outcome.await)
}

pub async fn query_batch(
    State(gateway): State<Gateway>,
    Path(name): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    let timer = Timer::start();
    let outcome = async {
        let b: QueryBatchBody = parse_body(&body)?;
        let requests = b
            .searches
            .into_iter()
            .map(|mut search| {
                let read = read_options(&query, search.shard_key.take())?;
                Ok((QueryRequest::try_from(search)?, read))
            })
            .collect::<Result<Vec<_>, tessera_types::TesseraError>>()?;
        let mut results = Vec::with_capacity(requests.len());
        for points in futures::future::join_all(
            requests
                .iter()
                .map(|(request, read)| gateway.query(&name, request.clone(), read)),
        )
        .await
        {
            results.push(json!({ "points": points? }));
        }
        Ok(results)
    };
    timer.finish(outcome.await)
}

/// `points/recommend`: a recommend query, answered as a list of points.
pub async fn recommend(
    State(gateway): State<Gateway>,
    Path(name): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    let timer = Timer::start();
    let outcome = async {
        let mut b: RecommendBody = parse_body(&body)?;
        let read = read_options(&query, b.shard_key.take())?;
        gateway
            .query(&name, QueryRequest::try_from(b)?, &read)
            .await
    };
    timer.finish(outcome.await)
}

pub async fn recommend_batch(
    State(gateway): State<Gateway>,
    Path(name): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    let timer = Timer::start();
    let outcome = async {
        let b: RecommendBatchBody = parse_body(&body)?;
        let requests = b
            .searches
            .into_iter()
            .map(|mut search| {
                let read = read_options(&query, search.shard_key.take())?;
                Ok((QueryRequest::try_from(search)?, read))
            })
            .collect::<Result<Vec<_>, tessera_types::TesseraError>>()?;
        futures::future::join_all(
            requests
                .iter()
                .map(|(request, read)| gateway.query(&name, request.clone(), read)),
        )
        .await
        .into_iter()
        .collect::<Result<Vec<_>, _>>()
    };
    timer.finish(outcome.await)
}

pub async fn search_groups(
    State(gateway): State<Gateway>,
    Path(name): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    let timer = Timer::start();
    let outcome = async {
        let mut b: SearchGroupsBody = parse_body(&body)?;
        let read = read_options(&query, b.shard_key.take())?;
        let groups = gateway
            .query_groups(&name, GroupsRequest::try_from(b)?, &read)
            .await?;
        Ok(json!({ "groups": groups }))
    };
    timer.finish(outcome.await)
}

pub async fn query_groups(
    State(gateway): State<Gateway>,
    Path(name): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    let timer = Timer::start();
    let outcome = async {
        let mut b: QueryGroupsBody = parse_body(&body)?;
        let read = read_options(&query, b.query.shard_key.take())?;
        let groups = gateway
            .query_groups(&name, GroupsRequest::try_from(b)?, &read)
            .await?;
        Ok(json!({ "groups": groups }))
    };
    timer.finish(outcome.await)
}

async fn matrix(
    gateway: Gateway,
    name: String,
    query: HashMap<String, String>,
    body: Bytes,
) -> Result<crate::service::DistanceMatrix, tessera_types::TesseraError> {
    let mut b: MatrixBody = parse_body(&body)?;
    let read = read_options(&query, b.shard_key.take())?;
    gateway.distance_matrix(&name, b.into(), &read).await
}

pub async fn matrix_pairs(
    State(gateway): State<Gateway>,
    Path(name): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    let timer = Timer::start();
    let outcome = matrix(gateway, name, query, body).await;
    timer.finish(outcome.map(|m| json!({ "pairs": m.pairs() })))
}

pub async fn matrix_offsets(
    State(gateway): State<Gateway>,
    Path(name): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    let timer = Timer::start();
    timer.finish(matrix(gateway, name, query, body).await)
}

pub async fn facet(
    State(gateway): State<Gateway>,
    Path(name): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    let timer = Timer::start();
    let outcome = async {
        let mut b: FacetBody = parse_body(&body)?;
        let read = read_options(&query, b.shard_key.take())?;
        let hits = gateway.facet(&name, b.into(), &read).await?;
        Ok(json!({ "hits": hits }))
    };
    timer.finish(outcome.await)
}
