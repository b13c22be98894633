//! The shard replicas this node holds, opened on first use and dropped when
//! the topology no longer has their collection.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;
use tessera_proto::common::ShardTarget;
use tessera_proto::topology_watch::TopologyCache;
use tessera_types::{PeerId, ShardId, TesseraError, Topology};

use crate::shard::Shard;

/// (collection, incarnation, shard): a replica's identity on this node.
type ShardKey = (String, u64, ShardId);

#[derive(Clone)]
pub struct ShardRegistry {
    root: PathBuf,
    peer_id: PeerId,
    topology: TopologyCache,
    open: Arc<Mutex<HashMap<ShardKey, Arc<Shard>>>>,
}

impl ShardRegistry {
    pub fn new(data_dir: &Path, peer_id: PeerId, topology: TopologyCache) -> Self {
        ShardRegistry {
            root: data_dir.join("collections"),
            peer_id,
            topology,
            open: Default::default(),
        }
    }

    fn dir(&self, key: &ShardKey) -> PathBuf {
        self.root
            .join(format!("{}-{}", key.0, key.1))
            .join(key.2.to_string())
    }

    /// The replica a request is for. Waits until this node has seen the
    /// topology the sender routed with, so a freshly created collection is known.
    pub async fn shard(&self, target: Option<ShardTarget>) -> Result<Arc<Shard>, TesseraError> {
        let target = target.ok_or_else(|| TesseraError::bad_input("shard target is missing"))?;
        let topology = self
            .topology
            .wait_for_version(target.topology_version)
            .await?;
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
        let key = (target.collection, target.incarnation, target.shard_id);
        if let Some(shard) = self.open.lock().get(&key) {
            return Ok(shard.clone());
        }
        let dir = self.dir(&key);
        let config = collection.config.clone();
        let schema = collection.payload_schema.clone();
        let registry = self.clone();
        // Opening replays the WAL: blocking work, off the async threads.
        tokio::task::spawn_blocking(move || {
            let mut open = registry.open.lock();
            if let Some(shard) = open.get(&key) {
                return Ok(shard.clone());
            }
            tracing::info!(collection = %key.0, shard = key.2, "opening shard replica");
            let shard = Arc::new(Shard::open(&dir, config)?);
            shard.set_payload_schema(&schema);
            open.insert(key, shard.clone());
            Ok(shard)
        })
        .await
        .map_err(TesseraError::internal)?
    }

    /// Brings local replicas in line with a new topology: updates configs and
    /// deletes replicas of collections that are gone.
    pub fn reconcile(&self, topology: &Topology) {
        // Version 0 is the empty topology before the control plane answered.
        if topology.version == 0 {
            return;
        }
        // Holding the lock for the whole pass keeps a replica that is being
        // opened (under the same lock) from being deleted as unknown.
        let mut open = self.open.lock();
        open.retain(
            |(name, incarnation, _), shard| match topology.collections.get(name) {
                Some(c) if c.incarnation == *incarnation => {
                    shard.update_config(c.config.clone());
                    shard.set_payload_schema(&c.payload_schema);
                    true
                }
                _ => false,
            },
        );
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
                        || open
                            .keys()
                            .any(|k| k.0 == collection && k.1.to_string() == incarnation)
                });
            if !live {
                tracing::info!(directory = %name, "removing data of a deleted collection");
                if let Err(e) = std::fs::remove_dir_all(entry.path()) {
                    tracing::warn!(error = %e, directory = %name, "could not remove");
                }
            }
        }
    }
}
