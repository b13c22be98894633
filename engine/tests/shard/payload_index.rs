//! Payload indexes: per-field point counts, and filtered search planned by the indexes
//! giving the answers of exact filtered search.

use std::collections::HashSet;

use serde_json::json;
use tessera_engine::shard::Shard;
use tessera_types::{
    Distance, PayloadSchema, PayloadSchemaType, Point, PointId, PointSelection, ShardOperation,
};

use crate::common::*;

#[test]
fn indexes_count_points_and_plan_filtered_search() {
    let dir = TempDir::new();
    // 10 KB = 80 vectors of 32 floats: the data gets a graph.
    let shard = Shard::open(dir.path(), config(32, Distance::Cosine, 10)).unwrap();
    let vectors = random_vectors(4000, 32, 41);
    let points: Vec<Point> = vectors
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let mut p = json!({"group": i % 100, "half": if i % 2 == 0 { "even" } else { "odd" }});
            if i % 4 == 0 {
                p["score"] = json!(i as f64 / 10.0);
            }
            point(i as u64, v.clone(), p)
        })
        .collect();
    shard.apply(ShardOperation::Upsert(points), true).unwrap();
    let schema = PayloadSchema::from([
        ("group".to_string(), PayloadSchemaType::Integer.into()),
        ("half".to_string(), PayloadSchemaType::Keyword.into()),
        ("score".to_string(), PayloadSchemaType::Float.into()),
    ]);
    shard.set_payload_schema(&schema);
    shard.optimize().unwrap();
    let stats = shard.stats();
    assert_eq!(stats.indexed_vectors_count, 4000);
    assert_eq!(stats.payload_points["group"], 4000);
    assert_eq!(stats.payload_points["score"], 1000);

    // 1% (index answers exactly, exact scan of its rows) and 50% (graph with the filter).
    let one_percent = filter(json!({"must": [{"key": "group", "match": {"value": 7}}]}));
    let half = filter(json!({"must": [{"key": "half", "match": {"value": "odd"}}]}));
    let range = filter(json!({"must": [{"key": "score", "range": {"gte": 10.0, "lt": 30.0}}]}));
    let mut broad_found = 0;
    let queries = random_vectors(20, 32, 42);
    for query in &queries {
        for (label, f) in [("1%", &one_percent), ("range", &range), ("50%", &half)] {
            let mut req = search_req(query.clone(), 10);
            req.filter = Some(f.clone());
            let got = ids_of(&shard.search(&req).unwrap());
            let want = ids_of(&shard.search(&exact(req)).unwrap());
            assert_eq!(want.len(), 10, "{label}");
            if label == "50%" {
                assert!(got
                    .iter()
                    .all(|id| matches!(id, PointId::Num(n) if n % 2 == 1)));
                let want: HashSet<_> = want.into_iter().collect();
                broad_found += got.iter().filter(|id| want.contains(id)).count();
            } else {
                assert_eq!(got, want, "{label}: the selective plan is exact");
            }
        }
    }
    let recall = broad_found as f64 / (queries.len() * 10) as f64;
    assert!(
        recall >= 0.9,
        "50% filter through the graph: recall {recall}"
    );

    // Deleted points leave the counts; a dropped field leaves the stats.
    shard
        .apply(
            ShardOperation::Delete(PointSelection::Ids((0..100).map(PointId::Num).collect())),
            true,
        )
        .unwrap();
    let mut narrower = schema.clone();
    narrower.remove("score");
    shard.set_payload_schema(&narrower);
    shard.optimize().unwrap();
    let stats = shard.stats();
    assert_eq!(stats.payload_points["group"], 3900);
    assert!(!stats.payload_points.contains_key("score"));
    let mut req = search_req(queries[0].clone(), 10);
    req.filter = Some(one_percent);
    assert!(shard
        .search(&req)
        .unwrap()
        .iter()
        .all(|p| p.id != PointId::Num(7)));
}
