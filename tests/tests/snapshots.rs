//! Snapshots as an operator takes and restores them on a split deployment of
//! 3 data nodes with replicated shards: a collection snapshot taken while a
//! client writes, downloaded and checked against its listed sha256; damaged
//! and truncated copies refused without a change; the collection deleted and
//! recovered from the download link with the same points and search
//! results, its replicas identical and taking writes again; a shard snapshot
//! recovered under each priority.

use reqwest::StatusCode;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tessera_proto::data_plane as dp;
use tessera_tests::replicas::{contents, data_node_client, identical, wait_in_sync};
use tessera_tests::writer::{create_collection, missing, wait_for_points, Writer};
use tessera_tests::{ProcessCluster, Rest};

/// What a user compares before and after a restore: every point with its
/// payload and vector, and the answers to a few searches.
async fn fingerprint(rest: &Rest, name: &str) -> (Value, Vec<Value>) {
    let points = rest
        .post(
            &format!("/collections/{name}/points/scroll"),
            &json!({ "limit": 100_000, "with_payload": true, "with_vector": true }),
        )
        .await
        .result()["points"]
        .clone();
    let mut searches = Vec::new();
    for query in [
        [1.0, 0.0, 0.0, 0.0],
        [-1.0, 0.5, 0.0, 0.0],
        [0.0, 1.0, 0.0, 1.0],
    ] {
        let found = rest
            .post(
                &format!("/collections/{name}/points/search"),
                &json!({ "vector": query, "limit": 5 }),
            )
            .await
            .result()
            .clone();
        let ranked: Vec<Value> = found
            .as_array()
            .expect("a list of hits")
            .iter()
            .map(|hit| json!([hit["id"], hit["score"]]))
            .collect();
        searches.push(Value::from(ranked));
    }
    (points, searches)
}

async fn download(cluster: &ProcessCluster, path: &str) -> Vec<u8> {
    let reply = reqwest::get(format!("{}{path}", cluster.http_url()))
        .await
        .expect("the gateway answers");
    assert_eq!(reply.status(), StatusCode::OK, "GET {path}");
    reply.bytes().await.expect("the snapshot's bytes").to_vec()
}

fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

async fn recover(rest: &Rest, path: &str, body: Value) -> tessera_tests::Reply {
    rest.send(reqwest::Method::PUT, path, Some(&body))
        .await
        .expect("the gateway answers")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_collection_is_snapshotted_under_writes_wiped_and_recovered() {
    let cluster = ProcessCluster::start(3).await;
    let rest = cluster.rest();
    let name = "kept";
    create_collection(&rest, name, 2, 2).await;

    // Taken while a client writes: no write fails or goes missing.
    let writer = Writer::start(rest.clone(), name, 0, 10);
    wait_for_points(&rest, name, 300).await;
    let under_writes = rest
        .post(&format!("/collections/{name}/snapshots"), &json!({}))
        .await;
    assert!(under_writes.result()["name"].as_str().is_some());
    let written = writer.stop().await;
    assert_eq!(written.failed, 0, "writes failed: {:?}", written.errors);
    assert!(missing(&rest, name, &written.acked).await.is_empty());

    // A snapshot of a quiet collection, listed with the sha256 of its bytes.
    let before = fingerprint(&rest, name).await;
    let created = rest
        .post(&format!("/collections/{name}/snapshots"), &json!({}))
        .await
        .result()
        .clone();
    let snapshot = created["name"].as_str().unwrap().to_string();
    let listed = rest.get(&format!("/collections/{name}/snapshots")).await;
    let entry = listed
        .result()
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == json!(snapshot))
        .expect("the new snapshot is listed")
        .clone();
    let link = format!("/collections/{name}/snapshots/{snapshot}");
    let bytes = download(&cluster, &link).await;
    assert_eq!(entry["checksum"], json!(sha256(&bytes)));
    assert_eq!(entry["size"], json!(bytes.len()));

    // Damaged and truncated copies are refused and change nothing.
    let dir = tempfile::tempdir().unwrap();
    // A flipped byte in a shard, in the middle, and in the archive's end blocks.
    let damaged_at = |at: usize| {
        let mut damaged = bytes.clone();
        damaged[at] ^= 0xff;
        damaged
    };
    let len = bytes.len();
    for (file, data) in [
        ("damaged-quarter.snapshot", damaged_at(len / 4)),
        ("damaged-middle.snapshot", damaged_at(len / 2)),
        ("damaged-end.snapshot", damaged_at(len - 10)),
        ("truncated.snapshot", bytes[..len * 2 / 3].to_vec()),
    ] {
        let path = dir.path().join(file);
        std::fs::write(&path, data).unwrap();
        let refused = recover(
            &rest,
            &format!("/collections/{name}/snapshots/recover"),
            json!({ "location": format!("file://{}", path.display()), "priority": "snapshot" }),
        )
        .await;
        let message = refused.expect_error(StatusCode::BAD_REQUEST);
        assert!(message.contains("damaged"), "{file}: {message}");
    }
    let wrong_sum = recover(
        &rest,
        &format!("/collections/{name}/snapshots/recover"),
        json!({ "location": format!("{}{link}", cluster.http_url()), "checksum": "00" }),
    )
    .await;
    assert!(wrong_sum
        .expect_error(StatusCode::BAD_REQUEST)
        .contains("checksum mismatch"));
    assert_eq!(fingerprint(&rest, name).await, before);

    // Wiped, then recovered from the download link: the same collection.
    rest.send(
        reqwest::Method::DELETE,
        &format!("/collections/{name}"),
        None,
    )
    .await
    .unwrap()
    .result();
    recover(
        &rest,
        &format!("/collections/{name}/snapshots/recover"),
        json!({ "location": format!("{}{link}", cluster.http_url()), "checksum": sha256(&bytes) }),
    )
    .await
    .result();
    wait_in_sync(&cluster, name, 2).await;
    assert_eq!(fingerprint(&rest, name).await, before);
    identical(&contents(&cluster, name).await).unwrap();

    // The recovered replicas take writes together again.
    let writer = Writer::start(rest.clone(), name, 100_000, 10);
    let start = rest.count(name).await;
    wait_for_points(&rest, name, start + 100).await;
    let written = writer.stop().await;
    assert_eq!(written.failed, 0, "writes failed: {:?}", written.errors);
    assert!(missing(&rest, name, &written.acked).await.is_empty());
    identical(&contents(&cluster, name).await).unwrap();
    println!(
        "snapshot of {} bytes recovered; {} writes acknowledged after it, none lost",
        bytes.len(),
        written.acked.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_shard_snapshot_restores_one_shard_as_the_priority_says() {
    let cluster = ProcessCluster::start(3).await;
    let rest = cluster.rest();
    let name = "sharded";
    create_collection(&rest, name, 2, 2).await;
    let writer = Writer::start(rest.clone(), name, 0, 10);
    wait_for_points(&rest, name, 200).await;
    writer.stop().await;
    let total = rest.count(name).await;

    let created = rest
        .post(
            &format!("/collections/{name}/shards/0/snapshots"),
            &json!({}),
        )
        .await
        .result()
        .clone();
    let snapshot = created["name"].as_str().unwrap().to_string();
    let listed = rest
        .get(&format!("/collections/{name}/shards/0/snapshots"))
        .await;
    assert!(
        listed.body.to_string().contains(&snapshot),
        "{}",
        listed.body
    );
    let link = format!(
        "{}/collections/{name}/shards/0/snapshots/{snapshot}",
        cluster.http_url()
    );

    // Every point deleted; shard 0's snapshot brings back just its points.
    rest.post(
        &format!("/collections/{name}/points/delete?wait=true"),
        &json!({ "filter": {} }),
    )
    .await
    .result();
    assert_eq!(rest.count(name).await, 0);
    recover(
        &rest,
        &format!("/collections/{name}/shards/0/snapshots/recover"),
        json!({ "location": link, "priority": "snapshot" }),
    )
    .await
    .result();
    let restored = rest.count(name).await;
    assert!(
        restored > 0 && restored < total,
        "shard 0 holds part of the {total} points, not {restored}"
    );

    // Under `replica` priority a shard that holds points keeps them.
    rest.put(
        &format!("/collections/{name}/points?wait=true"),
        &json!({ "points": (0..50).map(|id| json!({ "id": 1_000_000 + id, "vector": [1.0, 0.0, 0.0, 0.0] })).collect::<Vec<_>>() }),
    )
    .await
    .result();
    let with_new = rest.count(name).await;
    recover(
        &rest,
        &format!("/collections/{name}/shards/0/snapshots/recover"),
        json!({ "location": link, "priority": "replica" }),
    )
    .await
    .result();
    assert_eq!(rest.count(name).await, with_new);
    wait_in_sync(&cluster, name, 2).await;
    identical(&contents(&cluster, name).await).unwrap();

    // Unknown shards and snapshots are 404s; a bad location is a 400.
    let unknown_shard = rest
        .post(
            &format!("/collections/{name}/shards/9/snapshots"),
            &json!({}),
        )
        .await;
    unknown_shard.expect_error(StatusCode::NOT_FOUND);
    let unknown = rest
        .send(
            reqwest::Method::DELETE,
            &format!("/collections/{name}/shards/0/snapshots/nope.snapshot"),
            None,
        )
        .await
        .unwrap();
    unknown.expect_error(StatusCode::NOT_FOUND);
    let bad = recover(
        &rest,
        &format!("/collections/{name}/shards/0/snapshots/recover"),
        json!({ "location": "ftp://somewhere/x.snapshot" }),
    )
    .await;
    bad.expect_error(StatusCode::BAD_REQUEST);
}

/// One upsert request per point, so each is an operation of its own in the
/// shard's order.
async fn upsert_one_by_one(rest: &Rest, name: &str, ids: std::ops::Range<u64>) {
    for id in ids {
        rest.put(
            &format!("/collections/{name}/points?wait=true"),
            &json!({ "points": [{ "id": id, "vector": [1.0, id as f32, 0.0, 0.0] }] }),
        )
        .await
        .result();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_restored_shard_starts_a_new_history_that_every_replica_follows() {
    let mut cluster = ProcessCluster::builder()
        .data_nodes(3)
        .listeners(1)
        .start()
        .await;
    let rest = cluster.rest();
    let name = "restored";
    create_collection(&rest, name, 1, 3).await;
    upsert_one_by_one(&rest, name, 0..10).await;
    let created = rest
        .post(
            &format!("/collections/{name}/shards/0/snapshots"),
            &json!({}),
        )
        .await
        .result()
        .clone();
    // Kept beside the test: the node that stored it goes down below.
    let bytes = download(
        &cluster,
        &format!(
            "/collections/{name}/shards/0/snapshots/{}",
            created["name"].as_str().unwrap()
        ),
    )
    .await;
    let kept = tempfile::tempdir().unwrap();
    let file = kept.path().join("shard-0.snapshot");
    std::fs::write(&file, bytes).unwrap();
    let link = format!("file://{}", file.display());
    // Written after the snapshot: a restore takes them away.
    upsert_one_by_one(&rest, name, 100..120).await;

    // Node 2 is down while the shard is restored, and misses it.
    cluster.kill_data_node(2);
    tessera_tests::wait::until(
        "node 2's replica out of sync",
        std::time::Duration::from_secs(30),
        || async {
            let states = tessera_tests::replicas::states(&rest, name).await;
            states
                .iter()
                .any(|(_, _, state)| state == "Dead")
                .then_some(())
                .ok_or_else(|| format!("{states:?}"))
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    recover(
        &rest,
        &format!("/collections/{name}/shards/0/snapshots/recover"),
        json!({ "location": link, "priority": "snapshot" }),
    )
    .await
    .result();
    assert_eq!(rest.count(name).await, 10, "the snapshot's points, no more");
    // More operations after the restore than were between the snapshot and it:
    // node 2's old last operation number is reached again.
    upsert_one_by_one(&rest, name, 1_000..1_030).await;

    cluster.restart_data_node(2).await;
    tessera_tests::wait::until(
        "three Active replicas and the listener's",
        std::time::Duration::from_secs(90),
        || async {
            let states = tessera_tests::replicas::states(&rest, name).await;
            let active = states.iter().filter(|s| s.2 == "Active").count();
            let listening = states.iter().filter(|s| s.2 == "Listener").count();
            (active == 3 && listening == 1)
                .then_some(())
                .ok_or_else(|| format!("{states:?}"))
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let contents = contents(&cluster, name).await;
    assert_eq!(contents.len(), 3);
    identical(&contents).unwrap();
    for replica in &contents {
        let ids: Vec<u64> = replica
            .points
            .keys()
            .filter_map(|id| match id {
                tessera_types::PointId::Num(n) => Some(*n),
                _ => None,
            })
            .collect();
        let expected: Vec<u64> = (0..10).chain(1_000..1_030).collect();
        assert_eq!(ids, expected, "peer {}", replica.peer_id);
    }
    // The listener took the snapshot too, and every write after it.
    let topology = tessera_tests::replicas::topology(&cluster).await;
    let listener = topology
        .peers
        .values()
        .find(|p| p.uri == cluster.data_node_uri(3))
        .expect("the listener registered")
        .id;
    tessera_tests::wait::until(
        "the listener in sync",
        std::time::Duration::from_secs(30),
        || async {
            let topology = tessera_tests::replicas::topology(&cluster).await;
            let stats = tessera_tests::replicas::shard_stats(&topology, name, 0, listener).await?;
            (stats.points_count == 40)
                .then_some(())
                .ok_or_else(|| format!("the listener holds {} points", stats.points_count))
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    cluster.stop().await;
}

/// A snapshot upload whose stream ends without its last chunk (the sender died
/// or its source failed midway) leaves nothing in the node's store, even when
/// every byte of a valid file arrived; the same bytes sent whole are kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_cut_short_leaves_nothing_in_a_store() {
    let cluster = ProcessCluster::start(1).await;
    let rest = cluster.rest();
    create_collection(&rest, "cut", 1, 1).await;
    let writer = Writer::start(rest.clone(), "cut", 0, 10);
    wait_for_points(&rest, "cut", 50).await;
    writer.stop().await;
    let created = rest.post("/snapshots", &json!({})).await.result().clone();
    let full = download(
        &cluster,
        &format!("/snapshots/{}", created["name"].as_str().unwrap()),
    )
    .await;
    let mut node = data_node_client(&cluster.data_node_uri(0))
        .await
        .expect("connect to the data node");
    let upload = |name: &str, last: bool| {
        let location = dp::SnapshotLocation {
            scope: "full".into(),
            name: name.into(),
            entry: String::new(),
        };
        let first = dp::StoreSnapshotChunk {
            location: Some(location),
            kind: dp::SnapshotKind::Full as i32,
            ..Default::default()
        };
        let chunks = full.chunks(64 * 1024).map(|data| dp::StoreSnapshotChunk {
            data: data.to_vec(),
            ..Default::default()
        });
        let end = last.then(|| dp::StoreSnapshotChunk {
            last: true,
            ..Default::default()
        });
        let messages: Vec<_> = std::iter::once(first).chain(chunks).chain(end).collect();
        tokio_stream::iter(messages)
    };
    let cut = node.store_snapshot(upload("cut.snapshot", false)).await;
    assert!(
        cut.is_err(),
        "an upload without its last chunk was taken: {cut:?}"
    );
    node.store_snapshot(upload("whole.snapshot", true))
        .await
        .expect("a whole upload is kept");
    let listed = rest.get("/snapshots").await.result().clone();
    let names: Vec<&str> = listed
        .as_array()
        .expect("a list")
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"whole.snapshot"), "{names:?}");
    assert!(!names.contains(&"cut.snapshot"), "{names:?}");
    cluster.stop().await;
}
