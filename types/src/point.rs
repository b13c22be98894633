//! Points: ids, vectors, payloads, and the records returned to users.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};
use uuid::Uuid;

use crate::collection::DEFAULT_VECTOR_NAME;
use crate::error::{Result, TesseraError};
use crate::json_path;
use crate::vector::Vector;

/// A point id: an unsigned integer or a UUID, as in Qdrant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(untagged)]
pub enum PointId {
    Num(u64),
    Uuid(Uuid),
}

impl<'de> Deserialize<'de> for PointId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Num(u64),
            Str(String),
        }
        match Raw::deserialize(deserializer).map_err(|_| {
            serde::de::Error::custom("point id must be an unsigned integer or a UUID")
        })? {
            Raw::Num(n) => Ok(PointId::Num(n)),
            Raw::Str(s) => PointId::parse_str(&s).map_err(serde::de::Error::custom),
        }
    }
}

impl schemars::JsonSchema for PointId {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "PointId".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "anyOf": [
                { "type": "integer", "format": "uint64", "minimum": 0 },
                { "type": "string", "format": "uuid" }
            ]
        })
    }
}

impl PointId {
    pub fn parse_str(s: &str) -> Result<Self> {
        if let Ok(n) = s.parse::<u64>() {
            return Ok(PointId::Num(n));
        }
        Uuid::parse_str(s).map(PointId::Uuid).map_err(|_| {
            TesseraError::bad_input(format!(
                "Unable to parse point id `{s}`: expected an unsigned integer or a UUID"
            ))
        })
    }

    /// A stable 64-bit hash used to place the point on a shard.
    pub fn shard_hash(&self) -> u64 {
        // FNV-1a over a canonical byte form: stable across processes and versions.
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        let mut feed = |bytes: &[u8]| {
            for b in bytes {
                hash ^= *b as u64;
                hash = hash.wrapping_mul(0x0100_0000_01b3);
            }
        };
        match self {
            PointId::Num(n) => {
                feed(&[0]);
                feed(&n.to_le_bytes());
            }
            PointId::Uuid(u) => {
                feed(&[1]);
                feed(u.as_bytes());
            }
        }
        hash
    }
}

impl fmt::Display for PointId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PointId::Num(n) => write!(f, "{n}"),
            PointId::Uuid(u) => write!(f, "{u}"),
        }
    }
}

pub type Payload = serde_json::Map<String, serde_json::Value>;

/// Vectors of one point, by name; the unnamed vector is called "".
pub type NamedVectors = BTreeMap<String, Vector>;

/// A point's vectors as a user writes them: one unnamed dense vector or
/// multi-vector, or several named ones of any kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum VectorStruct {
    Single(Vec<f32>),
    Multi(Vec<Vec<f32>>),
    Named(NamedVectors),
}

impl VectorStruct {
    pub fn into_named(self) -> NamedVectors {
        let unnamed = |v: Vector| BTreeMap::from([(DEFAULT_VECTOR_NAME.to_string(), v)]);
        match self {
            VectorStruct::Single(v) => unnamed(Vector::Dense(v)),
            VectorStruct::Multi(v) => unnamed(Vector::Multi(v)),
            VectorStruct::Named(m) => m,
        }
    }

    /// The user-facing form: a bare vector when only the unnamed one is present.
    pub fn from_named(mut named: NamedVectors) -> VectorStruct {
        let bare = named.len() == 1
            && matches!(
                named.get(DEFAULT_VECTOR_NAME),
                Some(Vector::Dense(_) | Vector::Multi(_))
            );
        match named.remove(DEFAULT_VECTOR_NAME) {
            Some(Vector::Dense(v)) if bare => VectorStruct::Single(v),
            Some(Vector::Multi(v)) if bare => VectorStruct::Multi(v),
            Some(other) => {
                named.insert(DEFAULT_VECTOR_NAME.to_string(), other);
                VectorStruct::Named(named)
            }
            None => VectorStruct::Named(named),
        }
    }
}

impl From<Vector> for VectorStruct {
    /// An unnamed vector.
    fn from(v: Vector) -> Self {
        VectorStruct::from_named(BTreeMap::from([(DEFAULT_VECTOR_NAME.to_string(), v)]))
    }
}

/// One point to write.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PointStruct {
    pub id: PointId,
    pub vector: VectorStruct,
    #[serde(default)]
    pub payload: Option<Payload>,
}

/// A point as stored: vectors by name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Point {
    pub id: PointId,
    pub vectors: NamedVectors,
    pub payload: Payload,
}

impl From<PointStruct> for Point {
    fn from(p: PointStruct) -> Self {
        Point {
            id: p.id,
            vectors: p.vector.into_named(),
            payload: p.payload.unwrap_or_default(),
        }
    }
}

/// `with_payload`: true/false, a list of keys, or `{include, exclude}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum WithPayload {
    Enable(bool),
    Include(Vec<String>),
    Selector(PayloadSelector),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum PayloadSelector {
    Include { include: Vec<String> },
    Exclude { exclude: Vec<String> },
}

impl Default for WithPayload {
    fn default() -> Self {
        WithPayload::Enable(false)
    }
}

impl WithPayload {
    pub fn is_enabled(&self) -> bool {
        !matches!(self, WithPayload::Enable(false))
    }

    /// The part of `payload` this selector asks for, or None when payload is off.
    pub fn select(&self, payload: &Payload) -> Option<Payload> {
        match self {
            WithPayload::Enable(false) => None,
            WithPayload::Enable(true) => Some(payload.clone()),
            WithPayload::Include(keys)
            | WithPayload::Selector(PayloadSelector::Include { include: keys }) => {
                Some(json_path::select(payload, &selector_paths(keys), true))
            }
            WithPayload::Selector(PayloadSelector::Exclude { exclude }) => {
                Some(json_path::select(payload, &selector_paths(exclude), false))
            }
        }
    }
}

/// A selector's keys as paths; a key that is no valid path selects nothing.
fn selector_paths(keys: &[String]) -> Vec<json_path::JsonPath> {
    keys.iter()
        .filter_map(|k| json_path::JsonPath::parse(k).ok())
        .collect()
}

/// `with_vector`: true/false or a list of vector names.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum WithVector {
    Enable(bool),
    Include(Vec<String>),
}

impl Default for WithVector {
    fn default() -> Self {
        WithVector::Enable(false)
    }
}

impl WithVector {
    pub fn is_enabled(&self) -> bool {
        !matches!(self, WithVector::Enable(false))
    }

    pub fn select(&self, vectors: &NamedVectors) -> Option<NamedVectors> {
        match self {
            WithVector::Enable(false) => None,
            WithVector::Enable(true) => Some(vectors.clone()),
            WithVector::Include(names) => Some(
                vectors
                    .iter()
                    .filter(|(k, _)| names.contains(k))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            ),
        }
    }
}

/// A point returned by retrieve and scroll.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub id: PointId,
    /// Left out of the JSON when not asked for, as Qdrant leaves it out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<Payload>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vector: Option<VectorStruct>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard_key: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_value: Option<serde_json::Value>,
}

/// A point returned by search and query.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoredPoint {
    pub id: PointId,
    pub version: u64,
    pub score: f32,
    /// Left out of the JSON when not asked for, as Qdrant leaves it out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<Payload>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vector: Option<VectorStruct>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard_key: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_value: Option<serde_json::Value>,
}

impl ScoredPoint {
    /// A point scored at the gateway, before any payload or vector is fetched.
    pub fn scored(id: PointId, score: f32) -> ScoredPoint {
        ScoredPoint {
            id,
            version: 0,
            score,
            payload: None,
            vector: None,
            shard_key: None,
            order_value: None,
        }
    }

    /// A record as a result with `score`.
    pub fn from_record(record: Record, score: f32) -> ScoredPoint {
        ScoredPoint {
            id: record.id,
            version: 0,
            score,
            payload: record.payload,
            vector: record.vector,
            shard_key: record.shard_key,
            order_value: record.order_value,
        }
    }
}

/// Which points an update applies to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum PointSelection {
    Ids(Vec<PointId>),
    Filter(crate::filter::Filter),
}

/// Which of an upsert's points are written (`update_mode`).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum UpdateMode {
    /// New points are inserted, existing ones replaced.
    #[default]
    Upsert,
    /// Existing points are left as they are.
    InsertOnly,
    /// Points that do not exist are not created.
    UpdateOnly,
}

impl UpdateMode {
    pub fn as_str(self) -> &'static str {
        match self {
            UpdateMode::Upsert => "upsert",
            UpdateMode::InsertOnly => "insert_only",
            UpdateMode::UpdateOnly => "update_only",
        }
    }

    pub fn parse(name: &str) -> Result<UpdateMode> {
        [
            UpdateMode::Upsert,
            UpdateMode::InsertOnly,
            UpdateMode::UpdateOnly,
        ]
        .into_iter()
        .find(|m| m.as_str() == name)
        .ok_or_else(|| TesseraError::bad_input(format!("Unknown update mode `{name}`")))
    }
}

/// A write to one shard; also the unit recorded in the data plane's WAL.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ShardOperation {
    Upsert(Vec<Point>),
    /// An upsert under `update_mode`, whose existing points are replaced only
    /// when they match `update_filter` (new points are inserted regardless).
    ConditionalUpsert {
        points: Vec<Point>,
        mode: UpdateMode,
        update_filter: Option<crate::filter::Filter>,
    },
    Delete(PointSelection),
    /// Merges `payload` into each point's payload; with `key`, into the object at that path.
    SetPayload {
        payload: Payload,
        selection: PointSelection,
        key: Option<String>,
    },
    OverwritePayload {
        payload: Payload,
        selection: PointSelection,
    },
    DeletePayload {
        keys: Vec<String>,
        selection: PointSelection,
    },
    ClearPayload(PointSelection),
    UpdateVectors(Vec<(PointId, NamedVectors)>),
    /// Vector updates applied only to the points matching `update_filter`.
    ConditionalUpdateVectors {
        points: Vec<(PointId, NamedVectors)>,
        update_filter: crate::filter::Filter,
    },
    DeleteVectors {
        names: Vec<String>,
        selection: PointSelection,
    },
}

impl ShardOperation {
    /// The vectors this operation writes, point by point.
    pub fn written_vectors_mut(&mut self) -> Vec<&mut NamedVectors> {
        match self {
            ShardOperation::Upsert(points) | ShardOperation::ConditionalUpsert { points, .. } => {
                points.iter_mut().map(|p| &mut p.vectors).collect()
            }
            ShardOperation::UpdateVectors(points)
            | ShardOperation::ConditionalUpdateVectors { points, .. } => {
                points.iter_mut().map(|(_, vectors)| vectors).collect()
            }
            _ => Vec::new(),
        }
    }

    /// Checks every vector this operation writes, and every vector name it
    /// deletes, against the collection's `params` (sparse vectors come back
    /// sorted by index): the one rule the gateway applies before routing a
    /// write and the shard before logging it.
    pub fn check_vectors(&mut self, params: &crate::collection::CollectionParams) -> Result<()> {
        if let ShardOperation::DeleteVectors { names, .. } = self {
            for name in names.iter() {
                params.vector_kind(name)?;
            }
        }
        for vectors in self.written_vectors_mut() {
            for (name, vector) in vectors.iter_mut() {
                params.check_vector(name, vector)?;
            }
        }
        Ok(())
    }

    /// An operation that changes nothing (a delete of no points): a new
    /// primary's first in its epoch, so every replica meets the epoch at once.
    pub fn barrier() -> ShardOperation {
        ShardOperation::Delete(PointSelection::Ids(Vec::new()))
    }

    /// An upsert of `points`: a plain one under the default mode and no filter.
    pub fn upsert(
        points: Vec<Point>,
        mode: Option<UpdateMode>,
        update_filter: Option<crate::filter::Filter>,
    ) -> ShardOperation {
        match (mode.unwrap_or_default(), update_filter) {
            (UpdateMode::Upsert, None) => ShardOperation::Upsert(points),
            (mode, update_filter) => ShardOperation::ConditionalUpsert {
                points,
                mode,
                update_filter,
            },
        }
    }

    /// A vector update of `points`, conditional when a filter is given.
    pub fn update_vectors(
        points: Vec<(PointId, NamedVectors)>,
        update_filter: Option<crate::filter::Filter>,
    ) -> ShardOperation {
        match update_filter {
            None => ShardOperation::UpdateVectors(points),
            Some(update_filter) => ShardOperation::ConditionalUpdateVectors {
                points,
                update_filter,
            },
        }
    }

    /// Ids the operation names explicitly (None when it selects by filter).
    pub fn explicit_ids(&self) -> Option<Vec<PointId>> {
        match self {
            ShardOperation::Upsert(points) | ShardOperation::ConditionalUpsert { points, .. } => {
                Some(points.iter().map(|p| p.id).collect())
            }
            ShardOperation::UpdateVectors(v)
            | ShardOperation::ConditionalUpdateVectors { points: v, .. } => {
                Some(v.iter().map(|(id, _)| *id).collect())
            }
            _ => match self.selection()? {
                PointSelection::Ids(ids) => Some(ids.clone()),
                PointSelection::Filter(_) => None,
            },
        }
    }

    /// Whether the operation carries points or vectors to store (upserts and vector
    /// updates), which storage limits weigh.
    pub fn carries_vectors(&self) -> bool {
        matches!(
            self,
            ShardOperation::Upsert(_)
                | ShardOperation::ConditionalUpsert { .. }
                | ShardOperation::UpdateVectors(_)
                | ShardOperation::ConditionalUpdateVectors { .. }
        )
    }

    /// Whether the quota applies to it, as Qdrant's `consumes_quota`: every
    /// update but a point delete, which is how a full node is freed.
    pub fn consumes_quota(&self) -> bool {
        !matches!(self, ShardOperation::Delete(_))
    }

    /// The points an operation selects, for those that select rather than
    /// carry their points.
    pub fn selection(&self) -> Option<&PointSelection> {
        match self {
            ShardOperation::Delete(s)
            | ShardOperation::ClearPayload(s)
            | ShardOperation::SetPayload { selection: s, .. }
            | ShardOperation::OverwritePayload { selection: s, .. }
            | ShardOperation::DeletePayload { selection: s, .. }
            | ShardOperation::DeleteVectors { selection: s, .. } => Some(s),
            ShardOperation::Upsert(_)
            | ShardOperation::ConditionalUpsert { .. }
            | ShardOperation::UpdateVectors(_)
            | ShardOperation::ConditionalUpdateVectors { .. } => None,
        }
    }
}

/// The state of a write as reported to the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UpdateStatus {
    Acknowledged,
    Completed,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UpdateResult {
    pub operation_id: Option<u64>,
    pub status: UpdateStatus,
}
