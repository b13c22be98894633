//! Searches running while writes update, delete and rebuild graphs.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use serde_json::json;
use tessera_engine::shard::Shard;
use tessera_types::{Distance, Point, PointId, PointSelection, ShardOperation};

use crate::common::*;

const POINTS: u64 = 3000;

#[test]
fn concurrent_searches_never_see_deleted_or_stale_points() {
    let dir = TempDir::new();
    let shard = Arc::new(Shard::open(dir.path(), config(16, Distance::Euclid, 1)).unwrap());
    let vectors = random_vectors(POINTS as usize, 16, 21);
    let points: Vec<Point> = vectors
        .iter()
        .enumerate()
        .map(|(i, v)| point(i as u64, v.clone(), json!({})))
        .collect();
    shard.apply(ShardOperation::Upsert(points), true).unwrap();
    shard.optimize().unwrap();
    assert_eq!(shard.stats().indexed_vectors_count, POINTS);

    // Ids below this were deleted by a completed write.
    let deleted_below = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..2)
        .map(|r| {
            let (shard, deleted_below, done) = (shard.clone(), deleted_below.clone(), done.clone());
            std::thread::spawn(move || {
                let queries = random_vectors(50, 16, 30 + r);
                let mut searches = 0;
                while !done.load(Ordering::Acquire) || searches < 20 {
                    let gone = deleted_below.load(Ordering::Acquire);
                    let query = &queries[searches % queries.len()];
                    for hit in shard.search(&search_req(query.clone(), 10)).unwrap() {
                        let PointId::Num(n) = hit.id else { panic!() };
                        assert!(n >= gone, "point {n} returned after its delete completed");
                        // Moved points sit ~400 away: only a stale graph entry could rank them.
                        assert!(hit.score < 50.0, "stale entry of point {n} returned");
                    }
                    searches += 1;
                }
            })
        })
        .collect();

    // Delete from the bottom and move points from the top, in small batches, while the
    // background optimizer seals, indexes, vacuums and merges segments.
    for step in 0..40u64 {
        let lo = step * 40;
        shard
            .apply(
                ShardOperation::Delete(PointSelection::Ids(
                    (lo..lo + 40).map(PointId::Num).collect(),
                )),
                step % 2 == 0,
            )
            .unwrap();
        deleted_below.store(lo + 40, Ordering::Release);
        let moved: Vec<Point> = (0..10)
            .map(|i| {
                let id = POINTS - 1 - step * 10 - i;
                let v = vectors[id as usize].iter().map(|x| x + 100.0).collect();
                point(id, v, json!({}))
            })
            .collect();
        shard.apply(ShardOperation::Upsert(moved), false).unwrap();
    }
    done.store(true, Ordering::Release);
    for reader in readers {
        reader.join().unwrap();
    }
    shard.optimize().unwrap();
    assert_eq!(shard.stats().points_count, POINTS - 1600);
    let indexed = shard.stats().indexed_vectors_count;
    assert!(indexed > 0 && indexed <= POINTS - 1600, "{indexed}");
}
