//! This node's identity in the cluster: registration with the control plane
//! under a peer id that survives restarts, heartbeats, and the read lease
//! they renew.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use tessera_proto::control_plane::{self as cp, HeartbeatRequest, RegisterPeerRequest};
use tessera_runtime::topology_watch::TopologyCache;
use tessera_types::{NodeType, PeerId, TesseraError};

const PEER_ID_FILE: &str = "peer_id";
const HEARTBEAT_PERIOD: Duration = Duration::from_millis(500);

/// Reads the peer id this node was given before, if any.
fn stored_peer_id(data_dir: &Path) -> Result<Option<PeerId>, TesseraError> {
    match std::fs::read_to_string(data_dir.join(PEER_ID_FILE)) {
        Ok(s) => s.trim().parse().map(Some).map_err(|_| {
            TesseraError::internal(format!(
                "{} is corrupt: expected a peer id",
                data_dir.join(PEER_ID_FILE).display()
            ))
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(TesseraError::internal(e)),
    }
}

/// Writes the peer id atomically, so a crash never leaves half a file.
fn store_peer_id(data_dir: &Path, id: PeerId) -> Result<(), TesseraError> {
    let tmp = data_dir.join(format!("{PEER_ID_FILE}.tmp"));
    std::fs::write(&tmp, id.to_string()).map_err(TesseraError::internal_from)?;
    std::fs::File::open(&tmp)
        .and_then(|f| f.sync_all())
        .map_err(TesseraError::internal_from)?;
    std::fs::rename(&tmp, data_dir.join(PEER_ID_FILE)).map_err(TesseraError::internal_from)
}

/// Registers with the control plane, retrying until it answers, and returns
/// this node's peer id.
pub async fn register(
    control_plane: &TopologyCache,
    data_dir: &Path,
    uri: &str,
    node_type: NodeType,
    zone: Option<&str>,
) -> Result<PeerId, TesseraError> {
    let known = stored_peer_id(data_dir)?;
    let request = RegisterPeerRequest {
        uri: uri.to_string(),
        node_type: cp::NodeType::from(node_type) as i32,
        peer_id: known,
        zone: zone.unwrap_or_default().to_string(),
    };
    let mut attempt = 0u32;
    let reply = loop {
        let result = control_plane
            .call(|mut c| {
                let request = request.clone();
                async move { c.register_peer(request).await }
            })
            .await;
        match result {
            Ok(reply) => break reply.into_inner(),
            Err(TesseraError::Unavailable(msg) | TesseraError::Unreachable(msg)) => {
                attempt += 1;
                if attempt % 25 == 1 {
                    tracing::info!(%msg, "waiting for the control plane to register");
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => return Err(e),
        }
    };
    if known != Some(reply.peer_id) {
        store_peer_id(data_dir, reply.peer_id)?;
    }
    control_plane
        .wait_for_version(reply.topology_version)
        .await?;
    tracing::info!(peer_id = reply.peer_id, %uri, "registered with the control plane");
    Ok(reply.peer_id)
}

/// How long this node's replicas answer reads as in sync after it last
/// heard from the control plane. Shorter than the failure detector's
/// `dead_after`, which counts from when the heartbeat arrived (later than it
/// was sent): a node cut off from the control plane stops answering reads
/// before the control plane can have marked its replicas Dead and another
/// replica can have taken writes it never sees.
#[derive(Clone)]
pub struct ReadLease {
    /// When the heartbeat that last renewed the lease was sent.
    renewed: Arc<Mutex<Instant>>,
    length: Duration,
}

impl ReadLease {
    /// A lease that starts now: registration has just reached the leader.
    pub fn new(length: Duration) -> Self {
        ReadLease {
            renewed: Arc::new(Mutex::new(Instant::now())),
            length,
        }
    }

    fn renew(&self, sent: Instant) {
        let mut renewed = self.renewed.lock();
        *renewed = (*renewed).max(sent);
    }

    /// Refuses a read while the lease has run out.
    pub fn check(&self, peer_id: PeerId) -> Result<(), TesseraError> {
        let silent = self.renewed.lock().elapsed();
        if silent > self.length {
            return Err(TesseraError::Unavailable(format!(
                "peer {peer_id} has not heard from the control plane for {} ms; its replicas \
                 may be out of date, so it answers no reads until it does",
                silent.as_millis()
            )));
        }
        Ok(())
    }
}

/// Sends heartbeats forever; the control plane uses them for liveness, and
/// each one the leader took renews `lease`. When no leader took it, the lease
/// is still renewed while most control-plane members are down (refuse
/// connections): then nothing in the topology can change, and reads go on.
pub async fn heartbeat_loop(control_plane: TopologyCache, peer_id: PeerId, lease: ReadLease) {
    let mut ticker = tokio::time::interval(HEARTBEAT_PERIOD);
    let mut refused = 0u32;
    loop {
        ticker.tick().await;
        let sent = Instant::now();
        let result = control_plane
            .call_repeatable(|mut c| async move { c.heartbeat(HeartbeatRequest { peer_id }).await })
            .await;
        let leader_took_it = matches!(&result, Ok(reply) if reply.get_ref().leader_took_it);
        if leader_took_it || control_plane.majority_down().await {
            lease.renew(sent);
        }
        match result {
            Ok(_) => refused = 0,
            // Removed from the cluster: say so loudly, now and then.
            Err(TesseraError::BadInput(msg)) => {
                if refused.is_multiple_of(60) {
                    tracing::error!(%msg, "the control plane refuses this node");
                }
                refused += 1;
            }
            Err(e) => tracing::debug!(error = %e, "heartbeat not delivered"),
        }
    }
}
