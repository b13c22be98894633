//! Starting and stopping a gateway: the topology watch, REST and gRPC servers.

use std::net::SocketAddr;
use std::sync::Arc;

use tessera_runtime::metrics::{serve_operations, Registry, RequestMetrics};
use tessera_runtime::peers::DataPlanes;
use tessera_types::shard_client::ShardClient;
use tessera_types::{PeerId, TesseraError};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::auth::ApiKeys;
use crate::service::Gateway;
use crate::telemetry::Telemetry;
use tessera_runtime::topology_watch::TopologyCache;

#[derive(Clone)]
pub struct GatewayOptions {
    /// Control-plane members to learn the topology from and send proposals to.
    pub control_plane: Vec<String>,
    pub http_addr: SocketAddr,
    pub grpc_addr: SocketAddr,
    /// A data-plane node in this process (standalone), called directly.
    pub in_process_data_plane: Option<(PeerId, Arc<dyn ShardClient>)>,
    /// The API keys clients must present (none: the API is open).
    pub api_keys: ApiKeys,
    /// Where the gateway registers its metrics, served on its REST port at
    /// `/metrics` (standalone's roles share one).
    pub metrics: Registry,
    /// TLS on the REST and gRPC ports (`service.enable_tls`); none serves
    /// plain HTTP.
    pub tls: Option<ClientTls>,
    /// Where to serve `/metrics` and the probes over plain HTTP as well
    /// (`service.metrics_port`), for probes that cannot speak TLS.
    pub operations: Option<SocketAddr>,
}

/// The certificate chain and private key (PEM) the client ports present.
#[derive(Clone)]
pub struct ClientTls {
    pub cert: Vec<u8>,
    pub key: Vec<u8>,
}

pub struct GatewayInstance {
    http_addr: SocketAddr,
    grpc_addr: SocketAddr,
    shutdown: Vec<oneshot::Sender<()>>,
    tasks: Vec<JoinHandle<()>>,
}

impl GatewayInstance {
    pub async fn start(options: GatewayOptions) -> Result<GatewayInstance, TesseraError> {
        let (topology, watch_task) = TopologyCache::start(&options.control_plane)?;
        let data_planes = match options.in_process_data_plane {
            Some((peer, api)) => DataPlanes::with_in_process(peer, api),
            None => DataPlanes::default(),
        };
        let gateway = Gateway::new(topology, data_planes);

        let bind = |addr: SocketAddr| async move {
            TcpListener::bind(addr)
                .await
                .map_err(|e| TesseraError::Unavailable(format!("cannot listen on {addr}: {e}")))
        };
        let http = bind(options.http_addr).await?;
        let grpc = bind(options.grpc_addr).await?;
        let http_addr = http.local_addr().map_err(TesseraError::internal_from)?;
        let grpc_addr = grpc.local_addr().map_err(TesseraError::internal_from)?;

        let tls = options.tls.is_some();
        let mut tasks = Vec::new();
        let mut shutdown = Vec::new();
        if let Some(addr) = options.operations {
            let listener = bind(addr).await?;
            let (stop, stopped) = oneshot::channel::<()>();
            let ready_gateway = gateway.clone();
            tasks.push(tokio::spawn(serve_operations(
                listener,
                options.metrics.clone(),
                Arc::new(move || ready_gateway.is_ready()),
                async {
                    let _ = stopped.await;
                },
            )));
            shutdown.push(stop);
        }
        let (http_stop, http_stopped) = oneshot::channel::<()>();
        let metrics = options.metrics;
        let rest_requests =
            RequestMetrics::new(&metrics, "rest").map_err(TesseraError::internal_from)?;
        let grpc_requests =
            RequestMetrics::new(&metrics, "grpc").map_err(TesseraError::internal_from)?;
        let telemetry = Telemetry::new(metrics, rest_requests, grpc_requests.clone());
        let router = crate::rest::router(gateway.clone(), options.api_keys.clone(), telemetry);
        let api_keys = options.api_keys;
        let http_task = match &options.tls {
            None => tokio::spawn(async move {
                let serve = axum::serve(http, router).with_graceful_shutdown(async {
                    let _ = http_stopped.await;
                });
                if let Err(e) = serve.await {
                    tracing::error!(error = %e, "REST server failed");
                }
            }),
            Some(tls) => serve_rest_tls(http, router, tls, http_stopped).await?,
        };

        let (grpc_stop, grpc_stopped) = oneshot::channel::<()>();
        let grpc_task = tokio::spawn(async move {
            let shutdown = async {
                let _ = grpc_stopped.await;
            };
            let served = crate::grpc::serve(
                gateway,
                grpc,
                options.tls,
                api_keys,
                grpc_requests,
                shutdown,
            );
            if let Err(e) = served.await {
                tracing::error!(error = %e, "gRPC server failed");
            }
        });
        tracing::info!(%http_addr, %grpc_addr, tls, "gateway serving REST and gRPC");
        shutdown.extend([http_stop, grpc_stop]);
        // The topology watch goes last: `stop` aborts it.
        tasks.extend([http_task, grpc_task, watch_task]);
        Ok(GatewayInstance {
            http_addr,
            grpc_addr,
            shutdown,
            tasks,
        })
    }

    pub fn http_addr(&self) -> SocketAddr {
        self.http_addr
    }

    pub fn grpc_addr(&self) -> SocketAddr {
        self.grpc_addr
    }

    pub async fn stop(self) {
        for stop in self.shutdown {
            let _ = stop.send(());
        }
        let mut tasks = self.tasks;
        // The topology watch never ends on its own.
        if let Some(watch) = tasks.pop() {
            watch.abort();
        }
        for task in tasks {
            let _ = task.await;
        }
    }
}

/// Serves the REST API over TLS until `stopped`, then finishes the requests
/// in flight. The certificate is checked before this returns.
async fn serve_rest_tls(
    listener: TcpListener,
    router: axum::Router,
    tls: &ClientTls,
    stopped: oneshot::Receiver<()>,
) -> Result<JoinHandle<()>, TesseraError> {
    let config = axum_server::tls_rustls::RustlsConfig::from_pem(tls.cert.clone(), tls.key.clone())
        .await
        .map_err(|e| TesseraError::Unavailable(format!("tls.cert and tls.key: {e}")))?;
    let listener = listener.into_std().map_err(TesseraError::internal_from)?;
    let handle = axum_server::Handle::new();
    let server = axum_server::from_tcp_rustls(listener, config)
        .map_err(TesseraError::internal_from)?
        .handle(handle.clone());
    tokio::spawn(async move {
        let _ = stopped.await;
        handle.graceful_shutdown(None);
    });
    Ok(tokio::spawn(async move {
        if let Err(e) = server.serve(router.into_make_service()).await {
            tracing::error!(error = %e, "REST server failed");
        }
    }))
}
