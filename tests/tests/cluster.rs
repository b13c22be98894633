//! An operator runs a split deployment (1 control plane, 3 data nodes, 1
//! gateway as separate processes) and a user drives it over REST: a sharded
//! collection spreads over every node, writes and reads see every shard, and
//! bad requests fail the way Qdrant's do without changing anything.

use std::collections::BTreeSet;

use reqwest::StatusCode;
use serde_json::{json, Value};
use tessera_tests::data;
use tessera_tests::{ProcessCluster, Rest};

const COLLECTION: &str = "cluster_story";
const DIM: usize = 8;
const POINTS: u64 = 1000;
const BATCH: usize = 100;
const SHARDS: u64 = 6;
const DATA_NODES: usize = 3;

fn payload_of(id: u64) -> Value {
    json!({ "parity": if id % 2 == 0 { "even" } else { "odd" }, "id": id })
}

fn hits(result: &Value) -> Vec<(u64, f32)> {
    result["points"]
        .as_array()
        .unwrap_or_else(|| panic!("query result has no points: {result}"))
        .iter()
        .map(|p| {
            let id = p["id"]
                .as_u64()
                .unwrap_or_else(|| panic!("hit without id: {p}"));
            let score = p["score"]
                .as_f64()
                .unwrap_or_else(|| panic!("hit without score: {p}"));
            (id, score as f32)
        })
        .collect()
}

async fn check_shard_spread(rest: &Rest) {
    let info = rest
        .get(&format!("/collections/{COLLECTION}/cluster"))
        .await;
    let info = info.result();
    assert_eq!(info["shard_count"], json!(SHARDS), "shard_count in {info}");
    let replicas = info["remote_shards"]
        .as_array()
        .unwrap_or_else(|| panic!("no remote_shards in {info}"));
    let shard_ids: BTreeSet<u64> = replicas
        .iter()
        .filter_map(|r| r["shard_id"].as_u64())
        .collect();
    assert_eq!(shard_ids, (0..SHARDS).collect(), "shard ids in {info}");
    let peers: BTreeSet<u64> = replicas
        .iter()
        .filter_map(|r| r["peer_id"].as_u64())
        .collect();
    assert_eq!(
        peers.len(),
        DATA_NODES,
        "shards should use all {DATA_NODES} peers: {info}"
    );

    let cluster = rest.get("/cluster").await;
    let known: BTreeSet<u64> = cluster.result()["peers"]
        .as_object()
        .unwrap_or_else(|| panic!("no peers in {}", cluster.body))
        .keys()
        .map(|k| k.parse().expect("peer ids are numbers"))
        .collect();
    assert!(
        peers.is_subset(&known),
        "shards on unknown peers {peers:?}, /cluster has {known:?}"
    );
}

async fn upsert_all(rest: &Rest, points: &[(u64, Vec<f32>)]) {
    for batch in points.chunks(BATCH) {
        let body: Vec<Value> = batch
            .iter()
            .map(|(id, v)| json!({ "id": id, "vector": v, "payload": payload_of(*id) }))
            .collect();
        let reply = rest
            .put(
                &format!("/collections/{COLLECTION}/points?wait=true"),
                &json!({ "points": body }),
            )
            .await;
        assert_eq!(
            reply.result()["status"],
            json!("completed"),
            "upsert: {}",
            reply.body
        );
    }
}

async fn check_exact_search(rest: &Rest, points: &[(u64, Vec<f32>)]) {
    let mut rng = data::rng(1234);
    for q in 0..5 {
        let query = data::random_vector(&mut rng, DIM);
        let reply = rest
            .post(
                &format!("/collections/{COLLECTION}/points/query"),
                &json!({ "query": query, "limit": 10, "params": { "exact": true } }),
            )
            .await;
        let expected = data::exact_top_k(points, &query, 10, |_| true);
        data::assert_top_k(
            &format!("exact query {q}"),
            points,
            &query,
            &expected,
            &hits(reply.result()),
        );
    }
}

/// Pages through the collection and checks each point comes exactly once,
/// in ascending id order as Qdrant's scroll returns them, with its payload.
async fn check_scroll(rest: &Rest) {
    let mut seen: Vec<u64> = Vec::new();
    let mut offset = Value::Null;
    let mut pages = 0;
    loop {
        let mut body = json!({ "limit": 128, "with_payload": true, "with_vector": false });
        if !offset.is_null() {
            body["offset"] = offset.clone();
        }
        let reply = rest
            .post(&format!("/collections/{COLLECTION}/points/scroll"), &body)
            .await;
        let result = reply.result();
        for point in result["points"].as_array().expect("scroll points") {
            let id = point["id"].as_u64().expect("numeric id");
            assert_eq!(
                point["payload"],
                payload_of(id),
                "payload of {id} in scroll"
            );
            seen.push(id);
        }
        pages += 1;
        assert!(
            pages <= 20,
            "scroll does not end: {pages} pages, last answer {result}"
        );
        offset = result["next_page_offset"].clone();
        if offset.is_null() {
            break;
        }
    }
    let mut sorted = seen.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), seen.len(), "scroll returned some ids twice");
    assert!(
        seen.windows(2).all(|w| w[0] < w[1]),
        "scroll is not in id order"
    );
    assert_eq!(
        sorted,
        (0..POINTS).collect::<Vec<u64>>(),
        "scroll did not list every id"
    );
}

async fn check_errors(rest: &Rest) {
    // One valid new point and one with the wrong dimension: the whole request
    // must be refused, so neither is stored.
    let reply = rest
        .put(
            &format!("/collections/{COLLECTION}/points?wait=true"),
            &json!({ "points": [
                { "id": 5000, "vector": vec![0.5f32; DIM] },
                { "id": 5001, "vector": vec![0.5f32; DIM - 1] },
            ] }),
        )
        .await;
    let message = reply.expect_error(StatusCode::BAD_REQUEST);
    assert!(
        message.contains("dim"),
        "error should explain the dimension: {message}"
    );
    assert_eq!(
        rest.count(COLLECTION).await,
        POINTS,
        "a refused write changed the count"
    );

    let reply = rest.get("/collections/no_such_collection").await;
    reply.expect_error(StatusCode::NOT_FOUND);
    let reply = rest
        .post(
            "/collections/no_such_collection/points/count",
            &json!({ "exact": true }),
        )
        .await;
    reply.expect_error(StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sharded_collection_over_three_data_nodes() {
    let cluster = ProcessCluster::start(DATA_NODES).await;
    let rest = cluster.rest();

    let created = rest
        .put(
            &format!("/collections/{COLLECTION}"),
            &json!({ "vectors": { "size": DIM, "distance": "Cosine" }, "shard_number": SHARDS }),
        )
        .await;
    assert_eq!(created.result(), &json!(true), "create collection");
    check_shard_spread(&rest).await;

    let points = data::random_points(42, POINTS, DIM);
    upsert_all(&rest, &points).await;
    assert_eq!(rest.count(COLLECTION).await, POINTS, "count after upsert");

    check_exact_search(&rest, &points).await;
    check_scroll(&rest).await;
    check_errors(&rest).await;

    cluster.stop().await;
}
