//! Strict mode: per-collection limits on what requests may ask, so one caller
//! cannot make a shared collection slow for everyone. The gateway checks every
//! request against them before it reaches a shard.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::collection::{IndexParams, PayloadFieldSchema, PayloadSchema, PayloadSchemaType};
use crate::error::{Result, TesseraError};
use crate::filter::{
    AnyVariants, Condition, FieldCondition, Filter, Match, MatchValue, RangeInterface,
};
use crate::formula::Expression;
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
                        Err(TesseraError::bad_request(format!(
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
                    Some(max) if multi.len() > max => Err(TesseraError::bad_request(format!(
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
        let mut current = serde_json::to_value(self).map_err(TesseraError::internal_from)?;
        let update = serde_json::to_value(update).map_err(TesseraError::internal_from)?;
        if let (Some(current), Some(update)) = (current.as_object_mut(), update.as_object()) {
            current.extend(update.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        serde_json::from_value(current).map_err(TesseraError::internal_from)
    }
}

/// A strict-mode refusal in Qdrant's words: what is wrong, then how to help it.
pub fn refusal(error: impl std::fmt::Display, help: impl std::fmt::Display) -> TesseraError {
    TesseraError::bad_request(format!("{error}. Help: {help}"))
}

/// Refuses `value` above `max`, in Qdrant's words.
pub fn check_limit<T: PartialOrd + std::fmt::Display>(
    value: T,
    max: Option<T>,
    what: &str,
) -> Result<()> {
    match max {
        Some(max) if value > max => Err(refusal(
            format!("Limit exceeded {value} > {max} for \"{what}\""),
            format!("Reduce the \"{what}\" parameter to or below {max}."),
        )),
        _ => Ok(()),
    }
}

/// What strict mode weighs in a filter, counted as Qdrant counts: its conditions
/// (a nested or inner filter counts as its own conditions) and the longest list a
/// condition matches against.
#[derive(Debug, Default, PartialEq)]
pub struct FilterShape {
    pub conditions: usize,
    pub largest_condition: usize,
}

impl FilterShape {
    pub fn of(filter: &Filter) -> FilterShape {
        let mut shape = FilterShape::default();
        for condition in conditions(filter) {
            match condition {
                Condition::Filter(inner) => shape.add(FilterShape::of(inner)),
                Condition::Nested(n) => shape.add(FilterShape::of(&n.nested.filter)),
                Condition::Field(field) => {
                    shape.conditions += 1;
                    let size = match &field.r#match {
                        Some(Match::Any { any: list } | Match::Except { except: list }) => {
                            list_len(list)
                        }
                        _ => 0,
                    };
                    shape.largest_condition = shape.largest_condition.max(size);
                }
                Condition::HasId(has) => {
                    shape.conditions += 1;
                    shape.largest_condition = shape.largest_condition.max(has.has_id.len());
                }
                Condition::IsEmpty(_)
                | Condition::IsNull(_)
                | Condition::HasVector(_)
                | Condition::Slice(_) => {
                    shape.conditions += 1;
                }
            }
        }
        shape
    }

    fn add(&mut self, inner: FilterShape) {
        self.conditions += inner.conditions;
        self.largest_condition = self.largest_condition.max(inner.largest_condition);
    }
}

fn conditions(filter: &Filter) -> impl Iterator<Item = &Condition> {
    let min_should = filter.min_should.iter().flat_map(|m| &m.conditions);
    filter
        .must
        .iter()
        .chain(&filter.should)
        .chain(&filter.must_not)
        .chain(min_should)
}

fn list_len(list: &AnyVariants) -> usize {
    match list {
        AnyVariants::Integers(v) => v.len(),
        AnyVariants::Keywords(v) => v.len(),
    }
}

/// What a payload index can answer. A condition needs an index with one of the
/// capabilities it asks for, as in Qdrant: an integer index without `lookup`
/// cannot match, a text index without `phrase_matching` cannot match phrases.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Capability {
    IntMatch,
    IntRange,
    KeywordMatch,
    KeywordPrefix,
    FloatRange,
    Text,
    TextPhrase,
    BoolMatch,
    UuidMatch,
    UuidRange,
    DatetimeRange,
    Geo,
}

use Capability::*;

/// Conditions any index serves (`is_empty`, `is_null`, `values_count`).
const ANY_INDEX: [Capability; 11] = [
    IntMatch,
    IntRange,
    KeywordMatch,
    FloatRange,
    Text,
    TextPhrase,
    BoolMatch,
    UuidMatch,
    UuidRange,
    DatetimeRange,
    Geo,
];

impl Capability {
    /// The index to create for it, as Qdrant names it in its refusal.
    fn index(self) -> &'static str {
        match self {
            IntMatch | IntRange => "integer",
            KeywordMatch => "keyword",
            KeywordPrefix => "keyword (with prefix: true)",
            FloatRange => "float",
            Text => "text",
            TextPhrase => "text (with phrase_matching: true)",
            BoolMatch => "bool",
            UuidMatch | UuidRange => "uuid",
            DatetimeRange => "datetime",
            Geo => "geo",
        }
    }

    fn of(schema: &PayloadFieldSchema) -> Vec<Capability> {
        match schema {
            PayloadFieldSchema::Text(params) if params.phrase_matching == Some(true) => {
                vec![Text, TextPhrase]
            }
            PayloadFieldSchema::Params(IndexParams {
                kind: PayloadSchemaType::Integer,
                lookup,
                range,
                ..
            }) => [
                (lookup.unwrap_or(true), IntMatch),
                (range.unwrap_or(true), IntRange),
            ]
            .into_iter()
            .filter_map(|(on, capability)| on.then_some(capability))
            .collect(),
            PayloadFieldSchema::Params(IndexParams {
                kind: PayloadSchemaType::Keyword,
                prefix: Some(true),
                ..
            }) => vec![KeywordMatch, KeywordPrefix],
            _ => match schema.kind() {
                PayloadSchemaType::Keyword => vec![KeywordMatch],
                PayloadSchemaType::Integer => vec![IntMatch, IntRange],
                PayloadSchemaType::Uuid => vec![UuidMatch, UuidRange],
                PayloadSchemaType::Bool => vec![BoolMatch],
                PayloadSchemaType::Float => vec![FloatRange],
                PayloadSchemaType::Geo => vec![Geo],
                PayloadSchemaType::Text => vec![Text],
                PayloadSchemaType::Datetime => vec![DatetimeRange],
            },
        }
    }

    /// What a field condition needs of an index on its key.
    fn needed_by(field: &FieldCondition) -> Vec<Capability> {
        let mut needed = Vec::new();
        let keywords = |all_uuids: bool| {
            if all_uuids {
                vec![UuidMatch, KeywordMatch]
            } else {
                vec![KeywordMatch]
            }
        };
        let is_uuid = |s: &String| uuid::Uuid::parse_str(s).is_ok();
        match &field.r#match {
            Some(Match::Value { value }) => needed.extend(match value {
                MatchValue::Keyword(s) => keywords(is_uuid(s)),
                MatchValue::Integer(_) => vec![IntMatch],
                MatchValue::Bool(_) => vec![BoolMatch],
            }),
            Some(Match::Text { .. } | Match::TextAny { .. }) => needed.push(Text),
            Some(Match::Phrase { .. }) => needed.push(TextPhrase),
            Some(Match::Prefix { .. }) => needed.push(KeywordPrefix),
            // Qdrant 1.20 serves substrings from any keyword index's dictionary.
            Some(Match::Substring { .. }) => needed.push(KeywordMatch),
            Some(Match::Any { any: list } | Match::Except { except: list }) => {
                needed.extend(match list {
                    AnyVariants::Keywords(v) => keywords(v.iter().all(is_uuid)),
                    AnyVariants::Integers(_) => vec![IntMatch],
                })
            }
            None => {}
        }
        match &field.range {
            Some(RangeInterface::Datetimes(_)) => needed.push(DatetimeRange),
            Some(RangeInterface::Numbers(_)) => needed.extend([FloatRange, IntRange]),
            None => {}
        }
        if field.geo_bounding_box.is_some()
            || field.geo_radius.is_some()
            || field.geo_polygon.is_some()
        {
            needed.push(Geo);
        }
        if field.values_count.is_some() || field.is_empty.is_some() || field.is_null.is_some() {
            needed.extend(ANY_INDEX);
        }
        needed
    }
}

/// A payload key a request reads without an index able to serve it, with the
/// index types that would, in Qdrant's words and order.
#[derive(Debug, PartialEq)]
pub struct Unindexed {
    pub key: String,
    pub indexes: String,
}

impl Unindexed {
    fn check(schema: &PayloadSchema, key: String, needed: &[Capability]) -> Option<Unindexed> {
        let served = schema
            .get(&key)
            .is_some_and(|index| Capability::of(index).iter().any(|c| needed.contains(c)));
        if served {
            return None;
        }
        let mut indexes: Vec<_> = needed.iter().map(|c| c.index()).collect();
        indexes.sort_unstable();
        indexes.dedup();
        Some(Unindexed {
            key,
            indexes: indexes.join(", "),
        })
    }

    /// The first key of `filter` its indexes cannot serve.
    pub fn in_filter(schema: &PayloadSchema, filter: &Filter) -> Option<Unindexed> {
        Self::in_filter_at(schema, filter, "")
    }

    fn in_filter_at(schema: &PayloadSchema, filter: &Filter, prefix: &str) -> Option<Unindexed> {
        conditions(filter).find_map(|c| Self::in_condition(schema, c, prefix))
    }

    fn in_condition(
        schema: &PayloadSchema,
        condition: &Condition,
        prefix: &str,
    ) -> Option<Unindexed> {
        match condition {
            Condition::Field(field) => Self::check(
                schema,
                format!("{prefix}{}", field.key),
                &Capability::needed_by(field),
            ),
            Condition::Filter(inner) => Self::in_filter_at(schema, inner, prefix),
            Condition::Nested(n) => Self::in_filter_at(
                schema,
                &n.nested.filter,
                &format!("{prefix}{}[].", n.nested.key),
            ),
            Condition::IsEmpty(c) => {
                Self::check(schema, format!("{prefix}{}", c.is_empty.key), &ANY_INDEX)
            }
            Condition::IsNull(c) => {
                Self::check(schema, format!("{prefix}{}", c.is_null.key), &ANY_INDEX)
            }
            Condition::HasId(_) | Condition::HasVector(_) | Condition::Slice(_) => None,
        }
    }

    /// The first payload key of a formula its indexes cannot serve.
    pub fn in_expression(schema: &PayloadSchema, expression: &Expression) -> Option<Unindexed> {
        let all = |list: &[Expression]| list.iter().find_map(|e| Self::in_expression(schema, e));
        let one = |e: &Expression| Self::in_expression(schema, e);
        match expression {
            Expression::Constant(_) | Expression::Datetime { .. } => None,
            // `$score`, `$score[i]`: not payload.
            Expression::Variable(name) if name.starts_with('$') => None,
            Expression::Variable(key) => {
                Self::check(schema, key.clone(), &[IntMatch, IntRange, FloatRange])
            }
            Expression::Condition(condition) => Self::in_condition(schema, condition, ""),
            Expression::GeoDistance { geo_distance } => {
                Self::check(schema, geo_distance.to.clone(), &[Geo])
            }
            Expression::DatetimeKey { datetime_key } => {
                Self::check(schema, datetime_key.clone(), &[DatetimeRange])
            }
            Expression::Mult { mult: list } | Expression::Sum { sum: list } => all(list),
            Expression::Neg { neg: e }
            | Expression::Abs { abs: e }
            | Expression::Sqrt { sqrt: e }
            | Expression::Exp { exp: e }
            | Expression::Log10 { log10: e }
            | Expression::Ln { ln: e } => one(e),
            Expression::Div { div } => one(&div.left).or_else(|| one(&div.right)),
            Expression::Pow { pow } => one(&pow.base).or_else(|| one(&pow.exponent)),
            Expression::LinDecay { lin_decay: d }
            | Expression::ExpDecay { exp_decay: d }
            | Expression::GaussDecay { gauss_decay: d } => {
                one(&d.x).or_else(|| d.target.as_ref().and_then(one))
            }
        }
    }

    /// Qdrant's refusal of this key, with `help` on what to do instead.
    pub fn refusal(&self, help: &str) -> TesseraError {
        refusal(
            format!(
                "Index required but not found for \"{}\" of one of the following types: [{}]",
                self.key, self.indexes
            ),
            help,
        )
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
        assert_eq!(shape.conditions, 4);
        assert_eq!(shape.largest_condition, 3);
    }

    #[test]
    fn a_key_needs_an_index_that_serves_its_condition() {
        let filter = |condition: serde_json::Value| -> Filter {
            serde_json::from_value(serde_json::json!({"must": [condition]})).unwrap()
        };
        let schema = |index: serde_json::Value| -> PayloadSchema {
            [("k".to_string(), serde_json::from_value(index).unwrap())].into()
        };
        let by_value = filter(serde_json::json!({"key": "k", "match": {"value": 1}}));
        let missing = Unindexed::in_filter(&PayloadSchema::new(), &by_value).unwrap();
        assert_eq!(
            missing.refusal("Create an index for this key or use a different filter.").to_string(),
            "Bad request: Index required but not found for \"k\" of one of the following types: [integer]. Help: Create an index for this key or use a different filter."
        );
        let lookup = schema(serde_json::json!({"type": "integer", "lookup": true, "range": false}));
        assert_eq!(Unindexed::in_filter(&lookup, &by_value), None);
        let range_only =
            schema(serde_json::json!({"type": "integer", "lookup": false, "range": true}));
        assert!(Unindexed::in_filter(&range_only, &by_value).is_some());

        let phrase = filter(serde_json::json!({"key": "k", "match": {"phrase": "a b"}}));
        let text = schema(serde_json::json!({"type": "text"}));
        assert_eq!(
            Unindexed::in_filter(&text, &phrase).unwrap().indexes,
            "text (with phrase_matching: true)"
        );
        let phrases = schema(serde_json::json!({"type": "text", "phrase_matching": true}));
        assert_eq!(Unindexed::in_filter(&phrases, &phrase), None);

        let range = filter(
            serde_json::json!({"nested": {"key": "n", "filter": {"must": [{"key": "k", "range": {"gt": 1}}]}}}),
        );
        let missing = Unindexed::in_filter(&PayloadSchema::new(), &range).unwrap();
        assert_eq!(missing.key, "n[].k");
        assert_eq!(missing.indexes, "float, integer");
    }

    #[test]
    fn formulas_need_numeric_indexes_on_their_payload_variables() {
        let expression: Expression =
            serde_json::from_value(serde_json::json!({"sum": ["$score", "price"]})).unwrap();
        let missing = Unindexed::in_expression(&PayloadSchema::new(), &expression).unwrap();
        assert_eq!(missing.key, "price");
        assert_eq!(missing.indexes, "float, integer");
        let indexed: PayloadSchema =
            [("price".to_string(), PayloadSchemaType::Float.into())].into();
        assert_eq!(Unindexed::in_expression(&indexed, &expression), None);
    }

    #[test]
    fn limits_are_refused_in_qdrants_words() {
        assert!(check_limit(5, Some(5), "limit").is_ok());
        assert!(check_limit(5, None, "limit").is_ok());
        let err = check_limit(6, Some(5), "limit").unwrap_err();
        assert_eq!(
            err.to_string(),
            "Bad request: Limit exceeded 6 > 5 for \"limit\". Help: Reduce the \"limit\" parameter to or below 5."
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
