//! openraft wiring: the type configuration, sled-backed storage, the tonic
//! network between control-plane nodes and the server side of that network.

mod codec;
mod log_store;
mod membership;
mod network;
mod proposer;
mod service;
mod state_machine;
mod storage;

use std::io::Cursor;

pub use log_store::LogStore;
pub use membership::Members;
pub use network::{Contacts, NetworkFactory, SNAPSHOT_CHUNK_BYTES};
pub use proposer::{Proposal, Proposer, Route};
pub use service::RaftService;
pub use storage::Storage;

use crate::topology::{CommandResponse, TopologyCommand};

/// Control-plane node ids are openraft's; data-plane peers have their own ids.
pub type NodeId = u64;

openraft::declare_raft_types!(
    /// Types of the control plane's Raft group.
    pub TypeConfig:
        D = TopologyCommand,
        R = CommandResponse,
        NodeId = NodeId,
        Node = openraft::BasicNode,
        Entry = openraft::Entry<TypeConfig>,
        SnapshotData = Cursor<Vec<u8>>,
        AsyncRuntime = openraft::TokioRuntime,
);

pub type Raft = openraft::Raft<TypeConfig>;
