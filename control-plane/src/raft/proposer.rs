//! Turns topology commands into committed Raft entries, or tells the caller
//! which node to forward them to, and decides where other leader-only requests
//! run. Everything here gives up at a deadline with `UNAVAILABLE`, so callers
//! learn quickly that consensus is unavailable instead of waiting on it.

use std::time::Duration;

use openraft::error::{ClientWriteError, RaftError};
use openraft::{BasicNode, Membership, RaftMetrics, ServerState};
use tessera_types::TesseraError;
use tokio::time::Instant;

use super::network::Contacts;
use super::{NodeId, Raft};
use crate::topology::{Applied, TopologyCommand};

pub enum Proposal {
    Applied(Applied),
    /// Another node leads: the caller forwards its request to this uri.
    Forward {
        leader_uri: String,
    },
}

/// Where a leader-only request runs.
pub enum Route {
    /// This node leads and reaches a quorum.
    Here,
    /// Another node leads, at this uri.
    Leader(String),
}

#[derive(Clone)]
pub struct Proposer {
    raft: Raft,
    node_id: NodeId,
    contacts: Contacts,
    /// How long to wait before asking again while an election is under way.
    retry_period: Duration,
    /// How long a request may wait for a leader and a quorum.
    timeout: Duration,
    /// A voter that answered no Raft RPC for this long counts as unreachable:
    /// the leader lease, after which followers may elect another leader.
    lease: Duration,
}

impl Proposer {
    pub fn new(
        raft: Raft,
        node_id: NodeId,
        contacts: Contacts,
        retry_period: Duration,
        timeout: Duration,
        lease: Duration,
    ) -> Self {
        Self {
            raft,
            node_id,
            contacts,
            retry_period,
            timeout,
            lease,
        }
    }

    pub fn metrics(&self) -> RaftMetrics<NodeId, BasicNode> {
        self.raft.metrics().borrow().clone()
    }

    /// When a request that arrives now must be answered.
    pub fn deadline(&self) -> Instant {
        Instant::now() + self.timeout
    }

    /// Sleeps one retry period when that still ends before `deadline`;
    /// otherwise fails with `why`.
    pub async fn wait_to_retry(&self, deadline: Instant, why: &str) -> Result<(), TesseraError> {
        if Instant::now() + self.retry_period >= deadline {
            return Err(self.unavailable(why));
        }
        tokio::time::sleep(self.retry_period).await;
        Ok(())
    }

    /// The error every request gets when consensus cannot serve it in time.
    pub fn unavailable(&self, why: &str) -> TesseraError {
        TesseraError::Unavailable(format!(
            "control-plane consensus is unavailable: {why} (waited {:?})",
            self.timeout
        ))
    }

    pub async fn propose(
        &self,
        command: TopologyCommand,
        deadline: Instant,
    ) -> Result<Proposal, TesseraError> {
        loop {
            if let Route::Leader(leader_uri) = self.route(deadline).await? {
                return Ok(Proposal::Forward { leader_uri });
            }
            let write = self.raft.client_write(command.clone());
            let result = tokio::time::timeout_at(deadline, write)
                .await
                .map_err(|_| {
                    self.unavailable(
                        "the change was not committed in time; it may still take effect once a quorum is back",
                    )
                })?;
            match result {
                Ok(reply) => return reply.data.into_result().map(Proposal::Applied),
                // Leadership moved between the check and the write: route again.
                Err(RaftError::APIError(ClientWriteError::ForwardToLeader(_))) => {
                    self.wait_to_retry(deadline, "leadership kept moving")
                        .await?;
                }
                Err(RaftError::APIError(ClientWriteError::ChangeMembershipError(e))) => {
                    return Err(TesseraError::internal(e));
                }
                Err(RaftError::Fatal(fatal)) => {
                    return Err(TesseraError::Unavailable(format!(
                        "control-plane consensus is unavailable: {fatal}"
                    )));
                }
            }
        }
    }

    /// Waits until this node leads and reaches a quorum, or knows which other
    /// node leads. A node that has not joined a group fails at once: no
    /// leader will ever be known there.
    pub async fn route(&self, deadline: Instant) -> Result<Route, TesseraError> {
        loop {
            let metrics = self.metrics();
            let membership = metrics.membership_config.membership();
            // Metrics trail Raft's state a little, so ask Raft itself before
            // concluding this node is not in a group.
            if membership.voter_ids().next().is_none() && !self.is_initialized().await? {
                return Err(TesseraError::Unavailable(
                    "control-plane consensus is unavailable: this node has not joined a control-plane group yet"
                        .into(),
                ));
            }
            let why = match metrics.current_leader {
                Some(leader) if leader == self.node_id => {
                    if metrics.state == ServerState::Leader && self.reaches_quorum(membership) {
                        return Ok(Route::Here);
                    }
                    "the leader cannot reach a quorum of voters"
                }
                Some(leader) => match membership.get_node(&leader) {
                    Some(node) => return Ok(Route::Leader(node.addr.clone())),
                    None => "the last known leader is no longer a member",
                },
                None => "no leader was elected",
            };
            self.wait_to_retry(deadline, why).await?;
        }
    }

    async fn is_initialized(&self) -> Result<bool, TesseraError> {
        self.raft.is_initialized().await.map_err(|fatal| {
            TesseraError::Unavailable(format!("control-plane consensus is unavailable: {fatal}"))
        })
    }

    /// Whether a majority of every voter set (two during a membership change)
    /// answered this node within the lease; this node counts for itself.
    fn reaches_quorum(&self, membership: &Membership<NodeId, BasicNode>) -> bool {
        membership.get_joint_config().iter().all(|voters| {
            let reached = voters
                .iter()
                .filter(|id| {
                    **id == self.node_id || self.contacts.answered_within(**id, self.lease)
                })
                .count();
            reached * 2 > voters.len()
        })
    }
}
