//! The in-process tier: the same roles the binary runs, composed inside the
//! test's tokio runtime. No binary is needed and start-up takes milliseconds,
//! but crashes and restarts are out of reach; the process tier covers those.

use std::net::{Ipv4Addr, SocketAddr};

use tempfile::TempDir;
use tessera_control_plane::{ConsensusOptions, ControlPlane, ControlPlaneOptions};
use tessera_data_plane::{DataPlaneInstance, DataPlaneOptions};
use tessera_gateway::{GatewayInstance, GatewayOptions};
use tessera_types::NodeType;

use crate::rest::Rest;
use crate::wait::{self, READY_TIMEOUT};

/// Port 0: every role picks a free loopback port and reports the one it got.
const ANY_LOOPBACK_PORT: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 0);

/// One control plane, `data_nodes` data-plane nodes and a gateway, running as
/// tasks of the current tokio runtime.
pub struct InProcessCluster {
    gateway: GatewayInstance,
    data_planes: Vec<DataPlaneInstance>,
    control_plane: ControlPlane,
    rest: Rest,
    // Declared last so it outlives the instances that write into it.
    _dir: TempDir,
}

impl InProcessCluster {
    /// Starts every role and returns once the gateway is ready and sees all
    /// `data_nodes` peers.
    pub async fn start(data_nodes: usize) -> InProcessCluster {
        let dir = tempfile::Builder::new()
            .prefix("tessera-in-process-")
            .tempdir()
            .expect("create a temporary directory");
        let control_plane = ControlPlane::start(ControlPlaneOptions {
            uri: Some("http://127.0.0.1:0".into()),
            listen: ANY_LOOPBACK_PORT,
            data_dir: dir.path().join("control-plane"),
            bootstrap: None,
            consensus: ConsensusOptions::default(),
            replicas: Default::default(),
            operations: None,
            metrics: Default::default(),
        })
        .await
        .unwrap_or_else(|e| panic!("control plane does not start: {e}"));
        let control_plane_uri = format!("http://{}", control_plane.local_addr());

        let mut data_planes = Vec::with_capacity(data_nodes);
        for i in 0..data_nodes {
            let instance = DataPlaneInstance::start(DataPlaneOptions {
                control_plane: vec![control_plane_uri.clone()],
                // Rewritten to the bound address because `listen` names port 0.
                uri: String::new(),
                listen: ANY_LOOPBACK_PORT,
                data_dir: dir.path().join(format!("data-plane-{i}")),
                node_type: NodeType::Normal,
                zone: None,
                wal_retention: tessera_data_plane::WalRetention {
                    ops: 1_000,
                    bytes: 64 * 1024 * 1024,
                },
                transfer_method: tessera_types::TransferMethod::WalDelta,
                incoming_transfers: 1,
                outgoing_transfers: 1,
                operations: None,
                metrics: Default::default(),
                // Seven eighths of the control plane's default `dead_after`.
                read_lease: std::time::Duration::from_millis(1_750),
            })
            .await
            .unwrap_or_else(|e| panic!("data-plane node {i} does not start: {e}"));
            data_planes.push(instance);
        }

        let gateway = GatewayInstance::start(GatewayOptions {
            control_plane: vec![control_plane_uri],
            http_addr: ANY_LOOPBACK_PORT,
            grpc_addr: ANY_LOOPBACK_PORT,
            in_process_data_plane: None,
            api_keys: Default::default(),
            metrics: Default::default(),
            tls: None,
            operations: None,
        })
        .await
        .unwrap_or_else(|e| panic!("gateway does not start: {e}"));
        let rest = Rest::new(format!("http://{}", gateway.http_addr()));

        wait::until(
            "the in-process cluster to become ready",
            READY_TIMEOUT,
            || {
                let rest = rest.clone();
                async move { wait::gateway_ready(&rest, data_nodes).await }
            },
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));

        InProcessCluster {
            gateway,
            data_planes,
            control_plane,
            rest,
            _dir: dir,
        }
    }

    pub fn http_url(&self) -> String {
        format!("http://{}", self.gateway.http_addr())
    }

    pub fn grpc_url(&self) -> String {
        format!("http://{}", self.gateway.grpc_addr())
    }

    pub fn rest(&self) -> Rest {
        self.rest.clone()
    }

    /// Stops the gateway, the data planes and the control plane, in that order.
    pub async fn stop(self) {
        self.gateway.stop().await;
        for data_plane in self.data_planes {
            data_plane.stop().await;
        }
        self.control_plane.stop().await;
    }
}
