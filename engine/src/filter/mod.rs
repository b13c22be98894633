//! Evaluation of Qdrant filters against one point's id, payload and vectors.
//!
//! A [`Filter`] is compiled once per request: paths are parsed, unsupported conditions
//! rejected, and `any`/`except` lists hashed, so evaluation per point allocates little.

mod geo;
pub use tessera_types::json_path as path;
mod text;

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use serde_json::Value;
use tessera_types::{
    AnyVariants, Condition, FieldCondition, Filter, Match, MatchValue, Payload, PointId, Range,
    RangeInterface, Slice, ValuesCount, SLICE_INDEX_OUT_OF_RANGE,
};

use geo::GeoCheck;
use path::JsonPath;
pub(crate) use text::TextAnalyzer;

/// The analyzers of a collection's text indexes, by payload key: a text match
/// on one of these keys matches tokens instead of substrings.
pub(crate) type TextIndexes = BTreeMap<String, Arc<TextAnalyzer>>;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Unsupported(String),
    /// A filter that parses but breaks a rule Qdrant checks as validation (422).
    #[error("{0}")]
    Validation(String),
}

/// A filter ready for evaluation.
#[derive(Debug, Clone)]
pub struct CompiledFilter {
    must: Vec<Cond>,
    should: Vec<Cond>,
    must_not: Vec<Cond>,
    min_should: Option<(Vec<Cond>, usize)>,
}

#[derive(Debug, Clone)]
enum Cond {
    HasId(HashSet<PointId>),
    HasVector(String),
    Slice(Slice),
    IsEmpty(JsonPath),
    IsNull(JsonPath),
    Nested(JsonPath, Box<CompiledFilter>),
    Field(Box<FieldCheck>),
    Filter(Box<CompiledFilter>),
}

#[derive(Debug, Clone)]
struct FieldCheck {
    key: String,
    path: JsonPath,
    matcher: Option<Matcher>,
    range: Option<Range>,
    /// The range's bounds are datetimes (in seconds), and so are the values it reads.
    range_over_datetimes: bool,
    values_count: Option<ValuesCount>,
    is_empty: Option<bool>,
    is_null: Option<bool>,
    geo: Vec<GeoCheck>,
}

#[derive(Debug, Clone)]
enum Matcher {
    Value(MatchValue),
    Text(String),
    TextAny(Vec<String>),
    Prefix(String),
    Substring(String),
    /// Tokens of the query, matched by a text index's analyzer.
    Tokens(Arc<TextAnalyzer>, Vec<String>, TokenMatch),
    Any(ValueSet),
    Except(ValueSet),
}

#[derive(Debug, Clone, Copy)]
enum TokenMatch {
    All,
    Any,
    Phrase,
}

#[derive(Debug, Clone)]
enum ValueSet {
    Integers(HashSet<i64>),
    Keywords(HashSet<String>),
}

impl ValueSet {
    fn new(v: &AnyVariants) -> Self {
        match v {
            AnyVariants::Integers(xs) => ValueSet::Integers(xs.iter().copied().collect()),
            AnyVariants::Keywords(xs) => ValueSet::Keywords(xs.iter().cloned().collect()),
        }
    }

    fn contains(&self, value: &Value) -> bool {
        match self {
            ValueSet::Integers(set) => as_integer(value).is_some_and(|i| set.contains(&i)),
            ValueSet::Keywords(set) => value.as_str().is_some_and(|s| set.contains(s)),
        }
    }
}

/// Checks and prepares `filter`, text matches as substrings.
pub fn compile(filter: &Filter) -> Result<CompiledFilter, FilterError> {
    compile_with(filter, &TextIndexes::new())
}

/// Checks and prepares `filter`; text matches on keys of `texts` go by tokens.
pub(crate) fn compile_with(
    filter: &Filter,
    texts: &TextIndexes,
) -> Result<CompiledFilter, FilterError> {
    let all = |conds: &[Condition]| -> Result<Vec<Cond>, FilterError> {
        conds.iter().map(|c| compile_condition(c, texts)).collect()
    };
    Ok(CompiledFilter {
        must: all(&filter.must)?,
        should: all(&filter.should)?,
        must_not: all(&filter.must_not)?,
        min_should: match &filter.min_should {
            Some(ms) => Some((all(&ms.conditions)?, ms.min_count)),
            None => None,
        },
    })
}

fn parse_path(key: &str) -> Result<JsonPath, FilterError> {
    JsonPath::parse(key).map_err(FilterError::Invalid)
}

fn compile_condition(cond: &Condition, texts: &TextIndexes) -> Result<Cond, FilterError> {
    Ok(match cond {
        Condition::HasId(c) => Cond::HasId(c.has_id.iter().copied().collect()),
        Condition::HasVector(c) => Cond::HasVector(c.has_vector.clone()),
        Condition::Slice(c) if c.slice.index >= c.slice.total.get() => {
            return Err(FilterError::Validation(format!(
                "[slice: {SLICE_INDEX_OUT_OF_RANGE}]"
            )))
        }
        Condition::Slice(c) => Cond::Slice(c.slice),
        Condition::IsEmpty(c) => Cond::IsEmpty(parse_path(&c.is_empty.key)?),
        Condition::IsNull(c) => Cond::IsNull(parse_path(&c.is_null.key)?),
        Condition::Nested(c) => Cond::Nested(
            parse_path(&c.nested.key)?,
            Box::new(compile_with(&c.nested.filter, texts)?),
        ),
        Condition::Field(f) => Cond::Field(Box::new(compile_field(f, texts)?)),
        Condition::Filter(f) => Cond::Filter(Box::new(compile_with(f, texts)?)),
    })
}

fn compile_field(f: &FieldCondition, texts: &TextIndexes) -> Result<FieldCheck, FilterError> {
    let mut geo = Vec::new();
    if let Some(v) = &f.geo_radius {
        geo.push(GeoCheck::radius(v)?);
    }
    if let Some(v) = &f.geo_bounding_box {
        geo.push(GeoCheck::bounding_box(v)?);
    }
    if let Some(v) = &f.geo_polygon {
        geo.push(GeoCheck::polygon(v)?);
    }
    if f.r#match.is_none()
        && f.range.is_none()
        && f.values_count.is_none()
        && f.is_empty.is_none()
        && f.is_null.is_none()
        && geo.is_empty()
    {
        return Err(FilterError::Validation(format!(
            "[{}: At least one field condition must be specified]",
            f.key
        )));
    }
    let tokens = |analyzer: &Arc<TextAnalyzer>, text: &str, how| {
        Matcher::Tokens(analyzer.clone(), analyzer.tokens(text), how)
    };
    let matcher = f.r#match.as_ref().map(|m| match (m, texts.get(&f.key)) {
        (Match::Text { text }, Some(a)) => tokens(a, text, TokenMatch::All),
        (Match::Phrase { phrase }, Some(a)) => tokens(a, phrase, TokenMatch::Phrase),
        (Match::TextAny { text_any }, Some(a)) => tokens(a, text_any, TokenMatch::Any),
        (m, _) => match m {
            Match::Value { value } => Matcher::Value(value.clone()),
            // Without a full-text index Qdrant matches text and phrases as substrings.
            Match::Text { text } => Matcher::Text(text.clone()),
            Match::Phrase { phrase } => Matcher::Text(phrase.clone()),
            Match::TextAny { text_any } => {
                Matcher::TextAny(text_any.split_whitespace().map(str::to_string).collect())
            }
            Match::Prefix { prefix } => Matcher::Prefix(prefix.clone()),
            Match::Substring { substring } => Matcher::Substring(substring.clone()),
            Match::Any { any } => Matcher::Any(ValueSet::new(any)),
            Match::Except { except } => Matcher::Except(ValueSet::new(except)),
        },
    });
    let (range, range_over_datetimes) = match &f.range {
        None => (None, false),
        Some(RangeInterface::Numbers(r)) => (Some(r.clone()), false),
        Some(RangeInterface::Datetimes(d)) => (
            Some(
                d.to_seconds()
                    .map_err(|e| FilterError::Invalid(format!("range on `{}`: {e}", f.key)))?,
            ),
            true,
        ),
    };
    Ok(FieldCheck {
        key: f.key.clone(),
        path: parse_path(&f.key)?,
        matcher,
        range,
        range_over_datetimes,
        values_count: f.values_count.clone(),
        is_empty: f.is_empty,
        is_null: f.is_null,
        geo,
    })
}

/// An integral JSON number as i64 (`3` and `3.0` both count).
pub(crate) fn as_integer(value: &Value) -> Option<i64> {
    let n = value.as_number()?;
    n.as_i64().or_else(|| {
        n.as_f64()
            .filter(|f| f.fract() == 0.0 && *f >= i64::MIN as f64 && *f < i64::MAX as f64)
            .map(|f| f as i64)
    })
}

fn is_empty(path: &JsonPath, payload: &Payload) -> bool {
    path.values(payload).iter().all(|v| v.is_null())
}

fn is_null(path: &JsonPath, payload: &Payload) -> bool {
    path.raw_values(payload).iter().any(|v| v.is_null())
}

impl Matcher {
    /// Whether the field's `values` satisfy this match.
    fn check(&self, values: &[&Value]) -> bool {
        match self {
            Matcher::Value(MatchValue::Keyword(k)) => values.iter().any(|v| v.as_str() == Some(k)),
            Matcher::Value(MatchValue::Integer(i)) => {
                values.iter().any(|v| as_integer(v) == Some(*i))
            }
            Matcher::Value(MatchValue::Bool(b)) => values.iter().any(|v| v.as_bool() == Some(*b)),
            Matcher::Text(t) => values
                .iter()
                .any(|v| v.as_str().is_some_and(|s| s.contains(t.as_str()))),
            Matcher::Prefix(p) => values
                .iter()
                .any(|v| v.as_str().is_some_and(|s| s.starts_with(p.as_str()))),
            Matcher::Substring(t) => values
                .iter()
                .any(|v| v.as_str().is_some_and(|s| s.contains(t.as_str()))),
            Matcher::TextAny(words) => values.iter().any(|v| {
                v.as_str()
                    .is_some_and(|s| words.iter().any(|w| s.contains(w.as_str())))
            }),
            Matcher::Tokens(analyzer, query, how) => values.iter().any(|v| {
                v.as_str().is_some_and(|text| match how {
                    TokenMatch::All => analyzer.all(text, query),
                    TokenMatch::Any => analyzer.any(text, query),
                    TokenMatch::Phrase => analyzer.phrase(text, query),
                })
            }),
            Matcher::Any(set) => values.iter().any(|v| set.contains(v)),
            // Matches a missing field, or one with a value outside the list.
            Matcher::Except(set) => values.is_empty() || values.iter().any(|v| !set.contains(v)),
        }
    }
}

impl FieldCheck {
    fn check(&self, payload: &Payload) -> bool {
        let values: Vec<&Value> = self
            .path
            .values(payload)
            .into_iter()
            .filter(|v| !v.is_null())
            .collect();
        self.matcher.as_ref().is_none_or(|m| m.check(&values))
            && self.range.as_ref().is_none_or(|r| {
                values.iter().any(|v| {
                    let x = if self.range_over_datetimes {
                        v.as_str().and_then(tessera_types::time::parse_datetime)
                    } else {
                        v.as_f64()
                    };
                    x.is_some_and(|x| r.contains(x))
                })
            })
            && self
                .values_count
                .as_ref()
                .is_none_or(|c| c.contains(values.len()))
            && self.is_empty.is_none_or(|want| values.is_empty() == want)
            && self
                .is_null
                .is_none_or(|want| is_null(&self.path, payload) == want)
            && self.geo.iter().all(|g| g.check(&values))
    }
}

/// A condition a payload index can answer: the points whose field holds one of these
/// values, or a number in this range.
#[derive(Debug, Clone, PartialEq)]
pub enum IndexQuery {
    Keywords(Vec<String>),
    Integers(Vec<i64>),
    Bool(bool),
    Range(Range),
}

impl CompiledFilter {
    /// Top-level `must` conditions a payload index on their key can answer. Every point
    /// passing the filter passes each of them, so an index answer bounds the matches.
    pub fn index_queries(&self) -> Vec<(&str, IndexQuery)> {
        let mut out = Vec::new();
        for cond in &self.must {
            let Cond::Field(check) = cond else { continue };
            let key = check.key.as_str();
            match &check.matcher {
                Some(Matcher::Value(MatchValue::Keyword(k))) => {
                    out.push((key, IndexQuery::Keywords(vec![k.clone()])))
                }
                Some(Matcher::Value(MatchValue::Integer(i))) => {
                    out.push((key, IndexQuery::Integers(vec![*i])))
                }
                Some(Matcher::Value(MatchValue::Bool(b))) => out.push((key, IndexQuery::Bool(*b))),
                Some(Matcher::Any(ValueSet::Keywords(set))) => {
                    out.push((key, IndexQuery::Keywords(set.iter().cloned().collect())))
                }
                Some(Matcher::Any(ValueSet::Integers(set))) => {
                    out.push((key, IndexQuery::Integers(set.iter().copied().collect())))
                }
                _ => {}
            }
            // Numeric indexes hold numbers, not datetimes.
            if let Some(range) = check.range.as_ref().filter(|_| !check.range_over_datetimes) {
                out.push((key, IndexQuery::Range(range.clone())));
            }
        }
        out
    }

    /// Whether the point with this id and payload, holding the vectors `has_vector`
    /// accepts, passes the filter.
    pub fn matches(
        &self,
        id: PointId,
        payload: &Payload,
        has_vector: &dyn Fn(&str) -> bool,
    ) -> bool {
        let hit = |c: &Cond| c.matches(id, payload, has_vector);
        self.must.iter().all(hit)
            && (self.should.is_empty() || self.should.iter().any(hit))
            && !self.must_not.iter().any(hit)
            && self
                .min_should
                .as_ref()
                .is_none_or(|(conds, min)| conds.iter().filter(|c| hit(c)).count() >= *min)
    }
}

impl Cond {
    fn matches(&self, id: PointId, payload: &Payload, has_vector: &dyn Fn(&str) -> bool) -> bool {
        match self {
            Cond::HasId(ids) => ids.contains(&id),
            Cond::HasVector(name) => has_vector(name),
            Cond::Slice(slice) => slice.contains(id),
            Cond::IsEmpty(path) => is_empty(path, payload),
            Cond::IsNull(path) => is_null(path, payload),
            // The inner filter sees each array element as the payload: paths are relative.
            Cond::Nested(path, inner) => path.values(payload).into_iter().any(|element| {
                element
                    .as_object()
                    .is_some_and(|obj| inner.matches(id, obj, has_vector))
            }),
            Cond::Field(check) => check.check(payload),
            Cond::Filter(inner) => inner.matches(id, payload, has_vector),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use tessera_types::NamedVectors;

    fn eval(filter: Value, payload: Value) -> bool {
        eval_with(filter, PointId::Num(1), payload, &NamedVectors::new())
    }

    fn eval_with(filter: Value, id: PointId, payload: Value, vectors: &NamedVectors) -> bool {
        let filter: Filter = serde_json::from_value(filter).unwrap();
        compile(&filter)
            .unwrap()
            .matches(id, payload.as_object().unwrap(), &|name| {
                vectors.contains_key(name)
            })
    }

    fn must(cond: Value) -> Value {
        json!({ "must": [cond] })
    }

    #[test]
    fn match_value_keyword_integer_bool() {
        let p = json!({"city": "London", "n": 3, "f": 3.0, "b": true, "tags": ["x", "y"]});
        assert!(eval(
            must(json!({"key": "city", "match": {"value": "London"}})),
            p.clone()
        ));
        assert!(!eval(
            must(json!({"key": "city", "match": {"value": "Paris"}})),
            p.clone()
        ));
        assert!(eval(
            must(json!({"key": "n", "match": {"value": 3}})),
            p.clone()
        ));
        assert!(eval(
            must(json!({"key": "f", "match": {"value": 3}})),
            p.clone()
        ));
        assert!(!eval(
            must(json!({"key": "n", "match": {"value": "3"}})),
            p.clone()
        ));
        assert!(eval(
            must(json!({"key": "b", "match": {"value": true}})),
            p.clone()
        ));
        assert!(!eval(
            must(json!({"key": "b", "match": {"value": false}})),
            p.clone()
        ));
        assert!(eval(
            must(json!({"key": "tags", "match": {"value": "y"}})),
            p.clone()
        ));
        assert!(!eval(
            must(json!({"key": "missing", "match": {"value": "y"}})),
            p
        ));
    }

    #[test]
    fn match_any_and_except() {
        let p = json!({"c": "red", "n": [1, 5], "one": [1]});
        assert!(eval(
            must(json!({"key": "c", "match": {"any": ["red", "blue"]}})),
            p.clone()
        ));
        assert!(!eval(
            must(json!({"key": "c", "match": {"any": ["blue"]}})),
            p.clone()
        ));
        assert!(eval(
            must(json!({"key": "n", "match": {"any": [5, 9]}})),
            p.clone()
        ));
        assert!(!eval(
            must(json!({"key": "c", "match": {"any": []}})),
            p.clone()
        ));
        assert!(!eval(
            must(json!({"key": "c", "match": {"except": ["red"]}})),
            p.clone()
        ));
        assert!(eval(
            must(json!({"key": "c", "match": {"except": ["blue"]}})),
            p.clone()
        ));
        assert!(eval(
            must(json!({"key": "n", "match": {"except": [1]}})),
            p.clone()
        ));
        assert!(!eval(
            must(json!({"key": "one", "match": {"except": [1]}})),
            p.clone()
        ));
        assert!(eval(
            must(json!({"key": "missing", "match": {"except": [1]}})),
            p
        ));
    }

    #[test]
    fn text_range_and_values_count() {
        let p = json!({"t": "the quick brown fox", "x": 2.5, "xs": [1, 10], "s": "7"});
        assert!(eval(
            must(json!({"key": "t", "match": {"text": "quick br"}})),
            p.clone()
        ));
        assert!(!eval(
            must(json!({"key": "t", "match": {"text": "slow"}})),
            p.clone()
        ));
        assert!(eval(
            must(json!({"key": "t", "match": {"text_any": "slow fox"}})),
            p.clone()
        ));
        assert!(eval(
            must(json!({"key": "t", "match": {"phrase": "brown fox"}})),
            p.clone()
        ));
        assert!(eval(
            must(json!({"key": "x", "range": {"gt": 2, "lte": 2.5}})),
            p.clone()
        ));
        assert!(!eval(
            must(json!({"key": "x", "range": {"lt": 2.5}})),
            p.clone()
        ));
        assert!(eval(
            must(json!({"key": "xs", "range": {"gte": 10}})),
            p.clone()
        ));
        assert!(!eval(
            must(json!({"key": "s", "range": {"gte": 0}})),
            p.clone()
        ));
        assert!(eval(
            must(json!({"key": "xs", "values_count": {"gte": 2, "lt": 3}})),
            p.clone()
        ));
        assert!(eval(
            must(json!({"key": "x", "values_count": {"lte": 1}})),
            p.clone()
        ));
        assert!(eval(
            must(json!({"key": "none", "values_count": {"lt": 1}})),
            p
        ));
    }

    #[test]
    fn empty_and_null() {
        let p = json!({"e": [], "n": null, "v": 1, "an": [null]});
        for (key, empty, null) in [
            ("e", true, false),
            ("n", true, true),
            ("missing", true, false),
            ("v", false, false),
            ("an", true, false),
        ] {
            assert_eq!(
                eval(must(json!({"is_empty": {"key": key}})), p.clone()),
                empty,
                "{key}"
            );
            assert_eq!(
                eval(must(json!({"is_null": {"key": key}})), p.clone()),
                null,
                "{key}"
            );
            assert_eq!(
                eval(must(json!({"key": key, "is_empty": true})), p.clone()),
                empty,
                "{key}"
            );
            assert_eq!(
                eval(must(json!({"key": key, "is_null": false})), p.clone()),
                !null,
                "{key}"
            );
        }
    }

    #[test]
    fn boolean_structure() {
        let p = json!({"a": 1, "b": 2});
        let a1 = json!({"key": "a", "match": {"value": 1}});
        let b1 = json!({"key": "b", "match": {"value": 1}});
        let b2 = json!({"key": "b", "match": {"value": 2}});
        assert!(eval(json!({}), p.clone()));
        assert!(eval(json!({"should": [a1, b1]}), p.clone()));
        assert!(!eval(json!({"should": [b1]}), p.clone()));
        assert!(!eval(json!({"must_not": [b2]}), p.clone()));
        assert!(eval(json!({"must": [a1], "must_not": [b1]}), p.clone()));
        assert!(eval(json!({"must": [{"should": [b1, b2]}]}), p.clone()));
        let ms = |n: usize| json!({"min_should": {"conditions": [a1, b1, b2], "min_count": n}});
        assert!(eval(ms(2), p.clone()));
        assert!(!eval(ms(3), p));
    }

    #[test]
    fn has_id_has_vector_and_nested() {
        let vectors = NamedVectors::from([("img".to_string(), vec![1.0].into())]);
        let p = json!({"items": [{"x": 1, "y": "a"}, {"x": 2, "y": "b"}]});
        let id = PointId::Num(7);
        assert!(eval_with(
            must(json!({"has_id": [7, 8]})),
            id,
            p.clone(),
            &vectors
        ));
        assert!(!eval_with(
            must(json!({"has_id": [8]})),
            id,
            p.clone(),
            &vectors
        ));
        assert!(eval_with(
            must(json!({"has_vector": "img"})),
            id,
            p.clone(),
            &vectors
        ));
        assert!(!eval_with(
            must(json!({"has_vector": "txt"})),
            id,
            p.clone(),
            &vectors
        ));
        let nested = |x: i64, y: &str| {
            must(json!({"nested": {"key": "items", "filter": {"must": [
                {"key": "x", "match": {"value": x}}, {"key": "y", "match": {"value": y}}
            ]}}}))
        };
        assert!(eval(nested(1, "a"), p.clone()));
        assert!(eval(nested(2, "b"), p.clone()));
        // `[]` paths mix elements; nested keeps each element's fields together.
        assert!(!eval(nested(1, "b"), p.clone()));
        assert!(eval(
            json!({"must": [{"key": "items[].x", "match": {"value": 1}},
                            {"key": "items[].y", "match": {"value": "b"}}]}),
            p
        ));
    }

    #[test]
    fn prefix_and_substring_match_strings_case_sensitively() {
        let p = json!({"path": "/usr/local", "tags": [1, "Alpha", "beta"], "n": 12});
        let prefix = |key: &str, s: &str| must(json!({"key": key, "match": {"prefix": s}}));
        assert!(eval(prefix("path", "/usr/"), p.clone()));
        assert!(eval(prefix("path", ""), p.clone()));
        assert!(!eval(prefix("path", "/USR"), p.clone()));
        assert!(eval(prefix("tags", "be"), p.clone()));
        assert!(!eval(prefix("tags", "al"), p.clone()));
        assert!(!eval(prefix("n", "1"), p.clone()));
        let substring = |key: &str, s: &str| must(json!({"key": key, "match": {"substring": s}}));
        assert!(eval(substring("path", "local"), p.clone()));
        assert!(eval(substring("tags", "lph"), p.clone()));
        assert!(!eval(substring("path", "Local"), p.clone()));
        assert!(!eval(substring("n", "2"), p));
    }

    #[test]
    fn slice_selects_by_id_hash_and_checks_its_index() {
        let in_slice = |id: u64, index: u32| {
            eval_with(
                must(json!({"slice": {"total": 4, "index": index}})),
                PointId::Num(id),
                json!({}),
                &NamedVectors::new(),
            )
        };
        // hash(0) = 0xe849e8bb6ffe2567, which is 3 modulo 4.
        assert!(in_slice(0, 3));
        assert!(!in_slice(0, 0));
        let out_of_range: Filter =
            serde_json::from_value(must(json!({"slice": {"total": 4, "index": 4}}))).unwrap();
        assert_eq!(
            compile(&out_of_range).unwrap_err(),
            FilterError::Validation(format!("[slice: {SLICE_INDEX_OUT_OF_RANGE}]"))
        );
    }

    #[test]
    fn rejects_bad_geo_empty_conditions_and_bad_paths() {
        let geo: Filter = serde_json::from_value(must(json!({
            "key": "loc", "geo_radius": {"center": {"lon": 0, "lat": 95}, "radius": 1}
        })))
        .unwrap();
        assert!(matches!(compile(&geo), Err(FilterError::Invalid(_))));
        let empty: Filter = serde_json::from_value(must(json!({"key": "a"}))).unwrap();
        assert!(matches!(compile(&empty), Err(FilterError::Validation(_))));
        let bad: Filter =
            serde_json::from_value(must(json!({"key": "a..b", "match": {"value": 1}}))).unwrap();
        assert!(matches!(compile(&bad), Err(FilterError::Invalid(_))));
    }
}
