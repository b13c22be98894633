//! Changes to the control plane's own membership, run on the leader: joins,
//! removals and promotions of learners to voters, and checkpoints.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use openraft::error::{ChangeMembershipError, ClientWriteError, RaftError};
use openraft::{BasicNode, ChangeMembers, Membership, RaftMetrics};
use tessera_types::TesseraError;
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::{NodeId, Raft};

/// How far behind the leader's log a learner may be when it is promoted; it
/// catches up on the rest as a voter within a heartbeat or two.
const CATCH_UP_LAG: u64 = 64;

/// What a join left the joining node as.
pub struct Joined {
    pub uri: String,
    pub voter: bool,
}

#[derive(Clone)]
pub struct Members {
    raft: Raft,
    /// The number of voters the group grows to; more members stay learners.
    voters: usize,
    retry_period: Duration,
    /// One change at a time on this node: each reads the membership, decides
    /// and waits for its change to commit before the next one reads it.
    lock: Arc<Mutex<()>>,
}

impl Members {
    pub fn new(raft: Raft, voters: usize, retry_period: Duration) -> Self {
        Self {
            raft,
            voters,
            retry_period,
            lock: Arc::default(),
        }
    }

    fn metrics(&self) -> RaftMetrics<NodeId, BasicNode> {
        self.raft.metrics().borrow().clone()
    }

    fn membership(&self) -> Membership<NodeId, BasicNode> {
        self.metrics().membership_config.membership().clone()
    }

    /// Admits `node_id` at `uri`: adds it as a learner, or records its new uri
    /// when it is a member already, and makes it a voter once it has caught up
    /// while the group has fewer voters than configured. Asking again is
    /// harmless, so a node that crashed while joining simply asks again.
    pub async fn join(
        &self,
        node_id: NodeId,
        uri: String,
        deadline: Instant,
    ) -> Result<Joined, TesseraError> {
        let _one_at_a_time = self.lock(deadline).await?;
        let membership = self.membership();
        match membership.get_node(&node_id) {
            Some(node) if node.addr == uri => {}
            Some(_) => {
                let nodes = BTreeMap::from([(node_id, BasicNode::new(&uri))]);
                self.change(ChangeMembers::SetNodes(nodes), deadline)
                    .await?;
            }
            None => {
                let nodes = BTreeMap::from([(node_id, BasicNode::new(&uri))]);
                self.change(ChangeMembers::AddNodes(nodes), deadline)
                    .await?;
            }
        }
        let membership = self.membership();
        if membership.voter_ids().any(|id| id == node_id) {
            return Ok(Joined { uri, voter: true });
        }
        if membership.voter_ids().count() >= self.voters {
            return Ok(Joined { uri, voter: false });
        }
        self.caught_up(node_id, deadline).await?;
        self.change(
            ChangeMembers::AddVoterIds(BTreeSet::from([node_id])),
            deadline,
        )
        .await?;
        Ok(Joined { uri, voter: true })
    }

    /// Removes a member. When a voter leaves a group that would then have
    /// fewer voters than configured, the most advanced learner becomes a voter
    /// first, so quorum never rests on fewer nodes than it has to.
    pub async fn remove(&self, node_id: NodeId, deadline: Instant) -> Result<(), TesseraError> {
        let _one_at_a_time = self.lock(deadline).await?;
        let membership = self.membership();
        if membership.get_node(&node_id).is_none() {
            return Err(TesseraError::not_found(format!(
                "control-plane member {node_id} doesn't exist"
            )));
        }
        let voters: BTreeSet<NodeId> = membership.voter_ids().collect();
        if !voters.contains(&node_id) {
            let learner = BTreeSet::from([node_id]);
            return self
                .change(ChangeMembers::RemoveNodes(learner), deadline)
                .await;
        }
        if voters.len() == 1 {
            return Err(TesseraError::bad_input(format!(
                "control-plane member {node_id} is the only voter; add another member before removing it"
            )));
        }
        if voters.len() - 1 < self.voters {
            if let Some(learner) = self.most_advanced_learner(&membership) {
                self.caught_up(learner, deadline).await?;
                let promoted = BTreeSet::from([learner]);
                self.change(ChangeMembers::AddVoterIds(promoted), deadline)
                    .await?;
            }
        }
        let removed = BTreeSet::from([node_id]);
        self.change(ChangeMembers::RemoveVoters(removed), deadline)
            .await
    }

    /// Snapshots the state machine now; returns the last log index it covers.
    pub async fn checkpoint(&self, deadline: Instant) -> Result<u64, TesseraError> {
        let applied = self.metrics().last_applied;
        self.raft
            .trigger()
            .snapshot()
            .await
            .map_err(|fatal| TesseraError::Unavailable(format!("Raft stopped: {fatal}")))?;
        let wait = self
            .raft
            .wait(Some(deadline.saturating_duration_since(Instant::now())));
        let metrics = wait
            .metrics(|m| m.snapshot >= applied, "snapshot of the applied log")
            .await
            .map_err(|e| {
                TesseraError::Unavailable(format!("the snapshot was not taken in time: {e}"))
            })?;
        Ok(metrics.snapshot.map(|id| id.index).unwrap_or_default())
    }

    async fn lock(
        &self,
        deadline: Instant,
    ) -> Result<tokio::sync::MutexGuard<'_, ()>, TesseraError> {
        tokio::time::timeout_at(deadline, self.lock.lock())
            .await
            .map_err(|_| {
                TesseraError::Unavailable(
                    "another control-plane membership change is still in progress".into(),
                )
            })
    }

    fn most_advanced_learner(&self, membership: &Membership<NodeId, BasicNode>) -> Option<NodeId> {
        let replication = self.metrics().replication.unwrap_or_default();
        membership
            .learner_ids()
            .max_by_key(|id| replication.get(id).copied().flatten().map(|l| l.index))
    }

    /// Waits until the leader's replication to `node_id` is within
    /// CATCH_UP_LAG of its log, so promoting it does not stall commits.
    async fn caught_up(&self, node_id: NodeId, deadline: Instant) -> Result<(), TesseraError> {
        let wait = self
            .raft
            .wait(Some(deadline.saturating_duration_since(Instant::now())));
        let caught_up = |m: &RaftMetrics<NodeId, BasicNode>| {
            // Not leading any more: the change that follows reports that.
            let Some(replication) = &m.replication else {
                return true;
            };
            let matched = replication
                .get(&node_id)
                .copied()
                .flatten()
                .map(|l| l.index);
            matches!((matched, m.last_log_index), (Some(a), Some(b)) if b.saturating_sub(a) <= CATCH_UP_LAG)
        };
        wait.metrics(caught_up, "learner caught up")
            .await
            .map(drop)
            .map_err(|_| {
                TesseraError::Unavailable(format!(
                    "control-plane member {node_id} did not catch up with the log in time"
                ))
            })
    }

    /// Commits one membership change, waiting while an earlier one finishes.
    async fn change(
        &self,
        changes: ChangeMembers<NodeId, BasicNode>,
        deadline: Instant,
    ) -> Result<(), TesseraError> {
        loop {
            let change = self.raft.change_membership(changes.clone(), false);
            let result = tokio::time::timeout_at(deadline, change).await.map_err(|_| {
                TesseraError::Unavailable(
                    "control-plane consensus is unavailable: the membership change was not committed in time"
                        .into(),
                )
            })?;
            match result {
                Ok(_) => return Ok(()),
                Err(RaftError::APIError(ClientWriteError::ChangeMembershipError(
                    ChangeMembershipError::InProgress(_),
                ))) if Instant::now() + self.retry_period < deadline => {
                    tokio::time::sleep(self.retry_period).await;
                }
                Err(RaftError::APIError(ClientWriteError::ChangeMembershipError(e))) => {
                    return Err(TesseraError::bad_input(e.to_string()));
                }
                Err(RaftError::APIError(ClientWriteError::ForwardToLeader(_))) => {
                    return Err(TesseraError::Unavailable(
                        "control-plane consensus is unavailable: leadership moved during the membership change"
                            .into(),
                    ));
                }
                Err(RaftError::Fatal(fatal)) => {
                    return Err(TesseraError::Unavailable(format!("Raft stopped: {fatal}")));
                }
            }
        }
    }
}
