//! A user runs `tessera standalone` and talks to it with the Rust Qdrant
//! client over gRPC: create a collection, write points, search, read, delete,
//! then restart the server and find the data still there.

use std::collections::{BTreeSet, HashMap};

use qdrant_client::qdrant::point_id::PointIdOptions;
use qdrant_client::qdrant::vector_output::Vector;
use qdrant_client::qdrant::{
    Condition, CountPointsBuilder, CreateCollectionBuilder, DeletePointsBuilder, Distance, Filter,
    GetPointsBuilder, PointId, PointStruct, PointsIdsList, Query, QueryPointsBuilder,
    RetrievedPoint, ScoredPoint, ScrollPointsBuilder, SearchParamsBuilder, UpsertPointsBuilder,
    Value, VectorParamsBuilder,
};
use qdrant_client::{Payload, Qdrant};
use tessera_tests::data::{self, SCORE_TOLERANCE};
use tessera_tests::Standalone;

const COLLECTION: &str = "standalone_story";
const DIM: usize = 4;
const POINTS: u64 = 200;
/// Points 0..DELETED are deleted half-way through the story.
const DELETED: u64 = 10;

fn payload_of(id: u64) -> HashMap<String, Value> {
    let payload = Payload::from([
        ("group", Value::from((id % 5) as i64)),
        ("name", Value::from(format!("point-{id}"))),
        ("even", Value::from(id % 2 == 0)),
    ]);
    payload.into()
}

fn num(id: &Option<PointId>) -> u64 {
    match id.as_ref().and_then(|id| id.point_id_options.as_ref()) {
        Some(PointIdOptions::Num(n)) => *n,
        other => panic!("expected a numeric point id, got {other:?}"),
    }
}

fn hits(points: &[ScoredPoint]) -> Vec<(u64, f32)> {
    points.iter().map(|p| (num(&p.id), p.score)).collect()
}

fn client(standalone: &Standalone) -> Qdrant {
    Qdrant::from_url(&standalone.grpc_url())
        .build()
        .expect("the Qdrant client connects to the gRPC port")
}

async fn count(client: &Qdrant) -> u64 {
    client
        .count(CountPointsBuilder::new(COLLECTION).exact(true))
        .await
        .expect("count")
        .result
        .expect("count has a result")
        .count
}

/// Exact top-10 for a few seeded queries equals brute force over `points`.
async fn check_exact_search(client: &Qdrant, points: &[(u64, Vec<f32>)], context: &str) {
    let mut rng = data::rng(99);
    for q in 0..5 {
        let query = data::random_vector(&mut rng, DIM);
        let response = client
            .query(
                QueryPointsBuilder::new(COLLECTION)
                    .query(Query::new_nearest(query.clone()))
                    .limit(10)
                    .params(SearchParamsBuilder::default().exact(true)),
            )
            .await
            .expect("exact query");
        let expected = data::exact_top_k(points, &query, 10, |_| true);
        data::assert_top_k(
            &format!("{context}, query {q}"),
            points,
            &query,
            &expected,
            &hits(&response.result),
        );
    }
}

/// Every point in `points` can be read back with its payload and its vector,
/// normalized as Qdrant stores Cosine vectors.
async fn check_retrieve(client: &Qdrant, points: &[(u64, Vec<f32>)], context: &str) {
    let ids: Vec<PointId> = points.iter().map(|(id, _)| (*id).into()).collect();
    let response = client
        .get_points(
            GetPointsBuilder::new(COLLECTION, ids)
                .with_payload(true)
                .with_vectors(true),
        )
        .await
        .expect("get points");
    let found: HashMap<u64, &RetrievedPoint> =
        response.result.iter().map(|p| (num(&p.id), p)).collect();
    assert_eq!(found.len(), points.len(), "{context}: retrieved ids");
    for (id, vector) in points {
        let point = found
            .get(id)
            .unwrap_or_else(|| panic!("{context}: point {id} is missing"));
        assert_eq!(
            point.payload,
            payload_of(*id),
            "{context}: payload of point {id}"
        );
        let stored = match point.vectors.as_ref().and_then(|v| v.get_vector()) {
            Some(Vector::Dense(dense)) => dense.data,
            other => panic!("{context}: point {id} has no dense vector: {other:?}"),
        };
        let want = data::normalized(vector);
        assert!(
            stored.len() == DIM
                && stored
                    .iter()
                    .zip(&want)
                    .all(|(a, b)| (a - b).abs() <= SCORE_TOLERANCE),
            "{context}: point {id} vector {stored:?}, want {want:?} (normalized)"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standalone_story_over_grpc_survives_a_restart() {
    let mut standalone = Standalone::start().await;
    let client = client(&standalone);

    client
        .create_collection(
            CreateCollectionBuilder::new(COLLECTION)
                .vectors_config(VectorParamsBuilder::new(DIM as u64, Distance::Cosine)),
        )
        .await
        .expect("create collection");

    let points = data::random_points(7, POINTS, DIM);
    let structs: Vec<PointStruct> = points
        .iter()
        .map(|(id, v)| PointStruct::new(*id, v.clone(), payload_of(*id)))
        .collect();
    client
        .upsert_points(UpsertPointsBuilder::new(COLLECTION, structs).wait(true))
        .await
        .expect("upsert 200 points");
    assert_eq!(count(&client).await, POINTS, "count after upsert");

    check_exact_search(&client, &points, "after upsert").await;

    // A filtered query: only group 3 may appear, and it is the exact top-10
    // of that group.
    let query = data::random_vector(&mut data::rng(5), DIM);
    let response = client
        .query(
            QueryPointsBuilder::new(COLLECTION)
                .query(Query::new_nearest(query.clone()))
                .filter(Filter::must([Condition::matches("group", 3i64)]))
                .limit(10)
                .with_payload(true)
                .params(SearchParamsBuilder::default().exact(true)),
        )
        .await
        .expect("filtered query");
    for point in &response.result {
        let id = num(&point.id);
        assert_eq!(
            id % 5,
            3,
            "filtered query returned point {id} outside group 3"
        );
        assert_eq!(point.payload, payload_of(id), "payload of hit {id}");
    }
    let expected = data::exact_top_k(&points, &query, 10, |id| id % 5 == 3);
    data::assert_top_k(
        "filtered query",
        &points,
        &query,
        &expected,
        &hits(&response.result),
    );

    check_retrieve(&client, &points, "before delete").await;
    let missing = client
        .get_points(GetPointsBuilder::new(
            COLLECTION,
            vec![PointId::from(10_000u64)],
        ))
        .await
        .expect("get a missing point");
    assert!(
        missing.result.is_empty(),
        "a never-written id was found: {missing:?}"
    );

    let deleted: Vec<PointId> = (0..DELETED).map(PointId::from).collect();
    client
        .delete_points(
            DeletePointsBuilder::new(COLLECTION)
                .points(PointsIdsList {
                    ids: deleted.clone(),
                })
                .wait(true),
        )
        .await
        .expect("delete points");
    assert_eq!(count(&client).await, POINTS - DELETED, "count after delete");
    let gone = client
        .get_points(GetPointsBuilder::new(COLLECTION, deleted))
        .await
        .expect("get deleted points");
    assert!(
        gone.result.is_empty(),
        "deleted points still readable: {gone:?}"
    );
    let remaining: Vec<(u64, Vec<f32>)> = points[DELETED as usize..].to_vec();
    check_exact_search(&client, &remaining, "after delete").await;

    // Restart on the same data dir; a graceful stop must exit 0.
    standalone.stop().await;
    standalone.restart().await;
    let client = self::client(&standalone);

    assert_eq!(
        count(&client).await,
        POINTS - DELETED,
        "count after restart"
    );
    check_retrieve(&client, &remaining, "after restart").await;
    check_exact_search(&client, &remaining, "after restart").await;

    // Scrolling lists each surviving id once, and none of the deleted ones.
    let scrolled = client
        .scroll(ScrollPointsBuilder::new(COLLECTION).limit(POINTS as u32))
        .await
        .expect("scroll");
    let ids: Vec<u64> = scrolled.result.iter().map(|p| num(&p.id)).collect();
    let unique: BTreeSet<u64> = ids.iter().copied().collect();
    assert_eq!(ids.len(), unique.len(), "scroll repeated ids: {ids:?}");
    assert_eq!(
        unique,
        (DELETED..POINTS).collect::<BTreeSet<u64>>(),
        "scroll after restart"
    );

    standalone.stop().await;
}
