//! Vectors (`on_disk: true`) and payloads (`on_disk_payload: true`) of immutable segments
//! read through memory maps give the answers of the same data held in memory, before and
//! after a restart.

use std::path::Path;

use serde_json::{json, Value};
use tessera_engine::shard::Shard;
use tessera_types::{
    CollectionConfig, Distance, PayloadSchema, PayloadSchemaType, Point, PointId, PointSelection,
    ScrollRequest, ShardOperation, VectorsConfig, WithPayload, WithVector,
};

use crate::common::*;

const DIM: u64 = 16;
const POINTS: u64 = 3000;

/// 8 KB = 128 vectors of 16 floats: the appendable segment is sealed (and indexed) often.
fn config_on_disk(on_disk: bool) -> CollectionConfig {
    let mut config = config(DIM, Distance::Cosine, 8);
    match &mut config.params.vectors {
        VectorsConfig::Single(p) => p.on_disk = Some(on_disk),
        VectorsConfig::Multi(_) => unreachable!(),
    }
    config.params.on_disk_payload = on_disk;
    config
}

/// Files of the shard in `dir` mapped into this process. The trailing separator keeps
/// `…-test-1` from matching `…-test-12` of a test running alongside.
fn mapped_files(dir: &Path) -> Vec<String> {
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap_or_default();
    let dir = format!("{}/", dir.to_string_lossy());
    let mut files: Vec<String> = maps
        .lines()
        .filter_map(|l| l.split_whitespace().nth(5))
        .filter(|p| p.starts_with(&dir))
        .map(|p| p.rsplit('/').next().unwrap().to_string())
        .collect();
    files.sort();
    files.dedup();
    files
}

fn load(shard: &Shard) {
    let vectors = random_vectors(POINTS as usize, DIM as usize, 71);
    for (batch, chunk) in vectors.chunks(500).enumerate() {
        let points: Vec<Point> = chunk
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let id = (batch * 500 + i) as u64;
                let mut p = json!({"group": id % 50, "tag": format!("t{}", id % 7), "n": id});
                if id.is_multiple_of(3) {
                    p["nested"] = json!({"x": [id % 5, "y"]});
                }
                point(id, v.clone(), p)
            })
            .collect();
        shard.apply(ShardOperation::Upsert(points), true).unwrap();
        shard.optimize().unwrap();
    }
    shard.set_payload_schema(&PayloadSchema::from([(
        "group".to_string(),
        PayloadSchemaType::Integer.into(),
    )]));
    // Writes to points already in mapped segments: deletes, payload changes, moves.
    shard
        .apply(
            ShardOperation::Delete(PointSelection::Ids(
                (0..POINTS).step_by(11).map(PointId::Num).collect(),
            )),
            true,
        )
        .unwrap();
    shard
        .apply(
            ShardOperation::SetPayload {
                payload: payload(json!({"flag": true})),
                selection: PointSelection::Filter(filter(
                    json!({"must": [{"key": "tag", "match": {"value": "t3"}}]}),
                )),
                key: None,
            },
            true,
        )
        .unwrap();
    let moved: Vec<Point> = (0..POINTS)
        .step_by(13)
        .map(|id| {
            point(
                id,
                vec![0.5; DIM as usize],
                json!({"group": 1, "moved": true}),
            )
        })
        .collect();
    shard.apply(ShardOperation::Upsert(moved), true).unwrap();
    shard.optimize().unwrap();
}

/// Everything the two shards must agree on.
fn answers(shard: &Shard) -> Value {
    let queries = random_vectors(10, DIM as usize, 72);
    let filters = [
        None,
        Some(json!({"must": [{"key": "group", "match": {"value": 7}}]})),
        Some(json!({"must": [{"key": "tag", "match": {"any": ["t1", "t3"]}}]})),
        Some(
            json!({"should": [{"key": "flag", "match": {"value": true}}, {"key": "nested.x[]", "match": {"value": 2}}]}),
        ),
        Some(json!({"must_not": [{"key": "n", "range": {"lt": 1500}}]})),
    ];
    let mut out = vec![snapshot(shard)];
    for f in &filters {
        let f = f.clone().map(filter);
        for q in &queries {
            let mut req = exact(search_req(q.clone(), 10));
            req.filter = f.clone();
            req.with_payload = WithPayload::Enable(true);
            req.with_vector = WithVector::Enable(true);
            out.push(serde_json::to_value(shard.search(&req).unwrap()).unwrap());
        }
        let page = shard
            .scroll(&ScrollRequest {
                offset: Some(PointId::Num(100)),
                limit: 37,
                filter: f.clone(),
                with_payload: WithPayload::Enable(true),
                with_vector: WithVector::Enable(true),
                order_by: None,
            })
            .unwrap();
        out.push(serde_json::to_value(&page.points).unwrap());
        out.push(json!(shard.count(f.as_ref()).unwrap()));
    }
    let ids: Vec<PointId> = (0..POINTS + 5).step_by(7).map(PointId::Num).collect();
    out.push(
        serde_json::to_value(shard.retrieve(
            &ids,
            &WithPayload::Enable(true),
            &WithVector::Enable(true),
        ))
        .unwrap(),
    );
    Value::Array(out)
}

/// HNSW searches on the mapped shard: every score is the exact one (rescoring reads the
/// map) and recall against exact search is high.
fn check_graph_search(disk: &Shard, memory: &Shard) {
    let (mut found, mut total) = (0, 0);
    for q in random_vectors(20, DIM as usize, 73) {
        let mut req = search_req(q.clone(), 10);
        req.params.hnsw_ef = Some(128);
        let got = disk.search(&req).unwrap();
        let want = memory.search(&exact(req)).unwrap();
        for hit in &got {
            let mut one = exact(search_req(q.clone(), 1));
            one.filter = Some(filter(json!({"must": [{"has_id": [hit.id]}]})));
            let score = memory.search(&one).unwrap()[0].score;
            assert!(
                (score - hit.score).abs() < 1e-5,
                "{:?}: {score} vs {}",
                hit.id,
                hit.score
            );
        }
        let got = ids_of(&got);
        found += want.iter().filter(|h| got.contains(&h.id)).count();
        total += want.len();
    }
    assert!(found * 10 >= total * 9, "recall {found}/{total}");
}

#[test]
fn on_disk_storage_answers_like_memory_before_and_after_restart() {
    let (mem_dir, disk_dir) = (TempDir::new(), TempDir::new());
    let memory = Shard::open(mem_dir.path(), config_on_disk(false)).unwrap();
    let disk = Shard::open(disk_dir.path(), config_on_disk(true)).unwrap();
    load(&memory);
    load(&disk);
    disk.optimize().unwrap();
    memory.optimize().unwrap();
    let indexed = [&memory, &disk].map(|s| s.stats().indexed_vectors_count);
    assert!(indexed[1] > 0, "graphs were built");
    assert_eq!(disk.stats().payload_points, memory.stats().payload_points);

    let mapped = mapped_files(disk_dir.path());
    if cfg!(target_os = "linux") {
        assert!(mapped.iter().any(|f| f == "vectors-0.bin"), "{mapped:?}");
        assert!(mapped.iter().any(|f| f == "payloads.bin"), "{mapped:?}");
        // Indexed segments search their saved graphs over mapped vectors.
        assert!(mapped.iter().any(|f| f == "graph-0.bin"), "{mapped:?}");
        assert!(mapped_files(mem_dir.path()).is_empty());
    }
    let want = answers(&memory);
    assert_eq!(answers(&disk), want);
    check_graph_search(&disk, &memory);

    drop(disk);
    drop(memory);
    let memory = Shard::open(mem_dir.path(), config_on_disk(false)).unwrap();
    let disk = Shard::open(disk_dir.path(), config_on_disk(true)).unwrap();
    // Graphs come back with their segments instead of being built again.
    for (shard, indexed) in [&memory, &disk].into_iter().zip(indexed) {
        assert_eq!(shard.stats().indexed_vectors_count, indexed);
    }
    if cfg!(target_os = "linux") {
        let mapped = mapped_files(disk_dir.path());
        assert!(mapped.iter().any(|f| f == "graph-0.bin"), "{mapped:?}");
    }
    assert_eq!(answers(&memory), want);
    check_graph_search(&disk, &memory);
    for shard in [&memory, &disk] {
        shard.set_payload_schema(&PayloadSchema::from([(
            "group".to_string(),
            PayloadSchemaType::Integer.into(),
        )]));
        shard.optimize().unwrap();
    }
    if cfg!(target_os = "linux") {
        let mapped = mapped_files(disk_dir.path());
        assert!(mapped.iter().any(|f| f == "vectors-0.bin"), "{mapped:?}");
    }
    assert_eq!(answers(&memory), want);
    assert_eq!(answers(&disk), want);
    check_graph_search(&disk, &memory);
}

/// `memmap_threshold` (Qdrant's, in KB of a segment's vectors): segments past it map
/// their vectors though no vector says `on_disk`; smaller ones, and payloads, stay in
/// memory; answers are those of the shard held in memory.
#[test]
fn segments_past_the_memmap_threshold_map_their_vectors() {
    let (mem_dir, mapped_dir) = (TempDir::new(), TempDir::new());
    let with_threshold = |kb| {
        let mut config = config_on_disk(false);
        config.optimizer_config.memmap_threshold = Some(kb);
        config
    };
    // Sealed segments hold at least 128 vectors of 16 floats: 8 KB.
    let memory = Shard::open(mem_dir.path(), with_threshold(1_000_000)).unwrap();
    let mapped = Shard::open(mapped_dir.path(), with_threshold(4)).unwrap();
    for shard in [&memory, &mapped] {
        load(shard);
        shard.optimize().unwrap();
    }
    if cfg!(target_os = "linux") {
        let files = mapped_files(mapped_dir.path());
        assert!(files.iter().any(|f| f == "vectors-0.bin"), "{files:?}");
        assert!(!files.iter().any(|f| f == "payloads.bin"), "{files:?}");
        assert!(mapped_files(mem_dir.path()).is_empty());
    }
    let want = answers(&memory);
    assert_eq!(answers(&mapped), want);
    check_graph_search(&mapped, &memory);

    // After a restart the segments are mapped the same way.
    drop(mapped);
    let mapped = Shard::open(mapped_dir.path(), with_threshold(4)).unwrap();
    if cfg!(target_os = "linux") {
        let files = mapped_files(mapped_dir.path());
        assert!(files.iter().any(|f| f == "vectors-0.bin"), "{files:?}");
    }
    assert_eq!(answers(&mapped), want);
}
