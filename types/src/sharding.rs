//! User-defined sharding (`sharding_method: custom`): shard keys, the
//! selectors requests carry, and which shards a request addresses.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use crate::collection::ShardingMethod;
use crate::error::TesseraError;
use crate::topology::{CollectionState, PeerId};

/// Checks that `key` is a shard key: a string or a non-negative integer.
pub fn check_shard_key(key: &Value) -> Result<(), TesseraError> {
    match key {
        Value::String(_) => Ok(()),
        Value::Number(n) if n.is_u64() => Ok(()),
        other => Err(TesseraError::bad_input(format!(
            "A shard key is a string or a non-negative integer, not {other}"
        ))),
    }
}

fn shown(key: &Value) -> String {
    match key {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The `shard_key` of a request: one key or several (Qdrant's
/// `{"target", "fallback"}` form is read as its target).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ShardKeySelector(pub Vec<Value>);

impl<'de> Deserialize<'de> for ShardKeySelector {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let keys = match Value::deserialize(deserializer)? {
            Value::Array(keys) => keys,
            Value::Object(mut fields) => vec![fields
                .remove("target")
                .ok_or_else(|| D::Error::custom("a shard key selector object needs `target`"))?],
            key => vec![key],
        };
        for key in &keys {
            check_shard_key(key).map_err(|e| D::Error::custom(e.to_string()))?;
        }
        Ok(ShardKeySelector(keys))
    }
}

impl schemars::JsonSchema for ShardKeySelector {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "ShardKeySelector".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let key = serde_json::json!({ "anyOf": [{ "type": "string" }, { "type": "integer", "minimum": 0 }] });
        schemars::json_schema!({
            "anyOf": [
                key,
                { "type": "array", "items": key },
                { "type": "object", "required": ["target"], "properties": { "target": key, "fallback": key } }
            ]
        })
    }
}

/// `PUT /collections/{c}/shards` (and the cluster operation `create_sharding_key`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateShardKey {
    pub shard_key: Value,
    #[serde(default)]
    pub shards_number: Option<u32>,
    #[serde(default)]
    pub replication_factor: Option<u32>,
    /// Peers the new shards may be placed on; all data peers when absent.
    #[serde(default)]
    pub placement: Option<Vec<PeerId>>,
}

impl CreateShardKey {
    pub fn validate(&self) -> Result<(), TesseraError> {
        check_shard_key(&self.shard_key)?;
        for (field, value) in [
            ("shards_number", self.shards_number),
            ("replication_factor", self.replication_factor),
        ] {
            if value == Some(0) {
                return Err(TesseraError::validation(format!(
                    "[{field}: value 0 invalid, must be 1 or more]"
                )));
            }
        }
        if self.placement.as_ref().is_some_and(Vec::is_empty) {
            return Err(TesseraError::bad_input(
                "`placement` must name at least one peer",
            ));
        }
        Ok(())
    }
}

/// `POST /collections/{c}/shards/delete`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DropShardKey {
    pub shard_key: Value,
}

impl CollectionState {
    pub fn is_custom_sharded(&self) -> bool {
        self.config.params.sharding_method == Some(ShardingMethod::Custom)
    }

    /// The collection's shard keys, each once, in shard order.
    pub fn shard_keys(&self) -> Vec<Value> {
        let mut keys: Vec<Value> = Vec::new();
        for key in self.shards.iter().filter_map(|s| s.shard_key.as_ref()) {
            if !keys.contains(key) {
                keys.push(key.clone());
            }
        }
        keys
    }

    /// This collection narrowed to the shards of `key`.
    fn with_key(&self, key: &Value) -> Result<CollectionState, TesseraError> {
        let shards: Vec<_> = self
            .shards
            .iter()
            .filter(|s| s.shard_key.as_ref() == Some(key))
            .cloned()
            .collect();
        if shards.is_empty() {
            return Err(TesseraError::not_found(format!(
                "Shard key {} not found in collection `{}`",
                shown(key),
                self.name
            )));
        }
        Ok(CollectionState {
            shards,
            ..self.clone()
        })
    }

    fn refuse_key_on_auto(&self, selector: Option<&ShardKeySelector>) -> Result<(), TesseraError> {
        if selector.is_some() && !self.is_custom_sharded() {
            return Err(TesseraError::bad_input(format!(
                "Collection `{}` is sharded automatically: a shard key is only for \
                 collections with sharding_method custom",
                self.name
            )));
        }
        Ok(())
    }

    /// The shards a read addresses: those of the selected keys, or all.
    pub fn read_scope(
        self,
        selector: Option<&ShardKeySelector>,
    ) -> Result<CollectionState, TesseraError> {
        self.refuse_key_on_auto(selector)?;
        let Some(selector) = selector else {
            return Ok(self);
        };
        let mut shards = Vec::new();
        for key in &selector.0 {
            for shard in self.with_key(key)?.shards {
                if !shards
                    .iter()
                    .any(|s: &crate::ShardPlacement| s.shard_id == shard.shard_id)
                {
                    shards.push(shard);
                }
            }
        }
        Ok(CollectionState { shards, ..self })
    }

    /// The shard groups a write goes to: one per selected key (a point is
    /// written under each), or the whole collection under automatic sharding.
    pub fn write_scopes(
        self,
        selector: Option<&ShardKeySelector>,
    ) -> Result<Vec<CollectionState>, TesseraError> {
        self.refuse_key_on_auto(selector)?;
        if !self.is_custom_sharded() {
            return Ok(vec![self]);
        }
        let selector = selector.filter(|s| !s.0.is_empty()).ok_or_else(|| {
            TesseraError::bad_input(format!(
                "Collection `{}` uses custom sharding: a write must name its shard_key",
                self.name
            ))
        })?;
        selector.0.iter().map(|key| self.with_key(key)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_take_every_qdrant_form() {
        let one: ShardKeySelector = serde_json::from_str(r#""tenant""#).unwrap();
        assert_eq!(one.0, vec![Value::from("tenant")]);
        let many: ShardKeySelector = serde_json::from_str(r#"["a", 7]"#).unwrap();
        assert_eq!(many.0.len(), 2);
        let fallback: ShardKeySelector =
            serde_json::from_str(r#"{"target": "a", "fallback": "b"}"#).unwrap();
        assert_eq!(fallback.0, vec![Value::from("a")]);
        assert!(serde_json::from_str::<ShardKeySelector>("-1").is_err());
        assert!(serde_json::from_str::<ShardKeySelector>("[true]").is_err());
    }
}
