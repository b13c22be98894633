//! `qdrant.Points`: writes, retrieval, search and query.

use std::time::Instant;

use qdrant_client::qdrant as q;
use qdrant_client::qdrant::points_server::Points;
use tessera_types::{ShardOperation, TesseraError, UpdateCollection};
use tonic::{Request, Response, Status};

use super::{convert, elapsed, respond};
use crate::service::Gateway;

type Result<T> = std::result::Result<T, TesseraError>;

pub struct PointsService {
    gateway: Gateway,
}

/// A collection change answered as a completed point operation, as Qdrant
/// answers `CreateVectorName` and `DeleteVectorName`.
fn completed(started: Instant) -> q::PointsOperationResponse {
    q::PointsOperationResponse {
        result: Some(q::UpdateResult {
            operation_id: None,
            status: q::UpdateStatus::Completed as i32,
        }),
        time: elapsed(started),
        usage: None,
    }
}

fn scored(points: Vec<tessera_types::ScoredPoint>) -> Vec<q::ScoredPoint> {
    points
        .into_iter()
        .map(convert::scored_point_to_proto)
        .collect()
}

fn batch(points: Vec<tessera_types::ScoredPoint>) -> q::BatchResult {
    q::BatchResult {
        result: scored(points),
    }
}

impl PointsService {
    pub fn new(gateway: Gateway) -> Self {
        PointsService { gateway }
    }

    /// Applies a write and reports it in Qdrant's shape.
    async fn write(
        &self,
        start: Instant,
        collection: &str,
        operation: ShardOperation,
        shard_key: Option<q::ShardKeySelector>,
        wait: Option<bool>,
        ordering: Option<q::WriteOrdering>,
    ) -> Result<q::PointsOperationResponse> {
        let ordering = convert::ordering_from_proto(ordering)?;
        let shard_key = convert::shard_key_selector_from_proto(shard_key)?;
        let result = self
            .gateway
            .update_points(
                collection,
                operation,
                shard_key.as_ref(),
                wait.unwrap_or(false),
                ordering,
            )
            .await?;
        Ok(q::PointsOperationResponse {
            result: Some(convert::update_result_to_proto(result)),
            time: elapsed(start),
            usage: None,
        })
    }

    /// Every operation is converted before the first runs; they run in order.
    async fn update_batch_points(&self, r: q::UpdateBatchPoints) -> Result<q::UpdateBatchResponse> {
        let start = Instant::now();
        let operations = r
            .operations
            .into_iter()
            .map(convert::batch_operation_from_proto)
            .collect::<Result<Vec<_>>>()?;
        let mut result = Vec::with_capacity(operations.len());
        for (operation, shard_key) in operations {
            let reply = self
                .write(
                    start,
                    &r.collection_name,
                    operation,
                    shard_key,
                    r.wait,
                    r.ordering,
                )
                .await?;
            result.extend(reply.result);
        }
        Ok(q::UpdateBatchResponse {
            result,
            time: elapsed(start),
            usage: None,
        })
    }

    async fn upsert_points(&self, r: q::UpsertPoints) -> Result<q::PointsOperationResponse> {
        let start = Instant::now();
        let points = r
            .points
            .into_iter()
            .map(convert::point_from_proto)
            .collect::<Result<_>>()?;
        let upsert = ShardOperation::upsert(
            points,
            r.update_mode
                .map(convert::update_mode_from_proto)
                .transpose()?,
            convert::optional_filter_from_proto(r.update_filter)?,
        );
        self.write(
            start,
            &r.collection_name,
            upsert,
            r.shard_key_selector,
            r.wait,
            r.ordering,
        )
        .await
    }

    async fn delete_points(&self, r: q::DeletePoints) -> Result<q::PointsOperationResponse> {
        let start = Instant::now();
        let selection = convert::points_selector_from_proto(r.points)?;
        self.write(
            start,
            &r.collection_name,
            ShardOperation::Delete(selection),
            r.shard_key_selector,
            r.wait,
            r.ordering,
        )
        .await
    }

    async fn get_points(&self, r: q::GetPoints) -> Result<q::GetResponse> {
        let start = Instant::now();
        let ids = r
            .ids
            .into_iter()
            .map(convert::point_id_from_proto)
            .collect::<Result<Vec<_>>>()?;
        // Qdrant's Get leaves the payload out unless asked.
        let with_payload = convert::with_payload_from_proto(r.with_payload, false)?;
        let with_vector = convert::with_vector_from_proto(r.with_vectors);
        let read =
            convert::read_options_from_proto(r.read_consistency, r.shard_key_selector, r.timeout)?;
        let records = self
            .gateway
            .retrieve_points(&r.collection_name, &ids, &with_payload, &with_vector, &read)
            .await?;
        Ok(q::GetResponse {
            result: records.into_iter().map(convert::record_to_proto).collect(),
            time: elapsed(start),
            usage: None,
        })
    }

    async fn update_point_vectors(
        &self,
        r: q::UpdatePointVectors,
    ) -> Result<q::PointsOperationResponse> {
        let start = Instant::now();
        let points = r
            .points
            .into_iter()
            .map(convert::point_vectors_from_proto)
            .collect::<Result<_>>()?;
        let update = ShardOperation::update_vectors(
            points,
            convert::optional_filter_from_proto(r.update_filter)?,
        );
        self.write(
            start,
            &r.collection_name,
            update,
            r.shard_key_selector,
            r.wait,
            r.ordering,
        )
        .await
    }

    async fn delete_point_vectors(
        &self,
        r: q::DeletePointVectors,
    ) -> Result<q::PointsOperationResponse> {
        let start = Instant::now();
        let selection = convert::points_selector_from_proto(r.points_selector)?;
        let names = r
            .vectors
            .ok_or_else(|| TesseraError::bad_input("Vector names are missing"))?
            .names;
        let operation = ShardOperation::DeleteVectors { names, selection };
        self.write(
            start,
            &r.collection_name,
            operation,
            r.shard_key_selector,
            r.wait,
            r.ordering,
        )
        .await
    }

    async fn set_payload_points(
        &self,
        r: q::SetPayloadPoints,
        overwrite: bool,
    ) -> Result<q::PointsOperationResponse> {
        let start = Instant::now();
        let payload = convert::payload_from_proto(r.payload)?;
        let selection = convert::points_selector_from_proto(r.points_selector)?;
        // Overwriting replaces the whole payload, so a key has no meaning there (as in Qdrant).
        let operation = if overwrite {
            ShardOperation::OverwritePayload { payload, selection }
        } else {
            ShardOperation::SetPayload {
                payload,
                selection,
                key: r.key,
            }
        };
        self.write(
            start,
            &r.collection_name,
            operation,
            r.shard_key_selector,
            r.wait,
            r.ordering,
        )
        .await
    }

    async fn delete_payload_points(
        &self,
        r: q::DeletePayloadPoints,
    ) -> Result<q::PointsOperationResponse> {
        let start = Instant::now();
        let selection = convert::points_selector_from_proto(r.points_selector)?;
        let operation = ShardOperation::DeletePayload {
            keys: r.keys,
            selection,
        };
        self.write(
            start,
            &r.collection_name,
            operation,
            r.shard_key_selector,
            r.wait,
            r.ordering,
        )
        .await
    }

    async fn clear_payload_points(
        &self,
        r: q::ClearPayloadPoints,
    ) -> Result<q::PointsOperationResponse> {
        let start = Instant::now();
        let selection = convert::points_selector_from_proto(r.points)?;
        self.write(
            start,
            &r.collection_name,
            ShardOperation::ClearPayload(selection),
            r.shard_key_selector,
            r.wait,
            r.ordering,
        )
        .await
    }

    async fn search_points(&self, r: q::SearchPoints) -> Result<q::SearchResponse> {
        let start = Instant::now();
        let collection = r.collection_name.clone();
        let read = convert::read_options_from_proto(
            r.read_consistency,
            r.shard_key_selector.clone(),
            r.timeout,
        )?;
        let points = self
            .gateway
            .search_points(&collection, convert::search_from_proto(r)?, &read)
            .await?;
        Ok(q::SearchResponse {
            result: scored(points),
            time: elapsed(start),
            usage: None,
        })
    }

    async fn search_points_batch(&self, r: q::SearchBatchPoints) -> Result<q::SearchBatchResponse> {
        let start = Instant::now();
        let requests = r
            .search_points
            .into_iter()
            .map(|search| {
                let read = convert::read_options_from_proto(
                    r.read_consistency,
                    search.shard_key_selector.clone(),
                    r.timeout,
                )?;
                Ok((convert::search_from_proto(search)?, read))
            })
            .collect::<Result<_>>()?;
        let results = self
            .gateway
            .search_batch(&r.collection_name, requests)
            .await?;
        Ok(q::SearchBatchResponse {
            result: results.into_iter().map(batch).collect(),
            time: elapsed(start),
            usage: None,
        })
    }

    async fn scroll_points(&self, r: q::ScrollPoints) -> Result<q::ScrollResponse> {
        let start = Instant::now();
        let collection = r.collection_name.clone();
        let read = convert::read_options_from_proto(
            r.read_consistency,
            r.shard_key_selector.clone(),
            r.timeout,
        )?;
        let page = self
            .gateway
            .scroll(&collection, convert::scroll_from_proto(r)?, &read)
            .await?;
        Ok(q::ScrollResponse {
            next_page_offset: page.next_page_offset.map(convert::point_id_to_proto),
            result: page
                .points
                .into_iter()
                .map(convert::record_to_proto)
                .collect(),
            time: elapsed(start),
            usage: None,
        })
    }

    /// Counts are always exact: shards count their points without estimating.
    async fn count_points(&self, r: q::CountPoints) -> Result<q::CountResponse> {
        let start = Instant::now();
        let filter = convert::optional_filter_from_proto(r.filter)?;
        let read =
            convert::read_options_from_proto(r.read_consistency, r.shard_key_selector, r.timeout)?;
        let count = self
            .gateway
            .count(&r.collection_name, filter, &read)
            .await?;
        Ok(q::CountResponse {
            result: Some(q::CountResult { count }),
            time: elapsed(start),
            usage: None,
        })
    }

    async fn query_points(&self, r: q::QueryPoints) -> Result<q::QueryResponse> {
        let start = Instant::now();
        let collection = r.collection_name.clone();
        let read = convert::read_options_from_proto(
            r.read_consistency,
            r.shard_key_selector.clone(),
            r.timeout,
        )?;
        let points = self
            .gateway
            .query(&collection, convert::query_from_proto(r)?, &read)
            .await?;
        Ok(q::QueryResponse {
            result: scored(points),
            time: elapsed(start),
            usage: None,
        })
    }

    /// A grouped search of any kind, its groups in gRPC's shape.
    async fn groups(
        &self,
        collection: String,
        consistency: Option<q::ReadConsistency>,
        shard_keys: Option<q::ShardKeySelector>,
        timeout: Option<u64>,
        request: Result<crate::service::GroupsRequest>,
    ) -> Result<q::GroupsResult> {
        let read = convert::read_options_from_proto(consistency, shard_keys, timeout)?;
        let groups = self
            .gateway
            .query_groups(&collection, request?, &read)
            .await?;
        Ok(convert::groups_to_proto(groups))
    }

    async fn matrix(&self, r: q::SearchMatrixPoints) -> Result<crate::service::DistanceMatrix> {
        let read =
            convert::read_options_from_proto(r.read_consistency, r.shard_key_selector, r.timeout)?;
        let request = crate::service::MatrixRequest {
            filter: convert::optional_filter_from_proto(r.filter)?,
            sample: r.sample.map_or(10, |s| s as usize),
            limit: r.limit.map_or(3, |l| l as usize),
            using: r.using.unwrap_or_default(),
        };
        self.gateway
            .distance_matrix(&r.collection_name, request, &read)
            .await
    }

    async fn recommend_points(&self, r: q::RecommendPoints) -> Result<q::RecommendResponse> {
        let start = Instant::now();
        let collection = r.collection_name.clone();
        let read = convert::read_options_from_proto(
            r.read_consistency,
            r.shard_key_selector.clone(),
            r.timeout,
        )?;
        let points = self
            .gateway
            .query(&collection, convert::recommend_from_points(r)?, &read)
            .await?;
        Ok(q::RecommendResponse {
            result: scored(points),
            time: elapsed(start),
            usage: None,
        })
    }

    async fn discover_points(&self, r: q::DiscoverPoints) -> Result<Vec<q::ScoredPoint>> {
        let collection = r.collection_name.clone();
        let read = convert::read_options_from_proto(
            r.read_consistency,
            r.shard_key_selector.clone(),
            r.timeout,
        )?;
        let points = self
            .gateway
            .query(&collection, convert::discover_from_points(r)?, &read)
            .await?;
        Ok(scored(points))
    }

    /// Each query of the batch runs against the batch's collection, as in Qdrant.
    async fn query_points_batch(&self, r: q::QueryBatchPoints) -> Result<q::QueryBatchResponse> {
        let start = Instant::now();
        let requests = r
            .query_points
            .into_iter()
            .map(|query| {
                let read = convert::read_options_from_proto(
                    r.read_consistency,
                    query.shard_key_selector.clone(),
                    r.timeout,
                )?;
                Ok((convert::query_from_proto(query)?, read))
            })
            .collect::<Result<Vec<_>>>()?;
        let results = self
            .gateway
            .query_batch(&r.collection_name, requests)
            .await?;
        Ok(q::QueryBatchResponse {
            result: results.into_iter().map(batch).collect(),
            time: elapsed(start),
            usage: None,
        })
    }
}

#[tonic::async_trait]
impl Points for PointsService {
    async fn upsert(
        &self,
        request: Request<q::UpsertPoints>,
    ) -> std::result::Result<Response<q::PointsOperationResponse>, Status> {
        respond(self.upsert_points(request.into_inner()).await)
    }

    async fn delete(
        &self,
        request: Request<q::DeletePoints>,
    ) -> std::result::Result<Response<q::PointsOperationResponse>, Status> {
        respond(self.delete_points(request.into_inner()).await)
    }

    async fn get(
        &self,
        request: Request<q::GetPoints>,
    ) -> std::result::Result<Response<q::GetResponse>, Status> {
        respond(self.get_points(request.into_inner()).await)
    }

    async fn update_vectors(
        &self,
        request: Request<q::UpdatePointVectors>,
    ) -> std::result::Result<Response<q::PointsOperationResponse>, Status> {
        respond(self.update_point_vectors(request.into_inner()).await)
    }

    async fn delete_vectors(
        &self,
        request: Request<q::DeletePointVectors>,
    ) -> std::result::Result<Response<q::PointsOperationResponse>, Status> {
        respond(self.delete_point_vectors(request.into_inner()).await)
    }

    async fn set_payload(
        &self,
        request: Request<q::SetPayloadPoints>,
    ) -> std::result::Result<Response<q::PointsOperationResponse>, Status> {
        respond(self.set_payload_points(request.into_inner(), false).await)
    }

    async fn overwrite_payload(
        &self,
        request: Request<q::SetPayloadPoints>,
    ) -> std::result::Result<Response<q::PointsOperationResponse>, Status> {
        respond(self.set_payload_points(request.into_inner(), true).await)
    }

    async fn delete_payload(
        &self,
        request: Request<q::DeletePayloadPoints>,
    ) -> std::result::Result<Response<q::PointsOperationResponse>, Status> {
        respond(self.delete_payload_points(request.into_inner()).await)
    }

    async fn clear_payload(
        &self,
        request: Request<q::ClearPayloadPoints>,
    ) -> std::result::Result<Response<q::PointsOperationResponse>, Status> {
        respond(self.clear_payload_points(request.into_inner()).await)
    }

    async fn create_field_index(
        &self,
        request: Request<q::CreateFieldIndexCollection>,
    ) -> std::result::Result<Response<q::PointsOperationResponse>, Status> {
        let started = Instant::now();
        let r = request.into_inner();
        let outcome = async {
            let field_type = r.field_type.ok_or_else(|| {
                TesseraError::bad_input(
                    "field_type is required: Tessera does not infer index types",
                )
            })?;
            let schema = convert::field_schema_from_proto(field_type, r.field_index_params)?;
            self.gateway
                .create_payload_index(&r.collection_name, &r.field_name, schema)
                .await
        };
        respond(outcome.await.map(|result| q::PointsOperationResponse {
            result: Some(convert::update_result_to_proto(result)),
            time: elapsed(started),
            usage: None,
        }))
    }

    async fn delete_field_index(
        &self,
        request: Request<q::DeleteFieldIndexCollection>,
    ) -> std::result::Result<Response<q::PointsOperationResponse>, Status> {
        let started = Instant::now();
        let r = request.into_inner();
        let outcome = self
            .gateway
            .delete_payload_index(&r.collection_name, &r.field_name)
            .await;
        respond(outcome.map(|result| q::PointsOperationResponse {
            result: Some(convert::update_result_to_proto(result)),
            time: elapsed(started),
            usage: None,
        }))
    }

    async fn create_vector_name(
        &self,
        request: Request<q::CreateVectorNameRequest>,
    ) -> std::result::Result<Response<q::PointsOperationResponse>, Status> {
        let started = Instant::now();
        let r = request.into_inner();
        let collection = r.collection_name.clone();
        let outcome = async {
            let (name, config) = convert::vector_name_config_from_proto(r)?;
            let change = UpdateCollection {
                add_vectors: [(name, config)].into(),
                ..Default::default()
            };
            self.gateway.update_collection(&collection, change).await
        };
        respond(outcome.await.map(|()| completed(started)))
    }

    async fn delete_vector_name(
        &self,
        request: Request<q::DeleteVectorNameRequest>,
    ) -> std::result::Result<Response<q::PointsOperationResponse>, Status> {
        let started = Instant::now();
        let r = request.into_inner();
        let change = UpdateCollection {
            remove_vectors: vec![r.vector_name],
            ..Default::default()
        };
        let outcome = self
            .gateway
            .update_collection(&r.collection_name, change)
            .await;
        respond(outcome.map(|()| completed(started)))
    }

    async fn search(
        &self,
        request: Request<q::SearchPoints>,
    ) -> std::result::Result<Response<q::SearchResponse>, Status> {
        respond(self.search_points(request.into_inner()).await)
    }

    async fn search_batch(
        &self,
        request: Request<q::SearchBatchPoints>,
    ) -> std::result::Result<Response<q::SearchBatchResponse>, Status> {
        respond(self.search_points_batch(request.into_inner()).await)
    }

    async fn search_groups(
        &self,
        request: Request<q::SearchPointGroups>,
    ) -> std::result::Result<Response<q::SearchGroupsResponse>, Status> {
        let start = Instant::now();
        let r = request.into_inner();
        let (collection, consistency, keys, timeout) = (
            r.collection_name.clone(),
            r.read_consistency,
            r.shard_key_selector.clone(),
            r.timeout,
        );
        let groups = self
            .groups(
                collection,
                consistency,
                keys,
                timeout,
                convert::search_groups_from_proto(r),
            )
            .await;
        respond(groups.map(|result| q::SearchGroupsResponse {
            result: Some(result),
            time: elapsed(start),
            usage: None,
        }))
    }

    async fn scroll(
        &self,
        request: Request<q::ScrollPoints>,
    ) -> std::result::Result<Response<q::ScrollResponse>, Status> {
        respond(self.scroll_points(request.into_inner()).await)
    }

    async fn recommend(
        &self,
        request: Request<q::RecommendPoints>,
    ) -> std::result::Result<Response<q::RecommendResponse>, Status> {
        respond(self.recommend_points(request.into_inner()).await)
    }

    async fn recommend_batch(
        &self,
        request: Request<q::RecommendBatchPoints>,
    ) -> std::result::Result<Response<q::RecommendBatchResponse>, Status> {
        let start = Instant::now();
        let r = request.into_inner();
        let outcome = async {
            let mut result = Vec::with_capacity(r.recommend_points.len());
            for mut points in r.recommend_points {
                points.collection_name.clone_from(&r.collection_name);
                points.read_consistency = r.read_consistency;
                result.push(q::BatchResult {
                    result: self.recommend_points(points).await?.result,
                });
            }
            Ok(q::RecommendBatchResponse {
                result,
                time: elapsed(start),
                usage: None,
            })
        }
        .await;
        respond(outcome)
    }

    async fn recommend_groups(
        &self,
        request: Request<q::RecommendPointGroups>,
    ) -> std::result::Result<Response<q::RecommendGroupsResponse>, Status> {
        let start = Instant::now();
        let r = request.into_inner();
        let (collection, consistency, keys, timeout) = (
            r.collection_name.clone(),
            r.read_consistency,
            r.shard_key_selector.clone(),
            r.timeout,
        );
        let groups = self
            .groups(
                collection,
                consistency,
                keys,
                timeout,
                convert::recommend_groups_from_proto(r),
            )
            .await;
        respond(groups.map(|result| q::RecommendGroupsResponse {
            result: Some(result),
            time: elapsed(start),
            usage: None,
        }))
    }

    async fn discover(
        &self,
        request: Request<q::DiscoverPoints>,
    ) -> std::result::Result<Response<q::DiscoverResponse>, Status> {
        let start = Instant::now();
        let outcome = self.discover_points(request.into_inner()).await;
        respond(outcome.map(|result| q::DiscoverResponse {
            result,
            time: elapsed(start),
            usage: None,
        }))
    }

    async fn discover_batch(
        &self,
        request: Request<q::DiscoverBatchPoints>,
    ) -> std::result::Result<Response<q::DiscoverBatchResponse>, Status> {
        let start = Instant::now();
        let r = request.into_inner();
        let outcome = async {
            let mut result = Vec::with_capacity(r.discover_points.len());
            for mut points in r.discover_points {
                points.collection_name.clone_from(&r.collection_name);
                points.read_consistency = r.read_consistency;
                points.timeout = points.timeout.or(r.timeout);
                result.push(q::BatchResult {
                    result: self.discover_points(points).await?,
                });
            }
            Ok(q::DiscoverBatchResponse {
                result,
                time: elapsed(start),
                usage: None,
            })
        }
        .await;
        respond(outcome)
    }

    async fn count(
        &self,
        request: Request<q::CountPoints>,
    ) -> std::result::Result<Response<q::CountResponse>, Status> {
        respond(self.count_points(request.into_inner()).await)
    }

    async fn update_batch(
        &self,
        request: Request<q::UpdateBatchPoints>,
    ) -> std::result::Result<Response<q::UpdateBatchResponse>, Status> {
        respond(self.update_batch_points(request.into_inner()).await)
    }

    async fn query(
        &self,
        request: Request<q::QueryPoints>,
    ) -> std::result::Result<Response<q::QueryResponse>, Status> {
        respond(self.query_points(request.into_inner()).await)
    }

    async fn query_batch(
        &self,
        request: Request<q::QueryBatchPoints>,
    ) -> std::result::Result<Response<q::QueryBatchResponse>, Status> {
        respond(self.query_points_batch(request.into_inner()).await)
    }

    async fn query_groups(
        &self,
        request: Request<q::QueryPointGroups>,
    ) -> std::result::Result<Response<q::QueryGroupsResponse>, Status> {
        let start = Instant::now();
        let r = request.into_inner();
        let (collection, consistency, keys, timeout) = (
            r.collection_name.clone(),
            r.read_consistency,
            r.shard_key_selector.clone(),
            r.timeout,
        );
        let groups = self
            .groups(
                collection,
                consistency,
                keys,
                timeout,
                convert::query_groups_from_proto(r),
            )
            .await;
        respond(groups.map(|result| q::QueryGroupsResponse {
            result: Some(result),
            time: elapsed(start),
            usage: None,
        }))
    }

    async fn facet(
        &self,
        request: Request<q::FacetCounts>,
    ) -> std::result::Result<Response<q::FacetResponse>, Status> {
        let start = Instant::now();
        let r = request.into_inner();
        let outcome = async {
            let read = convert::read_options_from_proto(
                r.read_consistency,
                r.shard_key_selector,
                r.timeout,
            )?;
            let facet = crate::service::FacetRequest {
                key: r.key,
                filter: convert::optional_filter_from_proto(r.filter)?,
                limit: r.limit.map_or(10, |l| l as usize),
            };
            let hits = self.gateway.facet(&r.collection_name, facet, &read).await?;
            Ok(q::FacetResponse {
                hits: hits
                    .into_iter()
                    .filter_map(convert::facet_hit_to_proto)
                    .collect(),
                time: elapsed(start),
                usage: None,
            })
        }
        .await;
        respond(outcome)
    }

    async fn search_matrix_pairs(
        &self,
        request: Request<q::SearchMatrixPoints>,
    ) -> std::result::Result<Response<q::SearchMatrixPairsResponse>, Status> {
        let start = Instant::now();
        let outcome = self.matrix(request.into_inner()).await;
        respond(outcome.map(|m| {
            q::SearchMatrixPairsResponse {
                result: Some(q::SearchMatrixPairs {
                    pairs: m
                        .pairs()
                        .into_iter()
                        .map(|p| q::SearchMatrixPair {
                            a: Some(convert::point_id_to_proto(p.a)),
                            b: Some(convert::point_id_to_proto(p.b)),
                            score: p.score,
                        })
                        .collect(),
                }),
                time: elapsed(start),
                usage: None,
            }
        }))
    }

    async fn search_matrix_offsets(
        &self,
        request: Request<q::SearchMatrixPoints>,
    ) -> std::result::Result<Response<q::SearchMatrixOffsetsResponse>, Status> {
        let start = Instant::now();
        let outcome = self.matrix(request.into_inner()).await;
        respond(outcome.map(|m| q::SearchMatrixOffsetsResponse {
            result: Some(q::SearchMatrixOffsets {
                offsets_row: m.offsets_row,
                offsets_col: m.offsets_col,
                scores: m.scores,
                ids: m.ids.into_iter().map(convert::point_id_to_proto).collect(),
            }),
            time: elapsed(start),
            usage: None,
        }))
    }
}
