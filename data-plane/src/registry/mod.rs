//! The shard replicas this node holds, opened on first use and dropped when
//! the topology no longer has their collection.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use tessera_runtime::topology_watch::TopologyCache;
use tessera_types::shard_client::ShardTarget;
use tessera_types::{CollectionState, PeerId, ShardId, ShardPlacement, TesseraError, Topology};

use crate::membership::ReadLease;
use tessera_engine::shard::{RestoredHistory, Shard, ShardError, WalRetention};

/// The file in the data directory that holds the newest topology version acted on.
const ACTED_ON_FILE: &str = "topology_version";

/// A replica's identity on this node. The incarnation tells a collection
/// from an earlier one of the same name, so a recreated collection never
/// opens its predecessor's files.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ReplicaKey {
    pub collection: String,
    pub incarnation: u64,
    pub shard_id: ShardId,
}

impl ReplicaKey {
    pub fn new(collection: impl Into<String>, incarnation: u64, shard_id: ShardId) -> Self {
        ReplicaKey {
            collection: collection.into(),
            incarnation,
            shard_id,
        }
    }
}

/// What a request is for, as this node's topology (at least as new as the
/// sender's) describes it.
pub struct Placed {
    pub topology: Arc<Topology>,
    pub placement: ShardPlacement,
    pub key: ReplicaKey,
}

#[derive(Clone)]
pub struct ShardRegistry {
    root: PathBuf,
    peer_id: PeerId,
    topology: TopologyCache,
    open: Arc<Mutex<HashMap<ReplicaKey, Arc<Shard>>>>,
    /// Replicas whose directory is being replaced by a snapshot: not opened
    /// meanwhile. Changed under the `open` lock, which is taken first.
    replacing: Arc<Mutex<std::collections::HashSet<ReplicaKey>>>,
    wal_retention: WalRetention,
    /// The newest topology version this node acted on, kept on disk: an older
    /// copy (from a lagging control-plane member, after a restart) never
    /// deletes a replica a newer one placed here.
    acted_on: Arc<AtomicU64>,
    acted_on_file: PathBuf,
    /// Reads are answered only while it holds; none: always (tests of the
    /// registry alone).
    read_lease: Option<ReadLease>,
}

impl ShardRegistry {
    pub fn new(
        data_dir: &Path,
        peer_id: PeerId,
        topology: TopologyCache,
        wal_retention: WalRetention,
    ) -> Self {
        let acted_on_file = data_dir.join(ACTED_ON_FILE);
        let acted_on = std::fs::read_to_string(&acted_on_file)
            .ok()
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        ShardRegistry {
            root: data_dir.join("collections"),
            peer_id,
            topology,
            open: Default::default(),
            replacing: Default::default(),
            wal_retention,
            acted_on: Arc::new(AtomicU64::new(acted_on)),
            acted_on_file,
            read_lease: None,
        }
    }

    /// Answers reads only while `lease` holds.
    pub fn with_read_lease(self, lease: ReadLease) -> Self {
        ShardRegistry {
            read_lease: Some(lease),
            ..self
        }
    }

    /// Records that the topology at `version` is acted on; false (and nothing
    /// recorded) when a newer one already was.
    fn act_on(&self, version: u64) -> bool {
        let acted_on = self.acted_on.load(Ordering::Acquire);
        if version < acted_on {
            tracing::info!(
                version,
                acted_on,
                "ignoring an older topology than one this node already acted on"
            );
            return false;
        }
        if version > acted_on {
            let tmp = self.acted_on_file.with_extension("tmp");
            let written = std::fs::write(&tmp, version.to_string())
                .and_then(|()| std::fs::File::open(&tmp)?.sync_all())
                .and_then(|()| std::fs::rename(&tmp, &self.acted_on_file));
            if let Err(e) = written {
                // Without the record a restart could act on an older copy.
                tracing::warn!(error = %e, "cannot record the topology version; not acting on it");
                return false;
            }
            self.acted_on.store(version, Ordering::Release);
        }
        true
    }

    pub fn peer_id(&self) -> PeerId {
        self.peer_id
    }

    pub fn topology(&self) -> &TopologyCache {
        &self.topology
    }

    /// Where a scratch file for `key` goes (snapshots in transit).
    pub fn scratch_file(&self, key: &ReplicaKey, what: &str) -> PathBuf {
        self.root
            .join(format!("{}-{}", key.collection, key.incarnation))
            .join(format!("{}.{what}", key.shard_id))
    }

    /// Resolves a target against this node's topology, once it has seen the
    /// version the sender routed with.
    pub async fn place(&self, target: &ShardTarget) -> Result<Placed, TesseraError> {
        let topology = self
            .topology
            .wait_for_version(target.topology_version)
            .await?;
        let collection = topology
            .collections
            .get(&target.collection)
            .filter(|c| c.incarnation == target.incarnation)
            .ok_or_else(|| TesseraError::collection_not_found(&target.collection))?;
        let placement = collection.shard(target.shard_id).cloned().ok_or_else(|| {
            TesseraError::not_found(format!(
                "Shard {} of collection `{}` does not exist",
                target.shard_id, target.collection
            ))
        })?;
        let key = ReplicaKey::new(
            target.collection.clone(),
            target.incarnation,
            target.shard_id,
        );
        Ok(Placed {
            topology,
            placement,
            key,
        })
    }

    /// The replica a read is for: it must be readable (in sync) here, so a
    /// replica that missed writes never answers.
    pub async fn readable_shard(&self, target: ShardTarget) -> Result<Arc<Shard>, TesseraError> {
        if let Some(lease) = &self.read_lease {
            lease.check(self.peer_id)?;
        }
        let placed = self.place(&target).await?;
        match placed.placement.state_of(self.peer_id) {
            Some(state) if state.is_readable() => self.shard(target).await,
            Some(state) => Err(TesseraError::Unavailable(format!(
                "the replica of shard {} on peer {} is {state:?} and serves no reads",
                target.shard_id, self.peer_id
            ))),
            None => self.shard(target).await,
        }
    }

    fn dir(&self, key: &ReplicaKey) -> PathBuf {
        self.root
            .join(format!("{}-{}", key.collection, key.incarnation))
            .join(key.shard_id.to_string())
    }

    /// The collection `target` is in, which must place a replica of the
    /// shard on this node.
    fn placing_here<'t>(
        &self,
        topology: &'t Topology,
        target: &ShardTarget,
    ) -> Result<&'t CollectionState, TesseraError> {
        let collection = topology
            .collections
            .get(&target.collection)
            .filter(|c| c.incarnation == target.incarnation)
            .ok_or_else(|| TesseraError::collection_not_found(&target.collection))?;
        let placement = collection.shard(target.shard_id).ok_or_else(|| {
            TesseraError::not_found(format!(
                "Shard {} of collection `{}` does not exist",
                target.shard_id, target.collection
            ))
        })?;
        if !placement.replicas.iter().any(|r| r.peer_id == self.peer_id) {
            return Err(TesseraError::not_found(format!(
                "Shard {} of collection `{}` has no replica on peer {}",
                target.shard_id, target.collection, self.peer_id
            )));
        }
        Ok(collection)
    }

    /// Opens the replica `key` of `collection` (replaying its WAL: blocking)
    /// into `open`, the locked set of open replicas.
    fn open_into(
        &self,
        open: &mut HashMap<ReplicaKey, Arc<Shard>>,
        key: ReplicaKey,
        collection: &CollectionState,
        version: u64,
    ) -> Result<Arc<Shard>, TesseraError> {
        tracing::info!(collection = %key.collection, shard = key.shard_id, "opening shard replica");
        let shard = Arc::new(Shard::open(&self.dir(&key), collection.config.clone())?);
        shard.adopt(version, &collection.config, &collection.payload_schema);
        shard.set_wal_retention(self.wal_retention);
        open.insert(key, shard.clone());
        Ok(shard)
    }

    /// The replica a request is for. Waits until this node has seen the
    /// topology the sender routed with, so a freshly created collection is known.
    pub async fn shard(&self, target: ShardTarget) -> Result<Arc<Shard>, TesseraError> {
        let topology = self
            .topology
            .wait_for_version(target.topology_version)
            .await?;
        let collection = self.placing_here(&topology, &target)?;
        let key = ReplicaKey::new(target.collection, target.incarnation, target.shard_id);
        if let Some(shard) = self.open.lock().get(&key).cloned() {
            // The request may come before the reconcile pass for this version.
            shard.adopt(
                topology.version,
                &collection.config,
                &collection.payload_schema,
            );
            return Ok(shard);
        }
        let collection = collection.clone();
        let registry = self.clone();
        tokio::task::spawn_blocking(move || {
            let mut open = registry.open.lock();
            if let Some(shard) = open.get(&key) {
                return Ok(shard.clone());
            }
            if registry.replacing.lock().contains(&key) {
                return Err(TesseraError::Unavailable(format!(
                    "shard {} is being replaced by a snapshot",
                    key.shard_id
                )));
            }
            registry.open_into(&mut open, key, &collection, topology.version)
        })
        .await
        .map_err(TesseraError::internal_from)?
    }

    /// Replaces the replica `target` with the snapshot file `snapshot`: the open
    /// replica is closed, its directory swapped for the snapshot's contents, and
    /// the result opened.
    pub async fn replace_from_snapshot(
        &self,
        target: ShardTarget,
        snapshot: PathBuf,
        history: RestoredHistory,
    ) -> Result<Arc<Shard>, TesseraError> {
        self.replace(target, move |staging| {
            Shard::restore_snapshot(&snapshot, staging, history)
        })
        .await
    }

    /// Replaces the replica `target` with the shard persisted in `built` (a
    /// directory this node wrote, moved into place).
    pub async fn replace_with_built(
        &self,
        target: ShardTarget,
        built: PathBuf,
    ) -> Result<Arc<Shard>, TesseraError> {
        self.replace(target, move |staging| Ok(std::fs::rename(&built, staging)?))
            .await
    }

    /// Closes the replica, lets `fill` write its new contents into an empty
    /// staging directory, swaps that in and opens the result. Requests still
    /// holding the old replica finish first; new ones wait or are refused.
    async fn replace(
        &self,
        target: ShardTarget,
        fill: impl FnOnce(&Path) -> Result<(), ShardError> + Send + 'static,
    ) -> Result<Arc<Shard>, TesseraError> {
        let key = ReplicaKey::new(
            target.collection.clone(),
            target.incarnation,
            target.shard_id,
        );
        let old = {
            let mut open = self.open.lock();
            self.replacing.lock().insert(key.clone());
            open.remove(&key)
        };
        let swapped = self.swap_in(&key, old, fill).await;
        let seen = self
            .topology
            .wait_for_version(target.topology_version)
            .await;
        // Opened, or removed when the topology no longer places it here, under
        // the lock reconcile passes take: none sees the new directory while it
        // is neither open nor being replaced, and none is left behind.
        let registry = self.clone();
        tokio::task::spawn_blocking(move || {
            let mut open = registry.open.lock();
            registry.replacing.lock().remove(&key);
            swapped?;
            seen?;
            let topology = registry.topology.current();
            match registry.placing_here(&topology, &target) {
                Ok(collection) => registry.open_into(&mut open, key, collection, topology.version),
                Err(e) => {
                    let _ = std::fs::remove_dir_all(registry.dir(&key));
                    Err(e)
                }
            }
        })
        .await
        .map_err(TesseraError::internal_from)?
    }

    async fn swap_in(
        &self,
        key: &ReplicaKey,
        old: Option<Arc<Shard>>,
        fill: impl FnOnce(&Path) -> Result<(), ShardError> + Send + 'static,
    ) -> Result<(), TesseraError> {
        // Requests already holding the replica finish first; its files must not
        // be written once the directory is swapped.
        let mut old = old;
        let mut waits = 0u32;
        let old = loop {
            match old.map(Arc::try_unwrap) {
                None => break None,
                Some(Ok(shard)) => break Some(shard),
                Some(Err(still_shared)) => {
                    old = Some(still_shared);
                    waits += 1;
                    if waits.is_multiple_of(250) {
                        tracing::warn!(collection = %key.collection, shard = key.shard_id, "replica swap still waiting for requests to release the replica");
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                }
            }
        };
        let dir = self.dir(key);
        let staging = self.scratch_file(key, "restoring");
        tokio::task::spawn_blocking(move || -> Result<(), TesseraError> {
            // Dropping a shard waits for its optimizer.
            drop(old);
            let _ = std::fs::remove_dir_all(&staging);
            fill(&staging)?;
            // The files are on disk; their directory entries and the rename must
            // be too, or a power loss could bring the replica back empty.
            sync_dirs(&staging).map_err(TesseraError::internal_from)?;
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::rename(&staging, &dir).map_err(TesseraError::internal_from)?;
            match dir.parent() {
                Some(parent) => std::fs::File::open(parent)
                    .and_then(|d| d.sync_all())
                    .map_err(TesseraError::internal_from),
                None => Ok(()),
            }
        })
        .await
        .map_err(TesseraError::internal_from)?
    }

    /// The replicas open on this node.
    pub fn open_shards(&self) -> Vec<(ReplicaKey, Arc<Shard>)> {
        self.open
            .lock()
            .iter()
            .map(|(key, shard)| (key.clone(), shard.clone()))
            .collect()
    }

    /// Checkpoints every open replica, so a restart replays no WAL; run when
    /// the node stops, after its last request.
    pub fn flush_all(&self) {
        let shards = self.open_shards();
        // Every build is abandoned first, so no flush waits for one to finish.
        for (_, shard) in &shards {
            shard.stop_optimizing();
        }
        for (key, shard) in shards {
            if let Err(e) = shard.flush() {
                tracing::warn!(collection = %key.collection, shard = key.shard_id, error = %e, "cannot flush a shard on stop");
            }
        }
    }

    /// Brings local replicas in line with a new topology: updates configs and
    /// deletes replicas that are no longer placed here (a dropped replica, a
    /// deleted collection).
    pub fn reconcile(&self, topology: &Topology) {
        // Version 0 is the empty topology before the control plane answered.
        if topology.version == 0 || !self.act_on(topology.version) {
            return;
        }
        // Holding the lock for the whole pass keeps a replica that is being
        // opened (under the same lock) from being deleted as unknown.
        let mut open = self.open.lock();
        // A replica being swapped for a snapshot is out of `open` meanwhile.
        let replacing = self.replacing.lock().clone();
        let placed_here = |name: &str, incarnation: u64, shard_id: ShardId| {
            topology
                .collections
                .get(name)
                .filter(|c| c.incarnation == incarnation)
                .and_then(|c| c.shard(shard_id))
                .is_some_and(|s| s.replica(self.peer_id).is_some())
        };
        open.retain(|key, shard| {
            // A request routed with a newer topology opened it while this pass
            // waited: this (older) topology cannot know it; the next pass will.
            if shard.adopted_version() > topology.version {
                return true;
            }
            match topology.collections.get(&key.collection) {
                Some(c) if placed_here(&key.collection, key.incarnation, key.shard_id) => {
                    shard.adopt(topology.version, &c.config, &c.payload_schema);
                    true
                }
                _ => false,
            }
        });
        let in_use = |key: &ReplicaKey| open.contains_key(key) || replacing.contains(key);
        let Ok(entries) = std::fs::read_dir(&self.root) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let live = name
                .rsplit_once('-')
                .is_some_and(|(collection, incarnation)| {
                    topology
                        .collections
                        .get(collection)
                        .is_some_and(|c| c.incarnation.to_string() == incarnation)
                        || open.keys().chain(&replacing).any(|k| {
                            k.collection == collection && k.incarnation.to_string() == incarnation
                        })
                });
            if !live {
                tracing::info!(directory = %name, "removing data of a deleted collection");
                if let Err(e) = std::fs::remove_dir_all(entry.path()) {
                    tracing::warn!(error = %e, directory = %name, "could not remove");
                }
                continue;
            }
            // Replicas of a live collection that moved away or were dropped.
            let Some((collection, incarnation)) = name
                .rsplit_once('-')
                .and_then(|(c, i)| Some((c.to_string(), i.parse::<u64>().ok()?)))
            else {
                continue;
            };
            let Ok(shards) = std::fs::read_dir(entry.path()) else {
                continue;
            };
            for shard in shards.flatten() {
                let Some(shard_id) = shard
                    .file_name()
                    .to_str()
                    .and_then(|n| n.parse::<ShardId>().ok())
                else {
                    continue;
                };
                let key = ReplicaKey::new(&collection, incarnation, shard_id);
                if !placed_here(&collection, incarnation, shard_id) && !in_use(&key) {
                    tracing::info!(collection = %collection, shard = shard_id, "removing a replica no longer placed here");
                    if let Err(e) = std::fs::remove_dir_all(shard.path()) {
                        tracing::warn!(error = %e, collection = %collection, shard = shard_id, "could not remove");
                    }
                }
            }
        }
    }
}

/// Syncs `dir` and every directory under it, so the entries of the files in
/// them survive a power loss.
fn sync_dirs(dir: &Path) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            sync_dirs(&entry.path())?;
        }
    }
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use tessera_types::{Replica, ReplicaState};

    use super::*;

    /// Collection `c` (incarnation 1) with one shard, on peer 7 when `here`.
    fn topology(version: u64, here: bool) -> Topology {
        let config = serde_json::from_str::<tessera_types::CreateCollection>(
            r#"{"vectors": {"size": 2, "distance": "Dot"}}"#,
        )
        .unwrap()
        .into_config(1)
        .unwrap();
        let mut topology = Topology {
            version,
            ..Topology::default()
        };
        let replicas = if here {
            vec![Replica {
                peer_id: 7,
                state: ReplicaState::Active,
            }]
        } else {
            Vec::new()
        };
        topology.collections.insert(
            "c".into(),
            CollectionState {
                name: "c".into(),
                incarnation: 1,
                config,
                shards: vec![ShardPlacement {
                    shard_id: 0,
                    shard_key: None,
                    replicas,
                    primary: 7,
                    epoch: 1,
                    replication_factor: None,
                }],
                payload_schema: Default::default(),
                transfers: Vec::new(),
                routing: Default::default(),
            },
        );
        topology
    }

    #[tokio::test]
    async fn an_older_topology_never_deletes_what_a_newer_one_placed_here() {
        let dir = tempfile::tempdir().unwrap();
        let replica = dir.path().join("collections").join("c-1").join("0");
        std::fs::create_dir_all(&replica).unwrap();
        // Nothing listens there: the registry's rule is tested, not the watch.
        let (cache, _watch) = TopologyCache::start(&["http://127.0.0.1:9".into()]).unwrap();
        let registry = ShardRegistry::new(dir.path(), 7, cache.clone(), WalRetention::NONE);
        registry.reconcile(&topology(5, true));
        assert!(replica.exists());

        // A lagging member's copy, before and after a restart of the node.
        registry.reconcile(&topology(3, false));
        assert!(replica.exists(), "an older topology deleted a replica");
        let restarted = ShardRegistry::new(dir.path(), 7, cache, WalRetention::NONE);
        restarted.reconcile(&topology(4, false));
        assert!(
            replica.exists(),
            "an older topology deleted a replica after a restart"
        );

        // A newer topology that moved the replica away does delete it.
        restarted.reconcile(&topology(6, false));
        assert!(!replica.exists());
    }

    #[tokio::test]
    async fn a_late_pass_keeps_a_replica_a_newer_request_opened() {
        let dir = tempfile::tempdir().unwrap();
        let (cache, _watch) = TopologyCache::start(&["http://127.0.0.1:9".into()]).unwrap();
        let registry = ShardRegistry::new(dir.path(), 7, cache, WalRetention::NONE);
        registry.reconcile(&topology(4, false));

        // A write routed with version 6 opens the replica before the pass
        // for version 5, which predates the placement, gets the lock.
        let newer = topology(6, true);
        let collection = &newer.collections["c"];
        let key = ReplicaKey::new("c", 1, 0);
        let shard = Arc::new(Shard::open(&registry.dir(&key), collection.config.clone()).unwrap());
        shard.adopt(6, &collection.config, &collection.payload_schema);
        registry.open.lock().insert(key.clone(), shard);
        registry.reconcile(&topology(5, false));
        assert!(
            registry.dir(&key).exists(),
            "a late pass deleted a new replica"
        );
        assert!(registry.open.lock().contains_key(&key));

        // One being swapped for a snapshot is out of `open` but in use.
        registry.open.lock().remove(&key);
        registry.replacing.lock().insert(key.clone());
        registry.reconcile(&topology(5, false));
        assert!(
            registry.dir(&key).exists(),
            "a pass deleted a replica being restored"
        );
        registry.replacing.lock().remove(&key);

        registry.reconcile(&topology(7, false));
        assert!(!registry.dir(&key).exists());
    }

    /// A replica swapped in (a transfer's snapshot or records) for a shard
    /// the topology no longer places here is removed, not left on disk.
    #[tokio::test]
    async fn a_replica_swapped_in_after_it_moved_away_is_removed() {
        let dir = tempfile::tempdir().unwrap();
        let (cache, _watch) = TopologyCache::start(&["http://127.0.0.1:9".into()]).unwrap();
        let registry = ShardRegistry::new(dir.path(), 7, cache, WalRetention::NONE);
        let built = registry.scratch_file(&ReplicaKey::new("c", 1, 0), "incoming-records");
        std::fs::create_dir_all(&built).unwrap();
        let target = ShardTarget {
            collection: "c".into(),
            incarnation: 1,
            shard_id: 0,
            topology_version: 0,
        };
        let err = registry
            .replace_with_built(target, built)
            .await
            .err()
            .expect("the topology places no such replica");
        assert!(matches!(err, TesseraError::NotFound(_)), "{err:?}");
        assert!(!registry.dir(&ReplicaKey::new("c", 1, 0)).exists());
        assert!(registry.replacing.lock().is_empty());
    }
}
