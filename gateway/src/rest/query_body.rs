//! Bodies of the universal query (`points/query`, with nested `prefetch`) and
//! of `points/recommend`, and their translation into the service's queries.

use serde::Deserialize;
use serde_json::Value;
use tessera_types::{
    Filter, PointId, SearchParams, ShardKeySelector, SparseVector, TesseraError, Vector,
    WithPayload, WithVector,
};

use crate::inference::{self, Purpose};
use crate::service::{
    Discover, FacetRequest, Fusion, GroupsRequest, LookupFrom, MatrixRequest, Mmr, Prefetch, Query,
    QueryRequest, Recommend, RecommendStrategy, VectorInput, WithLookup, DEFAULT_MMR_DIVERSITY,
};

type Result<T> = std::result::Result<T, TesseraError>;

const DEFAULT_LIMIT: usize = 10;

/// One item or a list of them, as Qdrant accepts for `prefetch`.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum OneOrMany<T> {
    // First: a struct would also accept a list, taking its items as fields.
    Many(Vec<T>),
    One(Box<T>),
}

impl<T> OneOrMany<T> {
    fn into_vec(self) -> Vec<T> {
        match self {
            OneOrMany::One(one) => vec![*one],
            OneOrMany::Many(many) => many,
        }
    }
}

#[derive(Deserialize, schemars::JsonSchema)]
pub struct PrefetchBody {
    #[serde(default)]
    pub prefetch: Option<OneOrMany<PrefetchBody>>,
    #[serde(default)]
    pub query: Option<Value>,
    #[serde(default)]
    pub using: Option<String>,
    #[serde(default)]
    pub filter: Option<Filter>,
    #[serde(default)]
    pub params: Option<SearchParams>,
    #[serde(default)]
    pub score_threshold: Option<f32>,
    #[serde(default)]
    pub limit: Option<usize>,
    #[serde(default)]
    pub lookup_from: Option<Value>,
}

#[derive(Deserialize, schemars::JsonSchema)]
pub struct QueryBody {
    #[serde(default)]
    pub prefetch: Option<OneOrMany<PrefetchBody>>,
    #[serde(default)]
    pub query: Option<Value>,
    #[serde(default)]
    pub using: Option<String>,
    #[serde(default)]
    pub filter: Option<Filter>,
    #[serde(default)]
    pub params: Option<SearchParams>,
    #[serde(default)]
    pub limit: Option<usize>,
    #[serde(default)]
    pub offset: Option<usize>,
    #[serde(default)]
    pub with_payload: Option<WithPayload>,
    #[serde(default, alias = "with_vectors")]
    pub with_vector: Option<WithVector>,
    #[serde(default)]
    pub score_threshold: Option<f32>,
    #[serde(default)]
    pub lookup_from: Option<Value>,
    /// Under custom sharding: the shard keys to read (all when absent).
    #[serde(default)]
    pub shard_key: Option<ShardKeySelector>,
}

#[derive(Deserialize, schemars::JsonSchema)]
pub struct QueryBatchBody {
    pub searches: Vec<QueryBody>,
}

/// `points/recommend`.
#[derive(Deserialize, schemars::JsonSchema)]
pub struct RecommendBody {
    #[serde(default)]
    pub positive: Vec<Value>,
    #[serde(default)]
    pub negative: Vec<Value>,
    #[serde(default)]
    pub strategy: Option<Value>,
    #[serde(default)]
    pub using: Option<String>,
    #[serde(default)]
    pub filter: Option<Filter>,
    #[serde(default)]
    pub params: Option<SearchParams>,
    pub limit: usize,
    #[serde(default)]
    pub offset: Option<usize>,
    #[serde(default)]
    pub with_payload: Option<WithPayload>,
    #[serde(default, alias = "with_vectors")]
    pub with_vector: Option<WithVector>,
    #[serde(default)]
    pub score_threshold: Option<f32>,
    #[serde(default)]
    pub lookup_from: Option<Value>,
    #[serde(default)]
    pub shard_key: Option<ShardKeySelector>,
}

#[derive(Deserialize, schemars::JsonSchema)]
pub struct RecommendBatchBody {
    pub searches: Vec<RecommendBody>,
}

/// `lookup_from`: `{"collection": ..., "vector": ...}`.
fn lookup_from(value: Option<Value>) -> Result<Option<LookupFrom>> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Location {
        collection: String,
        #[serde(default)]
        vector: Option<String>,
        #[serde(default)]
        shard_key: Option<Value>,
    }
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(v) => {
            let l: Location =
                serde_json::from_value(v).map_err(|e| format_error("lookup_from", e))?;
            if l.shard_key.is_some_and(|k| !k.is_null()) {
                return Err(TesseraError::Unimplemented(
                    "`lookup_from.shard_key`".into(),
                ));
            }
            Ok(Some(LookupFrom {
                collection: l.collection,
                vector: l.vector,
            }))
        }
    }
}

/// The prefetches under the request part at `path` (named in validation errors).
fn prefetches(prefetch: Option<OneOrMany<PrefetchBody>>, path: &str) -> Result<Vec<Prefetch>> {
    prefetch
        .map(OneOrMany::into_vec)
        .unwrap_or_default()
        .into_iter()
        .enumerate()
        .map(|(i, b)| {
            let path = format!("{path}.prefetch[{i}]");
            Ok(Prefetch {
                lookup_from: lookup_from(b.lookup_from)?,
                query: optional_query(b.query, &path)?,
                prefetch: prefetches(b.prefetch, &path)?,
                using: b.using.unwrap_or_default(),
                filter: b.filter,
                limit: b.limit.unwrap_or(DEFAULT_LIMIT),
                params: b.params.unwrap_or_default(),
                score_threshold: b.score_threshold,
            })
        })
        .collect()
}

fn optional_query(query: Option<Value>, path: &str) -> Result<Option<Query>> {
    match query {
        None | Some(Value::Null) => Ok(None),
        Some(q) => parse_query(q, &format!("{path}.query")).map(Some),
    }
}

impl TryFrom<QueryBody> for QueryRequest {
    type Error = TesseraError;
    fn try_from(b: QueryBody) -> Result<Self> {
        if b.limit == Some(0) {
            // Qdrant names the field by its internal request's path.
            return Err(TesseraError::validation(
                "[internal.limit: value 0 invalid, must be 1 or larger]",
            ));
        }
        Ok(QueryRequest {
            lookup_from: lookup_from(b.lookup_from)?,
            // Qdrant names fields by its internal request's path.
            query: optional_query(b.query, "internal")?,
            prefetch: prefetches(b.prefetch, "internal")?,
            using: b.using.unwrap_or_default(),
            filter: b.filter,
            limit: b.limit.unwrap_or(DEFAULT_LIMIT),
            offset: b.offset.unwrap_or(0),
            with_payload: b.with_payload.unwrap_or_default(),
            with_vector: b.with_vector.unwrap_or_default(),
            score_threshold: b.score_threshold,
            params: b.params.unwrap_or_default(),
        })
    }
}

impl TryFrom<RecommendBody> for QueryRequest {
    type Error = TesseraError;
    fn try_from(b: RecommendBody) -> Result<Self> {
        let lookup_from = lookup_from(b.lookup_from)?;
        let recommend = Recommend {
            positive: b
                .positive
                .into_iter()
                .map(vector_input)
                .collect::<Result<_>>()?,
            negative: b
                .negative
                .into_iter()
                .map(vector_input)
                .collect::<Result<_>>()?,
            strategy: strategy(b.strategy)?,
        };
        Ok(QueryRequest {
            lookup_from,
            query: Some(Query::Recommend(recommend)),
            prefetch: Vec::new(),
            using: b.using.unwrap_or_default(),
            filter: b.filter,
            limit: b.limit,
            offset: b.offset.unwrap_or(0),
            with_payload: b.with_payload.unwrap_or_default(),
            with_vector: b.with_vector.unwrap_or_default(),
            score_threshold: b.score_threshold,
            params: b.params.unwrap_or_default(),
        })
    }
}

pub(super) fn format_error(what: &str, e: impl std::fmt::Display) -> TesseraError {
    TesseraError::malformed_body(format!("{what}: {e}"))
}

/// A vector (dense, or sparse as `{indices, values}`), or a point id standing
/// for its stored vector.
pub(super) fn vector_input(v: Value) -> Result<VectorInput> {
    match v {
        Value::Array(_) => serde_json::from_value::<Vector>(v)
            .map(VectorInput::Vector)
            .map_err(|_| {
                TesseraError::malformed_body(
                    "a query vector is a list of numbers or of lists of numbers",
                )
            }),
        Value::Number(_) | Value::String(_) => serde_json::from_value::<PointId>(v)
            .map(VectorInput::Point)
            .map_err(|e| format_error("point id", e)),
        Value::Object(ref map) if map.contains_key("indices") => {
            serde_json::from_value::<SparseVector>(v)
                .map(|v| VectorInput::Vector(Vector::Sparse(v)))
                .map_err(|e| format_error("sparse vector", e))
        }
        // As in Qdrant, only the query API embeds inputs.
        Value::Object(ref map) if map.contains_key("model") => Err(TesseraError::malformed_body(
            "a document, image or object is taken by the query API only",
        )),
        _ => Err(TesseraError::malformed_body(
            "expected a vector or a point id",
        )),
    }
}

/// An input of the query API: also a document, embedded as a query.
fn query_input(v: Value) -> Result<VectorInput> {
    if inference::is_inference_input(&v) {
        return inference::embed_json(v, Purpose::Query).map(VectorInput::Vector);
    }
    vector_input(v)
}

fn strategy(v: Option<Value>) -> Result<RecommendStrategy> {
    match v.as_ref().and_then(Value::as_str) {
        None if v.as_ref().is_none_or(Value::is_null) => Ok(RecommendStrategy::AverageVector),
        Some("average_vector") => Ok(RecommendStrategy::AverageVector),
        Some("best_score") => Ok(RecommendStrategy::BestScore),
        Some("sum_scores") => Ok(RecommendStrategy::SumScores),
        _ => Err(TesseraError::malformed_body(format!(
            "unknown recommend strategy {}",
            v.unwrap_or_default()
        ))),
    }
}

/// `query`: a vector, a point id, or an object naming the kind of query;
/// `path` is where it sits in the request.
fn parse_query(q: Value, path: &str) -> Result<Query> {
    let map = match q {
        Value::Object(map) if !map.contains_key("indices") && !map.contains_key("model") => map,
        vector => {
            return match query_input(vector)? {
                VectorInput::Vector(v) => Ok(Query::Nearest(v)),
                VectorInput::Point(id) => Ok(Query::NearestToPoint(id)),
            }
        }
    };
    // Clients send optional parameters as nulls (e.g. `"mmr": null`).
    let mut map: serde_json::Map<String, Value> =
        map.into_iter().filter(|(_, v)| !v.is_null()).collect();
    if let (Some(mmr), true) = (map.remove("mmr"), map.contains_key("nearest")) {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct MmrParams {
            #[serde(default)]
            diversity: Option<f32>,
            #[serde(default)]
            candidates_limit: Option<usize>,
        }
        let params: MmrParams = serde_json::from_value(mmr).map_err(|e| format_error("mmr", e))?;
        let nearest = map.remove("nearest").unwrap_or_default();
        return Ok(Query::Mmr(Mmr {
            nearest: query_input(nearest)?,
            diversity: params.diversity.unwrap_or(DEFAULT_MMR_DIVERSITY),
            candidates_limit: params.candidates_limit,
        }));
    }
    if map.contains_key("formula") {
        let formula =
            serde_json::from_value(Value::Object(map)).map_err(|e| format_error("formula", e))?;
        return Ok(Query::Formula(Box::new(formula)));
    }
    if map.len() != 1 {
        let keys: Vec<&str> = map.keys().map(String::as_str).collect();
        return Err(TesseraError::malformed_body(format!(
            "a query object names exactly one kind of query, not {keys:?}"
        )));
    }
    let (kind, inner) = map.into_iter().next().expect("one entry");
    match kind.as_str() {
        "nearest" => parse_query(inner, path),
        "recommend" => {
            let input: RecommendInput =
                serde_json::from_value(inner).map_err(|e| format_error("recommend", e))?;
            Ok(Query::Recommend(Recommend {
                positive: input.positive.into_iter().map(query_input).collect::<Result<_>>()?,
                negative: input.negative.into_iter().map(query_input).collect::<Result<_>>()?,
                strategy: strategy(input.strategy)?,
            }))
        }
        "order_by" => Ok(Query::OrderBy(
            super::model::parse_order_by(Some(inner))?
                .ok_or_else(|| TesseraError::malformed_body("order_by is empty"))?,
        )),
        "discover" => {
            let input: DiscoverInput =
                serde_json::from_value(inner).map_err(|e| format_error("discover", e))?;
            Ok(Query::Discover(Discover {
                target: query_input(input.target)?,
                context: context_pairs(input.context, query_input)?,
            }))
        }
        "context" => Ok(Query::Context(context_pairs(inner, query_input)?)),
        "sample" => match inner.as_str() {
            Some("random") => Ok(Query::SampleRandom),
            _ => Err(TesseraError::malformed_body(format!("unknown sample {inner}: use random"
            ))),
        },
        "fusion" => match inner.as_str() {
            Some("rrf") => Ok(Query::Fusion(Fusion::Rrf {
                k: crate::service::DEFAULT_RRF_K,
                weights: None,
            })),
            Some("dbsf") => Ok(Query::Fusion(Fusion::Dbsf)),
            _ => Err(TesseraError::malformed_body(format!("unknown fusion {inner}: use rrf or dbsf"
            ))),
        },
        "rrf" => {
            let rrf: RrfParams = serde_json::from_value(inner).map_err(|e| format_error("rrf", e))?;
            if rrf.k == Some(0) {
                return Err(TesseraError::validation(
                    "[rrf.k: value 0 invalid, must be 1 or more]",
                ));
            }
            Ok(Query::Fusion(Fusion::Rrf {
                k: rrf.k.unwrap_or(crate::service::DEFAULT_RRF_K),
                weights: rrf.weights,
            }))
        }
        "relevance_feedback" => Ok(Query::RelevanceFeedback(super::query_feedback::parse(
            inner,
            &format!("{path}.relevance_feedback"),
        )?)),
        "text" => Ok(Query::Text(super::query_text::parse(inner)?)),
        other => Err(TesseraError::malformed_body(format!("unknown query type `{other}`: Tessera supports nearest, recommend, discover, context, order_by, sample, formula, fusion (rrf, dbsf), relevance_feedback and text queries"
        ))),
    }
}

#[derive(Deserialize)]
struct RecommendInput {
    #[serde(default)]
    positive: Vec<Value>,
    #[serde(default)]
    negative: Vec<Value>,
    #[serde(default)]
    strategy: Option<Value>,
}

#[derive(Deserialize)]
struct DiscoverInput {
    target: Value,
    #[serde(default)]
    context: Value,
}

#[derive(Deserialize)]
struct ContextPair {
    positive: Value,
    negative: Value,
}

/// `context`: one `{"positive", "negative"}` pair or a list of them, each side
/// read by `input`.
fn context_pairs(
    value: Value,
    input: fn(Value) -> Result<VectorInput>,
) -> Result<Vec<(VectorInput, VectorInput)>> {
    let pairs: Vec<ContextPair> = match value {
        Value::Null => Vec::new(),
        Value::Array(_) => serde_json::from_value(value).map_err(|e| format_error("context", e))?,
        single => vec![serde_json::from_value(single).map_err(|e| format_error("context", e))?],
    };
    pairs
        .into_iter()
        .map(|p| Ok((input(p.positive)?, input(p.negative)?)))
        .collect()
}

/// `points/discover`: a target within a context, or a context alone.
#[derive(Deserialize, schemars::JsonSchema)]
pub struct DiscoverBody {
    #[serde(default)]
    pub target: Option<Value>,
    #[serde(default)]
    pub context: Value,
    #[serde(default)]
    pub using: Option<String>,
    #[serde(default)]
    pub filter: Option<Filter>,
    #[serde(default)]
    pub params: Option<SearchParams>,
    pub limit: usize,
    #[serde(default)]
    pub offset: Option<usize>,
    #[serde(default)]
    pub with_payload: Option<WithPayload>,
    #[serde(default, alias = "with_vectors")]
    pub with_vector: Option<WithVector>,
    #[serde(default)]
    pub lookup_from: Option<Value>,
    #[serde(default)]
    pub shard_key: Option<ShardKeySelector>,
}

#[derive(Deserialize, schemars::JsonSchema)]
pub struct DiscoverBatchBody {
    pub searches: Vec<DiscoverBody>,
}

impl TryFrom<DiscoverBody> for QueryRequest {
    type Error = TesseraError;
    fn try_from(b: DiscoverBody) -> Result<Self> {
        let context = context_pairs(b.context, vector_input)?;
        let query = match b.target {
            Some(target) if !target.is_null() => Query::Discover(Discover {
                target: vector_input(target)?,
                context,
            }),
            _ => Query::Context(context),
        };
        Ok(QueryRequest {
            lookup_from: lookup_from(b.lookup_from)?,
            query: Some(query),
            prefetch: Vec::new(),
            using: b.using.unwrap_or_default(),
            filter: b.filter,
            limit: b.limit,
            offset: b.offset.unwrap_or(0),
            with_payload: b.with_payload.unwrap_or_default(),
            with_vector: b.with_vector.unwrap_or_default(),
            score_threshold: None,
            params: b.params.unwrap_or_default(),
        })
    }
}

#[derive(Deserialize)]
struct RrfParams {
    #[serde(default)]
    k: Option<usize>,
    #[serde(default)]
    weights: Option<Vec<f32>>,
}

/// `points/search/groups`.
#[derive(Deserialize, schemars::JsonSchema)]
pub struct SearchGroupsBody {
    pub vector: super::model::NamedVectorStruct,
    #[serde(default)]
    pub filter: Option<Filter>,
    #[serde(default)]
    pub params: Option<SearchParams>,
    #[serde(default)]
    pub with_payload: Option<WithPayload>,
    #[serde(default, alias = "with_vectors")]
    pub with_vector: Option<WithVector>,
    #[serde(default)]
    pub score_threshold: Option<f32>,
    pub group_by: String,
    pub group_size: usize,
    pub limit: usize,
    #[serde(default)]
    pub with_lookup: Option<Value>,
    #[serde(default)]
    pub shard_key: Option<ShardKeySelector>,
}

/// `points/query/groups`: a query body plus the grouping.
#[derive(Deserialize, schemars::JsonSchema)]
pub struct QueryGroupsBody {
    #[serde(flatten)]
    pub query: QueryBody,
    pub group_by: String,
    #[serde(default)]
    pub group_size: Option<usize>,
    #[serde(default)]
    pub with_lookup: Option<Value>,
}

/// `with_lookup`: a collection name, or `{collection, with_payload, with_vectors}`.
fn with_lookup(value: Option<Value>) -> Result<Option<WithLookup>> {
    #[derive(Deserialize)]
    struct Full {
        collection: String,
        #[serde(default)]
        with_payload: Option<WithPayload>,
        #[serde(default, alias = "with_vector")]
        with_vectors: Option<WithVector>,
    }
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(collection)) => Ok(Some(WithLookup {
            collection,
            with_payload: WithPayload::Enable(true),
            with_vector: WithVector::Enable(false),
        })),
        Some(other) => {
            let full: Full =
                serde_json::from_value(other).map_err(|e| format_error("with_lookup", e))?;
            Ok(Some(WithLookup {
                collection: full.collection,
                with_payload: full.with_payload.unwrap_or(WithPayload::Enable(true)),
                with_vector: full.with_vectors.unwrap_or(WithVector::Enable(false)),
            }))
        }
    }
}

impl TryFrom<SearchGroupsBody> for GroupsRequest {
    type Error = TesseraError;
    fn try_from(b: SearchGroupsBody) -> Result<Self> {
        let (using, vector) = b.vector.into_parts();
        Ok(GroupsRequest {
            query: QueryRequest {
                lookup_from: None,
                query: Some(Query::Nearest(vector)),
                prefetch: Vec::new(),
                using,
                filter: b.filter,
                limit: b.limit,
                offset: 0,
                with_payload: b.with_payload.unwrap_or(WithPayload::Enable(false)),
                with_vector: b.with_vector.unwrap_or_default(),
                score_threshold: b.score_threshold,
                params: b.params.unwrap_or_default(),
            },
            group_by: b.group_by,
            group_size: b.group_size,
            limit: b.limit,
            with_lookup: with_lookup(b.with_lookup)?,
        })
    }
}

impl TryFrom<QueryGroupsBody> for GroupsRequest {
    type Error = TesseraError;
    fn try_from(b: QueryGroupsBody) -> Result<Self> {
        let query = QueryRequest::try_from(b.query)?;
        Ok(GroupsRequest {
            limit: query.limit,
            query,
            group_by: b.group_by,
            group_size: b.group_size.unwrap_or(3),
            with_lookup: with_lookup(b.with_lookup)?,
        })
    }
}

/// `points/search/matrix/pairs` and `.../offsets`.
#[derive(Deserialize, schemars::JsonSchema)]
pub struct MatrixBody {
    #[serde(default)]
    pub filter: Option<Filter>,
    #[serde(default)]
    pub sample: Option<usize>,
    #[serde(default)]
    pub limit: Option<usize>,
    #[serde(default)]
    pub using: Option<String>,
    #[serde(default)]
    pub shard_key: Option<ShardKeySelector>,
}

impl From<MatrixBody> for MatrixRequest {
    fn from(b: MatrixBody) -> Self {
        MatrixRequest {
            filter: b.filter,
            sample: b.sample.unwrap_or(10),
            limit: b.limit.unwrap_or(3),
            using: b.using.unwrap_or_default(),
        }
    }
}

/// `POST /collections/{c}/facet`.
#[derive(Deserialize, schemars::JsonSchema)]
pub struct FacetBody {
    pub key: String,
    #[serde(default)]
    pub filter: Option<Filter>,
    #[serde(default)]
    pub limit: Option<usize>,
    /// Counts here are always exact.
    #[serde(default)]
    pub exact: Option<bool>,
    #[serde(default)]
    pub shard_key: Option<ShardKeySelector>,
}

impl From<FacetBody> for FacetRequest {
    fn from(b: FacetBody) -> Self {
        FacetRequest {
            key: b.key,
            filter: b.filter,
            limit: b.limit.unwrap_or(10),
        }
    }
}

/// `points/recommend/groups`: a recommend body plus the grouping.
#[derive(Deserialize, schemars::JsonSchema)]
pub struct RecommendGroupsBody {
    #[serde(flatten)]
    pub recommend: RecommendBody,
    pub group_by: String,
    pub group_size: usize,
    #[serde(default)]
    pub with_lookup: Option<Value>,
}

impl TryFrom<RecommendGroupsBody> for GroupsRequest {
    type Error = TesseraError;
    fn try_from(b: RecommendGroupsBody) -> Result<Self> {
        let query = QueryRequest::try_from(b.recommend)?;
        Ok(GroupsRequest {
            limit: query.limit,
            query,
            group_by: b.group_by,
            group_size: b.group_size,
            with_lookup: with_lookup(b.with_lookup)?,
        })
    }
}
