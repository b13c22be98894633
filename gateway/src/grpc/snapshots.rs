//! `qdrant.Snapshots`: collection and full-storage snapshots; `grpc_service!`
//! writes the trait's plumbing.

use std::time::Instant;

use qdrant_client::qdrant as q;
use qdrant_client::qdrant::snapshots_server::Snapshots;
use tessera_types::time::UtcDateTime;
use tessera_types::{SnapshotDescription, TesseraError};

use super::{elapsed, grpc_service};
use crate::service::Gateway;
use crate::snapshots::SnapshotScope;

type Result<T> = std::result::Result<T, TesseraError>;

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
        start: Instant,
    ) -> Result<q::CreateSnapshotResponse> {
        let description = self.gateway.create_snapshot(&scope).await?;
        Ok(q::CreateSnapshotResponse {
            snapshot_description: Some(to_proto(description)),
            time: elapsed(start),
        })
    }

    async fn list_in(
        &self,
        scope: SnapshotScope,
        start: Instant,
    ) -> Result<q::ListSnapshotsResponse> {
        if let SnapshotScope::Collection(name) = &scope {
            if !self.gateway.collection_exists(name) {
                return Err(TesseraError::collection_not_found(name));
            }
        }
        let listed = self.gateway.list_snapshots(&scope).await?;
        Ok(q::ListSnapshotsResponse {
            snapshot_descriptions: listed.into_iter().map(to_proto).collect(),
            time: elapsed(start),
        })
    }

    async fn delete_in(
        &self,
        scope: SnapshotScope,
        name: &str,
        start: Instant,
    ) -> Result<q::DeleteSnapshotResponse> {
        self.gateway.delete_snapshot(&scope, name).await?;
        Ok(q::DeleteSnapshotResponse {
            time: elapsed(start),
        })
    }

    async fn create(
        &self,
        r: q::CreateSnapshotRequest,
        start: Instant,
    ) -> Result<q::CreateSnapshotResponse> {
        self.create_in(SnapshotScope::Collection(r.collection_name), start)
            .await
    }

    async fn list(
        &self,
        r: q::ListSnapshotsRequest,
        start: Instant,
    ) -> Result<q::ListSnapshotsResponse> {
        self.list_in(SnapshotScope::Collection(r.collection_name), start)
            .await
    }

    async fn delete(
        &self,
        r: q::DeleteSnapshotRequest,
        start: Instant,
    ) -> Result<q::DeleteSnapshotResponse> {
        let scope = SnapshotScope::Collection(r.collection_name);
        self.delete_in(scope, &r.snapshot_name, start).await
    }

    async fn create_full(
        &self,
        _: q::CreateFullSnapshotRequest,
        start: Instant,
    ) -> Result<q::CreateSnapshotResponse> {
        self.create_in(SnapshotScope::Full, start).await
    }

    async fn list_full(
        &self,
        _: q::ListFullSnapshotsRequest,
        start: Instant,
    ) -> Result<q::ListSnapshotsResponse> {
        self.list_in(SnapshotScope::Full, start).await
    }

    async fn delete_full(
        &self,
        r: q::DeleteFullSnapshotRequest,
        start: Instant,
    ) -> Result<q::DeleteSnapshotResponse> {
        self.delete_in(SnapshotScope::Full, &r.snapshot_name, start)
            .await
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

grpc_service! {
    Snapshots for SnapshotsService {
        create(q::CreateSnapshotRequest) -> q::CreateSnapshotResponse;
        list(q::ListSnapshotsRequest) -> q::ListSnapshotsResponse;
        delete(q::DeleteSnapshotRequest) -> q::DeleteSnapshotResponse;
        create_full(q::CreateFullSnapshotRequest) -> q::CreateSnapshotResponse;
        list_full(q::ListFullSnapshotsRequest) -> q::ListSnapshotsResponse;
        delete_full(q::DeleteFullSnapshotRequest) -> q::DeleteSnapshotResponse;
    }
}
