//! The `tessera.control_plane.ControlPlane` service: validates requests,
//! proposes topology commands and streams the topology.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use futures::{Stream, StreamExt};
use openraft::ServerState;
use tessera_proto::control_plane as cp;
use tessera_proto::control_plane::control_plane_client::ControlPlaneClient;
use tessera_proto::control_plane::control_plane_server;
use tessera_proto::convert::{error_to_status, from_json};
use tessera_types::{
    CreateCollection, PayloadSchemaType, PeerId, TesseraError, Topology, UpdateCollection,
};
use tokio::sync::watch;
use tokio_stream::wrappers::WatchStream;
use tonic::metadata::MetadataValue;
use tonic::transport::Channel;
use tonic::{Request, Response, Status};

use crate::raft::{Proposal, Proposer};
use crate::topology::{plan_collection, validate_collection_name, Applied, TopologyCommand};

/// Marks a request a follower forwarded, so it is never forwarded twice.
const FORWARDED_HEADER: &str = "x-tessera-forwarded";

/// Last heartbeat per peer, in milliseconds since the Unix epoch. Kept out of
/// Raft: liveness is this node's own observation, not replicated state.
type Heartbeats = Arc<Mutex<HashMap<PeerId, u64>>>;

pub struct ControlPlaneService {
    proposer: Proposer,
    topology: watch::Receiver<Topology>,
    heartbeats: Heartbeats,
    /// Becomes true when the server stops, which ends every topology stream.
    shutdown: watch::Receiver<bool>,
}

impl ControlPlaneService {
    pub fn new(
        proposer: Proposer,
        topology: watch::Receiver<Topology>,
        shutdown: watch::Receiver<bool>,
    ) -> Self {
        Self {
            proposer,
            topology,
            heartbeats: Heartbeats::default(),
            shutdown,
        }
    }

    /// Proposes `command`. A request that was already forwarded once is not
    /// forwarded again, so two nodes that disagree on the leader cannot loop.
    async fn propose<T>(
        &self,
        command: TopologyCommand,
        request: &Request<T>,
    ) -> Result<Proposal, Status> {
        match self.proposer.propose(command).await {
            Ok(Proposal::Forward { .. }) if is_forwarded(request) => {
                Err(error_to_status(TesseraError::Unavailable(
                    "control-plane consensus is unavailable: the leader changed while forwarding"
                        .into(),
                )))
            }
            Ok(proposal) => Ok(proposal),
            Err(err) => Err(error_to_status(err)),
        }
    }

    fn record_heartbeat(&self, peer_id: PeerId) {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or_default();
        lock(&self.heartbeats).insert(peer_id, now);
    }
}

fn lock(heartbeats: &Heartbeats) -> std::sync::MutexGuard<'_, HashMap<PeerId, u64>> {
    // The map stays consistent even if a holder panicked: every write is one insert.
    heartbeats
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn is_forwarded<T>(request: &Request<T>) -> bool {
    request.metadata().contains_key(FORWARDED_HEADER)
}

async fn leader(uri: String) -> Result<ControlPlaneClient<Channel>, Status> {
    ControlPlaneClient::connect(uri.clone()).await.map_err(|e| {
        error_to_status(TesseraError::Unavailable(format!(
            "cannot reach the control-plane leader at {uri}: {e}"
        )))
    })
}

fn forwarded<T>(message: T) -> Request<T> {
    let mut request = Request::new(message);
    request
        .metadata_mut()
        .insert(FORWARDED_HEADER, MetadataValue::from_static("1"));
    request
}

fn change_reply(applied: Applied) -> Response<cp::ChangeReply> {
    Response::new(cp::ChangeReply {
        topology_version: applied.topology_version,
        changed: applied.changed,
    })
}

/// A fresh random peer id: never 0 (proto3's "unset") and not in use.
fn fresh_peer_id(topology: &Topology) -> PeerId {
    loop {
        let id = rand::random::<PeerId>();
        if id != 0 && !topology.peers.contains_key(&id) {
            return id;
        }
    }
}

type TopologyStream = Pin<Box<dyn Stream<Item = Result<cp::Topology, Status>> + Send>>;

#[tonic::async_trait]
impl control_plane_server::ControlPlane for ControlPlaneService {
    async fn register_peer(
        &self,
        request: Request<cp::RegisterPeerRequest>,
    ) -> Result<Response<cp::RegisterPeerReply>, Status> {
        let message = request.get_ref();
        if message.uri.is_empty() {
            return Err(error_to_status(TesseraError::bad_input(
                "peer uri must not be empty",
            )));
        }
        let node_type = cp::NodeType::try_from(message.node_type)
            .map_err(|e| error_to_status(TesseraError::bad_input(format!("node_type: {e}"))))?
            .into();
        if message.peer_id == Some(0) {
            return Err(error_to_status(TesseraError::bad_input(
                "peer id 0 is reserved",
            )));
        }
        let peer_id = {
            let topology = self.topology.borrow();
            match message.peer_id {
                Some(id) => {
                    let known = topology.peers.get(&id);
                    if known.is_some_and(|p| p.uri == message.uri && p.node_type == node_type) {
                        // Nothing changed, so no log entry.
                        let version = topology.version;
                        drop(topology);
                        self.record_heartbeat(id);
                        return Ok(Response::new(cp::RegisterPeerReply {
                            peer_id: id,
                            topology_version: version,
                        }));
                    }
                    id
                }
                None => fresh_peer_id(&topology),
            }
        };
        let command = TopologyCommand::RegisterPeer {
            peer_id,
            uri: message.uri.clone(),
            node_type,
        };
        match self.propose(command, &request).await? {
            Proposal::Applied(applied) => {
                self.record_heartbeat(peer_id);
                Ok(Response::new(cp::RegisterPeerReply {
                    peer_id,
                    topology_version: applied.topology_version,
                }))
            }
            Proposal::Forward { leader_uri } => {
                // The id picked here travels along, so the leader adds exactly it.
                let mut message = request.into_inner();
                message.peer_id = Some(peer_id);
                leader(leader_uri)
                    .await?
                    .register_peer(forwarded(message))
                    .await
            }
        }
    }

    async fn heartbeat(
        &self,
        request: Request<cp::HeartbeatRequest>,
    ) -> Result<Response<cp::HeartbeatReply>, Status> {
        let peer_id = request.get_ref().peer_id;
        if !self.topology.borrow().peers.contains_key(&peer_id) {
            return Err(error_to_status(TesseraError::not_found(format!(
                "Peer {peer_id} is not registered"
            ))));
        }
        self.record_heartbeat(peer_id);
        Ok(Response::new(cp::HeartbeatReply {}))
    }

    async fn create_collection(
        &self,
        request: Request<cp::CreateCollectionRequest>,
    ) -> Result<Response<cp::ChangeReply>, Status> {
        let message = request.get_ref();
        validate_collection_name(&message.name).map_err(error_to_status)?;
        let create: CreateCollection =
            from_json(&message.request_json, "create collection request")
                .map_err(error_to_status)?;
        // Reject early, without a log entry; the state machine checks again on apply.
        plan_collection(&self.topology.borrow(), &message.name, create.clone(), 0)
            .map_err(error_to_status)?;
        let command = TopologyCommand::CreateCollection {
            name: message.name.clone(),
            request: Box::new(create),
        };
        match self.propose(command, &request).await? {
            Proposal::Applied(applied) => Ok(change_reply(applied)),
            Proposal::Forward { leader_uri } => {
                leader(leader_uri)
                    .await?
                    .create_collection(forwarded(request.into_inner()))
                    .await
            }
        }
    }

    async fn update_collection(
        &self,
        request: Request<cp::UpdateCollectionRequest>,
    ) -> Result<Response<cp::ChangeReply>, Status> {
        let message = request.get_ref();
        let update: UpdateCollection =
            from_json(&message.request_json, "update collection request")
                .map_err(error_to_status)?;
        {
            let topology = self.topology.borrow();
            let collection = topology.collections.get(&message.name).ok_or_else(|| {
                error_to_status(TesseraError::collection_not_found(&message.name))
            })?;
            update
                .apply_to(&collection.config)
                .map_err(error_to_status)?;
        }
        let command = TopologyCommand::UpdateCollection {
            name: message.name.clone(),
            update: Box::new(update),
        };
        match self.propose(command, &request).await? {
            Proposal::Applied(applied) => Ok(change_reply(applied)),
            Proposal::Forward { leader_uri } => {
                leader(leader_uri)
                    .await?
                    .update_collection(forwarded(request.into_inner()))
                    .await
            }
        }
    }

    async fn delete_collection(
        &self,
        request: Request<cp::DeleteCollectionRequest>,
    ) -> Result<Response<cp::ChangeReply>, Status> {
        let command = TopologyCommand::DeleteCollection {
            name: request.get_ref().name.clone(),
        };
        match self.propose(command, &request).await? {
            Proposal::Applied(applied) => Ok(change_reply(applied)),
            Proposal::Forward { leader_uri } => {
                leader(leader_uri)
                    .await?
                    .delete_collection(forwarded(request.into_inner()))
                    .await
            }
        }
    }

    async fn create_payload_index(
        &self,
        request: Request<cp::CreatePayloadIndexRequest>,
    ) -> Result<Response<cp::ChangeReply>, Status> {
        let message = request.get_ref();
        let schema: PayloadSchemaType =
            from_json(&message.field_schema_json, "field_schema").map_err(error_to_status)?;
        let command = TopologyCommand::CreatePayloadIndex {
            collection: message.collection.clone(),
            field: message.field_name.clone(),
            schema,
        };
        match self.propose(command, &request).await? {
            Proposal::Applied(applied) => Ok(change_reply(applied)),
            Proposal::Forward { leader_uri } => {
                leader(leader_uri)
                    .await?
                    .create_payload_index(forwarded(request.into_inner()))
                    .await
            }
        }
    }

    async fn delete_payload_index(
        &self,
        request: Request<cp::DeletePayloadIndexRequest>,
    ) -> Result<Response<cp::ChangeReply>, Status> {
        let message = request.get_ref();
        let command = TopologyCommand::DeletePayloadIndex {
            collection: message.collection.clone(),
            field: message.field_name.clone(),
        };
        match self.propose(command, &request).await? {
            Proposal::Applied(applied) => Ok(change_reply(applied)),
            Proposal::Forward { leader_uri } => {
                leader(leader_uri)
                    .await?
                    .delete_payload_index(forwarded(request.into_inner()))
                    .await
            }
        }
    }

    type WatchTopologyStream = TopologyStream;

    async fn watch_topology(
        &self,
        _request: Request<cp::WatchTopologyRequest>,
    ) -> Result<Response<TopologyStream>, Status> {
        let heartbeats = self.heartbeats.clone();
        let mut shutdown = self.shutdown.clone();
        // WatchStream yields the current topology first, then the newest after
        // each change; intermediate versions may be skipped.
        let stream = WatchStream::new(self.topology.clone())
            .map(move |mut topology| {
                let seen = lock(&heartbeats);
                for peer in topology.peers.values_mut() {
                    peer.last_heartbeat_ms = seen.get(&peer.id).copied().unwrap_or_default();
                }
                Ok(cp::Topology::from(&topology))
            })
            .take_until(async move {
                // An error means the sender is gone, which is a shutdown as well.
                let _ = shutdown.wait_for(|stopping| *stopping).await;
            });
        Ok(Response::new(Box::pin(stream)))
    }

    async fn cluster_status(
        &self,
        _request: Request<cp::ClusterStatusRequest>,
    ) -> Result<Response<cp::ClusterStatusReply>, Status> {
        let metrics = self.proposer.metrics();
        let membership = metrics.membership_config.membership();
        let voters: Vec<_> = membership.voter_ids().collect();
        let applied = metrics.last_applied.map(|id| id.index).unwrap_or_default();
        let role = match metrics.state {
            ServerState::Leader => "Leader",
            ServerState::Follower => "Follower",
            ServerState::Candidate => "Candidate",
            ServerState::Learner => "Learner",
            ServerState::Shutdown => "Shutdown",
        };
        Ok(Response::new(cp::ClusterStatusReply {
            node_id: metrics.id,
            term: metrics.current_term,
            commit: applied,
            pending_operations: metrics
                .last_log_index
                .unwrap_or_default()
                .saturating_sub(applied),
            leader: metrics.current_leader,
            role: role.to_string(),
            is_voter: voters.contains(&metrics.id),
            members: membership
                .nodes()
                .map(|(id, node)| cp::ControlPlaneMember {
                    id: *id,
                    uri: node.addr.clone(),
                    voter: voters.contains(id),
                })
                .collect(),
        }))
    }
}
