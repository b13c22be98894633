//! Strict mode at the gateway: every request is checked against its
//! collection's limits before any shard sees it. Limits count what a request
//! will actually do: defaults the caller left out, every prefetch, and
//! `limit × group_size` for groups, with saturating arithmetic.

use tessera_types::strict_mode::check_limit;
use tessera_types::{FilterShape, StrictModeConfig};

use super::query::{Prefetch, Query};
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
        let batch = |n: usize| check_limit(n, self.config.upsert_max_batchsize, "upsert");
        match operation {
            ShardOperation::Upsert(points) => batch(points.len()),
            ShardOperation::ConditionalUpsert {
                points,
                update_filter,
                ..
            } => {
                batch(points.len())?;
                self.filter(update_filter.as_ref(), true)
            }
            ShardOperation::UpdateVectors(points) => batch(points.len()),
            ShardOperation::ConditionalUpdateVectors {
                points,
                update_filter,
            } => {
                batch(points.len())?;
                self.filter(Some(update_filter), true)
            }
            _ => match operation.selection() {
                Some(PointSelection::Filter(filter)) => self.filter(Some(filter), true),
                _ => Ok(()),
            },
        }
    }
}

impl Gateway {
    /// Runs `check` against the strict mode of `collection`, if it has one on.
    pub(super) fn strict_mode(
        &self,
        collection: &str,
        check: impl FnOnce(&StrictMode) -> Result<()>,
    ) -> Result<()> {
        let (_, state) = self.collection(collection)?;
        StrictMode::of(&state).map_or(Ok(()), |strict| check(&strict))
    }
}
