//! An operator sets `service.api_key` and `service.read_only_api_key`, as in
//! Qdrant: over REST and gRPC, the read-write key may do everything, the
//! read-only key may read but gets 403 / PERMISSION_DENIED on every write and
//! admin call, and no key or a wrong one gets 401 / UNAUTHENTICATED, in
//! Qdrant's error shape, changing nothing. Health probes stay open.

use qdrant_client::qdrant::{
    CreateCollectionBuilder, Distance, PointStruct, QueryPointsBuilder, UpsertPointsBuilder,
    VectorParamsBuilder,
};
use qdrant_client::Qdrant;
use reqwest::{Method, StatusCode};
use serde_json::json;
use tessera_tests::{Rest, Standalone};

const READ_WRITE: &str = "read-write-secret";
const READ_ONLY: &str = "read-only-secret";
const COLLECTION: &str = "guarded";

fn grpc(standalone: &Standalone, key: Option<&str>) -> Qdrant {
    let mut builder = Qdrant::from_url(&standalone.grpc_url());
    if let Some(key) = key {
        builder = builder.api_key(key);
    }
    builder.build().expect("a gRPC client")
}

async fn status(
    rest: &Rest,
    method: Method,
    path: &str,
    body: Option<serde_json::Value>,
) -> StatusCode {
    let reply = rest
        .send(method.clone(), path, body.as_ref())
        .await
        .unwrap();
    if !reply.status.is_success() {
        // Refusals come in Qdrant's error envelope.
        reply.expect_error(reply.status);
    }
    reply.status
}

#[tokio::test]
async fn keys_open_reads_and_writes_as_configured_over_rest_and_grpc() {
    let standalone = Standalone::start_with(&[
        ("SERVICE__API_KEY", READ_WRITE),
        ("SERVICE__READ_ONLY_API_KEY", READ_ONLY),
    ])
    .await;
    let read_write = standalone.rest();
    let read_only = read_write.with_api_key(Some(READ_ONLY));
    let anonymous = read_write.with_api_key(None);
    let wrong = read_write.with_api_key(Some("guess"));

    let create = json!({ "vectors": { "size": 2, "distance": "Dot" } });
    let upsert =
        json!({ "points": [{ "id": 1, "vector": [1.0, 0.0] }, { "id": 2, "vector": [0.0, 1.0] }] });
    let query = json!({ "query": [1.0, 0.0], "limit": 2 });
    let collection = format!("/collections/{COLLECTION}");
    let points = format!("{collection}/points?wait=true");
    let search = format!("{collection}/points/query");

    // No key, or a wrong one: 401 on reads and writes alike; probes answer.
    for client in [&anonymous, &wrong] {
        assert_eq!(
            status(client, Method::GET, "/collections", None).await,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            status(client, Method::PUT, &collection, Some(create.clone())).await,
            StatusCode::UNAUTHORIZED
        );
    }
    for probe in ["/livez", "/readyz", "/healthz"] {
        assert_eq!(
            status(&anonymous, Method::GET, probe, None).await,
            StatusCode::OK,
            "{probe}"
        );
    }

    // The read-only key cannot create; the read-write key can, also as a bearer token.
    assert_eq!(
        status(&read_only, Method::PUT, &collection, Some(create.clone())).await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        status(&read_write, Method::PUT, &collection, Some(create)).await,
        StatusCode::OK
    );
    let bearer = reqwest::Client::new()
        .put(format!("{}{points}", standalone.http_url()))
        .bearer_auth(READ_WRITE)
        .json(&upsert)
        .send()
        .await
        .unwrap();
    assert_eq!(bearer.status(), StatusCode::OK);

    // The read-only key reads, and every write it tries changes nothing.
    assert_eq!(
        status(&read_only, Method::POST, &search, Some(query.clone())).await,
        StatusCode::OK
    );
    assert_eq!(
        status(&read_only, Method::GET, &collection, None).await,
        StatusCode::OK
    );
    let writes = [
        (
            Method::PUT,
            points.clone(),
            Some(json!({ "points": [{ "id": 3, "vector": [1.0, 1.0] }] })),
        ),
        (
            Method::POST,
            format!("{collection}/points/delete"),
            Some(json!({ "points": [1] })),
        ),
        (Method::DELETE, collection.clone(), None),
        (
            Method::POST,
            "/collections/aliases".to_string(),
            Some(json!({ "actions": [] })),
        ),
    ];
    for (method, path, body) in writes {
        assert_eq!(
            status(&read_only, method.clone(), &path, body).await,
            StatusCode::FORBIDDEN,
            "{method} {path}"
        );
    }
    assert_eq!(read_write.count(COLLECTION).await, 2);

    // gRPC: the same rules, as status codes.
    let unauthenticated = grpc(&standalone, None)
        .collection_info(COLLECTION)
        .await
        .unwrap_err();
    assert!(
        format!("{unauthenticated:?}").contains("Unauthenticated"),
        "{unauthenticated:?}"
    );
    let reader = grpc(&standalone, Some(READ_ONLY));
    let hits = reader
        .query(
            QueryPointsBuilder::new(COLLECTION)
                .query(vec![1.0, 0.0])
                .limit(2),
        )
        .await
        .expect("a read-only query");
    assert_eq!(hits.result.len(), 2);
    let denied = reader
        .upsert_points(UpsertPointsBuilder::new(
            COLLECTION,
            vec![PointStruct::new(
                9,
                vec![1.0, 1.0],
                qdrant_client::Payload::new(),
            )],
        ))
        .await
        .unwrap_err();
    assert!(
        format!("{denied:?}").contains("PermissionDenied"),
        "{denied:?}"
    );
    let denied = reader
        .create_collection(
            CreateCollectionBuilder::new("other")
                .vectors_config(VectorParamsBuilder::new(2, Distance::Dot)),
        )
        .await
        .unwrap_err();
    assert!(
        format!("{denied:?}").contains("PermissionDenied"),
        "{denied:?}"
    );
    grpc(&standalone, Some(READ_WRITE))
        .upsert_points(
            UpsertPointsBuilder::new(
                COLLECTION,
                vec![PointStruct::new(
                    3,
                    vec![1.0, 1.0],
                    qdrant_client::Payload::new(),
                )],
            )
            .wait(true),
        )
        .await
        .expect("a read-write upsert");
    assert_eq!(read_write.count(COLLECTION).await, 3);
}
