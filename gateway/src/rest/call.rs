//! A call on a collection's points: its name, the query string and the JSON
//! body, taken apart once for every point endpoint; reads and writes then
//! parse the body and answer in Qdrant's envelope the same way.

use std::collections::HashMap;
use std::future::Future;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tessera_types::{ShardKeySelector, TesseraError};

use super::model::read_options;
use super::{parse_body, Timer};
use crate::service::{Gateway, ReadOptions};

pub struct PointsCall {
    pub gateway: Gateway,
    pub name: String,
    pub params: HashMap<String, String>,
    pub body: Bytes,
}

impl FromRequest<Gateway> for PointsCall {
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
        Ok(PointsCall {
            gateway: gateway.clone(),
            name,
            params,
            body,
        })
    }
}

/// A read body, which may name the shard keys to read (`shard_key`).
pub trait ShardKeyed {
    fn take_shard_key(&mut self) -> Option<ShardKeySelector>;
}

impl PointsCall {
    /// Parses the body as `B`, reads `?consistency=` and the body's shard
    /// keys, runs `read` and answers with its outcome.
    pub async fn read<B, T, F, Fut>(self, read: F) -> Response
    where
        B: DeserializeOwned + ShardKeyed,
        T: Serialize,
        F: FnOnce(Gateway, String, B, ReadOptions) -> Fut,
        Fut: Future<Output = Result<T, TesseraError>>,
    {
        let timer = Timer::start();
        let outcome = async {
            let mut body: B = parse_body(&self.body)?;
            let options = read_options(&self.params, body.take_shard_key())?;
            read(self.gateway, self.name, body, options).await
        }
        .await;
        timer.finish(outcome)
    }
}

/// Bodies whose shard keys are the `shard_key` field.
macro_rules! shard_keyed {
    ($($body:ty),* $(,)?) => {$(
        impl ShardKeyed for $body {
            fn take_shard_key(&mut self) -> Option<ShardKeySelector> {
                self.shard_key.take()
            }
        }
    )*};
}

/// Batch bodies: each request names its own shard keys.
macro_rules! per_request_keys {
    ($($body:ty),* $(,)?) => {$(
        impl ShardKeyed for $body {
            fn take_shard_key(&mut self) -> Option<ShardKeySelector> {
                None
            }
        }
    )*};
}

use super::model::{CountBody, RetrieveBody, ScrollBody, SearchBatchBody, SearchBody};
use super::query_body::{
    DiscoverBatchBody, DiscoverBody, FacetBody, MatrixBody, QueryBatchBody, QueryBody,
    RecommendBatchBody, RecommendBody, SearchGroupsBody,
};

shard_keyed!(
    SearchBody,
    QueryBody,
    RecommendBody,
    SearchGroupsBody,
    MatrixBody,
    FacetBody,
    RetrieveBody,
    ScrollBody,
    CountBody,
    DiscoverBody,
);
per_request_keys!(
    SearchBatchBody,
    QueryBatchBody,
    RecommendBatchBody,
    DiscoverBatchBody
);

impl ShardKeyed for super::query_body::QueryGroupsBody {
    fn take_shard_key(&mut self) -> Option<ShardKeySelector> {
        self.query.shard_key.take()
    }
}

impl ShardKeyed for super::query_body::RecommendGroupsBody {
    fn take_shard_key(&mut self) -> Option<ShardKeySelector> {
        self.recommend.shard_key.take()
    }
}
