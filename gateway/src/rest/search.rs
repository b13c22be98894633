//! Search and query endpoints.

use axum::body::Bytes;
use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::response::Response;
use serde_json::json;
use tessera_types::SearchRequest;

use super::model::{read_consistency, QueryBatchBody, QueryBody, SearchBatchBody, SearchBody};
use super::{parse_body, Timer};
use crate::service::{Gateway, QueryRequest};

pub async fn search(
    State(gateway): State<Gateway>,
    Path(name): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    let timer = Timer::start();
    let outcome = async {
        let consistency = read_consistency(&query)?;
        let b: SearchBody = parse_body(&body)?;
        gateway
            .search(&name, SearchRequest::from(b), consistency)
            .await
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
        let consistency = read_consistency(&query)?;
        let b: SearchBatchBody = parse_body(&body)?;
        let requests = b.searches.into_iter().map(SearchRequest::from).collect();
        gateway.search_batch(&name, requests, consistency).await
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
        let consistency = read_consistency(&query)?;
        let b: QueryBody = parse_body(&body)?;
        let points = gateway
            .query(&name, QueryRequest::try_from(b)?, consistency)
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
        let consistency = read_consistency(&query)?;
        let b: QueryBatchBody = parse_body(&body)?;
        let requests = b
            .searches
            .into_iter()
            .map(QueryRequest::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        let mut results = Vec::with_capacity(requests.len());
        for points in futures::future::join_all(
            requests
                .into_iter()
                .map(|r| gateway.query(&name, r, consistency)),
        )
        .await
        {
            results.push(json!({ "points": points? }));
        }
        Ok(results)
    };
    timer.finish(outcome.await)
}
