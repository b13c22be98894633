//! The data plane's gRPC service: point operations on the replicas this node holds.

use tessera_proto::common::ShardTarget;
use tessera_proto::convert::{error_to_status, from_json, point_ids, selectors_from_proto};
use tessera_proto::data_plane::data_plane_server::DataPlane;
use tessera_proto::data_plane::{
    CountReply, CountRequest, RetrieveReply, RetrieveRequest, ScrollReply, ScrollRequest,
    SearchReply, SearchRequest, ShardStatsReply, ShardStatsRequest, UpdateReply, UpdateRequest,
};
use tessera_types::{Filter, ShardOperation, TesseraError};
use tonic::{Request, Response, Status};

use crate::registry::ShardRegistry;
use crate::shard::Shard;

pub struct DataPlaneService {
    registry: ShardRegistry,
}

impl DataPlaneService {
    pub fn new(registry: ShardRegistry) -> Self {
        DataPlaneService { registry }
    }

    /// Runs `f` on the replica a request targets. Shard work blocks (fsync,
    /// index search), so it runs off the async threads; errors are mapped
    /// once, here at the edge.
    async fn on_shard<T: Send + 'static>(
        &self,
        target: Option<ShardTarget>,
        f: impl FnOnce(&Shard) -> Result<T, TesseraError> + Send + 'static,
    ) -> Result<Response<T>, Status> {
        let shard = self.registry.shard(target).await.map_err(error_to_status)?;
        tokio::task::spawn_blocking(move || f(&shard))
            .await
            .map_err(|e| Status::internal(e.to_string()))?
            .map(Response::new)
            .map_err(error_to_status)
    }
}

#[tonic::async_trait]
impl DataPlane for DataPlaneService {
    async fn update(
        &self,
        request: Request<UpdateRequest>,
    ) -> Result<Response<UpdateReply>, Status> {
        let request = request.into_inner();
        let operation: ShardOperation = request
            .operation
            .ok_or_else(|| TesseraError::bad_input("operation is missing"))
            .and_then(TryInto::try_into)
            .map_err(error_to_status)?;
        let wait = request.wait;
        self.on_shard(request.target, move |shard| {
            let operation_id = shard.apply(operation, wait)?;
            Ok(UpdateReply {
                operation_id,
                completed: true,
            })
        })
        .await
    }

    async fn retrieve(
        &self,
        request: Request<RetrieveRequest>,
    ) -> Result<Response<RetrieveReply>, Status> {
        let request = request.into_inner();
        let ids = point_ids(request.ids).map_err(error_to_status)?;
        let (with_payload, with_vector) =
            selectors_from_proto(request.selectors).map_err(error_to_status)?;
        self.on_shard(request.target, move |shard| {
            let records = shard.retrieve(&ids, &with_payload, &with_vector);
            Ok(RetrieveReply {
                records: records.into_iter().map(Into::into).collect(),
            })
        })
        .await
    }

    async fn search(
        &self,
        request: Request<SearchRequest>,
    ) -> Result<Response<SearchReply>, Status> {
        let request = request.into_inner();
        let search: tessera_types::SearchRequest =
            from_json(&request.request_json, "search request").map_err(error_to_status)?;
        self.on_shard(request.target, move |shard| {
            let points = shard.search(&search)?;
            Ok(SearchReply {
                points: points.into_iter().map(Into::into).collect(),
            })
        })
        .await
    }

    async fn scroll(
        &self,
        request: Request<ScrollRequest>,
    ) -> Result<Response<ScrollReply>, Status> {
        let request = request.into_inner();
        let scroll: tessera_types::ScrollRequest =
            from_json(&request.request_json, "scroll request").map_err(error_to_status)?;
        self.on_shard(request.target, move |shard| {
            let page = shard.scroll(&scroll)?;
            Ok(ScrollReply {
                records: page.points.into_iter().map(Into::into).collect(),
                next_page_offset: page.next_page_offset.map(Into::into),
            })
        })
        .await
    }

    async fn count(&self, request: Request<CountRequest>) -> Result<Response<CountReply>, Status> {
        let request = request.into_inner();
        let filter: Option<Filter> = request
            .filter_json
            .map(|f| from_json(&f, "filter"))
            .transpose()
            .map_err(error_to_status)?;
        self.on_shard(request.target, move |shard| {
            let count = shard.count(filter.as_ref())?;
            Ok(CountReply { count })
        })
        .await
    }

    async fn shard_stats(
        &self,
        request: Request<ShardStatsRequest>,
    ) -> Result<Response<ShardStatsReply>, Status> {
        let shard = self
            .registry
            .shard(request.into_inner().target)
            .await
            .map_err(error_to_status)?;
        let stats = shard.stats();
        Ok(Response::new(ShardStatsReply {
            points_count: stats.points_count,
            indexed_vectors_count: stats.indexed_vectors_count,
            segments_count: stats.segments_count,
            optimizing: stats.optimizing,
            payload_points: stats.payload_points.into_iter().collect(),
        }))
    }
}
