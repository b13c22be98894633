//! The bodies that create and update a collection, and how an update merges
//! into a config.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{
    CollectionConfig, CollectionParams, HnswConfig, HnswConfigDiff, OptimizersConfig,
    ShardingMethod, VectorParams, VectorsConfig, WalConfig,
};
use crate::error::{Result, TesseraError};
use crate::quantization::{QuantizationConfig, QuantizationConfigDiff};
use crate::strict_mode::StrictModeConfig;
use crate::vector::{SparseVectorParams, SparseVectorsConfig};

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
    let mut merged = serde_json::to_value(base).map_err(TesseraError::internal_from)?;
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
