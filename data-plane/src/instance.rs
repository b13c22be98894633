//! Starting and stopping a data-plane node.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use tessera_engine::shard::WalRetention;
use tessera_proto::data_plane::data_plane_server::DataPlaneServer;
use tessera_runtime::internal_auth::RequireToken;
use tessera_runtime::metrics::{serve_operations, Readiness, RequestMetrics};
use tessera_runtime::topology_watch::TopologyCache;
use tessera_runtime::transport::GuardLayer;
use tessera_types::shard_client::ShardClient;
use tessera_types::{NodeType, PeerId, TesseraError, TransferMethod};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::grpc::DataPlaneService;
use crate::membership;
use crate::metrics::DataNodeGauges;
use crate::quota::NodeQuota;
use crate::registry::ShardRegistry;
use crate::replica_set::{barrier_loop, recovery_loop, ReplicaSet, TransferSlots};
use crate::service::InProcess;
use tessera_engine::snapshot::store::SnapshotStore;
use tessera_runtime::peers::MAX_MESSAGE_BYTES;

/// Upper bound on a stop's wait for open gRPC calls to finish.
const STOP_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

#[derive(Debug, Clone)]
pub struct DataPlaneOptions {
    /// Control-plane members, tried in order.
    pub control_plane: Vec<String>,
    /// How gateways reach this node; registered with the control plane.
    pub uri: String,
    /// Where to listen (port 0 picks a free one; `uri` is then rewritten to it).
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub node_type: NodeType,
    /// The failure zone this node registers in, if any.
    pub zone: Option<String>,
    /// What each shard keeps in its WAL behind its checkpoint, for replicas
    /// that catch up from it.
    pub wal_retention: WalRetention,
    /// How replicas catch up when a transfer names no method (wal_delta or
    /// snapshot).
    pub transfer_method: TransferMethod,
    /// Recovery steps (as a target) and snapshot streams (as a primary) this
    /// node runs at once.
    pub incoming_transfers: usize,
    pub outgoing_transfers: usize,
    /// Where to serve `/metrics`, `/livez`, `/readyz` and `/healthz` over
    /// HTTP; `None` serves them nowhere (standalone shows them through its
    /// gateway).
    pub operations: Option<SocketAddr>,
    /// Where this node registers its metrics (standalone shares one registry
    /// among its roles).
    pub metrics: prometheus::Registry,
    /// How long replicas answer reads after the node last heard from the
    /// control plane (`membership::ReadLease`); under the failure detector's
    /// `dead_after`.
    pub read_lease: std::time::Duration,
}

pub struct DataPlaneInstance {
    peer_id: PeerId,
    local_addr: SocketAddr,
    service: Arc<DataPlaneService>,
    registry: ShardRegistry,
    stop: watch::Sender<bool>,
    server: JoinHandle<()>,
    background: Vec<JoinHandle<()>>,
}

impl DataPlaneInstance {
    pub async fn start(options: DataPlaneOptions) -> Result<DataPlaneInstance, TesseraError> {
        std::fs::create_dir_all(&options.data_dir).map_err(|e| {
            TesseraError::Unavailable(format!(
                "cannot create data directory {}: {e}",
                options.data_dir.display()
            ))
        })?;
        let listener = tokio::net::TcpListener::bind(options.listen)
            .await
            .map_err(|e| {
                TesseraError::Unavailable(format!("cannot listen on {}: {e}", options.listen))
            })?;
        let local_addr = listener.local_addr().map_err(TesseraError::internal_from)?;
        let operations_listener =
            match options.operations {
                Some(addr) => Some(tokio::net::TcpListener::bind(addr).await.map_err(|e| {
                    TesseraError::Unavailable(format!("cannot listen on {addr}: {e}"))
                })?),
                None => None,
            };
        let uri = if options.listen.port() == 0 {
            format!("http://{local_addr}")
        } else {
            options.uri.clone()
        };

        let (topology, watch_task) = TopologyCache::start(&options.control_plane)?;
        let peer_id = membership::register(
            &topology,
            &options.data_dir,
            &uri,
            options.node_type,
            options.zone.as_deref(),
        )
        .await?;
        let lease = membership::ReadLease::new(options.read_lease);
        let registry = ShardRegistry::new(
            &options.data_dir,
            peer_id,
            topology.clone(),
            options.wal_retention,
        )
        .with_read_lease(lease.clone());
        let shard_registry = registry.clone();
        let replicas = ReplicaSet::new(
            registry.clone(),
            options.transfer_method,
            TransferSlots::new(options.incoming_transfers, options.outgoing_transfers),
        );
        let recovery_task = tokio::spawn(recovery_loop(replicas.clone()));
        let barrier_task = tokio::spawn(barrier_loop(replicas.clone()));
        let metrics = &options.metrics;
        let requests =
            RequestMetrics::new(metrics, "data_plane").map_err(TesseraError::internal_from)?;
        DataNodeGauges::register(metrics, replicas.clone()).map_err(TesseraError::internal_from)?;

        let reconcile_task = tokio::spawn({
            let registry = registry.clone();
            let mut changes = topology.subscribe();
            async move {
                loop {
                    let current = changes.borrow_and_update().clone();
                    let registry = registry.clone();
                    let _ = tokio::task::spawn_blocking(move || registry.reconcile(&current)).await;
                    if changes.changed().await.is_err() {
                        break;
                    }
                }
            }
        });
        let quota = NodeQuota::new(&options.data_dir, topology.clone());
        let heartbeat_task = tokio::spawn(membership::heartbeat_loop(topology, peer_id, lease));

        let service = Arc::new(DataPlaneService::new(
            replicas,
            SnapshotStore::open(&options.data_dir),
            quota,
        ));
        let server = DataPlaneServer::from_arc(service.clone())
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES);
        let (stop, stopped) = watch::channel(false);
        let mut background = vec![
            watch_task,
            reconcile_task,
            heartbeat_task,
            recovery_task,
            barrier_task,
        ];
        if let Some(listener) = operations_listener {
            // Registered and serving once start returns.
            let ready: Readiness = Arc::new(|| true);
            let mut stopping = stopped.clone();
            background.push(tokio::spawn(serve_operations(
                listener,
                metrics.clone(),
                ready,
                async move {
                    let _ = stopping.wait_for(|stop| *stop).await;
                },
            )));
        }
        let mut stopping = stopped;
        let builder = tessera_runtime::tls::internal_server()
            .map_err(|e| TesseraError::Unavailable(e.to_string()))?;
        let server = tokio::spawn(async move {
            let incoming = tessera_runtime::transport::incoming_nodelay(listener);
            let result = builder
                .layer(tessera_runtime::trace_context::internal_grpc_layer())
                .layer(requests.grpc_layer())
                .layer(GuardLayer(RequireToken))
                .add_service(server)
                .serve_with_incoming_shutdown(incoming, async move {
                    let _ = stopping.wait_for(|stop| *stop).await;
                })
                .await;
            if let Err(e) = result {
                tracing::error!(error = %e, "data-plane gRPC server failed");
            }
        });
        tracing::info!(peer_id, %local_addr, %uri, "data-plane node serving");
        Ok(DataPlaneInstance {
            peer_id,
            local_addr,
            service,
            registry: shard_registry,
            stop,
            server,
            background,
        })
    }

    pub fn peer_id(&self) -> PeerId {
        self.peer_id
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// This node's shards, for a gateway in the same process.
    pub fn shard_client(&self) -> Arc<dyn ShardClient> {
        Arc::new(InProcess(self.service.clone()))
    }

    /// Stops serving once in-flight requests are answered, then checkpoints
    /// every shard replica, so the next start replays no WAL.
    pub async fn stop(self) {
        self.stop.send_replace(true);
        // Serving ends once in-flight requests are answered, or a long one
        // (a transfer's stream) has had its grace.
        let mut server = self.server;
        if tokio::time::timeout(STOP_GRACE, &mut server).await.is_err() {
            tracing::warn!("calls still open {STOP_GRACE:?} into the stop; closing them");
            server.abort();
        }
        for task in self.background {
            task.abort();
        }
        let registry = self.registry;
        let _ = tokio::task::spawn_blocking(move || registry.flush_all()).await;
        tracing::info!(
            peer_id = self.peer_id,
            "data-plane node stopped; shards flushed"
        );
    }
}
