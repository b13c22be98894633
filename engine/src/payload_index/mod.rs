//! Payload field indexes of immutable segments: which rows hold which values of one
//! payload key. They count the points holding the field (collection info), bound the
//! cardinality of filters for the search planner, and hand the exact path the rows to
//! score instead of a full scan.

use std::collections::{BTreeSet, HashMap};

use serde_json::Value;
use tessera_types::{PayloadSchemaType, Range};

use crate::filter::path::JsonPath;
use crate::filter::{as_integer, IndexQuery};

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Str(String),
    Int(i64),
    Bool(bool),
}

#[derive(Debug)]
pub(crate) struct FieldIndex {
    pub kind: PayloadSchemaType,
    /// Rows holding at least one indexed value, ascending.
    with_value: Vec<u32>,
    exact: Option<HashMap<Key, Vec<u32>>>,
    sorted: Option<Vec<(f64, u32)>>,
}

/// Parses an RFC 3339 date-time (or a plain date) to seconds since the Unix epoch.
fn timestamp(s: &str) -> Option<f64> {
    let (date, time) = s.split_once(['T', ' ']).unwrap_or((s, "00:00:00Z"));
    let mut d = date.split('-').map(|p| p.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    if !(1..=12).contains(&m) || !(1..=31).contains(&day) {
        return None;
    }
    // Days from the civil date (Howard Hinnant's algorithm).
    let y2 = if m <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let clock = time.trim_end_matches('Z');
    let (clock, offset) = match clock.rfind(['+', '-']) {
        Some(i) if i >= 5 => (&clock[..i], Some(&clock[i..])),
        _ => (clock, None),
    };
    let mut t = clock.split(':');
    let h: f64 = t.next()?.parse().ok()?;
    let min: f64 = t.next().unwrap_or("0").parse().ok()?;
    let sec: f64 = t.next().unwrap_or("0").parse().ok()?;
    let offset_s = match offset {
        Some(o) => {
            let sign = if o.starts_with('-') { -1.0 } else { 1.0 };
            let (oh, om) = o[1..].split_once(':').unwrap_or((&o[1..], "0"));
            sign * (oh.parse::<f64>().ok()? * 3600.0 + om.parse::<f64>().ok()? * 60.0)
        }
        None => 0.0,
    };
    Some(days as f64 * 86_400.0 + h * 3600.0 + min * 60.0 + sec - offset_s)
}

/// The index keys and numbers one payload value contributes.
fn keys(kind: PayloadSchemaType, value: &Value) -> (Option<Key>, Option<f64>) {
    match kind {
        PayloadSchemaType::Keyword | PayloadSchemaType::Uuid => {
            (value.as_str().map(|s| Key::Str(s.to_string())), None)
        }
        PayloadSchemaType::Integer => {
            let i = as_integer(value);
            (i.map(Key::Int), i.map(|i| i as f64))
        }
        PayloadSchemaType::Float => (None, value.as_f64()),
        PayloadSchemaType::Bool => (value.as_bool().map(Key::Bool), None),
        PayloadSchemaType::Datetime => (None, value.as_str().and_then(timestamp)),
        PayloadSchemaType::Text | PayloadSchemaType::Geo => (None, None),
    }
}

/// Whether `payload` holds a value an index of `kind` on `path` would record.
pub(crate) fn has_value(
    kind: PayloadSchemaType,
    path: &JsonPath,
    payload: &tessera_types::Payload,
) -> bool {
    path.values(payload).into_iter().any(|v| {
        let (key, number) = keys(kind, v);
        key.is_some() || number.is_some()
    })
}

impl FieldIndex {
    /// Whether an index of this type can be built; text and geo indexes cannot yet.
    pub fn supported(kind: PayloadSchemaType) -> bool {
        !matches!(kind, PayloadSchemaType::Text | PayloadSchemaType::Geo)
    }

    /// Indexes `path` over `payloads` (one per row).
    pub fn build<P: std::borrow::Borrow<tessera_types::Payload>>(
        kind: PayloadSchemaType,
        path: &JsonPath,
        payloads: impl Iterator<Item = P>,
    ) -> FieldIndex {
        let mut exact: HashMap<Key, Vec<u32>> = HashMap::new();
        let mut sorted = Vec::new();
        let mut with_value = Vec::new();
        for (row, payload) in payloads.enumerate() {
            let payload = payload.borrow();
            let row = row as u32;
            let mut any = false;
            for value in path.values(payload) {
                let (key, number) = keys(kind, value);
                if let Some(key) = key {
                    let rows = exact.entry(key).or_default();
                    if rows.last() != Some(&row) {
                        rows.push(row);
                    }
                    any = true;
                }
                if let Some(n) = number {
                    sorted.push((n, row));
                    any = true;
                }
            }
            if any {
                with_value.push(row);
            }
        }
        sorted.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        let has_exact = matches!(
            kind,
            PayloadSchemaType::Keyword
                | PayloadSchemaType::Uuid
                | PayloadSchemaType::Integer
                | PayloadSchemaType::Bool
        );
        let has_sorted = matches!(
            kind,
            PayloadSchemaType::Integer | PayloadSchemaType::Float | PayloadSchemaType::Datetime
        );
        FieldIndex {
            kind,
            with_value,
            exact: has_exact.then_some(exact),
            sorted: has_sorted.then_some(sorted),
        }
    }

    /// Rows holding a value of the field.
    pub fn rows_with_value(&self) -> &[u32] {
        &self.with_value
    }

    /// The rows that can match `query`, ascending; None when this index cannot say.
    pub fn lookup(&self, query: &IndexQuery) -> Option<Vec<u32>> {
        let collect = |keys: Vec<Key>| -> Option<Vec<u32>> {
            let exact = self.exact.as_ref()?;
            let rows: BTreeSet<u32> = keys
                .iter()
                .filter_map(|k| exact.get(k))
                .flatten()
                .copied()
                .collect();
            Some(rows.into_iter().collect())
        };
        match query {
            IndexQuery::Keywords(words) if self.kind != PayloadSchemaType::Integer => {
                collect(words.iter().map(|w| Key::Str(w.clone())).collect())
            }
            IndexQuery::Integers(ints) if self.kind == PayloadSchemaType::Integer => {
                collect(ints.iter().map(|i| Key::Int(*i)).collect())
            }
            IndexQuery::Bool(b) if self.kind == PayloadSchemaType::Bool => {
                collect(vec![Key::Bool(*b)])
            }
            IndexQuery::Range(range) if self.kind != PayloadSchemaType::Datetime => {
                let sorted = self.sorted.as_ref()?;
                Some(range_rows(sorted, range))
            }
            _ => None,
        }
    }
}

fn range_rows(sorted: &[(f64, u32)], range: &Range) -> Vec<u32> {
    let low = range
        .gte
        .into_iter()
        .chain(range.gt)
        .fold(f64::NEG_INFINITY, f64::max);
    let start = sorted.partition_point(|(x, _)| *x < low);
    let rows: BTreeSet<u32> = sorted[start..]
        .iter()
        .take_while(|(x, _)| range.lt.is_none_or(|b| *x < b) && range.lte.is_none_or(|b| *x <= b))
        .filter(|(x, _)| range.contains(*x))
        .map(|(_, row)| *row)
        .collect();
    rows.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn payloads() -> Vec<tessera_types::Payload> {
        [
            json!({"city": "Berlin", "n": 3, "f": 1.5, "ok": true, "t": "2024-01-02T03:04:05Z"}),
            json!({"city": ["London", "Berlin"], "n": [1, 7], "ok": false}),
            json!({"n": 3.0, "f": -2, "t": "2024-01-02"}),
            json!({"city": 5}),
        ]
        .into_iter()
        .map(|v| v.as_object().unwrap().clone())
        .collect()
    }

    fn index(kind: PayloadSchemaType, key: &str) -> FieldIndex {
        let p = payloads();
        FieldIndex::build(kind, &JsonPath::parse(key).unwrap(), p.iter())
    }

    #[test]
    fn lookups_match_the_filter_semantics() {
        let city = index(PayloadSchemaType::Keyword, "city");
        assert_eq!(city.rows_with_value(), &[0, 1]);
        assert_eq!(
            city.lookup(&IndexQuery::Keywords(vec!["Berlin".into()])),
            Some(vec![0, 1])
        );
        assert_eq!(
            city.lookup(&IndexQuery::Keywords(vec!["London".into(), "Paris".into()])),
            Some(vec![1])
        );
        assert_eq!(city.lookup(&IndexQuery::Integers(vec![5])), None);

        let n = index(PayloadSchemaType::Integer, "n");
        assert_eq!(n.lookup(&IndexQuery::Integers(vec![3])), Some(vec![0, 2]));
        let range = Range {
            gt: Some(1.0),
            lte: Some(7.0),
            ..Default::default()
        };
        assert_eq!(n.lookup(&IndexQuery::Range(range)), Some(vec![0, 1, 2]));

        let f = index(PayloadSchemaType::Float, "f");
        let negative = Range {
            lt: Some(0.0),
            ..Default::default()
        };
        assert_eq!(f.lookup(&IndexQuery::Range(negative)), Some(vec![2]));

        let ok = index(PayloadSchemaType::Bool, "ok");
        assert_eq!(ok.lookup(&IndexQuery::Bool(false)), Some(vec![1]));

        let t = index(PayloadSchemaType::Datetime, "t");
        assert_eq!(t.rows_with_value(), &[0, 2]);
        assert_eq!(timestamp("1970-01-02T00:00:01Z"), Some(86_401.0));
        assert_eq!(timestamp("1970-01-01T01:00:00+01:00"), Some(0.0));
        assert_eq!(timestamp("not a date"), None);
    }
}
