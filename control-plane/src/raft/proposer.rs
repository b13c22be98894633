//! Turns topology commands into committed Raft entries, or tells the caller
//! which node to forward them to.

use std::time::Duration;

use openraft::error::{ClientWriteError, RaftError};
use openraft::RaftMetrics;
use tessera_types::TesseraError;
use tokio::time::Instant;

use super::{NodeId, Raft};
use crate::topology::{Applied, TopologyCommand};

/// How long a proposal may wait for a leader and a quorum.
pub const PROPOSAL_TIMEOUT: Duration = Duration::from_secs(5);

pub enum Proposal {
    Applied(Applied),
    /// Another node leads: the caller forwards its request to this uri.
    Forward {
        leader_uri: String,
    },
}

#[derive(Clone)]
pub struct Proposer {
    raft: Raft,
    node_id: NodeId,
    /// How long to wait before asking again while an election is under way.
    retry_period: Duration,
}

impl Proposer {
    pub fn new(raft: Raft, node_id: NodeId, retry_period: Duration) -> Self {
        Self {
            raft,
            node_id,
            retry_period,
        }
    }

    pub fn metrics(&self) -> RaftMetrics<NodeId, openraft::BasicNode> {
        self.raft.metrics().borrow().clone()
    }

    pub async fn propose(&self, command: TopologyCommand) -> Result<Proposal, TesseraError> {
        let deadline = Instant::now() + PROPOSAL_TIMEOUT;
        loop {
            let write = self.raft.client_write(command.clone());
            let result = tokio::time::timeout_at(deadline, write)
                .await
                .map_err(|_| unavailable("no leader committed the change"))?;
            match result {
                Ok(reply) => return reply.data.into_result().map(Proposal::Applied),
                Err(RaftError::APIError(ClientWriteError::ForwardToLeader(forward))) => {
                    match (forward.leader_id, forward.leader_node) {
                        (Some(leader), Some(node)) if leader != self.node_id => {
                            return Ok(Proposal::Forward {
                                leader_uri: node.addr,
                            });
                        }
                        // No leader yet: an election is under way, so ask again shortly.
                        _ if Instant::now() + self.retry_period < deadline => {
                            tokio::time::sleep(self.retry_period).await;
                        }
                        _ => return Err(unavailable("no leader was elected")),
                    }
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
}

fn unavailable(why: &str) -> TesseraError {
    TesseraError::Unavailable(format!(
        "control-plane consensus is unavailable: {why} within {}s",
        PROPOSAL_TIMEOUT.as_secs()
    ))
}
