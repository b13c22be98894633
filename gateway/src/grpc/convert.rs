//! Conversions between Qdrant's gRPC messages and Tessera's domain types,
//! done once, here, for every service in this directory.

// Qdrant marks fields deprecated that its clients still use (`on_disk`,
// `on_disk_payload`, `always_ram`, the flat `data` of input vectors): Tessera
// must accept and report them.
#![allow(deprecated)]

use std::collections::{BTreeMap, HashMap};

use qdrant_client::qdrant as q;
use serde_json::{Map, Number, Value as Json};
use tessera_types::{self as t, TesseraError};

use crate::service::{CollectionInfo, CollectionStatus, Query, QueryRequest, WriteOrdering};

type Result<T> = std::result::Result<T, TesseraError>;

/// Qdrant's default page size for `scroll` and `query`.
const DEFAULT_LIMIT: usize = 10;

fn bad_input(message: impl Into<String>) -> TesseraError {
    TesseraError::BadInput(message.into())
}

fn unsupported(message: &str) -> TesseraError {
    TesseraError::Unimplemented(message.to_string())
}

/// A protobuf enum field, which arrives as a bare `i32`.
fn enum_value<E: TryFrom<i32>>(value: i32, what: &str) -> Result<E> {
    E::try_from(value).map_err(|_| bad_input(format!("Unknown {what}: {value}")))
}

/// A JSON object of the fields that are set, as Qdrant's REST diffs look.
fn object<const N: usize>(fields: [(&str, Option<Json>); N]) -> Json {
    Json::Object(
        fields
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k.to_string(), v)))
            .collect(),
    )
}

fn json<T: serde::Serialize>(value: T) -> Json {
    serde_json::to_value(value).expect("domain types serialize to JSON")
}

// ---- payload values -------------------------------------------------------

pub fn value_from_proto(value: q::Value) -> Result<Json> {
    use q::value::Kind;
    Ok(match value.kind {
        None | Some(Kind::NullValue(_)) => Json::Null,
        Some(Kind::DoubleValue(d)) => Number::from_f64(d)
            .map(Json::Number)
            .ok_or_else(|| bad_input(format!("Payload value {d} is not a JSON number")))?,
        Some(Kind::IntegerValue(i)) => Json::from(i),
        Some(Kind::StringValue(s)) => Json::String(s),
        Some(Kind::BoolValue(b)) => Json::Bool(b),
        Some(Kind::StructValue(s)) => Json::Object(payload_from_proto(s.fields)?),
        Some(Kind::ListValue(l)) => Json::Array(
            l.values
                .into_iter()
                .map(value_from_proto)
                .collect::<Result<_>>()?,
        ),
    })
}

pub fn value_to_proto(value: Json) -> q::Value {
    use q::value::Kind;
    let kind = match value {
        Json::Null => Kind::NullValue(q::NullValue::NullValue as i32),
        Json::Bool(b) => Kind::BoolValue(b),
        // Integers stay integers; only those beyond i64 become doubles, as in Qdrant.
        Json::Number(n) => match n.as_i64() {
            Some(i) => Kind::IntegerValue(i),
            None => Kind::DoubleValue(n.as_f64().unwrap_or_default()),
        },
        Json::String(s) => Kind::StringValue(s),
        Json::Array(values) => Kind::ListValue(q::ListValue {
            values: values.into_iter().map(value_to_proto).collect(),
        }),
        Json::Object(fields) => Kind::StructValue(q::Struct {
            fields: payload_to_proto(fields),
        }),
    };
    q::Value { kind: Some(kind) }
}

pub fn payload_from_proto(fields: HashMap<String, q::Value>) -> Result<t::Payload> {
    fields
        .into_iter()
        .map(|(k, v)| Ok((k, value_from_proto(v)?)))
        .collect()
}

pub fn payload_to_proto(payload: t::Payload) -> HashMap<String, q::Value> {
    payload
        .into_iter()
        .map(|(k, v)| (k, value_to_proto(v)))
        .collect()
}

fn json_object_from_proto(fields: HashMap<String, q::Value>) -> Result<Option<Json>> {
    if fields.is_empty() {
        return Ok(None);
    }
    Ok(Some(Json::Object(payload_from_proto(fields)?)))
}

// ---- point ids --------------------------------------------------------------

pub fn point_id_from_proto(id: q::PointId) -> Result<t::PointId> {
    match id.point_id_options {
        Some(q::point_id::PointIdOptions::Num(n)) => Ok(t::PointId::Num(n)),
        Some(q::point_id::PointIdOptions::Uuid(s)) => uuid::Uuid::parse_str(&s)
            .map(t::PointId::Uuid)
            .map_err(|_| bad_input(format!("Unable to parse UUID: {s}"))),
        None => Err(bad_input("Point id is empty")),
    }
}

fn required_point_id(id: Option<q::PointId>) -> Result<t::PointId> {
    point_id_from_proto(id.ok_or_else(|| bad_input("Point id is missing"))?)
}

fn point_ids_from_proto(ids: Vec<q::PointId>) -> Result<Vec<t::PointId>> {
    ids.into_iter().map(point_id_from_proto).collect()
}

pub fn point_id_to_proto(id: t::PointId) -> q::PointId {
    let options = match id {
        t::PointId::Num(n) => q::point_id::PointIdOptions::Num(n),
        t::PointId::Uuid(u) => q::point_id::PointIdOptions::Uuid(u.to_string()),
    };
    q::PointId {
        point_id_options: Some(options),
    }
}

// ---- vectors ----------------------------------------------------------------

const SPARSE_UNSUPPORTED: &str = "sparse vectors are not supported yet";
const MULTIVECTOR_UNSUPPORTED: &str = "multivectors are not supported yet";
const INFERENCE_UNSUPPORTED: &str =
    "inference from documents, images or objects is not supported yet";

/// A dense vector from either encoding clients use: the `vector` oneof
/// (current clients) or the flat `data` field (older ones).
fn dense_from_proto(vector: q::Vector) -> Result<Vec<f32>> {
    use q::vector::Vector as V;
    match vector.vector {
        Some(V::Dense(dense)) => Ok(dense.data),
        Some(V::Sparse(_)) => Err(unsupported(SPARSE_UNSUPPORTED)),
        Some(V::MultiDense(_)) => Err(unsupported(MULTIVECTOR_UNSUPPORTED)),
        Some(V::Document(_) | V::Image(_) | V::Object(_)) => {
            Err(unsupported(INFERENCE_UNSUPPORTED))
        }
        None if vector.indices.is_some() => Err(unsupported(SPARSE_UNSUPPORTED)),
        None if vector.vectors_count.is_some() => Err(unsupported(MULTIVECTOR_UNSUPPORTED)),
        None => Ok(vector.data),
    }
}

pub fn vectors_from_proto(vectors: q::Vectors) -> Result<t::VectorStruct> {
    match vectors.vectors_options {
        Some(q::vectors::VectorsOptions::Vector(v)) => {
            Ok(t::VectorStruct::Single(dense_from_proto(v)?))
        }
        Some(q::vectors::VectorsOptions::Vectors(named)) => Ok(t::VectorStruct::Named(
            named
                .vectors
                .into_iter()
                .map(|(name, v)| Ok((name, dense_from_proto(v)?)))
                .collect::<Result<_>>()?,
        )),
        None => Err(bad_input("No vector provided")),
    }
}

/// Fills the `vector` oneof, which qdrant-client reads first; the flat
/// `data` field has been deprecated since Qdrant 1.16.
fn dense_to_proto(data: Vec<f32>) -> q::VectorOutput {
    q::VectorOutput {
        vector: Some(q::vector_output::Vector::Dense(q::DenseVector { data })),
        ..Default::default()
    }
}

pub fn vectors_to_proto(vectors: t::VectorStruct) -> q::VectorsOutput {
    let options = match vectors {
        t::VectorStruct::Single(v) => q::vectors_output::VectorsOptions::Vector(dense_to_proto(v)),
        t::VectorStruct::Named(named) => {
            q::vectors_output::VectorsOptions::Vectors(q::NamedVectorsOutput {
                vectors: named
                    .into_iter()
                    .map(|(name, v)| (name, dense_to_proto(v)))
                    .collect(),
            })
        }
    };
    q::VectorsOutput {
        vectors_options: Some(options),
    }
}

/// A point to upsert. A point without vectors is allowed, as in Qdrant, for
/// collections whose vectors are all named.
pub fn point_from_proto(point: q::PointStruct) -> Result<t::Point> {
    let vectors = match point.vectors {
        Some(v) => vectors_from_proto(v)?.into_named(),
        None => t::NamedVectors::new(),
    };
    Ok(t::Point {
        id: required_point_id(point.id)?,
        vectors,
        payload: payload_from_proto(point.payload)?,
    })
}

pub fn point_vectors_from_proto(point: q::PointVectors) -> Result<(t::PointId, t::NamedVectors)> {
    let vectors = point
        .vectors
        .ok_or_else(|| bad_input("Vectors are missing"))?;
    Ok((
        required_point_id(point.id)?,
        vectors_from_proto(vectors)?.into_named(),
    ))
}

// ---- records returned to clients --------------------------------------------

pub(crate) fn shard_key_to_proto(key: Json) -> Option<q::ShardKey> {
    let key = match key {
        Json::String(s) => q::shard_key::Key::Keyword(s),
        Json::Number(n) => q::shard_key::Key::Number(n.as_u64()?),
        _ => return None,
    };
    Some(q::ShardKey { key: Some(key) })
}

fn order_value_to_proto(value: Json) -> Option<q::OrderValue> {
    let n = value.as_number()?;
    let variant = match n.as_i64() {
        Some(i) => q::order_value::Variant::Int(i),
        None => q::order_value::Variant::Float(n.as_f64()?),
    };
    Some(q::OrderValue {
        variant: Some(variant),
    })
}

pub fn record_to_proto(record: t::Record) -> q::RetrievedPoint {
    q::RetrievedPoint {
        id: Some(point_id_to_proto(record.id)),
        payload: payload_to_proto(record.payload.unwrap_or_default()),
        vectors: record.vector.map(vectors_to_proto),
        shard_key: record.shard_key.and_then(shard_key_to_proto),
        order_value: record.order_value.and_then(order_value_to_proto),
    }
}

pub fn scored_point_to_proto(point: t::ScoredPoint) -> q::ScoredPoint {
    q::ScoredPoint {
        id: Some(point_id_to_proto(point.id)),
        payload: payload_to_proto(point.payload.unwrap_or_default()),
        score: point.score,
        version: point.version,
        vectors: point.vector.map(vectors_to_proto),
        shard_key: point.shard_key.and_then(shard_key_to_proto),
        order_value: point.order_value.and_then(order_value_to_proto),
    }
}

// ---- selectors --------------------------------------------------------------

/// `with_payload`; `default` applies when the client leaves it out, which
/// differs between operations (on for get and scroll, off for search).
pub fn with_payload_from_proto(
    selector: Option<q::WithPayloadSelector>,
    default: bool,
) -> Result<t::WithPayload> {
    use q::with_payload_selector::SelectorOptions as S;
    let Some(selector) = selector else {
        return Ok(t::WithPayload::Enable(default));
    };
    match selector.selector_options {
        Some(S::Enable(b)) => Ok(t::WithPayload::Enable(b)),
        Some(S::Include(i)) => Ok(t::WithPayload::Selector(t::PayloadSelector::Include {
            include: i.fields,
        })),
        Some(S::Exclude(e)) => Ok(t::WithPayload::Selector(t::PayloadSelector::Exclude {
            exclude: e.fields,
        })),
        None => Err(bad_input("with_payload selector is empty")),
    }
}

pub fn with_vector_from_proto(selector: Option<q::WithVectorsSelector>) -> t::WithVector {
    use q::with_vectors_selector::SelectorOptions as S;
    match selector.and_then(|s| s.selector_options) {
        Some(S::Enable(b)) => t::WithVector::Enable(b),
        Some(S::Include(names)) => t::WithVector::Include(names.names),
        None => t::WithVector::Enable(false),
    }
}

pub fn points_selector_from_proto(
    selector: Option<q::PointsSelector>,
) -> Result<t::PointSelection> {
    use q::points_selector::PointsSelectorOneOf as S;
    match selector.and_then(|s| s.points_selector_one_of) {
        Some(S::Points(list)) => Ok(t::PointSelection::Ids(point_ids_from_proto(list.ids)?)),
        Some(S::Filter(filter)) => Ok(t::PointSelection::Filter(filter_from_proto(filter)?)),
        None => Err(bad_input("Points selector is missing")),
    }
}

// ---- filters ----------------------------------------------------------------

pub fn filter_from_proto(filter: q::Filter) -> Result<t::Filter> {
    let conditions = |c: Vec<q::Condition>| {
        c.into_iter()
            .map(condition_from_proto)
            .collect::<Result<Vec<_>>>()
    };
    Ok(t::Filter {
        should: conditions(filter.should)?,
        min_should: filter
            .min_should
            .map(|m| {
                Ok::<_, TesseraError>(t::MinShould {
                    conditions: conditions(m.conditions)?,
                    min_count: m.min_count as usize,
                })
            })
            .transpose()?,
        must: conditions(filter.must)?,
        must_not: conditions(filter.must_not)?,
    })
}

pub fn optional_filter_from_proto(filter: Option<q::Filter>) -> Result<Option<t::Filter>> {
    filter.map(filter_from_proto).transpose()
}

fn condition_from_proto(condition: q::Condition) -> Result<t::Condition> {
    use q::condition::ConditionOneOf as C;
    match condition.condition_one_of {
        Some(C::Field(field)) => Ok(t::Condition::Field(field_condition_from_proto(field)?)),
        Some(C::IsEmpty(c)) => Ok(t::Condition::IsEmpty(t::IsEmptyCondition {
            is_empty: t::PayloadField { key: c.key },
        })),
        Some(C::IsNull(c)) => Ok(t::Condition::IsNull(t::IsNullCondition {
            is_null: t::PayloadField { key: c.key },
        })),
        Some(C::HasId(c)) => Ok(t::Condition::HasId(t::HasIdCondition {
            has_id: point_ids_from_proto(c.has_id)?,
        })),
        Some(C::Filter(f)) => Ok(t::Condition::Filter(filter_from_proto(f)?)),
        Some(C::Nested(n)) => Ok(t::Condition::Nested(t::NestedCondition {
            nested: t::Nested {
                key: n.key,
                filter: filter_from_proto(
                    n.filter
                        .ok_or_else(|| bad_input("Nested condition has no filter"))?,
                )?,
            },
        })),
        Some(C::HasVector(c)) => Ok(t::Condition::HasVector(t::HasVectorCondition {
            has_vector: c.has_vector,
        })),
        Some(C::Slice(_)) => Err(unsupported("slice conditions are not supported yet")),
        None => Err(bad_input("Condition is empty")),
    }
}

fn geo_point(point: Option<q::GeoPoint>) -> Json {
    point.map_or(
        Json::Null,
        |p| serde_json::json!({"lon": p.lon, "lat": p.lat}),
    )
}

fn geo_line(line: q::GeoLineString) -> Json {
    serde_json::json!({"points": line.points.into_iter().map(|p| geo_point(Some(p))).collect::<Vec<_>>()})
}

/// Geo conditions travel as Qdrant's REST JSON, which the data plane rejects
/// until it evaluates them.
fn field_condition_from_proto(field: q::FieldCondition) -> Result<t::FieldCondition> {
    if field.datetime_range.is_some() {
        return Err(unsupported(
            "datetime_range conditions are not supported yet",
        ));
    }
    let has_condition = field.r#match.is_some()
        || field.range.is_some()
        || field.values_count.is_some()
        || field.is_empty.is_some()
        || field.is_null.is_some()
        || field.geo_bounding_box.is_some()
        || field.geo_radius.is_some()
        || field.geo_polygon.is_some();
    if !has_condition {
        return Err(bad_input(format!(
            "Field condition on `{}` has nothing to check",
            field.key
        )));
    }
    Ok(t::FieldCondition {
        key: field.key,
        r#match: field.r#match.map(match_from_proto).transpose()?,
        range: field.range.map(|r| t::Range {
            lt: r.lt,
            gt: r.gt,
            gte: r.gte,
            lte: r.lte,
        }),
        values_count: field.values_count.map(|v| t::ValuesCount {
            lt: v.lt.map(|n| n as usize),
            gt: v.gt.map(|n| n as usize),
            gte: v.gte.map(|n| n as usize),
            lte: v.lte.map(|n| n as usize),
        }),
        is_empty: field.is_empty,
        is_null: field.is_null,
        geo_bounding_box: field.geo_bounding_box.map(|b| {
            serde_json::json!({"top_left": geo_point(b.top_left), "bottom_right": geo_point(b.bottom_right)})
        }),
        geo_radius: field.geo_radius.map(|r| {
            serde_json::json!({"center": geo_point(r.center), "radius": r.radius})
        }),
        geo_polygon: field.geo_polygon.map(|p| {
            serde_json::json!({
                "exterior": p.exterior.map_or(Json::Null, geo_line),
                "interiors": p.interiors.into_iter().map(geo_line).collect::<Vec<_>>(),
            })
        }),
    })
}

fn match_from_proto(m: q::Match) -> Result<t::Match> {
    use q::r#match::MatchValue as M;
    Ok(match m.match_value {
        Some(M::Keyword(s)) => t::Match::Value {
            value: t::MatchValue::Keyword(s),
        },
        Some(M::Integer(i)) => t::Match::Value {
            value: t::MatchValue::Integer(i),
        },
        Some(M::Boolean(b)) => t::Match::Value {
            value: t::MatchValue::Bool(b),
        },
        Some(M::Text(text)) => t::Match::Text { text },
        Some(M::TextAny(text_any)) => t::Match::TextAny { text_any },
        Some(M::Phrase(phrase)) => t::Match::Phrase { phrase },
        Some(M::Keywords(k)) => t::Match::Any {
            any: t::AnyVariants::Keywords(k.strings),
        },
        Some(M::Integers(i)) => t::Match::Any {
            any: t::AnyVariants::Integers(i.integers),
        },
        Some(M::ExceptKeywords(k)) => t::Match::Except {
            except: t::AnyVariants::Keywords(k.strings),
        },
        Some(M::ExceptIntegers(i)) => t::Match::Except {
            except: t::AnyVariants::Integers(i.integers),
        },
        Some(M::Prefix(_)) => return Err(unsupported("prefix matching is not supported yet")),
        Some(M::Substring(_)) => {
            return Err(unsupported("substring matching is not supported yet"))
        }
        None => return Err(bad_input("Match condition is empty")),
    })
}

// ---- reads ------------------------------------------------------------------

pub(crate) fn shard_key_from_proto(key: q::ShardKey) -> Result<Json> {
    match key.key {
        Some(q::shard_key::Key::Keyword(k)) => Ok(Json::String(k)),
        Some(q::shard_key::Key::Number(n)) => Ok(Json::from(n)),
        None => Err(bad_input("a shard key needs a keyword or a number")),
    }
}

pub fn shard_key_selector_from_proto(
    selector: Option<q::ShardKeySelector>,
) -> Result<Option<t::ShardKeySelector>> {
    selector
        .map(|s| {
            let keys = s
                .shard_keys
                .into_iter()
                .map(shard_key_from_proto)
                .collect::<Result<_>>()?;
            Ok(t::ShardKeySelector(keys))
        })
        .transpose()
}

pub fn read_options_from_proto(
    consistency: Option<q::ReadConsistency>,
    shard_key: Option<q::ShardKeySelector>,
) -> Result<crate::service::ReadOptions> {
    Ok(crate::service::ReadOptions {
        consistency: consistency_from_proto(consistency)?,
        shard_key: shard_key_selector_from_proto(shard_key)?,
    })
}

pub fn consistency_from_proto(
    consistency: Option<q::ReadConsistency>,
) -> Result<t::ReadConsistency> {
    use q::read_consistency::Value;
    match consistency.and_then(|c| c.value) {
        None => Ok(t::ReadConsistency::default()),
        Some(Value::Factor(n)) => t::ReadConsistency::factor(n),
        Some(Value::Type(kind)) => Ok(
            match enum_value::<q::ReadConsistencyType>(kind, "read consistency")? {
                q::ReadConsistencyType::All => t::ReadConsistency::All,
                q::ReadConsistencyType::Majority => t::ReadConsistency::Majority,
                q::ReadConsistencyType::Quorum => t::ReadConsistency::Quorum,
            },
        ),
    }
}

// ---- writes -----------------------------------------------------------------

pub fn ordering_from_proto(ordering: Option<q::WriteOrdering>) -> Result<WriteOrdering> {
    let Some(ordering) = ordering else {
        return Ok(WriteOrdering::default());
    };
    Ok(
        match enum_value::<q::WriteOrderingType>(ordering.r#type, "write ordering")? {
            q::WriteOrderingType::Weak => WriteOrdering::Weak,
            q::WriteOrderingType::Medium => WriteOrdering::Medium,
            q::WriteOrderingType::Strong => WriteOrdering::Strong,
        },
    )
}

pub fn update_result_to_proto(result: t::UpdateResult) -> q::UpdateResult {
    let status = match result.status {
        t::UpdateStatus::Acknowledged => q::UpdateStatus::Acknowledged,
        t::UpdateStatus::Completed => q::UpdateStatus::Completed,
    };
    q::UpdateResult {
        operation_id: result.operation_id,
        status: status as i32,
    }
}

// ---- reads ------------------------------------------------------------------

pub fn search_params_from_proto(params: Option<q::SearchParams>) -> t::SearchParams {
    let Some(params) = params else {
        return t::SearchParams::default();
    };
    t::SearchParams {
        hnsw_ef: params.hnsw_ef.map(|ef| ef as usize),
        exact: params.exact.unwrap_or(false),
        quantization: params.quantization.map(|q| {
            object([
                ("ignore", q.ignore.map(Json::from)),
                ("rescore", q.rescore.map(Json::from)),
                ("oversampling", q.oversampling.map(Json::from)),
            ])
        }),
        indexed_only: params.indexed_only,
        acorn: params.acorn.map(|a| {
            object([
                ("enable", a.enable.map(Json::from)),
                ("max_selectivity", a.max_selectivity.map(Json::from)),
            ])
        }),
    }
}

pub fn search_from_proto(request: q::SearchPoints) -> Result<t::SearchRequest> {
    if request.sparse_indices.is_some() {
        return Err(unsupported(SPARSE_UNSUPPORTED));
    }
    Ok(t::SearchRequest {
        vector: request.vector,
        using: request.vector_name.unwrap_or_default(),
        filter: optional_filter_from_proto(request.filter)?,
        limit: request.limit as usize,
        offset: request.offset.unwrap_or(0) as usize,
        with_payload: with_payload_from_proto(request.with_payload, false)?,
        with_vector: with_vector_from_proto(request.with_vectors),
        score_threshold: request.score_threshold,
        params: search_params_from_proto(request.params),
    })
}

pub fn scroll_from_proto(request: q::ScrollPoints) -> Result<t::ScrollRequest> {
    if request.order_by.is_some() {
        return Err(unsupported("order_by is not supported yet"));
    }
    Ok(t::ScrollRequest {
        offset: request.offset.map(point_id_from_proto).transpose()?,
        limit: request.limit.map_or(DEFAULT_LIMIT, |l| l as usize),
        filter: optional_filter_from_proto(request.filter)?,
        with_payload: with_payload_from_proto(request.with_payload, true)?,
        with_vector: with_vector_from_proto(request.with_vectors),
    })
}

fn query_variant_from_proto(query: q::Query) -> Result<Query> {
    use q::query::Variant as V;
    use q::vector_input::Variant as I;
    let name = match query.variant {
        Some(V::Nearest(input)) => {
            return match input.variant {
                Some(I::Dense(dense)) => Ok(Query::Nearest(dense.data)),
                Some(I::Id(id)) => Ok(Query::NearestToPoint(point_id_from_proto(id)?)),
                Some(I::Sparse(_)) => Err(unsupported(SPARSE_UNSUPPORTED)),
                Some(I::MultiDense(_)) => Err(unsupported(MULTIVECTOR_UNSUPPORTED)),
                Some(I::Document(_) | I::Image(_) | I::Object(_)) => {
                    Err(unsupported(INFERENCE_UNSUPPORTED))
                }
                None => Err(bad_input("Nearest query has no vector")),
            }
        }
        Some(V::Recommend(_)) => "recommend",
        Some(V::Discover(_)) => "discover",
        Some(V::Context(_)) => "context",
        Some(V::OrderBy(_)) => "order_by",
        Some(V::Fusion(_)) => "fusion",
        Some(V::Sample(_)) => "sample",
        Some(V::Formula(_)) => "formula",
        Some(V::NearestWithMmr(_)) => "nearest with MMR",
        Some(V::Rrf(_)) => "rrf",
        Some(V::RelevanceFeedback(_)) => "relevance feedback",
        Some(V::Text(_)) => "text",
        None => return Err(bad_input("Query is empty")),
    };
    Err(TesseraError::Unimplemented(format!(
        "{name} queries are not supported yet"
    )))
}

pub fn query_from_proto(request: q::QueryPoints) -> Result<QueryRequest> {
    if !request.prefetch.is_empty() {
        return Err(unsupported("prefetch is not supported yet"));
    }
    if request.lookup_from.is_some() {
        return Err(unsupported("lookup_from is not supported yet"));
    }
    Ok(QueryRequest {
        query: request.query.map(query_variant_from_proto).transpose()?,
        using: request.using.unwrap_or_default(),
        filter: optional_filter_from_proto(request.filter)?,
        limit: request.limit.map_or(DEFAULT_LIMIT, |l| l as usize),
        offset: request.offset.unwrap_or(0) as usize,
        with_payload: with_payload_from_proto(request.with_payload, false)?,
        with_vector: with_vector_from_proto(request.with_vectors),
        score_threshold: request.score_threshold,
        params: search_params_from_proto(request.params),
    })
}

// ---- collections: requests ----------------------------------------------------

fn distance_from_proto(distance: i32) -> Result<t::Distance> {
    match q::Distance::try_from(distance) {
        Ok(q::Distance::Cosine) => Ok(t::Distance::Cosine),
        Ok(q::Distance::Euclid) => Ok(t::Distance::Euclid),
        Ok(q::Distance::Dot) => Ok(t::Distance::Dot),
        Ok(q::Distance::Manhattan) => Ok(t::Distance::Manhattan),
        Ok(q::Distance::UnknownDistance) | Err(_) => Err(bad_input(format!(
            "Malformed distance parameter: {distance}"
        ))),
    }
}

fn datatype_from_proto(datatype: i32) -> Result<Option<String>> {
    let name = match enum_value::<q::Datatype>(datatype, "datatype")? {
        q::Datatype::Default => return Ok(None),
        q::Datatype::Float32 => "float32",
        q::Datatype::Uint8 => "uint8",
        q::Datatype::Float16 => "float16",
        q::Datatype::Turbo4 | q::Datatype::Turbo8 | q::Datatype::Turbo16 => {
            return Err(unsupported("turbo datatypes are not supported yet"))
        }
    };
    Ok(Some(name.to_string()))
}

fn hnsw_diff_from_proto(h: q::HnswConfigDiff) -> t::HnswConfigDiff {
    t::HnswConfigDiff {
        m: h.m.map(|v| v as usize),
        ef_construct: h.ef_construct.map(|v| v as usize),
        full_scan_threshold: h.full_scan_threshold.map(|v| v as usize),
        max_indexing_threads: h.max_indexing_threads.map(|v| v as usize),
        on_disk: h.on_disk,
        payload_m: h.payload_m.map(|v| v as usize),
        inline_storage: h.inline_storage,
    }
}

fn vector_params_from_proto(p: q::VectorParams) -> Result<t::VectorParams> {
    if p.multivector_config.is_some() {
        return Err(unsupported(MULTIVECTOR_UNSUPPORTED));
    }
    Ok(t::VectorParams {
        size: p.size,
        distance: distance_from_proto(p.distance)?,
        hnsw_config: p.hnsw_config.map(hnsw_diff_from_proto),
        quantization_config: p
            .quantization_config
            .map(quantization_to_json)
            .transpose()?,
        on_disk: p.on_disk,
        datatype: p.datatype.map(datatype_from_proto).transpose()?.flatten(),
        multivector_config: None,
    })
}

fn vectors_config_from_proto(config: q::VectorsConfig) -> Result<t::VectorsConfig> {
    match config.config {
        Some(q::vectors_config::Config::Params(p)) => {
            Ok(t::VectorsConfig::Single(vector_params_from_proto(p)?))
        }
        Some(q::vectors_config::Config::ParamsMap(m)) => Ok(t::VectorsConfig::Multi(
            m.map
                .into_iter()
                .map(|(name, p)| Ok((name, vector_params_from_proto(p)?)))
                .collect::<Result<_>>()?,
        )),
        None => Err(bad_input("vectors_config is empty")),
    }
}

fn sharding_method_from_proto(method: i32) -> Result<t::ShardingMethod> {
    Ok(
        match enum_value::<q::ShardingMethod>(method, "sharding method")? {
            q::ShardingMethod::Auto => t::ShardingMethod::Auto,
            q::ShardingMethod::Custom => t::ShardingMethod::Custom,
        },
    )
}

fn wal_diff_to_json(w: q::WalConfigDiff) -> Json {
    object([
        ("wal_capacity_mb", w.wal_capacity_mb.map(Json::from)),
        ("wal_segments_ahead", w.wal_segments_ahead.map(Json::from)),
        ("wal_retain_closed", w.wal_retain_closed.map(Json::from)),
    ])
}

fn optimizers_diff_to_json(o: q::OptimizersConfigDiff) -> Json {
    use q::max_optimization_threads::Variant;
    // `auto` is Tessera's unset value, which a diff leaves alone.
    let max_threads = match o.max_optimization_threads.and_then(|m| m.variant) {
        Some(Variant::Value(n)) => Some(Json::from(n)),
        Some(Variant::Setting(_)) => None,
        None => o.deprecated_max_optimization_threads.map(Json::from),
    };
    object([
        ("deleted_threshold", o.deleted_threshold.map(Json::from)),
        (
            "vacuum_min_vector_number",
            o.vacuum_min_vector_number.map(Json::from),
        ),
        (
            "default_segment_number",
            o.default_segment_number.map(Json::from),
        ),
        ("max_segment_size", o.max_segment_size.map(Json::from)),
        ("memmap_threshold", o.memmap_threshold.map(Json::from)),
        ("indexing_threshold", o.indexing_threshold.map(Json::from)),
        ("flush_interval_sec", o.flush_interval_sec.map(Json::from)),
        ("max_optimization_threads", max_threads),
        ("prevent_unoptimized", o.prevent_unoptimized.map(Json::from)),
    ])
}

/// A sparse vector config, kept only so that collection validation can reject it.
fn sparse_config_to_json(config: Option<q::SparseVectorConfig>) -> Option<Json> {
    let config = config.filter(|c| !c.map.is_empty())?;
    Some(Json::Object(
        config
            .map
            .into_keys()
            .map(|name| (name, Json::Object(Map::new())))
            .collect(),
    ))
}

pub fn create_collection_from_proto(request: q::CreateCollection) -> Result<t::CreateCollection> {
    Ok(t::CreateCollection {
        vectors: request
            .vectors_config
            .map(vectors_config_from_proto)
            .transpose()?,
        shard_number: request.shard_number,
        sharding_method: request
            .sharding_method
            .map(sharding_method_from_proto)
            .transpose()?,
        replication_factor: request.replication_factor,
        write_consistency_factor: request.write_consistency_factor,
        on_disk_payload: request.on_disk_payload,
        hnsw_config: request.hnsw_config.map(hnsw_diff_from_proto),
        wal_config: request.wal_config.map(wal_diff_to_json),
        optimizers_config: request.optimizers_config.map(optimizers_diff_to_json),
        quantization_config: request
            .quantization_config
            .map(quantization_to_json)
            .transpose()?,
        sparse_vectors: sparse_config_to_json(request.sparse_vectors_config),
        strict_mode_config: None,
        metadata: json_object_from_proto(request.metadata)?,
        init_from: None,
    })
}

fn vector_diff_to_json(diff: q::VectorParamsDiff) -> Result<Json> {
    Ok(object([
        (
            "hnsw_config",
            diff.hnsw_config.map(|h| json(hnsw_diff_from_proto(h))),
        ),
        (
            "quantization_config",
            diff.quantization_config
                .map(quantization_diff_to_json)
                .transpose()?,
        ),
        ("on_disk", diff.on_disk.map(Json::from)),
    ]))
}

pub fn update_collection_from_proto(request: q::UpdateCollection) -> Result<t::UpdateCollection> {
    if sparse_config_to_json(request.sparse_vectors_config).is_some() {
        return Err(unsupported(SPARSE_UNSUPPORTED));
    }
    let vectors = match request.vectors_config.and_then(|c| c.config) {
        Some(q::vectors_config_diff::Config::Params(diff)) => Some(BTreeMap::from([(
            t::DEFAULT_VECTOR_NAME.to_string(),
            vector_diff_to_json(diff)?,
        )])),
        Some(q::vectors_config_diff::Config::ParamsMap(m)) => Some(
            m.map
                .into_iter()
                .map(|(name, diff)| Ok((name, vector_diff_to_json(diff)?)))
                .collect::<Result<_>>()?,
        ),
        None => None,
    };
    Ok(t::UpdateCollection {
        vectors,
        optimizers_config: request.optimizers_config.map(optimizers_diff_to_json),
        params: request.params.map(|p| t::CollectionParamsDiff {
            replication_factor: p.replication_factor,
            write_consistency_factor: p.write_consistency_factor,
            read_fan_out_factor: p.read_fan_out_factor,
            on_disk_payload: p.on_disk_payload,
        }),
        hnsw_config: request.hnsw_config.map(hnsw_diff_from_proto),
        quantization_config: request
            .quantization_config
            .map(quantization_diff_to_json)
            .transpose()?,
        sparse_vectors: None,
        strict_mode_config: None,
        metadata: json_object_from_proto(request.metadata)?,
    })
}

// ---- quantization: protobuf <-> Qdrant's REST JSON, as collections store it ----

const COMPRESSION_RATIOS: [(q::CompressionRatio, &str); 5] = [
    (q::CompressionRatio::X4, "x4"),
    (q::CompressionRatio::X8, "x8"),
    (q::CompressionRatio::X16, "x16"),
    (q::CompressionRatio::X32, "x32"),
    (q::CompressionRatio::X64, "x64"),
];

const BINARY_ENCODINGS: [(q::BinaryQuantizationEncoding, &str); 3] = [
    (q::BinaryQuantizationEncoding::OneBit, "one_bit"),
    (q::BinaryQuantizationEncoding::TwoBits, "two_bits"),
    (
        q::BinaryQuantizationEncoding::OneAndHalfBits,
        "one_and_half_bits",
    ),
];

fn name_of<E: PartialEq + Copy>(table: &[(E, &'static str)], value: E) -> &'static str {
    table
        .iter()
        .find(|(e, _)| *e == value)
        .map_or("", |(_, name)| name)
}

fn value_of<E: Copy>(table: &[(E, &'static str)], name: &str) -> Option<E> {
    table.iter().find(|(_, n)| *n == name).map(|(e, _)| *e)
}

fn scalar_to_json(s: q::ScalarQuantization) -> Result<Json> {
    if enum_value::<q::QuantizationType>(s.r#type, "quantization type")?
        != q::QuantizationType::Int8
    {
        return Err(bad_input("Scalar quantization needs a type: int8"));
    }
    Ok(serde_json::json!({"scalar": object([
        ("type", Some(Json::from("int8"))),
        ("quantile", s.quantile.map(Json::from)),
        ("always_ram", s.always_ram.map(Json::from)),
    ])}))
}

fn product_to_json(p: q::ProductQuantization) -> Result<Json> {
    let compression = enum_value::<q::CompressionRatio>(p.compression, "compression ratio")?;
    Ok(serde_json::json!({"product": object([
        ("compression", Some(Json::from(name_of(&COMPRESSION_RATIOS, compression)))),
        ("always_ram", p.always_ram.map(Json::from)),
    ])}))
}

fn binary_to_json(b: q::BinaryQuantization) -> Result<Json> {
    if b.query_encoding.is_some() {
        return Err(unsupported(
            "binary quantization query_encoding is not supported yet",
        ));
    }
    let encoding = b
        .encoding
        .map(|e| enum_value::<q::BinaryQuantizationEncoding>(e, "binary encoding"))
        .transpose()?;
    Ok(serde_json::json!({"binary": object([
        ("always_ram", b.always_ram.map(Json::from)),
        ("encoding", encoding.map(|e| Json::from(name_of(&BINARY_ENCODINGS, e)))),
    ])}))
}

fn quantization_to_json(config: q::QuantizationConfig) -> Result<Json> {
    use q::quantization_config::Quantization as Q;
    match config.quantization {
        Some(Q::Scalar(s)) => scalar_to_json(s),
        Some(Q::Product(p)) => product_to_json(p),
        Some(Q::Binary(b)) => binary_to_json(b),
        Some(Q::Turboquant(_)) => Err(unsupported("turbo quantization is not supported yet")),
        None => Err(bad_input("quantization_config is empty")),
    }
}

fn quantization_diff_to_json(config: q::QuantizationConfigDiff) -> Result<Json> {
    use q::quantization_config_diff::Quantization as Q;
    match config.quantization {
        Some(Q::Scalar(s)) => scalar_to_json(s),
        Some(Q::Product(p)) => product_to_json(p),
        Some(Q::Binary(b)) => binary_to_json(b),
        Some(Q::Disabled(_)) => Ok(Json::from("Disabled")),
        Some(Q::Turboquant(_)) => Err(unsupported("turbo quantization is not supported yet")),
        None => Err(bad_input("quantization_config is empty")),
    }
}

/// The stored REST JSON back as protobuf; None for shapes gRPC cannot express.
fn quantization_from_json(config: &Json) -> Option<q::QuantizationConfig> {
    use q::quantization_config::Quantization as Q;
    let field = |v: &Json, k: &str| v.get(k).cloned();
    let always_ram = |v: &Json| field(v, "always_ram").and_then(|b| b.as_bool());
    let quantization = if let Some(s) = config.get("scalar") {
        Q::Scalar(q::ScalarQuantization {
            r#type: q::QuantizationType::Int8 as i32,
            quantile: field(s, "quantile")
                .and_then(|v| v.as_f64())
                .map(|v| v as f32),
            always_ram: always_ram(s),
            memory: None,
        })
    } else if let Some(p) = config.get("product") {
        let compression = field(p, "compression")?;
        Q::Product(q::ProductQuantization {
            compression: value_of(&COMPRESSION_RATIOS, compression.as_str()?)? as i32,
            always_ram: always_ram(p),
            memory: None,
        })
    } else if let Some(b) = config.get("binary") {
        Q::Binary(q::BinaryQuantization {
            always_ram: always_ram(b),
            encoding: field(b, "encoding")
                .and_then(|e| value_of(&BINARY_ENCODINGS, e.as_str()?))
                .map(|e| e as i32),
            query_encoding: None,
            memory: None,
        })
    } else {
        return None;
    };
    Some(q::QuantizationConfig {
        quantization: Some(quantization),
    })
}

// ---- collections: responses ---------------------------------------------------

fn distance_to_proto(distance: t::Distance) -> q::Distance {
    match distance {
        t::Distance::Cosine => q::Distance::Cosine,
        t::Distance::Euclid => q::Distance::Euclid,
        t::Distance::Dot => q::Distance::Dot,
        t::Distance::Manhattan => q::Distance::Manhattan,
    }
}

fn datatype_to_proto(datatype: &str) -> Option<q::Datatype> {
    match datatype {
        "float32" => Some(q::Datatype::Float32),
        "uint8" => Some(q::Datatype::Uint8),
        "float16" => Some(q::Datatype::Float16),
        _ => None,
    }
}

fn hnsw_diff_to_proto(h: t::HnswConfigDiff) -> q::HnswConfigDiff {
    q::HnswConfigDiff {
        m: h.m.map(|v| v as u64),
        ef_construct: h.ef_construct.map(|v| v as u64),
        full_scan_threshold: h.full_scan_threshold.map(|v| v as u64),
        max_indexing_threads: h.max_indexing_threads.map(|v| v as u64),
        on_disk: h.on_disk,
        payload_m: h.payload_m.map(|v| v as u64),
        inline_storage: h.inline_storage,
        memory: None,
    }
}

fn hnsw_to_proto(h: t::HnswConfig) -> q::HnswConfigDiff {
    hnsw_diff_to_proto(t::HnswConfigDiff {
        m: Some(h.m),
        ef_construct: Some(h.ef_construct),
        full_scan_threshold: Some(h.full_scan_threshold),
        max_indexing_threads: Some(h.max_indexing_threads),
        on_disk: h.on_disk,
        payload_m: h.payload_m,
        inline_storage: None,
    })
}

fn vector_params_to_proto(p: t::VectorParams) -> q::VectorParams {
    q::VectorParams {
        size: p.size,
        distance: distance_to_proto(p.distance) as i32,
        hnsw_config: p.hnsw_config.map(hnsw_diff_to_proto),
        quantization_config: p
            .quantization_config
            .as_ref()
            .and_then(quantization_from_json),
        on_disk: p.on_disk,
        datatype: p
            .datatype
            .as_deref()
            .and_then(datatype_to_proto)
            .map(|d| d as i32),
        multivector_config: None,
        memory: None,
    }
}

fn vectors_config_to_proto(config: t::VectorsConfig) -> q::VectorsConfig {
    let config = match config {
        t::VectorsConfig::Single(p) => q::vectors_config::Config::Params(vector_params_to_proto(p)),
        t::VectorsConfig::Multi(m) => q::vectors_config::Config::ParamsMap(q::VectorParamsMap {
            map: m
                .into_iter()
                .map(|(name, p)| (name, vector_params_to_proto(p)))
                .collect(),
        }),
    };
    q::VectorsConfig {
        config: Some(config),
    }
}

fn optimizers_to_proto(o: t::OptimizersConfig) -> q::OptimizersConfigDiff {
    use q::max_optimization_threads::{Setting, Variant};
    let max_threads = match o.max_optimization_threads {
        Some(n) => Variant::Value(n as u64),
        None => Variant::Setting(Setting::Auto as i32),
    };
    q::OptimizersConfigDiff {
        deleted_threshold: Some(o.deleted_threshold),
        vacuum_min_vector_number: Some(o.vacuum_min_vector_number as u64),
        default_segment_number: Some(o.default_segment_number as u64),
        max_segment_size: o.max_segment_size.map(|v| v as u64),
        memmap_threshold: o.memmap_threshold.map(|v| v as u64),
        indexing_threshold: o.indexing_threshold.map(|v| v as u64),
        flush_interval_sec: Some(o.flush_interval_sec),
        deprecated_max_optimization_threads: o.max_optimization_threads.map(|v| v as u64),
        max_optimization_threads: Some(q::MaxOptimizationThreads {
            variant: Some(max_threads),
        }),
        prevent_unoptimized: None,
    }
}

fn collection_config_to_proto(config: t::CollectionConfig) -> q::CollectionConfig {
    let params = config.params;
    q::CollectionConfig {
        params: Some(q::CollectionParams {
            shard_number: params.shard_number,
            on_disk_payload: params.on_disk_payload,
            vectors_config: Some(vectors_config_to_proto(params.vectors)),
            replication_factor: Some(params.replication_factor),
            write_consistency_factor: Some(params.write_consistency_factor),
            read_fan_out_factor: None,
            sharding_method: params.sharding_method.map(|m| {
                (match m {
                    t::ShardingMethod::Auto => q::ShardingMethod::Auto,
                    t::ShardingMethod::Custom => q::ShardingMethod::Custom,
                }) as i32
            }),
            sparse_vectors_config: None,
            read_fan_out_delay_ms: None,
            payload: None,
            id_tracker: None,
        }),
        hnsw_config: Some(hnsw_to_proto(config.hnsw_config)),
        optimizer_config: Some(optimizers_to_proto(config.optimizer_config)),
        wal_config: Some(q::WalConfigDiff {
            wal_capacity_mb: Some(config.wal_config.wal_capacity_mb as u64),
            wal_segments_ahead: Some(config.wal_config.wal_segments_ahead as u64),
            wal_retain_closed: None,
        }),
        quantization_config: config
            .quantization_config
            .as_ref()
            .and_then(quantization_from_json),
        strict_mode_config: None,
        metadata: HashMap::new(),
    }
}

pub fn collection_info_to_proto(info: CollectionInfo) -> q::CollectionInfo {
    let status = match info.status {
        CollectionStatus::Green => q::CollectionStatus::Green,
        CollectionStatus::Yellow => q::CollectionStatus::Yellow,
        CollectionStatus::Red => q::CollectionStatus::Red,
    };
    let ok = info.optimizer_status == "ok";
    q::CollectionInfo {
        status: status as i32,
        optimizer_status: Some(q::OptimizerStatus {
            ok,
            error: if ok {
                String::new()
            } else {
                info.optimizer_status
            },
        }),
        segments_count: info.segments_count,
        config: Some(collection_config_to_proto(info.config)),
        payload_schema: info
            .payload_schema
            .into_iter()
            .map(|(field, f)| {
                let schema = q::PayloadSchemaInfo {
                    data_type: payload_schema_type_to_proto(f.data_type) as i32,
                    params: None,
                    points: Some(f.points),
                };
                (field, schema)
            })
            .collect(),
        points_count: Some(info.points_count),
        indexed_vectors_count: Some(info.indexed_vectors_count),
        warnings: Vec::new(),
        update_queue: Some(q::UpdateQueueInfo::default()),
        created_at: None,
    }
}

mod cluster;
pub use cluster::*;

#[cfg(test)]
mod tests;

pub fn payload_schema_type_to_proto(t: t::PayloadSchemaType) -> q::PayloadSchemaType {
    match t {
        t::PayloadSchemaType::Keyword => q::PayloadSchemaType::Keyword,
        t::PayloadSchemaType::Integer => q::PayloadSchemaType::Integer,
        t::PayloadSchemaType::Float => q::PayloadSchemaType::Float,
        t::PayloadSchemaType::Bool => q::PayloadSchemaType::Bool,
        t::PayloadSchemaType::Uuid => q::PayloadSchemaType::Uuid,
        t::PayloadSchemaType::Datetime => q::PayloadSchemaType::Datetime,
        t::PayloadSchemaType::Text => q::PayloadSchemaType::Text,
        t::PayloadSchemaType::Geo => q::PayloadSchemaType::Geo,
    }
}

pub fn field_type_from_proto(field_type: i32) -> Result<t::PayloadSchemaType> {
    Ok(match q::FieldType::try_from(field_type) {
        Ok(q::FieldType::Keyword) => t::PayloadSchemaType::Keyword,
        Ok(q::FieldType::Integer) => t::PayloadSchemaType::Integer,
        Ok(q::FieldType::Float) => t::PayloadSchemaType::Float,
        Ok(q::FieldType::Bool) => t::PayloadSchemaType::Bool,
        Ok(q::FieldType::Uuid) => t::PayloadSchemaType::Uuid,
        Ok(q::FieldType::Datetime) => t::PayloadSchemaType::Datetime,
        Ok(q::FieldType::Text) => t::PayloadSchemaType::Text,
        Ok(q::FieldType::Geo) => t::PayloadSchemaType::Geo,
        Err(_) => {
            return Err(TesseraError::bad_input(format!(
                "unknown field type {field_type}"
            )))
        }
    })
}
