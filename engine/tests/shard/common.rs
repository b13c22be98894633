//! Helpers shared by the shard tests.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use tessera_engine::shard::Shard;
use tessera_types::{
    CollectionConfig, CreateCollection, Distance, Filter, HnswConfigDiff, NamedVectors, Payload,
    Point, PointId, ScrollRequest, SearchParams, SearchRequest, VectorParams, VectorsConfig,
    WithPayload, WithVector,
};

/// A directory removed when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new() -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "tessera-shard-test-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    /// The shard's only WAL file (no checkpoint has removed or rotated one).
    pub fn wal_file(&self) -> PathBuf {
        let files: Vec<PathBuf> = std::fs::read_dir(self.0.join("wal"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert_eq!(files.len(), 1, "expected one WAL file, found {files:?}");
        files.into_iter().next().unwrap()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn hnsw(full_scan_threshold: usize) -> Option<HnswConfigDiff> {
    Some(HnswConfigDiff {
        m: Some(16),
        ef_construct: Some(64),
        full_scan_threshold: Some(full_scan_threshold),
        ..Default::default()
    })
}

fn params(size: u64, distance: Distance) -> VectorParams {
    VectorParams {
        size,
        distance,
        hnsw_config: None,
        quantization_config: None,
        on_disk: None,
        datatype: None,
        multivector_config: None,
    }
}

/// One unnamed vector; the appendable segment is sealed and indexed once its vectors
/// reach `full_scan_threshold` KB. Checkpoints happen only when a test asks (`flush`,
/// `optimize`) or the optimizer swaps segments.
pub fn config(dim: u64, distance: Distance, full_scan_threshold: usize) -> CollectionConfig {
    CreateCollection {
        vectors: Some(VectorsConfig::Single(params(dim, distance))),
        hnsw_config: hnsw(full_scan_threshold),
        optimizers_config: Some(json!({
            "indexing_threshold": full_scan_threshold,
            "flush_interval_sec": 3600,
        })),
        ..Default::default()
    }
    .into_config(1)
    .unwrap()
}

/// Named vectors `image` (4-d Dot) and `text` (2-d Euclid).
pub fn named_config() -> CollectionConfig {
    CreateCollection {
        vectors: Some(VectorsConfig::Multi(
            [
                ("image".to_string(), params(4, Distance::Dot)),
                ("text".to_string(), params(2, Distance::Euclid)),
            ]
            .into(),
        )),
        ..Default::default()
    }
    .into_config(1)
    .unwrap()
}

pub fn payload(v: Value) -> Payload {
    v.as_object().expect("payload must be an object").clone()
}

pub fn point(id: u64, vector: Vec<f32>, p: Value) -> Point {
    Point {
        id: PointId::Num(id),
        vectors: NamedVectors::from([(String::new(), vector.into())]),
        payload: payload(p),
    }
}

pub fn filter(v: Value) -> Filter {
    serde_json::from_value(v).unwrap()
}

pub fn random_vectors(n: usize, dim: usize, seed: u64) -> Vec<Vec<f32>> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..n)
        .map(|_| (0..dim).map(|_| rng.random_range(-1.0f32..1.0)).collect())
        .collect()
}

pub fn search_req(vector: Vec<f32>, limit: usize) -> SearchRequest {
    SearchRequest {
        vector: vector.into(),
        using: String::new(),
        filter: None,
        limit,
        offset: 0,
        with_payload: WithPayload::Enable(false),
        with_vector: WithVector::Enable(false),
        score_threshold: None,
        params: SearchParams::default(),
    }
}

pub fn exact(mut req: SearchRequest) -> SearchRequest {
    req.params.exact = true;
    req
}

pub fn ids_of(points: &[tessera_types::ScoredPoint]) -> Vec<PointId> {
    points.iter().map(|p| p.id).collect()
}

/// Everything a shard holds, in a comparable form: every record with payload and
/// vectors, every point's version, and the point count.
pub fn snapshot(shard: &Shard) -> Value {
    let all = shard
        .scroll(&ScrollRequest {
            offset: None,
            limit: usize::MAX,
            filter: None,
            with_payload: WithPayload::Enable(true),
            with_vector: WithVector::Enable(true),
            order_by: None,
        })
        .unwrap();
    assert_eq!(all.next_page_offset, None);
    let versions: Vec<Value> = all
        .points
        .iter()
        .map(|r| {
            // Versions are visible through search only, so only for points with a vector.
            let Some(tessera_types::VectorStruct::Single(vector)) = &r.vector else {
                return json!([r.id, null]);
            };
            let mut req = exact(search_req(vector.clone(), 1));
            req.filter = Some(filter(json!({"must": [{"has_id": [r.id]}]})));
            let hit = shard.search(&req).unwrap();
            json!([r.id, hit[0].version])
        })
        .collect();
    json!({
        "records": serde_json::to_value(&all.points).unwrap(),
        "versions": versions,
        "points_count": shard.stats().points_count,
    })
}
