//! Strict mode at the gateway: every request is checked against its
//! collection's limits before any shard sees it. Limits count what a request
//! will actually do: defaults the caller left out, every prefetch, and
//! `limit × group_size` for groups, with saturating arithmetic.

use tessera_types::strict_mode::{check_limit, refusal, Unindexed};
use tessera_types::{FilterShape, PayloadSchema, StrictModeConfig};

use std::time::{Duration, Instant};

use super::query::{Prefetch, Query};
use tessera_types::{Condition, NamedVectors, Point, PointId};

use super::rate_limit::Access;
use super::*;

/// One collection's strict mode, with what it needs to judge requests.
pub(super) struct StrictMode {
    config: StrictModeConfig,
    /// The payload indexes, by key.
    schema: PayloadSchema,
    /// The collection's settings: whether a vector has a graph to search.
    collection: CollectionConfig,
}

impl StrictMode {
    /// The strict mode of `collection`, None when it is off.
    pub(super) fn of(collection: &CollectionState) -> Option<StrictMode> {
        Some(StrictMode {
            config: collection.config.strict_mode()?.clone(),
            schema: collection.payload_schema.clone(),
            collection: collection.config.clone(),
        })
    }

    pub(super) fn limit(&self, limit: usize) -> Result<()> {
        check_limit(limit, self.config.max_query_limit, "limit")
    }

    /// A new payload index, while the collection has `existing` ones.
    pub(super) fn payload_indexes(&self, existing: usize) -> Result<()> {
        match self.config.max_payload_index_count {
            Some(max) if existing >= max => Err(refusal(
                format!("Collection already has the maximum number of payload indices ({max})"),
                "Please delete an existing index before creating a new one.",
            )),
            _ => Ok(()),
        }
    }

    pub(super) fn batch(&self, searches: usize) -> Result<()> {
        check_limit(searches, self.config.search_max_batchsize, "batch size")
    }

    pub(super) fn params(&self, params: &SearchParams) -> Result<()> {
        if params.exact && self.config.search_allow_exact == Some(false) {
            return Err(refusal("Exact search disabled!", "Set exact=false."));
        }
        let oversampling = params.quantization.as_ref().and_then(|q| q.oversampling);
        if let Some(value) = oversampling {
            check_limit(value, self.config.search_max_oversampling, "oversampling")?;
        }
        if let Some(ef) = params.hnsw_ef {
            check_limit(ef, self.config.search_max_hnsw_ef, "hnsw_ef")?;
        }
        Ok(())
    }

    /// A filter of a read (`update: false`) or of a write.
    pub(super) fn filter(&self, filter: Option<&Filter>, update: bool) -> Result<()> {
        let Some(filter) = filter else { return Ok(()) };
        let allowed = if update {
            self.config.unindexed_filtering_update
        } else {
            self.config.unindexed_filtering_retrieve
        };
        if allowed == Some(false) {
            if let Some(unindexed) = Unindexed::in_filter(&self.schema, filter) {
                return Err(
                    unindexed.refusal("Create an index for this key or use a different filter.")
                );
            }
        }
        let shape = FilterShape::of(filter);
        if let Some(max) = self.config.filter_max_conditions {
            if shape.conditions > max {
                return Err(refusal(
                    format!(
                        "Filter condition limit reached ({} > {max})",
                        shape.conditions
                    ),
                    "Reduce the amount of conditions of your filter.",
                ));
            }
        }
        if let Some(max) = self.config.condition_max_size {
            if shape.largest_condition > max {
                return Err(refusal(
                    format!(
                        "Condition size limit reached ({} > {max})",
                        shape.largest_condition
                    ),
                    "Reduce the size of your condition.",
                ));
            }
        }
        Ok(())
    }

    /// `group_by` reads its key's values, so it needs an index able to `match` them.
    pub(super) fn group_by(&self, key: &str) -> Result<()> {
        if self.config.unindexed_filtering_retrieve != Some(false) {
            return Ok(());
        }
        let help = "Create an index supporting `match` for this key.";
        match self.schema.get(key) {
            Some(index) if !supports_match(index) => Err(refusal(
                format!("Index of type \"{:?}\" found for \"{key}\"", index.kind()),
                help,
            )),
            Some(_) => Ok(()),
            None => Err(refusal(
                format!("Index required but not found for \"{key}\""),
                help,
            )),
        }
    }

    /// A query, its prefetches at every depth included.
    pub(super) fn query(&self, request: &QueryRequest) -> Result<()> {
        self.limit(request.limit)?;
        self.params(&request.params)?;
        self.filter(request.filter.as_ref(), false)?;
        self.query_kind(request.query.as_ref(), request.limit)?;
        // A query that rescores prefetched points scans only those.
        if request.prefetch.is_empty() {
            self.full_scan(
                request.query.as_ref(),
                &request.using,
                request.filter.as_ref(),
            )?;
        }
        request.prefetch.iter().try_for_each(|p| self.prefetch(p))
    }

    fn prefetch(&self, prefetch: &Prefetch) -> Result<()> {
        self.limit(prefetch.limit)?;
        self.params(&prefetch.params)?;
        self.filter(prefetch.filter.as_ref(), false)?;
        self.query_kind(prefetch.query.as_ref(), prefetch.limit)?;
        if prefetch.prefetch.is_empty() {
            self.full_scan(
                prefetch.query.as_ref(),
                &prefetch.using,
                prefetch.filter.as_ref(),
            )?;
        }
        prefetch.prefetch.iter().try_for_each(|p| self.prefetch(p))
    }

    /// Under `search_allow_exact: false`, Qdrant's refusal of a vector query
    /// that could only scan: a dense vector without a graph (`m = 0`), unless
    /// a tenant's filter can use the per-tenant graphs (`payload_m`).
    fn full_scan(&self, query: Option<&Query>, using: &str, filter: Option<&Filter>) -> Result<()> {
        if self.config.search_allow_exact != Some(false) {
            return Ok(());
        }
        let by_vector = matches!(
            query,
            Some(
                Query::Nearest(_)
                    | Query::NearestToPoint(_)
                    | Query::Recommend(_)
                    | Query::Discover(_)
                    | Query::Context(_)
                    | Query::Mmr(_)
                    | Query::RelevanceFeedback(_)
            )
        );
        // Sparse vectors are always indexed.
        if !by_vector || self.collection.params.sparse(using).is_some() {
            return Ok(());
        }
        let hnsw = self.collection.hnsw_for(using);
        if hnsw.m > 0 {
            return Ok(());
        }
        let on = if using == tessera_types::DEFAULT_VECTOR_NAME {
            String::new()
        } else {
            format!(" on '{using}'")
        };
        let tenant_filter = filter.is_some_and(|f| {
            condition_keys(f).iter().any(|key| {
                matches!(self.schema.get(key.as_str()), Some(PayloadFieldSchema::Params(p)) if p.is_tenant == Some(true))
            })
        });
        if !tenant_filter {
            return Err(refusal(
                format!("Request is forbidden{on} because global vector indexing is disabled (hnsw_config.m = 0)"),
                "Use tenant-specific filter, enable global vector indexing or enable strict mode `search_allow_exact` option",
            ));
        }
        if hnsw.payload_m.unwrap_or(hnsw.m) == 0 {
            return Err(refusal(
                format!("Request is forbidden{on} because vector indexing is disabled (hnsw_config.m = 0 and hnsw_config.payload_m = 0)"),
                "Enable vector indexing, use a prefetch query with indexed vectors or enable strict mode `search_allow_exact` option",
            ));
        }
        Ok(())
    }

    fn query_kind(&self, query: Option<&Query>, limit: usize) -> Result<()> {
        match query {
            Some(Query::Mmr(mmr)) => self.limit(mmr.candidates_limit.unwrap_or(limit)),
            Some(Query::Formula(formula))
                if self.config.unindexed_filtering_retrieve == Some(false) =>
            {
                match Unindexed::in_expression(&self.schema, &formula.formula) {
                    Some(unindexed) => Err(unindexed.refusal(
                        "Create an index for this key or use a different formula expression.",
                    )),
                    None => Ok(()),
                }
            }
            _ => Ok(()),
        }
    }

    /// A write's shape. As in Qdrant, the `update_filter` of a conditional write
    /// is not checked: it only reads the few points the write names.
    pub(super) fn write(&self, operation: &ShardOperation) -> Result<()> {
        let upsert = |points: &[Point]| {
            check_limit(
                points.len(),
                self.config.upsert_max_batchsize,
                "upsert limit",
            )?;
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
            ShardOperation::Upsert(points) | ShardOperation::ConditionalUpsert { points, .. } => {
                upsert(points)
            }
            ShardOperation::UpdateVectors(points)
            | ShardOperation::ConditionalUpdateVectors { points, .. } => update(points),
            _ => match operation.selection() {
                Some(PointSelection::Filter(filter)) => self.filter(Some(filter), true),
                _ => Ok(()),
            },
        }
    }
}

/// The payload keys a filter's field conditions name, at every depth.
fn condition_keys(filter: &Filter) -> Vec<String> {
    let mut keys = Vec::new();
    let conditions = filter
        .must
        .iter()
        .chain(&filter.should)
        .chain(&filter.must_not)
        .chain(filter.min_should.iter().flat_map(|m| &m.conditions));
    for condition in conditions {
        match condition {
            Condition::Field(field) => keys.push(field.key.clone()),
            Condition::Filter(inner) => keys.extend(condition_keys(inner)),
            _ => {}
        }
    }
    keys
}

/// Whether an index can answer `match` on its key, as Qdrant judges it: an
/// integer index given parameters must have asked for `lookup`.
fn supports_match(index: &PayloadFieldSchema) -> bool {
    match index {
        PayloadFieldSchema::Params(params) if params.kind == PayloadSchemaType::Integer => {
            params.lookup == Some(true)
        }
        _ => matches!(
            index.kind(),
            PayloadSchemaType::Keyword
                | PayloadSchemaType::Integer
                | PayloadSchemaType::Uuid
                | PayloadSchemaType::Bool
        ),
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
}

/// What reads cost against `read_rate_limit`, in Qdrant's tokens: a token per
/// vector compared against each point (a sparse one per 64 dimensions), per
/// point fetched by id and per filter condition; a read without a vector, one
/// more.
pub(super) mod cost {
    use super::super::query::{Prefetch, Query, QueryRequest, RecommendStrategy, VectorInput};
    use tessera_types::{Filter, FilterShape, Vector};

    /// Sparse dimensions that cost as much as one dense comparison.
    const SPARSE_DIMENSIONS_PER_TOKEN: usize = 64;

    pub fn filter(filter: Option<&Filter>) -> usize {
        filter.map_or(0, |f| FilterShape::of(f).conditions)
    }

    pub fn scroll(filter: Option<&Filter>) -> usize {
        1 + self::filter(filter)
    }

    pub fn search(vector: &Vector, filter: Option<&Filter>) -> usize {
        similarity(vector) + self::filter(filter)
    }

    fn similarity(vector: &Vector) -> usize {
        match vector {
            Vector::Dense(_) => 1,
            Vector::Multi(vectors) => vectors.len(),
            Vector::Sparse(sparse) => sparse.indices.len().div_ceil(SPARSE_DIMENSIONS_PER_TOKEN),
        }
    }

    /// A query: its searches and scrolls, the innermost prefetches being the
    /// ones that read the collection.
    pub fn query(request: &QueryRequest) -> usize {
        stage(
            request.query.as_ref(),
            &request.prefetch,
            request.filter.as_ref(),
            request.lookup_from.is_none(),
        )
    }

    fn prefetch(prefetch: &Prefetch) -> usize {
        stage(
            prefetch.query.as_ref(),
            &prefetch.prefetch,
            prefetch.filter.as_ref(),
            prefetch.lookup_from.is_none(),
        )
    }

    fn stage(
        query: Option<&Query>,
        prefetches: &[Prefetch],
        filter: Option<&Filter>,
        excludes_examples: bool,
    ) -> usize {
        if !prefetches.is_empty() {
            return prefetches.iter().map(prefetch).sum();
        }
        let inputs: Vec<&VectorInput> = match query {
            Some(Query::Nearest(vector)) => return search(vector, filter),
            Some(Query::NearestToPoint(id)) => {
                let point = VectorInput::Point(*id);
                return examples(&[&point], excludes_examples) + self::filter(filter);
            }
            Some(Query::Recommend(r)) => {
                let inputs: Vec<_> = r.positive.iter().chain(&r.negative).collect();
                if r.strategy == RecommendStrategy::AverageVector {
                    // One averaged vector is searched; each point named is fetched.
                    let fetched = inputs
                        .iter()
                        .filter(|i| matches!(i, VectorInput::Point(_)))
                        .count();
                    return fetched
                        + 1
                        + exclusion(&inputs, excludes_examples)
                        + self::filter(filter);
                }
                inputs
            }
            Some(Query::Discover(d)) => std::iter::once(&d.target)
                .chain(d.context.iter().flat_map(|(p, n)| [p, n]))
                .collect(),
            Some(Query::Context(pairs)) => pairs.iter().flat_map(|(p, n)| [p, n]).collect(),
            Some(Query::Mmr(mmr)) => vec![&mmr.nearest],
            Some(Query::RelevanceFeedback(f)) => std::iter::once(&f.target)
                .chain(f.feedback.iter().map(|(example, _)| example))
                .collect(),
            None
            | Some(
                Query::Fusion(_)
                | Query::OrderBy(_)
                | Query::SampleRandom
                | Query::Formula(_)
                | Query::Text(_),
            ) => return scroll(filter),
        };
        examples(&inputs, excludes_examples) + self::filter(filter)
    }

    /// Comparing against example vectors, fetching those named by id, whose points
    /// a filter condition then leaves out of the results.
    fn examples(inputs: &[&VectorInput], excludes_examples: bool) -> usize {
        let compared: usize = inputs
            .iter()
            .map(|input| match input {
                VectorInput::Vector(vector) => similarity(vector),
                // Fetched, then compared (as one dense vector: its kind is not known yet).
                VectorInput::Point(_) => 2,
            })
            .sum();
        compared + exclusion(inputs, excludes_examples)
    }

    fn exclusion(inputs: &[&VectorInput], excludes_examples: bool) -> usize {
        usize::from(excludes_examples && inputs.iter().any(|i| matches!(i, VectorInput::Point(_))))
    }
}

/// How long a collection's stored size, counted for its storage limits, is trusted.
const SIZE_TTL: Duration = Duration::from_secs(1);
/// How many writes may be checked against one measure, however recent: a burst
/// of writes sees the collection grow within this many writes.
const SIZE_CHECKS: u32 = 16;

/// Collections' point counts and payload bytes, refreshed after `SIZE_TTL` or
/// `SIZE_CHECKS` checks: storage limits are checked against a recent measure,
/// not one per write.
#[derive(Default)]
pub(super) struct StoredSizes {
    sizes: parking_lot::Mutex<HashMap<String, StoredSize>>,
}

/// A collection's measure and how often it has been used.
struct StoredSize {
    /// The collection measured: one recreated under its name starts afresh.
    incarnation: u64,
    points: u64,
    payload_bytes: u64,
    measured: Instant,
    checks: u32,
}

impl Gateway {
    /// Runs `check` against the strict mode of `collection`, if it has one on, and
    /// charges the read the cost `check` gives to its `read_rate_limit`.
    pub(super) fn strict_mode(
        &self,
        collection: &str,
        check: impl FnOnce(&StrictMode) -> Result<usize>,
    ) -> Result<()> {
        let (_, state) = self.collection(collection)?;
        let Some(strict) = StrictMode::of(&state) else {
            return Ok(());
        };
        let cost = check(&strict)?;
        match strict.config.read_rate_limit {
            Some(limit) => self
                .rate_limits
                .charge(&state.name, Access::Read, limit, cost),
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
            let cost = self.write_cost(state, &strict, operation).await?;
            self.rate_limits
                .charge(&state.name, Access::Write, limit, cost)?;
        }
        let stores_payload = operation.carries_vectors()
            || matches!(
                operation,
                ShardOperation::SetPayload { .. } | ShardOperation::OverwritePayload { .. }
            );
        let config = &strict.config;
        let (max_points, max_bytes, max_payload) = match operation.carries_vectors() {
            true => (
                config.max_points_count,
                config.max_collection_vector_size_bytes,
                config.max_collection_payload_size_bytes,
            ),
            false if stores_payload => (None, None, config.max_collection_payload_size_bytes),
            false => return Ok(()),
        };
        if (max_points, max_bytes, max_payload) == (None, None, None) {
            return Ok(());
        }
        let (stored, payload_bytes) = self.stored_size(state).await?;
        // Qdrant states storage limits in MB, whatever their size.
        let megabytes = |bytes: usize| bytes as f32 / (1024.0 * 1024.0);
        if let Some(max) = max_bytes {
            let per_point: u64 = state
                .config
                .params
                .vectors
                .iter()
                .map(|(_, p)| p.size * 4)
                .sum();
            if stored.saturating_mul(per_point) >= max as u64 {
                return Err(TesseraError::bad_request(format!(
                    "Max vector storage size limit of {}MB reached!",
                    megabytes(max)
                )));
            }
        }
        if let Some(max) = max_payload {
            if payload_bytes >= max as u64 {
                return Err(TesseraError::bad_request(format!(
                    "Max payload storage size limit of {}MB reached!",
                    megabytes(max)
                )));
            }
        }
        if let Some(max) = max_points {
            if stored >= max as u64 {
                return Err(TesseraError::bad_request(format!(
                    "Max points count limit of {max} reached!"
                )));
            }
        }
        Ok(())
    }

    /// What a write costs against `write_rate_limit`, as Qdrant estimates the
    /// points it touches: those it names, or those its filter matches. A filter on
    /// a key without an index is taken to match half the points, Qdrant's guess
    /// where no index can count; an indexed filter is counted.
    async fn write_cost(
        &self,
        state: &CollectionState,
        strict: &StrictMode,
        operation: &ShardOperation,
    ) -> Result<usize> {
        let touched = match operation {
            ShardOperation::Upsert(points) | ShardOperation::ConditionalUpsert { points, .. } => {
                points.len()
            }
            ShardOperation::UpdateVectors(points)
            | ShardOperation::ConditionalUpdateVectors { points, .. } => points.len(),
            _ => match operation.selection() {
                Some(PointSelection::Ids(ids)) => ids.len(),
                Some(PointSelection::Filter(filter)) => {
                    if Unindexed::in_filter(&strict.schema, filter).is_some() {
                        (self.stored_size(state).await?.0 / 2) as usize
                    } else {
                        let read = ReadOptions::default();
                        self.run_count(&state.name, Some(filter.clone()), &read)
                            .await? as usize
                    }
                }
                None => 0,
            },
        };
        Ok(touched.max(1))
    }

    /// The points a collection holds and the bytes of their payloads, measured
    /// again after `SIZE_TTL` or `SIZE_CHECKS` uses.
    async fn stored_size(&self, state: &CollectionState) -> Result<(u64, u64)> {
        if let Some(size) = self.stored_sizes.sizes.lock().get_mut(&state.name) {
            if size.incarnation == state.incarnation
                && size.measured.elapsed() < SIZE_TTL
                && size.checks < SIZE_CHECKS
            {
                size.checks += 1;
                return Ok((size.points, size.payload_bytes));
            }
        }
        let (topology, _) = self.collection(&state.name)?;
        let (mut points, mut payload_bytes) = (0, 0);
        for reply in self.shard_stats(&topology, state, true).await {
            let reply = reply?;
            points += reply.stats.points_count;
            payload_bytes += reply.payload_bytes;
        }
        self.stored_sizes.sizes.lock().insert(
            state.name.clone(),
            StoredSize {
                incarnation: state.incarnation,
                points,
                payload_bytes,
                measured: Instant::now(),
                checks: 1,
            },
        );
        Ok((points, payload_bytes))
    }
}
