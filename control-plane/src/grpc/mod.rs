//! The `tessera.control_plane.ControlPlane` service: validates requests,
//! proposes topology commands and streams the topology.

mod cluster;
mod forward;
mod heartbeats;

use std::pin::Pin;

use futures::{Stream, StreamExt};
use openraft::ServerState;
use tessera_proto::control_plane as cp;
use tessera_proto::control_plane::control_plane_server;
use tessera_proto::convert::{error_to_status, from_msgpack};
use tessera_types::{
    AliasOperation, ClusterOperation, CreateCollection, PayloadFieldSchema, PeerId, QuotaConfig,
    ShardRouting, TesseraError, Topology, UpdateCollection,
};
use tokio::sync::watch;
use tokio_stream::wrappers::WatchStream;
use tonic::{Request, Response, Status};

pub use cluster::{Cluster, JOIN_TIMEOUT};
pub use heartbeats::Heartbeats;

use crate::raft::Proposer;
use crate::topology::{plan_collection, validate_collection_name, Applied, TopologyCommand};

pub struct ControlPlaneService {
    proposer: Proposer,
    topology: watch::Receiver<Topology>,
    heartbeats: Heartbeats,
    /// Becomes true when the server stops, which ends every topology stream.
    shutdown: watch::Receiver<bool>,
    cluster: Cluster,
    leaders: forward::Leaders,
}

impl ControlPlaneService {
    pub fn new(
        proposer: Proposer,
        topology: watch::Receiver<Topology>,
        shutdown: watch::Receiver<bool>,
        cluster: Cluster,
        heartbeats: Heartbeats,
    ) -> Self {
        Self {
            proposer,
            topology,
            heartbeats,
            shutdown,
            cluster,
            leaders: forward::Leaders::default(),
        }
    }

    /// Rejects a request before it reaches the log when `check` failed on the
    /// leader. A follower's topology may trail the leader's, so there a failed
    /// check is left to the leader; the state machine checks again on apply.
    fn reject_early<T>(&self, check: Result<T, TesseraError>) -> Result<(), Status> {
        match check {
            Err(err) if self.proposer.metrics().state == ServerState::Leader => {
                Err(error_to_status(err))
            }
            _ => Ok(()),
        }
    }

    fn record_heartbeat(&self, peer_id: PeerId) {
        self.heartbeats.record(peer_id);
    }
}

fn change_reply(applied: Applied) -> cp::ChangeReply {
    cp::ChangeReply {
        topology_version: applied.topology_version,
        changed: applied.changed,
    }
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
        let zone = (!message.zone.is_empty()).then(|| message.zone.clone());
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
                    let leads = topology
                        .collections
                        .values()
                        .flat_map(|c| &c.shards)
                        .any(|s| s.primary == id);
                    if !leads
                        && known.is_some_and(|p| {
                            p.uri == message.uri && p.node_type == node_type && p.zone == zone
                        })
                    {
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
            zone,
        };
        // The id picked here travels along, so a leader adds exactly it.
        let (metadata, extensions, mut message) = request.into_parts();
        message.peer_id = Some(peer_id);
        let request = Request::from_parts(metadata, extensions, message);
        let reply = |applied: Applied| {
            self.record_heartbeat(peer_id);
            cp::RegisterPeerReply {
                peer_id,
                topology_version: applied.topology_version,
            }
        };
        self.submit(command, request, reply, |mut c, r| async move {
            c.register_peer(r).await
        })
        .await
    }

    async fn heartbeat(
        &self,
        request: Request<cp::HeartbeatRequest>,
    ) -> Result<Response<cp::HeartbeatReply>, Status> {
        let peer_id = request.get_ref().peer_id;
        if self.topology.borrow().removed_peers.contains(&peer_id) {
            return Err(error_to_status(crate::topology::removed(peer_id)));
        }
        if !self.topology.borrow().peers.contains_key(&peer_id) {
            return Err(error_to_status(TesseraError::not_found(format!(
                "Peer {peer_id} is not registered"
            ))));
        }
        self.record_heartbeat(peer_id);
        // The leader decides liveness, so it must hear every heartbeat: a
        // member that cannot pass it on says so, and the node tries another.
        let leader_took_it = if forward::is_forwarded(&request) {
            true
        } else {
            self.forward_heartbeat(peer_id).await?
        };
        Ok(Response::new(cp::HeartbeatReply { leader_took_it }))
    }

    async fn set_replica_states(
        &self,
        request: Request<cp::SetReplicaStatesRequest>,
    ) -> Result<Response<cp::ChangeReply>, Status> {
        let message = request.get_ref();
        let changes = message
            .changes
            .iter()
            .map(|c| tessera_types::ReplicaStateChange {
                collection: c.collection.clone(),
                incarnation: c.incarnation,
                shard_id: c.shard_id,
                peer_id: c.peer_id,
                from: c.from().into(),
                to: c.to().into(),
            })
            .collect();
        let command = TopologyCommand::SetReplicaStates {
            changes,
            epoch: message.epoch,
        };
        self.submit(command, request, change_reply, |mut c, r| async move {
            c.set_replica_states(r).await
        })
        .await
    }

    async fn create_collection(
        &self,
        request: Request<cp::CreateCollectionRequest>,
    ) -> Result<Response<cp::ChangeReply>, Status> {
        let message = request.get_ref();
        validate_collection_name(&message.name).map_err(error_to_status)?;
        let create: CreateCollection =
            from_msgpack(&message.request, "create collection request").map_err(error_to_status)?;
        // Reject early, without a log entry; the state machine checks again on apply.
        self.reject_early(plan_collection(
            &self.topology.borrow(),
            &message.name,
            create.clone(),
            0,
        ))?;
        let command = TopologyCommand::CreateCollection {
            name: message.name.clone(),
            request: Box::new(create),
            routing: ShardRouting::Ring,
        };
        self.submit(command, request, change_reply, |mut c, r| async move {
            c.create_collection(r).await
        })
        .await
    }

    async fn update_collection(
        &self,
        request: Request<cp::UpdateCollectionRequest>,
    ) -> Result<Response<cp::ChangeReply>, Status> {
        let message = request.get_ref();
        let update: UpdateCollection =
            from_msgpack(&message.request, "update collection request").map_err(error_to_status)?;
        self.reject_early({
            let topology = self.topology.borrow();
            topology
                .collections
                .get(&message.name)
                .ok_or_else(|| TesseraError::collection_not_found(&message.name))
                .and_then(|collection| update.apply_to(&collection.config))
        })?;
        let command = TopologyCommand::UpdateCollection {
            name: message.name.clone(),
            update: Box::new(update),
        };
        self.submit(command, request, change_reply, |mut c, r| async move {
            c.update_collection(r).await
        })
        .await
    }

    async fn delete_collection(
        &self,
        request: Request<cp::DeleteCollectionRequest>,
    ) -> Result<Response<cp::ChangeReply>, Status> {
        let command = TopologyCommand::DeleteCollection {
            name: request.get_ref().name.clone(),
        };
        self.submit(command, request, change_reply, |mut c, r| async move {
            c.delete_collection(r).await
        })
        .await
    }

    async fn create_payload_index(
        &self,
        request: Request<cp::CreatePayloadIndexRequest>,
    ) -> Result<Response<cp::ChangeReply>, Status> {
        let message = request.get_ref();
        let schema: PayloadFieldSchema =
            from_msgpack(&message.field_schema, "field_schema").map_err(error_to_status)?;
        let command = TopologyCommand::CreatePayloadIndex {
            collection: message.collection.clone(),
            field: message.field_name.clone(),
            schema,
        };
        self.submit(command, request, change_reply, |mut c, r| async move {
            c.create_payload_index(r).await
        })
        .await
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
        self.submit(command, request, change_reply, |mut c, r| async move {
            c.delete_payload_index(r).await
        })
        .await
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
                for peer in topology.peers.values_mut() {
                    peer.last_heartbeat_ms = heartbeats.last_ms(peer.id).unwrap_or_default();
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
            members: cluster::member_list(membership),
            snapshot_index: metrics.snapshot.map(|id| id.index),
            purged_index: metrics.purged.map(|id| id.index),
            stored_log_entries: self.cluster.log.stored_entries(),
        }))
    }

    async fn join(
        &self,
        request: Request<cp::JoinRequest>,
    ) -> Result<Response<cp::JoinReply>, Status> {
        self.join_member(request).await
    }

    async fn remove_member(
        &self,
        request: Request<cp::RemoveMemberRequest>,
    ) -> Result<Response<cp::MembersReply>, Status> {
        self.remove_control_plane_member(request).await
    }

    async fn update_cluster_setup(
        &self,
        request: Request<cp::UpdateClusterSetupRequest>,
    ) -> Result<Response<cp::ChangeReply>, Status> {
        let message = request.get_ref();
        let operation: ClusterOperation =
            from_msgpack(&message.operation, "cluster operation").map_err(error_to_status)?;
        self.reject_early(operation.validate())?;
        let command = TopologyCommand::ClusterSetup {
            collection: message.collection.clone(),
            operation,
        };
        self.submit(command, request, change_reply, |mut c, r| async move {
            c.update_cluster_setup(r).await
        })
        .await
    }

    async fn update_aliases(
        &self,
        request: Request<cp::UpdateAliasesRequest>,
    ) -> Result<Response<cp::ChangeReply>, Status> {
        let actions: Vec<AliasOperation> =
            from_msgpack(&request.get_ref().actions, "alias actions").map_err(error_to_status)?;
        // Reject early, without a log entry; the state machine checks again on apply.
        self.reject_early(self.topology.borrow().clone().change_aliases(&actions))?;
        let command = TopologyCommand::UpdateAliases { actions };
        self.submit(command, request, change_reply, |mut c, r| async move {
            c.update_aliases(r).await
        })
        .await
    }

    async fn set_quota(
        &self,
        request: Request<cp::SetQuotaRequest>,
    ) -> Result<Response<cp::ChangeReply>, Status> {
        let config: QuotaConfig =
            from_msgpack(&request.get_ref().config, "quota config").map_err(error_to_status)?;
        self.reject_early(config.validate())?;
        let command = TopologyCommand::SetQuota { config };
        self.submit(command, request, change_reply, |mut c, r| async move {
            c.set_quota(r).await
        })
        .await
    }

    async fn begin_shard_restore(
        &self,
        request: Request<cp::BeginShardRestoreRequest>,
    ) -> Result<Response<cp::ChangeReply>, Status> {
        let message = request.get_ref();
        let command = TopologyCommand::BeginShardRestore {
            collection: message.collection.clone(),
            incarnation: message.incarnation,
            shard_id: message.shard_id,
        };
        self.submit(command, request, change_reply, |mut c, r| async move {
            c.begin_shard_restore(r).await
        })
        .await
    }

    async fn finish_shard_restore(
        &self,
        request: Request<cp::FinishShardRestoreRequest>,
    ) -> Result<Response<cp::ChangeReply>, Status> {
        let message = request.get_ref();
        let command = TopologyCommand::FinishShardRestore {
            collection: message.collection.clone(),
            incarnation: message.incarnation,
            shard_id: message.shard_id,
            epoch: message.epoch,
            restored: message.restored.clone(),
            unchanged: message.unchanged.clone(),
        };
        self.submit(command, request, change_reply, |mut c, r| async move {
            c.finish_shard_restore(r).await
        })
        .await
    }

    async fn remove_peer(
        &self,
        request: Request<cp::RemovePeerRequest>,
    ) -> Result<Response<cp::ChangeReply>, Status> {
        self.remove_data_peer(request).await
    }

    async fn checkpoint(
        &self,
        request: Request<cp::CheckpointRequest>,
    ) -> Result<Response<cp::CheckpointReply>, Status> {
        self.take_checkpoint(request).await
    }
}
