//! `--transfers`: moves the collection's shard between data nodes with each
//! transfer method while a light write load runs, and prints how fast the
//! shard moved and the slowest write during the move (the pause writers see).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::{json, Value};
use tessera_tests::Rest;

/// Ids of the write load start here, far above the uploaded points.
const LOAD_IDS: u64 = 1 << 40;

pub struct TransferFigures {
    pub method: &'static str,
    pub points: u64,
    pub elapsed: Duration,
    pub writes: usize,
    pub slowest_write: Duration,
    /// The last progress comment the cluster info showed.
    pub last_comment: String,
}

async fn cluster_info(rest: &Rest, collection: &str) -> anyhow::Result<Value> {
    let reply = rest
        .send(
            reqwest::Method::GET,
            &format!("/collections/{collection}/cluster"),
            None,
        )
        .await?;
    anyhow::ensure!(reply.status.is_success(), "cluster info: {}", reply.body);
    Ok(reply.body["result"].clone())
}

/// Writes 10 points at a time with `wait=true` until stopped; returns how
/// many writes were made and the slowest one.
fn write_load(
    rest: Rest,
    collection: String,
    dim: usize,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<anyhow::Result<(usize, Duration)>> {
    tokio::spawn(async move {
        let (mut writes, mut slowest, mut id) = (0, Duration::ZERO, LOAD_IDS);
        while !stop.load(Ordering::Relaxed) {
            let points: Vec<Value> = (id..id + 10)
                .map(|i| json!({ "id": i, "vector": vec![((i % 7) as f32 + 1.0) / 8.0; dim] }))
                .collect();
            id += 10;
            let started = Instant::now();
            let reply = rest
                .send(
                    reqwest::Method::PUT,
                    &format!("/collections/{collection}/points?wait=true"),
                    Some(&json!({ "points": points })),
                )
                .await?;
            anyhow::ensure!(reply.status.is_success(), "a write failed: {}", reply.body);
            slowest = slowest.max(started.elapsed());
            writes += 1;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok((writes, slowest))
    })
}

/// Moves shard 0 of `collection` (one shard) to another data node with
/// `method`, under the write load, and waits until the target is Active and
/// the source gone.
pub async fn measure(
    rest: &Rest,
    collection: &str,
    dim: usize,
    method: &'static str,
) -> anyhow::Result<TransferFigures> {
    let peers: Vec<u64> = rest
        .send(reqwest::Method::GET, "/cluster", None)
        .await?
        .body["result"]["peers"]
        .as_object()
        .context("GET /cluster lists no peers")?
        .keys()
        .filter_map(|p| p.parse().ok())
        .collect();
    let info = cluster_info(rest, collection).await?;
    let from = info["remote_shards"][0]["peer_id"]
        .as_u64()
        .context("the shard has no replica")?;
    let to = *peers
        .iter()
        .find(|p| **p != from)
        .context("--transfers needs a second data node (e.g. tessera playground)")?;
    let count = rest
        .send(
            reqwest::Method::POST,
            &format!("/collections/{collection}/points/count"),
            Some(&json!({ "exact": true })),
        )
        .await?
        .body["result"]["count"]
        .as_u64()
        .unwrap_or_default();

    let stop = Arc::new(AtomicBool::new(false));
    let load = write_load(rest.clone(), collection.to_string(), dim, stop.clone());
    let started = Instant::now();
    let reply = rest
        .send(
            reqwest::Method::POST,
            &format!("/collections/{collection}/cluster"),
            Some(&json!({ "move_shard": {
                "shard_id": 0, "from_peer_id": from, "to_peer_id": to, "method": method,
            }})),
        )
        .await?;
    anyhow::ensure!(reply.status.is_success(), "move_shard: {}", reply.body);
    let mut last_comment = String::new();
    loop {
        let info = cluster_info(rest, collection).await?;
        if let Some(comment) = info["shard_transfers"][0]["comment"].as_str() {
            last_comment = comment.to_string();
        }
        let replicas = info["remote_shards"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let moved = info["shard_transfers"]
            .as_array()
            .is_some_and(Vec::is_empty)
            && replicas.len() == 1
            && replicas[0]["peer_id"] == json!(to)
            && replicas[0]["state"] == json!("Active");
        if moved {
            break;
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(600),
            "the move did not finish in 10 minutes: {info}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let elapsed = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    let (writes, slowest_write) = load.await??;
    Ok(TransferFigures {
        method,
        points: count,
        elapsed,
        writes,
        slowest_write,
        last_comment,
    })
}
