//! `qdrant.Collections`: collection lifecycle and information. Each call is
//! one handler taking the request and the time it arrived; `grpc_service!`
//! writes the trait's plumbing.

use std::time::Instant;

use qdrant_client::qdrant as q;
use qdrant_client::qdrant::collections_server::Collections;
use tessera_types::TesseraError;

use super::{convert, elapsed, grpc_service};
use crate::service::Gateway;

type Result<T> = std::result::Result<T, TesseraError>;

pub struct CollectionsService {
    gateway: Gateway,
}

/// A collection change's outcome in Qdrant's shape.
fn changed(result: bool, start: Instant) -> q::CollectionOperationResponse {
    q::CollectionOperationResponse {
        result,
        time: elapsed(start),
    }
}

impl CollectionsService {
    pub fn new(gateway: Gateway) -> Self {
        CollectionsService { gateway }
    }

    async fn get(
        &self,
        r: q::GetCollectionInfoRequest,
        start: Instant,
    ) -> Result<q::GetCollectionInfoResponse> {
        let info = self.gateway.collection_info(&r.collection_name).await?;
        Ok(q::GetCollectionInfoResponse {
            result: Some(convert::collection_info_to_proto(info)),
            time: elapsed(start),
        })
    }

    async fn list(
        &self,
        _: q::ListCollectionsRequest,
        start: Instant,
    ) -> Result<q::ListCollectionsResponse> {
        let collections = self
            .gateway
            .list_collections()
            .into_iter()
            .map(|name| q::CollectionDescription { name })
            .collect();
        Ok(q::ListCollectionsResponse {
            collections,
            time: elapsed(start),
        })
    }

    async fn create(
        &self,
        r: q::CreateCollection,
        start: Instant,
    ) -> Result<q::CollectionOperationResponse> {
        let name = r.collection_name.clone();
        let create = convert::create_collection_from_proto(r)?;
        self.gateway.create_collection(&name, create).await?;
        Ok(changed(true, start))
    }

    async fn update(
        &self,
        r: q::UpdateCollection,
        start: Instant,
    ) -> Result<q::CollectionOperationResponse> {
        let name = r.collection_name.clone();
        let update = convert::update_collection_from_proto(r)?;
        self.gateway.update_collection(&name, update).await?;
        Ok(changed(true, start))
    }

    async fn delete(
        &self,
        r: q::DeleteCollection,
        start: Instant,
    ) -> Result<q::CollectionOperationResponse> {
        let existed = self.gateway.delete_collection(&r.collection_name).await?;
        Ok(changed(existed, start))
    }

    async fn update_aliases(
        &self,
        r: q::ChangeAliases,
        start: Instant,
    ) -> Result<q::CollectionOperationResponse> {
        let actions = convert::alias_actions_from_proto(r)?;
        let result = self.gateway.update_aliases(actions).await?;
        Ok(changed(result, start))
    }

    async fn list_collection_aliases(
        &self,
        r: q::ListCollectionAliasesRequest,
        start: Instant,
    ) -> Result<q::ListAliasesResponse> {
        let aliases = self.gateway.list_collection_aliases(&r.collection_name)?;
        Ok(q::ListAliasesResponse {
            aliases: convert::aliases_to_proto(aliases),
            time: elapsed(start),
        })
    }

    async fn list_aliases(
        &self,
        _: q::ListAliasesRequest,
        start: Instant,
    ) -> Result<q::ListAliasesResponse> {
        Ok(q::ListAliasesResponse {
            aliases: convert::aliases_to_proto(self.gateway.list_aliases()),
            time: elapsed(start),
        })
    }

    async fn collection_cluster_info(
        &self,
        r: q::CollectionClusterInfoRequest,
        start: Instant,
    ) -> Result<q::CollectionClusterInfoResponse> {
        let info = self
            .gateway
            .collection_cluster_info(&r.collection_name)
            .await?;
        Ok(convert::cluster_info_to_proto(info, elapsed(start)))
    }

    async fn collection_exists(
        &self,
        r: q::CollectionExistsRequest,
        start: Instant,
    ) -> Result<q::CollectionExistsResponse> {
        let exists = self.gateway.collection_exists(&r.collection_name);
        Ok(q::CollectionExistsResponse {
            result: Some(q::CollectionExists { exists }),
            time: elapsed(start),
        })
    }

    async fn update_collection_cluster_setup(
        &self,
        r: q::UpdateCollectionClusterSetupRequest,
        start: Instant,
    ) -> Result<q::UpdateCollectionClusterSetupResponse> {
        let operation = convert::cluster_operation_from_proto(r.operation)?;
        let result = self
            .gateway
            .update_cluster_setup(&r.collection_name, operation)
            .await?;
        Ok(q::UpdateCollectionClusterSetupResponse {
            result,
            time: elapsed(start),
        })
    }

    async fn create_shard_key(
        &self,
        r: q::CreateShardKeyRequest,
        start: Instant,
    ) -> Result<q::CreateShardKeyResponse> {
        let create = convert::create_shard_key_from_proto(r.request)?;
        let result = self
            .gateway
            .create_shard_key(&r.collection_name, create)
            .await?;
        Ok(q::CreateShardKeyResponse {
            result,
            time: elapsed(start),
        })
    }

    async fn delete_shard_key(
        &self,
        r: q::DeleteShardKeyRequest,
        start: Instant,
    ) -> Result<q::DeleteShardKeyResponse> {
        let key = convert::delete_shard_key_from_proto(r.request)?;
        let result = self
            .gateway
            .delete_shard_key(&r.collection_name, key)
            .await?;
        Ok(q::DeleteShardKeyResponse {
            result,
            time: elapsed(start),
        })
    }

    async fn list_shard_keys(
        &self,
        r: q::ListShardKeysRequest,
        start: Instant,
    ) -> Result<q::ListShardKeysResponse> {
        let keys = self.gateway.list_shard_keys(&r.collection_name)?;
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
}

grpc_service! {
    Collections for CollectionsService {
        get(q::GetCollectionInfoRequest) -> q::GetCollectionInfoResponse;
        list(q::ListCollectionsRequest) -> q::ListCollectionsResponse;
        create(q::CreateCollection) -> q::CollectionOperationResponse;
        update(q::UpdateCollection) -> q::CollectionOperationResponse;
        delete(q::DeleteCollection) -> q::CollectionOperationResponse;
        update_aliases(q::ChangeAliases) -> q::CollectionOperationResponse;
        list_collection_aliases(q::ListCollectionAliasesRequest) -> q::ListAliasesResponse;
        list_aliases(q::ListAliasesRequest) -> q::ListAliasesResponse;
        collection_cluster_info(q::CollectionClusterInfoRequest) -> q::CollectionClusterInfoResponse;
        collection_exists(q::CollectionExistsRequest) -> q::CollectionExistsResponse;
        update_collection_cluster_setup(q::UpdateCollectionClusterSetupRequest)
            -> q::UpdateCollectionClusterSetupResponse;
        create_shard_key(q::CreateShardKeyRequest) -> q::CreateShardKeyResponse;
        delete_shard_key(q::DeleteShardKeyRequest) -> q::DeleteShardKeyResponse;
        list_shard_keys(q::ListShardKeysRequest) -> q::ListShardKeysResponse;
    }
}
