//! Property test: random interleavings of upserts, deletes, payload updates and
//! optimizer runs leave the engine answering search, scroll, count and filtered search
//! exactly as a naive in-memory model does.

use std::collections::BTreeMap;

use proptest::prelude::*;
use serde_json::{json, Value};
use tessera_engine::shard::Shard;
use tessera_types::{
    Distance, PointId, PointSelection, ScrollRequest, ShardOperation, WithPayload, WithVector,
};

use crate::common::*;

const IDS: u64 = 40;
const DIM: usize = 4;

#[derive(Debug, Clone)]
enum Op {
    Upsert(Vec<(u64, Vec<f32>, i64)>),
    Delete(Vec<u64>),
    SetPayload(Vec<u64>, i64),
    DeleteWhere(i64),
    Optimize,
}

fn op() -> impl Strategy<Value = Op> {
    let vector = prop::collection::vec(-10.0f32..10.0, DIM);
    let ids = prop::collection::vec(0..IDS, 1..8);
    prop_oneof![
        4 => prop::collection::vec((0..IDS, vector, 0i64..4), 1..12).prop_map(Op::Upsert),
        2 => ids.clone().prop_map(Op::Delete),
        2 => (ids, 0i64..4).prop_map(|(ids, k)| Op::SetPayload(ids, k)),
        1 => (0i64..4).prop_map(Op::DeleteWhere),
        1 => Just(Op::Optimize),
    ]
}

/// The model: id -> (vector, payload).
type Model = BTreeMap<u64, (Vec<f32>, Value)>;

fn selection(ids: &[u64]) -> PointSelection {
    PointSelection::Ids(ids.iter().map(|i| PointId::Num(*i)).collect())
}

fn k_is(k: i64) -> tessera_types::Filter {
    filter(json!({"must": [{"key": "k", "match": {"value": k}}]}))
}

fn apply(shard: &Shard, model: &mut Model, op: Op) {
    match op {
        Op::Upsert(points) => {
            let batch = points
                .iter()
                .map(|(id, v, k)| point(*id, v.clone(), json!({"k": k, "id": id})))
                .collect();
            shard.apply(ShardOperation::Upsert(batch), true).unwrap();
            for (id, v, k) in points {
                model.insert(id, (v, json!({"k": k, "id": id})));
            }
        }
        Op::Delete(ids) => {
            shard
                .apply(ShardOperation::Delete(selection(&ids)), false)
                .unwrap();
            for id in ids {
                model.remove(&id);
            }
        }
        Op::SetPayload(ids, k) => {
            shard
                .apply(
                    ShardOperation::SetPayload {
                        payload: payload(json!({"k": k})),
                        selection: selection(&ids),
                        key: None,
                    },
                    true,
                )
                .unwrap();
            for id in ids {
                if let Some((_, p)) = model.get_mut(&id) {
                    p["k"] = json!(k);
                }
            }
        }
        Op::DeleteWhere(k) => {
            shard
                .apply(
                    ShardOperation::Delete(PointSelection::Filter(k_is(k))),
                    true,
                )
                .unwrap();
            model.retain(|_, (_, p)| p["k"] != json!(k));
        }
        Op::Optimize => shard.optimize().unwrap(),
    }
}

fn distance(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y) * (x - y))
        .sum::<f32>()
        .sqrt()
}

/// The model's exact top `k` ids for `query` among points passing `keep`.
fn model_top(
    model: &Model,
    query: &[f32],
    k: usize,
    keep: impl Fn(&Value) -> bool,
) -> Vec<PointId> {
    let mut scored: Vec<(f32, u64)> = model
        .iter()
        .filter(|(_, (_, p))| keep(p))
        .map(|(id, (v, _))| (distance(query, v), *id))
        .collect();
    scored.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    scored
        .into_iter()
        .take(k)
        .map(|(_, id)| PointId::Num(id))
        .collect()
}

fn check(shard: &Shard, model: &Model, query: &[f32]) {
    assert_eq!(shard.count(None).unwrap(), model.len() as u64, "count");
    for k in 0..4 {
        let want = model.values().filter(|(_, p)| p["k"] == json!(k)).count();
        assert_eq!(
            shard.count(Some(&k_is(k))).unwrap(),
            want as u64,
            "count k={k}"
        );
    }
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
    let got: Vec<(PointId, Value, Value)> = all
        .points
        .iter()
        .map(|r| {
            (
                r.id,
                Value::Object(r.payload.clone().unwrap()),
                serde_json::to_value(&r.vector).unwrap(),
            )
        })
        .collect();
    let want: Vec<(PointId, Value, Value)> = model
        .iter()
        .map(|(id, (v, p))| (PointId::Num(*id), p.clone(), json!(v)))
        .collect();
    assert_eq!(got, want, "scroll");
    let page = shard
        .scroll(&ScrollRequest {
            offset: Some(PointId::Num(IDS / 2)),
            limit: 3,
            filter: Some(k_is(1)),
            with_payload: WithPayload::Enable(false),
            with_vector: WithVector::Enable(false),
            order_by: None,
        })
        .unwrap();
    let mut want = model
        .iter()
        .filter(|(id, (_, p))| **id >= IDS / 2 && p["k"] == json!(1))
        .map(|(id, _)| PointId::Num(*id));
    let want_page: Vec<PointId> = want.by_ref().take(3).collect();
    assert_eq!(
        page.points.iter().map(|r| r.id).collect::<Vec<_>>(),
        want_page,
        "scroll page"
    );
    assert_eq!(page.next_page_offset, want.next(), "next page offset");

    let exact_hits = shard.search(&exact(search_req(query.to_vec(), 5))).unwrap();
    assert_eq!(
        ids_of(&exact_hits),
        model_top(model, query, 5, |_| true),
        "exact search"
    );
    let mut filtered = exact(search_req(query.to_vec(), 5));
    filtered.filter = Some(k_is(2));
    assert_eq!(
        ids_of(&shard.search(&filtered).unwrap()),
        model_top(model, query, 5, |p| p["k"] == json!(2)),
        "exact filtered search"
    );
    // The default plan may use graphs: never a deleted or stale point, true scores only.
    let mut req = search_req(query.to_vec(), 5);
    req.filter = Some(filter(
        json!({"must_not": [{"key": "k", "match": {"value": 3}}]}),
    ));
    for hit in shard.search(&req).unwrap() {
        let PointId::Num(id) = hit.id else { panic!() };
        let (v, p) = model
            .get(&id)
            .unwrap_or_else(|| panic!("deleted point {id} returned"));
        assert_ne!(p["k"], json!(3), "filter ignored for {id}");
        assert!(
            (hit.score - distance(query, v)).abs() < 1e-4,
            "stale vector of {id}"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn engine_matches_a_naive_model(
        ops in prop::collection::vec(op(), 1..40),
        query in prop::collection::vec(-10.0f32..10.0, DIM),
    ) {
        let dir = TempDir::new();
        let mut cfg = config(DIM as u64, Distance::Euclid, 1);
        // Vacuum and merge eagerly, so optimizer runs change the segment layout often.
        cfg.optimizer_config.deleted_threshold = 0.05;
        cfg.optimizer_config.vacuum_min_vector_number = 1;
        cfg.optimizer_config.default_segment_number = 2;
        let shard = Shard::open(dir.path(), cfg.clone()).unwrap();
        let mut model = Model::new();
        for (i, op) in ops.into_iter().enumerate() {
            apply(&shard, &mut model, op);
            if i % 5 == 4 {
                check(&shard, &model, &query);
            }
        }
        check(&shard, &model, &query);
        // And after a restart, from checkpoints and the WAL.
        drop(shard);
        let shard = Shard::open(dir.path(), cfg).unwrap();
        check(&shard, &model, &query);
    }
}
