//! Request bodies and query parameters of the REST API, and their translation
//! into the service's domain requests.

use std::collections::{BTreeMap, HashMap};

use serde::Deserialize;
use tessera_types::{
    Filter, Payload, Point, PointId, PointSelection, PointStruct, SearchParams, SearchRequest,
    ShardKeySelector, ShardOperation, TesseraError, UpdateMode, Vector, WithPayload, WithVector,
};

use crate::service::{ReadOptions, WriteOrdering};

type Result<T> = std::result::Result<T, TesseraError>;

/// `?wait=` and `?ordering=` on writes.
pub struct WriteParams {
    pub wait: bool,
    pub ordering: WriteOrdering,
}

impl WriteParams {
    pub fn parse(query: &HashMap<String, String>) -> Result<Self> {
        let wait = match query.get("wait").map(String::as_str) {
            None | Some("false") => false,
            Some("true") | Some("") => true,
            Some(other) => {
                return Err(TesseraError::bad_input(format!(
                    "Query parameter `wait` must be true or false, not `{other}`"
                )))
            }
        };
        let ordering = match query.get("ordering").map(String::as_str) {
            None | Some("weak") => WriteOrdering::Weak,
            Some("medium") => WriteOrdering::Medium,
            Some("strong") => WriteOrdering::Strong,
            Some(other) => {
                return Err(TesseraError::bad_input(format!(
                    "Query parameter `ordering` must be weak, medium or strong, not `{other}`"
                )))
            }
        };
        Ok(WriteParams { wait, ordering })
    }
}

/// Qdrant's refusal of `?timeout=0`.
pub fn timeout_zero() -> TesseraError {
    TesseraError::QueryValidation("[timeout: value 0 invalid, must be 1 or larger]".into())
}

/// `?consistency=` on reads.
/// Removes and reads the `shard_key` every write body may carry.
pub fn take_shard_key(body: &mut serde_json::Value) -> Result<Option<ShardKeySelector>> {
    match body.as_object_mut().and_then(|b| b.remove("shard_key")) {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(key) => from_value(key).map(Some),
    }
}

/// A parsed body (or part of one) as `T`, with the error of a bad body.
pub fn from_value<T: serde::de::DeserializeOwned>(value: serde_json::Value) -> Result<T> {
    serde_json::from_value(value).map_err(|e| TesseraError::malformed_body(format!("{e}")))
}

/// Read options of a request: `?consistency=`, `?timeout=` (seconds) and the body's
/// `shard_key`.
pub fn read_options(
    query: &HashMap<String, String>,
    shard_key: Option<ShardKeySelector>,
) -> Result<ReadOptions> {
    let timeout = query
        .get("timeout")
        .map(|t| match t.parse::<u64>() {
            Ok(0) => Err(timeout_zero()),
            Ok(seconds) => Ok(seconds),
            Err(_) => Err(TesseraError::bad_input(format!(
                "timeout: expected whole seconds, at least 1, got `{t}`"
            ))),
        })
        .transpose()?;
    Ok(ReadOptions {
        consistency: read_consistency(query)?,
        shard_key,
        timeout,
    })
}

fn read_consistency(query: &HashMap<String, String>) -> Result<tessera_types::ReadConsistency> {
    query
        .get("consistency")
        .map(|value| tessera_types::ReadConsistency::parse(value))
        .transpose()
        .map(Option::unwrap_or_default)
}

/// `PUT /collections/{name}/points`: points as a list (`points`) or as
/// columns (`batch`).
#[derive(Deserialize, schemars::JsonSchema)]
pub struct UpsertBody {
    #[serde(default)]
    points: Option<Vec<PointStruct>>,
    #[serde(default)]
    batch: Option<Batch>,
    #[serde(default)]
    update_mode: Option<UpdateMode>,
    #[serde(default)]
    update_filter: Option<Filter>,
}

pub fn parse_upsert(body: serde_json::Value) -> Result<ShardOperation> {
    if !body.is_object() {
        return Err(TesseraError::malformed_body("expected `points` or `batch`"));
    }
    let body: UpsertBody = from_value(body)?;
    let points = match (body.batch, body.points) {
        (Some(batch), _) => batch.into_points()?,
        (None, Some(points)) => points.into_iter().map(Point::from).collect(),
        (None, None) => return Err(TesseraError::malformed_body("expected `points` or `batch`")),
    };
    Ok(ShardOperation::upsert(
        points,
        body.update_mode,
        body.update_filter,
    ))
}

/// `PUT /collections/{name}/index`: `field_schema` is a type name or
/// `{"type": ..., ...params}`.
#[derive(Deserialize, schemars::JsonSchema)]
pub struct CreateIndexBody {
    pub field_name: String,
    pub field_schema: Option<serde_json::Value>,
}

#[derive(Deserialize, schemars::JsonSchema)]
struct Batch {
    ids: Vec<PointId>,
    vectors: BatchVectors,
    #[serde(default)]
    payloads: Option<Vec<Option<Payload>>>,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
enum BatchVectors {
    Single(Vec<Vector>),
    Named(BTreeMap<String, Vec<Vector>>),
}

impl Batch {
    fn into_points(self) -> Result<Vec<Point>> {
        let n = self.ids.len();
        let mismatch = |what: &str, len: usize| {
            TesseraError::bad_input(format!(
                "Batch has {n} ids but {len} {what}: they must be the same length"
            ))
        };
        let mut columns: Vec<(String, std::vec::IntoIter<Vector>)> = match self.vectors {
            BatchVectors::Single(v) => {
                if v.len() != n {
                    return Err(mismatch("vectors", v.len()));
                }
                vec![(String::new(), v.into_iter())]
            }
            BatchVectors::Named(m) => {
                let mut columns = Vec::new();
                for (name, v) in m {
                    if v.len() != n {
                        return Err(mismatch("vectors", v.len()));
                    }
                    columns.push((name, v.into_iter()));
                }
                columns
            }
        };
        let mut payloads = match self.payloads {
            Some(p) if p.len() != n => return Err(mismatch("payloads", p.len())),
            Some(p) => p.into_iter(),
            None => Vec::new().into_iter(),
        };
        Ok(self
            .ids
            .into_iter()
            .map(|id| Point {
                id,
                vectors: columns
                    .iter_mut()
                    .filter_map(|(name, column)| column.next().map(|v| (name.clone(), v)))
                    .collect(),
                payload: payloads.next().flatten().unwrap_or_default(),
            })
            .collect())
    }
}

/// Bodies that select points by `points` (ids) or `filter`. Fields this
/// version does not act on (such as `shard_key`) are ignored, as serde does.
#[derive(Deserialize, schemars::JsonSchema)]
pub struct Selector {
    #[serde(default)]
    pub points: Option<Vec<PointId>>,
    #[serde(default)]
    pub filter: Option<Filter>,
}

impl Selector {
    pub fn selection(self) -> Result<PointSelection> {
        match (self.points, self.filter) {
            (Some(ids), None) => Ok(PointSelection::Ids(ids)),
            (None, Some(filter)) => Ok(PointSelection::Filter(filter)),
            (Some(_), Some(_)) => Err(TesseraError::bad_input(
                "Give either `points` or `filter`, not both",
            )),
            (None, None) => Err(TesseraError::bad_input("Give `points` or `filter`")),
        }
    }
}

#[derive(Deserialize, schemars::JsonSchema)]
pub struct SetPayloadBody {
    pub payload: Payload,
    #[serde(flatten)]
    pub selector: Selector,
    #[serde(default)]
    pub key: Option<String>,
}

#[derive(Deserialize, schemars::JsonSchema)]
pub struct DeletePayloadBody {
    pub keys: Vec<String>,
    #[serde(flatten)]
    pub selector: Selector,
}

#[derive(Deserialize, schemars::JsonSchema)]
pub struct UpdateVectorsBody {
    pub points: Vec<PointVectors>,
    #[serde(default)]
    pub update_filter: Option<Filter>,
}

#[derive(Deserialize, schemars::JsonSchema)]
pub struct PointVectors {
    pub id: PointId,
    pub vector: tessera_types::VectorStruct,
}

#[derive(Deserialize, schemars::JsonSchema)]
pub struct DeleteVectorsBody {
    pub vector: Vec<String>,
    #[serde(flatten)]
    pub selector: Selector,
}

#[derive(Deserialize, schemars::JsonSchema)]
pub struct RetrieveBody {
    pub ids: Vec<PointId>,
    #[serde(default)]
    pub with_payload: Option<WithPayload>,
    #[serde(default, alias = "with_vectors")]
    pub with_vector: Option<WithVector>,
    /// Under custom sharding: the shard keys to read (all when absent).
    #[serde(default)]
    pub shard_key: Option<ShardKeySelector>,
}

#[derive(Deserialize, schemars::JsonSchema)]
pub struct ScrollBody {
    #[serde(default)]
    pub offset: Option<PointId>,
    #[serde(default)]
    pub limit: Option<usize>,
    #[serde(default)]
    pub filter: Option<Filter>,
    #[serde(default)]
    pub with_payload: Option<WithPayload>,
    #[serde(default, alias = "with_vectors")]
    pub with_vector: Option<WithVector>,
    #[serde(default)]
    pub order_by: Option<serde_json::Value>,
    /// Under custom sharding: the shard keys to read (all when absent).
    #[serde(default)]
    pub shard_key: Option<ShardKeySelector>,
}

#[derive(Deserialize, schemars::JsonSchema)]
pub struct CountBody {
    #[serde(default)]
    pub filter: Option<Filter>,
    /// Under custom sharding: the shard keys to read (all when absent).
    #[serde(default)]
    pub shard_key: Option<ShardKeySelector>,
}

/// `vector` of a search: a bare vector or `{name, vector}` (dense or sparse).
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum NamedVectorStruct {
    Default(Vec<f32>),
    Named { name: String, vector: Vector },
}

impl NamedVectorStruct {
    /// The vector's name ("" for the unnamed one) and the vector.
    pub fn into_parts(self) -> (String, Vector) {
        match self {
            NamedVectorStruct::Default(v) => (String::new(), Vector::Dense(v)),
            NamedVectorStruct::Named { name, vector } => (name, vector),
        }
    }
}

#[derive(Deserialize, schemars::JsonSchema)]
pub struct SearchBody {
    pub vector: NamedVectorStruct,
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
    /// Under custom sharding: the shard keys to read (all when absent).
    #[serde(default)]
    pub shard_key: Option<ShardKeySelector>,
}

impl From<SearchBody> for SearchRequest {
    fn from(b: SearchBody) -> Self {
        let (using, vector) = b.vector.into_parts();
        SearchRequest {
            vector,
            using,
            filter: b.filter,
            limit: b.limit,
            offset: b.offset.unwrap_or(0),
            with_payload: b.with_payload.unwrap_or_default(),
            with_vector: b.with_vector.unwrap_or_default(),
            score_threshold: b.score_threshold,
            params: b.params.unwrap_or_default(),
        }
    }
}

#[derive(Deserialize, schemars::JsonSchema)]
pub struct SearchBatchBody {
    pub searches: Vec<SearchBody>,
}

/// `order_by`: a key, or `{"key", "direction", "start_from"}`.
pub fn parse_order_by(value: Option<serde_json::Value>) -> Result<Option<tessera_types::OrderBy>> {
    match value {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(key)) => Ok(Some(tessera_types::OrderBy {
            key,
            direction: None,
            start_from: None,
        })),
        Some(mut object) => {
            // A datetime `start_from` counts in seconds since the epoch.
            if let Some(start) = object.get_mut("start_from") {
                if let Some(text) = start.as_str() {
                    let seconds = tessera_types::time::parse_datetime(text).ok_or_else(|| {
                        TesseraError::malformed_body(format!(
                            "order_by.start_from: `{text}` is not an RFC 3339 datetime"
                        ))
                    })?;
                    *start = seconds.into();
                }
            }
            serde_json::from_value(object)
                .map(Some)
                .map_err(|e| TesseraError::malformed_body(format!("order_by: {e}")))
        }
    }
}
