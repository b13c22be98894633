//! `qdrant.Snapshots`: collection and full-storage snapshots.

use std::time::Instant;

use qdrant_client::qdrant as q;
use qdrant_client::qdrant::snapshots_server::Snapshots;
use tessera_types::time::UtcDateTime;
use tessera_types::SnapshotDescription;
use tonic::{Request, Response, Status};

use super::{elapsed, respond};
use crate::service::Gateway;
use crate::snapshots::SnapshotScope;

pub struct SnapshotsService {
    gateway: Gateway,
}

impl SnapshotsService {
    pub fn new(gateway: Gateway) -> Self {
        SnapshotsService { gateway }
    }

    async fn create_in(
        &self,
        scope: SnapshotScope,
    ) -> Result<Response<q::CreateSnapshotResponse>, Status> {
        let start = Instant::now();
        respond(
            self.gateway
                .create_snapshot(&scope)
                .await
                .map(|d| q::CreateSnapshotResponse {
                    snapshot_description: Some(to_proto(d)),
                    time: elapsed(start),
                }),
        )
    }

    async fn list_in(
        &self,
        scope: SnapshotScope,
    ) -> Result<Response<q::ListSnapshotsResponse>, Status> {
        let start = Instant::now();
        if let SnapshotScope::Collection(name) = &scope {
            if !self.gateway.collection_exists(name) {
                return respond(Err(tessera_types::TesseraError::collection_not_found(name)));
            }
        }
        respond(
            self.gateway
                .list_snapshots(&scope)
                .await
                .map(|listed| q::ListSnapshotsResponse {
                    snapshot_descriptions: listed.into_iter().map(to_proto).collect(),
                    time: elapsed(start),
                }),
        )
    }

    async fn delete_in(
        &self,
        scope: SnapshotScope,
        name: &str,
    ) -> Result<Response<q::DeleteSnapshotResponse>, Status> {
        let start = Instant::now();
        respond(self.gateway.delete_snapshot(&scope, name).await.map(|_| {
            q::DeleteSnapshotResponse {
                time: elapsed(start),
            }
        }))
    }
}

fn to_proto(d: SnapshotDescription) -> q::SnapshotDescription {
    q::SnapshotDescription {
        name: d.name,
        creation_time: d
            .creation_time
            .as_deref()
            .and_then(UtcDateTime::parse_iso_local)
            .map(|t| prost_types::Timestamp {
                seconds: t.unix_seconds(),
                nanos: 0,
            }),
        size: d.size as i64,
        checksum: d.checksum,
    }
}

#[tonic::async_trait]
impl Snapshots for SnapshotsService {
    async fn create(
        &self,
        request: Request<q::CreateSnapshotRequest>,
    ) -> Result<Response<q::CreateSnapshotResponse>, Status> {
        let name = request.into_inner().collection_name;
        self.create_in(SnapshotScope::Collection(name)).await
    }

    async fn list(
        &self,
        request: Request<q::ListSnapshotsRequest>,
    ) -> Result<Response<q::ListSnapshotsResponse>, Status> {
        let name = request.into_inner().collection_name;
        self.list_in(SnapshotScope::Collection(name)).await
    }

    async fn delete(
        &self,
        request: Request<q::DeleteSnapshotRequest>,
    ) -> Result<Response<q::DeleteSnapshotResponse>, Status> {
        let request = request.into_inner();
        self.delete_in(
            SnapshotScope::Collection(request.collection_name),
            &request.snapshot_name,
        )
        .await
    }

    async fn create_full(
        &self,
        _request: Request<q::CreateFullSnapshotRequest>,
    ) -> Result<Response<q::CreateSnapshotResponse>, Status> {
        self.create_in(SnapshotScope::Full).await
    }

    async fn list_full(
        &self,
        _request: Request<q::ListFullSnapshotsRequest>,
    ) -> Result<Response<q::ListSnapshotsResponse>, Status> {
        self.list_in(SnapshotScope::Full).await
    }

    async fn delete_full(
        &self,
        request: Request<q::DeleteFullSnapshotRequest>,
    ) -> Result<Response<q::DeleteSnapshotResponse>, Status> {
        self.delete_in(SnapshotScope::Full, &request.into_inner().snapshot_name)
            .await
    }
}
