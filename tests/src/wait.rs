//! Polling with a deadline, for conditions a test cannot be told about.

use std::future::Future;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::rest::Rest;

/// How long a deployment may take to become ready. Debug builds on two shared
/// cores start in seconds; the margin covers a loaded CI machine.
pub const READY_TIMEOUT: Duration = Duration::from_secs(60);

const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// Calls `check` until it returns `Ok`, or until `timeout` has passed; the
/// error then names `what` and the last reason `check` gave.
pub async fn until<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> Result<T, String>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        let last = match check().await {
            Ok(value) => return Ok(value),
            Err(reason) => reason,
        };
        if Instant::now() >= deadline {
            return Err(format!(
                "timed out after {timeout:?} waiting for {what}; last: {last}"
            ));
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// One readiness probe of a gateway: `GET /readyz` answers 200 and
/// `GET /cluster` lists exactly `data_nodes` data-plane peers.
pub async fn gateway_ready(rest: &Rest, data_nodes: usize) -> Result<(), String> {
    let ready = rest
        .send(reqwest::Method::GET, "/readyz", None)
        .await
        .map_err(|e| format!("GET /readyz: {e}"))?;
    if !ready.status.is_success() {
        return Err(format!("GET /readyz -> {} {}", ready.status, ready.body));
    }
    let cluster = rest
        .send(reqwest::Method::GET, "/cluster", None)
        .await
        .map_err(|e| format!("GET /cluster: {e}"))?;
    let peers = cluster
        .body
        .pointer("/result/peers")
        .and_then(Value::as_object)
        .map(|p| p.len());
    match peers {
        Some(n) if cluster.status.is_success() && n == data_nodes => Ok(()),
        _ => Err(format!(
            "GET /cluster -> {} {} (want {data_nodes} peers)",
            cluster.status, cluster.body
        )),
    }
}
