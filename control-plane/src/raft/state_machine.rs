//! The topology state machine. The whole state is small, so each applied batch
//! rewrites it as one JSON value: the topology, the last applied log id and the
//! membership always agree on disk.

// openraft's StorageError is large, and the storage traits must return it.
#![allow(clippy::result_large_err)]

use std::io::Cursor;

use openraft::storage::RaftStateMachine;
use openraft::{
    AnyError, BasicNode, Entry, EntryPayload, LogId, RaftSnapshotBuilder, Snapshot, SnapshotMeta,
    StorageError, StorageIOError, StoredMembership,
};
use serde::{Deserialize, Serialize};
use tessera_types::Topology;
use tokio::sync::watch;

use super::codec;
use super::storage::read_stored;
use super::{NodeId, TypeConfig};
use crate::topology::{Applied, CommandResponse};
use crate::ControlPlaneError;

type StorageResult<T> = Result<T, StorageError<NodeId>>;

const STATE_KEY: &[u8] = b"state";
const SNAPSHOT_KEY: &[u8] = b"snapshot";

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct StateMachineData {
    last_applied: Option<LogId<NodeId>>,
    last_membership: StoredMembership<NodeId, BasicNode>,
    topology: Topology,
}

#[derive(Serialize, Deserialize)]
struct StoredSnapshot {
    meta: SnapshotMeta<NodeId, BasicNode>,
    data: Vec<u8>,
}

pub struct StateMachineStore {
    data: StateMachineData,
    tree: sled::Tree,
    /// Publishes the topology after every change; dropped with the store, which
    /// tells watchers that Raft has stopped.
    topology_tx: watch::Sender<Topology>,
}

impl StateMachineStore {
    pub fn open(tree: sled::Tree) -> Result<(Self, watch::Receiver<Topology>), ControlPlaneError> {
        let data: StateMachineData = read_stored(&tree, STATE_KEY)?.unwrap_or_default();
        let (topology_tx, topology_rx) = watch::channel(data.topology.clone());
        let store = Self {
            data,
            tree,
            topology_tx,
        };
        Ok((store, topology_rx))
    }

    async fn persist(&self) -> StorageResult<()> {
        let bytes = codec::encode(&self.data).map_err(write_sm)?;
        self.tree.insert(STATE_KEY, bytes).map_err(write_sm)?;
        self.tree.flush_async().await.map_err(write_sm)?;
        Ok(())
    }

    fn publish(&self) {
        let topology = &self.data.topology;
        self.topology_tx.send_if_modified(|current| {
            let newer = current.version != topology.version;
            if newer {
                current.clone_from(topology);
            }
            newer
        });
    }
}

fn write_sm(e: impl std::error::Error + 'static) -> StorageIOError<NodeId> {
    StorageIOError::write_state_machine(AnyError::new(&e))
}

fn snapshot_err(e: impl std::error::Error + 'static) -> StorageIOError<NodeId> {
    StorageIOError::write_snapshot(None, AnyError::new(&e))
}

impl RaftStateMachine<TypeConfig> for StateMachineStore {
    type SnapshotBuilder = SnapshotBuilder;

    async fn applied_state(
        &mut self,
    ) -> StorageResult<(Option<LogId<NodeId>>, StoredMembership<NodeId, BasicNode>)> {
        Ok((self.data.last_applied, self.data.last_membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> StorageResult<Vec<CommandResponse>>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + Send,
        I::IntoIter: Send,
    {
        let mut responses = Vec::new();
        for entry in entries {
            self.data.last_applied = Some(entry.log_id);
            let response = match entry.payload {
                EntryPayload::Normal(command) => {
                    command.apply(&mut self.data.topology, entry.log_id.index)
                }
                EntryPayload::Blank => CommandResponse::Applied(Applied {
                    topology_version: self.data.topology.version,
                    changed: false,
                }),
                EntryPayload::Membership(membership) => {
                    self.data.last_membership =
                        StoredMembership::new(Some(entry.log_id), membership);
                    CommandResponse::Applied(Applied {
                        topology_version: self.data.topology.version,
                        changed: false,
                    })
                }
            };
            responses.push(response);
        }
        self.persist().await?;
        self.publish();
        Ok(responses)
    }

    async fn get_snapshot_builder(&mut self) -> SnapshotBuilder {
        SnapshotBuilder {
            data: self.data.clone(),
            tree: self.tree.clone(),
        }
    }

    async fn begin_receiving_snapshot(&mut self) -> StorageResult<Box<Cursor<Vec<u8>>>> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<NodeId, BasicNode>,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> StorageResult<()> {
        let bytes = snapshot.into_inner();
        let data: StateMachineData = codec::decode(&bytes).map_err(|e| {
            StorageIOError::read_snapshot(Some(meta.signature()), AnyError::new(&e))
        })?;
        // The snapshot's metadata is authoritative for what it covers.
        self.data = StateMachineData {
            last_applied: meta.last_log_id,
            last_membership: meta.last_membership.clone(),
            topology: data.topology,
        };
        save_snapshot(
            &self.tree,
            &StoredSnapshot {
                meta: meta.clone(),
                data: bytes,
            },
        )?;
        self.persist().await?;
        self.publish();
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> StorageResult<Option<Snapshot<TypeConfig>>> {
        let stored: Option<StoredSnapshot> = read_stored(&self.tree, SNAPSHOT_KEY)
            .map_err(|e| StorageIOError::read_snapshot(None, AnyError::new(&e)))?;
        Ok(stored.map(|s| Snapshot {
            meta: s.meta,
            snapshot: Box::new(Cursor::new(s.data)),
        }))
    }
}

fn save_snapshot(tree: &sled::Tree, snapshot: &StoredSnapshot) -> StorageResult<()> {
    let bytes = codec::encode(snapshot).map_err(snapshot_err)?;
    tree.insert(SNAPSHOT_KEY, bytes).map_err(snapshot_err)?;
    Ok(())
}

/// Builds a snapshot from a copy of the state taken when openraft asked for the
/// builder; openraft builds in a separate task while applying goes on.
pub struct SnapshotBuilder {
    data: StateMachineData,
    tree: sled::Tree,
}

impl RaftSnapshotBuilder<TypeConfig> for SnapshotBuilder {
    async fn build_snapshot(&mut self) -> StorageResult<Snapshot<TypeConfig>> {
        let bytes = codec::encode(&self.data).map_err(snapshot_err)?;
        let last = self.data.last_applied;
        let meta = SnapshotMeta {
            last_log_id: last,
            last_membership: self.data.last_membership.clone(),
            snapshot_id: match last {
                Some(id) => format!("{}-{}-{}", id.leader_id, id.index, rand::random::<u32>()),
                None => format!("empty-{}", rand::random::<u32>()),
            },
        };
        save_snapshot(
            &self.tree,
            &StoredSnapshot {
                meta: meta.clone(),
                data: bytes.clone(),
            },
        )?;
        self.tree.flush_async().await.map_err(snapshot_err)?;
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(bytes)),
        })
    }
}
