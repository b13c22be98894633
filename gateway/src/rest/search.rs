//! Search and query endpoints.

use serde::Serialize;
use tessera_types::{ScoredPoint, SearchRequest, TesseraError};

use super::call::{PointsCall, ShardKeyed};
use super::model::{SearchBatchBody, SearchBody};
use super::query_body::{
    DiscoverBatchBody, DiscoverBody, FacetBody, MatrixBody, QueryBatchBody, QueryBody,
    QueryGroupsBody, RecommendBatchBody, RecommendBody, RecommendGroupsBody, SearchGroupsBody,
};
use crate::service::{GroupsRequest, QueryRequest, ReadOptions};
use axum::response::Response;

/// A query's answer, serialized straight into the response body.
#[derive(Serialize)]
struct QueryResponse {
    points: Vec<ScoredPoint>,
}

/// Group answers, serialized without a `serde_json::Value` so scores keep
/// their `f32` text (see `rest::Envelope`).
#[derive(Serialize)]
struct GroupsResponse<T> {
    groups: T,
}

#[derive(Serialize)]
struct PairsResponse<T> {
    pairs: T,
}

#[derive(Serialize)]
struct FacetResponse<T> {
    hits: T,
}

/// Each request of a batch with its own shard keys, under the call's consistency.
fn each_with_keys<B: ShardKeyed, R>(
    requests: Vec<B>,
    read: &ReadOptions,
    convert: impl Fn(B) -> Result<R, TesseraError>,
) -> Result<Vec<(R, ReadOptions)>, TesseraError> {
    requests
        .into_iter()
        .map(|mut request| {
            let options = ReadOptions {
                shard_key: request.take_shard_key(),
                ..read.clone()
            };
            Ok((convert(request)?, options))
        })
        .collect()
}

pub async fn search(call: PointsCall) -> Response {
    call.read(|gateway, name, b: SearchBody, read| async move {
        gateway
            .search_points(&name, SearchRequest::from(b), &read)
            .await
    })
    .await
}

pub async fn search_batch(call: PointsCall) -> Response {
    call.read(|gateway, name, b: SearchBatchBody, read| async move {
        let requests = each_with_keys(b.searches, &read, |s| Ok(SearchRequest::from(s)))?;
        gateway.search_batch(&name, requests).await
    })
    .await
}

pub async fn query(call: PointsCall) -> Response {
    call.read(|gateway, name, b: QueryBody, read| async move {
        let points = gateway
            .query(&name, QueryRequest::try_from(b)?, &read)
            .await?;
        Ok(QueryResponse { points })
    })
    .await
}

pub async fn query_batch(call: PointsCall) -> Response {
    call.read(|gateway, name, b: QueryBatchBody, read| async move {
        let requests = each_with_keys(b.searches, &read, QueryRequest::try_from)?;
        let results = gateway.query_batch(&name, requests).await?;
        Ok(results
            .into_iter()
            .map(|points| QueryResponse { points })
            .collect::<Vec<_>>())
    })
    .await
}

/// `points/recommend`: a recommend query, answered as a list of points.
pub async fn recommend(call: PointsCall) -> Response {
    call.read(|gateway, name, b: RecommendBody, read| async move {
        gateway
            .query(&name, QueryRequest::try_from(b)?, &read)
            .await
    })
    .await
}

pub async fn recommend_batch(call: PointsCall) -> Response {
    call.read(|gateway, name, b: RecommendBatchBody, read| async move {
        let requests = each_with_keys(b.searches, &read, QueryRequest::try_from)?;
        gateway.query_batch(&name, requests).await
    })
    .await
}

/// `points/discover`: a discovery or context query, answered as a list of points.
pub async fn discover(call: PointsCall) -> Response {
    call.read(|gateway, name, b: DiscoverBody, read| async move {
        gateway
            .query(&name, QueryRequest::try_from(b)?, &read)
            .await
    })
    .await
}

pub async fn discover_batch(call: PointsCall) -> Response {
    call.read(|gateway, name, b: DiscoverBatchBody, read| async move {
        let requests = each_with_keys(b.searches, &read, QueryRequest::try_from)?;
        gateway.query_batch(&name, requests).await
    })
    .await
}

pub async fn search_groups(call: PointsCall) -> Response {
    call.read(|gateway, name, b: SearchGroupsBody, read| async move {
        let groups = gateway
            .query_groups(&name, GroupsRequest::try_from(b)?, &read)
            .await?;
        Ok(GroupsResponse { groups })
    })
    .await
}

pub async fn query_groups(call: PointsCall) -> Response {
    call.read(|gateway, name, b: QueryGroupsBody, read| async move {
        let groups = gateway
            .query_groups(&name, GroupsRequest::try_from(b)?, &read)
            .await?;
        Ok(GroupsResponse { groups })
    })
    .await
}

pub async fn recommend_groups(call: PointsCall) -> Response {
    call.read(|gateway, name, b: RecommendGroupsBody, read| async move {
        let groups = gateway
            .query_groups(&name, GroupsRequest::try_from(b)?, &read)
            .await?;
        Ok(GroupsResponse { groups })
    })
    .await
}

pub async fn matrix_pairs(call: PointsCall) -> Response {
    call.read(|gateway, name, b: MatrixBody, read| async move {
        let matrix = gateway.distance_matrix(&name, b.into(), &read).await?;
        Ok(PairsResponse {
            pairs: matrix.pairs(),
        })
    })
    .await
}

pub async fn matrix_offsets(call: PointsCall) -> Response {
    call.read(|gateway, name, b: MatrixBody, read| async move {
        gateway.distance_matrix(&name, b.into(), &read).await
    })
    .await
}

pub async fn facet(call: PointsCall) -> Response {
    call.read(|gateway, name, b: FacetBody, read| async move {
        let hits = gateway.facet(&name, b.into(), &read).await?;
        Ok(FacetResponse { hits })
    })
    .await
}
