//! Point writes: each shard's part goes to its primary, which orders it.

use super::*;

impl Gateway {
    /// Applies a write to every shard it touches, through each shard's
    /// primary. Bad input is rejected before any shard sees the operation, so
    /// it changes nothing.
    pub async fn update_points(
        &self,
        collection: &str,
        mut operation: ShardOperation,
        shard_key: Option<&ShardKeySelector>,
        wait: bool,
        ordering: WriteOrdering,
    ) -> Result<UpdateResult> {
        let (_, state) = self.collection(collection)?;
        validate_operation(&state.config, &mut operation)?;
        self.strict_write(&state, &operation).await?;
        // Under custom sharding a write goes to each named key's shards.
        let per_shard: Vec<_> = state
            .write_scopes(shard_key)?
            .iter()
            .flat_map(|scope| split_by_shard(scope, operation.clone()))
            .collect();
        let results = join_all(
            per_shard
                .into_iter()
                .map(|(shard_id, op)| self.update_shard(collection, shard_id, op, wait, ordering)),
        )
        .await;
        let mut operation_id = 0;
        for result in results {
            operation_id = operation_id.max(result?);
        }
        Ok(UpdateResult {
            operation_id: Some(operation_id),
            status: if wait {
                UpdateStatus::Completed
            } else {
                UpdateStatus::Acknowledged
            },
        })
    }

    /// Sends one shard's part of a write to the shard's primary, which orders
    /// it, forwards it to the other replicas and applies
    /// `write_consistency_factor`. When the primary has moved (a failover), the
    /// write follows it; when it is unreachable, a weak or medium write waits
    /// for the control plane to promote another in-sync replica (if there is
    /// one), a strong one fails.
    /// Retrying is safe: every operation leaves the same state when repeated.
    async fn update_shard(
        &self,
        collection: &str,
        shard_id: ShardId,
        operation: ShardOperation,
        wait: bool,
        ordering: WriteOrdering,
    ) -> Result<u64> {
        let deadline = tokio::time::Instant::now() + FAILOVER_WAIT;
        loop {
            let (topology, state) = self.collection(collection)?;
            let shard = state
                .shard(shard_id)
                .ok_or_else(|| TesseraError::internal(format!("shard {shard_id} vanished")))?;
            let why = if shard.primary == 0 {
                format!("shard {shard_id} has no in-sync replica to lead it")
            } else {
                let write = ShardWrite {
                    operation: operation.clone(),
                    epoch: shard.epoch,
                    wait,
                };
                let node = self.data_planes.shards(&topology, shard.primary)?;
                let call = replica_call(&topology, &state, shard_id);
                let due = call.clone();
                let (primary, epoch) = (shard.primary, shard.epoch);
                let sent = tokio::select! {
                    sent = node.update(call, write) => sent,
                    // A primary that went silent is replaced by the control
                    // plane sooner than its connection is given up: follow it.
                    _ = self.shard_leadership_changes(&state.name, shard_id, (primary, epoch)) => {
                        Err(TesseraError::Stale(format!(
                            "the primary of shard {shard_id} changed while the write was in flight"
                        )))
                    }
                };
                match sent {
                    Ok(operation_id) => return Ok(operation_id),
                    Err(TesseraError::Stale(why)) => why,
                    // Only a primary that could not be reached may be failing
                    // over; an error it sent (say, too few copies) is final.
                    Err(TesseraError::Unreachable(reason)) => {
                        let why = format!(
                            "the primary of shard {shard_id} (peer {}) is unreachable: {reason}",
                            shard.primary
                        );
                        if ordering == WriteOrdering::Strong {
                            return Err(TesseraError::Unavailable(format!(
                                "{why}; ordering=strong does not wait for a new primary"
                            )));
                        }
                        let successor = shard
                            .replicas
                            .iter()
                            .any(|r| r.peer_id != shard.primary && r.state.is_source_of_truth());
                        if !successor {
                            return Err(TesseraError::Unavailable(format!(
                                "{why}, and no other in-sync replica can take over"
                            )));
                        }
                        why
                    }
                    // The call's own deadline passed; a timeout the primary
                    // reported (say, waiting for a topology) keeps its words.
                    Err(TesseraError::Timeout(_)) if due.expired() => {
                        return Err(TesseraError::Timeout(format!(
                            "the primary of shard {shard_id} did not answer in time"
                        )))
                    }
                    Err(e) => return Err(e),
                }
            };
            if tokio::time::Instant::now() >= deadline {
                return Err(TesseraError::Unavailable(why));
            }
            // A newer topology (a new primary) or a short pause, then again.
            let _ = tokio::time::timeout(
                Duration::from_millis(200),
                self.topology.wait_for_version(topology.version + 1),
            )
            .await;
        }
    }
}

impl Gateway {
    /// Resolves once the topology gives shard `shard_id` of `collection` a
    /// primary or epoch other than `(primary, epoch)`.
    async fn shard_leadership_changes(
        &self,
        collection: &str,
        shard_id: ShardId,
        (primary, epoch): (tessera_types::PeerId, u64),
    ) {
        let mut changes = self.topology.subscribe();
        let moved = changes
            .wait_for(|t| {
                t.collections
                    .get(collection)
                    .and_then(|c| c.shard(shard_id))
                    .is_none_or(|s| s.primary != primary || s.epoch != epoch)
            })
            .await
            .is_ok();
        if !moved {
            // The watch ended with the gateway: never resolve.
            std::future::pending::<()>().await;
        }
    }
}

/// Qdrant's body validation of a point's vectors, before any check against
/// the config, with its paths in the messages.
fn check_shapes(point: usize, vectors: &tessera_types::NamedVectors) -> Result<()> {
    for vector in vectors.values() {
        match vector {
            Vector::Multi(multi) => check_multi_shape(point, multi)?,
            Vector::Sparse(sparse) => check_sparse_shape(point, sparse)?,
            Vector::Dense(_) => {}
        }
    }
    Ok(())
}

/// Indices and values pair up, and no index repeats.
fn check_sparse_shape(point: usize, sparse: &tessera_types::SparseVector) -> Result<()> {
    let at = format!("points[{point}].vector.?");
    if sparse.indices.len() != sparse.values.len() {
        return Err(TesseraError::validation(format!(
            "[{at}.values: Validation error: must be the same length as indices [{{}}]]"
        )));
    }
    let mut seen = std::collections::HashSet::new();
    if !sparse.indices.iter().all(|i| seen.insert(*i)) {
        return Err(TesseraError::validation(format!(
            "[{at}.indices: Validation error: must be unique [{{}}]]"
        )));
    }
    Ok(())
}

/// Inner vectors of a multi-vector are non-empty and of one dimension.
fn check_multi_shape(point: usize, multi: &[Vec<f32>]) -> Result<()> {
    let at = format!("points[{point}].vector.?.data");
    if multi.iter().any(|inner| inner.is_empty()) {
        return Err(TesseraError::validation(format!(
            "[{at}: all vectors must be non-empty]"
        )));
    }
    let dim = multi.first().map_or(0, Vec::len);
    if let Some(other) = multi.iter().find(|inner| inner.len() != dim) {
        return Err(TesseraError::validation(format!(
            "[{at}: all vectors must have the same dimension, found vector with dimension {}]",
            other.len()
        )));
    }
    Ok(())
}

/// Checks the shapes of every written vector (multi-vectors, sparse indices,
/// with the point they are in), then every vector against the collection's
/// config (sparse ones come back sorted by index).
fn validate_operation(config: &CollectionConfig, operation: &mut ShardOperation) -> Result<()> {
    if let ShardOperation::UpdateVectors(points)
    | ShardOperation::ConditionalUpdateVectors { points, .. } = &*operation
    {
        if let Some(i) = points.iter().position(|(_, vectors)| vectors.is_empty()) {
            return Err(TesseraError::validation(format!(
                "[points[{i}].vector: must specify vectors to update for point]"
            )));
        }
    }
    for (i, vectors) in operation.written_vectors_mut().into_iter().enumerate() {
        check_shapes(i, vectors)?;
    }
    operation.check_vectors(&config.params)
}

/// Splits a write into the part each shard must apply: explicit ids go to the
/// shard that owns them; a filter goes to every shard.
fn split_by_shard(
    collection: &CollectionState,
    operation: ShardOperation,
) -> Vec<(ShardId, ShardOperation)> {
    let all_shards = || collection.shards.iter().map(|s| s.shard_id);
    let router = collection.router();
    let group_ids = |ids: Vec<PointId>| {
        let mut groups: BTreeMap<ShardId, Vec<PointId>> = BTreeMap::new();
        for id in ids {
            groups.entry(router.shard_for(&id)).or_default().push(id);
        }
        groups
    };
    let with_selection =
        |selection: PointSelection, make: &dyn Fn(PointSelection) -> ShardOperation| match selection
        {
            PointSelection::Ids(ids) => group_ids(ids)
                .into_iter()
                .map(|(shard, ids)| (shard, make(PointSelection::Ids(ids))))
                .collect::<Vec<_>>(),
            PointSelection::Filter(filter) => all_shards()
                .map(|shard| (shard, make(PointSelection::Filter(filter.clone()))))
                .collect(),
        };
    let group_points = |points: Vec<Point>| {
        let mut groups: BTreeMap<ShardId, Vec<Point>> = BTreeMap::new();
        for point in points {
            groups
                .entry(router.shard_for(&point.id))
                .or_default()
                .push(point);
        }
        groups
    };
    match operation {
        ShardOperation::Upsert(points) => group_points(points)
            .into_iter()
            .map(|(shard, points)| (shard, ShardOperation::Upsert(points)))
            .collect(),
        ShardOperation::ConditionalUpsert {
            points,
            mode,
            update_filter,
        } => group_points(points)
            .into_iter()
            .map(|(shard, points)| {
                let operation = ShardOperation::ConditionalUpsert {
                    points,
                    mode,
                    update_filter: update_filter.clone(),
                };
                (shard, operation)
            })
            .collect(),
        ShardOperation::UpdateVectors(points) => group_vectors(&router, points)
            .into_iter()
            .map(|(shard, points)| (shard, ShardOperation::UpdateVectors(points)))
            .collect(),
        ShardOperation::ConditionalUpdateVectors {
            points,
            update_filter,
        } => group_vectors(&router, points)
            .into_iter()
            .map(|(shard, points)| {
                let operation = ShardOperation::ConditionalUpdateVectors {
                    points,
                    update_filter: update_filter.clone(),
                };
                (shard, operation)
            })
            .collect(),
        ShardOperation::Delete(selection) => with_selection(selection, &ShardOperation::Delete),
        ShardOperation::ClearPayload(selection) => {
            with_selection(selection, &ShardOperation::ClearPayload)
        }
        ShardOperation::SetPayload {
            payload,
            selection,
            key,
        } => with_selection(selection, &|selection| ShardOperation::SetPayload {
            payload: payload.clone(),
            selection,
            key: key.clone(),
        }),
        ShardOperation::OverwritePayload { payload, selection } => {
            with_selection(selection, &|selection| ShardOperation::OverwritePayload {
                payload: payload.clone(),
                selection,
            })
        }
        ShardOperation::DeletePayload { keys, selection } => {
            with_selection(selection, &|selection| ShardOperation::DeletePayload {
                keys: keys.clone(),
                selection,
            })
        }
        ShardOperation::DeleteVectors { names, selection } => {
            with_selection(selection, &|selection| ShardOperation::DeleteVectors {
                names: names.clone(),
                selection,
            })
        }
    }
}

/// Vector updates grouped by the shard owning each point.
fn group_vectors(
    router: &tessera_types::ShardRouter,
    points: Vec<(PointId, tessera_types::NamedVectors)>,
) -> BTreeMap<ShardId, Vec<(PointId, tessera_types::NamedVectors)>> {
    let mut groups: BTreeMap<ShardId, Vec<_>> = BTreeMap::new();
    for (id, vectors) in points {
        groups
            .entry(router.shard_for(&id))
            .or_default()
            .push((id, vectors));
    }
    groups
}
