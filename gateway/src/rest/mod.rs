//! Qdrant's REST API.

use crate::service::Gateway;

pub fn router(gateway: Gateway) -> axum::Router {
    let _ = gateway;
    axum::Router::new()
}
