//! `qdrant.Qdrant`: the health check clients call on connect.

use qdrant_client::qdrant::qdrant_server::Qdrant;
use qdrant_client::qdrant::{HealthCheckReply, HealthCheckRequest};
use tonic::{Request, Response, Status};

pub struct QdrantService;

#[tonic::async_trait]
impl Qdrant for QdrantService {
    /// Reports the Qdrant version Tessera is compatible with, which clients
    /// compare with their own.
    async fn health_check(
        &self,
        _request: Request<HealthCheckRequest>,
    ) -> Result<Response<HealthCheckReply>, Status> {
        Ok(Response::new(HealthCheckReply {
            title: "tessera".to_string(),
            version: tessera_types::QDRANT_COMPATIBLE_VERSION.to_string(),
            commit: None,
        }))
    }
}
