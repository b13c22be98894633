use serde_json::json;
use tessera_proto::convert::error_to_status;

use super::collections::sparse_config_to_proto;
use super::quantization::{quantization_from_proto, quantization_to_proto};
use super::vectors::vectors_from_proto;
use super::*;
use crate::service::{NaiveFeedback, RelevanceFeedback};

fn num_id(n: u64) -> q::PointId {
    q::PointId {
        point_id_options: Some(q::point_id::PointIdOptions::Num(n)),
    }
}

fn uuid_id(s: &str) -> q::PointId {
    q::PointId {
        point_id_options: Some(q::point_id::PointIdOptions::Uuid(s.to_string())),
    }
}

fn field(key: &str, m: q::r#match::MatchValue) -> q::Condition {
    q::Condition {
        condition_one_of: Some(q::condition::ConditionOneOf::Field(q::FieldCondition {
            key: key.to_string(),
            r#match: Some(q::Match {
                match_value: Some(m),
            }),
            ..Default::default()
        })),
    }
}

fn condition(c: q::condition::ConditionOneOf) -> q::Condition {
    q::Condition {
        condition_one_of: Some(c),
    }
}

fn dense_vector(data: Vec<f32>) -> q::Vector {
    q::Vector {
        vector: Some(q::vector::Vector::Dense(q::DenseVector { data })),
        ..Default::default()
    }
}

fn is_bad_input<T: std::fmt::Debug>(r: Result<T>) -> bool {
    matches!(r, Err(TesseraError::BadInput(_)))
}

// ---- point ids ------------------------------------------------------------

#[test]
fn point_ids_round_trip() {
    let uuid = "550e8400-e29b-41d4-a716-446655440000";
    for proto in [num_id(0), num_id(u64::MAX), uuid_id(uuid)] {
        let id = point_id_from_proto(proto.clone()).unwrap();
        assert_eq!(point_id_to_proto(id), proto);
    }
    assert_eq!(
        point_id_from_proto(uuid_id(uuid)).unwrap(),
        t::PointId::Uuid(uuid.parse().unwrap())
    );
}

#[test]
fn a_uuid_id_must_be_a_uuid() {
    // A numeric string is not a UUID, even though REST would take it as a number.
    assert!(is_bad_input(point_id_from_proto(uuid_id("42"))));
    assert!(is_bad_input(point_id_from_proto(uuid_id("not-a-uuid"))));
    assert!(is_bad_input(point_id_from_proto(q::PointId::default())));
}

// ---- payload values ---------------------------------------------------------

fn int(i: i64) -> q::Value {
    q::Value {
        kind: Some(q::value::Kind::IntegerValue(i)),
    }
}

fn double(d: f64) -> q::Value {
    q::Value {
        kind: Some(q::value::Kind::DoubleValue(d)),
    }
}

#[test]
fn payload_keeps_integers_and_doubles_apart() {
    let proto = HashMap::from([
        ("int".to_string(), int(1)),
        ("double".to_string(), double(1.0)),
        ("negative".to_string(), int(-7)),
    ]);
    let payload = payload_from_proto(proto.clone()).unwrap();
    // What the data plane stores: 1 and 1.0 stay distinct in JSON too.
    assert_eq!(
        serde_json::to_string(&payload["int"]).unwrap(),
        "1",
        "integer became {:?}",
        payload["int"]
    );
    assert_eq!(serde_json::to_string(&payload["double"]).unwrap(), "1.0");
    assert_eq!(payload_to_proto(payload), proto);
}

#[test]
fn nested_payload_round_trips() {
    let payload = json!({
        "city": "London",
        "open": true,
        "nothing": null,
        "tags": ["a", 1, 2.5, {"deep": [false]}],
        "address": {"street": "Baker", "number": 221, "lat": 51.52},
    });
    let payload = payload.as_object().unwrap().clone();
    let proto = payload_to_proto(payload.clone());
    assert_eq!(
        proto["address"],
        q::Value {
            kind: Some(q::value::Kind::StructValue(q::Struct {
                fields: HashMap::from([
                    (
                        "street".to_string(),
                        q::Value {
                            kind: Some(q::value::Kind::StringValue("Baker".into()))
                        }
                    ),
                    ("number".to_string(), int(221)),
                    ("lat".to_string(), double(51.52)),
                ])
            }))
        }
    );
    assert_eq!(payload_from_proto(proto).unwrap(), payload);
}

#[test]
fn numbers_beyond_i64_become_doubles_and_nan_is_rejected() {
    let big = value_to_proto(json!(u64::MAX));
    assert_eq!(big, double(u64::MAX as f64));
    assert!(is_bad_input(value_from_proto(double(f64::NAN))));
    assert_eq!(value_from_proto(q::Value::default()).unwrap(), Json::Null);
}

// ---- vectors -----------------------------------------------------------------

#[test]
fn single_vector_from_either_encoding() {
    let current = q::Vectors {
        vectors_options: Some(q::vectors::VectorsOptions::Vector(dense_vector(vec![
            1.0, 2.0,
        ]))),
    };
    let legacy = q::Vectors {
        vectors_options: Some(q::vectors::VectorsOptions::Vector(q::Vector {
            data: vec![1.0, 2.0],
            ..Default::default()
        })),
    };
    for vectors in [current, legacy] {
        assert_eq!(
            vectors_from_proto(vectors, Unnamed::Point).unwrap(),
            t::VectorStruct::Single(vec![1.0, 2.0])
        );
    }
}

#[test]
fn named_vectors_from_proto() {
    let vectors = q::Vectors {
        vectors_options: Some(q::vectors::VectorsOptions::Vectors(q::NamedVectors {
            vectors: HashMap::from([
                ("image".to_string(), dense_vector(vec![0.5])),
                ("text".to_string(), dense_vector(vec![0.25, 0.75])),
            ]),
        })),
    };
    assert_eq!(
        vectors_from_proto(vectors, Unnamed::Point).unwrap(),
        t::VectorStruct::Named(BTreeMap::from([
            ("image".to_string(), vec![0.5].into()),
            ("text".to_string(), vec![0.25, 0.75].into()),
        ]))
    );
}

#[test]
fn sparse_and_multi_vectors_read_from_both_encodings() {
    let sparse = q::Vector {
        vector: Some(q::vector::Vector::Sparse(q::SparseVector {
            values: vec![1.0],
            indices: vec![3],
        })),
        ..Default::default()
    };
    #[allow(deprecated)]
    let legacy_sparse = q::Vector {
        data: vec![1.0],
        indices: Some(q::SparseIndices { data: vec![3] }),
        ..Default::default()
    };
    let want = t::Vector::Sparse(t::SparseVector {
        indices: vec![3],
        values: vec![1.0],
    });
    for v in [sparse, legacy_sparse] {
        let vectors = q::Vectors {
            vectors_options: Some(q::vectors::VectorsOptions::Vectors(q::NamedVectors {
                vectors: HashMap::from([("words".to_string(), v)]),
            })),
        };
        let named = vectors_from_proto(vectors, Unnamed::Point)
            .unwrap()
            .into_named();
        assert_eq!(named["words"], want);
    }
    #[allow(deprecated)]
    let legacy_multi = q::Vector {
        data: vec![1.0, 2.0, 3.0, 4.0],
        vectors_count: Some(2),
        ..Default::default()
    };
    let multi = q::Vector {
        vector: Some(q::vector::Vector::MultiDense(q::MultiDenseVector {
            vectors: vec![
                q::DenseVector {
                    data: vec![1.0, 2.0],
                },
                q::DenseVector {
                    data: vec![3.0, 4.0],
                },
            ],
        })),
        ..Default::default()
    };
    for v in [legacy_multi, multi] {
        let vectors = q::Vectors {
            vectors_options: Some(q::vectors::VectorsOptions::Vectors(q::NamedVectors {
                vectors: HashMap::from([("tokens".to_string(), v)]),
            })),
        };
        let named = vectors_from_proto(vectors, Unnamed::Point)
            .unwrap()
            .into_named();
        assert_eq!(
            named["tokens"],
            t::Vector::Multi(vec![vec![1.0, 2.0], vec![3.0, 4.0]])
        );
    }
}

#[test]
fn output_vectors_read_back_with_qdrant_clients_own_accessors() {
    let single = vectors_to_proto(t::VectorStruct::Single(vec![1.0, 2.0, 3.0]));
    match single.get_vector() {
        Some(q::vector_output::Vector::Dense(d)) => assert_eq!(d.data, vec![1.0, 2.0, 3.0]),
        other => panic!("expected a dense vector, got {other:?}"),
    }

    let named = vectors_to_proto(t::VectorStruct::Named(BTreeMap::from([
        ("a".to_string(), vec![1.0].into()),
        ("b".to_string(), vec![2.0, 3.0].into()),
    ])));
    assert!(named.get_vector().is_none());
    match named.get_vector_by_name("b") {
        Some(q::vector_output::Vector::Dense(d)) => assert_eq!(d.data, vec![2.0, 3.0]),
        other => panic!("expected a dense vector, got {other:?}"),
    }
}

#[test]
fn upserted_point_keeps_id_vectors_and_payload() {
    let point = point_from_proto(q::PointStruct {
        id: Some(num_id(7)),
        payload: HashMap::from([("n".to_string(), int(3))]),
        vectors: Some(q::Vectors {
            vectors_options: Some(q::vectors::VectorsOptions::Vector(dense_vector(vec![0.1]))),
        }),
    })
    .unwrap();
    assert_eq!(point.id, t::PointId::Num(7));
    assert_eq!(
        point.vectors,
        BTreeMap::from([(String::new(), vec![0.1].into())])
    );
    assert_eq!(Json::Object(point.payload), json!({"n": 3}));
    assert!(is_bad_input(point_from_proto(q::PointStruct::default())));
}

#[test]
fn scored_point_to_proto_carries_everything() {
    let point = scored_point_to_proto(t::ScoredPoint {
        id: t::PointId::Num(3),
        version: 9,
        score: 0.5,
        payload: Some(json!({"a": 1}).as_object().unwrap().clone()),
        vector: Some(t::VectorStruct::Single(vec![1.0])),
        shard_key: None,
        order_value: None,
    });
    assert_eq!(point.id, Some(num_id(3)));
    assert_eq!(point.version, 9);
    assert_eq!(point.score, 0.5);
    assert_eq!(point.payload["a"], int(1));
    assert!(point.vectors.is_some());
}

// ---- filters -------------------------------------------------------------------

#[test]
fn filter_converts_to_the_rest_shape_the_data_plane_parses() {
    use q::condition::ConditionOneOf as C;
    use q::r#match::MatchValue as M;
    let uuid = "550e8400-e29b-41d4-a716-446655440000";
    let proto = q::Filter {
        must: vec![
            field("city", M::Keyword("London".into())),
            field("count", M::Integer(3)),
            field("open", M::Boolean(true)),
            field("body", M::Text("hello".into())),
            field(
                "tags",
                M::Keywords(q::RepeatedStrings {
                    strings: vec!["a".into(), "b".into()],
                }),
            ),
            field(
                "ids",
                M::Integers(q::RepeatedIntegers {
                    integers: vec![1, 2],
                }),
            ),
            condition(C::Field(q::FieldCondition {
                key: "price".into(),
                range: Some(q::Range {
                    gte: Some(1.0),
                    lt: Some(5.5),
                    ..Default::default()
                }),
                ..Default::default()
            })),
            condition(C::HasId(q::HasIdCondition {
                has_id: vec![num_id(1), uuid_id(uuid)],
            })),
            condition(C::Nested(q::NestedCondition {
                key: "items".into(),
                filter: Some(q::Filter {
                    must: vec![field("x", M::Integer(1))],
                    ..Default::default()
                }),
            })),
            condition(C::HasVector(q::HasVectorCondition {
                has_vector: "image".into(),
            })),
        ],
        should: vec![
            condition(C::IsEmpty(q::IsEmptyCondition { key: "e".into() })),
            condition(C::IsNull(q::IsNullCondition { key: "z".into() })),
        ],
        must_not: vec![
            field(
                "c",
                M::ExceptKeywords(q::RepeatedStrings {
                    strings: vec!["a".into()],
                }),
            ),
            field(
                "d",
                M::ExceptIntegers(q::RepeatedIntegers { integers: vec![4] }),
            ),
            condition(C::Filter(q::Filter {
                must: vec![condition(C::Field(q::FieldCondition {
                    key: "n".into(),
                    values_count: Some(q::ValuesCount {
                        gt: Some(2),
                        ..Default::default()
                    }),
                    ..Default::default()
                }))],
                ..Default::default()
            })),
        ],
        min_should: Some(q::MinShould {
            conditions: vec![field("m", M::Keyword("k".into()))],
            min_count: 1,
        }),
    };
    let filter = filter_from_proto(proto).unwrap();
    let expected = json!({
        "must": [
            {"key": "city", "match": {"value": "London"}},
            {"key": "count", "match": {"value": 3}},
            {"key": "open", "match": {"value": true}},
            {"key": "body", "match": {"text": "hello"}},
            {"key": "tags", "match": {"any": ["a", "b"]}},
            {"key": "ids", "match": {"any": [1, 2]}},
            {"key": "price", "range": {"gte": 1.0, "lt": 5.5}},
            {"has_id": [1, uuid]},
            {"nested": {"key": "items", "filter": {"must": [{"key": "x", "match": {"value": 1}}]}}},
            {"has_vector": "image"},
        ],
        "should": [
            {"is_empty": {"key": "e"}},
            {"is_null": {"key": "z"}},
        ],
        "must_not": [
            {"key": "c", "match": {"except": ["a"]}},
            {"key": "d", "match": {"except": [4]}},
            {"must": [{"key": "n", "values_count": {"gt": 2}}]},
        ],
        "min_should": {"conditions": [{"key": "m", "match": {"value": "k"}}], "min_count": 1},
    });
    assert_eq!(serde_json::to_value(&filter).unwrap(), expected);
    let parsed: t::Filter = serde_json::from_value(expected).unwrap();
    assert_eq!(parsed, filter);
}

#[test]
fn geo_conditions_are_kept_for_the_data_plane_to_judge() {
    let proto = q::Filter {
        must: vec![condition(q::condition::ConditionOneOf::Field(
            q::FieldCondition {
                key: "location".into(),
                geo_radius: Some(q::GeoRadius {
                    center: Some(q::GeoPoint {
                        lon: 13.4,
                        lat: 52.5,
                    }),
                    radius: 1000.0,
                }),
                ..Default::default()
            },
        ))],
        ..Default::default()
    };
    let filter = filter_from_proto(proto).unwrap();
    assert_eq!(
        serde_json::to_value(&filter).unwrap(),
        json!({"must": [{"key": "location", "geo_radius": {"center": {"lon": 13.4, "lat": 52.5}, "radius": 1000.0}}]})
    );
}

#[test]
fn slice_prefix_and_substring_conditions_and_their_refusals() {
    use q::condition::ConditionOneOf as C;
    let filter_of = |c: q::Condition| q::Filter {
        must: vec![c],
        ..Default::default()
    };
    let slice = |total, index| {
        filter_from_proto(filter_of(condition(C::Slice(q::SliceCondition {
            total,
            index,
        }))))
    };
    assert_eq!(
        serde_json::to_value(slice(2, 1).unwrap()).unwrap(),
        json!({"must": [{"slice": {"total": 2, "index": 1}}]})
    );
    let refusal = |r: Result<t::Filter>| match r {
        Err(TesseraError::BadInput(message)) => message,
        other => panic!("expected a refusal, got {other:?}"),
    };
    assert_eq!(refusal(slice(0, 0)), "Slice total must be greater than 0");
    assert_eq!(refusal(slice(3, 3)), t::SLICE_INDEX_OUT_OF_RANGE);
    for (proto, json) in [
        (
            q::r#match::MatchValue::Prefix("a".into()),
            json!({"prefix": "a"}),
        ),
        (
            q::r#match::MatchValue::Substring("b".into()),
            json!({"substring": "b"}),
        ),
    ] {
        let filter = filter_from_proto(filter_of(field("k", proto))).unwrap();
        assert_eq!(
            serde_json::to_value(&filter).unwrap(),
            json!({"must": [{"key": "k", "match": json}]})
        );
    }
    // A datetime range travels as RFC 3339 text.
    let when = filter_from_proto(filter_of(condition(C::Field(q::FieldCondition {
        key: "when".into(),
        datetime_range: Some(q::DatetimeRange {
            gte: Some(prost_types::Timestamp {
                seconds: 1_709_210_096,
                nanos: 500_000_000,
            }),
            ..Default::default()
        }),
        ..Default::default()
    }))))
    .unwrap();
    assert_eq!(
        serde_json::to_value(&when).unwrap(),
        json!({"must": [{"key": "when", "range": {"gte": "2024-02-29T12:34:56.500000000Z"}}]})
    );
    assert!(is_bad_input(filter_from_proto(filter_of(condition(
        C::Field(q::FieldCondition {
            key: "k".into(),
            ..Default::default()
        })
    )))));
    assert!(is_bad_input(filter_from_proto(filter_of(condition(
        C::Nested(q::NestedCondition {
            key: "k".into(),
            filter: None
        })
    )))));
    assert!(is_bad_input(filter_from_proto(filter_of(
        q::Condition::default()
    ))));
}

#[test]
fn points_selector_by_ids_or_filter() {
    let by_ids = q::PointsSelector {
        points_selector_one_of: Some(q::points_selector::PointsSelectorOneOf::Points(
            q::PointsIdsList {
                ids: vec![num_id(1), num_id(2)],
            },
        )),
    };
    assert_eq!(
        points_selector_from_proto(Some(by_ids)).unwrap(),
        t::PointSelection::Ids(vec![t::PointId::Num(1), t::PointId::Num(2)])
    );
    let by_filter = q::PointsSelector {
        points_selector_one_of: Some(q::points_selector::PointsSelectorOneOf::Filter(
            q::Filter::default(),
        )),
    };
    assert_eq!(
        points_selector_from_proto(Some(by_filter)).unwrap(),
        t::PointSelection::Filter(t::Filter::default())
    );
    assert!(is_bad_input(points_selector_from_proto(None)));
}

// ---- selectors, reads and writes -------------------------------------------------

#[test]
fn with_payload_and_with_vector_selectors() {
    use q::with_payload_selector::SelectorOptions as P;
    let payload = |o: P| {
        Some(q::WithPayloadSelector {
            selector_options: Some(o),
        })
    };
    assert_eq!(
        with_payload_from_proto(None, true).unwrap(),
        t::WithPayload::Enable(true)
    );
    assert_eq!(
        with_payload_from_proto(None, false).unwrap(),
        t::WithPayload::Enable(false)
    );
    assert_eq!(
        with_payload_from_proto(payload(P::Enable(true)), false).unwrap(),
        t::WithPayload::Enable(true)
    );
    assert_eq!(
        with_payload_from_proto(
            payload(P::Exclude(q::PayloadExcludeSelector {
                fields: vec!["secret".into()]
            })),
            true
        )
        .unwrap(),
        t::WithPayload::Selector(t::PayloadSelector::Exclude {
            exclude: vec!["secret".into()]
        })
    );
    assert_eq!(
        with_payload_from_proto(
            payload(P::Include(q::PayloadIncludeSelector {
                fields: vec!["a".into()]
            })),
            false
        )
        .unwrap(),
        t::WithPayload::Selector(t::PayloadSelector::Include {
            include: vec!["a".into()]
        })
    );
    assert_eq!(with_vector_from_proto(None), t::WithVector::Enable(false));
    assert_eq!(
        with_vector_from_proto(Some(q::WithVectorsSelector {
            selector_options: Some(q::with_vectors_selector::SelectorOptions::Include(
                q::VectorsSelector {
                    names: vec!["image".into()]
                }
            )),
        })),
        t::WithVector::Include(vec!["image".into()])
    );
}

#[test]
fn search_request_fields() {
    let request = search_from_proto(q::SearchPoints {
        collection_name: "c".into(),
        vector: vec![1.0, 0.0],
        limit: 5,
        offset: Some(2),
        vector_name: Some("image".into()),
        score_threshold: Some(0.3),
        params: Some(q::SearchParams {
            hnsw_ef: Some(64),
            exact: Some(true),
            ..Default::default()
        }),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(request.vector, vec![1.0, 0.0].into());
    assert_eq!(request.using, "image");
    assert_eq!((request.limit, request.offset), (5, 2));
    assert_eq!(request.score_threshold, Some(0.3));
    assert_eq!(request.params.hnsw_ef, Some(64));
    assert!(request.params.exact);
    assert_eq!(request.with_payload, t::WithPayload::Enable(false));
}

#[test]
fn query_defaults_and_variants() {
    let no_query = query_from_proto(q::QueryPoints::default()).unwrap();
    assert_eq!(no_query.query, None);
    assert_eq!(no_query.limit, 10);
    assert_eq!(no_query.offset, 0);
    assert_eq!(no_query.with_payload, t::WithPayload::Enable(false));

    let nearest = |variant: q::vector_input::Variant| q::QueryPoints {
        query: Some(q::Query {
            variant: Some(q::query::Variant::Nearest(q::VectorInput {
                variant: Some(variant),
            })),
        }),
        using: Some("text".into()),
        limit: Some(3),
        ..Default::default()
    };
    let dense = query_from_proto(nearest(q::vector_input::Variant::Dense(q::DenseVector {
        data: vec![0.5, 0.5],
    })))
    .unwrap();
    assert_eq!(dense.query, Some(Query::Nearest(vec![0.5, 0.5].into())));
    assert_eq!((dense.using.as_str(), dense.limit), ("text", 3));
    let by_id = query_from_proto(nearest(q::vector_input::Variant::Id(num_id(4)))).unwrap();
    assert_eq!(by_id.query, Some(Query::NearestToPoint(t::PointId::Num(4))));

    let fusion = q::QueryPoints {
        query: Some(q::Query {
            variant: Some(q::query::Variant::Fusion(q::Fusion::Rrf as i32)),
        }),
        ..Default::default()
    };
    let prefetch = q::QueryPoints {
        prefetch: vec![q::PrefetchQuery {
            query: nearest(q::vector_input::Variant::Dense(q::DenseVector {
                data: vec![1.0, 0.0],
            }))
            .query,
            limit: Some(20),
            ..Default::default()
        }],
        ..fusion
    };
    let fused = query_from_proto(prefetch).unwrap();
    assert_eq!(
        fused.query,
        Some(Query::Fusion(crate::service::Fusion::Rrf {
            k: crate::service::DEFAULT_RRF_K,
            weights: None
        }))
    );
    assert_eq!(fused.prefetch.len(), 1);
    assert_eq!(fused.prefetch[0].limit, 20);
    let empty_formula = q::QueryPoints {
        query: Some(q::Query {
            variant: Some(q::query::Variant::Formula(q::Formula::default())),
        }),
        ..Default::default()
    };
    assert!(is_bad_input(query_from_proto(empty_formula)));
    let feedback = |input: q::RelevanceFeedbackInput| {
        query_from_proto(q::QueryPoints {
            query: Some(q::Query {
                variant: Some(q::query::Variant::RelevanceFeedback(input)),
            }),
            ..Default::default()
        })
    };
    let dense = |data: Vec<f32>| q::VectorInput {
        variant: Some(q::vector_input::Variant::Dense(q::DenseVector { data })),
    };
    let naive = |b| q::FeedbackStrategy {
        variant: Some(q::feedback_strategy::Variant::Naive(
            q::NaiveFeedbackStrategy { a: 1.0, b, c: 2.0 },
        )),
    };
    let input = q::RelevanceFeedbackInput {
        target: Some(dense(vec![1.0, 0.0])),
        feedback: vec![q::FeedbackItem {
            example: Some(q::VectorInput {
                variant: Some(q::vector_input::Variant::Id(num_id(7))),
            }),
            score: 0.5,
        }],
        strategy: Some(naive(1.5)),
    };
    assert_eq!(
        feedback(input.clone()).unwrap().query,
        Some(Query::RelevanceFeedback(RelevanceFeedback {
            target: VectorInput::Vector(t::Vector::Dense(vec![1.0, 0.0])),
            feedback: vec![(VectorInput::Point(t::PointId::Num(7)), 0.5)],
            strategy: NaiveFeedback {
                a: 1.0,
                b: 1.5,
                c: 2.0
            },
        }))
    );
    assert!(is_bad_input(feedback(q::RelevanceFeedbackInput {
        target: None,
        ..input.clone()
    })));
    assert!(is_bad_input(feedback(q::RelevanceFeedbackInput {
        strategy: None,
        ..input.clone()
    })));
    assert!(matches!(
        feedback(q::RelevanceFeedbackInput {
            strategy: Some(naive(-1.0)),
            ..input
        }),
        Err(TesseraError::Validation(_))
    ));
}

#[test]
fn scroll_defaults() {
    let scroll = scroll_from_proto(q::ScrollPoints {
        offset: Some(num_id(5)),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(scroll.limit, 10);
    assert_eq!(scroll.offset, Some(t::PointId::Num(5)));
    assert_eq!(scroll.with_payload, t::WithPayload::Enable(true));
    assert_eq!(scroll.with_vector, t::WithVector::Enable(false));
}

#[test]
fn write_ordering_and_update_result() {
    let ordering = |r#type: i32| Some(q::WriteOrdering { r#type });
    assert_eq!(ordering_from_proto(None).unwrap(), WriteOrdering::Weak);
    assert_eq!(
        ordering_from_proto(ordering(q::WriteOrderingType::Medium as i32)).unwrap(),
        WriteOrdering::Medium
    );
    assert_eq!(
        ordering_from_proto(ordering(q::WriteOrderingType::Strong as i32)).unwrap(),
        WriteOrdering::Strong
    );
    assert!(is_bad_input(ordering_from_proto(ordering(42))));

    let result = update_result_to_proto(t::UpdateResult {
        operation_id: Some(12),
        status: t::UpdateStatus::Completed,
    });
    assert_eq!(result.operation_id, Some(12));
    assert_eq!(result.status, q::UpdateStatus::Completed as i32);
    let result = update_result_to_proto(t::UpdateResult {
        operation_id: None,
        status: t::UpdateStatus::Acknowledged,
    });
    assert_eq!(result.status, q::UpdateStatus::Acknowledged as i32);
}

// ---- collections -----------------------------------------------------------------

fn vector_params(size: u64, distance: q::Distance) -> q::VectorParams {
    q::VectorParams {
        size,
        distance: distance as i32,
        ..Default::default()
    }
}

fn create_request(config: q::vectors_config::Config) -> q::CreateCollection {
    q::CreateCollection {
        collection_name: "c".into(),
        vectors_config: Some(q::VectorsConfig {
            config: Some(config),
        }),
        ..Default::default()
    }
}

#[test]
fn create_collection_single_vector_with_settings() {
    let mut request = create_request(q::vectors_config::Config::Params(q::VectorParams {
        hnsw_config: Some(q::HnswConfigDiff {
            m: Some(32),
            ..Default::default()
        }),
        on_disk: Some(true),
        ..vector_params(4, q::Distance::Dot)
    }));
    request.shard_number = Some(3);
    request.replication_factor = Some(2);
    request.write_consistency_factor = Some(2);
    request.on_disk_payload = Some(false);
    request.hnsw_config = Some(q::HnswConfigDiff {
        ef_construct: Some(200),
        ..Default::default()
    });
    request.wal_config = Some(q::WalConfigDiff {
        wal_capacity_mb: Some(64),
        ..Default::default()
    });
    request.optimizers_config = Some(q::OptimizersConfigDiff {
        indexing_threshold: Some(0),
        ..Default::default()
    });
    let create = create_collection_from_proto(request).unwrap();
    assert_eq!(create.wal_config, Some(json!({"wal_capacity_mb": 64})));
    assert_eq!(
        create.optimizers_config,
        Some(json!({"indexing_threshold": 0}))
    );

    let config = create.into_config(1).unwrap();
    let t::VectorsConfig::Single(params) = &config.params.vectors else {
        panic!("expected a single vector, got {:?}", config.params.vectors);
    };
    assert_eq!((params.size, params.distance), (4, t::Distance::Dot));
    assert_eq!(params.on_disk, Some(true));
    assert_eq!(params.hnsw_config.as_ref().unwrap().m, Some(32));
    assert_eq!(config.params.shard_number, 3);
    assert_eq!(config.params.replication_factor, 2);
    assert_eq!(config.params.write_consistency_factor, 2);
    assert!(!config.params.on_disk_payload);
    assert_eq!(config.hnsw_config.ef_construct, 200);
    assert_eq!(config.wal_config.wal_capacity_mb, 64);
    assert_eq!(config.optimizer_config.indexing_threshold, Some(0));
}

#[test]
fn create_collection_maps_every_distance() {
    for (proto, domain) in [
        (q::Distance::Cosine, t::Distance::Cosine),
        (q::Distance::Euclid, t::Distance::Euclid),
        (q::Distance::Dot, t::Distance::Dot),
        (q::Distance::Manhattan, t::Distance::Manhattan),
    ] {
        let create = create_collection_from_proto(create_request(
            q::vectors_config::Config::Params(vector_params(2, proto)),
        ))
        .unwrap();
        let Some(t::VectorsConfig::Single(params)) = create.vectors else {
            panic!("expected a single vector");
        };
        assert_eq!(params.distance, domain);
    }
}

#[test]
fn unknown_distance_is_invalid_argument() {
    let err = create_collection_from_proto(create_request(q::vectors_config::Config::Params(
        vector_params(2, q::Distance::UnknownDistance),
    )))
    .unwrap_err();
    assert_eq!(error_to_status(err).code(), tonic::Code::InvalidArgument);
}

#[test]
fn create_collection_named_vectors() {
    let create = create_collection_from_proto(create_request(
        q::vectors_config::Config::ParamsMap(q::VectorParamsMap {
            map: HashMap::from([
                ("image".to_string(), vector_params(3, q::Distance::Euclid)),
                ("text".to_string(), vector_params(5, q::Distance::Cosine)),
            ]),
        }),
    ))
    .unwrap();
    let Some(t::VectorsConfig::Multi(map)) = create.vectors else {
        panic!("expected named vectors");
    };
    assert_eq!(map["image"].size, 3);
    assert_eq!(map["text"].distance, t::Distance::Cosine);
}

#[test]
fn sparse_vector_configs_round_trip() {
    let mut request = create_request(q::vectors_config::Config::Params(vector_params(
        2,
        q::Distance::Dot,
    )));
    request.sparse_vectors_config = Some(q::SparseVectorConfig {
        map: HashMap::from([(
            "bm25".to_string(),
            q::SparseVectorParams {
                index: None,
                modifier: Some(q::Modifier::Idf as i32),
            },
        )]),
    });
    let config = create_collection_from_proto(request)
        .unwrap()
        .into_config(1)
        .unwrap();
    assert_eq!(
        config.params.sparse("bm25").map(|p| p.modifier()),
        Some(t::Modifier::Idf)
    );
    let back = sparse_config_to_proto(config.params.sparse_vectors.unwrap());
    assert_eq!(back.map["bm25"].modifier, Some(q::Modifier::Idf as i32));

    let mut clash = create_request(q::vectors_config::Config::Params(vector_params(
        2,
        q::Distance::Dot,
    )));
    clash.sparse_vectors_config = Some(q::SparseVectorConfig {
        map: HashMap::from([(String::new(), q::SparseVectorParams::default())]),
    });
    let err = create_collection_from_proto(clash)
        .unwrap()
        .into_config(1)
        .unwrap_err();
    assert_eq!(error_to_status(err).code(), tonic::Code::InvalidArgument);
}

#[test]
fn quantization_round_trips_through_the_domain_types() {
    let configs = [
        q::quantization_config::Quantization::Scalar(q::ScalarQuantization {
            r#type: q::QuantizationType::Int8 as i32,
            quantile: Some(0.99),
            always_ram: Some(true),
            memory: None,
        }),
        q::quantization_config::Quantization::Product(q::ProductQuantization {
            compression: q::CompressionRatio::X16 as i32,
            always_ram: None,
            memory: None,
        }),
        q::quantization_config::Quantization::Binary(q::BinaryQuantization {
            always_ram: Some(false),
            encoding: Some(q::BinaryQuantizationEncoding::TwoBits as i32),
            query_encoding: Some(q::BinaryQuantizationQueryEncoding {
                variant: Some(q::binary_quantization_query_encoding::Variant::Setting(
                    q::binary_quantization_query_encoding::Setting::Scalar8Bits as i32,
                )),
            }),
            memory: None,
        }),
    ];
    for quantization in configs {
        let proto = q::QuantizationConfig {
            quantization: Some(quantization),
        };
        let domain = quantization_from_proto(proto).unwrap();
        assert_eq!(
            quantization_to_proto(&domain),
            Some(proto),
            "via {domain:?}"
        );
    }
    // `memory: Pinned` stands for `always_ram`.
    let pinned = quantization_from_proto(q::QuantizationConfig {
        quantization: Some(q::quantization_config::Quantization::Scalar(
            q::ScalarQuantization {
                r#type: q::QuantizationType::Int8 as i32,
                quantile: None,
                always_ram: None,
                memory: Some(q::Memory::Pinned as i32),
            },
        )),
    })
    .unwrap();
    assert!(pinned.always_ram());
    assert_eq!(
        serde_json::to_value(
            quantization_from_proto(q::QuantizationConfig {
                quantization: Some(q::quantization_config::Quantization::Product(
                    q::ProductQuantization {
                        compression: q::CompressionRatio::X4 as i32,
                        always_ram: Some(true),
                        memory: None,
                    }
                )),
            })
            .unwrap()
        )
        .unwrap(),
        json!({"product": {"compression": "x4", "always_ram": true}})
    );
}

#[test]
fn update_collection_diffs() {
    let update = update_collection_from_proto(q::UpdateCollection {
        collection_name: "c".into(),
        params: Some(q::CollectionParamsDiff {
            replication_factor: Some(3),
            on_disk_payload: Some(true),
            ..Default::default()
        }),
        hnsw_config: Some(q::HnswConfigDiff {
            m: Some(8),
            ..Default::default()
        }),
        optimizers_config: Some(q::OptimizersConfigDiff {
            deleted_threshold: Some(0.5),
            max_optimization_threads: Some(q::MaxOptimizationThreads {
                variant: Some(q::max_optimization_threads::Variant::Value(2)),
            }),
            ..Default::default()
        }),
        ..Default::default()
    })
    .unwrap();
    let params = update.params.as_ref().unwrap();
    assert_eq!(params.replication_factor, Some(3));
    assert_eq!(params.on_disk_payload, Some(true));
    assert_eq!(update.hnsw_config.as_ref().unwrap().m, Some(8));
    assert_eq!(
        update.optimizers_config,
        Some(json!({"deleted_threshold": 0.5, "max_optimization_threads": 2}))
    );

    let base = t::CreateCollection {
        vectors: Some(t::VectorsConfig::Single(t::VectorParams {
            size: 2,
            distance: t::Distance::Cosine,
            hnsw_config: None,
            quantization_config: None,
            on_disk: None,
            datatype: None,
            multivector_config: None,
        })),
        ..Default::default()
    }
    .into_config(1)
    .unwrap();
    let next = update.apply_to(&base).unwrap();
    assert_eq!(next.params.replication_factor, 3);
    assert_eq!(next.hnsw_config.m, 8);
    assert_eq!(next.optimizer_config.deleted_threshold, 0.5);
    assert_eq!(next.optimizer_config.max_optimization_threads, Some(2));
}

fn info_with(vectors: t::VectorsConfig) -> CollectionInfo {
    let config = t::CreateCollection {
        vectors: Some(vectors),
        shard_number: Some(2),
        replication_factor: Some(3),
        ..Default::default()
    }
    .into_config(1)
    .unwrap();
    CollectionInfo {
        status: CollectionStatus::Yellow,
        optimizer_status: "ok".into(),
        indexed_vectors_count: 5,
        points_count: 10,
        segments_count: 2,
        config,
        payload_schema: Default::default(),
        warnings: Vec::new(),
        update_queue: Default::default(),
    }
}

fn params(size: u64, distance: t::Distance) -> t::VectorParams {
    t::VectorParams {
        size,
        distance,
        hnsw_config: None,
        quantization_config: None,
        on_disk: None,
        datatype: None,
        multivector_config: None,
    }
}

#[test]
fn collection_info_to_proto_single_vector() {
    let info = collection_info_to_proto(info_with(t::VectorsConfig::Single(params(
        4,
        t::Distance::Euclid,
    ))));
    assert_eq!(info.status, q::CollectionStatus::Yellow as i32);
    assert_eq!(info.points_count, Some(10));
    assert_eq!(info.indexed_vectors_count, Some(5));
    assert_eq!(info.segments_count, 2);
    assert!(info.optimizer_status.as_ref().unwrap().ok);
    assert!(info.payload_schema.is_empty());
    let config = info.config.unwrap();
    let params = config.params.unwrap();
    assert_eq!(params.shard_number, 2);
    assert_eq!(params.replication_factor, Some(3));
    assert_eq!(params.write_consistency_factor, Some(1));
    assert!(params.on_disk_payload);
    match params.vectors_config.and_then(|v| v.config) {
        Some(q::vectors_config::Config::Params(p)) => {
            assert_eq!(p.size, 4);
            assert_eq!(p.distance, q::Distance::Euclid as i32);
        }
        other => panic!("expected single params, got {other:?}"),
    }
    assert_eq!(config.hnsw_config.unwrap().m, Some(16));
    assert_eq!(config.optimizer_config.unwrap().flush_interval_sec, Some(5));
    assert_eq!(config.wal_config.unwrap().wal_capacity_mb, Some(32));
}

#[test]
fn collection_info_to_proto_named_vectors() {
    let info = collection_info_to_proto(info_with(t::VectorsConfig::Multi(BTreeMap::from([
        ("a".to_string(), params(2, t::Distance::Dot)),
        ("b".to_string(), params(3, t::Distance::Manhattan)),
    ]))));
    let vectors = info.config.unwrap().params.unwrap().vectors_config.unwrap();
    match vectors.config {
        Some(q::vectors_config::Config::ParamsMap(m)) => {
            assert_eq!(m.map.len(), 2);
            assert_eq!(m.map["b"].distance, q::Distance::Manhattan as i32);
        }
        other => panic!("expected a params map, got {other:?}"),
    }
}

#[test]
fn cluster_info_lists_replicas_with_their_state() {
    let info = cluster_info_to_proto(
        crate::cluster::CollectionClusterInfo {
            peer_id: 1,
            shard_count: 2,
            local_shards: Vec::new(),
            remote_shards: vec![
                crate::cluster::RemoteShardInfo {
                    shard_id: 0,
                    shard_key: None,
                    peer_id: 10,
                    state: t::ReplicaState::Active,
                },
                crate::cluster::RemoteShardInfo {
                    shard_id: 1,
                    shard_key: Some(json!("tenant")),
                    peer_id: 11,
                    state: t::ReplicaState::Dead,
                },
            ],
            shard_transfers: Vec::new(),
            warnings: Vec::new(),
        },
        0.5,
    );
    assert_eq!((info.peer_id, info.shard_count, info.time), (1, 2, 0.5));
    assert_eq!(info.remote_shards[0].state, q::ReplicaState::Active as i32);
    assert_eq!(info.remote_shards[1].state, q::ReplicaState::Dead as i32);
    assert_eq!(info.remote_shards[1].peer_id, 11);
    assert_eq!(
        info.remote_shards[1].shard_key,
        Some(q::ShardKey {
            key: Some(q::shard_key::Key::Keyword("tenant".into()))
        })
    );
}

#[test]
fn documents_are_embedded_as_documents_in_writes_and_as_queries_in_queries() {
    let document = |text: &str| q::Document {
        text: text.into(),
        model: "Qdrant/bm25".into(),
        options: HashMap::new(),
    };
    let as_vector = |d: q::Document| q::Vector {
        vector: Some(q::vector::Vector::Document(d)),
        ..Default::default()
    };
    let named = q::Vectors {
        vectors_options: Some(q::vectors::VectorsOptions::Vectors(q::NamedVectors {
            vectors: HashMap::from([("text".to_string(), as_vector(document("running run")))]),
        })),
    };
    assert_eq!(
        vectors_from_proto(named, Unnamed::Point).unwrap(),
        t::VectorStruct::Named(BTreeMap::from([(
            "text".to_string(),
            t::Vector::Sparse(t::SparseVector {
                indices: vec![243_905_464],
                values: vec![1.907_213],
            }),
        )]))
    );
    let bare = q::Vectors {
        vectors_options: Some(q::vectors::VectorsOptions::Vector(as_vector(document("a")))),
    };
    assert_eq!(
        vectors_from_proto(bare, Unnamed::Point).unwrap_err(),
        TesseraError::bad_request("Sparse vector from document inference should be named")
    );

    let query = query_from_proto(q::QueryPoints {
        query: Some(q::Query {
            variant: Some(q::query::Variant::Nearest(q::VectorInput {
                variant: Some(q::vector_input::Variant::Document(document("running run"))),
            })),
        }),
        using: Some("text".into()),
        ..Default::default()
    })
    .unwrap();
    let expected = t::SparseVector {
        indices: vec![243_905_464],
        values: vec![1.0],
    };
    assert_eq!(query.query, Some(Query::Nearest(expected.into())));
}
