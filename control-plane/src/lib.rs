//! Tessera's control plane: a Raft-replicated service that owns the cluster
//! topology (data-plane peers, collections, shard placement) and streams it to
//! data-plane nodes and gateways. See README.md for the design.

mod error;
mod grpc;
mod raft;
mod topology;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use openraft::{BasicNode, ChangeMembers, ServerState};
use tessera_proto::control_plane::control_plane_server::ControlPlaneServer;
use tessera_proto::raft::raft_server::RaftServer;
use tessera_types::Topology;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::transport::Uri;

pub use error::ControlPlaneError;
pub use raft::NodeId;

use crate::grpc::ControlPlaneService;
use crate::raft::{NetworkFactory, Proposer, Raft, RaftService, Storage};

/// Folder of the sled database inside the data dir.
const RAFT_DIR: &str = "raft";
/// Upper bound on stop's wait for the state machine to be released.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);

pub struct ControlPlaneOptions {
    /// Advertised URI, e.g. "http://127.0.0.1:6335". When it names port 0, the
    /// port actually bound is advertised instead.
    pub uri: String,
    /// Address to bind.
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    /// A control-plane node to join instead of starting a new group.
    pub bootstrap: Option<String>,
    /// Raft's clock: heartbeats every tick, elections after 3 to 6 ticks.
    pub tick_period_ms: u64,
}

/// A running control-plane node, serving `tessera.control_plane.ControlPlane`
/// and `tessera.raft.Raft` on one port.
pub struct ControlPlane {
    local_addr: SocketAddr,
    raft: Raft,
    storage: Storage,
    topology: watch::Receiver<Topology>,
    shutdown: watch::Sender<bool>,
    server: JoinHandle<Result<(), tonic::transport::Error>>,
}

impl ControlPlane {
    /// Opens storage, starts Raft (initializing a new single-node group on
    /// empty storage), binds and returns once the gRPC services are serving.
    pub async fn start(options: ControlPlaneOptions) -> Result<ControlPlane, ControlPlaneError> {
        let uri = parse_uri(&options.uri)?;
        let config = raft_config(options.tick_period_ms)?;
        std::fs::create_dir_all(&options.data_dir).map_err(|source| {
            ControlPlaneError::DataDir {
                path: options.data_dir.clone(),
                source,
            }
        })?;
        let storage = Storage::open(&options.data_dir.join(RAFT_DIR))?;
        let node_id = storage.node_id()?;
        let bind_error = |source| ControlPlaneError::Bind {
            addr: options.listen,
            source,
        };
        let listener = TcpListener::bind(options.listen)
            .await
            .map_err(bind_error)?;
        let local_addr = listener.local_addr().map_err(bind_error)?;
        let advertised = advertised_uri(&uri, local_addr.port())?;

        let (state_machine, topology) = storage.state_machine()?;
        let log_store = storage.log_store()?;
        let raft = Raft::new(node_id, config, NetworkFactory, log_store, state_machine).await?;
        let membership = ensure_membership(&raft, node_id, &advertised, options.bootstrap);
        if let Err(err) = membership.await {
            release(&raft, topology).await;
            return Err(err);
        }

        let (shutdown, shutdown_rx) = watch::channel(false);
        let tick = Duration::from_millis(options.tick_period_ms);
        let service = ControlPlaneService::new(
            Proposer::new(raft.clone(), node_id, tick),
            topology.clone(),
            shutdown_rx.clone(),
        );
        let mut stopping = shutdown_rx;
        let server = tonic::transport::Server::builder()
            .add_service(ControlPlaneServer::new(service))
            .add_service(RaftServer::new(RaftService::new(raft.clone())))
            .serve_with_incoming_shutdown(TcpListenerStream::new(listener), async move {
                let _ = stopping.wait_for(|stop| *stop).await;
            });
        tracing::info!(node_id, %local_addr, uri = %advertised, "control plane serving");
        Ok(ControlPlane {
            local_addr,
            raft,
            storage,
            topology,
            shutdown,
            server: tokio::spawn(server),
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops serving (ending topology streams), then stops Raft and flushes
    /// storage, so the data dir can be opened again once this returns.
    pub async fn stop(self) {
        self.shutdown.send_replace(true);
        match self.server.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!("control-plane gRPC server failed: {e}"),
            Err(e) => tracing::warn!("control-plane gRPC server task failed: {e}"),
        }
        release(&self.raft, self.topology).await;
        if let Err(e) = self.storage.flush().await {
            tracing::warn!("cannot flush control-plane storage: {e}");
        }
    }
}

/// Stops Raft and waits until its state machine, which owns the topology
/// sender and a handle on the sled files, is dropped.
async fn release(raft: &Raft, mut topology: watch::Receiver<Topology>) {
    if let Err(e) = raft.shutdown().await {
        tracing::warn!("Raft did not shut down cleanly: {e}");
    }
    let released = async { while topology.changed().await.is_ok() {} };
    if tokio::time::timeout(STOP_TIMEOUT, released).await.is_err() {
        tracing::warn!("Raft's state machine was not released within {STOP_TIMEOUT:?}");
    }
}

fn raft_config(tick_period_ms: u64) -> Result<Arc<openraft::Config>, ControlPlaneError> {
    let config = openraft::Config {
        cluster_name: "tessera-control-plane".into(),
        heartbeat_interval: tick_period_ms,
        election_timeout_min: tick_period_ms.saturating_mul(3),
        election_timeout_max: tick_period_ms.saturating_mul(6),
        ..Default::default()
    };
    let config = config
        .validate()
        .map_err(|source| ControlPlaneError::RaftConfig {
            tick_period_ms,
            source: Box::new(source),
        })?;
    Ok(Arc::new(config))
}

fn parse_uri(uri: &str) -> Result<Uri, ControlPlaneError> {
    uri.parse().map_err(
        |e: tonic::codegen::http::uri::InvalidUri| ControlPlaneError::InvalidUri {
            uri: uri.to_string(),
            reason: e.to_string(),
        },
    )
}

/// `uri` with port 0 replaced by the bound port, so peers can reach this node
/// when it was started on an ephemeral port.
fn advertised_uri(uri: &Uri, bound_port: u16) -> Result<String, ControlPlaneError> {
    let invalid = |reason: &str| ControlPlaneError::InvalidUri {
        uri: uri.to_string(),
        reason: reason.into(),
    };
    let scheme = uri
        .scheme_str()
        .ok_or_else(|| invalid("a scheme is required"))?;
    let host = uri.host().ok_or_else(|| invalid("a host is required"))?;
    let port = match uri.port_u16() {
        Some(0) | None => bound_port,
        Some(port) => port,
    };
    Ok(format!("{scheme}://{host}:{port}"))
}

/// Initializes a new group on first start; on a restart, makes sure the group
/// knows this node's current uri.
async fn ensure_membership(
    raft: &Raft,
    node_id: NodeId,
    advertised: &str,
    bootstrap: Option<String>,
) -> Result<(), ControlPlaneError> {
    if !raft.is_initialized().await? {
        if let Some(bootstrap) = bootstrap {
            return Err(ControlPlaneError::JoinUnsupported { bootstrap });
        }
        let members = BTreeMap::from([(node_id, BasicNode::new(advertised))]);
        raft.initialize(members).await.map_err(Box::new)?;
        return Ok(());
    }
    let membership = raft
        .with_raft_state(|state| state.membership_state.effective().membership().clone())
        .await?;
    if membership.get_node(&node_id).map(|n| n.addr.as_str()) == Some(advertised) {
        return Ok(());
    }
    let voters: Vec<NodeId> = membership.voter_ids().collect();
    if voters != [node_id] {
        tracing::warn!(
            advertised,
            "this node's uri changed but other voters exist; the membership keeps the old uri"
        );
        return Ok(());
    }
    // Alone in the group, this node becomes leader after one election timeout.
    let wait = raft.wait(Some(raft::PROPOSAL_TIMEOUT));
    if let Err(e) = wait.state(ServerState::Leader, "own uri update").await {
        tracing::warn!("cannot record this node's new uri {advertised}: {e}");
        return Ok(());
    }
    let nodes = BTreeMap::from([(node_id, BasicNode::new(advertised))]);
    if let Err(e) = raft
        .change_membership(ChangeMembers::SetNodes(nodes), true)
        .await
    {
        tracing::warn!("cannot record this node's new uri {advertised}: {e}");
    }
    Ok(())
}
