//! Scrolling in the order of a numeric payload field (`order_by`): every live
//! point with a number at the key, once per value (as Qdrant lists a point
//! with several values once for each), from `start_from` on.

use tessera_types::{Direction, OrderBy, Record, ScrollRequest, ScrollResult};

use super::{passes, record, Shard, ShardError};
use crate::filter::path::JsonPath;

impl Shard {
    pub(super) fn scroll_ordered(
        &self,
        req: &ScrollRequest,
        order: &OrderBy,
    ) -> Result<ScrollResult, ShardError> {
        let filter = self.inner.compile_filter(req.filter.as_ref())?;
        let path = JsonPath::parse(&order.key)
            .map_err(|e| ShardError::BadInput(format!("order_by key `{}`: {e}", order.key)))?;
        let direction = order.direction();
        let in_range = |v: f64| match (order.start_from, direction) {
            (None, _) => true,
            (Some(start), Direction::Asc) => v >= start,
            (Some(start), Direction::Desc) => v <= start,
        };
        let segments = self.inner.segments();
        let mut found: Vec<(f64, Record)> = Vec::new();
        let mut collect = |data: &crate::segment::SegmentData, row: usize| {
            if !passes(filter.as_ref(), data, row) {
                return;
            }
            let payload = data.payload(row);
            // Numbers, or datetimes as seconds since the epoch.
            let as_number = |v: &serde_json::Value| {
                v.as_f64()
                    .or_else(|| v.as_str().and_then(tessera_types::time::parse_datetime))
            };
            for value in path.values(&payload).into_iter().filter_map(as_number) {
                if in_range(value) {
                    let mut r = record(data, row, &req.with_payload, &req.with_vector);
                    r.order_value = Some(value.into());
                    found.push((value, r));
                }
            }
        };
        {
            let app = segments.appendable.read();
            for row in app.live_rows() {
                collect(&app.data, row);
            }
        }
        for s in &segments.sealed {
            for row in s.live_rows() {
                collect(&s.data, row);
            }
        }
        direction.sort(&mut found);
        found.truncate(req.limit);
        Ok(ScrollResult {
            points: found.into_iter().map(|(_, r)| r).collect(),
            next_page_offset: None,
        })
    }
}
