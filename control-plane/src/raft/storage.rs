//! The sled database under the data dir: one tree for the log, one for Raft
//! metadata (node id, vote, committed and purged log ids) and one for the
//! state machine and its latest snapshot.

use std::path::Path;

use serde::de::DeserializeOwned;
use tessera_types::Topology;
use tokio::sync::watch;

use super::log_store::LogStore;
use super::state_machine::StateMachineStore;
use super::NodeId;
use crate::ControlPlaneError;

const LOGS_TREE: &str = "raft_logs";
const META_TREE: &str = "raft_meta";
const STATE_MACHINE_TREE: &str = "state_machine";
const NODE_ID_KEY: &[u8] = b"node_id";

pub struct Storage {
    db: sled::Db,
}

impl Storage {
    pub fn open(dir: &Path) -> Result<Self, ControlPlaneError> {
        Ok(Self {
            db: sled::open(dir)?,
        })
    }

    /// This node's id: drawn at random on first start (so nodes started apart
    /// never collide when they later join one group) and kept from then on.
    pub fn node_id(&self) -> Result<NodeId, ControlPlaneError> {
        let meta = self.db.open_tree(META_TREE)?;
        if let Some(bytes) = meta.get(NODE_ID_KEY)? {
            let bytes = bytes.as_ref().try_into().map_err(|_| {
                ControlPlaneError::CorruptStorage(format!("node id of {} bytes", bytes.len()))
            })?;
            return Ok(NodeId::from_be_bytes(bytes));
        }
        let id = loop {
            let id = rand::random::<NodeId>();
            if id != 0 {
                break id;
            }
        };
        meta.insert(NODE_ID_KEY, &id.to_be_bytes())?;
        meta.flush()?;
        Ok(id)
    }

    pub fn log_store(&self) -> Result<LogStore, ControlPlaneError> {
        Ok(LogStore::new(
            self.db.open_tree(LOGS_TREE)?,
            self.db.open_tree(META_TREE)?,
        ))
    }

    pub fn state_machine(
        &self,
    ) -> Result<(StateMachineStore, watch::Receiver<Topology>), ControlPlaneError> {
        StateMachineStore::open(self.db.open_tree(STATE_MACHINE_TREE)?)
    }

    pub async fn flush(&self) -> Result<(), ControlPlaneError> {
        self.db.flush_async().await?;
        Ok(())
    }
}

/// Reads a value `codec` wrote; decoding errors surface as storage errors,
/// since they mean the files were damaged or written by an incompatible version.
pub fn read_stored<T: DeserializeOwned>(
    tree: &sled::Tree,
    key: &[u8],
) -> Result<Option<T>, ControlPlaneError> {
    match tree.get(key)? {
        Some(bytes) => Ok(Some(super::codec::decode(&bytes).map_err(|e| {
            ControlPlaneError::CorruptStorage(format!("{}: {e}", String::from_utf8_lossy(key)))
        })?)),
        None => Ok(None),
    }
}
