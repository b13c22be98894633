//! The filter language of Qdrant's REST contract. Evaluation lives in the data plane.

use std::hash::Hasher;
use std::num::NonZeroU32;

use serde::{Deserialize, Deserializer, Serialize};

use crate::point::PointId;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Filter {
    /// At least one must match (when not empty).
    #[serde(
        default,
        deserialize_with = "one_or_many",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schemars(with = "Conditions")]
    pub should: Vec<Condition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_should: Option<MinShould>,
    /// All must match.
    #[serde(
        default,
        deserialize_with = "one_or_many",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schemars(with = "Conditions")]
    pub must: Vec<Condition>,
    /// None may match.
    #[serde(
        default,
        deserialize_with = "one_or_many",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schemars(with = "Conditions")]
    pub must_not: Vec<Condition>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MinShould {
    pub conditions: Vec<Condition>,
    pub min_count: usize,
}

/// Conditions as Qdrant accepts them: a list, a single condition, or null.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
enum Conditions {
    Many(Vec<Condition>),
    One(Box<Condition>),
    Null(()),
}

fn one_or_many<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<Condition>, D::Error> {
    Ok(match Conditions::deserialize(deserializer)? {
        Conditions::Many(v) => v,
        Conditions::One(c) => vec![*c],
        Conditions::Null(()) => Vec::new(),
    })
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum Condition {
    HasId(HasIdCondition),
    IsEmpty(IsEmptyCondition),
    IsNull(IsNullCondition),
    Nested(NestedCondition),
    HasVector(HasVectorCondition),
    Slice(SliceCondition),
    Field(FieldCondition),
    Filter(Filter),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HasIdCondition {
    pub has_id: Vec<PointId>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PayloadField {
    pub key: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IsEmptyCondition {
    pub is_empty: PayloadField,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IsNullCondition {
    pub is_null: PayloadField,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HasVectorCondition {
    pub has_vector: String,
}

/// `{"slice": {"total": n, "index": i}}`: the points whose id hashes into
/// slice `i` of `n`, for parallel scans and reproducible samples.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SliceCondition {
    pub slice: Slice,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Slice {
    /// Zero is refused while parsing (400), as Qdrant does.
    pub total: NonZeroU32,
    pub index: u32,
}

/// Qdrant's text for a slice index out of range.
pub const SLICE_INDEX_OUT_OF_RANGE: &str =
    "Slice index must be less than the total number of slices";

impl Slice {
    pub fn contains(&self, id: PointId) -> bool {
        slice_point_id_hash(id) % u64::from(self.total.get()) == u64::from(self.index)
    }
}

/// SipHash-2-4 with a zero key over the id's canonical bytes (8 little-endian
/// bytes of a numeric id, the 16 RFC 4122 bytes of a UUID), written at once.
/// Qdrant publishes this as a frozen contract: clients predict slices with it.
pub fn slice_point_id_hash(id: PointId) -> u64 {
    // std's SipHasher is exactly SipHash-2-4 keyed with zeros; it is deprecated
    // only as a HashMap default, and its algorithm cannot change.
    #[allow(deprecated)]
    let mut hasher = std::hash::SipHasher::new();
    match id {
        PointId::Num(n) => hasher.write(&n.to_le_bytes()),
        PointId::Uuid(u) => hasher.write(u.as_bytes()),
    }
    hasher.finish()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NestedCondition {
    pub nested: Nested,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Nested {
    pub key: String,
    pub filter: Filter,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FieldCondition {
    pub key: String,
    #[serde(default, rename = "match", skip_serializing_if = "Option::is_none")]
    pub r#match: Option<Match>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range: Option<RangeInterface>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values_count: Option<ValuesCount>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_empty: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_null: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub geo_bounding_box: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub geo_radius: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub geo_polygon: Option<serde_json::Value>,
}

/// A value to match exactly: keyword, integer or bool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum MatchValue {
    Bool(bool),
    Integer(i64),
    Keyword(String),
}

/// A list for `any` / `except`: keywords or integers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum AnyVariants {
    Integers(Vec<i64>),
    Keywords(Vec<String>),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum Match {
    Value {
        value: MatchValue,
    },
    Text {
        text: String,
    },
    TextAny {
        text_any: String,
    },
    Phrase {
        phrase: String,
    },
    /// String values starting with it, byte-wise and case-sensitive.
    Prefix {
        prefix: String,
    },
    /// String values containing it, byte-wise and case-sensitive (Qdrant 1.20).
    Substring {
        substring: String,
    },
    Any {
        any: AnyVariants,
    },
    Except {
        except: AnyVariants,
    },
}

/// A `range` condition: over numbers, or over datetimes given as strings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum RangeInterface {
    Numbers(Range),
    Datetimes(DatetimeRange),
}

/// Qdrant's `DatetimeRange`: bounds as RFC 3339 datetimes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DatetimeRange {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lt: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gt: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gte: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lte: Option<String>,
}

impl DatetimeRange {
    /// The same bounds in seconds since the Unix epoch; the first bound that
    /// is not a datetime is named in the error.
    pub fn to_seconds(&self) -> std::result::Result<Range, String> {
        let bound = |b: &Option<String>| match b {
            None => Ok(None),
            Some(text) => crate::time::parse_datetime(text)
                .map(Some)
                .ok_or_else(|| format!("`{text}` is not an RFC 3339 datetime")),
        };
        Ok(Range {
            lt: bound(&self.lt)?,
            gt: bound(&self.gt)?,
            gte: bound(&self.gte)?,
            lte: bound(&self.lte)?,
        })
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Range {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lt: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gt: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gte: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lte: Option<f64>,
}

impl Range {
    pub fn contains(&self, x: f64) -> bool {
        self.lt.is_none_or(|b| x < b)
            && self.gt.is_none_or(|b| x > b)
            && self.gte.is_none_or(|b| x >= b)
            && self.lte.is_none_or(|b| x <= b)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ValuesCount {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lt: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gt: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gte: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lte: Option<usize>,
}

impl ValuesCount {
    pub fn contains(&self, n: usize) -> bool {
        self.lt.is_none_or(|b| n < b)
            && self.gt.is_none_or(|b| n > b)
            && self.gte.is_none_or(|b| n >= b)
            && self.lte.is_none_or(|b| n <= b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_shapes_users_send() {
        let f: Filter = serde_json::from_value(serde_json::json!({
            "must": [
                {"key": "city", "match": {"value": "London"}},
                {"key": "n", "range": {"gte": 1, "lt": 5.5}},
                {"has_id": [1, "550e8400-e29b-41d4-a716-446655440000"]},
                {"is_empty": {"key": "tags"}},
                {"nested": {"key": "items", "filter": {"must": {"key": "x", "match": {"any": [1, 2]}}}}},
                {"must_not": [{"key": "c", "match": {"except": ["a"]}}]}
            ],
            "should": {"is_null": {"key": "z"}}
        }))
        .unwrap();
        assert_eq!(f.must.len(), 6);
        assert!(matches!(f.must[5], Condition::Filter(_)));
        assert!(matches!(f.should[0], Condition::IsNull(_)));
    }

    #[test]
    fn slice_hash_is_qdrants_frozen_contract() {
        let uuid = uuid::Uuid::parse_str("550e8400-e29b-41d4-a716-446655440000").unwrap();
        assert_eq!(slice_point_id_hash(PointId::Num(0)), 0xe849e8bb6ffe2567);
        assert_eq!(slice_point_id_hash(PointId::Num(42)), 0x0fc2553f07619dd3);
        assert_eq!(slice_point_id_hash(PointId::Uuid(uuid)), 0xf5d0ca21ba34d504);
    }

    #[test]
    fn slices_partition_ids_and_nest_across_totals() {
        let slice = |total, index| Slice {
            total: NonZeroU32::new(total).unwrap(),
            index,
        };
        for n in 0..200u64 {
            let id = PointId::Num(n);
            let owners = (0..4).filter(|&i| slice(4, i).contains(id)).count();
            assert_eq!(owners, 1, "{n}");
            // No salt: a slice of 4 lies within the slice of 2 with its parity.
            if slice(4, 0).contains(id) {
                assert!(slice(2, 0).contains(id));
            }
        }
    }

    #[test]
    fn slice_and_new_matches_parse() {
        let f: Filter = serde_json::from_value(serde_json::json!({"must": [
            {"slice": {"total": 8, "index": 3}},
            {"key": "p", "match": {"prefix": "ab"}},
            {"key": "p", "match": {"substring": "b"}}
        ]}))
        .unwrap();
        assert!(matches!(f.must[0], Condition::Slice(_)));
        let r: Result<Filter, _> = serde_json::from_value(
            serde_json::json!({"must": [{"slice": {"total": 0, "index": 0}}]}),
        );
        assert!(r.is_err());
    }

    #[test]
    fn rejects_unknown_condition() {
        let r: Result<Filter, _> =
            serde_json::from_value(serde_json::json!({"must": [{"nonsense": 1}]}));
        assert!(r.is_err());
    }
}
