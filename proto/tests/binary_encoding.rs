//! The internal protocol's binary forms carry every request part unchanged:
//! filters of every condition kind, selectors, and searches.

use serde_json::json;
use tessera_proto::common;
use tessera_proto::convert::{selectors_from_proto, selectors_to_proto};
use tessera_proto::data_plane as dp;
use tessera_types as t;

fn filter(value: serde_json::Value) -> t::Filter {
    serde_json::from_value(value.clone()).unwrap_or_else(|e| panic!("{value}: {e}"))
}

#[test]
fn every_filter_condition_survives_the_binary_encoding() {
    let filters = [
        json!({"must": [{"key": "city", "match": {"value": "Berlin"}}]}),
        json!({"must": {"key": "count", "match": {"value": 7}}}),
        json!({"should": [{"key": "flag", "match": {"value": true}}],
               "must_not": [{"key": "tag", "match": {"any": ["a", "b"]}}]}),
        json!({"must": [{"key": "n", "match": {"except": [1, 2, 3]}}]}),
        json!({"must": [{"key": "body", "match": {"text": "quick fox"}}]}),
        json!({"must": [{"key": "body", "match": {"phrase": "quick brown fox"}}]}),
        json!({"must": [{"key": "price", "range": {"gte": 1.5, "lt": 100}}]}),
        json!({"must": [{"key": "at", "range": {"gt": "2024-01-01T00:00:00Z"}}]}),
        json!({"must": [{"key": "loc", "geo_radius": {"center": {"lon": 13.4, "lat": 52.5}, "radius": 1000.0}}]}),
        json!({"must": [{"key": "loc", "geo_bounding_box": {
            "top_left": {"lon": 13.0, "lat": 53.0}, "bottom_right": {"lon": 14.0, "lat": 52.0}}}]}),
        json!({"must": [{"key": "loc", "geo_polygon": {"exterior": {"points": [
            {"lon": 0.0, "lat": 0.0}, {"lon": 1.0, "lat": 0.0}, {"lon": 1.0, "lat": 1.0}, {"lon": 0.0, "lat": 0.0}]}}}]}),
        json!({"must": [{"key": "tags", "values_count": {"gte": 2}}]}),
        json!({"must": [{"is_empty": {"key": "tags"}}, {"is_null": {"key": "owner"}}]}),
        json!({"must": [{"has_id": [1, 2, "550e8400-e29b-41d4-a716-446655440000"]}]}),
        json!({"must": [{"has_vector": "image"}]}),
        json!({"must": [{"nested": {"key": "items", "filter": {"must": [
            {"key": "qty", "range": {"gt": 1}}]}}}]}),
        json!({"min_should": {"conditions": [{"key": "a", "match": {"value": 1}},
            {"key": "b", "match": {"value": 2}}], "min_count": 1}}),
        json!({"must": [{"should": [{"key": "a", "match": {"value": "x"}}],
            "must_not": [{"key": "b", "match": {"value": -4}}]}]}),
    ];
    for value in filters {
        let original = filter(value.clone());
        let encoded = common::Filter::from(&original);
        let decoded = t::Filter::try_from(encoded).unwrap_or_else(|e| panic!("{value}: {e}"));
        assert_eq!(decoded, original, "{value}");
    }
}

#[test]
fn a_damaged_or_missing_filter_is_bad_input() {
    let damaged = common::Filter {
        encoding: Some(common::filter::Encoding::Msgpack(vec![0xc1, 0x00])),
    };
    assert!(matches!(
        t::Filter::try_from(damaged),
        Err(t::TesseraError::BadInput(_))
    ));
    assert!(t::Filter::try_from(common::Filter { encoding: None }).is_err());
}

#[test]
fn every_selector_survives_the_binary_form() {
    let payloads: [t::WithPayload; 4] = [
        t::WithPayload::Enable(true),
        t::WithPayload::Enable(false),
        t::WithPayload::Include(vec!["a".into(), "b".into()]),
        t::WithPayload::Selector(t::PayloadSelector::Exclude {
            exclude: vec!["secret".into()],
        }),
    ];
    let vectors = [
        t::WithVector::Enable(true),
        t::WithVector::Enable(false),
        t::WithVector::Include(vec!["image".into()]),
    ];
    for with_payload in &payloads {
        for with_vector in &vectors {
            let proto = selectors_to_proto(with_payload, with_vector);
            assert_eq!(
                selectors_from_proto(Some(proto)),
                (with_payload.clone(), with_vector.clone())
            );
        }
    }
    // An include selector in object form means the same as the list form.
    let include = t::WithPayload::Selector(t::PayloadSelector::Include {
        include: vec!["a".into()],
    });
    let proto = selectors_to_proto(&include, &t::WithVector::Enable(false));
    assert_eq!(
        selectors_from_proto(Some(proto)).0,
        t::WithPayload::Include(vec!["a".into()])
    );
}

#[test]
fn a_search_crosses_the_binary_protocol_unchanged() {
    let search: t::SearchRequest = serde_json::from_value(json!({
        "vector": [0.25, -1.5, 3.0e-8, 7.0],
        "using": "image",
        "filter": {"must": [{"key": "city", "match": {"value": "Berlin"}}]},
        "limit": 13,
        "offset": 3,
        "with_payload": ["city"],
        "with_vector": true,
        "score_threshold": 0.5,
        "params": {"hnsw_ef": 256, "exact": false, "indexed_only": true,
                   "quantization": {"ignore": false, "rescore": true, "oversampling": 2.5}}
    }))
    .unwrap();
    let proto = dp::SearchRequest::from(&search);
    let floats = proto.vector.as_ref().unwrap().values.clone();
    assert_eq!(floats, vec![0.25, -1.5, 3.0e-8, 7.0], "packed as floats");
    assert_eq!(t::SearchRequest::try_from(proto).unwrap(), search);

    let sparse: t::SearchRequest = serde_json::from_value(json!({
        "vector": {"indices": [3, 17], "values": [0.5, 1.0]},
        "using": "text",
        "filter": null,
        "limit": 5,
        "offset": 0,
        "with_payload": false,
        "with_vector": false,
        "score_threshold": null,
        "params": {}
    }))
    .unwrap();
    let proto = dp::SearchRequest::from(&sparse);
    assert_eq!(t::SearchRequest::try_from(proto).unwrap(), sparse);
}

#[test]
fn a_payload_reads_back_exactly_as_written() {
    let payload = json!({
        "count": 18446744073709551615u64,
        "delta": -9223372036854775808i64,
        "price": 0.1,
        "tiny": 5e-324,
        "huge": 1.7976931348623157e308,
        "whole_float": 3.0,
        "name": "Zürich ✓",
        "tags": ["a", 1, 2.5, null, true],
        "nested": {"empty": {}, "list": []}
    });
    let point = t::Point {
        id: t::PointId::Num(7),
        vectors: t::NamedVectors::new(),
        payload: payload.as_object().unwrap().clone(),
    };
    let proto = dp::Point::from(point.clone());
    let back = t::Point::try_from(proto).unwrap();
    assert_eq!(back, point);
    // Kinds survive, not just values: 3.0 stays a float and prints as one.
    assert_eq!(
        serde_json::to_string(&back.payload).unwrap(),
        serde_json::to_string(&point.payload).unwrap()
    );
}

#[test]
fn a_scroll_crosses_the_binary_protocol_unchanged() {
    let scroll: t::ScrollRequest = serde_json::from_value(json!({
        "offset": "5c56c793-69f3-4fbf-87e6-c4bf54c28c26",
        "limit": 21,
        "filter": {"must": [{"key": "n", "range": {"gte": 2}}]},
        "with_payload": {"exclude": ["secret"]},
        "with_vector": ["image"],
        "order_by": {"key": "n", "direction": "desc", "start_from": 2.5}
    }))
    .unwrap();
    let proto = dp::ScrollRequest::from(&scroll);
    assert_eq!(t::ScrollRequest::try_from(proto).unwrap(), scroll);
}
