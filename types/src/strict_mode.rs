//! Strict mode: per-collection limits on what requests may ask, so one caller
//! cannot make a shared collection slow for everyone. The gateway checks every
//! request against them before it reaches a shard.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{Result, TesseraError};
use crate::filter::{AnyVariants, Condition, Filter, Match};
use crate::vector::Vector;

/// `strict_mode_config`, in Qdrant's shape. Limits left out do not apply.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StrictModeConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_query_limit: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_timeout: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unindexed_filtering_retrieve: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unindexed_filtering_update: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub search_max_hnsw_ef: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub search_allow_exact: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub search_max_oversampling: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upsert_max_batchsize: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub search_max_batchsize: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_collection_vector_size_bytes: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_rate_limit: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub write_rate_limit: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_collection_payload_size_bytes: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_points_count: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter_max_conditions: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition_max_size: Option<usize>,
    /// Per multi-vector name: the most vectors one point may hold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multivector_config: Option<BTreeMap<String, MultivectorLimit>>,
    /// Per sparse vector name: the most non-zero dimensions one vector may hold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sparse_config: Option<BTreeMap<String, SparseLimit>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_payload_index_count: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_resident_memory_percent: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_disk_usage_percent: Option<u8>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MultivectorLimit {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_vectors: Option<usize>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SparseLimit {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_length: Option<usize>,
}

impl StrictModeConfig {
    /// Refuses a vector of `name` larger than its sparse or multi-vector limit.
    pub fn check_vector(&self, name: &str, vector: &Vector) -> Result<()> {
        match vector {
            Vector::Sparse(sparse) => {
                let max = self
                    .sparse_config
                    .as_ref()
                    .and_then(|c| c.get(name)?.max_length);
                match max {
                    Some(max) if sparse.indices.len() > max => {
                        Err(TesseraError::bad_input(format!(
                            "Sparse vector '{name}' has a limit of {max} indices, but {} were provided!",
                            sparse.indices.len()
                        )))
                    }
                    _ => Ok(()),
                }
            }
            Vector::Multi(multi) => {
                let max = self
                    .multivector_config
                    .as_ref()
                    .and_then(|c| c.get(name)?.max_vectors);
                match max {
                    Some(max) if multi.len() > max => Err(TesseraError::bad_input(format!(
                        "Multivector '{name}' has a limit of {max} vectors, but {} were provided!",
                        multi.len()
                    ))),
                    _ => Ok(()),
                }
            }
            Vector::Dense(_) => Ok(()),
        }
    }

    pub fn is_enabled(&self) -> bool {
        self.enabled == Some(true)
    }

    /// This config with every limit `update` gives replacing the current one.
    pub fn merged(&self, update: &StrictModeConfig) -> Result<StrictModeConfig> {
        let mut current = serde_json::to_value(self).map_err(TesseraError::internal)?;
        let update = serde_json::to_value(update).map_err(TesseraError::internal)?;
        if let (Some(current), Some(update)) = (current.as_object_mut(), update.as_object()) {
            current.extend(update.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        serde_json::from_value(current).map_err(TesseraError::internal)
    }
}

/// Refuses `value` above `max`, in Qdrant's words.
pub fn check_limit(value: usize, max: Option<usize>, what: &str) -> Result<()> {
    match max {
        Some(max) if value > max => Err(TesseraError::bad_input(format!(
            "Limit exceeded {value} > {max} for \"{what}\""
        ))),
        _ => Ok(()),
    }
}

/// What strict mode weighs in a filter: its conditions, nested ones included,
/// the largest list a condition matches against, and the payload keys it reads.
#[derive(Debug, Default, PartialEq)]
pub struct FilterShape {
    pub conditions: usize,
    pub largest_condition: usize,
    pub keys: Vec<String>,
}

impl FilterShape {
    pub fn of(filter: &Filter) -> FilterShape {
        let mut shape = FilterShape::default();
        shape.add(filter, "");
        shape
    }

    fn add(&mut self, filter: &Filter, prefix: &str) {
        let min_should = filter.min_should.iter().flat_map(|m| &m.conditions);
        for condition in filter
            .must
            .iter()
            .chain(&filter.should)
            .chain(&filter.must_not)
            .chain(min_should)
        {
            match condition {
                Condition::Filter(inner) => self.add(inner, prefix),
                Condition::Nested(n) => {
                    self.conditions += 1;
                    self.add(&n.nested.filter, &format!("{prefix}{}[].", n.nested.key));
                }
                Condition::Field(field) => {
                    self.conditions += 1;
                    let size = match &field.r#match {
                        Some(Match::Any { any: list } | Match::Except { except: list }) => {
                            match list {
                                AnyVariants::Integers(v) => v.len(),
                                AnyVariants::Keywords(v) => v.len(),
                            }
                        }
                        _ => 1,
                    };
                    self.largest_condition = self.largest_condition.max(size);
                    self.keys.push(format!("{prefix}{}", field.key));
                }
                Condition::HasId(has) => {
                    self.conditions += 1;
                    self.largest_condition = self.largest_condition.max(has.has_id.len());
                }
                Condition::IsEmpty(_) | Condition::IsNull(_) | Condition::HasVector(_) => {
                    self.conditions += 1;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_are_measured_through_nesting() {
        let filter: Filter = serde_json::from_value(serde_json::json!({
            "must": [
                {"key": "color", "match": {"any": ["red", "green", "blue"]}},
                {"should": [{"key": "size", "range": {"gt": 1}}, {"has_id": [1, 2]}]},
                {"nested": {"key": "parts", "filter": {"must": [{"key": "kind", "match": {"value": "x"}}]}}}
            ]
        }))
        .unwrap();
        let shape = FilterShape::of(&filter);
        assert_eq!(shape.conditions, 5);
        assert_eq!(shape.largest_condition, 3);
        assert_eq!(shape.keys, vec!["color", "size", "parts[].kind"]);
    }

    #[test]
    fn limits_are_refused_in_qdrants_words() {
        assert!(check_limit(5, Some(5), "limit").is_ok());
        assert!(check_limit(5, None, "limit").is_ok());
        let err = check_limit(6, Some(5), "limit").unwrap_err();
        assert_eq!(
            err,
            TesseraError::bad_input("Limit exceeded 6 > 5 for \"limit\"")
        );
    }

    #[test]
    fn updates_replace_only_the_limits_they_give() {
        let base = StrictModeConfig {
            enabled: Some(true),
            max_query_limit: Some(10),
            ..Default::default()
        };
        let update = StrictModeConfig {
            search_allow_exact: Some(false),
            ..Default::default()
        };
        let merged = base.merged(&update).unwrap();
        assert_eq!(merged.max_query_limit, Some(10));
        assert_eq!(merged.search_allow_exact, Some(false));
        assert!(merged.is_enabled());
    }
}
