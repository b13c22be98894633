//! The `stream_records` transfer at the engine: a shard's records, read page
//! by page with their versions, loaded into a new shard that then holds the
//! same points and versions and continues the source's history.

use serde_json::json;
use tessera_engine::shard::{RecordLoader, Shard, VersionedPoint};
use tessera_types::{Distance, OpId, PointId, PointSelection, ShardOperation};

use crate::common::*;

#[test]
fn records_loaded_elsewhere_continue_the_history() {
    let source_dir = TempDir::new();
    // A small threshold: some points end up in sealed, indexed segments.
    let source = Shard::open(source_dir.path(), config(8, Distance::Cosine, 2)).unwrap();
    let vectors = random_vectors(300, 8, 5);
    for (b, chunk) in vectors.chunks(30).enumerate() {
        let points = chunk
            .iter()
            .enumerate()
            .map(|(i, v)| point((b * 30 + i) as u64, v.clone(), json!({"b": b})))
            .collect();
        source.apply(ShardOperation::Upsert(points), false).unwrap();
    }
    // Rewritten and deleted points: the records carry only the last state.
    let rewritten =
        (0..10).map(|i| point(i, vectors[299 - i as usize].clone(), json!({"b": "new"})));
    source
        .apply(ShardOperation::Upsert(rewritten.collect()), false)
        .unwrap();
    source
        .apply(
            ShardOperation::Delete(PointSelection::Ids((290..300).map(PointId::Num).collect())),
            false,
        )
        .unwrap();
    source.optimize().unwrap();
    let at = source.last_op();

    let target_dir = TempDir::new();
    let built = target_dir.path().join("built");
    let mut loader =
        RecordLoader::create(&built, config(8, Distance::Cosine, 2), at, source.epochs()).unwrap();
    let (mut from, mut pages, mut all): (Option<PointId>, usize, Vec<VersionedPoint>) =
        (None, 0, Vec::new());
    loop {
        let (page, next) = source.records_page(from, 70);
        pages += 1;
        all.extend(page.clone());
        loader.load(page).unwrap();
        match next {
            Some(id) => from = Some(id),
            None => break,
        }
    }
    assert_eq!(pages, 5, "290 points in pages of 70");
    assert_eq!(all.len(), 290);
    assert!(all.windows(2).all(|w| w[0].1.id < w[1].1.id), "in id order");
    assert_eq!(loader.finish().unwrap(), 290);

    let target = Shard::open(&built, config(8, Distance::Cosine, 2)).unwrap();
    assert_eq!(target.last_op(), at);
    assert!(
        target.stats().segments_count > 2,
        "the loader seals segments as it goes"
    );
    assert_eq!(
        snapshot(&target),
        snapshot(&source),
        "same points and versions"
    );

    // The next operation of the source's history applies on both alike.
    let next = ShardOperation::Upsert(vec![point(1000, vectors[0].clone(), json!({}))]);
    let ordered = source.apply_as_primary(at.epoch, next, false).unwrap();
    target
        .apply_replicated(
            at.epoch,
            vec![(ordered.id, ordered.op)],
            false,
            std::time::Duration::ZERO,
        )
        .unwrap();
    assert_eq!(
        target.last_op(),
        OpId {
            seq: at.seq + 1,
            ..at
        }
    );
    assert_eq!(snapshot(&target), snapshot(&source));
}
