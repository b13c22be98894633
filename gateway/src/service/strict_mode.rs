//! Strict mode at the gateway: every request is checked against its
//! collection's limits before any shard sees it. Limits count what a request
//! will actually do: defaults the caller left out, every prefetch, and
//! `limit × group_size` for groups, with saturating arithmetic.

use tessera_types::strict_mode::check_limit;
use tessera_types::{FilterShape, StrictModeConfig};

use std::time::{Duration, Instant};

use super::query::{Prefetch, Query};
use tessera_types::{NamedVectors, Point, PointId};

use super::rate_limit::Access;
use super::*;

/// One collection's strict mode, with what it needs to judge requests.
pub(super) struct StrictMode {
    config: StrictModeConfig,
    /// Payload keys with an index.
    indexed: Vec<String>,
}

impl StrictMode {
    /// The strict mode of `collection`, None when it is off.
    pub(super) fn of(collection: &CollectionState) -> Option<StrictMode> {
        Some(StrictMode {
            config: collection.config.strict_mode()?.clone(),
            indexed: collection.payload_schema.keys().cloned().collect(),
        })
    }

    pub(super) fn limit(&self, limit: usize) -> Result<()> {
        check_limit(limit, self.config.max_query_limit, "limit")
    }

    pub(super) fn payload_indexes(&self, count: usize) -> Result<()> {
        check_limit(
            count,
            self.config.max_payload_index_count,
            "payload index count",
        )
    }

    pub(super) fn batch(&self, searches: usize) -> Result<()> {
        check_limit(searches, self.config.search_max_batchsize, "batch size")
    }

    pub(super) fn params(&self, params: &SearchParams) -> Result<()> {
        if let Some(ef) = params.hnsw_ef {
            check_limit(ef, self.config.search_max_hnsw_ef, "hnsw_ef")?;
        }
        if params.exact && self.config.search_allow_exact == Some(false) {
            return Err(TesseraError::bad_input("Exact search disabled!"));
        }
        let oversampling = params.quantization.as_ref().and_then(|q| q.oversampling);
        if let (Some(value), Some(max)) = (oversampling, self.config.search_max_oversampling) {
            if value > max {
                return Err(TesseraError::bad_input(format!(
                    "Limit exceeded {value} > {max} for \"oversampling\""
                )));
            }
        }
        Ok(())
    }

    /// A filter of a read (`update: false`) or of a write.
    pub(super) fn filter(&self, filter: Option<&Filter>, update: bool) -> Result<()> {
        let Some(filter) = filter else { return Ok(()) };
        let shape = FilterShape::of(filter);
        check_limit(
            shape.conditions,
            self.config.filter_max_conditions,
            "filter conditions",
        )?;
        check_limit(
            shape.largest_condition,
            self.config.condition_max_size,
            "condition size",
        )?;
        let allowed = if update {
            self.config.unindexed_filtering_update
        } else {
            self.config.unindexed_filtering_retrieve
        };
        if allowed == Some(false) {
            if let Some(key) = shape.keys.iter().find(|k| !self.indexed.contains(k)) {
                return Err(TesseraError::bad_input(format!(
                    "Index required but not found for \"{key}\". Help: Create an index for this key or use a different filter."
                )));
            }
        }
        Ok(())
    }

    /// A query, its prefetches at every depth included.
    pub(super) fn query(&self, request: &QueryRequest) -> Result<()> {
        self.limit(request.limit)?;
        self.params(&request.params)?;
        self.filter(request.filter.as_ref(), false)?;
        self.query_kind(request.query.as_ref(), request.limit)?;
        request.prefetch.iter().try_for_each(|p| self.prefetch(p))
    }

    fn prefetch(&self, prefetch: &Prefetch) -> Result<()> {
        self.limit(prefetch.limit)?;
        self.params(&prefetch.params)?;
        self.filter(prefetch.filter.as_ref(), false)?;
        self.query_kind(prefetch.query.as_ref(), prefetch.limit)?;
        prefetch.prefetch.iter().try_for_each(|p| self.prefetch(p))
    }

    fn query_kind(&self, query: Option<&Query>, limit: usize) -> Result<()> {
        if let Some(Query::Mmr(mmr)) = query {
            self.limit(mmr.candidates_limit.unwrap_or(limit))?;
        }
        Ok(())
    }

    pub(super) fn write(&self, operation: &ShardOperation) -> Result<()> {
        let upsert = |points: &[Point]| {
            check_limit(points.len(), self.config.upsert_max_batchsize, "upsert")?;
            self.vectors(points.iter().map(|p| &p.vectors))
        };
        let update = |points: &[(PointId, NamedVectors)]| {
            check_limit(
                points.len(),
                self.config.upsert_max_batchsize,
                "update limit",
            )?;
            self.vectors(points.iter().map(|(_, vectors)| vectors))
        };
        match operation {
            ShardOperation::Upsert(points) => upsert(points),
            ShardOperation::ConditionalUpsert {
                points,
                update_filter,
                ..
            } => {
                upsert(points)?;
                self.filter(update_filter.as_ref(), true)
            }
            ShardOperation::UpdateVectors(points) => update(points),
            ShardOperation::ConditionalUpdateVectors {
                points,
                update_filter,
            } => {
                update(points)?;
                self.filter(Some(update_filter), true)
            }
            _ => match operation.selection() {
                Some(PointSelection::Filter(filter)) => self.filter(Some(filter), true),
                _ => Ok(()),
            },
        }
    }
}

impl StrictMode {
    /// Sparse vectors' and multi-vectors' size limits.
    fn vectors<'a>(&self, points: impl Iterator<Item = &'a NamedVectors>) -> Result<()> {
        if self.config.sparse_config.is_none() && self.config.multivector_config.is_none() {
            return Ok(());
        }
        points
            .flat_map(|vectors| vectors.iter())
            .try_for_each(|(name, vector)| self.config.check_vector(name, vector))
    }

    /// A request's own `timeout` (seconds) against `max_timeout`.
    pub(super) fn timeout(&self, seconds: u64) -> Result<()> {
        check_limit(seconds as usize, self.config.max_timeout, "timeout")
    }

    /// What a write costs against `write_rate_limit`: a token per point it names,
    /// one for a filter.
    fn write_cost(operation: &ShardOperation) -> usize {
        match operation {
            ShardOperation::Upsert(points) | ShardOperation::ConditionalUpsert { points, .. } => {
                points.len()
            }
            ShardOperation::UpdateVectors(points)
            | ShardOperation::ConditionalUpdateVectors { points, .. } => points.len(),
            _ => match operation.selection() {
                Some(PointSelection::Ids(ids)) => ids.len(),
                _ => 1,
            },
        }
        .max(1)
    }
}

/// How long a collection's stored size, counted for its storage limits, is trusted.
const SIZE_TTL: Duration = Duration::from_secs(1);

/// Collections' point counts and payload bytes, refreshed at most once per
/// `SIZE_TTL`: storage limits are checked against a recent measure, not one per write.
#[derive(Default)]
pub(super) struct StoredSizes {
    sizes: parking_lot::Mutex<HashMap<String, StoredSize>>,
}

/// Points and payload bytes of a collection, and when they were measured.
type StoredSize = ((u64, u64), Instant);

impl Gateway {
    /// Runs `check` against the strict mode of `collection`, if it has one on, and
    /// charges the read to its `read_rate_limit`.
    pub(super) fn strict_mode(
        &self,
        collection: &str,
        check: impl FnOnce(&StrictMode) -> Result<()>,
    ) -> Result<()> {
        let (_, state) = self.collection(collection)?;
        let Some(strict) = StrictMode::of(&state) else {
            return Ok(());
        };
        check(&strict)?;
        match strict.config.read_rate_limit {
            Some(limit) => self.rate_limits.charge(&state.name, Access::Read, limit, 1),
            None => Ok(()),
        }
    }

    /// A write against strict mode: its shape, its rate, and the collection's
    /// storage limits.
    pub(super) async fn strict_write(
        &self,
        state: &CollectionState,
        operation: &ShardOperation,
    ) -> Result<()> {
        let Some(strict) = StrictMode::of(state) else {
            return Ok(());
        };
        strict.write(operation)?;
        if let Some(limit) = strict.config.write_rate_limit {
            let cost = StrictMode::write_cost(operation);
            self.rate_limits
                .charge(&state.name, Access::Write, limit, cost)?;
        }
        let (max_points, max_bytes, max_payload) = (
            strict.config.max_points_count,
            strict.config.max_collection_vector_size_bytes,
            strict.config.max_collection_payload_size_bytes,
        );
        if !operation.carries_vectors()
            || (max_points.is_none() && max_bytes.is_none() && max_payload.is_none())
        {
            return Ok(());
        }
        let (stored, payload_bytes) = self.stored_size(state).await?;
        if let Some(max) = max_payload {
            if payload_bytes >= max as u64 {
                return Err(TesseraError::bad_input(format!(
                    "Max payload storage size limit of {max} bytes reached!"
                )));
            }
        }
        if let Some(max) = max_points {
            if stored >= max as u64 {
                return Err(TesseraError::bad_input(format!(
                    "Max points count limit of {max} reached!"
                )));
            }
        }
        if let Some(max) = max_bytes {
            let per_point: u64 = state
                .config
                .params
                .vectors
                .iter()
                .map(|(_, p)| p.size * 4)
                .sum();
            if stored.saturating_mul(per_point) >= max as u64 {
                return Err(TesseraError::bad_input(format!(
                    "Max vector storage size limit of {max} bytes reached!"
                )));
            }
        }
        Ok(())
    }

    /// The points a collection holds and the bytes of their payloads, measured at
    /// most once per `SIZE_TTL`.
    async fn stored_size(&self, state: &CollectionState) -> Result<(u64, u64)> {
        if let Some((size, at)) = self.stored_sizes.sizes.lock().get(&state.name) {
            if at.elapsed() < SIZE_TTL {
                return Ok(*size);
            }
        }
        let (topology, _) = self.collection(&state.name)?;
        let mut size = (0, 0);
        for reply in self.shard_stats(&topology, state, true).await {
            let reply = reply?;
            size.0 += reply.points_count;
            size.1 += reply.payload_bytes;
        }
        self.stored_sizes
            .sizes
            .lock()
            .insert(state.name.clone(), (size, Instant::now()));
        Ok(size)
    }
}
