//! The leader's replica reconciler: turns what it observes (heartbeats) and
//! what collections ask for (replication factor, listeners) into replica
//! changes through Raft. It marks replicas of silent peers Dead (failing the
//! primary over), starts recovery of Dead replicas whose peer is back, drops
//! the replicas of a peer silent for good (`lost_after`) so that new ones are
//! made on live peers, and adds or removes replicas to match
//! `replication_factor` (a new copy going to a zone the shard lacks, when
//! there is one). Recovery itself is driven by the recovering data node.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use openraft::ServerState;
use tessera_types::{
    CollectionState, NodeType, PeerId, ReplicaState, ReplicaStateChange, ShardPlacement, Topology,
};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::grpc::Heartbeats;
use crate::raft::{Proposal, Proposer};
use crate::topology::TopologyCommand;

/// How often the reconciler looks.
const PERIOD: Duration = Duration::from_millis(250);

#[derive(Debug, Clone)]
pub struct ReconcilerOptions {
    /// A data node silent for this long is taken as down.
    pub dead_after: Duration,
    /// ... and for this long as gone for good: its replicas are made again
    /// on live nodes, and it holds none if it comes back.
    pub lost_after: Duration,
}

impl Default for ReconcilerOptions {
    fn default() -> Self {
        Self {
            dead_after: Duration::from_millis(2_000),
            lost_after: Duration::from_secs(300),
        }
    }
}

pub async fn run(
    proposer: Proposer,
    topology: watch::Receiver<Topology>,
    heartbeats: Heartbeats,
    mut shutdown: watch::Receiver<bool>,
    options: ReconcilerOptions,
) {
    let mut leader_since: Option<Instant> = None;
    // Shards reported as having lost every in-sync copy, so each is logged once.
    let mut reported: BTreeSet<(String, u32)> = BTreeSet::new();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(PERIOD) => {}
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
        if proposer.metrics().state != ServerState::Leader {
            leader_since = None;
            continue;
        }
        let since = *leader_since.get_or_insert_with(Instant::now);
        // A new leader has heard no heartbeats yet: it waits one period of
        // silence before calling anyone down.
        let knows_liveness = since.elapsed() >= options.dead_after;
        let current = topology.borrow().clone();
        let alive = |peer: PeerId| {
            heartbeats
                .last_seen(peer)
                .is_some_and(|at| at.elapsed() < options.dead_after)
        };
        let liveness: BTreeMap<PeerId, bool> = current
            .peers
            .keys()
            .map(|&p| (p, !knows_liveness || alive(p)))
            .collect();
        // A peer this leader has not heard from counts as silent since it
        // became leader, so a new leader waits `lost_after` before it calls
        // anyone lost.
        let lost: BTreeSet<PeerId> = current
            .peers
            .keys()
            .copied()
            .filter(|&p| {
                let silent = heartbeats
                    .last_seen(p)
                    .map_or(since.elapsed(), |at| at.elapsed().min(since.elapsed()));
                silent >= options.lost_after
            })
            .collect();
        let now_stranded: BTreeSet<(String, u32)> = stranded(&current, &lost).into_iter().collect();
        for (collection, shard_id) in now_stranded.difference(&reported) {
            tracing::error!(
                collection,
                shard_id,
                "every in-sync copy of this shard was on data nodes lost for good: it is \
                 not recreated empty; bring one of them back or restore the shard from a snapshot"
            );
        }
        reported = now_stranded;
        for command in plan(&current, &liveness, knows_liveness, &lost) {
            let deadline = proposer.deadline();
            match proposer.propose(command.clone(), deadline).await {
                Ok(Proposal::Applied(_)) => tracing::info!(?command, "replica change applied"),
                Ok(Proposal::Forward { .. }) => break,
                Err(e) => tracing::debug!(error = %e, ?command, "replica change refused"),
            }
        }
    }
}

fn change(
    collection: &CollectionState,
    shard: &ShardPlacement,
    peer_id: PeerId,
    from: ReplicaState,
    to: ReplicaState,
) -> TopologyCommand {
    TopologyCommand::SetReplicaStates {
        changes: vec![ReplicaStateChange {
            collection: collection.name.clone(),
            incarnation: collection.incarnation,
            shard_id: shard.shard_id,
            peer_id,
            from,
            to,
        }],
        epoch: None,
    }
}

/// Shards (collection, shard id) whose in-sync copies are all on `lost`
/// peers: nothing can recover them, and an empty copy would lose their data
/// silently.
pub fn stranded(topology: &Topology, lost: &BTreeSet<PeerId>) -> Vec<(String, u32)> {
    topology
        .collections
        .values()
        .flat_map(|c| c.shards.iter().map(move |s| (c, s)))
        .filter(|(_, shard)| {
            let in_sync = shard
                .replicas
                .iter()
                .filter(|r| r.state.is_source_of_truth());
            in_sync.clone().next().is_some() && in_sync.clone().all(|r| lost.contains(&r.peer_id))
        })
        .map(|(c, shard)| (c.name.clone(), shard.shard_id))
        .collect()
}

/// The replica changes the topology needs, given which peers are alive and
/// which are lost for good. Pure, so every rule is tested without a cluster.
pub fn plan(
    topology: &Topology,
    alive: &BTreeMap<PeerId, bool>,
    knows_liveness: bool,
    lost: &BTreeSet<PeerId>,
) -> Vec<TopologyCommand> {
    let is_alive = |p: PeerId| alive.get(&p).copied().unwrap_or(false);
    let mut load: BTreeMap<PeerId, usize> = topology.peers.keys().map(|&p| (p, 0)).collect();
    for shard in topology.collections.values().flat_map(|c| &c.shards) {
        for r in &shard.replicas {
            *load.entry(r.peer_id).or_default() += 1;
        }
    }
    let mut commands = Vec::new();
    for collection in topology.collections.values() {
        for shard in &collection.shards {
            // A shard in a user's restore has no copy to recover or copy from;
            // its restore decides which replicas are in sync.
            let restoring = !shard
                .state_of(shard.primary)
                .is_some_and(|s| s.is_source_of_truth());
            let rf = collection.replicas_wanted(shard);
            // A shard in transfer has one copy more for a while, on purpose.
            let in_transfer = collection
                .transfers
                .iter()
                .any(|t| t.shard_id == shard.shard_id);
            let active = shard
                .replicas
                .iter()
                .filter(|r| r.state.is_source_of_truth())
                .count();
            for r in &shard.replicas {
                let up = is_alive(r.peer_id);
                if knows_liveness && !up && r.state != ReplicaState::Dead {
                    // The last in-sync copy stays Active: it still has every write.
                    if !(r.state.is_source_of_truth() && active <= 1) {
                        commands.push(change(
                            collection,
                            shard,
                            r.peer_id,
                            r.state,
                            ReplicaState::Dead,
                        ));
                    }
                } else if up
                    && r.state == ReplicaState::Dead
                    && is_alive(shard.primary)
                    && !restoring
                {
                    commands.push(change(
                        collection,
                        shard,
                        r.peer_id,
                        ReplicaState::Dead,
                        ReplicaState::Recovery,
                    ));
                }
            }
            if restoring {
                continue;
            }
            let add = |peer_id: PeerId| TopologyCommand::AddReplica {
                collection: collection.name.clone(),
                incarnation: collection.incarnation,
                shard_id: shard.shard_id,
                peer_id,
                state: ReplicaState::Recovery,
            };
            // Every live listener holds every shard.
            for (&peer, p) in &topology.peers {
                if p.node_type == NodeType::Listener
                    && is_alive(peer)
                    && shard.replica(peer).is_none()
                {
                    commands.push(add(peer));
                }
            }
            let normal: Vec<_> = shard
                .replicas
                .iter()
                .filter(|r| !topology.is_listener(r.peer_id))
                .collect();
            if in_transfer {
                continue;
            }
            // A Dead copy on a peer lost for good is dropped while an in-sync
            // copy lives on a live peer and the primary is up; the rule below
            // then places a new one on a live peer, recovered from the primary.
            // With no live in-sync copy, the stale copy may be all that is left.
            let in_sync_elsewhere = is_alive(shard.primary)
                && shard
                    .replicas
                    .iter()
                    .any(|r| r.state.is_source_of_truth() && is_alive(r.peer_id));
            if let Some(gone) = normal
                .iter()
                .find(|r| r.state == ReplicaState::Dead && lost.contains(&r.peer_id))
                .filter(|_| in_sync_elsewhere)
            {
                commands.push(TopologyCommand::RemoveReplica {
                    collection: collection.name.clone(),
                    incarnation: collection.incarnation,
                    shard_id: shard.shard_id,
                    peer_id: gone.peer_id,
                });
                continue;
            }
            if normal.len() < rf {
                // A zone the shard has no copy in first, then the fewest replicas.
                let zones_held: BTreeSet<&str> = normal
                    .iter()
                    .filter_map(|r| topology.peers.get(&r.peer_id)?.zone.as_deref())
                    .collect();
                let candidate = topology
                    .peers
                    .values()
                    .filter(|p| {
                        p.node_type == NodeType::Normal
                            && is_alive(p.id)
                            && shard.replica(p.id).is_none()
                    })
                    .min_by_key(|p| {
                        let zone_held = p.zone.as_deref().is_some_and(|z| zones_held.contains(z));
                        (zone_held, load[&p.id], p.id)
                    });
                if let Some(peer) = candidate {
                    *load.get_mut(&peer.id).expect("peer has a load") += 1;
                    commands.push(add(peer.id));
                }
            } else if normal.len() > rf {
                // Drop the least useful copy: out of sync first, never the primary.
                let rank = |s: ReplicaState| match s {
                    ReplicaState::Dead => 0,
                    ReplicaState::Recovery | ReplicaState::ManualRecovery => 1,
                    ReplicaState::Partial | ReplicaState::Initializing => 2,
                    _ => 3,
                };
                if let Some(victim) = normal
                    .iter()
                    .filter(|r| r.peer_id != shard.primary)
                    .min_by_key(|r| (rank(r.state), std::cmp::Reverse(r.peer_id)))
                {
                    commands.push(TopologyCommand::RemoveReplica {
                        collection: collection.name.clone(),
                        incarnation: collection.incarnation,
                        shard_id: shard.shard_id,
                        peer_id: victim.peer_id,
                    });
                }
            }
        }
    }
    commands
}

#[cfg(test)]
mod tests;
