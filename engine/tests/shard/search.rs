//! Exact and HNSW search against brute force.

use std::collections::HashSet;

use serde_json::json;
use tessera_engine::shard::Shard;
use tessera_types::{Distance, Point, PointId, PointSelection, ShardOperation, WithPayload};

use crate::common::*;

/// Scores `query` against `stored` the straightforward way, in f64.
fn reference_score(distance: Distance, query: &[f32], stored: &[f32]) -> f64 {
    let pairs = query
        .iter()
        .zip(stored)
        .map(|(a, b)| (*a as f64, *b as f64));
    match distance {
        Distance::Cosine | Distance::Dot => pairs.map(|(a, b)| a * b).sum(),
        Distance::Euclid => pairs.map(|(a, b)| (a - b) * (a - b)).sum::<f64>().sqrt(),
        Distance::Manhattan => pairs.map(|(a, b)| (a - b).abs()).sum(),
    }
}

fn normalized(v: &[f32]) -> Vec<f32> {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.iter().map(|x| x / n).collect()
}

/// The top `k` (id, score) by brute force, over points kept by `keep`.
fn brute_force(
    distance: Distance,
    vectors: &[Vec<f32>],
    query: &[f32],
    k: usize,
    keep: impl Fn(u64) -> bool,
) -> Vec<(u64, f64)> {
    let (query, stored): (Vec<f32>, Vec<Vec<f32>>) = if distance == Distance::Cosine {
        (
            normalized(query),
            vectors.iter().map(|v| normalized(v)).collect(),
        )
    } else {
        (query.to_vec(), vectors.to_vec())
    };
    let mut scored: Vec<(u64, f64)> = stored
        .iter()
        .enumerate()
        .filter(|(i, _)| keep(*i as u64))
        .map(|(i, v)| (i as u64, reference_score(distance, &query, v)))
        .collect();
    scored.sort_by(|a, b| {
        let ord = a.1.total_cmp(&b.1);
        if distance.higher_is_better() {
            ord.reverse()
        } else {
            ord
        }
    });
    scored.truncate(k);
    scored
}

fn load(shard: &Shard, vectors: &[Vec<f32>]) {
    let points: Vec<Point> = vectors
        .iter()
        .enumerate()
        .map(|(i, v)| point(i as u64, v.clone(), json!({"group": i % 100, "cat": i % 4})))
        .collect();
    for chunk in points.chunks(1000) {
        shard
            .apply(ShardOperation::Upsert(chunk.to_vec()), false)
            .unwrap();
    }
    shard.optimize().unwrap();
}

fn recall(found: &[PointId], truth: &[PointId]) -> f64 {
    let truth: HashSet<_> = truth.iter().collect();
    found.iter().filter(|id| truth.contains(id)).count() as f64 / truth.len().max(1) as f64
}

#[test]
fn exact_search_equals_brute_force_for_every_distance() {
    for distance in [
        Distance::Cosine,
        Distance::Dot,
        Distance::Euclid,
        Distance::Manhattan,
    ] {
        let dir = TempDir::new();
        let shard = Shard::open(dir.path(), config(13, distance, 10_000)).unwrap();
        let vectors = random_vectors(600, 13, 1);
        load(&shard, &vectors);
        assert_eq!(
            shard.stats().indexed_vectors_count,
            0,
            "below the threshold: no graph"
        );
        for (qi, query) in random_vectors(10, 13, 2).into_iter().enumerate() {
            let mut req = search_req(query.clone(), 7);
            req.offset = 3;
            let got = shard.search(&req).unwrap();
            let want = brute_force(distance, &vectors, &query, 10, |_| true);
            assert_eq!(got.len(), 10, "{distance:?} query {qi}");
            for (g, (id, score)) in got.iter().zip(&want) {
                assert_eq!(g.id, PointId::Num(*id), "{distance:?} query {qi}");
                assert!(
                    (g.score as f64 - score).abs() < 1e-4,
                    "{distance:?}: {} vs {score}",
                    g.score
                );
            }

            // score_threshold keeps exactly the points at least that good.
            let threshold = want[4].1 as f32;
            let mut req = search_req(query.clone(), 50);
            req.score_threshold = Some(threshold);
            let got = shard.search(&req).unwrap();
            assert!(got
                .iter()
                .all(|p| distance.passes_threshold(p.score, threshold)));
            let all = brute_force(distance, &vectors, &query, 600, |_| true);
            let expected = all
                .iter()
                .filter(|(_, s)| distance.passes_threshold(*s as f32, threshold))
                .count();
            assert!(
                (expected as i64 - got.len() as i64).abs() <= 1,
                "{distance:?}"
            );
        }
    }
}

#[test]
fn filtered_exact_search_equals_brute_force() {
    let dir = TempDir::new();
    let shard = Shard::open(dir.path(), config(8, Distance::Euclid, 10_000)).unwrap();
    let vectors = random_vectors(1000, 8, 3);
    load(&shard, &vectors);
    let f = filter(
        json!({"must": [{"key": "cat", "match": {"any": [1, 2]}}], "must_not": [{"key": "group", "range": {"lt": 10}}]}),
    );
    let keep = |i: u64| (i % 4 == 1 || i % 4 == 2) && i % 100 >= 10;
    for query in random_vectors(5, 8, 4) {
        let mut req = search_req(query.clone(), 10);
        req.filter = Some(f.clone());
        req.with_payload = WithPayload::Enable(true);
        let got = shard.search(&req).unwrap();
        let want: Vec<PointId> = brute_force(Distance::Euclid, &vectors, &query, 10, keep)
            .into_iter()
            .map(|(id, _)| PointId::Num(id))
            .collect();
        assert_eq!(ids_of(&got), want);
        assert!(got
            .iter()
            .all(|p| p.payload.as_ref().unwrap()["cat"] != json!(0)));
    }
}

/// 5000 random 32-d points with a graph: recall against exact search, filters, and no
/// deleted or stale point after updates and deletes.
#[test]
fn hnsw_recall_filters_and_no_stale_results() {
    let dir = TempDir::new();
    // 10 KB = 80 vectors of 32 floats: well below the data size, so the graph is used.
    let shard = Shard::open(dir.path(), config(32, Distance::Euclid, 10)).unwrap();
    let mut vectors = random_vectors(5000, 32, 5);
    load(&shard, &vectors);
    assert_eq!(shard.stats().indexed_vectors_count, 5000);
    let queries = random_vectors(40, 32, 6);

    let check_recall = |label: &str, filter: Option<tessera_types::Filter>| {
        let mut total = 0.0;
        for query in &queries {
            let mut req = search_req(query.clone(), 10);
            req.filter = filter.clone();
            let approx = shard.search(&req).unwrap();
            let truth = shard.search(&exact(req)).unwrap();
            assert_eq!(truth.len(), 10, "{label}");
            total += recall(&ids_of(&approx), &ids_of(&truth));
        }
        let recall = total / queries.len() as f64;
        assert!(recall >= 0.9, "{label}: recall@10 = {recall}");
    };
    check_recall("no filter", None);

    // The exact path must be brute force; the graph path must agree with it.
    let q = &queries[0];
    let want: Vec<PointId> = brute_force(Distance::Euclid, &vectors, q, 10, |_| true)
        .into_iter()
        .map(|(id, _)| PointId::Num(id))
        .collect();
    assert_eq!(
        ids_of(&shard.search(&exact(search_req(q.clone(), 10))).unwrap()),
        want
    );

    // A broad filter (25%) goes through the graph: every hit must match it.
    let broad = filter(json!({"must": [{"key": "cat", "match": {"value": 1}}]}));
    check_recall("broad filter", Some(broad.clone()));
    for query in &queries {
        let mut req = search_req(query.clone(), 10);
        req.filter = Some(broad.clone());
        for hit in shard.search(&req).unwrap() {
            let PointId::Num(n) = hit.id else { panic!() };
            assert_eq!(n % 4, 1);
        }
    }
    // A selective filter (1%) is answered exactly.
    let narrow = filter(json!({"must": [{"key": "group", "match": {"value": 7}}]}));
    for query in &queries[..5] {
        let mut req = search_req(query.clone(), 10);
        req.filter = Some(narrow.clone());
        let got = shard.search(&req).unwrap();
        let want: Vec<PointId> =
            brute_force(Distance::Euclid, &vectors, query, 10, |i| i % 100 == 7)
                .into_iter()
                .map(|(id, _)| PointId::Num(id))
                .collect();
        assert_eq!(ids_of(&got), want);
    }

    // Move 1000 points far away and delete 1000 others. Their old graph entries stay in
    // the graph, masked: a stale hit would show up with a huge distance.
    let moved: Vec<Point> = (0..1000u64)
        .map(|i| {
            let v: Vec<f32> = vectors[i as usize].iter().map(|x| x + 100.0).collect();
            point(i, v, json!({"group": 1000, "cat": 9}))
        })
        .collect();
    for p in &moved {
        vectors[p.id_num()] = p.vectors[""].as_dense().unwrap().clone();
    }
    let update_seq = shard.apply(ShardOperation::Upsert(moved), true).unwrap();
    let deleted: Vec<PointId> = (1000..2000).map(PointId::Num).collect();
    shard
        .apply(
            ShardOperation::Delete(PointSelection::Ids(deleted.clone())),
            true,
        )
        .unwrap();
    assert_eq!(shard.stats().points_count, 4000);
    assert_eq!(
        shard.stats().indexed_vectors_count,
        3000,
        "moved points are not indexed yet"
    );
    shard.optimize().unwrap();
    assert_eq!(shard.stats().indexed_vectors_count, 4000);

    let deleted: HashSet<PointId> = deleted.into_iter().collect();
    let assert_clean = |label: &str| {
        for query in queries.iter().chain(random_vectors(20, 32, 7).iter()) {
            let hits = shard.search(&search_req(query.clone(), 20)).unwrap();
            for hit in &hits {
                assert!(
                    !deleted.contains(&hit.id),
                    "{label}: deleted point {:?} returned",
                    hit.id
                );
                assert!(
                    hit.score < 50.0,
                    "{label}: stale entry of {:?} returned",
                    hit.id
                );
            }
        }
    };
    assert_clean("after update and delete");
    check_recall("after update and delete", None);

    // Querying at a moved point's old position must not find it; at the new one it must,
    // with the version of the update.
    let old_position: Vec<f32> = vectors[3].iter().map(|x| x - 100.0).collect();
    assert!(
        !ids_of(&shard.search(&search_req(old_position, 10)).unwrap()).contains(&PointId::Num(3))
    );
    let hits = shard.search(&search_req(vectors[3].clone(), 1)).unwrap();
    assert_eq!(hits[0].id, PointId::Num(3));
    assert_eq!(hits[0].version, update_seq);

    // Enough further deletes trip the vacuum threshold: the segment is rebuilt, and
    // results stay correct meanwhile and after.
    shard
        .apply(
            ShardOperation::Delete(PointSelection::Ids(
                (2000..3500).map(PointId::Num).collect(),
            )),
            true,
        )
        .unwrap();
    let deleted_more: HashSet<PointId> = (2000..3500).map(PointId::Num).collect();
    let clean = || {
        for query in &queries {
            for hit in shard.search(&search_req(query.clone(), 10)).unwrap() {
                assert!(!deleted.contains(&hit.id) && !deleted_more.contains(&hit.id));
            }
        }
    };
    clean();
    shard.optimize().unwrap();
    assert_eq!(shard.stats().indexed_vectors_count, 2500);
    clean();
    check_recall("after rebuild", None);
}

/// Test-only access to a numeric point id.
trait IdNum {
    fn id_num(&self) -> usize;
}

impl IdNum for Point {
    fn id_num(&self) -> usize {
        match self.id {
            PointId::Num(n) => n as usize,
            PointId::Uuid(_) => panic!("numeric ids only"),
        }
    }
}

/// `max_optimization_threads: 0` turns optimizations off (as in Qdrant): nothing is
/// sealed or indexed until it is lifted; `max_indexing_threads` bounds a build.
#[test]
fn optimizations_are_switched_off_by_zero_threads_and_bounded_otherwise() {
    let dir = TempDir::new();
    let mut config = config(16, Distance::Dot, 10);
    config.optimizer_config.max_optimization_threads = Some(0);
    let shard = Shard::open(dir.path(), config.clone()).unwrap();
    load(&shard, &random_vectors(2000, 16, 31));
    assert_eq!(shard.stats().indexed_vectors_count, 0);
    assert!(
        !shard.stats().optimizing,
        "nothing is due while optimizations are off"
    );

    config.optimizer_config.max_optimization_threads = None;
    config.hnsw_config.max_indexing_threads = 1;
    shard.update_config(config);
    shard.optimize().unwrap();
    assert_eq!(shard.stats().indexed_vectors_count, 2000);
}

/// An upload that stops below `indexing_threshold` is not left to exact scans: once
/// writes rest, a tail of a few thousand vectors is sealed and gets its graph, and
/// the shard counts as optimizing until it has. `indexing_threshold: 0` still means
/// no graph, and nothing due.
#[test]
fn an_unindexed_tail_gets_its_graph_once_writes_rest() {
    let vectors = random_vectors(5000, 16, 41);
    let dir = TempDir::new();
    let mut config = config(16, Distance::Cosine, 10_000);
    config.optimizer_config.indexing_threshold = Some(0);
    let unindexed = Shard::open(dir.path(), config.clone()).unwrap();
    load(&unindexed, &vectors);
    let stats = unindexed.stats();
    assert_eq!((stats.indexed_vectors_count, stats.optimizing), (0, false));

    let dir = TempDir::new();
    config.optimizer_config.indexing_threshold = None;
    let shard = Shard::open(dir.path(), config).unwrap();
    load(&shard, &vectors);
    assert!(
        shard.stats().optimizing,
        "the tail's seal is due once writes rest"
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while shard.stats().optimizing {
        assert!(std::time::Instant::now() < deadline, "{:?}", shard.stats());
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let stats = shard.stats();
    assert_eq!(
        (stats.indexed_vectors_count, stats.segments_count),
        (5000, 2)
    );
    let mut found = 0.0;
    for query in random_vectors(20, 16, 42) {
        let got = shard.search(&search_req(query.clone(), 10)).unwrap();
        let want = shard.search(&exact(search_req(query, 10))).unwrap();
        found += recall(&ids_of(&got), &ids_of(&want));
    }
    assert!(found / 20.0 >= 0.9, "recall {}", found / 20.0);
}

/// Merges aim at one segment per shard but never past `max_segment_size`: each
/// merge then copies a bounded amount, and searches still see every point.
#[test]
fn merges_stop_at_max_segment_size() {
    let vectors = random_vectors(2000, 16, 43);
    let dir = TempDir::new();
    // 2,000 vectors of 64 bytes are 125 KB: at least 4 segments of at most 40 KB.
    let mut config = config(16, Distance::Cosine, 8);
    config.optimizer_config.max_segment_size = Some(40);
    let shard = Shard::open(dir.path(), config).unwrap();
    // Sealed 200 at a time (12.5 KB each).
    for (i, chunk) in vectors.chunks(200).enumerate() {
        let points: Vec<Point> = chunk
            .iter()
            .enumerate()
            .map(|(j, v)| point((i * 200 + j) as u64, v.clone(), json!({})))
            .collect();
        shard.apply(ShardOperation::Upsert(points), false).unwrap();
        shard.optimize().unwrap();
    }
    let stats = shard.stats();
    assert!(stats.segments_count >= 5, "{stats:?}");
    assert_eq!(stats.points_count, 2000);
    let query = random_vectors(1, 16, 44).remove(0);
    let got = shard.search(&search_req(query.clone(), 10)).unwrap();
    let want = shard.search(&exact(search_req(query, 10))).unwrap();
    assert!(recall(&ids_of(&got), &ids_of(&want)) >= 0.9);
}
