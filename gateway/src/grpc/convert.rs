//! Conversions between Qdrant's gRPC messages and Tessera's domain types,
//! done once, here, for every service in this directory.

// Qdrant marks fields deprecated that its clients still use (`on_disk`,
// `on_disk_payload`, `always_ram`, the flat `data` of input vectors): Tessera
// must accept and report them.
#![allow(deprecated)]

use std::collections::{BTreeMap, HashMap};

use qdrant_client::qdrant as q;
use serde_json::{Number, Value as Json};
use tessera_types::{self as t, TesseraError};

use crate::inference::{self, Purpose, Unnamed};
use crate::service::{
    CollectionInfo, CollectionStatus, Discover, Fusion, LookupFrom, Mmr, Prefetch, Query,
    QueryRequest, Recommend, RecommendStrategy, VectorInput, WriteOrdering, DEFAULT_MMR_DIVERSITY,
    DEFAULT_RRF_K,
};

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
    timeout: Option<u64>,
) -> Result<crate::service::ReadOptions> {
    Ok(crate::service::ReadOptions {
        consistency: consistency_from_proto(consistency)?,
        shard_key: shard_key_selector_from_proto(shard_key)?,
        timeout,
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

pub fn search_params_from_proto(params: Option<q::SearchParams>) -> Result<t::SearchParams> {
    let Some(params) = params else {
        return Ok(t::SearchParams::default());
    };
    let idf = match params.idf {
        None => None,
        Some(q::IdfParams { corpus: None }) => Some(t::IdfParams::Scope(t::IdfScope::Global)),
        Some(q::IdfParams {
            corpus: Some(filter),
        }) => Some(t::IdfParams::Corpus {
            corpus: filter_from_proto(filter)?,
        }),
    };
    Ok(t::SearchParams {
        hnsw_ef: params.hnsw_ef.map(|ef| ef as usize),
        exact: params.exact.unwrap_or(false),
        quantization: params.quantization.map(search_quantization_from_proto),
        indexed_only: params.indexed_only,
        acorn: params.acorn.map(|a| {
            object([
                ("enable", a.enable.map(Json::from)),
                ("max_selectivity", a.max_selectivity.map(Json::from)),
            ])
        }),
        idf,
    })
}

pub fn update_mode_from_proto(mode: i32) -> Result<t::UpdateMode> {
    Ok(match enum_value::<q::UpdateMode>(mode, "update_mode")? {
        q::UpdateMode::Upsert => t::UpdateMode::Upsert,
        q::UpdateMode::InsertOnly => t::UpdateMode::InsertOnly,
        q::UpdateMode::UpdateOnly => t::UpdateMode::UpdateOnly,
    })
}

/// The query vector of the older search calls: sparse when `indices` are given.
pub(crate) fn search_vector(values: Vec<f32>, indices: Option<q::SparseIndices>) -> t::Vector {
    match indices {
        Some(indices) => t::Vector::Sparse(t::SparseVector {
            indices: indices.data,
            values,
        }),
        None => t::Vector::Dense(values),
    }
}

pub fn search_from_proto(request: q::SearchPoints) -> Result<t::SearchRequest> {
    Ok(t::SearchRequest {
        vector: search_vector(request.vector, request.sparse_indices),
        using: request.vector_name.unwrap_or_default(),
        filter: optional_filter_from_proto(request.filter)?,
        limit: request.limit as usize,
        offset: request.offset.unwrap_or(0) as usize,
        with_payload: with_payload_from_proto(request.with_payload, false)?,
        with_vector: with_vector_from_proto(request.with_vectors),
        score_threshold: request.score_threshold,
        params: search_params_from_proto(request.params)?,
    })
}

fn order_by_from_proto(order: q::OrderBy) -> Result<t::OrderBy> {
    use q::start_from::Value as V;
    let start_from = match order.start_from.and_then(|s| s.value) {
        None => None,
        Some(V::Float(f)) => Some(f),
        Some(V::Integer(i)) => Some(i as f64),
        Some(V::Timestamp(t)) => Some(t.seconds as f64 + f64::from(t.nanos) / 1e9),
        Some(V::Datetime(text)) => Some(
            tessera_types::time::parse_datetime(&text)
                .ok_or_else(|| bad_input(format!("`{text}` is not an RFC 3339 datetime")))?,
        ),
    };
    let direction = match order.direction.map(q::Direction::try_from) {
        None => None,
        Some(Ok(q::Direction::Asc)) => Some(t::Direction::Asc),
        Some(Ok(q::Direction::Desc)) => Some(t::Direction::Desc),
        Some(Err(_)) => return Err(bad_input("Unknown order_by direction")),
    };
    Ok(t::OrderBy {
        key: order.key,
        direction,
        start_from,
    })
}

pub fn scroll_from_proto(request: q::ScrollPoints) -> Result<t::ScrollRequest> {
    Ok(t::ScrollRequest {
        order_by: request.order_by.map(order_by_from_proto).transpose()?,
        offset: request.offset.map(point_id_from_proto).transpose()?,
        limit: request.limit.map_or(DEFAULT_LIMIT, |l| l as usize),
        filter: optional_filter_from_proto(request.filter)?,
        with_payload: with_payload_from_proto(request.with_payload, true)?,
        with_vector: with_vector_from_proto(request.with_vectors),
    })
}

fn vector_input_from_proto(input: q::VectorInput) -> Result<VectorInput> {
    use q::vector_input::Variant as I;
    match input.variant {
        Some(I::Dense(dense)) => Ok(VectorInput::Vector(t::Vector::Dense(dense.data))),
        Some(I::Id(id)) => Ok(VectorInput::Point(point_id_from_proto(id)?)),
        Some(I::Sparse(s)) => Ok(VectorInput::Vector(t::Vector::Sparse(t::SparseVector {
            indices: s.indices,
            values: s.values,
        }))),
        Some(I::MultiDense(m)) => Ok(VectorInput::Vector(multi_from_proto(m))),
        Some(I::Document(document)) => {
            let vector = document_from_proto(document)?.embed(Purpose::Query)?;
            Ok(VectorInput::Vector(t::Vector::Sparse(vector)))
        }
        Some(I::Image(_) | I::Object(_)) => Err(inference::no_inference_service()),
        None => Err(bad_input("A query input has no vector")),
    }
}

fn context_pairs_from_proto(
    context: Option<q::ContextInput>,
) -> Result<Vec<(VectorInput, VectorInput)>> {
    context
        .map(|c| c.pairs)
        .unwrap_or_default()
        .into_iter()
        .map(|pair| {
            let side = |v: Option<q::VectorInput>| {
                v.ok_or_else(|| bad_input("A context pair needs a positive and a negative"))
                    .and_then(vector_input_from_proto)
            };
            Ok((side(pair.positive)?, side(pair.negative)?))
        })
        .collect()
}

fn recommend_strategy_from_proto(strategy: Option<i32>) -> Result<RecommendStrategy> {
    match strategy.map(q::RecommendStrategy::try_from) {
        None | Some(Ok(q::RecommendStrategy::AverageVector)) => {
            Ok(RecommendStrategy::AverageVector)
        }
        Some(Ok(q::RecommendStrategy::BestScore)) => Ok(RecommendStrategy::BestScore),
        Some(Ok(q::RecommendStrategy::SumScores)) => Ok(RecommendStrategy::SumScores),
        Some(Err(_)) => Err(bad_input("Unknown recommend strategy")),
    }
}

fn recommend_from_proto(input: q::RecommendInput) -> Result<Recommend> {
    Ok(Recommend {
        positive: input
            .positive
            .into_iter()
            .map(vector_input_from_proto)
            .collect::<Result<_>>()?,
        negative: input
            .negative
            .into_iter()
            .map(vector_input_from_proto)
            .collect::<Result<_>>()?,
        strategy: recommend_strategy_from_proto(input.strategy)?,
    })
}

fn query_variant_from_proto(query: q::Query) -> Result<Query> {
    use q::query::Variant as V;
    Ok(match query.variant {
        Some(V::Nearest(input)) => {
            return Ok(match vector_input_from_proto(input)? {
                VectorInput::Vector(v) => Query::Nearest(v),
                VectorInput::Point(id) => Query::NearestToPoint(id),
            })
        }
        Some(V::Recommend(input)) => return Ok(Query::Recommend(recommend_from_proto(input)?)),
        Some(V::Fusion(fusion)) => {
            return match q::Fusion::try_from(fusion) {
                Ok(q::Fusion::Rrf) => Ok(Query::Fusion(Fusion::Rrf {
                    k: DEFAULT_RRF_K,
                    weights: None,
                })),
                Ok(q::Fusion::Dbsf) => Ok(Query::Fusion(Fusion::Dbsf)),
                Err(_) => Err(bad_input("Unknown fusion")),
            }
        }
        Some(V::Rrf(rrf)) => {
            if rrf.k == Some(0) {
                return Err(bad_input("rrf.k must be 1 or more"));
            }
            return Ok(Query::Fusion(Fusion::Rrf {
                k: rrf.k.map_or(DEFAULT_RRF_K, |k| k as usize),
                weights: (!rrf.weights.is_empty()).then_some(rrf.weights),
            }));
        }
        Some(V::Discover(input)) => {
            let target = input
                .target
                .ok_or_else(|| bad_input("Discover query has no target"))?;
            return Ok(Query::Discover(Discover {
                target: vector_input_from_proto(target)?,
                context: context_pairs_from_proto(input.context)?,
            }));
        }
        Some(V::Context(input)) => {
            return Ok(Query::Context(context_pairs_from_proto(Some(input))?))
        }
        Some(V::OrderBy(order)) => return Ok(Query::OrderBy(order_by_from_proto(order)?)),
        Some(V::Sample(sample)) => {
            return match q::Sample::try_from(sample) {
                Ok(q::Sample::Random) => Ok(Query::SampleRandom),
                Err(_) => Err(bad_input("Unknown sample")),
            }
        }
        Some(V::Formula(formula)) => {
            return Ok(Query::Formula(Box::new(formula_from_proto(formula)?)))
        }
        Some(V::NearestWithMmr(input)) => {
            let nearest = input
                .nearest
                .ok_or_else(|| bad_input("A nearest query with MMR has no vector"))?;
            let mmr = input.mmr.unwrap_or_default();
            return Ok(Query::Mmr(Mmr {
                nearest: vector_input_from_proto(nearest)?,
                diversity: mmr.diversity.unwrap_or(DEFAULT_MMR_DIVERSITY),
                candidates_limit: mmr.candidates_limit.map(|n| n as usize),
            }));
        }
        Some(V::RelevanceFeedback(input)) => {
            return Ok(Query::RelevanceFeedback(
                feedback::relevance_feedback_from_proto(input)?,
            ))
        }
        Some(V::Text(text)) => Query::Text(text::text_query_from_proto(text)),
        None => return Err(bad_input("Query is empty")),
    })
}

fn lookup_from_proto(lookup: Option<q::LookupLocation>) -> Result<Option<LookupFrom>> {
    lookup
        .map(|l| {
            if l.shard_key_selector.is_some() {
                return Err(unsupported(
                    "lookup_from with a shard key is not supported yet",
                ));
            }
            Ok(LookupFrom {
                collection: l.collection_name,
                vector: l.vector_name,
            })
        })
        .transpose()
}

fn prefetch_from_proto(p: q::PrefetchQuery) -> Result<Prefetch> {
    Ok(Prefetch {
        lookup_from: lookup_from_proto(p.lookup_from)?,
        query: p.query.map(query_variant_from_proto).transpose()?,
        prefetch: p
            .prefetch
            .into_iter()
            .map(prefetch_from_proto)
            .collect::<Result<_>>()?,
        using: p.using.unwrap_or_default(),
        filter: optional_filter_from_proto(p.filter)?,
        limit: p.limit.map_or(DEFAULT_LIMIT, |l| l as usize),
        params: search_params_from_proto(p.params)?,
        score_threshold: p.score_threshold,
    })
}

pub fn query_from_proto(request: q::QueryPoints) -> Result<QueryRequest> {
    Ok(QueryRequest {
        lookup_from: lookup_from_proto(request.lookup_from)?,
        query: request.query.map(query_variant_from_proto).transpose()?,
        prefetch: request
            .prefetch
            .into_iter()
            .map(prefetch_from_proto)
            .collect::<Result<_>>()?,
        using: request.using.unwrap_or_default(),
        filter: optional_filter_from_proto(request.filter)?,
        limit: request.limit.map_or(DEFAULT_LIMIT, |l| l as usize),
        offset: request.offset.unwrap_or(0) as usize,
        with_payload: with_payload_from_proto(request.with_payload, false)?,
        with_vector: with_vector_from_proto(request.with_vectors),
        score_threshold: request.score_threshold,
        params: search_params_from_proto(request.params)?,
    })
}

/// The older `Recommend` call, as a recommend query.
pub fn recommend_from_points(request: q::RecommendPoints) -> Result<QueryRequest> {
    let lookup_from = lookup_from_proto(request.lookup_from)?;
    let ids = |ids: Vec<q::PointId>| -> Result<Vec<VectorInput>> {
        ids.into_iter()
            .map(|id| point_id_from_proto(id).map(VectorInput::Point))
            .collect()
    };
    let vectors = |vectors: Vec<q::Vector>| -> Result<Vec<VectorInput>> {
        vectors
            .into_iter()
            .map(|v| vector_from_proto(v).map(VectorInput::Vector))
            .collect()
    };
    let mut positive = ids(request.positive)?;
    positive.extend(vectors(request.positive_vectors)?);
    let mut negative = ids(request.negative)?;
    negative.extend(vectors(request.negative_vectors)?);
    Ok(QueryRequest {
        lookup_from,
        query: Some(Query::Recommend(Recommend {
            positive,
            negative,
            strategy: recommend_strategy_from_proto(request.strategy)?,
        })),
        prefetch: Vec::new(),
        using: request.using.unwrap_or_default(),
        filter: optional_filter_from_proto(request.filter)?,
        limit: request.limit as usize,
        offset: request.offset.unwrap_or(0) as usize,
        with_payload: with_payload_from_proto(request.with_payload, false)?,
        with_vector: with_vector_from_proto(request.with_vectors),
        score_threshold: request.score_threshold,
        params: search_params_from_proto(request.params)?,
    })
}

fn vector_example_from_proto(example: Option<q::VectorExample>) -> Result<VectorInput> {
    use q::vector_example::Example;
    match example.and_then(|e| e.example) {
        Some(Example::Id(id)) => point_id_from_proto(id).map(VectorInput::Point),
        Some(Example::Vector(vector)) => vector_from_proto(vector).map(VectorInput::Vector),
        None => Err(bad_input("A vector example needs an id or a vector")),
    }
}

/// The older `Discover` call, as a discover query (a context query without a
/// target), as `points/discover` is over REST.
pub fn discover_from_points(request: q::DiscoverPoints) -> Result<QueryRequest> {
    let context = request
        .context
        .into_iter()
        .map(|pair| {
            Ok((
                vector_example_from_proto(pair.positive)?,
                vector_example_from_proto(pair.negative)?,
            ))
        })
        .collect::<Result<Vec<_>>>()?;
    let query = match request.target.and_then(|t| t.target) {
        Some(q::target_vector::Target::Single(example)) => Query::Discover(Discover {
            target: vector_example_from_proto(Some(example))?,
            context,
        }),
        None => Query::Context(context),
    };
    Ok(QueryRequest {
        lookup_from: lookup_from_proto(request.lookup_from)?,
        query: Some(query),
        prefetch: Vec::new(),
        using: request.using.unwrap_or_default(),
        filter: optional_filter_from_proto(request.filter)?,
        limit: request.limit as usize,
        offset: request.offset.unwrap_or(0) as usize,
        with_payload: with_payload_from_proto(request.with_payload, false)?,
        with_vector: with_vector_from_proto(request.with_vectors),
        score_threshold: None,
        params: search_params_from_proto(request.params)?,
    })
}

mod aliases;
mod batch;
mod cluster;
mod collections;
mod feedback;
mod filters;
mod formula;
mod groups;
mod payload_index;
mod quantization;
mod text;
mod vectors;
pub use aliases::*;
pub use batch::*;
pub use cluster::*;
pub use collections::*;
pub use filters::*;
pub use formula::*;
pub use groups::*;
use quantization::search_quantization_from_proto;
use vectors::{document_from_proto, multi_from_proto, vector_from_proto};
pub use vectors::{point_from_proto, point_vectors_from_proto, vectors_to_proto};

#[cfg(test)]
mod tests;
