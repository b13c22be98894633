//! `qdrant.Collections`: collection lifecycle and information.

use std::time::Instant;

use qdrant_client::qdrant as q;
use qdrant_client::qdrant::collections_server::Collections;
use tessera_types::TesseraError;
use tonic::{Request, Response, Status};

use super::{convert, elapsed, respond};
use crate::service::Gateway;

type Result<T> = std::result::Result<T, TesseraError>;

pub struct CollectionsService {
    gateway: Gateway,
}

impl CollectionsService {
    pub fn new(gateway: Gateway) -> Self {
        CollectionsService { gateway }
    }

    async fn get_info(
        &self,
        request: q::GetCollectionInfoRequest,
    ) -> Result<q::GetCollectionInfoResponse> {
        let start = Instant::now();
        let info = self
            .gateway
            .collection_info(&request.collection_name)
            .await?;
        Ok(q::GetCollectionInfoResponse {
            result: Some(convert::collection_info_to_proto(info)),
            time: elapsed(start),
        })
    }

    async fn create_collection(
        &self,
        request: q::CreateCollection,
    ) -> Result<q::CollectionOperationResponse> {
        let start = Instant::now();
        let name = request.collection_name.clone();
        let create = convert::create_collection_from_proto(request)?;
        self.gateway.create_collection(&name, create).await?;
        Ok(q::CollectionOperationResponse {
            result: true,
            time: elapsed(start),
        })
    }

    async fn update_collection(
        &self,
        request: q::UpdateCollection,
    ) -> Result<q::CollectionOperationResponse> {
        let start = Instant::now();
        let name = request.collection_name.clone();
        let update = convert::update_collection_from_proto(request)?;
        self.gateway.update_collection(&name, update).await?;
        Ok(q::CollectionOperationResponse {
            result: true,
            time: elapsed(start),
        })
    }

    async fn delete_collection(
        &self,
        request: q::DeleteCollection,
    ) -> Result<q::CollectionOperationResponse> {
        let start = Instant::now();
        let existed = self
            .gateway
            .delete_collection(&request.collection_name)
            .await?;
        Ok(q::CollectionOperationResponse {
            result: existed,
            time: elapsed(start),
        })
    }

    async fn cluster_info(
        &self,
        request: q::CollectionClusterInfoRequest,
    ) -> Result<q::CollectionClusterInfoResponse> {
        let start = Instant::now();
        let info = self
            .gateway
            .collection_cluster_info(&request.collection_name)
            .await?;
        Ok(convert::cluster_info_to_proto(info, elapsed(start)))
    }

    async fn create_shard_key(
        &self,
        request: q::CreateShardKeyRequest,
    ) -> Result<q::CreateShardKeyResponse> {
        let start = Instant::now();
        let create = convert::create_shard_key_from_proto(request.request)?;
        let result = self
            .gateway
            .create_shard_key(&request.collection_name, create)
            .await?;
        Ok(q::CreateShardKeyResponse {
            result,
            time: elapsed(start),
        })
    }

    async fn delete_shard_key(
        &self,
        request: q::DeleteShardKeyRequest,
    ) -> Result<q::DeleteShardKeyResponse> {
        let start = Instant::now();
        let key = convert::delete_shard_key_from_proto(request.request)?;
        let result = self
            .gateway
            .delete_shard_key(&request.collection_name, key)
            .await?;
        Ok(q::DeleteShardKeyResponse {
            result,
            time: elapsed(start),
        })
    }

    fn list_shard_keys(
        &self,
        request: q::ListShardKeysRequest,
    ) -> Result<q::ListShardKeysResponse> {
        let start = Instant::now();
        let keys = self.gateway.list_shard_keys(&request.collection_name)?;
        Ok(q::ListShardKeysResponse {
            shard_keys: keys
                .unwrap_or_default()
                .into_iter()
                .map(|key| q::ShardKeyDescription {
                    key: convert::shard_key_to_proto(key),
                })
                .collect(),
            time: elapsed(start),
        })
    }

    async fn update_cluster_setup(
        &self,
        request: q::UpdateCollectionClusterSetupRequest,
    ) -> Result<q::UpdateCollectionClusterSetupResponse> {
        let start = Instant::now();
        let operation = convert::cluster_operation_from_proto(request.operation)?;
        let result = self
            .gateway
            .update_cluster_setup(&request.collection_name, operation)
            .await?;
        Ok(q::UpdateCollectionClusterSetupResponse {
            result,
            time: elapsed(start),
        })
    }
}

#[tonic::async_trait]
impl Collections for CollectionsService {
    async fn get(
        &self,
        request: Request<q::GetCollectionInfoRequest>,
    ) -> std::result::Result<Response<q::GetCollectionInfoResponse>, Status> {
        respond(self.get_info(request.into_inner()).await)
    }

    async fn list(
        &self,
        _request: Request<q::ListCollectionsRequest>,
    ) -> std::result::Result<Response<q::ListCollectionsResponse>, Status> {
        let start = Instant::now();
        let collections = self
            .gateway
            .list_collections()
            .into_iter()
            .map(|name| q::CollectionDescription { name })
            .collect();
        respond(Ok(q::ListCollectionsResponse {
            collections,
            time: elapsed(start),
        }))
    }

    async fn create(
        &self,
        request: Request<q::CreateCollection>,
    ) -> std::result::Result<Response<q::CollectionOperationResponse>, Status> {
        respond(self.create_collection(request.into_inner()).await)
    }

    async fn update(
        &self,
        request: Request<q::UpdateCollection>,
    ) -> std::result::Result<Response<q::CollectionOperationResponse>, Status> {
        respond(self.update_collection(request.into_inner()).await)
    }

    async fn delete(
        &self,
        request: Request<q::DeleteCollection>,
    ) -> std::result::Result<Response<q::CollectionOperationResponse>, Status> {
        respond(self.delete_collection(request.into_inner()).await)
    }

    async fn update_aliases(
        &self,
        request: Request<q::ChangeAliases>,
    ) -> std::result::Result<Response<q::CollectionOperationResponse>, Status> {
        let start = Instant::now();
        let outcome = async {
            let actions = convert::alias_actions_from_proto(request.into_inner())?;
            self.gateway.update_aliases(actions).await
        }
        .await;
        respond(outcome.map(|result| q::CollectionOperationResponse {
            result,
            time: elapsed(start),
        }))
    }

    async fn list_collection_aliases(
        &self,
        request: Request<q::ListCollectionAliasesRequest>,
    ) -> std::result::Result<Response<q::ListAliasesResponse>, Status> {
        let start = Instant::now();
        let listed = self
            .gateway
            .list_collection_aliases(&request.into_inner().collection_name);
        respond(listed.map(|aliases| q::ListAliasesResponse {
            aliases: convert::aliases_to_proto(aliases),
            time: elapsed(start),
        }))
    }

    async fn list_aliases(
        &self,
        _request: Request<q::ListAliasesRequest>,
    ) -> std::result::Result<Response<q::ListAliasesResponse>, Status> {
        let start = Instant::now();
        respond(Ok(q::ListAliasesResponse {
            aliases: convert::aliases_to_proto(self.gateway.list_aliases()),
            time: elapsed(start),
        }))
    }

    async fn collection_cluster_info(
        &self,
        request: Request<q::CollectionClusterInfoRequest>,
    ) -> std::result::Result<Response<q::CollectionClusterInfoResponse>, Status> {
        respond(self.cluster_info(request.into_inner()).await)
    }

    async fn collection_exists(
        &self,
        request: Request<q::CollectionExistsRequest>,
    ) -> std::result::Result<Response<q::CollectionExistsResponse>, Status> {
        let start = Instant::now();
        let exists = self
            .gateway
            .collection_exists(&request.into_inner().collection_name);
        respond(Ok(q::CollectionExistsResponse {
            result: Some(q::CollectionExists { exists }),
            time: elapsed(start),
        }))
    }

    async fn update_collection_cluster_setup(
        &self,
        request: Request<q::UpdateCollectionClusterSetupRequest>,
    ) -> std::result::Result<Response<q::UpdateCollectionClusterSetupResponse>, Status> {
        respond(self.update_cluster_setup(request.into_inner()).await)
    }

    async fn create_shard_key(
        &self,
        request: Request<q::CreateShardKeyRequest>,
    ) -> std::result::Result<Response<q::CreateShardKeyResponse>, Status> {
        respond(self.create_shard_key(request.into_inner()).await)
    }

    async fn delete_shard_key(
        &self,
        request: Request<q::DeleteShardKeyRequest>,
    ) -> std::result::Result<Response<q::DeleteShardKeyResponse>, Status> {
        respond(self.delete_shard_key(request.into_inner()).await)
    }

    async fn list_shard_keys(
        &self,
        request: Request<q::ListShardKeysRequest>,
    ) -> std::result::Result<Response<q::ListShardKeysResponse>, Status> {
        respond(self.list_shard_keys(request.into_inner()))
    }
}
