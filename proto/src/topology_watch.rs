//! A cached, versioned copy of the topology, kept current by the control
//! plane's watch stream, and a client for control-plane calls that fails over
//! between members. Gateways and data-plane nodes both use it.

use std::sync::Arc;
use std::time::Duration;

use crate::control_plane::control_plane_client::ControlPlaneClient;
use crate::control_plane::{self as cp, WatchTopologyRequest};
use crate::convert::status_to_error;
use crate::internal_auth::{internal, InternalChannel};
use tessera_types::{TesseraError, Topology};
use tokio::sync::watch;
use tonic::transport::Channel;

type Result<T> = std::result::Result<T, TesseraError>;

/// How long a request waits for the topology to reach a version it depends on.
const VERSION_WAIT: Duration = Duration::from_secs(10);

#[derive(Clone)]
pub struct TopologyCache {
    endpoints: Arc<Vec<Channel>>,
    current: watch::Receiver<Arc<Topology>>,
    connected: watch::Receiver<bool>,
}

impl TopologyCache {
    /// Starts watching the control plane at any of `uris`; returns at once.
    pub fn start(uris: &[String]) -> Result<(Self, tokio::task::JoinHandle<()>)> {
        let endpoints = uris
            .iter()
            .map(|uri| {
                crate::tls::endpoint(uri)
                    .map(|e| e.connect_timeout(Duration::from_secs(2)).connect_lazy())
                    .map_err(|e| TesseraError::bad_input(format!("control plane: {e}")))
            })
            .collect::<Result<Vec<_>>>()?;
        let endpoints = Arc::new(endpoints);
        let (tx, rx) = watch::channel(Arc::new(Topology::default()));
        let (connected_tx, connected_rx) = watch::channel(false);
        let task = tokio::spawn(watch_loop(endpoints.clone(), tx, connected_tx));
        Ok((
            TopologyCache {
                endpoints,
                current: rx,
                connected: connected_rx,
            },
            task,
        ))
    }

    pub fn current(&self) -> Arc<Topology> {
        self.current.borrow().clone()
    }

    /// A receiver that wakes on every newer topology.
    pub fn subscribe(&self) -> watch::Receiver<Arc<Topology>> {
        self.current.clone()
    }

    /// Whether a topology from the control plane has arrived.
    pub fn is_ready(&self) -> bool {
        *self.connected.borrow() || self.current.borrow().version > 0
    }

    /// Waits until the cached topology is at least `version`.
    pub async fn wait_for_version(&self, version: u64) -> Result<Arc<Topology>> {
        let mut rx = self.current.clone();
        let reached = tokio::time::timeout(VERSION_WAIT, async {
            rx.wait_for(|t| t.version >= version)
                .await
                .map(|t| t.clone())
        })
        .await;
        match reached {
            Ok(Ok(t)) => Ok(t),
            _ => Err(TesseraError::Timeout(format!(
                "the topology did not reach version {version}"
            ))),
        }
    }

    /// A control-plane client; proposals go to the members in order until one answers.
    pub async fn call<T, F, Fut>(&self, f: F) -> Result<T>
    where
        F: Fn(ControlPlaneClient<InternalChannel>) -> Fut,
        Fut: std::future::Future<Output = std::result::Result<T, tonic::Status>>,
    {
        let mut last = None;
        for channel in self.endpoints.iter() {
            match f(ControlPlaneClient::new(internal(channel.clone()))).await {
                Ok(v) => return Ok(v),
                Err(s) if is_unreachable(&s) => {
                    // A member's own answer (say, that consensus is unavailable)
                    // tells more than failing to connect to another member.
                    if last.as_ref().is_none_or(is_transport_failure) {
                        last = Some(s);
                    }
                }
                Err(s) => return Err(status_to_error(s)),
            }
        }
        Err(match last {
            Some(s) => {
                TesseraError::Unavailable(format!("control plane unreachable: {}", s.message()))
            }
            None => TesseraError::Unavailable("no control plane configured".into()),
        })
    }
}

/// Whether a call failed because the member could not serve it: it said
/// UNAVAILABLE, or the connection failed. tonic reports a connection that
/// broke (say, the member was killed) as UNKNOWN "transport error"; only such
/// locally made statuses carry a source error, never one a server sent.
pub fn is_unreachable(status: &tonic::Status) -> bool {
    match status.code() {
        tonic::Code::Unavailable => true,
        tonic::Code::Unknown => is_transport_failure(status),
        _ => false,
    }
}

/// Whether tonic made `status` locally from a transport error: the server
/// was not reached or the connection broke, as opposed to an error it sent.
pub fn is_transport_failure(status: &tonic::Status) -> bool {
    std::error::Error::source(status).is_some()
}

async fn watch_loop(
    endpoints: Arc<Vec<Channel>>,
    tx: watch::Sender<Arc<Topology>>,
    connected: watch::Sender<bool>,
) {
    let mut next = 0usize;
    loop {
        let channel = endpoints[next % endpoints.len()].clone();
        next += 1;
        let mut client = ControlPlaneClient::new(internal(channel));
        match client.watch_topology(WatchTopologyRequest {}).await {
            Ok(response) => {
                let mut stream = response.into_inner();
                loop {
                    match stream.message().await {
                        Ok(Some(topology)) => publish(&tx, topology),
                        Ok(None) => break,
                        Err(status) => {
                            tracing::warn!(%status, "topology stream interrupted");
                            break;
                        }
                    }
                    let _ = connected.send(true);
                }
            }
            Err(status) => tracing::debug!(%status, "control plane not reachable yet"),
        }
        let _ = connected.send(false);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn publish(tx: &watch::Sender<Arc<Topology>>, topology: cp::Topology) {
    match Topology::try_from(topology) {
        Ok(t) => {
            tx.send_if_modified(|current| {
                // A reconnect may deliver an older copy from a lagging member: keep the newest.
                if t.version >= current.version {
                    *current = Arc::new(t);
                    true
                } else {
                    false
                }
            });
        }
        Err(e) => tracing::error!(error = %e, "control plane sent an undecodable topology"),
    }
}
