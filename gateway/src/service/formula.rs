//! Formula queries: the prefetched points rescored by an expression over
//! their prefetch scores, payload values and conditions. Conditions are
//! answered by the shards (one filtered scroll over the candidates each), so
//! they mean exactly what they mean in a filter.

use std::collections::{HashMap, HashSet};

use serde_json::Value;
use tessera_types::formula::{Decay, Expression, Formula};
use tessera_types::geo::GeoPoint;
use tessera_types::{Condition, HasIdCondition, Payload, PayloadSelector};

use super::query::Prefetch;
use super::*;

/// What one candidate brings to a formula.
struct Candidate<'a> {
    /// Its score in each prefetch, where it appeared.
    scores: Vec<Option<f32>>,
    payload: Option<&'a Payload>,
    /// Indexes of the conditions it matches.
    matches: &'a HashSet<usize>,
}

impl Gateway {
    /// Rescores the union of the prefetches' `lists` by `formula`, best first.
    pub(super) async fn formula(
        &self,
        collection: &str,
        formula: &Formula,
        lists: Vec<Vec<ScoredPoint>>,
        stage: &Prefetch,
        read: &ReadOptions,
    ) -> Result<Vec<ScoredPoint>> {
        let mut scores: HashMap<PointId, Vec<Option<f32>>> = HashMap::new();
        for (i, list) in lists.iter().enumerate() {
            for p in list {
                scores
                    .entry(p.id)
                    .or_insert_with(|| vec![None; lists.len()])[i] = Some(p.score);
            }
        }
        let mut ids: Vec<PointId> = scores.keys().copied().collect();
        ids.sort_unstable();
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut conditions = Vec::new();
        let mut keys = Vec::new();
        collect(&formula.formula, &mut conditions, &mut keys);
        let payloads: HashMap<PointId, Payload> = if keys.is_empty() {
            HashMap::new()
        } else {
            let include = WithPayload::Selector(PayloadSelector::Include { include: keys });
            self.retrieve(collection, &ids, &include, &WithVector::Enable(false), read)
                .await?
                .into_iter()
                .filter_map(|r| Some((r.id, r.payload?)))
                .collect()
        };
        let mut matching: HashMap<PointId, HashSet<usize>> = HashMap::new();
        for (i, condition) in conditions.iter().enumerate() {
            let only = Filter {
                must: vec![
                    (*condition).clone(),
                    Condition::HasId(HasIdCondition {
                        has_id: ids.clone(),
                    }),
                ],
                ..Filter::default()
            };
            for id in self.matching_ids(collection, only, ids.len(), read).await? {
                matching.entry(id).or_default().insert(i);
            }
        }
        let none = HashSet::new();
        let mut hits = Vec::with_capacity(ids.len());
        for id in ids {
            let candidate = Candidate {
                scores: scores.remove(&id).unwrap_or_default(),
                payload: payloads.get(&id),
                matches: matching.get(&id).unwrap_or(&none),
            };
            let mut next_condition = 0;
            let score = evaluate(&formula.formula, &candidate, formula, &mut next_condition)?;
            if !score.is_finite() {
                return Err(TesseraError::bad_input(format!(
                    "The formula's score for point {id} is not a finite number"
                )));
            }
            if stage.score_threshold.is_none_or(|t| score >= t) {
                hits.push(ScoredPoint::scored(id, score));
            }
        }
        hits.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.id.cmp(&b.id)));
        hits.truncate(stage.limit);
        Ok(hits)
    }

    /// Ids of the points `filter` matches (at most `limit`).
    async fn matching_ids(
        &self,
        collection: &str,
        filter: Filter,
        limit: usize,
        read: &ReadOptions,
    ) -> Result<Vec<PointId>> {
        let page = self
            .run_scroll(
                collection,
                ScrollRequest {
                    offset: None,
                    limit,
                    filter: Some(filter),
                    with_payload: WithPayload::Enable(false),
                    with_vector: WithVector::Enable(false),
                    order_by: None,
                },
                read,
            )
            .await?;
        Ok(page.points.into_iter().map(|r| r.id).collect())
    }
}

/// The conditions (in evaluation order) and payload keys an expression reads.
fn collect<'a>(e: &'a Expression, conditions: &mut Vec<&'a Condition>, keys: &mut Vec<String>) {
    use Expression as E;
    match e {
        E::Constant(_) | E::Datetime { .. } => {}
        E::Variable(name) => {
            if score_index(name).is_none() {
                keys.push(top_key(name));
            }
        }
        E::DatetimeKey { datetime_key: key } => keys.push(top_key(key)),
        E::GeoDistance { geo_distance } => keys.push(top_key(&geo_distance.to)),
        E::Condition(c) => conditions.push(c),
        E::Mult { mult: items } | E::Sum { sum: items } => {
            items.iter().for_each(|i| collect(i, conditions, keys))
        }
        E::Neg { neg: x }
        | E::Abs { abs: x }
        | E::Sqrt { sqrt: x }
        | E::Exp { exp: x }
        | E::Log10 { log10: x }
        | E::Ln { ln: x } => collect(x, conditions, keys),
        E::Div { div } => {
            collect(&div.left, conditions, keys);
            collect(&div.right, conditions, keys);
        }
        E::Pow { pow } => {
            collect(&pow.base, conditions, keys);
            collect(&pow.exponent, conditions, keys);
        }
        E::LinDecay { lin_decay: d }
        | E::ExpDecay { exp_decay: d }
        | E::GaussDecay { gauss_decay: d } => {
            collect(&d.x, conditions, keys);
            if let Some(t) = &d.target {
                collect(t, conditions, keys);
            }
        }
    }
}

/// `$score` is prefetch 0, `$score[i]` prefetch i; None for payload keys.
fn score_index(name: &str) -> Option<usize> {
    if name == "$score" {
        return Some(0);
    }
    name.strip_prefix("$score[")?
        .strip_suffix(']')?
        .parse()
        .ok()
}

/// The top-level payload key a dotted path starts with (what to fetch).
fn top_key(path: &str) -> String {
    path.split(['.', '[']).next().unwrap_or(path).to_string()
}

/// The first value at a dotted path (array elements looked through).
fn value_at<'a>(payload: &'a Payload, path: &str) -> Option<&'a Value> {
    let mut parts = path.split('.');
    let mut current = payload.get(parts.next()?.trim_end_matches("[]"))?;
    for part in parts {
        if let Value::Array(items) = current {
            current = items.first()?;
        }
        current = current.get(part.trim_end_matches("[]"))?;
    }
    match current {
        Value::Array(items) => items.first(),
        other => Some(other),
    }
}

fn evaluate(
    e: &Expression,
    c: &Candidate<'_>,
    formula: &Formula,
    next_condition: &mut usize,
) -> Result<f32> {
    use Expression as E;
    let mut eval = |x: &Expression| evaluate(x, c, formula, next_condition);
    // A variable the point lacks takes `defaults`, else 0.
    let default = |name: &str| {
        formula
            .defaults
            .get(name)
            .and_then(Value::as_f64)
            .unwrap_or(0.0) as f32
    };
    Ok(match e {
        E::Constant(x) => *x,
        E::Variable(name) => match score_index(name) {
            Some(i) => c
                .scores
                .get(i)
                .copied()
                .flatten()
                .unwrap_or_else(|| default(name)),
            None => c
                .payload
                .and_then(|p| value_at(p, name))
                .and_then(Value::as_f64)
                .map_or_else(|| default(name), |v| v as f32),
        },
        E::Condition(_) => {
            let index = *next_condition;
            *next_condition += 1;
            f32::from(u8::from(c.matches.contains(&index)))
        }
        E::Mult { mult } => {
            let mut product = 1.0;
            for x in mult {
                product *= eval(x)?;
            }
            product
        }
        E::Sum { sum } => {
            let mut total = 0.0;
            for x in sum {
                total += eval(x)?;
            }
            total
        }
        E::Neg { neg } => -eval(neg)?,
        E::Abs { abs } => eval(abs)?.abs(),
        E::Sqrt { sqrt } => eval(sqrt)?.sqrt(),
        E::Exp { exp } => eval(exp)?.exp(),
        E::Log10 { log10 } => eval(log10)?.log10(),
        E::Ln { ln } => eval(ln)?.ln(),
        E::Div { div } => {
            let (left, right) = (eval(&div.left)?, eval(&div.right)?);
            if right == 0.0 {
                div.by_zero_default.unwrap_or(f32::INFINITY)
            } else {
                left / right
            }
        }
        E::Pow { pow } => {
            let base = eval(&pow.base)?;
            base.powf(eval(&pow.exponent)?)
        }
        E::Datetime { datetime } => datetime_seconds(datetime)?,
        E::DatetimeKey { datetime_key } => c
            .payload
            .and_then(|p| value_at(p, datetime_key))
            .and_then(Value::as_str)
            .and_then(tessera_types::time::parse_datetime)
            .map_or_else(|| default(datetime_key), |s| s as f32),
        E::GeoDistance { geo_distance } => c
            .payload
            .and_then(|p| value_at(p, &geo_distance.to))
            .and_then(GeoPoint::from_payload)
            .map_or_else(
                || default(&geo_distance.to),
                |to| geo_distance.origin.distance_m(to) as f32,
            ),
        E::LinDecay { lin_decay } => decay(lin_decay, &mut eval, |d, scale, mid| {
            (1.0 - (1.0 - mid) / scale * d).max(0.0)
        })?,
        E::ExpDecay { exp_decay } => decay(exp_decay, &mut eval, |d, scale, mid| {
            (mid.ln() / scale * d).exp()
        })?,
        E::GaussDecay { gauss_decay } => decay(gauss_decay, &mut eval, |d, scale, mid| {
            (mid.ln() / (scale * scale) * d * d).exp()
        })?,
    })
}

/// A decay of `|x - target|` by `shape(distance, scale, midpoint)`.
fn decay(
    d: &Decay,
    eval: &mut dyn FnMut(&Expression) -> Result<f32>,
    shape: fn(f32, f32, f32) -> f32,
) -> Result<f32> {
    let scale = d.scale.unwrap_or(1.0);
    let midpoint = d.midpoint.unwrap_or(0.5);
    if scale <= 0.0 || !(0.0 < midpoint && midpoint < 1.0) {
        return Err(TesseraError::bad_input(
            "Decay needs a positive scale and a midpoint between 0 and 1",
        ));
    }
    let x = eval(&d.x)?;
    let target = match &d.target {
        Some(t) => eval(t)?,
        None => 0.0,
    };
    Ok(shape((x - target).abs(), scale, midpoint))
}

fn datetime_seconds(text: &str) -> Result<f32> {
    tessera_types::time::parse_datetime(text)
        .map(|s| s as f32)
        .ok_or_else(|| TesseraError::bad_input(format!("`{text}` is not an RFC 3339 datetime")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn formula(json: serde_json::Value) -> Formula {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn expressions_read_scores_payloads_and_conditions() {
        let f = formula(serde_json::json!({
            "formula": {"sum": ["$score", {"mult": [0.5, {"key": "tag", "match": {"value": "h1"}}]},
                {"div": {"left": "price", "right": 2}}, "$score[1]", "missing"]},
            "defaults": {"missing": 7}
        }));
        let payload: Payload = serde_json::from_value(serde_json::json!({"price": 10})).unwrap();
        let matches = HashSet::from([0]);
        let c = Candidate {
            scores: vec![Some(0.25), None],
            payload: Some(&payload),
            matches: &matches,
        };
        let score = evaluate(&f.formula, &c, &f, &mut 0).unwrap();
        assert_eq!(score, 0.25 + 0.5 + 5.0 + 0.0 + 7.0);
    }

    #[test]
    fn decays_halve_at_the_scale() {
        let none = HashSet::new();
        let c = Candidate {
            scores: vec![],
            payload: None,
            matches: &none,
        };
        for kind in ["lin_decay", "exp_decay", "gauss_decay"] {
            let f = formula(
                serde_json::json!({"formula": {kind: {"x": 10.0, "target": 4.0, "scale": 6.0}}}),
            );
            let score = evaluate(&f.formula, &c, &f, &mut 0).unwrap();
            assert!((score - 0.5).abs() < 1e-6, "{kind}: {score}");
        }
    }
}
