//! Replication stories on a split deployment (1 control plane, 3 data nodes, 1
//! gateway as separate processes, replication factor 2): a data node is
//! SIGKILLed while writes go on, and no read ever sees less than what was
//! acknowledged; the node comes back and catches up by itself; replicas end
//! identical, also when two gateways write the same points at once; read consistency and write ordering behave as documented;
//! listeners receive every write and serve no reads; the replication factor of
//! a live collection changes.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};
use tessera_tests::replicas::{self, contents};
use tessera_tests::wait::{self, READY_TIMEOUT};
use tessera_tests::writer::create_collection;
use tessera_tests::{ProcessCluster, Rest};

const C: &str = "replicated";

async fn create(rest: &Rest, shards: u32, replication_factor: u32) {
    create_collection(rest, C, shards, replication_factor).await
}

fn point(id: u64, round: u64) -> Value {
    let x = id as f32;
    json!({
        "id": id,
        "vector": [x, 1.0, round as f32, 0.5],
        "payload": { "id": id, "round": round },
    })
}

/// Upserts `ids` with `wait=true` in batches; every batch must be acknowledged.
async fn upsert(rest: &Rest, ids: std::ops::Range<u64>, round: u64) {
    let ids: Vec<u64> = ids.collect();
    for batch in ids.chunks(50) {
        let points: Vec<Value> = batch.iter().map(|id| point(*id, round)).collect();
        rest.put(
            &format!("/collections/{C}/points?wait=true"),
            &json!({ "points": points }),
        )
        .await
        .result();
    }
}

async fn count(rest: &Rest, consistency: &str) -> reqwest::Result<tessera_tests::Reply> {
    rest.send(
        reqwest::Method::POST,
        &format!("/collections/{C}/points/count?consistency={consistency}"),
        Some(&json!({ "exact": true })),
    )
    .await
}

async fn count_ok(rest: &Rest, consistency: &str) -> u64 {
    let reply = count(rest, consistency).await.expect("an answer");
    reply.result()["count"].as_u64().expect("a count")
}

async fn wait_in_sync(cluster: &ProcessCluster, per_shard: usize) {
    replicas::wait_in_sync(cluster, C, per_shard).await
}

/// Reads the count again and again until `stop`, recording every answer that
/// is below `expected` (a stale replica answering).
fn watch_counts(
    rest: Rest,
    expected: u64,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<(usize, Vec<String>)> {
    tokio::spawn(async move {
        let (mut reads, mut stale) = (0, Vec::new());
        while !stop.load(Ordering::Relaxed) {
            if let Ok(reply) = count(&rest, "1").await {
                if let Some(n) = reply.body.pointer("/result/count").and_then(Value::as_u64) {
                    reads += 1;
                    if n < expected {
                        stale.push(format!("count {n} < {expected}"));
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        (reads, stale)
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_restarted_replica_serves_no_reads_until_it_has_caught_up() {
    let mut cluster = ProcessCluster::start(3).await;
    let rest = cluster.rest();
    create(&rest, 3, 2).await;
    upsert(&rest, 0..300, 1).await;

    // Node 2 crashes; writes go on (shards it led fail over to another replica).
    cluster.kill_data_node(2);
    upsert(&rest, 300..500, 1).await;
    upsert(&rest, 0..100, 2).await;
    assert_eq!(count_ok(&rest, "1").await, 500);

    // While it comes back and catches up, no read sees less than was acknowledged.
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = watch_counts(rest.clone(), 500, stop.clone());
    cluster.restart_data_node(2).await;
    wait_in_sync(&cluster, 2).await;
    stop.store(true, Ordering::Relaxed);
    let (reads, stale) = watcher.await.unwrap();
    assert!(reads > 0, "the watcher read nothing");
    assert!(
        stale.is_empty(),
        "{} stale reads of {reads}: {stale:?}",
        stale.len()
    );

    assert_eq!(count_ok(&rest, "all").await, 500);
    let updated = rest
        .post(
            &format!("/collections/{C}/points?consistency=all"),
            &json!({ "ids": [5, 99], "with_payload": true }),
        )
        .await;
    for record in updated.result().as_array().unwrap() {
        assert_eq!(record["payload"]["round"], json!(2), "{record}");
    }
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_acknowledged_write_is_lost_when_a_primary_is_killed_mid_stream() {
    let mut cluster = ProcessCluster::start(3).await;
    let rest = cluster.rest();
    create(&rest, 3, 2).await;
    let acked = Arc::new(Mutex::new(Vec::new()));
    let failed = Arc::new(Mutex::new(Vec::new()));
    let writer = {
        let (rest, acked, failed) = (rest.clone(), acked.clone(), failed.clone());
        tokio::spawn(async move {
            for id in 0..400u64 {
                let reply = rest
                    .send(
                        reqwest::Method::PUT,
                        &format!("/collections/{C}/points?wait=true"),
                        Some(&json!({ "points": [point(id, 1)] })),
                    )
                    .await;
                match reply {
                    Ok(r) if r.status == StatusCode::OK => acked.lock().unwrap().push(id),
                    other => failed.lock().unwrap().push(format!("{id}: {other:?}")),
                }
            }
        })
    };
    let acked_now = || acked.lock().unwrap().len();
    wait::until("100 acknowledged writes", READY_TIMEOUT, || async {
        (acked_now() >= 100)
            .then_some(())
            .ok_or("writing".to_string())
    })
    .await
    .unwrap();
    // Node 0 leads shard 0 (placement starts there): kill it mid-stream.
    cluster.kill_data_node(0);
    wait::until(
        "250 acknowledged writes",
        Duration::from_secs(120),
        || async {
            (acked_now() >= 250)
                .then_some(())
                .ok_or(format!("{} acknowledged", acked_now()))
        },
    )
    .await
    .unwrap();
    cluster.restart_data_node(0).await;
    writer.await.unwrap();
    wait_in_sync(&cluster, 2).await;

    let acked = acked.lock().unwrap().clone();
    let failed = failed.lock().unwrap().clone();
    // The gateway may not have reconnected to the restarted node yet (its
    // first call there can still fail with the old connect error): what is
    // checked is the data, once every copy answers.
    let (found, total) = wait::until("a read of every copy", Duration::from_secs(30), || async {
        let reply = rest
            .send(
                reqwest::Method::POST,
                &format!("/collections/{C}/points?consistency=all"),
                Some(&json!({ "ids": acked, "with_payload": false })),
            )
            .await
            .map_err(|e| e.to_string())?;
        let found = reply.body["result"]
            .as_array()
            .ok_or(format!("{}: {}", reply.status, reply.body))?
            .len();
        let total = count(&rest, "all").await.map_err(|e| e.to_string())?;
        let total = total.body["result"]["count"]
            .as_u64()
            .ok_or(format!("{}: {}", total.status, total.body))?;
        Ok((found, total))
    })
    .await
    .unwrap();
    println!(
        "writes acknowledged: {}, failed: {}, lost: {}, replicas identical: true",
        acked.len(),
        failed.len(),
        acked.len() - found
    );
    assert_eq!(found, acked.len(), "acknowledged writes lost");
    assert!(total >= acked.len() as u64);
    if failed.is_empty() {
        assert_eq!(total, acked.len() as u64);
    }
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_gateways_writing_the_same_ids_leave_identical_replicas() {
    let mut cluster = ProcessCluster::start(3).await;
    let rest = cluster.rest();
    let second = cluster.add_gateway().await;
    create(&rest, 2, 3).await;
    // Each gateway learns of the collection from its own topology watch, as
    // each Qdrant peer applies a collection change on its own.
    wait::until(
        "the second gateway to see the collection",
        READY_TIMEOUT,
        || {
            let second = second.clone();
            async move {
                let reply = second.get(&format!("/collections/{C}/exists")).await;
                match reply.result()["exists"].as_bool() {
                    Some(true) => Ok(()),
                    _ => Err(format!("{:?}", reply.body)),
                }
            }
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let writers: Vec<_> = (1..=4u64)
        .map(|round| {
            let rest = if round % 2 == 0 {
                rest.clone()
            } else {
                second.clone()
            };
            tokio::spawn(async move {
                for start in (0..200u64).step_by(20) {
                    upsert(&rest, start..start + 20, round).await;
                    let filter = json!({
                        "payload": { "touched_by": round },
                        "filter": { "must": [{ "key": "round", "match": { "value": round } }] },
                    });
                    rest.post(
                        &format!("/collections/{C}/points/payload?wait=true"),
                        &filter,
                    )
                    .await
                    .result();
                }
            })
        })
        .collect();
    for writer in writers {
        writer.await.unwrap();
    }
    wait_in_sync(&cluster, 3).await;
    assert_eq!(count_ok(&rest, "all").await, 200);
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn read_consistency_levels_and_bad_values() {
    let mut cluster = ProcessCluster::start(3).await;
    let rest = cluster.rest();
    create(&rest, 3, 2).await;
    upsert(&rest, 0..30, 1).await;
    for level in ["1", "2", "majority", "quorum", "all"] {
        assert_eq!(count_ok(&rest, level).await, 30, "consistency={level}");
    }
    for bad in ["banana", "0", "3", "-1"] {
        let reply = count(&rest, bad).await.unwrap();
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{bad}: {}",
            reply.body
        );
        assert!(reply.body["status"]["error"].is_string(), "{}", reply.body);
    }
    let reply = rest
        .send(
            reqwest::Method::PUT,
            &format!("/collections/{C}/points?wait=true&ordering=banana"),
            Some(&json!({ "points": [point(99, 1)] })),
        )
        .await
        .unwrap();
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
    for ordering in ["weak", "medium", "strong"] {
        let reply = rest
            .put(
                &format!("/collections/{C}/points?wait=true&ordering={ordering}"),
                &json!({ "points": [point(40, 1)] }),
            )
            .await;
        reply.result();
    }
    assert_eq!(count_ok(&rest, "all").await, 31);

    // With a replica down, `all` cannot be met and says so; one replica still answers.
    cluster.kill_data_node(1);
    wait::until(
        "the dead node's replicas marked Dead",
        READY_TIMEOUT,
        || async {
            let states = replicas::states(&cluster.rest(), C).await;
            states
                .iter()
                .any(|s| s.2 == "Dead")
                .then_some(())
                .ok_or(format!("{states:?}"))
        },
    )
    .await
    .unwrap();
    let reply = count(&rest, "all").await.unwrap();
    assert_eq!(
        reply.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        reply.body
    );
    let message = reply.body["status"]["error"].as_str().unwrap_or_default();
    assert!(message.contains("Consistency"), "{message}");
    assert_eq!(count_ok(&rest, "1").await, 31);
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn listeners_receive_every_write_and_serve_no_reads() {
    let cluster = ProcessCluster::builder()
        .data_nodes(2)
        .listeners(1)
        .start()
        .await;
    let rest = cluster.rest();
    create(&rest, 2, 1).await;
    upsert(&rest, 0..100, 1).await;
    let topology = replicas::topology(&cluster).await;
    let listener = topology
        .peers
        .values()
        .find(|p| p.uri == cluster.data_node_uri(2))
        .expect("the listener registered")
        .id;
    let states = replicas::states(&cluster.rest(), C).await;
    for shard in 0..2 {
        assert!(
            states.contains(&(shard, listener, "Listener".to_string())),
            "{states:?}"
        );
    }
    let collection = &topology.collections[C];
    for shard in &collection.shards {
        let primary = replicas::shard_stats(&topology, C, shard.shard_id, shard.primary)
            .await
            .unwrap()
            .points_count;
        let copy = replicas::shard_stats(&topology, C, shard.shard_id, listener)
            .await
            .unwrap()
            .points_count;
        assert_eq!(copy, primary, "shard {}", shard.shard_id);
        assert!(primary > 0);
    }
    // Reads never go to a listener: every readable replica is a normal node's.
    for content in contents(&cluster, C).await {
        assert_ne!(content.peer_id, listener);
    }
    assert_eq!(count_ok(&rest, "all").await, 100);
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replication_factor_changes_on_a_live_collection() {
    let cluster = ProcessCluster::start(3).await;
    let rest = cluster.rest();
    create(&rest, 3, 1).await;
    upsert(&rest, 0..200, 1).await;
    rest.patch(
        &format!("/collections/{C}"),
        &json!({ "params": { "replication_factor": 2 } }),
    )
    .await
    .result();
    wait_in_sync(&cluster, 2).await;
    assert_eq!(count_ok(&rest, "all").await, 200);

    rest.patch(
        &format!("/collections/{C}"),
        &json!({ "params": { "replication_factor": 1 } }),
    )
    .await
    .result();
    wait_in_sync(&cluster, 1).await;
    assert_eq!(count_ok(&rest, "all").await, 200);
    // A dropped replica's files are deleted from its node.
    let topology = replicas::topology(&cluster).await;
    let collection = &topology.collections[C];
    wait::until("dropped replicas deleted", READY_TIMEOUT, || async {
        for node in 0..3 {
            let peer = topology
                .peers
                .values()
                .find(|p| p.uri == cluster.data_node_uri(node))
                .unwrap()
                .id;
            for shard in &collection.shards {
                let dir = cluster
                    .data_node_dir(node)
                    .join("collections")
                    .join(format!("{C}-{}", collection.incarnation))
                    .join(shard.shard_id.to_string());
                if shard.replica(peer).is_none() && dir.exists() {
                    return Err(format!("{} still exists", dir.display()));
                }
            }
        }
        Ok(())
    })
    .await
    .unwrap();
    cluster.stop().await;
}

/// With `write_consistency_factor: 2` a write needs two copies for as long as
/// a replica is down, as Qdrant requires: the factor counts against the
/// shard's replicas, not only those still in sync. Every write that was
/// acknowledged is there at the end.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_write_consistency_factor_of_two_keeps_refusing_single_copy_writes() {
    let mut cluster = ProcessCluster::start(2).await;
    let rest = cluster.rest();
    rest.put(
        &format!("/collections/{C}"),
        &json!({
            "vectors": { "size": 4, "distance": "Dot" },
            "shard_number": 1,
            "replication_factor": 2,
            "write_consistency_factor": 2,
        }),
    )
    .await
    .result();
    upsert(&rest, 0..50, 1).await;

    cluster.kill_data_node(1);
    let write = |id: u64| {
        let rest = rest.clone();
        async move {
            rest.put(
                &format!("/collections/{C}/points?wait=true"),
                &json!({ "points": [point(id, 1)] }),
            )
            .await
        }
    };
    // Once the failure is seen, writes are refused, and keep being refused,
    // with the number of copies that took them.
    let refusal = wait::until(
        "a write refused for its consistency factor",
        READY_TIMEOUT,
        || {
            let write = write(1000);
            async move {
                let reply = write.await;
                match reply.status {
                    StatusCode::SERVICE_UNAVAILABLE
                        if reply
                            .body
                            .to_string()
                            .contains("write consistency factor 2 not met") =>
                    {
                        Ok(reply.body.to_string())
                    }
                    status => Err(format!("{status}: {}", reply.body)),
                }
            }
        },
    )
    .await
    .unwrap();
    assert!(refusal.contains("1 of 2"), "{refusal}");
    for id in 1001..1004 {
        let reply = write(id).await;
        assert_eq!(
            reply.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{}",
            reply.body
        );
        assert!(
            reply.body.to_string().contains("1 of 2 required copies"),
            "{}",
            reply.body
        );
    }

    // Back with two copies, writes are acknowledged again.
    cluster.restart_data_node(1).await;
    wait_in_sync(&cluster, 2).await;
    wait::until("a write acknowledged by two copies", READY_TIMEOUT, || {
        let write = write(2000);
        async move {
            let reply = write.await;
            if reply.status.is_success() {
                Ok(())
            } else {
                Err(format!("{}: {}", reply.status, reply.body))
            }
        }
    })
    .await
    .unwrap();
    let acknowledged: Vec<u64> = (0..50).chain([2000]).collect();
    assert_eq!(
        tessera_tests::writer::missing(&rest, C, &acknowledged).await,
        Vec::<u64>::new()
    );
    cluster.stop().await;
}
