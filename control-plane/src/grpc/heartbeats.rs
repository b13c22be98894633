//! Data-plane liveness as this node observes it: the last heartbeat of each
//! peer. Kept out of Raft (it is an observation, not replicated state); the
//! leader, which every member forwards heartbeats to, acts on it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use tessera_types::PeerId;

#[derive(Clone, Default)]
pub struct Heartbeats(Arc<Mutex<HashMap<PeerId, (u64, Instant)>>>);

impl Heartbeats {
    fn lock(&self) -> MutexGuard<'_, HashMap<PeerId, (u64, Instant)>> {
        // Every write is one insert, so the map is consistent even after a panic.
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn record(&self, peer_id: PeerId) {
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or_default();
        self.lock().insert(peer_id, (now_ms, Instant::now()));
    }

    /// Milliseconds since the Unix epoch of the peer's last heartbeat.
    pub fn last_ms(&self, peer_id: PeerId) -> Option<u64> {
        self.lock().get(&peer_id).map(|(ms, _)| *ms)
    }

    /// When this node last heard from the peer (monotonic clock).
    pub fn last_seen(&self, peer_id: PeerId) -> Option<Instant> {
        self.lock().get(&peer_id).map(|(_, at)| *at)
    }
}
