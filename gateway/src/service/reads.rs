//! Point reads: each shard's replicas chosen by consistency, answers merged.

use super::strict_mode::cost;
use super::*;
use crate::replica_set;

impl Gateway {
    /// A user's retrieval by id, charged to strict mode's read rate limit; the
    /// gateway's own retrievals call `retrieve`.
    pub async fn retrieve_points(
        &self,
        collection: &str,
        ids: &[PointId],
        with_payload: &WithPayload,
        with_vector: &WithVector,
        read: &ReadOptions,
    ) -> Result<Vec<Record>> {
        self.strict_mode(collection, |_| Ok(ids.len()))?;
        self.retrieve(collection, ids, with_payload, with_vector, read)
            .await
    }

    pub async fn retrieve(
        &self,
        collection: &str,
        ids: &[PointId],
        with_payload: &WithPayload,
        with_vector: &WithVector,
        read: &ReadOptions,
    ) -> Result<Vec<Record>> {
        let (topology, collection) = self.collection(collection)?;
        collection.config.params.check_vector_names(with_vector)?;
        let collection = collection.read_scope(read.shard_key.as_ref())?;
        let mut by_shard: BTreeMap<ShardId, Vec<PointId>> = BTreeMap::new();
        if collection.is_custom_sharded() {
            // Any key may hold the point: ask every shard in scope.
            for shard in &collection.shards {
                by_shard.insert(shard.shard_id, ids.to_vec());
            }
        } else {
            let router = collection.router();
            for id in ids {
                by_shard.entry(router.shard_for(id)).or_default().push(*id);
            }
        }
        let deadline = read.deadline();
        let replies = join_all(by_shard.into_iter().map(|(shard_id, ids)| {
            replica_set::read_shard(
                &self.data_planes,
                &topology,
                &collection,
                shard_id,
                read.consistency,
                deadline,
                move |node, call| {
                    let (ids, with_payload, with_vector) =
                        (ids.clone(), with_payload.clone(), with_vector.clone());
                    async move { node.retrieve(call, ids, with_payload, with_vector).await }
                },
            )
        }));
        let replies = within_timeout(&collection, read, async { Ok(replies.await) }).await?;
        let mut found: HashMap<PointId, Record> = HashMap::new();
        for reply in replies {
            for record in reply? {
                found.insert(record.id, record);
            }
        }
        // Answer in the order asked, once per id.
        Ok(ids.iter().filter_map(|id| found.remove(id)).collect())
    }

    pub async fn search(
        &self,
        collection: &str,
        mut request: SearchRequest,
        read: &ReadOptions,
    ) -> Result<Vec<ScoredPoint>> {
        let (topology, collection) = self.collection(collection)?;
        let collection = collection.read_scope(read.shard_key.as_ref())?;
        let params = &collection.config.params;
        params.check_vector(&request.using, &mut request.vector)?;
        if let Some(quantization) = &request.params.quantization {
            quantization.validate()?;
        }
        let distance = params.distance(&request.using)?;
        let replies = self
            .read_every_shard(&topology, &collection, read, |node, call| {
                let request = request.clone();
                async move { node.search(call, request).await }
            })
            .await?;
        let mut merged: Vec<ScoredPoint> = replies.into_iter().flatten().collect();
        merged.sort_by(|a, b| {
            let order = a.score.total_cmp(&b.score);
            let order = if distance.higher_is_better() {
                order.reverse()
            } else {
                order
            };
            order.then_with(|| a.id.cmp(&b.id))
        });
        Ok(merged
            .into_iter()
            .skip(request.offset)
            .take(request.limit)
            .collect())
    }

    /// A user's search (`points/search`), checked against strict mode; the
    /// gateway's own searches for queries call `search`.
    pub async fn search_points(
        &self,
        collection: &str,
        request: SearchRequest,
        read: &ReadOptions,
    ) -> Result<Vec<ScoredPoint>> {
        self.strict_mode(collection, |strict| check_search(strict, &request))?;
        self.search(collection, request, read).await
    }

    pub async fn search_batch(
        &self,
        collection: &str,
        requests: Vec<(SearchRequest, ReadOptions)>,
    ) -> Result<Vec<Vec<ScoredPoint>>> {
        self.strict_mode(collection, |strict| {
            strict.batch(requests.len())?;
            requests
                .iter()
                .map(|(request, _)| check_search(strict, request))
                .sum()
        })?;
        let results = join_all(
            requests
                .iter()
                .map(|(request, read)| self.search(collection, request.clone(), read)),
        )
        .await;
        results.into_iter().collect()
    }

    /// Pages through points in id order. Each shard returns up to `limit + 1`
    /// points from the offset; the merged list decides the next page's offset.
    pub async fn scroll(
        &self,
        collection: &str,
        request: ScrollRequest,
        read: &ReadOptions,
    ) -> Result<ScrollResult> {
        if request.order_by.is_some() && request.offset.is_some() {
            return Err(TesseraError::bad_input(
                "Cannot use an `offset` when using `order_by`. The alternative for paging is to use \
                 `order_by.start_from` and a filter to exclude the IDs that you've already seen \
                 for the `order_by.start_from` value",
            ));
        }
        self.strict_mode(collection, |strict| {
            strict.limit(request.limit)?;
            strict.filter(request.filter.as_ref(), false)?;
            Ok(cost::scroll(request.filter.as_ref()))
        })?;
        self.run_scroll(collection, request, read).await
    }

    /// A scroll as asked, strict mode already satisfied (the gateway's own
    /// pages for queries, samples and formulas).
    pub(super) async fn run_scroll(
        &self,
        collection: &str,
        request: ScrollRequest,
        read: &ReadOptions,
    ) -> Result<ScrollResult> {
        let (topology, collection) = self.collection(collection)?;
        collection
            .config
            .params
            .check_vector_names(&request.with_vector)?;
        if let Some(order) = &request.order_by {
            check_order_index(&collection, &order.key)?;
        }
        let collection = collection.read_scope(read.shard_key.as_ref())?;
        let limit = request.limit;
        let order = request.order_by.clone();
        let request = ScrollRequest {
            limit: limit.saturating_add(1),
            ..request
        };
        let replies = self
            .read_every_shard(&topology, &collection, read, |node, call| {
                let request = request.clone();
                async move { node.scroll(call, request).await }
            })
            .await?;
        let mut points: Vec<Record> = replies.into_iter().flat_map(|page| page.points).collect();
        if let Some(order) = order {
            // Each shard sent its first `limit + 1` in order; no id offsets.
            let mut valued: Vec<(f64, Record)> = points
                .into_iter()
                .map(|r| {
                    (
                        r.order_value
                            .as_ref()
                            .and_then(|v| v.as_f64())
                            .unwrap_or(0.0),
                        r,
                    )
                })
                .collect();
            order.direction().sort(&mut valued);
            valued.truncate(limit);
            // An integer field's values come back as integers, as Qdrant shows them.
            let integers = collection.payload_schema.get(&order.key).map(|f| f.kind())
                == Some(PayloadSchemaType::Integer);
            return Ok(ScrollResult {
                points: valued
                    .into_iter()
                    .map(|(value, mut r)| {
                        if integers {
                            r.order_value = Some((value as i64).into());
                        }
                        r
                    })
                    .collect(),
                next_page_offset: None,
            });
        }
        points.sort_by_key(|r| r.id);
        let next_page_offset = points.get(limit).map(|r| r.id);
        points.truncate(limit);
        Ok(ScrollResult {
            points,
            next_page_offset,
        })
    }

    pub async fn count(
        &self,
        collection: &str,
        filter: Option<Filter>,
        read: &ReadOptions,
    ) -> Result<u64> {
        self.strict_mode(collection, |strict| {
            strict.filter(filter.as_ref(), false)?;
            Ok(cost::scroll(filter.as_ref()))
        })?;
        self.run_count(collection, filter, read).await
    }

    /// A count, without the caller's strict mode checks (the gateway's own counts).
    pub(super) async fn run_count(
        &self,
        collection: &str,
        filter: Option<Filter>,
        read: &ReadOptions,
    ) -> Result<u64> {
        let (topology, collection) = self.collection(collection)?;
        let collection = collection.read_scope(read.shard_key.as_ref())?;
        let replies = self
            .read_every_shard(&topology, &collection, read, |node, call| {
                let filter = filter.clone();
                async move { node.count(call, filter).await }
            })
            .await?;
        Ok(replies.iter().sum())
    }

    /// Runs the same read (`send`, given a replica and the call to make) on
    /// every shard of a collection, concurrently; the first failing shard
    /// fails the whole read, and so does the caller's `timeout` passing
    /// (checked against strict mode's `max_timeout`).
    pub(super) async fn read_every_shard<T, F, Fut>(
        &self,
        topology: &Topology,
        collection: &CollectionState,
        read: &ReadOptions,
        send: F,
    ) -> Result<Vec<T>>
    where
        F: Fn(Arc<dyn ShardClient>, ShardCall) -> Fut,
        Fut: std::future::Future<Output = Result<ReplicaAnswer<T>>>,
    {
        let deadline = read.deadline();
        let replies = join_all(collection.shards.iter().map(|shard| {
            replica_set::read_shard(
                &self.data_planes,
                topology,
                collection,
                shard.shard_id,
                read.consistency,
                deadline,
                &send,
            )
        }));
        within_timeout(collection, read, async {
            replies.await.into_iter().collect()
        })
        .await
    }
}

/// Runs `reads` within the caller's `timeout`, if any, first checked against
/// strict mode's `max_timeout`.
async fn within_timeout<T>(
    collection: &CollectionState,
    read: &ReadOptions,
    reads: impl std::future::Future<Output = Result<T>>,
) -> Result<T> {
    let Some(seconds) = read.timeout else {
        return reads.await;
    };
    if let Some(strict) = strict_mode::StrictMode::of(collection) {
        strict.timeout(seconds)?;
    }
    tokio::time::timeout(Duration::from_secs(seconds), reads)
        .await
        .map_err(|_| {
            TesseraError::Timeout(format!(
                "the read did not finish within its timeout of {seconds} s"
            ))
        })?
}

/// `order_by` needs an index that orders numbers on its key, as in Qdrant.
fn check_order_index(collection: &CollectionState, key: &str) -> Result<()> {
    match collection.payload_schema.get(key).map(|f| f.kind()) {
        Some(PayloadSchemaType::Integer | PayloadSchemaType::Float | PayloadSchemaType::Datetime) => {
            Ok(())
        }
        _ => Err(TesseraError::bad_input(format!(
            "Bad request: No range index for `order_by` key: `{key}`. Please create one to use `order_by`. Check https://qdrant.tech/documentation/concepts/indexing/#payload-index to see which payload schemas support Range conditions"
        ))),
    }
}

/// Checks a user's search, and gives its cost.
fn check_search(strict: &strict_mode::StrictMode, request: &SearchRequest) -> Result<usize> {
    strict.limit(request.limit)?;
    strict.params(&request.params)?;
    strict.filter(request.filter.as_ref(), false)?;
    Ok(cost::search(&request.vector, request.filter.as_ref()))
}
