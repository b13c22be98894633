//! Collection configuration, in the shapes of Qdrant's REST contract: vector
//! parameters and the checks of a vector against them here; index, optimizer
//! and WAL tuning (`tuning`); payload index schemas (`payload_schema`); the
//! create and update bodies and how an update merges into a config
//! (`requests`).

mod payload_schema;
mod requests;
mod tuning;

pub use payload_schema::*;
pub use requests::*;
pub use tuning::*;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{Result, TesseraError};
use crate::quantization::QuantizationConfig;
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

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ShardingMethod {
    #[default]
    Auto,
    Custom,
}

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
