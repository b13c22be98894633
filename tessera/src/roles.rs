//! Each subcommand builds its instances, runs until Ctrl-C or SIGTERM, then
//! stops them in reverse order. Standalone composes the same three roles; its
//! gateway calls its data-plane node's point operations directly, everything
//! else (topology, Raft) still goes over loopback gRPC as in a split deployment.

use std::net::{SocketAddr, ToSocketAddrs};

use anyhow::{bail, Context};
use tessera_control_plane::{ControlPlane, ControlPlaneOptions};
use tessera_data_plane::{DataPlaneInstance, DataPlaneOptions};
use tessera_gateway::{GatewayInstance, GatewayOptions};
use tessera_runtime::metrics::Registry;

use crate::cli::Command;
use crate::config::Settings;

pub async fn run(command: Command, settings: Settings) -> anyhow::Result<()> {
    match command {
        Command::Standalone { .. } => standalone(settings).await,
        Command::ControlPlane { .. } => control_plane(settings).await,
        Command::DataPlane { .. } => data_plane(settings).await,
        Command::Gateway { .. } => gateway(settings).await,
        Command::Playground {
            data_nodes, common, ..
        } => crate::playground::run(settings, data_nodes, common.config).await,
        Command::Probe { url } => crate::probe::check(&url),
    }
}

/// The host:port a URI names, resolved to a socket address to listen on.
fn listen_addr(uri: &str) -> anyhow::Result<SocketAddr> {
    let authority = uri
        .split_once("://")
        .map_or(uri, |(_, rest)| rest)
        .trim_end_matches('/');
    authority
        .to_socket_addrs()
        .with_context(|| format!("cannot resolve {uri}"))?
        .next()
        .with_context(|| format!("{uri} names no address"))
}

fn client_addr(settings: &Settings, port: u16) -> anyhow::Result<SocketAddr> {
    listen_addr(&format!("{}:{port}", settings.service.host))
}

/// Where a node serves its metrics and probes over plain HTTP.
fn operations_addr(settings: &Settings) -> anyhow::Result<Option<SocketAddr>> {
    settings
        .service
        .metrics_port
        .map(|port| client_addr(settings, port))
        .transpose()
}

pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler installs");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    tracing::info!("shutting down");
}

async fn standalone(settings: Settings) -> anyhow::Result<()> {
    let data_dir = settings.storage.data_dir.clone();
    let loopback: SocketAddr = "127.0.0.1:0".parse()?;
    // One registry: the gateway's /metrics shows every role's metrics.
    let metrics = Registry::new();
    let control_plane = ControlPlane::start(ControlPlaneOptions {
        uri: Some("http://127.0.0.1:0".into()),
        listen: loopback,
        data_dir: data_dir.join("control-plane"),
        bootstrap: None,
        consensus: settings.cluster.consensus.clone(),
        replicas: settings.cluster.replication.reconciler(),
        operations: None,
        metrics: metrics.clone(),
    })
    .await?;
    let control_plane_uri = format!("http://{}", control_plane.local_addr());
    let data_plane = DataPlaneInstance::start(DataPlaneOptions {
        control_plane: vec![control_plane_uri.clone()],
        uri: String::new(),
        listen: loopback,
        data_dir: data_dir.join("data-plane"),
        node_type: settings.cluster.node_type,
        zone: settings.cluster.zone.clone(),
        wal_retention: settings.cluster.replication.wal_retention(),
        transfer_method: settings.cluster.replication.transfer_method,
        incoming_transfers: settings.cluster.replication.incoming_transfers,
        outgoing_transfers: settings.cluster.replication.outgoing_transfers,
        operations: None,
        metrics: metrics.clone(),
        read_lease: settings.cluster.replication.read_lease(),
    })
    .await?;
    let gateway = GatewayInstance::start(GatewayOptions {
        control_plane: vec![control_plane_uri],
        http_addr: client_addr(&settings, settings.service.http_port)?,
        grpc_addr: client_addr(&settings, settings.service.grpc_port)?,
        in_process_data_plane: Some((data_plane.peer_id(), data_plane.shard_client())),
        api_keys: settings.service.api_keys(),
        metrics,
        tls: crate::tls::client_ports(&settings)?,
        operations: None,
    })
    .await?;
    tracing::info!(
        rest = %gateway.http_addr(),
        grpc = %gateway.grpc_addr(),
        data_dir = %data_dir.display(),
        "Tessera standalone is ready"
    );
    shutdown_signal().await;
    gateway.stop().await;
    data_plane.stop().await;
    control_plane.stop().await;
    Ok(())
}

async fn control_plane(settings: Settings) -> anyhow::Result<()> {
    let uri = settings.cluster.uri.clone();
    let listen = match (&uri, &settings.cluster.bootstrap) {
        (Some(uri), _) => listen_addr(uri)?,
        (None, Some(_)) => client_addr(&settings, settings.cluster.p2p.port)?,
        (None, None) => bail!(
            "--uri is required for the first control-plane node: the URI other nodes reach it at \
             (a node that joins with --bootstrap may omit it)"
        ),
    };
    let instance = ControlPlane::start(ControlPlaneOptions {
        listen,
        uri,
        data_dir: settings.storage.data_dir.clone(),
        bootstrap: settings.cluster.bootstrap.clone(),
        consensus: settings.cluster.consensus.clone(),
        replicas: settings.cluster.replication.reconciler(),
        operations: operations_addr(&settings)?,
        metrics: Registry::new(),
    })
    .await?;
    shutdown_signal().await;
    instance.stop().await;
    Ok(())
}

async fn data_plane(settings: Settings) -> anyhow::Result<()> {
    if settings.cluster.control_plane.is_empty() {
        bail!("--control-plane is required: the URI of a control-plane member");
    }
    let Some(uri) = settings.cluster.uri.clone() else {
        bail!("--uri is required: the URI gateways reach this data-plane node at");
    };
    let instance = DataPlaneInstance::start(DataPlaneOptions {
        control_plane: settings.cluster.control_plane.clone(),
        listen: listen_addr(&uri)?,
        uri,
        data_dir: settings.storage.data_dir.clone(),
        node_type: settings.cluster.node_type,
        zone: settings.cluster.zone.clone(),
        wal_retention: settings.cluster.replication.wal_retention(),
        transfer_method: settings.cluster.replication.transfer_method,
        incoming_transfers: settings.cluster.replication.incoming_transfers,
        outgoing_transfers: settings.cluster.replication.outgoing_transfers,
        operations: operations_addr(&settings)?,
        metrics: Registry::new(),
        read_lease: settings.cluster.replication.read_lease(),
    })
    .await?;
    shutdown_signal().await;
    instance.stop().await;
    Ok(())
}

async fn gateway(settings: Settings) -> anyhow::Result<()> {
    if settings.cluster.control_plane.is_empty() {
        bail!("--control-plane is required: the URI of a control-plane member");
    }
    let instance = GatewayInstance::start(GatewayOptions {
        control_plane: settings.cluster.control_plane.clone(),
        http_addr: client_addr(&settings, settings.service.http_port)?,
        grpc_addr: client_addr(&settings, settings.service.grpc_port)?,
        in_process_data_plane: None,
        api_keys: settings.service.api_keys(),
        metrics: Registry::new(),
        tls: crate::tls::client_ports(&settings)?,
        operations: operations_addr(&settings)?,
    })
    .await?;
    shutdown_signal().await;
    instance.stop().await;
    Ok(())
}
