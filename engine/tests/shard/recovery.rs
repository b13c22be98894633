//! WAL replay: reopening, and recovery from a torn tail.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;
use tessera_engine::shard::{Shard, WalRetention};
use tessera_types::{Distance, NamedVectors, PointId, PointSelection, ShardOperation};

use crate::common::*;

/// A mixed workload touching every kind of operation.
fn workload() -> Vec<ShardOperation> {
    let vectors = random_vectors(60, 6, 11);
    let mut ops = Vec::new();
    for (chunk, vs) in vectors.chunks(20).enumerate() {
        ops.push(ShardOperation::Upsert(
            vs.iter()
                .enumerate()
                .map(|(i, v)| {
                    let id = (chunk * 20 + i) as u64;
                    point(
                        id,
                        v.clone(),
                        json!({"i": id, "even": id & 1 == 0, "nested": {"a": [1, 2]}}),
                    )
                })
                .collect(),
        ));
    }
    let by = |f: serde_json::Value| PointSelection::Filter(filter(f));
    let ids = |r: std::ops::Range<u64>| PointSelection::Ids(r.map(PointId::Num).collect());
    ops.extend([
        ShardOperation::SetPayload {
            payload: payload(json!({"x": 1.5})),
            selection: by(json!({"must": [{"key": "even", "match": {"value": true}}]})),
            key: Some("nested.deep".into()),
        },
        ShardOperation::Delete(ids(0..5)),
        ShardOperation::Delete(by(
            json!({"must": [{"key": "i", "range": {"gte": 50, "lt": 55}}]}),
        )),
        ShardOperation::OverwritePayload {
            payload: payload(json!({"over": "written"})),
            selection: ids(10..12),
        },
        ShardOperation::DeletePayload {
            keys: vec!["nested.a".into()],
            selection: ids(12..20),
        },
        ShardOperation::ClearPayload(ids(20..22)),
        ShardOperation::UpdateVectors(vec![(
            PointId::Num(30),
            NamedVectors::from([(String::new(), vec![9.0; 6].into())]),
        )]),
        ShardOperation::DeleteVectors {
            names: vec![String::new()],
            selection: ids(40..42),
        },
        ShardOperation::Upsert(vec![point(7, vec![0.5; 6], json!({"back": true}))]),
    ]);
    ops
}

fn cfg() -> tessera_types::CollectionConfig {
    // A low threshold so the optimizer seals, indexes and checkpoints along the way.
    config(6, Distance::Cosine, 1)
}

/// No optimization and no checkpoint: the WAL keeps every record in one file.
fn wal_only() -> tessera_types::CollectionConfig {
    config(6, Distance::Cosine, 10_000)
}

#[test]
fn reopen_replays_the_wal_into_identical_state() {
    let dir = TempDir::new();
    let shard = Shard::open(dir.path(), cfg()).unwrap();
    let mut last = 0;
    for (i, op) in workload().into_iter().enumerate() {
        last = shard.apply(op, i % 2 == 0).unwrap();
    }
    let before = snapshot(&shard);
    shard.optimize().unwrap();
    assert!(shard.stats().indexed_vectors_count > 0);
    assert_eq!(snapshot(&shard), before, "optimizing changes no point");
    drop(shard);

    let shard = Shard::open(dir.path(), cfg()).unwrap();
    assert_eq!(snapshot(&shard), before);
    let hits = shard.search(&search_req(vec![0.5; 6], 3)).unwrap();
    assert_eq!(hits[0].id, PointId::Num(7));
    // Numbering continues after the replayed records.
    let next = shard
        .apply(
            ShardOperation::Delete(PointSelection::Ids(vec![PointId::Num(59)])),
            true,
        )
        .unwrap();
    assert_eq!(next, last + 1);
    drop(shard);
    let shard = Shard::open(dir.path(), cfg()).unwrap();
    assert_eq!(
        shard.count(None).unwrap(),
        before["records"].as_array().unwrap().len() as u64 - 1
    );
}

#[test]
fn wal_cut_at_random_offsets_recovers_every_complete_record() {
    let dir = TempDir::new();
    let ops = workload();
    let shard = Shard::open(dir.path(), wal_only()).unwrap();
    // WAL size after each record, and the state after each prefix of the workload.
    let mut ends = vec![0u64];
    let mut states = vec![snapshot(&shard)];
    for op in ops.iter().cloned() {
        shard.apply(op, true).unwrap();
        ends.push(std::fs::metadata(dir.wal_file()).unwrap().len());
        states.push(snapshot(&shard));
    }
    drop(shard);
    let wal = std::fs::read(dir.wal_file()).unwrap();
    let wal_name = dir.wal_file().file_name().unwrap().to_owned();

    let mut rng = StdRng::seed_from_u64(12);
    let mut cuts: Vec<usize> = (0..12).map(|_| rng.random_range(0..wal.len())).collect();
    // Exactly at a record boundary, and one byte short of one.
    cuts.extend([ends[3] as usize, ends[3] as usize - 1, wal.len()]);
    for cut in cuts {
        let copy = TempDir::new();
        std::fs::create_dir_all(copy.path().join("wal")).unwrap();
        std::fs::write(copy.path().join("wal").join(&wal_name), &wal[..cut]).unwrap();
        let complete = ends.iter().filter(|e| **e <= cut as u64).count() - 1;
        let shard = Shard::open(copy.path(), wal_only()).unwrap();
        assert_eq!(snapshot(&shard), states[complete], "cut at byte {cut}");
        assert_eq!(
            std::fs::metadata(copy.wal_file()).unwrap().len(),
            ends[complete],
            "torn tail truncated"
        );
        // The recovered log accepts new records and replays them.
        let seq = shard
            .apply(
                ShardOperation::Upsert(vec![point(500, vec![1.0; 6], json!({}))]),
                true,
            )
            .unwrap();
        assert_eq!(seq, complete as u64 + 1);
        drop(shard);
        let shard = Shard::open(copy.path(), wal_only()).unwrap();
        assert_eq!(
            shard.count(None).unwrap(),
            states[complete]["records"].as_array().unwrap().len() as u64 + 1
        );
    }
}

#[test]
fn checkpoints_persist_segments_and_bound_the_wal() {
    let dir = TempDir::new();
    let mut cfg = cfg();
    // Small WAL files, so truncation has whole files to drop.
    cfg.wal_config.wal_capacity_mb = 1;
    let shard = Shard::open(dir.path(), cfg.clone()).unwrap();
    let wal_bytes = || -> u64 {
        std::fs::read_dir(dir.path().join("wal"))
            .unwrap()
            .map(|e| e.unwrap().metadata().unwrap().len())
            .sum()
    };
    let vectors = random_vectors(1500, 6, 31);
    let mut written = 0u64;
    for round in 0..6u64 {
        let points = vectors
            .iter()
            .enumerate()
            .map(|(i, v)| point(i as u64, v.clone(), json!({"round": round})))
            .collect();
        shard
            .apply(ShardOperation::Upsert(points), round % 2 == 0)
            .unwrap();
        shard
            .apply(
                ShardOperation::Delete(PointSelection::Ids(
                    (round * 100..round * 100 + 50).map(PointId::Num).collect(),
                )),
                true,
            )
            .unwrap();
        written += 2;
        shard.optimize().unwrap();
        assert!(
            wal_bytes() < 64 * 1024,
            "round {round}: WAL holds {} bytes",
            wal_bytes()
        );
    }
    let before = snapshot(&shard);
    assert_eq!(before["points_count"], json!(1500 - 50));
    assert!(shard.stats().segments_count >= 2);
    drop(shard);
    let shard = Shard::open(dir.path(), cfg).unwrap();
    assert_eq!(snapshot(&shard), before);
    let next = shard
        .apply(ShardOperation::Delete(PointSelection::Ids(vec![])), true)
        .unwrap();
    assert_eq!(
        next,
        written + 1,
        "numbering continues after the checkpoint"
    );
}

#[test]
fn the_wal_keeps_its_byte_budget_and_what_a_catching_up_replica_pinned() {
    const MIB: u64 = 1024 * 1024;
    let dir = TempDir::new();
    let mut cfg = cfg();
    cfg.wal_config.wal_capacity_mb = 1;
    let shard = Shard::open(dir.path(), cfg).unwrap();
    shard.set_wal_retention(WalRetention {
        ops: 1_000_000,
        bytes: 2 * MIB,
    });
    let vectors = random_vectors(50, 6, 5);
    // About 100 KB an operation: 50 points with a 2 KB payload each.
    let batch = |round: u64| {
        ShardOperation::Upsert(
            vectors
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    point(
                        i as u64,
                        v.clone(),
                        json!({"round": round, "text": "x".repeat(2000)}),
                    )
                })
                .collect(),
        )
    };
    let first = shard.apply(batch(0), true).unwrap();
    for round in 1..60 {
        shard.apply(batch(round), true).unwrap();
        shard.flush().unwrap();
    }
    // The closed files kept fit the budget; the active file comes on top.
    assert!(
        shard.wal_bytes() <= 3 * MIB + 200_000,
        "WAL holds {} bytes",
        shard.wal_bytes()
    );
    let epoch = shard.last_op().epoch;
    let early = tessera_types::OpId { epoch, seq: first };
    assert!(
        shard.ops_after(early, 10).unwrap().is_none(),
        "old records were trimmed"
    );

    // A replica catching up from here pins what it still has to read.
    let pinned = shard.last_op();
    shard.pin_wal("peer 7", pinned.seq);
    for round in 60..120 {
        shard.apply(batch(round), true).unwrap();
        shard.flush().unwrap();
    }
    let missed = shard
        .ops_after(pinned, 1_000)
        .unwrap()
        .expect("pinned records stay");
    assert_eq!(missed.len(), 60);
    assert!(shard.wal_bytes() > 5 * MIB);

    shard.unpin_wal("peer 7");
    shard.apply(batch(120), true).unwrap();
    shard.flush().unwrap();
    assert!(
        shard.wal_bytes() <= 3 * MIB + 200_000,
        "WAL holds {} bytes after the pin went",
        shard.wal_bytes()
    );
}
