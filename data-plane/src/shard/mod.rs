//! A shard replica's storage engine: WAL, points, and one HNSW graph per named vector.
//!
//! Locks, always taken in this order: `wal` (held by writers for a whole operation, so
//! writers are serialized and nothing else changes the state under them), `config`,
//! `store`, then a vector's `indexes` entry. Readers take `store` and `indexes` read
//! locks only; writers hold write locks just long enough to swap state, and insert into
//! graphs under read locks (hnsw_rs inserts through `&self`).

mod payload;
mod search;
mod store;

use std::collections::BTreeMap;
use std::io;
use std::path::Path;

use parking_lot::{Mutex, RwLock};
use tessera_types::{
    CollectionConfig, Distance, Filter, NamedVectors, PointId, Record, ScoredPoint, ScrollRequest,
    ScrollResult, SearchRequest, ShardOperation, ShardStats, TesseraError, VectorStruct,
    WithPayload, WithVector,
};

use crate::filter::{self, CompiledFilter, FilterError};
use crate::index::{kernels, GraphParams, VectorIndex};
use crate::wal::{Wal, WalError};
use search::{filter_is_selective, reaches_kb, ExactScan, TopK};
use store::{PointStore, StoredPoint, Touched};

const WAL_FILE: &str = "wal.log";

#[derive(Debug, thiserror::Error)]
pub enum ShardError {
    #[error("Wrong input: {0}")]
    BadInput(String),
    #[error("shard I/O error: {0}")]
    Io(#[from] io::Error),
    #[error("shard data is corrupt: {0}")]
    Corrupt(String),
}

impl From<WalError> for ShardError {
    fn from(e: WalError) -> Self {
        match e {
            WalError::Io(e) => ShardError::Io(e),
            WalError::Broken => ShardError::Io(io::Error::other(e.to_string())),
            WalError::Corrupt(_) | WalError::Encode(_) => ShardError::Corrupt(e.to_string()),
        }
    }
}

impl From<FilterError> for ShardError {
    fn from(e: FilterError) -> Self {
        ShardError::BadInput(e.to_string())
    }
}

impl From<ShardError> for TesseraError {
    fn from(e: ShardError) -> Self {
        match e {
            ShardError::BadInput(msg) => TesseraError::BadInput(msg),
            other => TesseraError::Internal(other.to_string()),
        }
    }
}

/// Config lookups report user errors as `TesseraError::BadInput`.
fn bad_input(e: TesseraError) -> ShardError {
    match e {
        TesseraError::BadInput(msg) => ShardError::BadInput(msg),
        other => ShardError::BadInput(other.to_string()),
    }
}

/// Graph entries reserved by a write, per vector name: (internal id, point).
type Staged = Vec<(String, Vec<(usize, PointId)>)>;

pub struct Shard {
    wal: Mutex<Wal>,
    config: RwLock<CollectionConfig>,
    store: RwLock<PointStore>,
    /// One graph per vector name, absent while that vector is served by exact scans.
    indexes: BTreeMap<String, RwLock<Option<VectorIndex>>>,
}

impl Shard {
    /// Opens the shard stored in `dir` (creating it if missing) and rebuilds its state
    /// from the WAL.
    pub fn open(dir: &Path, config: CollectionConfig) -> Result<Shard, ShardError> {
        std::fs::create_dir_all(dir)?;
        let mut store = PointStore::default();
        let wal = Wal::open(&dir.join(WAL_FILE), |seq, op| {
            let plan = store.plan(&op).map_err(|e| {
                ShardError::Corrupt(format!("WAL record {seq} cannot be applied: {e}"))
            })?;
            store.apply(seq, op, plan);
            Ok::<_, ShardError>(())
        })?;
        let indexes = config
            .params
            .vectors
            .iter()
            .map(|(name, _)| (name.to_string(), RwLock::new(None)))
            .collect();
        let shard = Shard {
            wal: Mutex::new(wal),
            config: RwLock::new(config),
            store: RwLock::new(store),
            indexes,
        };
        shard.maintain_indexes(&shard.config.read());
        Ok(shard)
    }

    /// Logs `op` (durably when `wait`), applies it, and returns its sequence number.
    /// Invalid input is rejected before anything is logged.
    pub fn apply(&self, op: ShardOperation, wait: bool) -> Result<u64, ShardError> {
        let mut wal = self.wal.lock();
        let config = self.config.read();
        let op = prepare(op, &config)?;
        let plan = self.store.read().plan(&op)?;
        let seq = wal.append(&op, wait)?;
        let staged = {
            let mut store = self.store.write();
            let touched = store.apply(seq, op, plan);
            self.stage(&store, touched)
        };
        self.insert_staged(staged);
        self.maintain_indexes(&config);
        Ok(seq)
    }

    /// Masks graph entries the write superseded and reserves ids for the new vectors.
    /// Runs under the store's write lock so searches never see the two disagree.
    fn stage(&self, store: &PointStore, touched: Touched) -> Staged {
        let mut staged = Vec::new();
        for (name, ids) in touched {
            let Some(lock) = self.indexes.get(&name) else {
                continue;
            };
            let mut guard = lock.write();
            let Some(index) = guard.as_mut() else {
                continue;
            };
            let mut reserved = Vec::new();
            for id in ids {
                if vector_of(store, id, &name).is_some() {
                    reserved.push((index.reserve(id), id));
                } else {
                    index.retire(id);
                }
            }
            drop(guard);
            staged.push((name, reserved));
        }
        staged
    }

    /// Inserts staged vectors into their graphs while searches continue, then shows them.
    fn insert_staged(&self, staged: Staged) {
        let store = self.store.read();
        for (name, reserved) in staged {
            let lock = &self.indexes[&name];
            if let Some(index) = lock.read().as_ref() {
                let batch: Vec<(&[f32], usize)> = reserved
                    .iter()
                    .filter_map(|(slot, id)| Some((vector_of(&store, *id, &name)?, *slot)))
                    .collect();
                index.insert(&batch);
            }
            if let Some(index) = lock.write().as_mut() {
                index.publish(reserved.iter().map(|(slot, _)| *slot));
            }
        }
    }

    /// Builds graphs for vectors that outgrew exact scans, and rebuilds (or drops) graphs
    /// that are mostly masked or were built with other parameters. Caller holds `wal`.
    fn maintain_indexes(&self, config: &CollectionConfig) {
        for (name, lock) in &self.indexes {
            let Some(params) = config.params.vectors.get(name) else {
                continue;
            };
            let hnsw = config.hnsw_for(name);
            let graph_params = GraphParams {
                m: hnsw.m,
                ef_construct: hnsw.ef_construct,
            };
            let store = self.store.read();
            let wanted = hnsw.m > 0
                && reaches_kb(
                    store.vector_count(name),
                    params.size as usize,
                    hnsw.full_scan_threshold,
                );
            let stale = match lock.read().as_ref() {
                None => wanted,
                Some(index) => index.needs_rebuild() || index.params() != graph_params,
            };
            if !stale {
                continue;
            }
            let fresh = wanted.then(|| {
                let items: Vec<(PointId, &[f32])> = store
                    .points
                    .iter()
                    .filter_map(|(id, p)| Some((*id, p.vectors.get(name)?.as_slice())))
                    .collect();
                VectorIndex::build(params.distance, graph_params, &items)
            });
            let old = std::mem::replace(&mut *lock.write(), fresh);
            // Freeing a large graph takes a while: do it after releasing the lock.
            drop(store);
            drop(old);
        }
    }

    /// Points with the given ids, in that order; missing ids are skipped.
    pub fn retrieve(
        &self,
        ids: &[PointId],
        with_payload: &WithPayload,
        with_vector: &WithVector,
    ) -> Vec<Record> {
        let store = self.store.read();
        ids.iter()
            .filter_map(|id| {
                let p = store.points.get(id)?;
                Some(record(*id, p, with_payload, with_vector))
            })
            .collect()
    }

    /// The best `limit + offset` points for the query, best first.
    pub fn search(&self, req: &SearchRequest) -> Result<Vec<ScoredPoint>, ShardError> {
        let (distance, dim, hnsw) = {
            let config = self.config.read();
            let params = config
                .params
                .vectors
                .require(&req.using)
                .map_err(bad_input)?;
            (
                params.distance,
                params.size as usize,
                config.hnsw_for(&req.using),
            )
        };
        let mut query = req.vector.clone();
        check_vector(&req.using, &mut query, dim, distance)?;
        let filter = req.filter.as_ref().map(filter::compile).transpose()?;
        let k = req.limit.saturating_add(req.offset);
        if k == 0 {
            return Ok(Vec::new());
        }

        let store = self.store.read();
        let guard = self.indexes.get(&req.using).map(|lock| lock.read());
        let graph = guard.as_ref().and_then(|g| g.as_ref()).filter(|_| {
            !req.params.exact
                && reaches_kb(
                    store.vector_count(&req.using),
                    dim,
                    hnsw.full_scan_threshold,
                )
                && filter.as_ref().is_none_or(|f| {
                    !filter_is_selective(
                        &store.points,
                        f,
                        &req.using,
                        dim,
                        hnsw.full_scan_threshold,
                    )
                })
        });
        let hits = match graph {
            Some(index) => {
                let ef = req.params.hnsw_ef.unwrap_or(hnsw.ef_construct.max(k));
                let accept = |id: PointId| {
                    store.points.get(&id).is_some_and(|p| {
                        filter
                            .as_ref()
                            .is_none_or(|f| f.matches(id, &p.payload, &p.vectors))
                    })
                };
                let mut top = TopK::new(k, distance);
                for id in index.search(&query, k, ef, accept) {
                    // Rescore from the stored vector so both paths report identical scores.
                    if let Some(v) = vector_of(&store, id, &req.using) {
                        let score = kernels::score(distance, &query, v);
                        if req
                            .score_threshold
                            .is_none_or(|t| distance.passes_threshold(score, t))
                        {
                            top.push(id, score);
                        }
                    }
                }
                top.into_sorted()
            }
            None => ExactScan {
                name: &req.using,
                query: &query,
                distance,
                k,
                filter: filter.as_ref(),
                threshold: req.score_threshold,
            }
            .run(&store.points),
        };
        Ok(hits
            .into_iter()
            .filter_map(|(id, score)| {
                let p = store.points.get(&id)?;
                Some(ScoredPoint {
                    id,
                    version: p.version,
                    score,
                    payload: req.with_payload.select(&p.payload),
                    vector: req
                        .with_vector
                        .select(&p.vectors)
                        .map(VectorStruct::from_named),
                    shard_key: None,
                    order_value: None,
                })
            })
            .collect())
    }

    /// Matching points with id >= `offset`, in id order, and the id to continue from.
    pub fn scroll(&self, req: &ScrollRequest) -> Result<ScrollResult, ShardError> {
        let filter = req.filter.as_ref().map(filter::compile).transpose()?;
        let store = self.store.read();
        let mut matching = store
            .points
            .range(req.offset.unwrap_or(PointId::Num(0))..)
            .filter(|(id, p)| passes(filter.as_ref(), **id, p));
        let points = matching
            .by_ref()
            .take(req.limit)
            .map(|(id, p)| record(*id, p, &req.with_payload, &req.with_vector))
            .collect();
        let next_page_offset = matching.next().map(|(id, _)| *id);
        Ok(ScrollResult {
            points,
            next_page_offset,
        })
    }

    pub fn count(&self, filter: Option<&Filter>) -> Result<u64, ShardError> {
        let filter = filter.map(filter::compile).transpose()?;
        let store = self.store.read();
        Ok(match &filter {
            None => store.points.len(),
            Some(f) => store
                .points
                .iter()
                .filter(|(id, p)| f.matches(**id, &p.payload, &p.vectors))
                .count(),
        } as u64)
    }

    pub fn stats(&self) -> ShardStats {
        let points_count = self.store.read().points.len() as u64;
        let indexed_vectors_count = self
            .indexes
            .values()
            .filter_map(|lock| lock.read().as_ref().map(|i| i.vector_count() as u64))
            .sum();
        ShardStats {
            points_count,
            indexed_vectors_count,
            segments_count: 1,
            optimizing: false,
        }
    }

    /// Adopts a new configuration; graphs are built, rebuilt or dropped to match it.
    pub fn update_config(&self, config: CollectionConfig) {
        let _writer = self.wal.lock();
        *self.config.write() = config;
        self.maintain_indexes(&self.config.read());
    }
}

fn vector_of<'a>(store: &'a PointStore, id: PointId, name: &str) -> Option<&'a [f32]> {
    Some(store.points.get(&id)?.vectors.get(name)?.as_slice())
}

fn passes(filter: Option<&CompiledFilter>, id: PointId, p: &StoredPoint) -> bool {
    filter.is_none_or(|f| f.matches(id, &p.payload, &p.vectors))
}

fn record(
    id: PointId,
    p: &StoredPoint,
    with_payload: &WithPayload,
    with_vector: &WithVector,
) -> Record {
    Record {
        id,
        payload: with_payload.select(&p.payload),
        vector: with_vector.select(&p.vectors).map(VectorStruct::from_named),
        shard_key: None,
        order_value: None,
    }
}

/// Checks a vector's size and values, and normalizes it for Cosine.
fn check_vector(
    name: &str,
    vector: &mut [f32],
    dim: usize,
    distance: Distance,
) -> Result<(), ShardError> {
    if vector.len() != dim {
        return Err(ShardError::BadInput(format!(
            "Vector dimension error: expected dim: {dim}, got {}",
            vector.len()
        )));
    }
    if vector.iter().any(|x| !x.is_finite()) {
        let which = if name.is_empty() {
            "Vector".to_string()
        } else {
            format!("Vector `{name}`")
        };
        return Err(ShardError::BadInput(format!(
            "{which} contains NaN or infinite values"
        )));
    }
    if distance == Distance::Cosine {
        kernels::normalize(vector);
    }
    Ok(())
}

fn check_vectors(config: &CollectionConfig, vectors: &mut NamedVectors) -> Result<(), ShardError> {
    for (name, vector) in vectors.iter_mut() {
        let params = config.params.vectors.require(name).map_err(bad_input)?;
        check_vector(name, vector, params.size as usize, params.distance)?;
    }
    Ok(())
}

/// Validates the parts of `op` that depend on the collection's configuration and stores
/// Cosine vectors normalized, so the WAL holds exactly what is applied.
fn prepare(
    mut op: ShardOperation,
    config: &CollectionConfig,
) -> Result<ShardOperation, ShardError> {
    match &mut op {
        ShardOperation::Upsert(points) => {
            for p in points.iter_mut() {
                check_vectors(config, &mut p.vectors)?;
            }
        }
        ShardOperation::UpdateVectors(updates) => {
            for (_, vectors) in updates.iter_mut() {
                check_vectors(config, vectors)?;
            }
        }
        ShardOperation::DeleteVectors { names, .. } => {
            for name in names.iter() {
                config.params.vectors.require(name).map_err(bad_input)?;
            }
        }
        ShardOperation::Delete(_)
        | ShardOperation::SetPayload { .. }
        | ShardOperation::OverwritePayload { .. }
        | ShardOperation::DeletePayload { .. }
        | ShardOperation::ClearPayload(_) => {}
    }
    Ok(op)
}
