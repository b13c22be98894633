//! Facet counts: how many live points (matching a filter) hold each value of
//! a payload key; strings, integers and booleans count, each distinct value
//! of a point once.

use std::collections::HashMap;

use serde_json::Value;
use tessera_types::Filter;

use super::{passes, Shard, ShardError};
use crate::filter::path::JsonPath;

impl Shard {
    pub fn facet(
        &self,
        key: &str,
        filter: Option<&Filter>,
    ) -> Result<Vec<(Value, u64)>, ShardError> {
        let filter = self.inner.compile_filter(filter)?;
        let path = JsonPath::parse(key)
            .map_err(|e| ShardError::BadInput(format!("facet key `{key}`: {e}")))?;
        let mut counts: HashMap<String, (Value, u64)> = HashMap::new();
        let mut count = |data: &crate::segment::SegmentData, row: usize| {
            if !passes(filter.as_ref(), data, row) {
                return;
            }
            let payload = data.payload(row);
            let mut seen: Vec<&Value> = Vec::new();
            for value in path.values(&payload) {
                let countable =
                    value.is_string() || value.is_i64() || value.is_u64() || value.is_boolean();
                if countable && !seen.contains(&value) {
                    seen.push(value);
                    counts
                        .entry(value.to_string())
                        .or_insert_with(|| (value.clone(), 0))
                        .1 += 1;
                }
            }
        };
        let segments = self.inner.segments();
        {
            let app = segments.appendable.read();
            for row in app.live_rows() {
                count(&app.data, row);
            }
        }
        for s in &segments.sealed {
            for row in s.live_rows() {
                count(&s.data, row);
            }
        }
        Ok(counts.into_values().collect())
    }
}
