//! Filters and conditions from Qdrant's protobuf into the domain filter.

use super::*;

// ---- filters ----------------------------------------------------------------

pub fn filter_from_proto(filter: q::Filter) -> Result<t::Filter> {
    let conditions = |c: Vec<q::Condition>| {
        c.into_iter()
            .map(condition_from_proto)
            .collect::<Result<Vec<_>>>()
    };
    Ok(t::Filter {
        should: conditions(filter.should)?,
        min_should: filter
            .min_should
            .map(|m| {
                Ok::<_, TesseraError>(t::MinShould {
                    conditions: conditions(m.conditions)?,
                    min_count: m.min_count as usize,
                })
            })
            .transpose()?,
        must: conditions(filter.must)?,
        must_not: conditions(filter.must_not)?,
    })
}

pub fn optional_filter_from_proto(filter: Option<q::Filter>) -> Result<Option<t::Filter>> {
    filter.map(filter_from_proto).transpose()
}

pub(super) fn condition_from_proto(condition: q::Condition) -> Result<t::Condition> {
    use q::condition::ConditionOneOf as C;
    match condition.condition_one_of {
        Some(C::Field(field)) => Ok(t::Condition::Field(field_condition_from_proto(field)?)),
        Some(C::IsEmpty(c)) => Ok(t::Condition::IsEmpty(t::IsEmptyCondition {
            is_empty: t::PayloadField { key: c.key },
        })),
        Some(C::IsNull(c)) => Ok(t::Condition::IsNull(t::IsNullCondition {
            is_null: t::PayloadField { key: c.key },
        })),
        Some(C::HasId(c)) => Ok(t::Condition::HasId(t::HasIdCondition {
            has_id: point_ids_from_proto(c.has_id)?,
        })),
        Some(C::Filter(f)) => Ok(t::Condition::Filter(filter_from_proto(f)?)),
        Some(C::Nested(n)) => Ok(t::Condition::Nested(t::NestedCondition {
            nested: t::Nested {
                key: n.key,
                filter: filter_from_proto(
                    n.filter
                        .ok_or_else(|| bad_input("Nested condition has no filter"))?,
                )?,
            },
        })),
        Some(C::HasVector(c)) => Ok(t::Condition::HasVector(t::HasVectorCondition {
            has_vector: c.has_vector,
        })),
        Some(C::Slice(c)) => {
            let total = std::num::NonZeroU32::new(c.total)
                .ok_or_else(|| bad_input("Slice total must be greater than 0"))?;
            if c.index >= c.total {
                return Err(bad_input(t::SLICE_INDEX_OUT_OF_RANGE));
            }
            Ok(t::Condition::Slice(t::SliceCondition {
                slice: t::Slice {
                    total,
                    index: c.index,
                },
            }))
        }
        None => Err(bad_input("Condition is empty")),
    }
}

fn geo_point(point: Option<q::GeoPoint>) -> Json {
    point.map_or(
        Json::Null,
        |p| serde_json::json!({"lon": p.lon, "lat": p.lat}),
    )
}

fn geo_line(line: q::GeoLineString) -> Json {
    serde_json::json!({"points": line.points.into_iter().map(|p| geo_point(Some(p))).collect::<Vec<_>>()})
}

/// A timestamp as the RFC 3339 text datetime ranges carry.
fn timestamp_text(t: prost_types::Timestamp) -> String {
    let at = tessera_types::time::UtcDateTime::from_unix_seconds(t.seconds);
    format!("{}.{:09}Z", at.iso_local(), t.nanos.max(0))
}

/// Geo conditions travel as Qdrant's REST JSON, which the data plane reads.
fn field_condition_from_proto(field: q::FieldCondition) -> Result<t::FieldCondition> {
    if field.range.is_some() && field.datetime_range.is_some() {
        return Err(bad_input(format!(
            "Field condition on `{}` has both range and datetime_range",
            field.key
        )));
    }
    let range = match (field.range, field.datetime_range) {
        (Some(r), _) => Some(t::RangeInterface::Numbers(t::Range {
            lt: r.lt,
            gt: r.gt,
            gte: r.gte,
            lte: r.lte,
        })),
        (None, Some(d)) => Some(t::RangeInterface::Datetimes(t::DatetimeRange {
            lt: d.lt.map(timestamp_text),
            gt: d.gt.map(timestamp_text),
            gte: d.gte.map(timestamp_text),
            lte: d.lte.map(timestamp_text),
        })),
        (None, None) => None,
    };
    let has_condition = field.r#match.is_some()
        || range.is_some()
        || field.values_count.is_some()
        || field.is_empty.is_some()
        || field.is_null.is_some()
        || field.geo_bounding_box.is_some()
        || field.geo_radius.is_some()
        || field.geo_polygon.is_some();
    if !has_condition {
        return Err(bad_input(format!(
            "Field condition on `{}` has nothing to check",
            field.key
        )));
    }
    Ok(t::FieldCondition {
        key: field.key,
        r#match: field.r#match.map(match_from_proto).transpose()?,
        range,
        values_count: field.values_count.map(|v| t::ValuesCount {
            lt: v.lt.map(|n| n as usize),
            gt: v.gt.map(|n| n as usize),
            gte: v.gte.map(|n| n as usize),
            lte: v.lte.map(|n| n as usize),
        }),
        is_empty: field.is_empty,
        is_null: field.is_null,
        geo_bounding_box: field.geo_bounding_box.map(|b| {
            serde_json::json!({"top_left": geo_point(b.top_left), "bottom_right": geo_point(b.bottom_right)})
        }),
        geo_radius: field.geo_radius.map(|r| {
            serde_json::json!({"center": geo_point(r.center), "radius": r.radius})
        }),
        geo_polygon: field.geo_polygon.map(|p| {
            serde_json::json!({
                "exterior": p.exterior.map_or(Json::Null, geo_line),
                "interiors": p.interiors.into_iter().map(geo_line).collect::<Vec<_>>(),
            })
        }),
    })
}

fn match_from_proto(m: q::Match) -> Result<t::Match> {
    use q::r#match::MatchValue as M;
    Ok(match m.match_value {
        Some(M::Keyword(s)) => t::Match::Value {
            value: t::MatchValue::Keyword(s),
        },
        Some(M::Integer(i)) => t::Match::Value {
            value: t::MatchValue::Integer(i),
        },
        Some(M::Boolean(b)) => t::Match::Value {
            value: t::MatchValue::Bool(b),
        },
        Some(M::Text(text)) => t::Match::Text { text },
        Some(M::TextAny(text_any)) => t::Match::TextAny { text_any },
        Some(M::Phrase(phrase)) => t::Match::Phrase { phrase },
        Some(M::Keywords(k)) => t::Match::Any {
            any: t::AnyVariants::Keywords(k.strings),
        },
        Some(M::Integers(i)) => t::Match::Any {
            any: t::AnyVariants::Integers(i.integers),
        },
        Some(M::ExceptKeywords(k)) => t::Match::Except {
            except: t::AnyVariants::Keywords(k.strings),
        },
        Some(M::ExceptIntegers(i)) => t::Match::Except {
            except: t::AnyVariants::Integers(i.integers),
        },
        Some(M::Prefix(prefix)) => t::Match::Prefix { prefix },
        Some(M::Substring(substring)) => t::Match::Substring { substring },
        None => return Err(bad_input("Match condition is empty")),
    })
}
