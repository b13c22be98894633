use std::net::SocketAddr;
use std::path::PathBuf;

use openraft::error::{Fatal, InitializeError, RaftError};
use openraft::BasicNode;

use crate::raft::NodeId;

/// Why the control plane could not start. Errors of individual requests are
/// `tessera_types::TesseraError`s, sent to callers as gRPC statuses.
#[derive(Debug, thiserror::Error)]
pub enum ControlPlaneError {
    #[error("invalid control-plane uri `{uri}`: {reason}")]
    InvalidUri { uri: String, reason: String },
    #[error("invalid Raft timing (tick period {tick_period_ms} ms, election timeout {election_timeout_min_ms}-{election_timeout_max_ms} ms): {source}")]
    RaftConfig {
        tick_period_ms: u64,
        election_timeout_min_ms: u64,
        election_timeout_max_ms: u64,
        #[source]
        source: Box<openraft::ConfigError>,
    },
    #[error("cannot use data dir {path}: {source}")]
    DataDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("control-plane storage: {0}")]
    Storage(#[from] sled::Error),
    #[error("control-plane storage is corrupt: {0}")]
    CorruptStorage(String),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("Raft stopped: {0}")]
    Raft(#[from] Box<Fatal<NodeId>>),
    #[error("cannot initialize the Raft group: {0}")]
    Initialize(#[from] Box<RaftError<NodeId, InitializeError<NodeId, BasicNode>>>),
    #[error("cannot join the control plane through {bootstrap}: {reason}")]
    Join { bootstrap: String, reason: String },
    #[error("the first control-plane node needs a uri (--uri) to found a new group; other nodes join one with --bootstrap")]
    UriRequired,
    #[error("cannot register metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    #[error("invalid consensus settings: {0}")]
    InvalidConsensus(String),
    #[error(transparent)]
    Tls(#[from] tessera_runtime::tls::TlsError),
}

impl From<Fatal<NodeId>> for ControlPlaneError {
    fn from(fatal: Fatal<NodeId>) -> Self {
        Self::Raft(Box::new(fatal))
    }
}
