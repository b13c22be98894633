//! `GET /quotas` and `PUT /quotas` (Qdrant 1.19): the node-wide resource
//! quota and each data node's usage against it.

use axum::body::Bytes;
use axum::extract::State;
use axum::response::Response;
use tessera_types::QuotaConfig;

use super::{parse_body, Timer};
use crate::service::Gateway;

pub async fn get(State(gateway): State<Gateway>) -> Response {
    let timer = Timer::start();
    timer.finish(Ok(gateway.quota_status().await))
}

pub async fn set(State(gateway): State<Gateway>, body: Bytes) -> Response {
    let timer = Timer::start();
    let outcome = async {
        let config: QuotaConfig = parse_body(&body)?;
        gateway.set_quota(config).await
    }
    .await;
    timer.finish(outcome)
}
