//! Collection configuration, in the shapes of Qdrant's REST contract.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{Result, TesseraError};
use crate::quantization::{QuantizationConfig, QuantizationConfigDiff};
use crate::strict_mode::StrictModeConfig;
use crate::vector::{Datatype, MultiVectorConfig, SparseVectorParams, SparseVectorsConfig, Vector};

/// Name of the unnamed vector in a single-vector collection.
pub const DEFAULT_VECTOR_NAME: &str = "";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub enum Distance {
    Cosine,
    Euclid,
    Dot,
    Manhattan,
}

impl Distance {
    /// Whether a larger score means a closer point.
    pub fn higher_is_better(self) -> bool {
        matches!(self, Distance::Cosine | Distance::Dot)
    }

    /// Whether `score` passes a user's `score_threshold`.
    pub fn passes_threshold(self, score: f32, threshold: f32) -> bool {
        if self.higher_is_better() {
            score >= threshold
        } else {
            score <= threshold
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VectorParams {
    pub size: u64,
    pub distance: Distance,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hnsw_config: Option<HnswConfigDiff>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantization_config: Option<QuantizationConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_disk: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub datatype: Option<Datatype>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multivector_config: Option<MultiVectorConfig>,
}

impl VectorParams {
    pub fn datatype(&self) -> Datatype {
        self.datatype.unwrap_or_default()
    }
}

/// `{"size": 4, "distance": "Dot"}` or `{"image": {...}, "text": {...}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum VectorsConfig {
    Single(VectorParams),
    Multi(BTreeMap<String, VectorParams>),
}

impl VectorsConfig {
    /// Parameters of the vector called `name` ("" for the unnamed one).
    pub fn get(&self, name: &str) -> Option<&VectorParams> {
        match self {
            VectorsConfig::Single(p) if name == DEFAULT_VECTOR_NAME => Some(p),
            VectorsConfig::Single(_) => None,
            VectorsConfig::Multi(m) => m.get(name),
        }
    }

    pub fn get_mut(&mut self, name: &str) -> Option<&mut VectorParams> {
        match self {
            VectorsConfig::Single(p) if name == DEFAULT_VECTOR_NAME => Some(p),
            VectorsConfig::Single(_) => None,
            VectorsConfig::Multi(m) => m.get_mut(name),
        }
    }

    pub fn iter(&self) -> Box<dyn Iterator<Item = (&str, &VectorParams)> + '_> {
        match self {
            VectorsConfig::Single(p) => Box::new(std::iter::once((DEFAULT_VECTOR_NAME, p))),
            VectorsConfig::Multi(m) => Box::new(m.iter().map(|(k, v)| (k.as_str(), v))),
        }
    }

    /// Looks up a vector by name and explains what exists when it does not.
    pub fn require(&self, name: &str) -> Result<&VectorParams> {
        self.get(name).ok_or_else(|| {
            if name.is_empty() {
                TesseraError::bad_input(
                    "Collection has named vectors only: name the vector to use".to_string(),
                )
            } else {
                TesseraError::bad_input(format!("Not existing vector name error: {name}"))
            }
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HnswConfig {
    pub m: usize,
    pub ef_construct: usize,
    /// Below this many kilobytes of vectors a shard answers by exact scan.
    pub full_scan_threshold: usize,
    #[serde(default)]
    pub max_indexing_threads: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_disk: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload_m: Option<usize>,
}

impl Default for HnswConfig {
    fn default() -> Self {
        Self {
            m: 16,
            ef_construct: 100,
            full_scan_threshold: 10_000,
            max_indexing_threads: 0,
            on_disk: Some(false),
            payload_m: None,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HnswConfigDiff {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub m: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ef_construct: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full_scan_threshold: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_indexing_threads: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_disk: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload_m: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inline_storage: Option<bool>,
}

impl HnswConfigDiff {
    /// This diff with `newer`'s given fields taking over.
    pub fn merged(&self, newer: &HnswConfigDiff) -> HnswConfigDiff {
        HnswConfigDiff {
            m: newer.m.or(self.m),
            ef_construct: newer.ef_construct.or(self.ef_construct),
            full_scan_threshold: newer.full_scan_threshold.or(self.full_scan_threshold),
            max_indexing_threads: newer.max_indexing_threads.or(self.max_indexing_threads),
            on_disk: newer.on_disk.or(self.on_disk),
            payload_m: newer.payload_m.or(self.payload_m),
            inline_storage: newer.inline_storage.or(self.inline_storage),
        }
    }
}

impl HnswConfig {
    pub fn apply(&self, diff: &HnswConfigDiff) -> HnswConfig {
        HnswConfig {
            m: diff.m.unwrap_or(self.m),
            ef_construct: diff.ef_construct.unwrap_or(self.ef_construct),
            full_scan_threshold: diff.full_scan_threshold.unwrap_or(self.full_scan_threshold),
            max_indexing_threads: diff
                .max_indexing_threads
                .unwrap_or(self.max_indexing_threads),
            on_disk: diff.on_disk.or(self.on_disk),
            payload_m: diff.payload_m.or(self.payload_m),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OptimizersConfig {
    pub deleted_threshold: f64,
    pub vacuum_min_vector_number: usize,
    pub default_segment_number: usize,
    #[serde(default)]
    pub max_segment_size: Option<usize>,
    #[serde(default)]
    pub memmap_threshold: Option<usize>,
    pub indexing_threshold: Option<usize>,
    pub flush_interval_sec: u64,
    #[serde(default)]
    pub max_optimization_threads: Option<usize>,
    /// Qdrant 1.17's: hold writes until they are indexed. Accepted and shown;
    /// an upload's tail is indexed once writes rest here in any case.
    #[serde(default)]
    pub prevent_unoptimized: Option<bool>,
}

impl Default for OptimizersConfig {
    fn default() -> Self {
        Self {
            deleted_threshold: 0.2,
            vacuum_min_vector_number: 1000,
            default_segment_number: 0,
            max_segment_size: None,
            memmap_threshold: None,
            indexing_threshold: Some(10_000),
            flush_interval_sec: 5,
            max_optimization_threads: None,
            prevent_unoptimized: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WalConfig {
    pub wal_capacity_mb: usize,
    pub wal_segments_ahead: usize,
    /// Closed WAL segments Qdrant keeps; accepted and shown (a checkpoint
    /// here drops what it covers).
    #[serde(default = "one")]
    pub wal_retain_closed: usize,
}

fn one() -> usize {
    1
}

impl Default for WalConfig {
    fn default() -> Self {
        Self {
            wal_capacity_mb: 32,
            wal_segments_ahead: 0,
            wal_retain_closed: 1,
        }
    }
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ShardingMethod {
    #[default]
    Auto,
    Custom,
}

/// Types of payload field index (`PUT /collections/{name}/index`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PayloadSchemaType {
    Keyword,
    Integer,
    Float,
    Bool,
    Uuid,
    Datetime,
    Text,
    Geo,
}

/// A payload index as created: its type alone, or with its parameters, kept as
/// given and shown in the collection's `payload_schema`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum PayloadFieldSchema {
    Type(PayloadSchemaType),
    Text(crate::text::TextIndexParams),
    Params(IndexParams),
}

/// The parameters of a non-text payload index (`{"type": "keyword", "is_tenant": true}`),
/// kept and shown. A filter on any indexed field, a tenant's included, is planned from
/// the index's candidates; the flags do not change storage layout here.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IndexParams {
    #[serde(rename = "type")]
    pub kind: PayloadSchemaType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_tenant: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_principal: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_disk: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lookup: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range: Option<bool>,
    /// Keyword indexes: serve `match: {"prefix": ...}` (Qdrant 1.19).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_hnsw: Option<bool>,
}

impl IndexParams {
    /// Qdrant's check of an integer index's capabilities: it must serve
    /// matches, ranges or both.
    pub fn validate(&self) -> Result<()> {
        if self.lookup == Some(false) && self.range == Some(false) {
            return Err(TesseraError::validation(
                "[field_schema: Validation error: the 'lookup' and 'range' capabilities can't be both disabled [{}]]",
            ));
        }
        Ok(())
    }
}

impl PayloadFieldSchema {
    pub fn kind(&self) -> PayloadSchemaType {
        match self {
            PayloadFieldSchema::Type(kind) => *kind,
            PayloadFieldSchema::Text(_) => PayloadSchemaType::Text,
            PayloadFieldSchema::Params(params) => params.kind,
        }
    }

    /// The parameters given with the type, as Qdrant shows them in `payload_schema`.
    pub fn params(&self) -> Option<serde_json::Value> {
        match self {
            PayloadFieldSchema::Type(_) => None,
            PayloadFieldSchema::Text(params) => serde_json::to_value(params).ok(),
            PayloadFieldSchema::Params(params) => serde_json::to_value(params).ok(),
        }
    }

    /// How a text index splits text, for text indexes.
    pub fn text(&self) -> Option<crate::text::TextIndexParams> {
        match self {
            PayloadFieldSchema::Type(PayloadSchemaType::Text) => {
                Some(crate::text::TextIndexParams::default())
            }
            PayloadFieldSchema::Text(params) => Some(params.clone()),
            PayloadFieldSchema::Type(_) | PayloadFieldSchema::Params(_) => None,
        }
    }
}

impl From<PayloadSchemaType> for PayloadFieldSchema {
    fn from(kind: PayloadSchemaType) -> Self {
        PayloadFieldSchema::Type(kind)
    }
}

/// The payload fields a collection indexes, by key (dot paths allowed).
pub type PayloadSchema = BTreeMap<String, PayloadFieldSchema>;

/// The effective parameters of a collection, as `GET /collections/{name}` shows them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CollectionParams {
    pub vectors: VectorsConfig,
    pub shard_number: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sharding_method: Option<ShardingMethod>,
    pub replication_factor: u32,
    pub write_consistency_factor: u32,
    /// After this many milliseconds without an answer, a read also asks a
    /// second replica; unset or 0: never (Qdrant 1.17, set only by update).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_fan_out_delay_ms: Option<u64>,
    pub on_disk_payload: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sparse_vectors: Option<SparseVectorsConfig>,
}

/// A named vector of a collection, by kind.
#[derive(Debug, Clone, Copy)]
pub enum VectorKind<'a> {
    Dense(&'a VectorParams),
    Sparse(&'a SparseVectorParams),
}

impl CollectionParams {
    pub fn sparse(&self, name: &str) -> Option<&SparseVectorParams> {
        self.sparse_vectors.as_ref()?.get(name)
    }

    /// The dense or sparse vector called `name`.
    pub fn vector_kind(&self, name: &str) -> Result<VectorKind<'_>> {
        if let Some(params) = self.sparse(name) {
            return Ok(VectorKind::Sparse(params));
        }
        self.vectors.require(name).map(VectorKind::Dense)
    }

    /// Every vector a `with_vector` selector names exists.
    pub fn check_vector_names(&self, with_vector: &crate::point::WithVector) -> Result<()> {
        if let crate::point::WithVector::Include(names) = with_vector {
            for name in names {
                self.vector_kind(name)?;
            }
        }
        Ok(())
    }

    /// How scores of the vector `name` compare: sparse vectors score by dot product.
    pub fn distance(&self, name: &str) -> Result<Distance> {
        Ok(match self.vector_kind(name)? {
            VectorKind::Dense(p) => p.distance,
            VectorKind::Sparse(_) => Distance::Dot,
        })
    }

    /// Checks `vector` against the vector `name` is configured as, the one check
    /// of a written or searched vector; sparse vectors come back sorted by index.
    pub fn check_vector(&self, name: &str, vector: &mut Vector) -> Result<()> {
        let check_dense = |v: &[f32], size: u64| {
            if v.len() as u64 != size {
                return Err(dimension_error(size, v.len()));
            }
            if v.iter().any(|x| !x.is_finite()) {
                return Err(TesseraError::bad_input(
                    "Vectors must contain finite numbers only",
                ));
            }
            Ok(())
        };
        let kind = self.vector_kind(name)?;
        // One dense vector where a multi-vector is expected is a multi-vector of one.
        if let (VectorKind::Dense(p), Vector::Dense(v)) = (kind, &mut *vector) {
            if p.multivector_config.is_some() {
                *vector = Vector::Multi(vec![std::mem::take(v)]);
            }
        }
        match (kind, vector) {
            (VectorKind::Dense(params), Vector::Dense(v)) => {
                check_dense(v, params.size)?;
                params.datatype().store(v);
                Ok(())
            }
            (VectorKind::Dense(params), Vector::Multi(vectors))
                if params.multivector_config.is_some() =>
            {
                if vectors.is_empty() {
                    return Err(TesseraError::validation(
                        "a multi-vector needs at least one vector",
                    ));
                }
                for v in vectors.iter_mut() {
                    check_dense(v, params.size)?;
                    params.datatype().store(v);
                }
                Ok(())
            }
            (VectorKind::Sparse(params), Vector::Sparse(v)) => {
                *v = std::mem::take(v).validated()?;
                if let Some(datatype) = params.index.as_ref().and_then(|i| i.datatype) {
                    datatype.store(&mut v.values);
                }
                Ok(())
            }
            (kind, vector) => Err(TesseraError::bad_input(format!(
                "Vector `{name}` is {}, but a {} vector was given",
                match kind {
                    VectorKind::Dense(p) if p.multivector_config.is_some() => "multi",
                    VectorKind::Dense(_) => "dense",
                    VectorKind::Sparse(_) => "sparse",
                },
                vector.kind()
            ))),
        }
    }

    /// Adds the named vector `name`; names are unique across dense and sparse.
    pub fn add_vector(&mut self, name: &str, config: VectorNameConfig) -> Result<()> {
        if name.is_empty() {
            return Err(TesseraError::bad_input("A vector name must not be empty"));
        }
        if self.vector_kind(name).is_ok() {
            return Err(TesseraError::bad_input(format!(
                "Vector `{name}` already exists"
            )));
        }
        let VectorsConfig::Multi(dense) = &mut self.vectors else {
            return Err(TesseraError::bad_input(
                "The collection has one unnamed vector: named vectors cannot be added to it",
            ));
        };
        match config {
            VectorNameConfig::Dense(params) => {
                if params.size == 0 || params.size > 65_536 {
                    return Err(TesseraError::validation(format!(
                        "[size: value {} invalid, must be from 1 to 65536]",
                        params.size
                    )));
                }
                dense.insert(name.to_string(), params);
            }
            VectorNameConfig::Sparse(params) => {
                self.sparse_vectors
                    .get_or_insert_with(Default::default)
                    .insert(name.to_string(), params);
            }
        }
        Ok(())
    }

    /// Removes the named vector `name`, dense or sparse.
    pub fn remove_vector(&mut self, name: &str) -> Result<()> {
        match self.vector_kind(name)? {
            VectorKind::Dense(_) => match &mut self.vectors {
                VectorsConfig::Multi(dense) => {
                    dense.remove(name);
                }
                VectorsConfig::Single(_) => {
                    return Err(TesseraError::bad_input(
                        "The collection's only unnamed vector cannot be removed",
                    ))
                }
            },
            VectorKind::Sparse(_) => {
                if let Some(sparse) = &mut self.sparse_vectors {
                    sparse.remove(name);
                }
                if self.sparse_vectors.as_ref().is_some_and(|s| s.is_empty()) {
                    self.sparse_vectors = None;
                }
            }
        }
        Ok(())
    }

    /// Every vector name, dense and sparse.
    pub fn vector_names(&self) -> impl Iterator<Item = &str> + '_ {
        self.vectors.iter().map(|(name, _)| name).chain(
            self.sparse_vectors
                .iter()
                .flat_map(|m| m.keys().map(String::as_str)),
        )
    }
}

/// The error for a dense vector of the wrong size, worded as Qdrant's.
pub fn dimension_error(expected: u64, got: usize) -> TesseraError {
    TesseraError::bad_input(format!(
        "Vector dimension error: expected dim: {expected}, got {got}"
    ))
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CollectionConfig {
    pub params: CollectionParams,
    pub hnsw_config: HnswConfig,
    pub optimizer_config: OptimizersConfig,
    pub wal_config: WalConfig,
    pub quantization_config: Option<QuantizationConfig>,
    /// The user's own JSON object about the collection, kept as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<serde_json::Map<String, serde_json::Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strict_mode_config: Option<StrictModeConfig>,
}

impl CollectionConfig {
    /// Qdrant's warnings about settings that will be ignored: `inline_storage`
    /// on a multi-vector, or without quantization.
    pub fn warnings(&self) -> Vec<String> {
        let mut warnings = Vec::new();
        for (name, params) in self.params.vectors.iter() {
            let inline = params
                .hnsw_config
                .as_ref()
                .and_then(|h| h.inline_storage)
                .unwrap_or(false);
            if !inline {
                continue;
            }
            let option = format!("The `hnsw_config.inline_storage` option for vector '{name}'");
            if params.multivector_config.is_some() {
                warnings.push(format!(
                    "{option} is not compatible with multivectors. This option will be ignored."
                ));
            } else if params.quantization_config.is_none() && self.quantization_config.is_none() {
                warnings.push(format!(
                    "{option} requires quantization to be enabled. This option will be ignored."
                ));
            }
        }
        warnings
    }

    /// The strict mode limits in force, if strict mode is on.
    pub fn strict_mode(&self) -> Option<&StrictModeConfig> {
        self.strict_mode_config.as_ref().filter(|c| c.is_enabled())
    }
}

impl CollectionConfig {
    /// Quantization for one dense vector: the vector's own, else the collection's.
    /// Multi-vectors are scored exactly, so they have none.
    pub fn quantization_for(&self, vector: &str) -> Option<&QuantizationConfig> {
        let params = self.params.vectors.get(vector)?;
        if params.multivector_config.is_some() {
            return None;
        }
        params
            .quantization_config
            .as_ref()
            .or(self.quantization_config.as_ref())
    }

    fn validate_quantization(&self) -> Result<()> {
        if let Some(q) = &self.quantization_config {
            q.validate("quantization_config")?;
        }
        for (name, params) in self.params.vectors.iter() {
            if let Some(q) = &params.quantization_config {
                let field = match name {
                    DEFAULT_VECTOR_NAME => "vectors.quantization_config".to_string(),
                    name => format!("vectors.{name}.quantization_config"),
                };
                q.validate(&field)?;
            }
        }
        Ok(())
    }

    /// HNSW parameters for one vector: the collection's, overridden by the vector's own.
    pub fn hnsw_for(&self, vector: &str) -> HnswConfig {
        match self
            .params
            .vectors
            .get(vector)
            .and_then(|p| p.hnsw_config.as_ref())
        {
            Some(diff) => self.hnsw_config.apply(diff),
            None => self.hnsw_config.clone(),
        }
    }
}

/// Body of `PUT /collections/{name}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CreateCollection {
    #[serde(default)]
    pub vectors: Option<VectorsConfig>,
    #[serde(default)]
    pub shard_number: Option<u32>,
    #[serde(default)]
    pub sharding_method: Option<ShardingMethod>,
    #[serde(default)]
    pub replication_factor: Option<u32>,
    #[serde(default)]
    pub write_consistency_factor: Option<u32>,
    #[serde(default)]
    pub on_disk_payload: Option<bool>,
    #[serde(default)]
    pub hnsw_config: Option<HnswConfigDiff>,
    #[serde(default)]
    pub wal_config: Option<serde_json::Value>,
    #[serde(default)]
    pub optimizers_config: Option<serde_json::Value>,
    /// Qdrant takes `quantization` as another name for it.
    #[serde(default, alias = "quantization")]
    pub quantization_config: Option<QuantizationConfig>,
    #[serde(default)]
    pub sparse_vectors: Option<SparseVectorsConfig>,
    #[serde(default)]
    pub strict_mode_config: Option<StrictModeConfig>,
    #[serde(default)]
    pub metadata: Option<serde_json::Value>,
    #[serde(default)]
    pub init_from: Option<serde_json::Value>,
}

impl CreateCollection {
    /// Validates the request and fills in defaults. `data_nodes` is the number of
    /// data-plane peers, the default shard count.
    pub fn into_config(self, data_nodes: usize) -> Result<CollectionConfig> {
        // A collection may hold sparse vectors only, or no vectors at all.
        let vectors = self
            .vectors
            .unwrap_or_else(|| VectorsConfig::Multi(BTreeMap::new()));
        for (name, params) in vectors.iter() {
            if params.size == 0 || params.size > 65_536 {
                return Err(TesseraError::validation(format!(
                    "[vectors{}.size: value {} invalid, must be from 1 to 65536]",
                    if name.is_empty() {
                        String::new()
                    } else {
                        format!(".{name}")
                    },
                    params.size
                )));
            }
        }
        if let Some(sparse) = &self.sparse_vectors {
            if let Some(name) = sparse.keys().find(|name| vectors.get(name).is_some()) {
                return Err(TesseraError::bad_input(format!(
                    "Dense and sparse vector names must be unique - duplicate found with '{name}'"
                )));
            }
        }
        // Under custom sharding, shard_number is per shard key.
        let shard_number =
            self.shard_number
                .unwrap_or(if self.sharding_method == Some(ShardingMethod::Custom) {
                    1
                } else {
                    data_nodes.max(1) as u32
                });
        let replication_factor = self.replication_factor.unwrap_or(1);
        let write_consistency_factor = self.write_consistency_factor.unwrap_or(1);
        for (field, value) in [
            ("shard_number", shard_number),
            ("replication_factor", replication_factor),
            ("write_consistency_factor", write_consistency_factor),
        ] {
            if value == 0 {
                return Err(TesseraError::validation(format!(
                    "[{field}: value 0 invalid, must be 1 or more]"
                )));
            }
        }
        let hnsw_config = match &self.hnsw_config {
            Some(diff) => HnswConfig::default().apply(diff),
            None => HnswConfig::default(),
        };
        if hnsw_config.ef_construct < 4 {
            return Err(TesseraError::validation(format!(
                "[hnsw_config.ef_construct: value {} invalid, must be 4 or larger]",
                hnsw_config.ef_construct
            )));
        }
        if hnsw_config.m > 256 {
            return Err(TesseraError::bad_input(
                "hnsw_config: `m` must be at most 256",
            ));
        }
        let optimizer_config = match self.optimizers_config {
            Some(diff) => merge_json(&OptimizersConfig::default(), diff)?,
            None => OptimizersConfig::default(),
        };
        let wal_config = match self.wal_config {
            Some(diff) => merge_json(&WalConfig::default(), diff)?,
            None => WalConfig::default(),
        };
        let config = CollectionConfig {
            params: CollectionParams {
                vectors,
                shard_number,
                sharding_method: self.sharding_method,
                replication_factor,
                write_consistency_factor,
                on_disk_payload: self.on_disk_payload.unwrap_or(true),
                read_fan_out_delay_ms: None,
                sparse_vectors: self.sparse_vectors.filter(|m| !m.is_empty()),
            },
            hnsw_config,
            optimizer_config,
            wal_config,
            quantization_config: self.quantization_config,
            metadata: metadata_object(self.metadata)?,
            strict_mode_config: self.strict_mode_config,
        };
        config.validate_quantization()?;
        Ok(config)
    }
}

/// `metadata`, which must be a JSON object when given.
fn metadata_object(
    value: Option<serde_json::Value>,
) -> Result<Option<serde_json::Map<String, serde_json::Value>>> {
    match value {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::Object(map)) => Ok(Some(map)),
        Some(_) => Err(TesseraError::bad_input(
            "Format error in JSON body: metadata must be a JSON object",
        )),
    }
}

/// Overlays the fields given in `diff` (a JSON object) on `base`.
fn merge_json<T: Serialize + serde::de::DeserializeOwned>(
    base: &T,
    diff: serde_json::Value,
) -> Result<T> {
    let mut merged = serde_json::to_value(base).map_err(TesseraError::internal)?;
    match (merged.as_object_mut(), diff) {
        (Some(target), serde_json::Value::Object(fields)) => {
            for (k, v) in fields {
                if !v.is_null() {
                    target.insert(k, v);
                }
            }
        }
        (_, serde_json::Value::Null) => {}
        _ => return Err(TesseraError::bad_input("expected a JSON object")),
    }
    serde_json::from_value(merged).map_err(|e| TesseraError::bad_input(e.to_string()))
}

/// Body of `PATCH /collections/{name}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct UpdateCollection {
    #[serde(default)]
    pub vectors: Option<BTreeMap<String, VectorParamsDiff>>,
    #[serde(default)]
    pub optimizers_config: Option<serde_json::Value>,
    #[serde(default)]
    pub params: Option<CollectionParamsDiff>,
    #[serde(default)]
    pub hnsw_config: Option<HnswConfigDiff>,
    #[serde(default)]
    pub quantization_config: Option<QuantizationConfigDiff>,
    #[serde(default)]
    pub sparse_vectors: Option<SparseVectorsConfig>,
    #[serde(default)]
    pub strict_mode_config: Option<StrictModeConfig>,
    #[serde(default)]
    pub metadata: Option<serde_json::Value>,
    /// Named vectors to add (`PUT /collections/{c}/vectors/{name}`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub add_vectors: BTreeMap<String, VectorNameConfig>,
    /// Named vectors to remove (`DELETE /collections/{c}/vectors/{name}`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub remove_vectors: Vec<String>,
}

/// Body of `PUT /collections/{c}/vectors/{name}`: a new dense or sparse vector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase", deny_unknown_fields)]
pub enum VectorNameConfig {
    Dense(VectorParams),
    Sparse(SparseVectorParams),
}

/// One dense vector's settings in a collection update (`vectors.{name}`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VectorParamsDiff {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hnsw_config: Option<HnswConfigDiff>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantization_config: Option<QuantizationConfigDiff>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_disk: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CollectionParamsDiff {
    #[serde(default)]
    pub replication_factor: Option<u32>,
    #[serde(default)]
    pub write_consistency_factor: Option<u32>,
    #[serde(default)]
    pub read_fan_out_factor: Option<u32>,
    #[serde(default)]
    pub read_fan_out_delay_ms: Option<u64>,
    #[serde(default)]
    pub on_disk_payload: Option<bool>,
}

impl UpdateCollection {
    /// The configuration after this update, validated.
    pub fn apply_to(&self, config: &CollectionConfig) -> Result<CollectionConfig> {
        let mut next = config.clone();
        if let Some(params) = &self.params {
            if params.replication_factor == Some(0) || params.write_consistency_factor == Some(0) {
                return Err(TesseraError::bad_input(
                    "replication_factor and write_consistency_factor must be 1 or more",
                ));
            }
            if let Some(v) = params.replication_factor {
                next.params.replication_factor = v;
            }
            if let Some(v) = params.write_consistency_factor {
                next.params.write_consistency_factor = v;
            }
            if let Some(v) = params.on_disk_payload {
                next.params.on_disk_payload = v;
            }
            if let Some(v) = params.read_fan_out_delay_ms {
                next.params.read_fan_out_delay_ms = Some(v);
            }
        }
        if let Some(diff) = &self.hnsw_config {
            next.hnsw_config = next.hnsw_config.apply(diff);
        }
        if let Some(diff) = &self.optimizers_config {
            next.optimizer_config = merge_json(&next.optimizer_config, diff.clone())?;
        }
        for (name, diff) in self.vectors.iter().flatten() {
            next.params.vectors.require(name)?;
            let params = next
                .params
                .vectors
                .get_mut(name)
                .expect("checked just above");
            if let Some(hnsw) = &diff.hnsw_config {
                params.hnsw_config = Some(match &params.hnsw_config {
                    Some(own) => own.merged(hnsw),
                    None => hnsw.clone(),
                });
            }
            if let Some(quantization) = &diff.quantization_config {
                params.quantization_config = quantization.applied();
            }
            if diff.on_disk.is_some() {
                params.on_disk = diff.on_disk;
            }
        }
        for name in &self.remove_vectors {
            next.params.remove_vector(name)?;
        }
        for (name, config) in &self.add_vectors {
            next.params.add_vector(name, config.clone())?;
        }
        // Sparse vectors' parameters change here; vectors come and go above.
        for (name, update) in self.sparse_vectors.iter().flatten() {
            let params = next
                .params
                .sparse_vectors
                .as_mut()
                .and_then(|m| m.get_mut(name))
                .ok_or_else(|| {
                    TesseraError::bad_input(format!("Not existing vector name error: {name}"))
                })?;
            if update.index.is_some() {
                params.index = update.index.clone();
            }
            if update.modifier.is_some() {
                params.modifier = update.modifier;
            }
        }
        if let Some(quantization) = &self.quantization_config {
            next.quantization_config = quantization.applied();
        }
        next.validate_quantization()?;
        if let Some(update) = &self.strict_mode_config {
            next.strict_mode_config =
                Some(next.strict_mode_config.unwrap_or_default().merged(update)?);
        }
        // New keys are added and given ones replaced, as Qdrant merges
        // metadata; a key set to null is removed.
        if let Some(update) = metadata_object(self.metadata.clone())? {
            let metadata = next.metadata.get_or_insert_with(Default::default);
            for (key, value) in update {
                if value.is_null() {
                    metadata.remove(&key);
                } else {
                    metadata.insert(key, value);
                }
            }
        }
        Ok(next)
    }
}
