//! Writes, reads, payload edits and input validation.

use serde_json::json;
use tessera_engine::shard::{Shard, ShardError};
use tessera_types::{
    Distance, NamedVectors, Point, PointId, PointSelection, ScrollRequest, ShardOperation,
    TesseraError, VectorStruct, WithPayload, WithVector,
};
use uuid::Uuid;

use crate::common::*;

fn shard(dir: &TempDir) -> Shard {
    Shard::open(dir.path(), config(4, Distance::Dot, 10_000)).unwrap()
}

fn upsert(shard: &Shard, points: Vec<Point>) -> u64 {
    shard.apply(ShardOperation::Upsert(points), true).unwrap()
}

fn ids(n: &[u64]) -> PointSelection {
    PointSelection::Ids(n.iter().map(|i| PointId::Num(*i)).collect())
}

fn payload_of(shard: &Shard, id: u64) -> serde_json::Value {
    let r = shard.retrieve(
        &[PointId::Num(id)],
        &WithPayload::Enable(true),
        &WithVector::Enable(false),
    );
    serde_json::Value::Object(r[0].payload.clone().unwrap())
}

fn version_of(shard: &Shard, id: u64) -> u64 {
    let mut req = exact(search_req(vec![0.0; 4], 1));
    req.filter = Some(filter(json!({"must": [{"has_id": [id]}]})));
    shard.search(&req).unwrap()[0].version
}

#[test]
fn upsert_retrieve_replace_and_versions() {
    let dir = TempDir::new();
    let shard = shard(&dir);
    let s1 = upsert(
        &shard,
        vec![
            point(1, vec![1.0, 0.0, 0.0, 0.0], json!({"a": 1, "b": "x"})),
            point(2, vec![0.0, 1.0, 0.0, 0.0], json!({"a": 2})),
        ],
    );
    let got = shard.retrieve(
        &[PointId::Num(2), PointId::Num(9), PointId::Num(1)],
        &WithPayload::Enable(true),
        &WithVector::Enable(true),
    );
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].id, PointId::Num(2));
    assert_eq!(got[1].id, PointId::Num(1));
    assert_eq!(got[1].payload, Some(payload(json!({"a": 1, "b": "x"}))));
    assert_eq!(
        got[1].vector,
        Some(VectorStruct::Single(vec![1.0, 0.0, 0.0, 0.0]))
    );

    // Selectors.
    let sel = shard.retrieve(
        &[PointId::Num(1)],
        &WithPayload::Include(vec!["b".into()]),
        &WithVector::Enable(false),
    );
    assert_eq!(sel[0].payload, Some(payload(json!({"b": "x"}))));
    assert_eq!(sel[0].vector, None);

    // An upsert replaces payload and vectors entirely.
    let s2 = upsert(
        &shard,
        vec![point(1, vec![0.0, 0.0, 1.0, 0.0], json!({"c": 3}))],
    );
    assert!(s2 > s1);
    let got = shard.retrieve(
        &[PointId::Num(1)],
        &WithPayload::Enable(true),
        &WithVector::Enable(true),
    );
    assert_eq!(got[0].payload, Some(payload(json!({"c": 3}))));
    assert_eq!(
        got[0].vector,
        Some(VectorStruct::Single(vec![0.0, 0.0, 1.0, 0.0]))
    );
    assert_eq!(version_of(&shard, 1), s2);
    assert_eq!(version_of(&shard, 2), s1);
    assert_eq!(shard.stats().points_count, 2);
    assert_eq!(shard.stats().indexed_vectors_count, 0);
    assert_eq!(shard.stats().segments_count, 1);
}

#[test]
fn payload_operations_by_ids_and_filter() {
    let dir = TempDir::new();
    let shard = shard(&dir);
    upsert(
        &shard,
        (0..6)
            .map(|i| point(i, vec![i as f32, 1.0, 0.0, 0.0], json!({"n": i, "tag": if i % 2 == 0 { "even" } else { "odd" }, "obj": {"k": 1}})))
            .collect(),
    );

    let seq = shard
        .apply(
            ShardOperation::SetPayload {
                payload: payload(json!({"new": true, "n": 100})),
                selection: ids(&[1, 42]),
                key: None,
            },
            true,
        )
        .unwrap();
    assert_eq!(
        payload_of(&shard, 1),
        json!({"n": 100, "new": true, "tag": "odd", "obj": {"k": 1}})
    );
    assert_eq!(version_of(&shard, 1), seq);

    shard
        .apply(
            ShardOperation::SetPayload {
                payload: payload(json!({"deep": 5})),
                selection: PointSelection::Filter(filter(
                    json!({"must": [{"key": "tag", "match": {"value": "even"}}]}),
                )),
                key: Some("obj.inner".into()),
            },
            false,
        )
        .unwrap();
    for i in [0, 2, 4] {
        assert_eq!(
            payload_of(&shard, i)["obj"],
            json!({"k": 1, "inner": {"deep": 5}})
        );
    }
    assert_eq!(payload_of(&shard, 3)["obj"], json!({"k": 1}));

    shard
        .apply(
            ShardOperation::DeletePayload {
                keys: vec!["obj.k".into(), "tag".into()],
                selection: ids(&[0, 3]),
            },
            true,
        )
        .unwrap();
    assert_eq!(
        payload_of(&shard, 0),
        json!({"n": 0, "obj": {"inner": {"deep": 5}}})
    );
    assert_eq!(payload_of(&shard, 3), json!({"n": 3, "obj": {}}));

    shard
        .apply(
            ShardOperation::OverwritePayload {
                payload: payload(json!({"only": 1})),
                selection: ids(&[2]),
            },
            true,
        )
        .unwrap();
    assert_eq!(payload_of(&shard, 2), json!({"only": 1}));

    shard
        .apply(
            ShardOperation::ClearPayload(PointSelection::Filter(filter(
                json!({"must": [{"key": "n", "range": {"gte": 4}}]}),
            ))),
            true,
        )
        .unwrap();
    assert_eq!(payload_of(&shard, 4), json!({}));
    assert_eq!(payload_of(&shard, 5), json!({}));
    assert_eq!(payload_of(&shard, 3), json!({"n": 3, "obj": {}}));

    // Missing ids are no-ops, not errors.
    shard
        .apply(ShardOperation::ClearPayload(ids(&[77])), true)
        .unwrap();
    assert_eq!(shard.stats().points_count, 6);
}

#[test]
fn delete_count_and_scroll() {
    let dir = TempDir::new();
    let shard = shard(&dir);
    let u1 = Uuid::from_u128(1);
    let u2 = Uuid::from_u128(2);
    let mut points: Vec<Point> = (0..10)
        .map(|i| point(i, vec![1.0; 4], json!({"g": i % 3})))
        .collect();
    for u in [u2, u1] {
        points.push(Point {
            id: PointId::Uuid(u),
            vectors: NamedVectors::from([(String::new(), vec![1.0; 4].into())]),
            payload: payload(json!({"g": 0})),
        });
    }
    upsert(&shard, points);
    assert_eq!(shard.count(None).unwrap(), 12);
    let g0 = filter(json!({"must": [{"key": "g", "match": {"value": 0}}]}));
    assert_eq!(shard.count(Some(&g0)).unwrap(), 6);

    let scroll = |offset: Option<PointId>, limit: usize, f: Option<tessera_types::Filter>| {
        shard
            .scroll(&ScrollRequest {
                offset,
                limit,
                filter: f,
                with_payload: WithPayload::Enable(false),
                with_vector: WithVector::Enable(false),
                order_by: None,
            })
            .unwrap()
    };
    let page = scroll(None, 4, Some(g0.clone()));
    let page_ids: Vec<PointId> = page.points.iter().map(|r| r.id).collect();
    assert_eq!(page_ids, [0, 3, 6, 9].map(PointId::Num));
    assert_eq!(page.next_page_offset, Some(PointId::Uuid(u1)));
    let page = scroll(page.next_page_offset, 4, Some(g0.clone()));
    let page_ids: Vec<PointId> = page.points.iter().map(|r| r.id).collect();
    assert_eq!(page_ids, vec![PointId::Uuid(u1), PointId::Uuid(u2)]);
    assert_eq!(page.next_page_offset, None);
    let page = scroll(Some(PointId::Num(5)), 2, None);
    assert_eq!(page.points.len(), 2);
    assert_eq!(page.points[0].id, PointId::Num(5));
    assert_eq!(page.next_page_offset, Some(PointId::Num(7)));

    shard
        .apply(ShardOperation::Delete(ids(&[0, 1, 99])), true)
        .unwrap();
    shard
        .apply(
            ShardOperation::Delete(PointSelection::Filter(g0.clone())),
            true,
        )
        .unwrap();
    // Ids 0 and 1, then 3, 6, 9 and both UUIDs (g = 0).
    assert_eq!(shard.count(None).unwrap(), 5);
    assert!(shard
        .retrieve(
            &[PointId::Num(0), PointId::Num(1), PointId::Uuid(u1)],
            &WithPayload::Enable(true),
            &WithVector::Enable(true)
        )
        .is_empty());
    let mut req = exact(search_req(vec![1.0; 4], 100));
    req.with_payload = WithPayload::Enable(true);
    let hits = shard.search(&req).unwrap();
    assert_eq!(hits.len(), 5);
    assert!(hits
        .iter()
        .all(|h| h.payload.as_ref().unwrap()["g"] != json!(0)));
}

#[test]
fn named_vectors_update_and_delete() {
    let dir = TempDir::new();
    let shard = Shard::open(dir.path(), named_config()).unwrap();
    let named = |pairs: &[(&str, Vec<f32>)]| -> NamedVectors {
        pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.clone().into()))
            .collect()
    };
    shard
        .apply(
            ShardOperation::Upsert(vec![
                Point {
                    id: PointId::Num(1),
                    vectors: named(&[
                        ("image", vec![1.0, 0.0, 0.0, 0.0]),
                        ("text", vec![0.0, 0.0]),
                    ]),
                    payload: Default::default(),
                },
                // Points may omit named vectors.
                Point {
                    id: PointId::Num(2),
                    vectors: named(&[("text", vec![1.0, 1.0])]),
                    payload: Default::default(),
                },
            ]),
            true,
        )
        .unwrap();
    let mut req = search_req(vec![1.0, 0.0, 0.0, 0.0], 10);
    req.using = "image".into();
    req.with_vector = WithVector::Include(vec!["text".into()]);
    let hits = shard.search(&req).unwrap();
    assert_eq!(ids_of(&hits), vec![PointId::Num(1)]);
    assert_eq!(
        hits[0].vector,
        Some(VectorStruct::Named(named(&[("text", vec![0.0, 0.0])])))
    );

    let seq = shard
        .apply(
            ShardOperation::UpdateVectors(vec![(
                PointId::Num(2),
                named(&[("image", vec![2.0, 0.0, 0.0, 0.0])]),
            )]),
            true,
        )
        .unwrap();
    let hits = shard.search(&req).unwrap();
    assert_eq!(ids_of(&hits), vec![PointId::Num(2), PointId::Num(1)]);
    assert_eq!(hits[0].score, 2.0);
    assert_eq!(hits[0].version, seq);
    let text = shard.retrieve(
        &[PointId::Num(2)],
        &WithPayload::Enable(false),
        &WithVector::Enable(true),
    );
    assert_eq!(
        text[0].vector,
        Some(VectorStruct::Named(named(&[
            ("image", vec![2.0, 0.0, 0.0, 0.0]),
            ("text", vec![1.0, 1.0])
        ])))
    );

    let before = shard.stats();
    let err = shard
        .apply(
            ShardOperation::UpdateVectors(vec![(
                PointId::Num(42),
                named(&[("text", vec![1.0, 1.0])]),
            )]),
            true,
        )
        .unwrap_err();
    assert_eq!(err.to_string(), "Not found: No point with id 42 found");

    shard
        .apply(
            ShardOperation::DeleteVectors {
                names: vec!["image".into()],
                selection: ids(&[1, 2, 3]),
            },
            true,
        )
        .unwrap();
    assert!(shard.search(&req).unwrap().is_empty());
    assert_eq!(shard.stats().points_count, before.points_count);
    let mut text_req = search_req(vec![0.0, 0.0], 10);
    text_req.using = "text".into();
    let hits = shard.search(&text_req).unwrap();
    assert_eq!(ids_of(&hits), vec![PointId::Num(1), PointId::Num(2)]);
    assert_eq!(hits[1].score, 2.0f32.sqrt());

    let err = shard
        .apply(
            ShardOperation::DeleteVectors {
                names: vec!["audio".into()],
                selection: ids(&[1]),
            },
            true,
        )
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "Wrong input: Not existing vector name error: audio"
    );
    req.using = "audio".into();
    assert!(matches!(shard.search(&req), Err(ShardError::BadInput(_))));
}

#[test]
fn bad_input_is_rejected_and_changes_nothing() {
    let dir = TempDir::new();
    let shard = shard(&dir);
    let seq = upsert(&shard, vec![point(1, vec![1.0; 4], json!({"a": 1}))]);
    let wal_len = std::fs::metadata(dir.wal_file()).unwrap().len();
    let before = snapshot(&shard);

    // One bad point in a batch rejects the whole batch.
    let err = shard
        .apply(
            ShardOperation::Upsert(vec![
                point(2, vec![1.0; 4], json!({})),
                point(3, vec![1.0; 3], json!({})),
            ]),
            true,
        )
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "Wrong input: Vector dimension error: expected dim: 4, got 3"
    );
    assert_eq!(
        TesseraError::from(err),
        TesseraError::BadInput("Vector dimension error: expected dim: 4, got 3".into())
    );

    let unknown = Point {
        id: PointId::Num(4),
        vectors: NamedVectors::from([("nope".to_string(), vec![1.0; 4].into())]),
        payload: Default::default(),
    };
    let err = shard
        .apply(ShardOperation::Upsert(vec![unknown]), true)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "Wrong input: Not existing vector name error: nope"
    );

    let err = shard
        .apply(
            ShardOperation::Upsert(vec![point(5, vec![f32::NAN, 0.0, 0.0, 0.0], json!({}))]),
            true,
        )
        .unwrap_err();
    assert!(matches!(err, ShardError::BadInput(_)), "{err}");

    let geo = filter(
        json!({"must": [{"key": "loc", "geo_radius": {"center": {"lon": 0, "lat": 95}, "radius": 5}}]}),
    );
    let err = shard
        .apply(
            ShardOperation::Delete(PointSelection::Filter(geo.clone())),
            true,
        )
        .unwrap_err();
    assert!(err.to_string().contains("out of range"), "{err}");
    assert!(matches!(
        shard.count(Some(&geo)),
        Err(ShardError::BadInput(_))
    ));

    let err = shard
        .apply(
            ShardOperation::DeletePayload {
                keys: vec!["a..b".into()],
                selection: ids(&[1]),
            },
            true,
        )
        .unwrap_err();
    assert!(matches!(err, ShardError::BadInput(_)));

    let err = shard.search(&search_req(vec![1.0; 5], 3)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "Wrong input: Vector dimension error: expected dim: 4, got 5"
    );

    assert_eq!(snapshot(&shard), before);
    assert_eq!(std::fs::metadata(dir.wal_file()).unwrap().len(), wal_len);
    // Rejected operations consume no sequence number.
    assert_eq!(
        shard.apply(ShardOperation::Delete(ids(&[])), true).unwrap(),
        seq + 1
    );
    drop(shard);
    let reopened = Shard::open(dir.path(), config(4, Distance::Dot, 10_000)).unwrap();
    assert_eq!(snapshot(&reopened), before);
}

#[test]
fn cosine_vectors_are_stored_normalized() {
    let dir = TempDir::new();
    let shard = Shard::open(dir.path(), config(2, Distance::Cosine, 10_000)).unwrap();
    shard
        .apply(
            ShardOperation::Upsert(vec![
                point(1, vec![3.0, 4.0], json!({})),
                point(2, vec![0.0, 0.0], json!({})),
            ]),
            true,
        )
        .unwrap();
    let got = shard.retrieve(
        &[PointId::Num(1)],
        &WithPayload::Enable(false),
        &WithVector::Enable(true),
    );
    let Some(VectorStruct::Single(v)) = &got[0].vector else {
        panic!("vector missing")
    };
    assert!((v[0] - 0.6).abs() < 1e-6 && (v[1] - 0.8).abs() < 1e-6);
    let hits = shard.search(&search_req(vec![30.0, 40.0], 2)).unwrap();
    assert_eq!(hits[0].id, PointId::Num(1));
    assert!((hits[0].score - 1.0).abs() < 1e-6);
    assert_eq!(hits[1].score, 0.0);
}

#[test]
fn vectors_added_and_removed_survive_sealing_merging_and_reopening() {
    let dir = TempDir::new();
    let mut config = named_config();
    let point = |id: u64, names: &[&str]| Point {
        id: PointId::Num(id),
        vectors: names
            .iter()
            .map(|n| {
                let size = if *n == "image" { 4 } else { 2 };
                (n.to_string(), vec![id as f32; size].into())
            })
            .collect(),
        payload: Default::default(),
    };
    let names = |shard: &Shard, id: u64| -> Vec<String> {
        let records = shard.retrieve(
            &[PointId::Num(id)],
            &WithPayload::Enable(false),
            &WithVector::Enable(true),
        );
        match records[0].vector.clone() {
            Some(VectorStruct::Named(v)) => v.into_keys().collect(),
            other => panic!("named vectors expected, got {other:?}"),
        }
    };
    {
        let shard = Shard::open(dir.path(), config.clone()).unwrap();
        upsert(&shard, vec![point(1, &["image", "text"])]);
        shard.optimize().unwrap();
        config
            .params
            .add_vector(
                "extra",
                tessera_types::VectorNameConfig::Dense(tessera_types::VectorParams {
                    size: 2,
                    distance: Distance::Dot,
                    hnsw_config: None,
                    quantization_config: None,
                    on_disk: None,
                    datatype: None,
                    multivector_config: None,
                }),
            )
            .unwrap();
        config.params.remove_vector("text").unwrap();
        shard.update_config(config.clone());
        upsert(&shard, vec![point(2, &["image", "extra"])]);
        // Sealing and merging the old segment with the new one keeps both vectors.
        shard.optimize().unwrap();
        assert_eq!(names(&shard, 1), vec!["image"]);
        assert_eq!(names(&shard, 2), vec!["extra", "image"]);
        shard.flush().unwrap();
    }
    let reopened = Shard::open(dir.path(), config).unwrap();
    assert_eq!(names(&reopened, 1), vec!["image"]);
    assert_eq!(names(&reopened, 2), vec!["extra", "image"]);
}
