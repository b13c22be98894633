//! A new primary's first operation: a barrier that changes nothing, written
//! as soon as this node leads a shard in a new epoch. Forwarded like any
//! write, it confronts every replica with the new epoch at once, so one that
//! kept a divergent, never acknowledged tail from the deposed primary is
//! taken out of sync now rather than at the next client write; until then
//! it would answer reads with writes that the shard's order dropped.

use std::collections::HashMap;
use std::time::Duration;

use tessera_types::shard_client::ShardTarget;
use tessera_types::{ShardOperation, TesseraError, Topology};

use super::ReplicaSet;
use crate::registry::ReplicaKey;

/// How long to wait before trying a barrier that failed again.
const RETRY: Duration = Duration::from_millis(500);

/// The shards this node leads, with their epochs, where the epoch is past
/// the first (a new shard has no earlier history to confront).
fn led_epochs(topology: &Topology, me: tessera_types::PeerId) -> Vec<(ShardTarget, u64)> {
    topology
        .collections
        .values()
        .flat_map(|c| {
            c.shards
                .iter()
                .filter(move |s| {
                    s.primary == me
                        && s.epoch > 1
                        && s.state_of(me).is_some_and(|st| st.is_source_of_truth())
                })
                .map(move |s| {
                    let target = ShardTarget {
                        collection: c.name.clone(),
                        incarnation: c.incarnation,
                        shard_id: s.shard_id,
                        topology_version: topology.version,
                    };
                    (target, s.epoch)
                })
        })
        .collect()
}

/// Watches the topology and writes a barrier in each shard this node comes
/// to lead in a new epoch (once per epoch).
pub async fn barrier_loop(set: ReplicaSet) {
    let mut written: HashMap<ReplicaKey, u64> = HashMap::new();
    let mut changes = set.registry.topology().subscribe();
    let me = set.peer_id();
    loop {
        let topology = changes.borrow_and_update().clone();
        let mut pending = false;
        for (target, epoch) in led_epochs(&topology, me) {
            let key = ReplicaKey::new(
                target.collection.clone(),
                target.incarnation,
                target.shard_id,
            );
            if written.get(&key) == Some(&epoch) {
                continue;
            }
            match set
                .write(target, epoch, ShardOperation::barrier(), true)
                .await
            {
                Ok(seq) => {
                    tracing::debug!(collection = %key.collection, shard = key.shard_id, epoch, seq, "wrote a new epoch's barrier");
                    written.insert(key, epoch);
                }
                // Not the primary in this node's view yet: again shortly.
                Err(e @ TesseraError::Stale(_)) => {
                    tracing::debug!(collection = %key.collection, shard = key.shard_id, epoch, error = %e, "barrier not written yet");
                    pending = true;
                }
                // Ordered and forwarded, though not to enough copies (or not
                // ordered at all: the shard is fenced); trying again would
                // only add operations.
                Err(e) => {
                    tracing::debug!(collection = %key.collection, shard = key.shard_id, epoch, error = %e, "barrier written without an acknowledgement");
                    written.insert(key, epoch);
                }
            }
        }
        let retry = if pending {
            RETRY
        } else {
            Duration::from_secs(3600)
        };
        tokio::select! {
            changed = changes.changed() => if changed.is_err() { return },
            _ = tokio::time::sleep(retry) => {}
        }
    }
}
