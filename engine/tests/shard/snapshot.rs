//! Shard snapshots taken while writes continue, restored into empty shards.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use serde_json::json;
use tessera_engine::shard::{RestoredHistory, Shard, ShardError};
use tessera_types::{Distance, Point, ScrollRequest, ShardOperation, WithPayload, WithVector};

use crate::common::*;

const BATCH: u64 = 20;

fn batch(b: u64) -> Vec<Point> {
    let vectors = random_vectors(BATCH as usize, 8, b);
    (0..BATCH)
        .map(|i| {
            point(
                b * BATCH + i,
                vectors[i as usize].clone(),
                json!({"batch": b}),
            )
        })
        .collect()
}

#[test]
fn snapshot_during_writes_restores_a_consistent_prefix() {
    let dir = TempDir::new();
    // Small thresholds: the optimizer seals and indexes while the writer runs.
    let shard = Arc::new(Shard::open(dir.path(), config(8, Distance::Euclid, 2)).unwrap());
    let acknowledged = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let writer = {
        let (shard, acknowledged, done) = (shard.clone(), acknowledged.clone(), done.clone());
        std::thread::spawn(move || {
            let mut b = 0;
            while !done.load(Ordering::Acquire) || b < 30 {
                shard
                    .apply(ShardOperation::Upsert(batch(b)), b % 3 == 0)
                    .unwrap();
                b += 1;
                acknowledged.store(b, Ordering::Release);
            }
        })
    };
    while acknowledged.load(Ordering::Acquire) < 15 {
        std::thread::yield_now();
    }
    let before = acknowledged.load(Ordering::Acquire);
    let file = dir.path().join("..").join(format!(
        "{}.snapshot",
        dir.path().file_name().unwrap().to_string_lossy()
    ));
    let seq = shard.snapshot(&file).unwrap();
    let after = acknowledged.load(Ordering::Acquire);
    done.store(true, Ordering::Release);
    writer.join().unwrap();

    // Each write is one batch: the snapshot holds whole batches 0..n, n between the
    // batches acknowledged before and after it was taken.
    let target = TempDir::new();
    Shard::restore_snapshot(&file, &target.path().join("shard"), RestoredHistory::Keep).unwrap();
    let restored =
        Shard::open(&target.path().join("shard"), config(8, Distance::Euclid, 2)).unwrap();
    let all = restored
        .scroll(&ScrollRequest {
            offset: None,
            limit: usize::MAX,
            filter: None,
            with_payload: WithPayload::Enable(true),
            with_vector: WithVector::Enable(true),
            order_by: None,
        })
        .unwrap();
    let n = all.points.len() as u64;
    assert_eq!(n % BATCH, 0, "whole batches only: {n} points");
    assert!(
        n / BATCH >= before && n / BATCH <= after,
        "{n} points, batches {before}..={after}"
    );
    assert_eq!(seq, n / BATCH, "one operation per batch");
    for b in 0..n / BATCH {
        let want = batch(b);
        for (i, p) in want.iter().enumerate() {
            let got = &all.points[(b * BATCH) as usize + i];
            assert_eq!(got.id, p.id);
            assert_eq!(got.payload.as_ref().unwrap()["batch"], json!(b));
        }
    }
    // The restored shard takes writes after the snapshot's sequence number.
    assert_eq!(
        restored
            .apply(ShardOperation::Upsert(batch(999)), true)
            .unwrap(),
        seq + 1
    );

    // Damage is detected, and a non-empty target is refused.
    let mut bytes = std::fs::read(&file).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x55;
    let damaged = file.with_extension("damaged");
    std::fs::write(&damaged, &bytes).unwrap();
    let empty = TempDir::new();
    assert!(matches!(
        Shard::restore_snapshot(&damaged, empty.path(), RestoredHistory::Keep),
        Err(ShardError::Corrupt(_))
    ));
    assert!(matches!(
        Shard::restore_snapshot(&file, &target.path().join("shard"), RestoredHistory::Keep),
        Err(ShardError::BadInput(_))
    ));
    std::fs::remove_file(file).unwrap();
    std::fs::remove_file(damaged).unwrap();
}
