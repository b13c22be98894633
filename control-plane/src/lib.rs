//! Tessera's control plane: a Raft-replicated service that owns the cluster
//! topology (data-plane peers, collections, shard placement) and streams it to
//! data-plane nodes and gateways. See README.md for the design.

mod error;
mod grpc;
mod join;
mod metrics;
mod raft;
mod reconciler;
mod topology;

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use openraft::{BasicNode, SnapshotPolicy};
use tessera_proto::control_plane::control_plane_server::ControlPlaneServer;
use tessera_proto::raft::raft_server::RaftServer;
use tessera_runtime::internal_auth::RequireToken;
use tessera_runtime::metrics::{serve_operations, Readiness, RequestMetrics};
use tessera_runtime::transport::GuardLayer;
use tessera_types::Topology;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tonic::transport::Uri;

pub use error::ControlPlaneError;
pub use raft::NodeId;
pub use reconciler::ReconcilerOptions;

use crate::grpc::{Cluster, ControlPlaneService};
use crate::join::Joiner;
use crate::metrics::ControlPlaneGauges;
use crate::raft::{Contacts, Members, NetworkFactory, Proposer, Raft, RaftService, Storage};

/// Folder of the sled database inside the data dir.
const RAFT_DIR: &str = "raft";
/// Upper bound on stop's wait for the state machine to be released.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);
/// Upper bound on stop's wait for open gRPC calls to finish.
const STOP_GRACE: Duration = Duration::from_secs(3);
/// Log entries kept behind each snapshot, so a follower that lags a little
/// catches up from the log rather than with a whole snapshot.
const LOGS_KEPT_BEHIND_SNAPSHOT: u64 = 100;
/// Raft messages carry JSON; snapshot chunks of SNAPSHOT_CHUNK_BYTES and
/// batches of log entries stay well below this.
const MAX_RAFT_MESSAGE_BYTES: usize = 16 * 1024 * 1024;

/// Raft's timing, the group's size and its checkpointing: the
/// `cluster.consensus` section of the settings file, read as is.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ConsensusOptions {
    /// Raft's clock: the leader sends a heartbeat every tick.
    pub tick_period_ms: u64,
    /// A follower that hears no leader for a random time between these
    /// starts an election; by default 3 ticks and 3 ticks more.
    pub election_timeout_min_ms: Option<u64>,
    pub election_timeout_max_ms: Option<u64>,
    /// How long a change may wait for a leader and a quorum before it fails
    /// with UNAVAILABLE.
    pub proposal_timeout_ms: u64,
    /// The number of voters the group grows to; nodes joining beyond it stay
    /// learners.
    pub voters: usize,
    /// Take a snapshot of the state machine every this many log entries and
    /// purge the log behind it.
    pub snapshot_every: u64,
}

impl Default for ConsensusOptions {
    fn default() -> Self {
        Self {
            tick_period_ms: 100,
            election_timeout_min_ms: None,
            election_timeout_max_ms: None,
            proposal_timeout_ms: 5_000,
            voters: 3,
            snapshot_every: 1_000,
        }
    }
}

impl ConsensusOptions {
    fn election_timeouts(&self) -> (u64, u64) {
        let min = self
            .election_timeout_min_ms
            .unwrap_or(self.tick_period_ms.saturating_mul(3));
        let max = self
            .election_timeout_max_ms
            .unwrap_or(min.saturating_add(self.tick_period_ms.saturating_mul(3)));
        (min, max)
    }
}

pub struct ControlPlaneOptions {
    /// Advertised URI, e.g. "http://127.0.0.1:6335". When it names port 0, the
    /// port actually bound is advertised instead. A joining node may leave it
    /// out: the member it joins through then records the address the node
    /// connected from, with the port it listens on.
    pub uri: Option<String>,
    /// Address to bind.
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    /// A member of an existing control plane to join instead of starting a
    /// new group.
    pub bootstrap: Option<String>,
    pub consensus: ConsensusOptions,
    pub replicas: ReconcilerOptions,
    /// Where to serve `/metrics`, `/livez`, `/readyz` and `/healthz` over
    /// HTTP; `None` serves them nowhere (standalone shows them through its
    /// gateway).
    pub operations: Option<SocketAddr>,
    /// Where this node registers its metrics (standalone shares one registry
    /// among its roles).
    pub metrics: prometheus::Registry,
}

/// A running control-plane node, serving `tessera.control_plane.ControlPlane`
/// and `tessera.raft.Raft` on one port.
pub struct ControlPlane {
    node_id: NodeId,
    local_addr: SocketAddr,
    raft: Raft,
    storage: Storage,
    topology: watch::Receiver<Topology>,
    shutdown: watch::Sender<bool>,
    server: JoinHandle<Result<(), tonic::transport::Error>>,
    operations: Option<JoinHandle<()>>,
    /// Asks the group to admit this node again after a restart, when needed.
    rejoin: Option<JoinHandle<()>>,
    reconciler: JoinHandle<()>,
    /// How long a stopping leader waits for the others to elect a successor.
    handover_timeout: Duration,
}

impl ControlPlane {
    /// Opens storage, starts Raft and the gRPC services, then founds a new
    /// group (first start without `bootstrap`), joins one (first start with
    /// it) or carries on as a member. Returns once the node is serving and, on
    /// a first start, is a member.
    pub async fn start(options: ControlPlaneOptions) -> Result<ControlPlane, ControlPlaneError> {
        let consensus = &options.consensus;
        let config = raft_config(consensus)?;
        let uri = options.uri.as_deref().map(parse_uri).transpose()?;
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
        let operations_listener = match options.operations {
            Some(addr) => Some(
                TcpListener::bind(addr)
                    .await
                    .map_err(|source| ControlPlaneError::Bind { addr, source })?,
            ),
            None => None,
        };
        let advertised = uri
            .map(|uri| advertised_uri(&uri, local_addr.port()))
            .transpose()?;

        let (state_machine, topology) = storage.state_machine()?;
        let log_store = storage.log_store()?;
        let contacts = Contacts::default();
        let network = NetworkFactory::new(contacts.clone());
        let raft = Raft::new(
            node_id,
            config.clone(),
            network,
            log_store.clone(),
            state_machine,
        )
        .await?;

        // Serve before joining: the leader replicates to this node while it joins.
        let (shutdown, shutdown_rx) = watch::channel(false);
        let tick = Duration::from_millis(consensus.tick_period_ms);
        let proposer = Proposer::new(
            raft.clone(),
            node_id,
            contacts,
            tick,
            Duration::from_millis(consensus.proposal_timeout_ms),
            Duration::from_millis(config.election_timeout_max),
        );
        let cluster = Cluster {
            members: Members::new(raft.clone(), consensus.voters, tick),
            log: log_store,
        };
        let heartbeats = crate::grpc::Heartbeats::default();
        let reconciler = tokio::spawn(reconciler::run(
            proposer.clone(),
            topology.clone(),
            heartbeats.clone(),
            shutdown_rx.clone(),
            options.replicas.clone(),
        ));
        let metrics = &options.metrics;
        let requests = RequestMetrics::new(metrics, "control_plane")?;
        ControlPlaneGauges::register(
            metrics,
            raft.clone(),
            topology.clone(),
            heartbeats.clone(),
            options.replicas.clone(),
        )?;
        let operations = operations_listener.map(|listener| {
            let raft = raft.clone();
            let ready: Readiness =
                Arc::new(move || raft.metrics().borrow().current_leader.is_some());
            let mut stopping = shutdown_rx.clone();
            tokio::spawn(serve_operations(
                listener,
                metrics.clone(),
                ready,
                async move {
                    let _ = stopping.wait_for(|stop| *stop).await;
                },
            ))
        });
        let service = ControlPlaneService::new(
            proposer,
            topology.clone(),
            shutdown_rx.clone(),
            cluster,
            heartbeats,
        );
        let mut stopping = shutdown_rx;
        let incoming = tessera_runtime::transport::incoming_nodelay(listener);
        let server = tessera_runtime::tls::internal_server()?
            .layer(tessera_runtime::trace_context::internal_grpc_layer())
            .layer(requests.grpc_layer())
            .layer(GuardLayer(RequireToken))
            .add_service(ControlPlaneServer::new(service))
            .add_service(
                RaftServer::new(RaftService::new(raft.clone(), node_id))
                    .max_decoding_message_size(MAX_RAFT_MESSAGE_BYTES)
                    .max_encoding_message_size(MAX_RAFT_MESSAGE_BYTES),
            )
            .serve_with_incoming_shutdown(incoming, async move {
                let _ = stopping.wait_for(|stop| *stop).await;
            });
        let mut node = ControlPlane {
            node_id,
            local_addr,
            raft,
            storage,
            topology,
            shutdown,
            server: tokio::spawn(server),
            operations,
            rejoin: None,
            reconciler,
            handover_timeout: Duration::from_millis(config.election_timeout_max.saturating_mul(4)),
        };
        let joiner = Joiner {
            node_id,
            uri: advertised,
            port: local_addr.port(),
        };
        match node.ensure_membership(joiner, options.bootstrap).await {
            Ok(rejoin) => node.rejoin = rejoin,
            Err(err) => {
                node.stop().await;
                return Err(err);
            }
        }
        tracing::info!(node_id, %local_addr, "control plane serving");
        Ok(node)
    }

    pub fn node_id(&self) -> NodeId {
        self.node_id
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Founds or joins a group on first start. On a restart, a node that is
    /// not a voter, or whose uri changed, asks the group to admit it again in
    /// the background: that needs a leader, which a restart must not wait for.
    async fn ensure_membership(
        &self,
        joiner: Joiner,
        bootstrap: Option<String>,
    ) -> Result<Option<JoinHandle<()>>, ControlPlaneError> {
        if !self.raft.is_initialized().await? {
            // A node told to join itself founds the group: every pod of a
            // Kubernetes StatefulSet gets the first pod's URI as --bootstrap.
            let bootstrap = bootstrap
                .filter(|bootstrap| joiner.uri.as_deref() != Some(bootstrap.trim_end_matches('/')));
            match (bootstrap, &joiner.uri) {
                (Some(bootstrap), _) => {
                    let reply = join::join(&bootstrap, &joiner).await?;
                    tracing::info!(
                        %bootstrap,
                        uri = %reply.uri,
                        voter = reply.voter,
                        "joined the control plane"
                    );
                }
                (None, Some(uri)) => {
                    let members = BTreeMap::from([(self.node_id, BasicNode::new(uri))]);
                    self.raft.initialize(members).await.map_err(Box::new)?;
                }
                (None, None) => return Err(ControlPlaneError::UriRequired),
            }
            return Ok(None);
        }
        let membership = self
            .raft
            .with_raft_state(|state| state.membership_state.effective().membership().clone())
            .await?;
        let recorded = membership.get_node(&self.node_id).map(|n| n.addr.clone());
        let voter = membership.voter_ids().any(|id| id == self.node_id);
        let moved = joiner.uri.is_some() && joiner.uri != recorded;
        if voter && !moved {
            return Ok(None);
        }
        let joiner = Joiner {
            uri: joiner.uri.or(recorded),
            ..joiner
        };
        // Through this node first (it forwards to the leader it knows), then
        // through the bootstrap member and the other members it knows.
        let mut members = Vec::new();
        if let Some(uri) = &joiner.uri {
            let scheme = uri.split_once("://").map_or("http", |(scheme, _)| scheme);
            members.push(format!("{scheme}://{}", loopback(self.local_addr)));
        }
        members.extend(bootstrap);
        members.extend(
            membership
                .nodes()
                .filter(|(id, _)| **id != self.node_id)
                .map(|(_, node)| node.addr.clone()),
        );
        tracing::info!(
            voter,
            moved,
            "asking the control plane to admit this node again"
        );
        Ok(Some(tokio::spawn(join::rejoin(members, joiner))))
    }

    /// Hands leadership over if this node leads, stops serving (ending
    /// topology streams), then stops Raft and flushes storage, so the data dir
    /// can be opened again once this returns.
    pub async fn stop(self) {
        if let Some(rejoin) = &self.rejoin {
            rejoin.abort();
        }
        self.hand_over_leadership().await;
        self.shutdown.send_replace(true);
        self.reconciler.abort();
        // A graceful stop waits for open calls; a client that vanished
        // without a word must not hold the stop up for longer than this.
        let mut server = self.server;
        match tokio::time::timeout(STOP_GRACE, &mut server).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => tracing::warn!("control-plane gRPC server failed: {e}"),
            Ok(Err(e)) => tracing::warn!("control-plane gRPC server task failed: {e}"),
            Err(_) => {
                tracing::warn!(
                    "calls still open {STOP_GRACE:?} into the stop; closing their connections"
                );
                server.abort();
            }
        }
        if let Some(operations) = self.operations {
            let _ = operations.await;
        }
        release(&self.raft, self.topology).await;
        if let Err(e) = self.storage.flush().await {
            tracing::warn!("cannot flush control-plane storage: {e}");
        }
    }
    /// A leader that stops steps aside first: it stops sending heartbeats and
    /// standing for election, and answers votes while the other voters elect
    /// a successor, so the group does not sit leaderless for an election
    /// timeout after it is gone. (openraft 0.9 has no leader transfer.)
    async fn hand_over_leadership(&self) {
        let metrics = self.raft.metrics().borrow().clone();
        let voters = metrics.membership_config.membership().voter_ids().count();
        if metrics.current_leader != Some(self.node_id) || voters < 2 {
            return;
        }
        self.raft.runtime_config().heartbeat(false);
        self.raft.runtime_config().elect(false);
        let me = self.node_id;
        let successor = self
            .raft
            .wait(Some(self.handover_timeout))
            .metrics(
                |m| m.current_leader.is_some_and(|leader| leader != me),
                "another leader",
            )
            .await;
        match successor {
            Ok(metrics) => tracing::info!(
                successor = metrics.current_leader,
                "handed control-plane leadership over"
            ),
            Err(e) => tracing::warn!(
                "no successor was elected within {:?} ({e}); stopping anyway",
                self.handover_timeout
            ),
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

/// `addr` with an unspecified ip (0.0.0.0, ::) replaced by loopback, so this
/// node can call itself.
fn loopback(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => {
            SocketAddr::new(Ipv4Addr::LOCALHOST.into(), addr.port())
        }
        IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::new(Ipv6Addr::LOCALHOST.into(), addr.port())
        }
        _ => addr,
    }
}

fn raft_config(consensus: &ConsensusOptions) -> Result<Arc<openraft::Config>, ControlPlaneError> {
    if consensus.voters == 0 {
        return Err(ControlPlaneError::InvalidConsensus(
            "voters must be at least 1".into(),
        ));
    }
    if consensus.snapshot_every == 0 {
        return Err(ControlPlaneError::InvalidConsensus(
            "snapshot_every must be at least 1".into(),
        ));
    }
    if consensus.proposal_timeout_ms == 0 {
        return Err(ControlPlaneError::InvalidConsensus(
            "proposal_timeout_ms must be at least 1".into(),
        ));
    }
    let tick = consensus.tick_period_ms;
    let (min, max) = consensus.election_timeouts();
    let config = openraft::Config {
        cluster_name: "tessera-control-plane".into(),
        heartbeat_interval: tick,
        election_timeout_min: min,
        election_timeout_max: max,
        // One snapshot chunk per RPC; on loopback it takes milliseconds, the
        // margin is for slow links and big topologies.
        install_snapshot_timeout: consensus.proposal_timeout_ms,
        snapshot_policy: SnapshotPolicy::LogsSinceLast(consensus.snapshot_every),
        max_in_snapshot_log_to_keep: LOGS_KEPT_BEHIND_SNAPSHOT,
        snapshot_max_chunk_size: raft::SNAPSHOT_CHUNK_BYTES,
        ..Default::default()
    };
    let config = config
        .validate()
        .map_err(|source| ControlPlaneError::RaftConfig {
            tick_period_ms: tick,
            election_timeout_min_ms: min,
            election_timeout_max_ms: max,
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
