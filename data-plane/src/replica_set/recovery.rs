//! Recovery of this node's replicas that are out of sync (Recovery, then
//! Partial): each fetches the operations it missed from the primary's WAL, or
//! a snapshot when the WAL no longer has them or the histories differ, while
//! new writes go on. A shard transfer's target is such a replica; its method
//! `snapshot` starts with a snapshot, `wal_delta` with the WAL. Without a
//! chosen method, an empty replica starts with a snapshot (it gets the
//! primary's indexes instead of rebuilding them) and any other with the WAL.
//! Recovery → Partial once it has caught up with what the primary had (the
//! primary then forwards new writes); Partial → Active (or Listener) once it
//! also holds everything ordered before forwarding began.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use parking_lot::Mutex;
use tessera_types::shard_client::{ShardTarget, TransferRecords, TransferSnapshot};
use tessera_types::{ReplicaState, ReplicaStateChange, TesseraError, Topology, TransferMethod};
use tokio::io::AsyncWriteExt;
use tokio::task::JoinHandle;

use super::{peer_call, ReplicaSet};
use crate::registry::ReplicaKey;
use tessera_engine::shard::{RecordLoader, Replicated, RestoredHistory};

/// Operations fetched per request.
const BATCH: u32 = 1_000;
const RETRY: Duration = Duration::from_millis(500);

/// How far one replica's recovery has come.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    /// "wal_delta", "snapshot", or "queued" while waiting for a transfer slot.
    pub method: &'static str,
    /// Operations (WAL delta) or bytes (snapshot) done, of `total`.
    pub done: u64,
    pub total: u64,
}

/// A recovery's progress and where its current method started, for its rate.
struct Tracked {
    progress: Progress,
    started: Instant,
    started_at: u64,
}

/// Recoveries in progress on this node, by replica.
#[derive(Clone, Default)]
pub struct RecoveryProgress(Arc<Mutex<HashMap<ReplicaKey, Tracked>>>);

impl RecoveryProgress {
    /// The progress of `key`'s recovery and its rate (units per second) since
    /// its current method started.
    pub fn get(&self, key: &ReplicaKey) -> Option<(Progress, f64)> {
        self.0.lock().get(key).map(|t| {
            let seconds = t.started.elapsed().as_secs_f64().max(1e-3);
            let rate = t.progress.done.saturating_sub(t.started_at) as f64 / seconds;
            (t.progress.clone(), rate)
        })
    }

    /// Every recovery in progress here.
    pub fn all(&self) -> Vec<(ReplicaKey, Progress)> {
        self.0
            .lock()
            .iter()
            .map(|(key, t)| (key.clone(), t.progress.clone()))
            .collect()
    }

    fn set(&self, key: &ReplicaKey, progress: Progress) {
        let mut all = self.0.lock();
        match all.get_mut(key) {
            Some(t) if t.progress.method == progress.method => t.progress = progress,
            _ => {
                let started_at = if progress.method == "snapshot" {
                    0
                } else {
                    progress.done
                };
                all.insert(
                    key.clone(),
                    Tracked {
                        progress,
                        started: Instant::now(),
                        started_at,
                    },
                );
            }
        }
    }

    fn clear(&self, key: &ReplicaKey) {
        self.0.lock().remove(key);
    }
}

/// Watches the topology and runs one recovery per recovering replica here.
pub async fn recovery_loop(set: ReplicaSet) {
    let mut running: HashMap<ReplicaKey, JoinHandle<()>> = HashMap::new();
    let mut changes = set.registry.topology().subscribe();
    let me = set.peer_id();
    loop {
        let topology = changes.borrow_and_update().clone();
        running.retain(|_, task| !task.is_finished());
        for collection in topology.collections.values() {
            for shard in &collection.shards {
                if !shard.state_of(me).is_some_and(|s| s.is_recovering()) {
                    continue;
                }
                let key = ReplicaKey::new(
                    collection.name.clone(),
                    collection.incarnation,
                    shard.shard_id,
                );
                running
                    .entry(key.clone())
                    .or_insert_with(|| tokio::spawn(recover(set.clone(), key)));
            }
        }
        tokio::select! {
            changed = changes.changed() => if changed.is_err() { return },
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
}

enum Step {
    Continue,
    Done,
}

/// What one recovery has done so far under the method it runs.
struct Attempt {
    method: TransferMethod,
    base_installed: bool,
}

async fn recover(set: ReplicaSet, key: ReplicaKey) {
    let started = Instant::now();
    tracing::info!(collection = %key.collection, shard = key.shard_id, "recovering replica");
    let mut attempt = Attempt {
        method: set.default_method,
        base_installed: false,
    };
    loop {
        match set.recovery_step(&key, &mut attempt).await {
            Ok(Step::Continue) => {}
            Ok(Step::Done) => break,
            Err(e) => {
                tracing::warn!(collection = %key.collection, shard = key.shard_id, error = %e, "recovery step failed; retrying");
                tokio::time::sleep(RETRY).await;
            }
        }
    }
    set.progress.clear(&key);
    tracing::info!(
        collection = %key.collection,
        shard = key.shard_id,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "replica recovery ended"
    );
}

impl ReplicaSet {
    async fn recovery_step(
        &self,
        key: &ReplicaKey,
        attempt: &mut Attempt,
    ) -> Result<Step, TesseraError> {
        let me = self.peer_id();
        let topology = self.registry.topology().current();
        let Some(collection) = topology
            .collections
            .get(&key.collection)
            .filter(|c| c.incarnation == key.incarnation)
        else {
            return Ok(Step::Done);
        };
        let Some(placement) = collection.shard(key.shard_id).cloned() else {
            return Ok(Step::Done);
        };
        let chosen = collection
            .transfer_to(key.shard_id, me)
            .and_then(|t| t.method);
        let method = chosen.unwrap_or(self.default_method);
        if method != attempt.method {
            // A restarted transfer starts over with its new method.
            tracing::info!(collection = %key.collection, shard = key.shard_id, method = method.as_str(), "recovery: method changed");
            *attempt = Attempt {
                method,
                base_installed: false,
            };
        }
        let Some(state) = placement.state_of(me).filter(|s| s.is_recovering()) else {
            return Ok(Step::Done);
        };
        let primary = placement.primary;
        if primary == 0 || primary == me {
            tokio::time::sleep(RETRY).await;
            return Ok(Step::Continue);
        }
        let target = ShardTarget {
            collection: key.collection.clone(),
            incarnation: key.incarnation,
            shard_id: key.shard_id,
            topology_version: topology.version,
        };
        let _slot = self
            .slots
            .incoming(|| {
                self.progress.set(
                    key,
                    Progress {
                        method: "queued",
                        done: 0,
                        total: 0,
                    },
                )
            })
            .await;
        let local = self.registry.shard(target.clone()).await?;
        let last = local.last_op();
        // An empty replica starts from a whole copy unless told otherwise: a
        // snapshot brings the primary's indexes along instead of rebuilding them.
        let base_first = matches!(
            method,
            TransferMethod::Snapshot | TransferMethod::StreamRecords
        ) || (chosen.is_none() && last.seq == 0);
        if base_first && !attempt.base_installed {
            // The swap waits for every holder of the replica to let go.
            drop(local);
            self.install_base(method, &topology, primary, target, key)
                .await?;
            attempt.base_installed = true;
            return Ok(Step::Continue);
        }
        let missed = self
            .peers
            .shards(&topology, primary)?
            .missed_ops(peer_call(target.clone()), last, BATCH, me)
            .await?;
        let (forwarding, primary_last) = (missed.forwarding, missed.primary_last_seq);
        let Some(ops) = missed.ops else {
            // The swap waits for every holder of the replica to let go.
            drop(local);
            self.install_base(method, &topology, primary, target, key)
                .await?;
            return Ok(Step::Continue);
        };
        let fetched = ops.len();
        if fetched > 0 {
            // Where this catch-up starts, so its rate counts from here.
            self.progress.set(
                key,
                Progress {
                    method: "wal_delta",
                    done: last.seq,
                    total: primary_last.max(last.seq),
                },
            );
            let shard = local.clone();
            let outcome = tokio::task::spawn_blocking(move || {
                shard.apply_replicated(last.epoch, ops, true, Duration::ZERO)
            })
            .await
            .map_err(TesseraError::internal_from)??;
            if let Replicated::Diverged { .. } = outcome {
                drop(local);
                self.install_base(method, &topology, primary, target, key)
                    .await?;
                return Ok(Step::Continue);
            }
        }
        let now = local.last_op();
        let progress = Progress {
            method: "wal_delta",
            done: now.seq,
            total: primary_last.max(now.seq),
        };
        if fetched > 0 {
            tracing::info!(
                collection = %key.collection,
                shard = key.shard_id,
                operations = now.seq,
                of = progress.total,
                "recovery: applied operations from the primary's WAL"
            );
        }
        self.progress.set(key, progress);
        if now.seq < primary_last {
            return Ok(Step::Continue);
        }
        let to = match state {
            ReplicaState::Recovery => ReplicaState::Partial,
            _ if forwarding => topology
                .peers
                .get(&me)
                .map(|p| ReplicaState::in_sync_on(p.node_type))
                .unwrap_or(ReplicaState::Active),
            // The primary has not seen this replica as Partial yet.
            _ => {
                tokio::time::sleep(Duration::from_millis(100)).await;
                return Ok(Step::Continue);
            }
        };
        self.set_states(
            vec![ReplicaStateChange {
                collection: key.collection.clone(),
                incarnation: key.incarnation,
                shard_id: key.shard_id,
                peer_id: me,
                from: state,
                to,
            }],
            None,
        )
        .await?;
        tracing::info!(collection = %key.collection, shard = key.shard_id, from = ?state, to = ?to, last = now.seq, "recovery: replica state advanced");
        Ok(if to == ReplicaState::Partial {
            Step::Continue
        } else {
            Step::Done
        })
    }

    /// Replaces this replica with a whole copy of the primary's shard: its
    /// records under `stream_records` (also when that is the default a
    /// `wal_delta` falls back to), a snapshot otherwise.
    async fn install_base(
        &self,
        method: TransferMethod,
        topology: &Topology,
        primary: tessera_types::PeerId,
        target: ShardTarget,
        key: &ReplicaKey,
    ) -> Result<(), TesseraError> {
        let records = method == TransferMethod::StreamRecords
            || (method == TransferMethod::WalDelta
                && self.default_method == TransferMethod::StreamRecords);
        if records {
            self.install_records(topology, primary, target, key).await
        } else {
            self.install_snapshot(topology, primary, target, key).await
        }
    }

    /// Replaces this replica with a shard built from the records the primary
    /// streams, as of one operation; the operations after it follow by WAL.
    async fn install_records(
        &self,
        topology: &Topology,
        primary: tessera_types::PeerId,
        target: ShardTarget,
        key: &ReplicaKey,
    ) -> Result<(), TesseraError> {
        let config = topology
            .collections
            .get(&key.collection)
            .map(|c| c.config.clone())
            .ok_or_else(|| TesseraError::collection_not_found(&key.collection))?;
        let TransferRecords {
            at,
            epochs,
            total,
            mut batches,
        } = self
            .peers
            .shards(topology, primary)?
            .transfer_records(target.clone())
            .await?;
        tracing::info!(collection = %key.collection, shard = key.shard_id, records = total, seq = at.seq, "recovery: receiving records from the primary");
        let built = self.registry.scratch_file(key, "incoming-records");
        let dir = built.clone();
        let mut loader =
            tokio::task::spawn_blocking(move || RecordLoader::create(&dir, config, at, epochs))
                .await
                .map_err(TesseraError::internal_from)??;
        let mut done = 0u64;
        while let Some(records) = batches.next().await {
            let records = records?;
            let before = done;
            done += records.len() as u64;
            loader = tokio::task::spawn_blocking(move || loader.load(records).map(|()| loader))
                .await
                .map_err(TesseraError::internal_from)??;
            if total > 0 && before * 10 / total != done * 10 / total {
                tracing::info!(collection = %key.collection, shard = key.shard_id, records = done, of = total, "recovery: loading records from the primary");
            }
            self.progress.set(
                key,
                Progress {
                    method: "stream_records",
                    done,
                    total,
                },
            );
        }
        tokio::task::spawn_blocking(move || loader.finish())
            .await
            .map_err(TesseraError::internal_from)??;
        let result = self
            .registry
            .replace_with_built(target, built.clone())
            .await;
        if result.is_err() {
            let _ = tokio::fs::remove_dir_all(&built).await;
        }
        tracing::info!(collection = %key.collection, shard = key.shard_id, records = done, seq = at.seq, "recovery: installed records from the primary");
        result.map(|_| ())
    }

    /// Replaces this replica with a snapshot streamed from the primary.
    async fn install_snapshot(
        &self,
        topology: &Topology,
        primary: tessera_types::PeerId,
        target: ShardTarget,
        key: &ReplicaKey,
    ) -> Result<(), TesseraError> {
        let TransferSnapshot {
            at,
            size: total,
            mut bytes,
        } = self
            .peers
            .shards(topology, primary)?
            .transfer_snapshot(target.clone())
            .await?;
        let file = self.registry.scratch_file(key, "incoming.snapshot");
        if let Some(dir) = file.parent() {
            tokio::fs::create_dir_all(dir)
                .await
                .map_err(TesseraError::internal_from)?;
        }
        let mut out = tokio::fs::File::create(&file)
            .await
            .map_err(TesseraError::internal_from)?;
        let mut done = 0u64;
        while let Some(chunk) = bytes.next().await {
            let chunk = chunk?;
            out.write_all(&chunk)
                .await
                .map_err(TesseraError::internal_from)?;
            let before = done;
            done += chunk.len() as u64;
            // A log line at every tenth of the way.
            if total > 0 && before * 10 / total != done * 10 / total {
                tracing::info!(
                    collection = %key.collection,
                    shard = key.shard_id,
                    bytes = done,
                    of = total,
                    "recovery: receiving a snapshot from the primary"
                );
            }
            self.progress.set(
                key,
                Progress {
                    method: "snapshot",
                    done,
                    total,
                },
            );
        }
        if done < total {
            return Err(TesseraError::Unavailable(format!(
                "the primary's snapshot ended after {done} of {total} bytes"
            )));
        }
        // Not synced: a scratch file; the unpacked shard's files are.
        out.flush().await.map_err(TesseraError::internal_from)?;
        drop(out);
        tracing::info!(collection = %key.collection, shard = key.shard_id, bytes = done, seq = at.seq, "recovery: installing a snapshot from the primary");
        let result = self
            .registry
            .replace_from_snapshot(target, file.clone(), RestoredHistory::Keep)
            .await;
        let _ = tokio::fs::remove_file(&file).await;
        result.map(|_| ())
    }
}
