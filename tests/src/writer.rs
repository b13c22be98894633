//! A client that keeps writing while a test breaks or reshapes the cluster,
//! and the check that every write it got acknowledged is still there.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use reqwest::StatusCode;
use serde_json::json;
use tokio::task::JoinHandle;

use crate::Rest;

/// What a writer saw: the ids of acknowledged points, how many batches
/// failed, why the first few did, and the longest any batch took to be
/// answered (acknowledged or not).
#[derive(Debug, Default)]
pub struct Written {
    pub acked: Vec<u64>,
    pub failed: usize,
    pub errors: Vec<String>,
    pub slowest: std::time::Duration,
}

/// Upserts batches of `batch` new points (ids from `first_id` up, vector
/// `[id, 1, 0, 0.5]`, payload `{"writer": first_id}`) with `wait=true`, one
/// after another, until stopped.
pub struct Writer {
    stop: Arc<AtomicBool>,
    task: JoinHandle<Written>,
}

impl Writer {
    pub fn start(rest: Rest, collection: &str, first_id: u64, batch: u64) -> Writer {
        let stop = Arc::new(AtomicBool::new(false));
        let path = format!("/collections/{collection}/points?wait=true");
        let task = tokio::spawn({
            let stop = stop.clone();
            async move {
                let mut written = Written::default();
                let mut next = first_id;
                while !stop.load(Ordering::Relaxed) {
                    let ids: Vec<u64> = (next..next + batch).collect();
                    next += batch;
                    let points: Vec<_> = ids
                        .iter()
                        .map(|id| {
                            json!({
                                "id": id,
                                "vector": [*id as f32, 1.0, 0.0, 0.5],
                                "payload": { "writer": first_id },
                            })
                        })
                        .collect();
                    let body = json!({ "points": points });
                    let started = std::time::Instant::now();
                    let sent = rest.send(reqwest::Method::PUT, &path, Some(&body)).await;
                    written.slowest = written.slowest.max(started.elapsed());
                    let error = match sent {
                        Ok(r) if r.status == StatusCode::OK => {
                            written.acked.extend(ids);
                            continue;
                        }
                        Ok(r) => format!("{}: {}", r.status, r.body),
                        Err(e) => e.to_string(),
                    };
                    written.failed += 1;
                    if written.errors.len() < 5 {
                        written.errors.push(error);
                    }
                }
                written
            }
        });
        Writer { stop, task }
    }

    pub async fn stop(self) -> Written {
        self.stop.store(true, Ordering::Relaxed);
        self.task.await.expect("the writer does not panic")
    }
}

/// Creates `collection` for the writer's points (4 dimensions, Dot) with
/// `shards` shards of `replication_factor` copies each.
pub async fn create_collection(
    rest: &Rest,
    collection: &str,
    shards: u32,
    replication_factor: u32,
) {
    let body = json!({
        "vectors": { "size": 4, "distance": "Dot" },
        "shard_number": shards,
        "replication_factor": replication_factor,
    });
    rest.put(&format!("/collections/{collection}"), &body)
        .await
        .result();
}

/// Which of `ids` a `consistency=all` retrieve does not find.
pub async fn missing(rest: &Rest, collection: &str, ids: &[u64]) -> Vec<u64> {
    missing_at(rest, collection, ids, "all").await
}

/// Which of `ids` a retrieve at read `consistency` does not find.
pub async fn missing_at(rest: &Rest, collection: &str, ids: &[u64], consistency: &str) -> Vec<u64> {
    let mut missing = Vec::new();
    for batch in ids.chunks(500) {
        let reply = rest
            .post(
                &format!("/collections/{collection}/points?consistency={consistency}"),
                &json!({ "ids": batch, "with_payload": false }),
            )
            .await;
        let found: std::collections::HashSet<u64> = reply
            .result()
            .as_array()
            .expect("a list of points")
            .iter()
            .filter_map(|p| p["id"].as_u64())
            .collect();
        missing.extend(batch.iter().filter(|id| !found.contains(id)));
    }
    missing
}

/// Waits until the collection counts more than `n` points.
pub async fn wait_for_points(rest: &Rest, collection: &str, n: u64) {
    crate::wait::until(
        "more writes",
        std::time::Duration::from_secs(30),
        || async {
            let count = rest.count(collection).await;
            (count > n)
                .then_some(())
                .ok_or_else(|| format!("{count} points, waiting for more than {n}"))
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
}
