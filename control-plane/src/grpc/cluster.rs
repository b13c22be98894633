//! The control plane's own membership and maintenance: Join, RemoveMember,
//! RemovePeer and Checkpoint, and the membership and storage figures of
//! ClusterStatus.

use std::net::SocketAddr;
use std::time::Duration;

use openraft::{BasicNode, Membership};
use tessera_proto::control_plane as cp;
use tessera_proto::convert::error_to_status;
use tessera_types::TesseraError;
use tokio::time::Instant;
use tonic::{Request, Response, Status};

use super::forward::{is_forwarded, Step};
use super::{change_reply, ControlPlaneService};
use crate::raft::{LogStore, Members, NodeId, Route};
use crate::topology::TopologyCommand;

/// How long a join may take on the leader: the new member must receive the log
/// (or a snapshot) before it is promoted.
pub const JOIN_TIMEOUT: Duration = Duration::from_secs(30);

/// What the cluster RPCs need besides the proposer.
pub struct Cluster {
    pub members: Members,
    pub log: LogStore,
}

pub(super) fn member_list(
    membership: &Membership<NodeId, BasicNode>,
) -> Vec<cp::ControlPlaneMember> {
    let voters: Vec<NodeId> = membership.voter_ids().collect();
    membership
        .nodes()
        .map(|(id, node)| cp::ControlPlaneMember {
            id: *id,
            uri: node.addr.clone(),
            voter: voters.contains(id),
        })
        .collect()
}

/// The uri a joining node asked for, or one made of the address its request
/// came from and the port it listens on.
fn joining_uri(request: &Request<cp::JoinRequest>) -> Result<String, TesseraError> {
    let message = request.get_ref();
    if let Some(uri) = message.uri.as_deref().filter(|u| !u.is_empty()) {
        let parsed = crate::parse_uri(uri).map_err(|e| TesseraError::bad_input(e.to_string()))?;
        if parsed.port_u16().unwrap_or(0) == 0 {
            return Err(TesseraError::bad_input(format!(
                "the joining node's uri {uri} must name its port"
            )));
        }
        return crate::advertised_uri(&parsed, 0)
            .map_err(|e| TesseraError::bad_input(e.to_string()));
    }
    let port = u16::try_from(message.port)
        .ok()
        .filter(|p| *p != 0)
        .ok_or_else(|| {
            TesseraError::bad_input(format!(
                "a joining node without a uri must give its port (got {})",
                message.port
            ))
        })?;
    let remote = request.remote_addr().ok_or_else(|| {
        TesseraError::bad_input("the joining node gave no uri and its address is unknown")
    })?;
    Ok(format!(
        "http://{}",
        SocketAddr::new(remote.ip().to_canonical(), port)
    ))
}

impl ControlPlaneService {
    pub(super) async fn join_member(
        &self,
        request: Request<cp::JoinRequest>,
    ) -> Result<Response<cp::JoinReply>, Status> {
        let uri = joining_uri(&request).map_err(error_to_status)?;
        let node_id = request.get_ref().node_id;
        if node_id == 0 {
            return Err(error_to_status(TesseraError::bad_input(
                "node id 0 is reserved",
            )));
        }
        let deadline = Instant::now() + JOIN_TIMEOUT;
        let forwarded_in = is_forwarded(&request);
        // The uri is settled here, where the joining node's address is known;
        // the leader receives it explicitly.
        let message = cp::JoinRequest {
            node_id,
            uri: Some(uri.clone()),
            port: request.get_ref().port,
        };
        let (proposer, members) = (&self.proposer, &self.cluster.members);
        let uri = &uri;
        let here = || async move {
            match proposer.route(deadline).await? {
                Route::Leader(leader) => Ok(Step::Forward(leader)),
                Route::Here => {
                    let joined = members.join(node_id, uri.clone(), deadline).await?;
                    let membership = proposer.metrics().membership_config.membership().clone();
                    Ok(Step::Done(cp::JoinReply {
                        uri: joined.uri,
                        voter: joined.voter,
                        members: member_list(&membership),
                    }))
                }
            }
        };
        self.lead_or_forward(
            deadline,
            forwarded_in,
            message,
            here,
            |mut c, r| async move { c.join(r).await },
        )
        .await
    }

    pub(super) async fn remove_control_plane_member(
        &self,
        request: Request<cp::RemoveMemberRequest>,
    ) -> Result<Response<cp::MembersReply>, Status> {
        let deadline = self.proposer.deadline();
        let forwarded_in = is_forwarded(&request);
        let node_id = request.get_ref().node_id;
        let (proposer, members) = (&self.proposer, &self.cluster.members);
        let here = || async move {
            match proposer.route(deadline).await? {
                Route::Leader(leader) => Ok(Step::Forward(leader)),
                Route::Here => {
                    members.remove(node_id, deadline).await?;
                    let membership = proposer.metrics().membership_config.membership().clone();
                    Ok(Step::Done(cp::MembersReply {
                        members: member_list(&membership),
                    }))
                }
            }
        };
        let message = request.into_inner();
        self.lead_or_forward(
            deadline,
            forwarded_in,
            message,
            here,
            |mut c, r| async move { c.remove_member(r).await },
        )
        .await
    }

    pub(super) async fn remove_data_peer(
        &self,
        request: Request<cp::RemovePeerRequest>,
    ) -> Result<Response<cp::ChangeReply>, Status> {
        let message = request.get_ref();
        let command = TopologyCommand::RemovePeer {
            peer_id: message.peer_id,
            force: message.force,
        };
        // Reject early, without a log entry; the state machine checks again on apply.
        let mut scratch = self.topology.borrow().clone();
        self.reject_early(command.apply(&mut scratch, 0).into_result())?;
        self.submit(command, request, change_reply, |mut c, r| async move {
            c.remove_peer(r).await
        })
        .await
    }

    pub(super) async fn take_checkpoint(
        &self,
        request: Request<cp::CheckpointRequest>,
    ) -> Result<Response<cp::CheckpointReply>, Status> {
        let deadline = self.proposer.deadline();
        let forwarded_in = is_forwarded(&request);
        let (proposer, members) = (&self.proposer, &self.cluster.members);
        let here = || async move {
            match proposer.route(deadline).await? {
                Route::Leader(leader) => Ok(Step::Forward(leader)),
                Route::Here => Ok(Step::Done(cp::CheckpointReply {
                    node_id: proposer.metrics().id,
                    snapshot_index: members.checkpoint(deadline).await?,
                })),
            }
        };
        self.lead_or_forward(
            deadline,
            forwarded_in,
            cp::CheckpointRequest {},
            here,
            |mut c, r| async move { c.checkpoint(r).await },
        )
        .await
    }
}
