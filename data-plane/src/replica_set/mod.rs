//! Replication on a data node. As a shard's **primary** this node orders each
//! write (`OpId`), logs and applies it, forwards it to every updatable replica,
//! takes the replicas that failed out of the in-sync set through the control
//! plane, and only then acknowledges. As a **replica** it applies forwarded
//! operations in the primary's order. As a **recovering** replica it fetches
//! what it missed from the primary (`recovery`). A new primary opens its
//! epoch with a barrier (`barrier`).

mod barrier;
pub(crate) mod primary;
mod recovery;
mod slots;
mod source;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

use tessera_runtime::peers::DataPlanes;
use tessera_types::shard_client::{ShardCall, ShardTarget};
use tessera_types::{PeerId, ReplicaStateChange, TesseraError, TransferMethod};

use crate::registry::{ReplicaKey, ShardRegistry};

pub use barrier::barrier_loop;
pub use recovery::{recovery_loop, RecoveryProgress};
pub use slots::TransferSlots;

/// How long a forwarded operation waits for its predecessor before the replica
/// asks the primary to fill the gap.
const GAP_WAIT: Duration = Duration::from_secs(2);
/// How long one call to another data node may take.
const PEER_TIMEOUT: Duration = Duration::from_secs(10);
/// Most operations a primary sends to fill one replica's gap; a replica further
/// behind is taken out of sync and recovers.
const MAX_GAP_FILL: usize = 10_000;

/// A lock per (shard, peer holding a replica of it).
type GapFillLocks = Arc<Mutex<HashMap<(ReplicaKey, PeerId), Arc<tokio::sync::Mutex<()>>>>>;

/// This node's part in replicating the shards it holds.
#[derive(Clone)]
pub struct ReplicaSet {
    registry: ShardRegistry,
    peers: DataPlanes,
    progress: RecoveryProgress,
    /// How a replica catches up when its transfer names no method.
    default_method: TransferMethod,
    slots: TransferSlots,
    /// One lock per replica this node fills gaps of, as primary.
    gap_fills: GapFillLocks,
}

impl ReplicaSet {
    pub fn new(
        registry: ShardRegistry,
        default_method: TransferMethod,
        slots: TransferSlots,
    ) -> Self {
        ReplicaSet {
            registry,
            peers: DataPlanes::default(),
            progress: RecoveryProgress::default(),
            default_method,
            slots,
            gap_fills: Default::default(),
        }
    }

    pub fn registry(&self) -> &ShardRegistry {
        &self.registry
    }

    pub fn progress(&self) -> &RecoveryProgress {
        &self.progress
    }

    pub fn slots(&self) -> &TransferSlots {
        &self.slots
    }

    fn peer_id(&self) -> PeerId {
        self.registry.peer_id()
    }

    /// Proposes replica state changes (compare-and-set) to the control plane.
    async fn set_states(
        &self,
        changes: Vec<ReplicaStateChange>,
        epoch: Option<u64>,
    ) -> Result<u64, TesseraError> {
        use tessera_proto::control_plane as cp;
        let request = cp::SetReplicaStatesRequest {
            changes: changes
                .into_iter()
                .map(|c| cp::ReplicaStateChange {
                    collection: c.collection,
                    incarnation: c.incarnation,
                    shard_id: c.shard_id,
                    peer_id: c.peer_id,
                    from: cp::ReplicaState::from(c.from) as i32,
                    to: cp::ReplicaState::from(c.to) as i32,
                })
                .collect(),
            epoch,
        };
        let reply = self
            .registry
            .topology()
            .call(|mut c| {
                let request = request.clone();
                async move { c.set_replica_states(request).await }
            })
            .await?
            .into_inner();
        self.registry
            .topology()
            .wait_for_version(reply.topology_version)
            .await?;
        Ok(reply.topology_version)
    }
}

/// A call on `target`'s replica at another node, which gets `PEER_TIMEOUT`.
fn peer_call(target: ShardTarget) -> ShardCall {
    ShardCall {
        target,
        deadline: std::time::Instant::now() + PEER_TIMEOUT,
    }
}
