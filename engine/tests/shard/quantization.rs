//! Quantized codes: built for indexed segments, walked with re-scoring, kept across
//! reopening, dropped when the settings are.

use serde_json::json;
use tessera_engine::shard::Shard;
use tessera_types::{
    Distance, Point, QuantizationConfig, QuantizationConfigDiff, QuantizationSearchParams,
    ShardOperation, UpdateCollection,
};

use crate::common::*;

const DIM: usize = 32;

fn scalar() -> QuantizationConfig {
    serde_json::from_value(json!({"scalar": {"type": "int8", "always_ram": true}})).unwrap()
}

fn quantized_config() -> tessera_types::CollectionConfig {
    let mut config = config(DIM as u64, Distance::Cosine, 10);
    config.quantization_config = Some(scalar());
    config
}

fn quantized(rescore: bool, oversampling: f64) -> Option<QuantizationSearchParams> {
    Some(QuantizationSearchParams {
        ignore: false,
        rescore: Some(rescore),
        oversampling: Some(oversampling),
    })
}

fn quant_files(dir: &std::path::Path) -> usize {
    let segments = dir.join("segments");
    std::fs::read_dir(segments)
        .unwrap()
        .flat_map(|s| std::fs::read_dir(s.unwrap().path()).unwrap())
        .filter(|f| {
            f.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with("quant-")
        })
        .count()
}

/// Mean recall@10 of `params` against exact search, and whether every reported score
/// was the stored vector's own.
fn measure(
    shard: &Shard,
    queries: &[Vec<f32>],
    params: Option<QuantizationSearchParams>,
) -> (f64, bool) {
    let mut found = 0;
    let mut exact_scores = true;
    for query in queries {
        let mut req = search_req(query.clone(), 10);
        req.params.quantization = params;
        let approx = shard.search(&req).unwrap();
        let truth = shard.search(&exact(search_req(query.clone(), 10))).unwrap();
        let truth_ids = ids_of(&truth);
        found += approx.iter().filter(|p| truth_ids.contains(&p.id)).count();
        for hit in &approx {
            let mut one = exact(search_req(query.clone(), 1));
            one.filter = Some(filter(json!({"must": [{"has_id": [hit.id]}]})));
            let own = shard.search(&one).unwrap()[0].score;
            exact_scores &= (own - hit.score).abs() < 1e-6;
        }
    }
    (found as f64 / (queries.len() * 10) as f64, exact_scores)
}

#[test]
fn quantized_segments_are_searched_rescored_reopened_and_dropped() {
    let dir = TempDir::new();
    let shard = Shard::open(dir.path(), quantized_config()).unwrap();
    let vectors = random_vectors(4000, DIM, 21);
    let points: Vec<Point> = vectors
        .iter()
        .enumerate()
        .map(|(i, v)| point(i as u64, v.clone(), json!({})))
        .collect();
    for chunk in points.chunks(1000) {
        shard
            .apply(ShardOperation::Upsert(chunk.to_vec()), false)
            .unwrap();
    }
    shard.optimize().unwrap();
    assert_eq!(shard.stats().indexed_vectors_count, 4000);
    assert!(quant_files(dir.path()) > 0, "indexed segments keep codes");
    let queries = random_vectors(20, DIM, 22);

    // Re-scored: the stored vectors' scores, and the true neighbours.
    let (recall, exact_scores) = measure(&shard, &queries, quantized(true, 2.0));
    assert!(recall >= 0.9, "recall@10 with re-scoring = {recall}");
    assert!(exact_scores);
    // Not re-scored: the codes' estimates, so the walk really read them.
    let (recall, exact_scores) = measure(&shard, &queries, quantized(false, 1.0));
    assert!(recall >= 0.7, "recall@10 from codes alone = {recall}");
    assert!(
        !exact_scores,
        "scores without re-scoring are the codes' estimates"
    );
    // Ignored: the full vectors all the way.
    let ignore = Some(QuantizationSearchParams {
        ignore: true,
        rescore: Some(false),
        oversampling: None,
    });
    let (recall, exact_scores) = measure(&shard, &queries, ignore);
    assert!(recall >= 0.9 && exact_scores);

    // Reopened, the saved codes serve again.
    drop(shard);
    let shard = Shard::open(dir.path(), quantized_config()).unwrap();
    assert!(!measure(&shard, &queries[..3], quantized(false, 1.0)).1);

    // Disabled: codes are dropped and their files removed.
    let disabled = UpdateCollection {
        quantization_config: Some(QuantizationConfigDiff::Disabled),
        ..Default::default()
    }
    .apply_to(&quantized_config())
    .unwrap();
    shard.update_config(disabled);
    shard.optimize().unwrap();
    assert_eq!(quant_files(dir.path()), 0);
    let (recall, exact_scores) = measure(&shard, &queries[..5], quantized(false, 1.0));
    assert!(recall >= 0.9 && exact_scores);
    assert_eq!(shard.stats().points_count, 4000);
}
