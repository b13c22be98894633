//! A data node crashes (SIGKILL) while a client is uploading with `wait=true`.
//! Writes to its shards fail while it is down; once it is restarted on the
//! same data dir, every write the cluster acknowledged, before or after the
//! crash, is there with its exact payload.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tessera_tests::{data, wait, ProcessCluster, Rest};

const COLLECTION: &str = "crash_story";
const DIM: usize = 8;
/// With 6 shards, 2 per node, a batch of 40 random-hash ids misses both of the
/// dead node's shards with probability (4/6)^40 < 1e-7: practically every
/// batch sent during the outage needs the dead node.
const SHARDS: u64 = 6;
const BATCH: u64 = 40;
const VICTIM: usize = 1;
/// Bounds on the uploader, so a hung cluster cannot keep the test looping.
const MAX_BATCHES: u64 = 5_000;
const MAX_UPLOAD_TIME: Duration = Duration::from_secs(150);
const PHASE_TIMEOUT: Duration = Duration::from_secs(90);
/// Shortest time the node stays down.
const OUTAGE: Duration = Duration::from_secs(1);

fn payload_of(id: u64, batch: u64) -> Value {
    json!({
        "batch": batch,
        "id": id,
        "tag": format!("crash-{id}"),
        "quarter": id as f64 * 0.25,
        "flags": [id % 2 == 0, id % 3 == 0],
        "nested": { "k": id % 7, "name": format!("n{}", id % 11) },
    })
}

/// What happened to one upload batch.
struct Outcome {
    batch: u64,
    started: Instant,
    finished: Instant,
    /// `Ok` when the gateway answered 2xx; otherwise the status or the
    /// transport error, and the body.
    result: Result<(), (Option<StatusCode>, String)>,
}

fn batch_ids(batch: u64) -> std::ops::Range<u64> {
    batch * BATCH..(batch + 1) * BATCH
}

/// Uploads batch after batch until told to stop, recording every outcome.
async fn upload_loop(rest: Rest, outcomes: Arc<Mutex<Vec<Outcome>>>, stop: Arc<AtomicBool>) {
    let began = Instant::now();
    let mut rng = data::rng(2024);
    let path = format!("/collections/{COLLECTION}/points?wait=true");
    for batch in 0..MAX_BATCHES {
        if stop.load(Ordering::SeqCst) || began.elapsed() > MAX_UPLOAD_TIME {
            break;
        }
        let points: Vec<Value> = batch_ids(batch)
            .map(|id| {
                let vector = data::random_vector(&mut rng, DIM);
                json!({ "id": id, "vector": vector, "payload": payload_of(id, batch) })
            })
            .collect();
        let body = json!({ "points": points });
        let started = Instant::now();
        let result = match rest.send(Method::PUT, &path, Some(&body)).await {
            Ok(reply) if reply.status.is_success() => Ok(()),
            Ok(reply) => Err((Some(reply.status), reply.body.to_string())),
            Err(e) => Err((None, e.to_string())),
        };
        let failed = result.is_err();
        outcomes.lock().unwrap().push(Outcome {
            batch,
            started,
            finished: Instant::now(),
            result,
        });
        // Failures come back fast while a node is down; pacing them keeps the
        // loop from starving the restarting node of CPU.
        if failed {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Waits until at least `n` outcomes started at or after `since` satisfy `pred`.
async fn wait_for_outcomes(
    what: &str,
    outcomes: &Arc<Mutex<Vec<Outcome>>>,
    since: Instant,
    n: usize,
    pred: fn(&Outcome) -> bool,
) {
    wait::until(what, PHASE_TIMEOUT, || {
        let seen = outcomes
            .lock()
            .unwrap()
            .iter()
            .filter(|o| o.started >= since && pred(o))
            .count();
        async move {
            if seen >= n {
                Ok(())
            } else {
                Err(format!("{seen} of {n} so far"))
            }
        }
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_a_data_node_crash() {
    let mut cluster = ProcessCluster::start(3).await;
    let rest = cluster.rest();
    let created = rest
        .put(
            &format!("/collections/{COLLECTION}"),
            &json!({ "vectors": { "size": DIM, "distance": "Cosine" }, "shard_number": SHARDS }),
        )
        .await;
    assert_eq!(created.result(), &json!(true), "create collection");

    let outcomes = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let began = Instant::now();
    let uploader = tokio::spawn(upload_loop(rest.clone(), outcomes.clone(), stop.clone()));
    wait_for_outcomes(
        "25 acknowledged batches before the crash",
        &outcomes,
        began,
        25,
        |o| o.result.is_ok(),
    )
    .await;

    cluster.kill_data_node(VICTIM);
    let killed_at = Instant::now();
    // A sustained outage, not one failed request: the gateway must keep
    // answering while its connections to the node fail.
    wait_for_outcomes(
        "5 batches sent while the node is down",
        &outcomes,
        killed_at,
        5,
        |_| true,
    )
    .await;
    tokio::time::sleep_until((killed_at + OUTAGE).into()).await;

    let restart_began = Instant::now();
    cluster.restart_data_node(VICTIM).await;
    let restarted_at = Instant::now();
    wait_for_outcomes(
        "10 acknowledged batches after the restart",
        &outcomes,
        restarted_at,
        10,
        |o| o.result.is_ok(),
    )
    .await;
    stop.store(true, Ordering::SeqCst);
    uploader.await.expect("the uploader does not panic");
    let outcomes = std::mem::take(&mut *outcomes.lock().unwrap());

    // Batches sent and answered entirely within the outage needed the dead
    // node (see SHARDS), so none may be acknowledged, and each must be refused
    // as a server-side failure in Qdrant's error envelope.
    let outage: Vec<&Outcome> = outcomes
        .iter()
        .filter(|o| o.started >= killed_at && o.finished <= restart_began)
        .collect();
    assert!(
        !outage.is_empty(),
        "no batch was sent and answered during the outage"
    );
    for o in &outage {
        match &o.result {
            Ok(()) => panic!(
                "batch {} was acknowledged while data node {VICTIM} was dead; its shards \
                 have no other replica",
                o.batch
            ),
            Err((Some(status), body)) => {
                assert!(
                    status.is_server_error(),
                    "batch {} during the outage: want a 5xx, got {status} {body}",
                    o.batch
                );
                let body: Value = serde_json::from_str(body).unwrap_or(Value::Null);
                assert!(
                    body.pointer("/status/error").is_some_and(Value::is_string),
                    "batch {} during the outage: not Qdrant's error envelope: {body}",
                    o.batch
                );
            }
            Err((None, e)) => panic!(
                "batch {} during the outage got no HTTP answer from the gateway: {e}",
                o.batch
            ),
        }
    }

    let acknowledged: Vec<u64> = outcomes
        .iter()
        .filter(|o| o.result.is_ok())
        .map(|o| o.batch)
        .collect();
    eprintln!(
        "{} batches sent, {} acknowledged, {} answered during the outage",
        outcomes.len(),
        acknowledged.len(),
        outage.len()
    );

    // Every acknowledged point is back, with its exact payload.
    let ids: Vec<u64> = acknowledged.iter().flat_map(|b| batch_ids(*b)).collect();
    for chunk in ids.chunks(500) {
        let reply = rest
            .post(
                &format!("/collections/{COLLECTION}/points"),
                &json!({ "ids": chunk, "with_payload": true, "with_vector": false }),
            )
            .await;
        let records = reply.result().as_array().expect("retrieve returns a list");
        let mut found = std::collections::HashMap::new();
        for record in records {
            found.insert(
                record["id"].as_u64().expect("numeric id"),
                &record["payload"],
            );
        }
        for id in chunk {
            let payload = found.get(id).unwrap_or_else(|| {
                panic!(
                    "acknowledged point {id} (batch {}) is missing after recovery",
                    id / BATCH
                )
            });
            assert_eq!(
                **payload,
                payload_of(*id, id / BATCH),
                "payload of point {id}"
            );
        }
    }
    let count = rest.count(COLLECTION).await;
    assert!(
        count >= ids.len() as u64,
        "count {count} is below the {} acknowledged points",
        ids.len()
    );

    cluster.stop().await;
}
