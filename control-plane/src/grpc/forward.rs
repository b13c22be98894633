//! Leader-only requests: run on this node when it leads, otherwise forwarded to
//! the leader. While the leader is unreachable (it may have just died) the
//! request is routed again until the deadline, so a change sent during an
//! election waits for the new leader instead of failing.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tessera_proto::control_plane::control_plane_client::ControlPlaneClient;
use tessera_proto::convert::error_to_status;
use tessera_proto::status::is_unreachable;
use tessera_types::TesseraError;
use tokio::time::Instant;
use tonic::metadata::MetadataValue;
use tonic::transport::Channel;
use tonic::{Request, Response, Status};

use super::ControlPlaneService;
use crate::raft::Proposal;
use crate::topology::{Applied, TopologyCommand};
use tessera_runtime::internal_auth::{internal, InternalChannel};

/// Marks a request a follower forwarded, so it is never forwarded twice.
const FORWARDED_HEADER: &str = "x-tessera-forwarded";

const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// How long a follower waits for the leader to take a heartbeat: within the
/// data node's attempt, so it can still try another member.
const HEARTBEAT_FORWARD_TIMEOUT: Duration = Duration::from_millis(400);

/// What this node does with a leader-only request.
pub(super) enum Step<T> {
    Done(T),
    /// Send it to the leader at this uri.
    Forward(String),
}

/// One lazily connected channel per leader uri, reused by every forward.
#[derive(Clone, Default)]
pub(super) struct Leaders(Arc<Mutex<HashMap<String, Channel>>>);

impl Leaders {
    fn channel(&self, uri: &str) -> Result<Channel, Status> {
        // Each write is one insert, so the map is consistent even after a panic.
        let mut channels = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(channel) = channels.get(uri) {
            return Ok(channel.clone());
        }
        let channel = tessera_runtime::tls::endpoint(uri)
            .map_err(|e| Status::internal(format!("the leader: {e}")))?
            .connect_timeout(CONNECT_TIMEOUT)
            .connect_lazy();
        channels.insert(uri.to_string(), channel.clone());
        Ok(channel)
    }
}

pub(super) fn is_forwarded<T>(request: &Request<T>) -> bool {
    request.metadata().contains_key(FORWARDED_HEADER)
}

impl ControlPlaneService {
    /// Runs `here` until it is done or names a leader, then sends `message`
    /// there with `forward`. A request that was forwarded to this node is not
    /// forwarded again, so two nodes that disagree on the leader cannot loop;
    /// its sender routes it again instead.
    pub(super) async fn lead_or_forward<T, M, H, HF, F, FF>(
        &self,
        deadline: Instant,
        forwarded_in: bool,
        message: M,
        here: H,
        forward: F,
    ) -> Result<Response<T>, Status>
    where
        M: Clone,
        H: Fn() -> HF,
        HF: Future<Output = Result<Step<T>, TesseraError>>,
        F: Fn(ControlPlaneClient<InternalChannel>, Request<M>) -> FF,
        FF: Future<Output = Result<Response<T>, Status>>,
    {
        loop {
            let leader_uri = match here().await.map_err(error_to_status)? {
                Step::Done(reply) => return Ok(Response::new(reply)),
                Step::Forward(uri) => uri,
            };
            if forwarded_in {
                return Err(error_to_status(TesseraError::Unavailable(
                    "control-plane consensus is unavailable: the leader changed while forwarding"
                        .into(),
                )));
            }
            let client = ControlPlaneClient::new(internal(self.leaders.channel(&leader_uri)?));
            let mut request = Request::new(message.clone());
            request
                .metadata_mut()
                .insert(FORWARDED_HEADER, MetadataValue::from_static("1"));
            request.set_timeout(deadline.saturating_duration_since(Instant::now()));
            let status = match tokio::time::timeout_at(deadline, forward(client, request)).await {
                Ok(Err(status)) if is_unreachable(&status) => status,
                Ok(answered) => return answered,
                Err(_) => {
                    let why = format!("the leader at {leader_uri} did not answer in time");
                    return Err(error_to_status(self.proposer.unavailable(&why)));
                }
            };
            let why = format!(
                "the leader at {leader_uri} is unreachable ({})",
                status.message()
            );
            self.proposer
                .wait_to_retry(deadline, &why)
                .await
                .map_err(error_to_status)?;
        }
    }

    /// Proposes `command` on this node or at the leader; `reply` turns the
    /// applied outcome into the RPC's answer.
    pub(super) async fn submit<T, M, F, FF>(
        &self,
        command: TopologyCommand,
        request: Request<M>,
        reply: impl Fn(Applied) -> T,
        forward: F,
    ) -> Result<Response<T>, Status>
    where
        M: Clone,
        F: Fn(ControlPlaneClient<InternalChannel>, Request<M>) -> FF,
        FF: Future<Output = Result<Response<T>, Status>>,
    {
        let deadline = self.proposer.deadline();
        let forwarded_in = is_forwarded(&request);
        let (proposer, command, reply) = (&self.proposer, &command, &reply);
        let here = || async move {
            Ok(match proposer.propose(command.clone(), deadline).await? {
                Proposal::Applied(applied) => Step::Done(reply(applied)),
                Proposal::Forward { leader_uri } => Step::Forward(leader_uri),
            })
        };
        self.lead_or_forward(deadline, forwarded_in, request.into_inner(), here, forward)
            .await
    }
}

impl ControlPlaneService {
    /// Passes a heartbeat on to the leader, in the background: liveness is
    /// the leader's call, and a lost heartbeat is harmless (the next follows).
    /// Passes a heartbeat on to the leader, when another node leads, and
    /// waits for it: a heartbeat this node cannot deliver is refused, so the
    /// data node sends it through another member. Says whether a leader took
    /// it (none may be known: an election runs, or the quorum is lost).
    pub(super) async fn forward_heartbeat(
        &self,
        peer_id: tessera_types::PeerId,
    ) -> Result<bool, Status> {
        let metrics = self.proposer.metrics();
        let Some(leader) = metrics.current_leader else {
            return Ok(false);
        };
        if leader == metrics.id {
            return Ok(metrics.state == openraft::ServerState::Leader);
        }
        let Some(node) = metrics.membership_config.membership().get_node(&leader) else {
            return Ok(false);
        };
        let channel = self.leaders.channel(&node.addr)?;
        let mut request = Request::new(tessera_proto::control_plane::HeartbeatRequest { peer_id });
        request
            .metadata_mut()
            .insert(FORWARDED_HEADER, MetadataValue::from_static("1"));
        request.set_timeout(HEARTBEAT_FORWARD_TIMEOUT);
        let forwarded = tokio::time::timeout(
            HEARTBEAT_FORWARD_TIMEOUT,
            ControlPlaneClient::new(internal(channel)).heartbeat(request),
        )
        .await;
        match forwarded {
            Ok(Ok(reply)) => Ok(reply.into_inner().leader_took_it),
            Ok(Err(status)) => Err(Status::unavailable(format!(
                "the leader did not take the heartbeat: {}",
                status.message()
            ))),
            Err(_) => Err(Status::unavailable("the leader did not answer in time")),
        }
    }
}
