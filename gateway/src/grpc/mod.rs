//! Qdrant's gRPC API, served with the traits generated in the `qdrant-client` crate.
//! Each service translates its requests with `convert` and calls the [`Gateway`].

mod collections;
mod convert;
mod points;
mod qdrant;
mod snapshots;

use std::future::Future;
use std::time::Instant;

use axum::http::HeaderMap;
use qdrant_client::qdrant::collections_server::CollectionsServer;
use qdrant_client::qdrant::points_server::PointsServer;
use qdrant_client::qdrant::qdrant_server::QdrantServer;
use qdrant_client::qdrant::snapshots_server::SnapshotsServer;
use tessera_proto::convert::error_to_status;
use tessera_runtime::metrics::RequestMetrics;
use tessera_runtime::transport::incoming_nodelay;
use tessera_runtime::transport::GuardLayer;
use tessera_types::TesseraError;
use tokio::net::TcpListener;
use tonic::transport::Server;
use tonic::{Response, Status};
use tonic_health::ServingStatus;

use crate::auth::ApiKeys;
use crate::instance::ClientTls;
use crate::service::Gateway;

/// Large enough for the batches clients upload (qdrant-client's own default
/// limit for a message is 4 MiB, which bulk upserts easily exceed).
const MAX_MESSAGE_SIZE: usize = 256 * 1024 * 1024;

pub async fn serve(
    gateway: Gateway,
    listener: TcpListener,
    tls: Option<ClientTls>,
    api_keys: ApiKeys,
    requests: RequestMetrics,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), TesseraError> {
    let (health_reporter, health) = tonic_health::server::health_reporter();
    health_reporter
        .set_service_status("", ServingStatus::Serving)
        .await;
    health_reporter
        .set_serving::<QdrantServer<qdrant::QdrantService>>()
        .await;

    let mut server = Server::builder();
    if let Some(tls) = tls {
        let identity = tonic::transport::Identity::from_pem(tls.cert, tls.key);
        server = server
            .tls_config(tonic::transport::ServerTlsConfig::new().identity(identity))
            .map_err(|e| TesseraError::Unavailable(format!("tls.cert and tls.key: {e}")))?;
    }
    server
        .layer(tessera_runtime::trace_context::client_grpc_layer())
        .layer(requests.grpc_layer())
        .layer(crate::routing::affinity::AffinityLayer)
        .layer(GuardLayer(move |headers: &HeaderMap, path: &str| {
            api_keys.check_grpc(headers, path)
        }))
        .add_service(health)
        .add_service(
            QdrantServer::new(qdrant::QdrantService)
                .max_decoding_message_size(MAX_MESSAGE_SIZE)
                .max_encoding_message_size(MAX_MESSAGE_SIZE),
        )
        .add_service(
            CollectionsServer::new(collections::CollectionsService::new(gateway.clone()))
                .max_decoding_message_size(MAX_MESSAGE_SIZE)
                .max_encoding_message_size(MAX_MESSAGE_SIZE),
        )
        .add_service(
            PointsServer::new(points::PointsService::new(gateway.clone()))
                .max_decoding_message_size(MAX_MESSAGE_SIZE)
                .max_encoding_message_size(MAX_MESSAGE_SIZE),
        )
        .add_service(
            SnapshotsServer::new(snapshots::SnapshotsService::new(gateway))
                .max_decoding_message_size(MAX_MESSAGE_SIZE)
                .max_encoding_message_size(MAX_MESSAGE_SIZE),
        )
        .serve_with_incoming_shutdown(incoming_nodelay(listener), shutdown)
        .await
        .map_err(|e| TesseraError::internal(format!("gRPC server failed: {e}")))
}

/// Implements a gRPC service trait whose every call `rpc` is answered by the
/// service's own `rpc(request, arrived)` handler, its error mapped to a status.
macro_rules! grpc_service {
    ($service_trait:ident for $service:ty {
        $($rpc:ident($request:ty) -> $reply:ty;)*
    }) => {
        #[tonic::async_trait]
        impl $service_trait for $service {
            $(async fn $rpc(
                &self,
                request: tonic::Request<$request>,
            ) -> std::result::Result<tonic::Response<$reply>, tonic::Status> {
                let arrived = std::time::Instant::now();
                $crate::grpc::respond(<$service>::$rpc(self, request.into_inner(), arrived).await)
            })*
        }
    };
}
use grpc_service;

/// Wraps a handler's result, mapping a domain error to its gRPC status.
fn respond<T>(result: Result<T, TesseraError>) -> Result<Response<T>, Status> {
    result.map(Response::new).map_err(error_to_status)
}

/// Seconds since `start`, for the `time` field of Qdrant's replies.
fn elapsed(start: Instant) -> f64 {
    start.elapsed().as_secs_f64()
}
