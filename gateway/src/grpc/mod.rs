//! Qdrant's gRPC API, served with the traits generated in the `qdrant-client` crate.

use tessera_types::TesseraError;
use tokio::net::TcpListener;

use crate::service::Gateway;

pub async fn serve(
    gateway: Gateway,
    listener: TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), TesseraError> {
    let _ = (gateway, listener, shutdown);
    Err(TesseraError::Unimplemented("gRPC".into()))
}
