//! A shard's replicas as a read meets them: which to ask at a consistency
//! level and how many must answer ([`ReadPlan`]), how to ask them (one at a
//! time with Qdrant's delayed fan-out to a second, or several at once,
//! returning as soon as enough have answered), and which answer wins (the
//! replica furthest along the shard's order, [`Applied`]).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::stream::{FuturesUnordered, StreamExt};
use tessera_types::shard_client::{ReplicaAnswer, ShardCall, ShardClient};
use tessera_types::{
    CollectionState, PeerId, ReadConsistency, ShardId, ShardPlacement, TesseraError, Topology,
};

use crate::routing::{affinity, target, DataPlanes};
use crate::service::replica_deadline;

type Result<T, E = TesseraError> = std::result::Result<T, E>;

/// Which replicas of a shard a read asks, and how many must answer.
pub struct ReadPlan {
    /// Readable replicas, in the order to try them.
    pub replicas: Vec<PeerId>,
    /// Answers required.
    pub required: usize,
}

/// Spreads single-replica reads over a shard's replicas.
static NEXT_READ: AtomicUsize = AtomicUsize::new(0);

impl ReadPlan {
    /// Plans a read of `shard` at `consistency`. The count it needs is taken of
    /// every replica except listeners, in sync or not, so `all` with a replica
    /// down fails rather than answering from fewer. Replicas are tried in the
    /// order the request's route affinity gives, or else in turn.
    pub fn new(
        topology: &Topology,
        shard: &ShardPlacement,
        consistency: ReadConsistency,
    ) -> Result<ReadPlan, TesseraError> {
        let voting = topology.counted_replicas(shard).count();
        let required = consistency.required(voting)?;
        let mut replicas = shard.readable();
        if !replicas.is_empty() && !affinity::order(&mut replicas) {
            let start = NEXT_READ.fetch_add(1, Ordering::Relaxed) % replicas.len();
            replicas.rotate_left(start);
        }
        Ok(ReadPlan { replicas, required })
    }
}

/// Runs a read on a shard at `consistency`, due by `deadline`; each replica
/// asked gets at most the time one replica call gets, so one that hangs
/// leaves time for the next. One replica: the next readable one (reads spread across
/// replicas), trying another when one cannot answer. More: that many answer,
/// or the read fails; of their answers the one from the replica furthest
/// along the shard's order (epoch, then sequence) is returned, so a delete
/// seen by any of them is never undone by a lagging one.
pub async fn read_shard<T, F, Fut>(
    data_planes: &DataPlanes,
    topology: &Topology,
    collection: &CollectionState,
    shard_id: ShardId,
    consistency: ReadConsistency,
    deadline: Instant,
    f: F,
) -> Result<T>
where
    F: Fn(Arc<dyn ShardClient>, ShardCall) -> Fut,
    Fut: std::future::Future<Output = Result<ReplicaAnswer<T>>>,
{
    let shard_target = target(topology, collection, shard_id);
    let ask = |peer: PeerId| -> Result<Fut> {
        let call = ShardCall {
            target: shard_target.clone(),
            deadline: deadline.min(replica_deadline()),
        };
        Ok(f(data_planes.shards(topology, peer)?, call))
    };
    let shard = collection
        .shard(shard_id)
        .ok_or_else(|| TesseraError::internal(format!("shard {shard_id} vanished")))?;
    let plan = ReadPlan::new(topology, shard, consistency)?;
    if plan.required == 1 {
        let delay = collection
            .config
            .params
            .read_fan_out_delay_ms
            .filter(|&ms| ms > 0)
            .map(Duration::from_millis);
        let mut last = TesseraError::Unavailable(format!("shard {shard_id} has no active replica"));
        let mut replicas = plan.replicas.into_iter().peekable();
        while let Some(peer) = replicas.next() {
            let first = ask(peer)?;
            let reply = match (delay, replicas.peek()) {
                (Some(delay), Some(&backup)) => {
                    let second = ask(backup)?;
                    let (reply, asked_backup) = hedged(first, second, delay).await;
                    if asked_backup {
                        replicas.next();
                    }
                    reply
                }
                _ => first.await,
            };
            match reply {
                Ok(answer) => return Ok(answer.value),
                Err(e) if replica_failed(&e) => last = e,
                Err(e) => return Err(e),
            }
        }
        return Err(last);
    }
    // Answers are taken as they come; once `required` are in (or too
    // many replicas failed for that) the rest are dropped unanswered.
    let mut pending: FuturesUnordered<_> = plan
        .replicas
        .iter()
        .map(|peer| {
            let reply = ask(*peer);
            async move { reply?.await }
        })
        .collect();
    let asked = pending.len();
    let mut answers = Vec::new();
    let mut first_error = None;
    let mut failed = 0;
    while let Some(reply) = pending.next().await {
        match reply {
            Ok(reply) => answers.push(reply),
            Err(e @ TesseraError::BadInput(_)) => return Err(e),
            Err(e) => {
                failed += 1;
                first_error.get_or_insert(e);
            }
        }
        if answers.len() >= plan.required || asked - failed < plan.required {
            break;
        }
    }
    if answers.len() < plan.required {
        let why = first_error.map(|e| format!(" ({e})")).unwrap_or_default();
        return Err(TesseraError::Unavailable(format!(
            "Consistency requirement not met: {} of {} required replicas of shard {shard_id} answered{why}",
            answers.len(),
            plan.required
        )));
    }
    Ok(answers
        .into_iter()
        .max_by_key(|answer| answer.applied)
        .expect("at least one answer")
        .value)
}

/// A failure of the replica rather than of the request: another may answer.
fn replica_failed(e: &TesseraError) -> bool {
    matches!(
        e,
        TesseraError::Unavailable(_)
            | TesseraError::Unreachable(_)
            | TesseraError::Timeout(_)
            | TesseraError::Stale(_)
    )
}

/// Qdrant's delayed fan-out: `first` alone for `delay`, then `second` too, and
/// the first answer wins unless its replica failed (then the other's counts).
/// Also says whether `second` was asked.
async fn hedged<T>(
    first: impl std::future::Future<Output = Result<T>>,
    second: impl std::future::Future<Output = Result<T>>,
    delay: Duration,
) -> (Result<T>, bool) {
    tokio::pin!(first, second);
    tokio::select! {
        reply = &mut first => return (reply, false),
        () = tokio::time::sleep(delay) => {}
    }
    let reply = tokio::select! {
        reply = &mut first => match reply {
            Err(e) if replica_failed(&e) => second.await,
            reply => reply,
        },
        reply = &mut second => match reply {
            Err(e) if replica_failed(&e) => first.await,
            reply => reply,
        },
    };
    (reply, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn answer(after_ms: u64, reply: Result<&'static str>) -> Result<&'static str> {
        tokio::time::sleep(Duration::from_millis(after_ms)).await;
        reply
    }

    #[tokio::test]
    async fn the_second_replica_is_asked_only_after_the_delay() {
        let delay = Duration::from_millis(100);
        let fast = hedged(answer(5, Ok("first")), answer(0, Ok("second")), delay).await;
        assert_eq!(fast, (Ok("first"), false));
        let slow = hedged(answer(5_000, Ok("first")), answer(10, Ok("second")), delay).await;
        assert_eq!(slow, (Ok("second"), true));
        let down = Err(TesseraError::Unavailable("down".into()));
        let failed = hedged(answer(120, down), answer(300, Ok("second")), delay).await;
        assert_eq!(failed, (Ok("second"), true));
        // A refusal of the request itself is the answer: another replica would agree.
        let refused = Err(TesseraError::bad_input("no"));
        let refusal = hedged(answer(120, refused.clone()), answer(300, Ok("x")), delay).await;
        assert_eq!(refusal, (refused, true));
    }
}
