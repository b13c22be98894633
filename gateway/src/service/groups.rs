//! Grouped search (`points/search/groups`, `points/query/groups`): the best
//! hits grouped by a payload field's value, `limit` groups of up to
//! `group_size` hits, each group ranked by its best hit. The underlying
//! query is asked for more hits until the groups are full or it has no more.

use serde::Serialize;
use serde_json::Value;

use super::*;

/// The most hits one grouped search looks through.
const MAX_HITS: usize = 10_000;

/// Another collection's point whose id is a group's value.
#[derive(Debug, Clone, PartialEq)]
pub struct WithLookup {
    pub collection: String,
    pub with_payload: WithPayload,
    pub with_vector: WithVector,
}

#[derive(Debug, Clone, PartialEq)]
pub struct GroupsRequest {
    /// The query whose hits are grouped (its limit and offset are the groups').
    pub query: QueryRequest,
    pub group_by: String,
    pub group_size: usize,
    pub limit: usize,
    pub with_lookup: Option<WithLookup>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PointGroup {
    /// The group_by value the hits share: a string or an integer.
    pub id: Value,
    pub hits: Vec<ScoredPoint>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lookup: Option<Record>,
}

impl Gateway {
    pub async fn query_groups(
        &self,
        collection: &str,
        request: GroupsRequest,
        read: &ReadOptions,
    ) -> Result<Vec<PointGroup>> {
        if request.group_size == 0 || request.limit == 0 {
            return Err(TesseraError::validation(
                "[group_size and limit must be 1 or more]",
            ));
        }
        let wanted = request.limit.saturating_mul(request.group_size);
        self.strict_mode(collection, |strict| {
            strict.limit(wanted)?;
            strict.group_by(&request.group_by)?;
            strict.query(&QueryRequest {
                limit: 1,
                ..request.query.clone()
            })?;
            Ok(super::strict_mode::cost::query(&request.query))
        })?;
        let mut fetch = wanted.saturating_mul(2).clamp(16, MAX_HITS);
        let groups = loop {
            let mut query = request.query.clone();
            query.limit = fetch;
            query.offset = 0;
            // The group_by value must come back; the caller's selection is applied after.
            query.with_payload = WithPayload::Enable(true);
            let hits = self.run_query(collection, query, read).await?;
            let exhausted = hits.len() < fetch || fetch >= MAX_HITS;
            let groups = group(hits, &request.group_by, request.group_size, request.limit);
            let full = groups.len() == request.limit
                && groups.iter().all(|g| g.hits.len() == request.group_size);
            if full || exhausted {
                break groups;
            }
            fetch = fetch.saturating_mul(4).min(MAX_HITS);
        };
        let mut groups = groups;
        for hit in groups.iter_mut().flat_map(|g| g.hits.iter_mut()) {
            hit.payload = hit
                .payload
                .take()
                .and_then(|p| request.query.with_payload.select(&p));
        }
        if let Some(lookup) = &request.with_lookup {
            self.look_up(&mut groups, lookup, read).await?;
        }
        Ok(groups)
    }

    /// Fills each group's `lookup` with the point of `lookup.collection`
    /// whose id is the group's value.
    async fn look_up(
        &self,
        groups: &mut [PointGroup],
        lookup: &WithLookup,
        read: &ReadOptions,
    ) -> Result<()> {
        self.require_lookup_collection(&lookup.collection)?;
        let ids: Vec<PointId> = groups
            .iter()
            .filter_map(|g| serde_json::from_value(g.id.clone()).ok())
            .collect();
        let records = self
            .retrieve(
                &lookup.collection,
                &ids,
                &lookup.with_payload,
                &lookup.with_vector,
                &ReadOptions {
                    shard_key: None,
                    ..read.clone()
                },
            )
            .await?;
        for group in groups.iter_mut() {
            let id: Option<PointId> = serde_json::from_value(group.id.clone()).ok();
            group.lookup = records.iter().find(|r| Some(r.id) == id).cloned();
        }
        Ok(())
    }
}

/// Groups hits (best first) by the values at `key`: a hit with several values
/// joins each of their groups; values other than strings and integers are
/// not grouped by.
fn group(hits: Vec<ScoredPoint>, key: &str, group_size: usize, limit: usize) -> Vec<PointGroup> {
    let mut groups: Vec<PointGroup> = Vec::new();
    for hit in hits {
        let values = hit
            .payload
            .as_ref()
            .map(|p| group_values(p, key))
            .unwrap_or_default();
        for value in values {
            match groups.iter().position(|g| g.id == value) {
                Some(i) if groups[i].hits.len() < group_size => groups[i].hits.push(hit.clone()),
                Some(_) => {}
                None if groups.len() < limit => groups.push(PointGroup {
                    id: value,
                    hits: vec![hit.clone()],
                    lookup: None,
                }),
                None => {}
            }
        }
    }
    groups
}

/// The string and integer values at a dotted `key` of a payload. Arrays are
/// walked into at every step, so `a[]` reads as `a`.
fn group_values(payload: &tessera_types::Payload, key: &str) -> Vec<Value> {
    let mut current: Vec<&Value> = Vec::new();
    let key = key.replace("[]", "");
    let mut parts = key.split('.');
    if let Some(first) = parts.next().and_then(|k| payload.get(k)) {
        current.push(first);
    }
    for part in parts {
        current = current
            .into_iter()
            .flat_map(|v| match v {
                Value::Array(items) => items.iter().filter_map(|i| i.get(part)).collect(),
                other => other.get(part).into_iter().collect::<Vec<_>>(),
            })
            .collect();
    }
    let mut values = Vec::new();
    for value in current {
        match value {
            Value::Array(items) => values.extend(items.iter().filter(|v| groupable(v)).cloned()),
            v if groupable(v) => values.push(v.clone()),
            _ => {}
        }
    }
    values.dedup();
    values
}

fn groupable(v: &Value) -> bool {
    v.is_string() || v.is_i64() || v.is_u64()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hit(id: u64, payload: Value) -> ScoredPoint {
        ScoredPoint {
            id: PointId::Num(id),
            version: 0,
            score: 1.0 / (id as f32 + 1.0),
            payload: payload.as_object().cloned(),
            vector: None,
            shard_key: None,
            order_value: None,
        }
    }

    #[test]
    fn groups_fill_in_rank_order() {
        let hits = vec![
            hit(0, serde_json::json!({"doc": "a"})),
            hit(1, serde_json::json!({"doc": "b"})),
            hit(2, serde_json::json!({"doc": "a"})),
            hit(3, serde_json::json!({"doc": ["a", "c"]})),
            hit(4, serde_json::json!({"doc": 1.5})),
            hit(5, serde_json::json!({"doc": "c"})),
        ];
        let groups = group(hits, "doc", 2, 2);
        let shape: Vec<(Value, Vec<PointId>)> = groups
            .iter()
            .map(|g| (g.id.clone(), g.hits.iter().map(|h| h.id).collect()))
            .collect();
        assert_eq!(
            shape,
            vec![
                ("a".into(), vec![PointId::Num(0), PointId::Num(2)]),
                ("b".into(), vec![PointId::Num(1)]),
            ]
        );
    }
}
