//! How much of the WAL a shard keeps behind its checkpoint.
//!
//! Records a checkpoint covers are needed only by replicas that missed them (a
//! follower that fell behind, a transfer's target catching up after its snapshot).
//! The shard keeps the most recent of them up to a count and a byte budget, whichever
//! is smaller, so a short outage is healed from the WAL and a long one by a snapshot;
//! and it keeps whatever a pin asks for: a replica catching up pins the records after
//! its last one until it stops asking (a lease), so trimming never strands it mid-way,
//! up to a ceiling past which a replica too slow to catch up starts over from a
//! snapshot.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::wal::Wal;

/// A pin not renewed for this long is dropped: its holder went away. Long enough for
/// a large snapshot to reach its target before the target's first request.
const PIN_LEASE: Duration = Duration::from_secs(900);
/// Pins keep at most this many times the byte budget (and at least `PINNED_FLOOR`):
/// a replica that applies more slowly than writes arrive would otherwise grow the
/// WAL without end; past this it starts over from a snapshot.
const PINNED_FACTOR: u64 = 16;
const PINNED_FLOOR: u64 = 1 << 30;

/// The most recent covered records kept: at most `ops` records and `bytes` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WalRetention {
    pub ops: u64,
    pub bytes: u64,
}

impl WalRetention {
    /// Nothing kept behind the checkpoint.
    pub const NONE: WalRetention = WalRetention { ops: 0, bytes: 0 };
}

pub(crate) struct WalKeeper {
    retention: Mutex<WalRetention>,
    /// Holder -> (the last record it has, when it last asked).
    pins: Mutex<HashMap<String, (u64, Instant)>>,
}

impl WalKeeper {
    pub fn new() -> Self {
        WalKeeper {
            retention: Mutex::new(WalRetention::NONE),
            pins: Mutex::new(HashMap::new()),
        }
    }

    pub fn set_retention(&self, retention: WalRetention) {
        *self.retention.lock() = retention;
    }

    /// Keeps the records after `after` for `holder` (renewing its lease).
    pub fn pin(&self, holder: &str, after: u64) {
        self.pins
            .lock()
            .insert(holder.to_string(), (after, Instant::now()));
    }

    pub fn unpin(&self, holder: &str) {
        self.pins.lock().remove(holder);
    }

    /// The last record that may be removed once a checkpoint covers `checkpoint`.
    pub fn removable_through(&self, wal: &Wal, checkpoint: u64) -> u64 {
        let retention = *self.retention.lock();
        let by_count = checkpoint.saturating_sub(retention.ops);
        let by_bytes = wal.removable_keeping(retention.bytes);
        let mut through = by_count.max(by_bytes).min(checkpoint);
        let mut pins = self.pins.lock();
        pins.retain(|_, (_, at)| at.elapsed() < PIN_LEASE);
        if let Some(pinned) = pins.values().map(|(after, _)| *after).min() {
            let cap = retention
                .bytes
                .saturating_mul(PINNED_FACTOR)
                .max(PINNED_FLOOR);
            through = through
                .min(pinned)
                .max(wal.removable_keeping(cap).min(checkpoint));
        }
        through
    }
}
