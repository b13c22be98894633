//! A cached, versioned copy of the topology, kept current by the control
//! plane's watch stream, and a client for control-plane calls that fails over
//! between members. Gateways and data-plane nodes both use it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::internal_auth::{internal, InternalChannel};
use tessera_proto::control_plane::control_plane_client::ControlPlaneClient;
use tessera_proto::control_plane::{self as cp, WatchTopologyRequest};
use tessera_proto::convert::status_to_error;
use tessera_proto::status::{is_connection_refused, is_transport_failure, is_unreachable};
use tessera_types::{TesseraError, Topology};
use tokio::sync::watch;
use tonic::transport::Channel;

type Result<T> = std::result::Result<T, TesseraError>;

/// How long a request waits for the topology to reach a version it depends on.
const VERSION_WAIT: Duration = Duration::from_secs(10);
/// How long one member gets to answer a repeatable call: well under the
/// failure detector's `dead_after`, so a heartbeat sent to a paused member
/// still reaches the leader through another in time.
const REPEATABLE_ATTEMPT: Duration = Duration::from_millis(600);
/// How long one member gets to commit a proposal (an election included).
const PROPOSAL_ATTEMPT: Duration = Duration::from_secs(10);

#[derive(Clone)]
pub struct TopologyCache {
    endpoints: Arc<Vec<Channel>>,
    /// The member calls go to first: the last one that answered.
    preferred: Arc<AtomicUsize>,
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
                preferred: Arc::new(AtomicUsize::new(0)),
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

    /// A call to the control plane, such as a proposal, that must not be sent
    /// twice: it goes to the members in turn, starting with the one that last
    /// answered, while they cannot be reached; one that takes longer than
    /// `PROPOSAL_ATTEMPT` fails the call (what it was sent may still apply).
    pub async fn call<T, F, Fut>(&self, f: F) -> Result<T>
    where
        F: Fn(ControlPlaneClient<InternalChannel>) -> Fut,
        Fut: std::future::Future<Output = std::result::Result<T, tonic::Status>>,
    {
        self.call_members(PROPOSAL_ATTEMPT, false, f).await
    }

    /// A call that may be repeated (a heartbeat, a status read): a member that
    /// does not answer within `REPEATABLE_ATTEMPT` (paused, cut off, or unable
    /// to reach the leader) is skipped as an unreachable one is.
    pub async fn call_repeatable<T, F, Fut>(&self, f: F) -> Result<T>
    where
        F: Fn(ControlPlaneClient<InternalChannel>) -> Fut,
        Fut: std::future::Future<Output = std::result::Result<T, tonic::Status>>,
    {
        self.call_members(REPEATABLE_ATTEMPT, true, f).await
    }

    async fn call_members<T, F, Fut>(&self, attempt: Duration, repeatable: bool, f: F) -> Result<T>
    where
        F: Fn(ControlPlaneClient<InternalChannel>) -> Fut,
        Fut: std::future::Future<Output = std::result::Result<T, tonic::Status>>,
    {
        let members = self.endpoints.len();
        let first = self.preferred.load(Ordering::Relaxed);
        let mut last = None;
        for turn in 0..members {
            let member = (first + turn) % members;
            let channel = self.endpoints[member].clone();
            let answer =
                tokio::time::timeout(attempt, f(ControlPlaneClient::new(internal(channel)))).await;
            match answer {
                Ok(Ok(v)) => {
                    self.preferred.store(member, Ordering::Relaxed);
                    return Ok(v);
                }
                Ok(Err(s)) if is_unreachable(&s) => {
                    // A member's own answer (say, that consensus is unavailable)
                    // tells more than failing to connect to another member.
                    if last.as_ref().is_none_or(is_transport_failure) {
                        last = Some(s);
                    }
                }
                Ok(Err(s)) => return Err(status_to_error(s)),
                Err(_) => {
                    // The next call starts elsewhere either way.
                    self.preferred
                        .store((member + 1) % members, Ordering::Relaxed);
                    if !repeatable {
                        return Err(TesseraError::Timeout(format!(
                            "the control plane did not answer within {attempt:?}"
                        )));
                    }
                    if last.is_none() {
                        last = Some(tonic::Status::unavailable(format!(
                            "a member did not answer within {attempt:?}"
                        )));
                    }
                }
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

impl TopologyCache {
    /// Whether more than half the control-plane members refuse connections:
    /// their processes are down, so no leader can be elected and nothing in
    /// the topology can change. Members that cannot be reached otherwise
    /// (paused, cut off) may be leading elsewhere, so they do not count.
    pub async fn majority_down(&self) -> bool {
        let probes = self.endpoints.iter().map(|channel| {
            let mut client = ControlPlaneClient::new(internal(channel.clone()));
            async move {
                let answer = tokio::time::timeout(
                    REPEATABLE_ATTEMPT,
                    client.cluster_status(cp::ClusterStatusRequest {}),
                )
                .await;
                matches!(answer, Ok(Err(status)) if is_connection_refused(&status))
            }
        });
        let refused = futures::future::join_all(probes)
            .await
            .into_iter()
            .filter(|refused| *refused)
            .count();
        refused * 2 > self.endpoints.len()
    }
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
