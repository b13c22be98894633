//! The collection story of `cluster.rs` (create a sharded collection, upsert,
//! count, exact search) against the roles composed in this test's runtime:
//! fast, and it needs no prebuilt binary.

use serde_json::{json, Value};
use tessera_tests::{data, InProcessCluster};

const COLLECTION: &str = "in_process_story";
const DIM: usize = 16;
const POINTS: u64 = 300;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collection_story_in_process() {
    let cluster = InProcessCluster::start(2).await;
    let rest = cluster.rest();

    let created = rest
        .put(
            &format!("/collections/{COLLECTION}"),
            &json!({ "vectors": { "size": DIM, "distance": "Cosine" }, "shard_number": 4 }),
        )
        .await;
    assert_eq!(created.result(), &json!(true), "create collection");

    let points = data::random_points(11, POINTS, DIM);
    for batch in points.chunks(100) {
        let body: Vec<Value> = batch
            .iter()
            .map(|(id, v)| json!({ "id": id, "vector": v, "payload": { "bucket": id % 3 } }))
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
    assert_eq!(rest.count(COLLECTION).await, POINTS, "count after upsert");

    let filtered = rest
        .post(
            &format!("/collections/{COLLECTION}/points/count"),
            &json!({ "exact": true, "filter": { "must": [{ "key": "bucket", "match": { "value": 1 } }] } }),
        )
        .await;
    assert_eq!(
        filtered.result()["count"],
        json!(POINTS / 3),
        "count of bucket 1"
    );

    let mut rng = data::rng(3);
    for q in 0..5 {
        let query = data::random_vector(&mut rng, DIM);
        let reply = rest
            .post(
                &format!("/collections/{COLLECTION}/points/query"),
                &json!({ "query": query, "limit": 10, "params": { "exact": true } }),
            )
            .await;
        let got: Vec<(u64, f32)> = reply.result()["points"]
            .as_array()
            .unwrap_or_else(|| panic!("query result has no points: {}", reply.body))
            .iter()
            .map(|p| {
                (
                    p["id"].as_u64().expect("id"),
                    p["score"].as_f64().expect("score") as f32,
                )
            })
            .collect();
        let expected = data::exact_top_k(&points, &query, 10, |_| true);
        data::assert_top_k(&format!("query {q}"), &points, &query, &expected, &got);
    }

    cluster.stop().await;
}
