//! The universal query API (`points/query`): a query over the collection, or
//! over the candidates of `prefetch` sub-queries (nested), which it fuses
//! (`rrf`, `dbsf`) or rescores; `recommend` from example points and vectors.
//! Each stage runs as searches on the shards; the gateway combines them, and
//! payloads and vectors are fetched once for the final page.

use std::collections::HashSet;

use futures::future::BoxFuture;
use futures::FutureExt;
use rand::seq::SliceRandom;
use tessera_types::text_query::TextQuery;
use tessera_types::{Condition, HasIdCondition, OrderBy};

use super::fusion::fuse;
use super::strict_mode::cost;
use super::text_query::text_search;
use super::*;

/// Qdrant's default for reciprocal rank fusion: small, so the top ranks weigh most.
pub const DEFAULT_RRF_K: usize = 2;

/// A vector given inline or as the vector of a stored point.
#[derive(Debug, Clone, PartialEq)]
pub enum VectorInput {
    Vector(Vector),
    Point(PointId),
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RecommendStrategy {
    #[default]
    AverageVector,
    BestScore,
    SumScores,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Recommend {
    pub positive: Vec<VectorInput>,
    pub negative: Vec<VectorInput>,
    pub strategy: RecommendStrategy,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Fusion {
    /// Reciprocal rank fusion: each list adds `1 / ((rank + 1) / weight + k - 1)`.
    Rrf { k: usize, weights: Option<Vec<f32>> },
    /// Distribution-based score fusion: each list's scores mapped to [0, 1]
    /// between mean - 3 sd and mean + 3 sd, then summed.
    Dbsf,
}

/// What a query asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Query {
    /// Nearest neighbours of this vector.
    Nearest(Vector),
    /// Nearest neighbours of the stored vector of this point.
    NearestToPoint(PointId),
    Recommend(Recommend),
    /// Combines the prefetches' results.
    Fusion(Fusion),
    /// Points in the order of a numeric payload field.
    OrderBy(OrderBy),
    /// Points drawn at random.
    SampleRandom,
    /// Near a target, within a context of (positive, negative) pairs.
    Discover(Discover),
    /// On the positive side of every (positive, negative) pair.
    Context(Vec<(VectorInput, VectorInput)>),
    /// Nearest neighbours reranked for diversity (maximal marginal relevance).
    Mmr(Mmr),
    /// The prefetches' points rescored by an expression.
    Formula(Box<tessera_types::formula::Formula>),
    RelevanceFeedback(RelevanceFeedback),
    /// Points ranked by BM25 over the text index of the payload field `using`.
    Text(TextQuery),
}

/// `nearest` with `mmr`: from the `candidates_limit` nearest points, picks
/// one at a time the point with the best `(1 - diversity) * similarity to the
/// query - diversity * largest similarity to a point already picked`.
#[derive(Debug, Clone, PartialEq)]
pub struct Mmr {
    pub nearest: VectorInput,
    pub diversity: f32,
    /// None: the query's limit.
    pub candidates_limit: Option<usize>,
}

/// Qdrant's default balance between relevance and diversity.
pub const DEFAULT_MMR_DIVERSITY: f32 = 0.5;

#[derive(Debug, Clone, PartialEq)]
pub struct Discover {
    pub target: VectorInput,
    pub context: Vec<(VectorInput, VectorInput)>,
}

impl Query {
    /// Queries whose candidates are scored here against their examples.
    fn scores_by_examples(&self) -> bool {
        match self {
            Query::Recommend(r) => r.strategy != RecommendStrategy::AverageVector,
            Query::Discover(_)
            | Query::Context(_)
            | Query::Mmr(_)
            | Query::RelevanceFeedback(_) => true,
            _ => false,
        }
    }
}

/// Where the vectors of examples given by id come from, when not from the
/// collection searched (`lookup_from`).
#[derive(Debug, Clone, PartialEq)]
pub struct LookupFrom {
    pub collection: String,
    /// The vector to take; the query's `using` when absent.
    pub vector: Option<String>,
}

/// Where a stage reads the vectors of points it names by id.
pub(super) struct Examples<'a> {
    pub collection: &'a str,
    pub using: &'a str,
    /// Points of the searched collection are left out of its results.
    pub excluded: bool,
}

impl<'a> Examples<'a> {
    fn new(collection: &'a str, using: &'a str, lookup: Option<&'a LookupFrom>) -> Self {
        match lookup {
            Some(l) => Examples {
                collection: &l.collection,
                using: l.vector.as_deref().unwrap_or(using),
                excluded: false,
            },
            None => Examples {
                collection,
                using,
                excluded: true,
            },
        }
    }
}

/// A sub-query whose results the query above it works on.
#[derive(Debug, Clone, PartialEq)]
pub struct Prefetch {
    pub query: Option<Query>,
    pub prefetch: Vec<Prefetch>,
    pub using: String,
    pub filter: Option<Filter>,
    pub limit: usize,
    pub params: SearchParams,
    pub score_threshold: Option<f32>,
    pub lookup_from: Option<LookupFrom>,
}

/// A universal query (`points/query`); without `query` or `prefetch` it lists
/// points by id.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryRequest {
    pub query: Option<Query>,
    pub prefetch: Vec<Prefetch>,
    pub using: String,
    pub filter: Option<Filter>,
    pub limit: usize,
    pub offset: usize,
    pub with_payload: WithPayload,
    pub with_vector: WithVector,
    pub score_threshold: Option<f32>,
    pub params: SearchParams,
    pub lookup_from: Option<LookupFrom>,
}

impl Gateway {
    pub async fn query(
        &self,
        collection: &str,
        request: QueryRequest,
        read: &ReadOptions,
    ) -> Result<Vec<ScoredPoint>> {
        self.strict_mode(collection, |strict| {
            strict.query(&request)?;
            Ok(cost::query(&request))
        })?;
        self.run_query(collection, request, read).await
    }

    /// The queries of a batch, run concurrently; the first failure fails the batch.
    pub async fn query_batch(
        &self,
        collection: &str,
        requests: Vec<(QueryRequest, ReadOptions)>,
    ) -> Result<Vec<Vec<ScoredPoint>>> {
        // Each query is charged as it runs.
        self.strict_mode(collection, |strict| {
            strict.batch(requests.len()).map(|()| 0)
        })?;
        futures::future::join_all(
            requests
                .iter()
                .map(|(request, read)| self.query(collection, request.clone(), read)),
        )
        .await
        .into_iter()
        .collect()
    }

    /// A query as asked, strict mode already satisfied.
    pub(super) async fn run_query(
        &self,
        collection: &str,
        mut request: QueryRequest,
        read: &ReadOptions,
    ) -> Result<Vec<ScoredPoint>> {
        request.validate()?;
        // A missing lookup collection is refused even when no example needs it.
        for lookup in request.lookup_collections() {
            self.require_lookup_collection(lookup)?;
        }
        let simple = request.prefetch.is_empty()
            && matches!(
                request.query,
                None | Some(Query::Nearest(_)) | Some(Query::NearestToPoint(_))
            );
        if simple && request.query.is_none() {
            return self.query_as_scroll(collection, request, None, read).await;
        }
        if request.query == Some(Query::SampleRandom) && request.prefetch.is_empty() {
            return self.query_sample(collection, request, read).await;
        }
        if let Some(Query::OrderBy(order)) = &request.query {
            let order = order.clone();
            if !request.prefetch.is_empty() {
                // The prefetches' points, in the order of the field.
                let lists = futures::future::try_join_all(
                    std::mem::take(&mut request.prefetch)
                        .into_iter()
                        .map(|p| self.run_stage(collection, p, request.filter.clone(), read)),
                )
                .await?;
                let candidates: Vec<PointId> = distinct(lists).into_iter().map(|p| p.id).collect();
                if candidates.is_empty() {
                    return Ok(Vec::new());
                }
                request.filter = both(request.filter.take(), Some(only_ids(candidates)));
            }
            return self
                .query_as_scroll(collection, request, Some(order), read)
                .await;
        }
        if simple {
            // One search, payloads and vectors included.
            let mut filter = request.filter;
            let vector = match request.query {
                Some(Query::Nearest(vector)) => vector,
                Some(Query::NearestToPoint(id)) => {
                    let examples =
                        Examples::new(collection, &request.using, request.lookup_from.as_ref());
                    // As in Qdrant, the point a query refers to is not among its results.
                    if examples.excluded {
                        exclude(&mut filter, vec![id]);
                    }
                    self.vector_of(&examples, id, read).await?
                }
                _ => unreachable!("a simple query"),
            };
            return self
                .search(
                    collection,
                    SearchRequest {
                        vector,
                        using: request.using,
                        filter,
                        limit: request.limit,
                        offset: request.offset,
                        with_payload: request.with_payload,
                        with_vector: request.with_vector,
                        score_threshold: request.score_threshold,
                        params: request.params,
                    },
                    read,
                )
                .await;
        }
        let stage = Prefetch {
            query: request.query,
            prefetch: request.prefetch,
            using: request.using,
            filter: request.filter,
            limit: request.offset.saturating_add(request.limit),
            params: request.params,
            score_threshold: request.score_threshold,
            lookup_from: request.lookup_from,
        };
        let hits: Vec<ScoredPoint> = self
            .run_stage(collection, stage, None, read)
            .await?
            .into_iter()
            .skip(request.offset)
            .collect();
        self.with_contents(
            collection,
            hits,
            &request.with_payload,
            &request.with_vector,
            read,
        )
        .await
    }

    /// Runs one stage: its prefetches first (each under its own filter and
    /// the one from above), then its query over their results.
    fn run_stage<'a>(
        &'a self,
        collection: &'a str,
        mut stage: Prefetch,
        inherited: Option<Filter>,
        read: &'a ReadOptions,
    ) -> BoxFuture<'a, Result<Vec<ScoredPoint>>> {
        async move {
            let filter = both(stage.filter.take(), inherited);
            if stage.prefetch.is_empty() {
                return match stage.query.take() {
                    // As in Qdrant: the first `limit` points the filter lets
                    // through, for the stage above to rescore.
                    None => {
                        let page = self
                            .run_scroll(
                                collection,
                                ScrollRequest {
                                    offset: None,
                                    limit: stage.limit,
                                    filter,
                                    with_payload: WithPayload::Enable(false),
                                    with_vector: WithVector::Enable(false),
                                    order_by: None,
                                },
                                read,
                            )
                            .await?;
                        Ok(page
                            .points
                            .into_iter()
                            .map(|r| ScoredPoint::from_record(r, 0.0))
                            .collect())
                    }
                    Some(Query::SampleRandom) => {
                        let ids = self
                            .sample_ids(collection, filter, stage.limit, read)
                            .await?;
                        Ok(ids
                            .into_iter()
                            .map(|id| ScoredPoint::scored(id, 0.0))
                            .collect())
                    }
                    Some(Query::Fusion(_)) if stage.using != tessera_types::DEFAULT_VECTOR_NAME => {
                        Err(fusion_with_using())
                    }
                    Some(Query::Fusion(_)) => Err(TesseraError::bad_input(
                        "Fusion queries combine prefetches: give `prefetch`",
                    )),
                    Some(Query::Formula(_)) => Err(TesseraError::bad_input(
                        "Formula queries rescore prefetches: give `prefetch`",
                    )),
                    Some(Query::Text(query)) => {
                        self.text_search(collection, text_search(query, &stage, filter), read)
                            .await
                    }
                    Some(query) if query.scores_by_examples() => {
                        self.query_by_examples(collection, &query, &stage, filter, read)
                            .await
                    }
                    Some(query) => {
                        let examples =
                            Examples::new(collection, &stage.using, stage.lookup_from.as_ref());
                        let search = self
                            .stage_search(query, &stage.using, &examples, filter, read)
                            .await?;
                        self.search(
                            collection,
                            SearchRequest {
                                limit: stage.limit,
                                score_threshold: stage.score_threshold,
                                params: stage.params,
                                ..search
                            },
                            read,
                        )
                        .await
                    }
                };
            }
            let lists = futures::future::try_join_all(
                std::mem::take(&mut stage.prefetch)
                    .into_iter()
                    .map(|p| self.run_stage(collection, p, filter.clone(), read)),
            )
            .await?;
            match stage.query.take() {
                Some(Query::Formula(formula)) => {
                    self.formula(collection, &formula, lists, &stage, read)
                        .await
                }
                Some(Query::Fusion(fusion)) => {
                    // Checked once the prefetches ran, so their own errors
                    // (a missing example point) come first, as in Qdrant.
                    if stage.using != tessera_types::DEFAULT_VECTOR_NAME {
                        return Err(fusion_with_using());
                    }
                    let mut fused = fuse(lists, &fusion)?;
                    if let Some(threshold) = stage.score_threshold {
                        fused.retain(|p| p.score >= threshold);
                    }
                    fused.truncate(stage.limit);
                    Ok(fused)
                }
                None => unreachable!("validated: prefetches have a query above them"),
                Some(Query::SampleRandom) => {
                    let mut merged = distinct(lists);
                    merged.shuffle(&mut rand::rng());
                    merged.truncate(stage.limit);
                    merged.iter_mut().for_each(|p| p.score = 0.0);
                    Ok(merged)
                }
                Some(query) => {
                    // Rescores the candidates, and only them, exactly.
                    let candidates: Vec<PointId> = {
                        let mut seen = HashSet::new();
                        lists
                            .into_iter()
                            .flatten()
                            .map(|p| p.id)
                            .filter(|id| seen.insert(*id))
                            .collect()
                    };
                    if candidates.is_empty() {
                        return Ok(Vec::new());
                    }
                    let only = only_ids(candidates);
                    if let Query::Text(query) = query {
                        let filter = both(filter, Some(only));
                        return self
                            .text_search(collection, text_search(query, &stage, filter), read)
                            .await;
                    }
                    let examples =
                        Examples::new(collection, &stage.using, stage.lookup_from.as_ref());
                    if query.scores_by_examples() {
                        return self
                            .query_by_examples(
                                collection,
                                &query,
                                &stage,
                                both(filter, Some(only)),
                                read,
                            )
                            .await;
                    }
                    let search = self
                        .stage_search(
                            query,
                            &stage.using,
                            &examples,
                            both(filter, Some(only)),
                            read,
                        )
                        .await?;
                    let mut params = stage.params;
                    params.exact = true;
                    self.search(
                        collection,
                        SearchRequest {
                            limit: stage.limit,
                            score_threshold: stage.score_threshold,
                            params,
                            ..search
                        },
                        read,
                    )
                    .await
                }
            }
        }
        .boxed()
    }

    /// Recommend by scores, discovery, context search, MMR and relevance
    /// feedback for one stage.
    async fn query_by_examples(
        &self,
        collection: &str,
        query: &Query,
        stage: &Prefetch,
        filter: Option<Filter>,
        read: &ReadOptions,
    ) -> Result<Vec<ScoredPoint>> {
        let examples = Examples::new(collection, &stage.using, stage.lookup_from.as_ref());
        let (using, limit, threshold) = (&stage.using, stage.limit, stage.score_threshold);
        match query {
            Query::Recommend(r) => {
                self.recommend_by_scores(
                    collection, r, using, &examples, filter, limit, threshold, read,
                )
                .await
            }
            Query::Discover(d) => {
                self.discover(
                    collection, d, using, &examples, filter, limit, threshold, read,
                )
                .await
            }
            Query::Context(pairs) => {
                self.context(
                    collection, pairs, using, &examples, filter, limit, threshold, read,
                )
                .await
            }
            Query::Mmr(mmr) => {
                self.mmr(collection, mmr, stage, &examples, filter, read)
                    .await
            }
            Query::RelevanceFeedback(feedback) => {
                self.relevance_feedback(
                    collection, feedback, using, &examples, filter, limit, threshold, read,
                )
                .await
            }
            _ => unreachable!("only queries scored by examples"),
        }
    }

    /// The search a nearest or recommend query makes (limit and parameters
    /// are the caller's), without payloads or vectors.
    async fn stage_search(
        &self,
        query: Query,
        using: &str,
        examples: &Examples<'_>,
        mut filter: Option<Filter>,
        read: &ReadOptions,
    ) -> Result<SearchRequest> {
        let vector = match query {
            Query::Nearest(vector) => vector,
            Query::NearestToPoint(id) => {
                if examples.excluded {
                    exclude(&mut filter, vec![id]);
                }
                self.vector_of(examples, id, read).await?
            }
            Query::Recommend(recommend) => {
                let ids: Vec<PointId> = recommend
                    .positive
                    .iter()
                    .chain(&recommend.negative)
                    .filter_map(|v| match v {
                        VectorInput::Point(id) => Some(*id),
                        VectorInput::Vector(_) => None,
                    })
                    .collect();
                let vector = self.recommend_vector(&recommend, examples, read).await?;
                // Examples given by id are not recommended back.
                if !ids.is_empty() && examples.excluded {
                    exclude(&mut filter, ids);
                }
                vector
            }
            Query::Fusion(_) => {
                return Err(TesseraError::bad_input(
                    "Fusion queries combine prefetches: give `prefetch`",
                ))
            }
            Query::Formula(_) => {
                return Err(TesseraError::bad_input(
                    "Formula queries rescore prefetches: give `prefetch`",
                ))
            }
            Query::OrderBy(_) | Query::SampleRandom => {
                return Err(TesseraError::Unimplemented(
                    "order_by and sample inside prefetch".into(),
                ))
            }
            Query::Discover(_)
            | Query::Context(_)
            | Query::Mmr(_)
            | Query::RelevanceFeedback(_) => {
                unreachable!("scored by examples, not searched")
            }
            Query::Text(_) => unreachable!("ranked by text search, not searched"),
        };
        Ok(SearchRequest {
            vector,
            using: using.to_string(),
            filter,
            limit: 0,
            offset: 0,
            with_payload: WithPayload::Enable(false),
            with_vector: WithVector::Enable(false),
            score_threshold: None,
            params: SearchParams::default(),
        })
    }

    pub(super) async fn vectors_of(
        &self,
        examples: &Examples<'_>,
        inputs: &[VectorInput],
        read: &ReadOptions,
    ) -> Result<Vec<Vector>> {
        let mut vectors = Vec::with_capacity(inputs.len());
        for input in inputs {
            vectors.push(match input {
                VectorInput::Vector(v) => v.clone(),
                VectorInput::Point(id) => self.vector_of(examples, *id, read).await?,
            });
        }
        Ok(vectors)
    }

    /// The stored vector of point `id`, where `examples` says to read it.
    pub(super) async fn vector_of(
        &self,
        examples: &Examples<'_>,
        id: PointId,
        read: &ReadOptions,
    ) -> Result<Vector> {
        let using = examples.using;
        // Another collection's shard keys are not the searched one's.
        let lookup_read = ReadOptions {
            shard_key: None,
            ..read.clone()
        };
        let read = if examples.excluded {
            read
        } else {
            self.require_lookup_collection(examples.collection)?;
            &lookup_read
        };
        // All vectors: a missing point (404) is told apart from a vector name
        // the collection does not have (400), in that order, as Qdrant does.
        let records = self
            .retrieve(
                examples.collection,
                &[id],
                &WithPayload::Enable(false),
                &WithVector::Enable(true),
                read,
            )
            .await?;
        let vectors = records
            .into_iter()
            .next()
            .and_then(|r| r.vector)
            .map(|v| v.into_named())
            .ok_or_else(|| TesseraError::not_found(format!("No point with id {id} found")))?;
        if let Some(vector) = vectors.get(using) {
            return Ok(vector.clone());
        }
        let (_, state) = self.collection(examples.collection)?;
        state.config.params.vector_kind(using)?;
        Err(TesseraError::bad_input(format!(
            "Point {id} has no vector named `{using}`"
        )))
    }

    /// Fills in payloads and vectors of the final hits with one retrieve.
    async fn with_contents(
        &self,
        collection: &str,
        mut hits: Vec<ScoredPoint>,
        with_payload: &WithPayload,
        with_vector: &WithVector,
        read: &ReadOptions,
    ) -> Result<Vec<ScoredPoint>> {
        let wants_payload = !matches!(with_payload, WithPayload::Enable(false));
        let wants_vector = !matches!(with_vector, WithVector::Enable(false));
        if hits.is_empty() || (!wants_payload && !wants_vector) {
            return Ok(hits);
        }
        let ids: Vec<PointId> = hits.iter().map(|h| h.id).collect();
        let records = self
            .retrieve(collection, &ids, with_payload, with_vector, read)
            .await?;
        let mut by_id: HashMap<PointId, Record> = records.into_iter().map(|r| (r.id, r)).collect();
        for hit in &mut hits {
            if let Some(record) = by_id.remove(&hit.id) {
                hit.payload = record.payload;
                hit.vector = record.vector;
            }
        }
        Ok(hits)
    }

    /// A query without a vector: a scroll in id order (as Qdrant lists
    /// points), or in a payload field's order (`order_by`), as scored points.
    async fn query_as_scroll(
        &self,
        collection: &str,
        request: QueryRequest,
        order_by: Option<OrderBy>,
        read: &ReadOptions,
    ) -> Result<Vec<ScoredPoint>> {
        let page = self
            .run_scroll(
                collection,
                ScrollRequest {
                    offset: None,
                    limit: request.offset.saturating_add(request.limit),
                    filter: request.filter,
                    with_payload: request.with_payload,
                    with_vector: request.with_vector,
                    order_by,
                },
                read,
            )
            .await?;
        Ok(page
            .points
            .into_iter()
            .skip(request.offset)
            .map(|r| ScoredPoint::from_record(r, 0.0))
            .collect())
    }
}

/// Only the points `ids`.
fn only_ids(ids: Vec<PointId>) -> Filter {
    Filter {
        must: vec![Condition::HasId(HasIdCondition { has_id: ids })],
        ..Filter::default()
    }
}

fn fusion_with_using() -> TesseraError {
    TesseraError::bad_request("Fusion queries cannot be combined with the 'using' field.")
}

/// Qdrant's checks of one level of a query (the root or a prefetch).
fn check_stage(
    query: Option<&Query>,
    prefetch: &[Prefetch],
    score_threshold: Option<f32>,
    params: &SearchParams,
) -> Result<()> {
    if params.hnsw_ef == Some(0) {
        return Err(TesseraError::validation(
            "[params.hnsw_ef: value 0 invalid, must be 1 or larger]",
        ));
    }
    if !prefetch.is_empty() && query.is_none() {
        return Err(TesseraError::bad_request(
            "A query is needed to merge the prefetches. Can't have prefetches without defining a query.",
        ));
    }
    if score_threshold.is_some() {
        match query {
            Some(Query::OrderBy(_)) => {
                return Err(TesseraError::bad_request(
                    "Can't use score_threshold with an order_by query.",
                ))
            }
            None => {
                return Err(TesseraError::bad_request(
                    "A query is needed to use the score_threshold. Can't have score_threshold without defining a query.",
                ))
            }
            _ => {}
        }
    }
    prefetch.iter().try_for_each(Prefetch::validate)
}

impl Prefetch {
    fn validate(&self) -> Result<()> {
        check_stage(
            self.query.as_ref(),
            &self.prefetch,
            self.score_threshold,
            &self.params,
        )
    }

    fn lookup_collections<'a>(&'a self, out: &mut Vec<&'a str>) {
        out.extend(self.lookup_from.iter().map(|l| l.collection.as_str()));
        self.prefetch.iter().for_each(|p| p.lookup_collections(out));
    }
}

impl QueryRequest {
    /// The one validation of a query's shape, at every level.
    pub fn validate(&self) -> Result<()> {
        check_stage(
            self.query.as_ref(),
            &self.prefetch,
            self.score_threshold,
            &self.params,
        )
    }

    /// Every collection the query's levels look examples up in.
    fn lookup_collections(&self) -> Vec<&str> {
        let mut out: Vec<&str> = self
            .lookup_from
            .iter()
            .map(|l| l.collection.as_str())
            .collect();
        self.prefetch
            .iter()
            .for_each(|p| p.lookup_collections(&mut out));
        out
    }
}

/// The points of several lists, each once, in the order first seen.
fn distinct(lists: Vec<Vec<ScoredPoint>>) -> Vec<ScoredPoint> {
    let mut seen = HashSet::new();
    lists
        .into_iter()
        .flatten()
        .filter(|p| seen.insert(p.id))
        .collect()
}

/// Both filters must hold.
fn both(a: Option<Filter>, b: Option<Filter>) -> Option<Filter> {
    match (a, b) {
        (None, f) | (f, None) => f,
        (Some(a), Some(b)) => Some(Filter {
            must: vec![Condition::Filter(a), Condition::Filter(b)],
            ..Filter::default()
        }),
    }
}

pub(super) fn exclude(filter: &mut Option<Filter>, ids: Vec<PointId>) {
    filter
        .get_or_insert_with(Filter::default)
        .must_not
        .push(Condition::HasId(HasIdCondition { has_id: ids }));
}
