//! `qdrant.Points`: writes, retrieval, search and query. Each call is one
//! handler taking the request and the time it arrived; `grpc_service!`
//! writes the trait's plumbing.

use std::time::Instant;

use qdrant_client::qdrant as q;
use qdrant_client::qdrant::points_server::Points;
use tessera_types::{ShardOperation, TesseraError, UpdateCollection};

use super::{convert, elapsed, grpc_service};
use crate::service::{Gateway, ReadOptions};

type Result<T> = std::result::Result<T, TesseraError>;

pub struct PointsService {
    gateway: Gateway,
}

/// The fields every point write of Qdrant's carries besides its operation.
struct WriteTarget {
    collection: String,
    shard_key: Option<q::ShardKeySelector>,
    wait: Option<bool>,
    ordering: Option<q::WriteOrdering>,
}

/// A point write request: where it goes and how it is acknowledged.
trait PointsWrite {
    fn target(&mut self) -> WriteTarget;
}

/// A point read request: its consistency, shard keys and timeout.
trait PointsRead {
    fn read_options(&self) -> Result<ReadOptions>;
}

macro_rules! points_writes {
    ($($request:ty),*) => {$(
        impl PointsWrite for $request {
            fn target(&mut self) -> WriteTarget {
                WriteTarget {
                    collection: std::mem::take(&mut self.collection_name),
                    shard_key: self.shard_key_selector.take(),
                    wait: self.wait,
                    ordering: self.ordering.take(),
                }
            }
        }
    )*};
}

points_writes!(
    q::UpsertPoints,
    q::DeletePoints,
    q::UpdatePointVectors,
    q::DeletePointVectors,
    q::SetPayloadPoints,
    q::DeletePayloadPoints,
    q::ClearPayloadPoints
);

macro_rules! points_reads {
    ($($request:ty),*) => {$(
        impl PointsRead for $request {
            fn read_options(&self) -> Result<ReadOptions> {
                convert::read_options_from_proto(
                    self.read_consistency,
                    self.shard_key_selector.clone(),
                    self.timeout,
                )
            }
        }
    )*};
}

points_reads!(
    q::GetPoints,
    q::SearchPoints,
    q::ScrollPoints,
    q::CountPoints,
    q::QueryPoints,
    q::RecommendPoints,
    q::DiscoverPoints,
    q::SearchPointGroups,
    q::RecommendPointGroups,
    q::QueryPointGroups,
    q::FacetCounts,
    q::SearchMatrixPoints
);

/// A write's result in Qdrant's shape.
fn operation_response(
    result: tessera_types::UpdateResult,
    start: Instant,
) -> q::PointsOperationResponse {
    q::PointsOperationResponse {
        result: Some(convert::update_result_to_proto(result)),
        time: elapsed(start),
        usage: None,
    }
}

/// A collection change answered as a completed point operation, as Qdrant
/// answers `CreateVectorName` and `DeleteVectorName`.
fn completed(start: Instant) -> q::PointsOperationResponse {
    q::PointsOperationResponse {
        result: Some(q::UpdateResult {
            operation_id: None,
            status: q::UpdateStatus::Completed as i32,
        }),
        time: elapsed(start),
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
        target: WriteTarget,
        operation: ShardOperation,
    ) -> Result<q::PointsOperationResponse> {
        let ordering = convert::ordering_from_proto(target.ordering)?;
        let shard_key = convert::shard_key_selector_from_proto(target.shard_key)?;
        let result = self
            .gateway
            .update_points(
                &target.collection,
                operation,
                shard_key.as_ref(),
                target.wait.unwrap_or(false),
                ordering,
            )
            .await?;
        Ok(operation_response(result, start))
    }

    /// Every operation is converted before the first runs; they run in order.
    async fn update_batch(
        &self,
        r: q::UpdateBatchPoints,
        start: Instant,
    ) -> Result<q::UpdateBatchResponse> {
        let operations = r
            .operations
            .into_iter()
            .map(convert::batch_operation_from_proto)
            .collect::<Result<Vec<_>>>()?;
        let mut result = Vec::with_capacity(operations.len());
        for (operation, shard_key) in operations {
            let target = WriteTarget {
                collection: r.collection_name.clone(),
                shard_key,
                wait: r.wait,
                ordering: r.ordering,
            };
            result.extend(self.write(start, target, operation).await?.result);
        }
        Ok(q::UpdateBatchResponse {
            result,
            time: elapsed(start),
            usage: None,
        })
    }

    async fn upsert(
        &self,
        mut r: q::UpsertPoints,
        start: Instant,
    ) -> Result<q::PointsOperationResponse> {
        let target = r.target();
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
        self.write(start, target, upsert).await
    }

    async fn delete(
        &self,
        mut r: q::DeletePoints,
        start: Instant,
    ) -> Result<q::PointsOperationResponse> {
        let target = r.target();
        let selection = convert::points_selector_from_proto(r.points)?;
        self.write(start, target, ShardOperation::Delete(selection))
            .await
    }

    async fn get(&self, r: q::GetPoints, start: Instant) -> Result<q::GetResponse> {
        let read = r.read_options()?;
        let ids = r
            .ids
            .into_iter()
            .map(convert::point_id_from_proto)
            .collect::<Result<Vec<_>>>()?;
        // Qdrant's Get leaves the payload out unless asked.
        let with_payload = convert::with_payload_from_proto(r.with_payload, false)?;
        let with_vector = convert::with_vector_from_proto(r.with_vectors);
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

    async fn update_vectors(
        &self,
        mut r: q::UpdatePointVectors,
        start: Instant,
    ) -> Result<q::PointsOperationResponse> {
        let target = r.target();
        let points = r
            .points
            .into_iter()
            .map(convert::point_vectors_from_proto)
            .collect::<Result<_>>()?;
        let update = ShardOperation::update_vectors(
            points,
            convert::optional_filter_from_proto(r.update_filter)?,
        );
        self.write(start, target, update).await
    }

    async fn delete_vectors(
        &self,
        mut r: q::DeletePointVectors,
        start: Instant,
    ) -> Result<q::PointsOperationResponse> {
        let target = r.target();
        let selection = convert::points_selector_from_proto(r.points_selector)?;
        let names = r
            .vectors
            .ok_or_else(|| TesseraError::bad_input("Vector names are missing"))?
            .names;
        self.write(
            start,
            target,
            ShardOperation::DeleteVectors { names, selection },
        )
        .await
    }

    async fn set_payload(
        &self,
        mut r: q::SetPayloadPoints,
        start: Instant,
    ) -> Result<q::PointsOperationResponse> {
        let target = r.target();
        let operation = ShardOperation::SetPayload {
            payload: convert::payload_from_proto(r.payload)?,
            selection: convert::points_selector_from_proto(r.points_selector)?,
            key: r.key,
        };
        self.write(start, target, operation).await
    }

    /// Overwriting replaces the whole payload, so a key has no meaning there
    /// (as in Qdrant).
    async fn overwrite_payload(
        &self,
        mut r: q::SetPayloadPoints,
        start: Instant,
    ) -> Result<q::PointsOperationResponse> {
        let target = r.target();
        let operation = ShardOperation::OverwritePayload {
            payload: convert::payload_from_proto(r.payload)?,
            selection: convert::points_selector_from_proto(r.points_selector)?,
        };
        self.write(start, target, operation).await
    }

    async fn delete_payload(
        &self,
        mut r: q::DeletePayloadPoints,
        start: Instant,
    ) -> Result<q::PointsOperationResponse> {
        let target = r.target();
        let operation = ShardOperation::DeletePayload {
            keys: r.keys,
            selection: convert::points_selector_from_proto(r.points_selector)?,
        };
        self.write(start, target, operation).await
    }

    async fn clear_payload(
        &self,
        mut r: q::ClearPayloadPoints,
        start: Instant,
    ) -> Result<q::PointsOperationResponse> {
        let target = r.target();
        let selection = convert::points_selector_from_proto(r.points)?;
        self.write(start, target, ShardOperation::ClearPayload(selection))
            .await
    }

    async fn create_field_index(
        &self,
        r: q::CreateFieldIndexCollection,
        start: Instant,
    ) -> Result<q::PointsOperationResponse> {
        let field_type = r.field_type.ok_or_else(|| {
            TesseraError::bad_input("field_type is required: Tessera does not infer index types")
        })?;
        let schema = convert::field_schema_from_proto(field_type, r.field_index_params)?;
        let result = self
            .gateway
            .create_payload_index(&r.collection_name, &r.field_name, schema)
            .await?;
        Ok(operation_response(result, start))
    }

    async fn delete_field_index(
        &self,
        r: q::DeleteFieldIndexCollection,
        start: Instant,
    ) -> Result<q::PointsOperationResponse> {
        let result = self
            .gateway
            .delete_payload_index(&r.collection_name, &r.field_name)
            .await?;
        Ok(operation_response(result, start))
    }

    async fn create_vector_name(
        &self,
        r: q::CreateVectorNameRequest,
        start: Instant,
    ) -> Result<q::PointsOperationResponse> {
        let collection = r.collection_name.clone();
        let (name, config) = convert::vector_name_config_from_proto(r)?;
        let change = UpdateCollection {
            add_vectors: [(name, config)].into(),
            ..Default::default()
        };
        self.gateway.update_collection(&collection, change).await?;
        Ok(completed(start))
    }

    async fn delete_vector_name(
        &self,
        r: q::DeleteVectorNameRequest,
        start: Instant,
    ) -> Result<q::PointsOperationResponse> {
        let change = UpdateCollection {
            remove_vectors: vec![r.vector_name],
            ..Default::default()
        };
        self.gateway
            .update_collection(&r.collection_name, change)
            .await?;
        Ok(completed(start))
    }

    async fn search(&self, r: q::SearchPoints, start: Instant) -> Result<q::SearchResponse> {
        let (collection, read) = (r.collection_name.clone(), r.read_options()?);
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

    async fn search_batch(
        &self,
        r: q::SearchBatchPoints,
        start: Instant,
    ) -> Result<q::SearchBatchResponse> {
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

    async fn scroll(&self, r: q::ScrollPoints, start: Instant) -> Result<q::ScrollResponse> {
        let (collection, read) = (r.collection_name.clone(), r.read_options()?);
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
    async fn count(&self, r: q::CountPoints, start: Instant) -> Result<q::CountResponse> {
        let read = r.read_options()?;
        let filter = convert::optional_filter_from_proto(r.filter)?;
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

    async fn query(&self, r: q::QueryPoints, start: Instant) -> Result<q::QueryResponse> {
        let (collection, read) = (r.collection_name.clone(), r.read_options()?);
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

    /// Each query of the batch runs against the batch's collection, as in Qdrant.
    async fn query_batch(
        &self,
        r: q::QueryBatchPoints,
        start: Instant,
    ) -> Result<q::QueryBatchResponse> {
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

    /// A grouped search of any kind, its groups in gRPC's shape.
    async fn groups<R: PointsRead>(
        &self,
        r: R,
        collection: String,
        convert: fn(R) -> Result<crate::service::GroupsRequest>,
    ) -> Result<q::GroupsResult> {
        let read = r.read_options()?;
        let groups = self
            .gateway
            .query_groups(&collection, convert(r)?, &read)
            .await?;
        Ok(convert::groups_to_proto(groups))
    }

    async fn search_groups(
        &self,
        r: q::SearchPointGroups,
        start: Instant,
    ) -> Result<q::SearchGroupsResponse> {
        let collection = r.collection_name.clone();
        let result = self
            .groups(r, collection, convert::search_groups_from_proto)
            .await?;
        Ok(q::SearchGroupsResponse {
            result: Some(result),
            time: elapsed(start),
            usage: None,
        })
    }

    async fn recommend_groups(
        &self,
        r: q::RecommendPointGroups,
        start: Instant,
    ) -> Result<q::RecommendGroupsResponse> {
        let collection = r.collection_name.clone();
        let result = self
            .groups(r, collection, convert::recommend_groups_from_proto)
            .await?;
        Ok(q::RecommendGroupsResponse {
            result: Some(result),
            time: elapsed(start),
            usage: None,
        })
    }

    async fn query_groups(
        &self,
        r: q::QueryPointGroups,
        start: Instant,
    ) -> Result<q::QueryGroupsResponse> {
        let collection = r.collection_name.clone();
        let result = self
            .groups(r, collection, convert::query_groups_from_proto)
            .await?;
        Ok(q::QueryGroupsResponse {
            result: Some(result),
            time: elapsed(start),
            usage: None,
        })
    }

    async fn recommend(
        &self,
        r: q::RecommendPoints,
        start: Instant,
    ) -> Result<q::RecommendResponse> {
        let (collection, read) = (r.collection_name.clone(), r.read_options()?);
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

    async fn recommend_batch(
        &self,
        r: q::RecommendBatchPoints,
        start: Instant,
    ) -> Result<q::RecommendBatchResponse> {
        let mut result = Vec::with_capacity(r.recommend_points.len());
        for mut points in r.recommend_points {
            points.collection_name.clone_from(&r.collection_name);
            points.read_consistency = r.read_consistency;
            result.push(q::BatchResult {
                result: self.recommend(points, start).await?.result,
            });
        }
        Ok(q::RecommendBatchResponse {
            result,
            time: elapsed(start),
            usage: None,
        })
    }

    async fn discover_points(&self, r: q::DiscoverPoints) -> Result<Vec<q::ScoredPoint>> {
        let (collection, read) = (r.collection_name.clone(), r.read_options()?);
        let points = self
            .gateway
            .query(&collection, convert::discover_from_points(r)?, &read)
            .await?;
        Ok(scored(points))
    }

    async fn discover(&self, r: q::DiscoverPoints, start: Instant) -> Result<q::DiscoverResponse> {
        Ok(q::DiscoverResponse {
            result: self.discover_points(r).await?,
            time: elapsed(start),
            usage: None,
        })
    }

    async fn discover_batch(
        &self,
        r: q::DiscoverBatchPoints,
        start: Instant,
    ) -> Result<q::DiscoverBatchResponse> {
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

    async fn facet(&self, r: q::FacetCounts, start: Instant) -> Result<q::FacetResponse> {
        let read = r.read_options()?;
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

    async fn matrix(&self, r: q::SearchMatrixPoints) -> Result<crate::service::DistanceMatrix> {
        let read = r.read_options()?;
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

    async fn search_matrix_pairs(
        &self,
        r: q::SearchMatrixPoints,
        start: Instant,
    ) -> Result<q::SearchMatrixPairsResponse> {
        let matrix = self.matrix(r).await?;
        let pairs = matrix
            .pairs()
            .into_iter()
            .map(|p| q::SearchMatrixPair {
                a: Some(convert::point_id_to_proto(p.a)),
                b: Some(convert::point_id_to_proto(p.b)),
                score: p.score,
            })
            .collect();
        Ok(q::SearchMatrixPairsResponse {
            result: Some(q::SearchMatrixPairs { pairs }),
            time: elapsed(start),
            usage: None,
        })
    }

    async fn search_matrix_offsets(
        &self,
        r: q::SearchMatrixPoints,
        start: Instant,
    ) -> Result<q::SearchMatrixOffsetsResponse> {
        let m = self.matrix(r).await?;
        Ok(q::SearchMatrixOffsetsResponse {
            result: Some(q::SearchMatrixOffsets {
                offsets_row: m.offsets_row,
                offsets_col: m.offsets_col,
                scores: m.scores,
                ids: m.ids.into_iter().map(convert::point_id_to_proto).collect(),
            }),
            time: elapsed(start),
            usage: None,
        })
    }
}

grpc_service! {
    Points for PointsService {
        upsert(q::UpsertPoints) -> q::PointsOperationResponse;
        delete(q::DeletePoints) -> q::PointsOperationResponse;
        get(q::GetPoints) -> q::GetResponse;
        update_vectors(q::UpdatePointVectors) -> q::PointsOperationResponse;
        delete_vectors(q::DeletePointVectors) -> q::PointsOperationResponse;
        set_payload(q::SetPayloadPoints) -> q::PointsOperationResponse;
        overwrite_payload(q::SetPayloadPoints) -> q::PointsOperationResponse;
        delete_payload(q::DeletePayloadPoints) -> q::PointsOperationResponse;
        clear_payload(q::ClearPayloadPoints) -> q::PointsOperationResponse;
        create_field_index(q::CreateFieldIndexCollection) -> q::PointsOperationResponse;
        delete_field_index(q::DeleteFieldIndexCollection) -> q::PointsOperationResponse;
        create_vector_name(q::CreateVectorNameRequest) -> q::PointsOperationResponse;
        delete_vector_name(q::DeleteVectorNameRequest) -> q::PointsOperationResponse;
        search(q::SearchPoints) -> q::SearchResponse;
        search_batch(q::SearchBatchPoints) -> q::SearchBatchResponse;
        search_groups(q::SearchPointGroups) -> q::SearchGroupsResponse;
        scroll(q::ScrollPoints) -> q::ScrollResponse;
        recommend(q::RecommendPoints) -> q::RecommendResponse;
        recommend_batch(q::RecommendBatchPoints) -> q::RecommendBatchResponse;
        recommend_groups(q::RecommendPointGroups) -> q::RecommendGroupsResponse;
        discover(q::DiscoverPoints) -> q::DiscoverResponse;
        discover_batch(q::DiscoverBatchPoints) -> q::DiscoverBatchResponse;
        count(q::CountPoints) -> q::CountResponse;
        update_batch(q::UpdateBatchPoints) -> q::UpdateBatchResponse;
        query(q::QueryPoints) -> q::QueryResponse;
        query_batch(q::QueryBatchPoints) -> q::QueryBatchResponse;
        query_groups(q::QueryPointGroups) -> q::QueryGroupsResponse;
        facet(q::FacetCounts) -> q::FacetResponse;
        search_matrix_pairs(q::SearchMatrixPoints) -> q::SearchMatrixPairsResponse;
        search_matrix_offsets(q::SearchMatrixPoints) -> q::SearchMatrixOffsetsResponse;
    }
}
