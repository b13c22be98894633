//! The client side of Raft traffic between control-plane nodes: openraft's own
//! request and response types as JSON inside `tessera.raft.RaftPayload`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::BasicNode;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tessera_proto::raft::raft_client::RaftClient;
use tessera_proto::raft::RaftPayload;
use tonic::metadata::MetadataValue;

use super::{codec, NodeId, TypeConfig};
use tessera_runtime::internal_auth::{internal, InternalChannel};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// Names the node a Raft request is meant for. A node that finds another id
/// here refuses the request: its address now belongs to a different node (say,
/// one recreated on an empty data dir), which must not take part in this group.
pub const TARGET_HEADER: &str = "x-tessera-raft-target";

/// Raft messages are JSON, so a byte of snapshot data costs up to four bytes on
/// the wire; this keeps a chunk well under the servers' message limit.
pub const SNAPSHOT_CHUNK_BYTES: u64 = 512 * 1024;

/// The last Raft RPC to each peer: when it ended and whether the peer answered.
/// A leader reads it before proposing, so that without a quorum a proposal
/// fails instead of waiting in a log that may be committed long after its
/// caller gave up. A failed call counts at once, so a crashed peer (refused
/// connections) is noticed at the next heartbeat rather than after a lease.
#[derive(Debug, Clone, Default)]
pub struct Contacts(Arc<Mutex<HashMap<NodeId, (Instant, bool)>>>);

impl Contacts {
    fn record(&self, node: NodeId, answered: bool) {
        self.lock().insert(node, (Instant::now(), answered));
    }

    /// Whether `node` answered the last call, within `window`.
    pub fn answered_within(&self, node: NodeId, window: Duration) -> bool {
        self.lock()
            .get(&node)
            .is_some_and(|(at, answered)| *answered && at.elapsed() <= window)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<NodeId, (Instant, bool)>> {
        // Every write is one insert, so the map is consistent even after a panic.
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Hands openraft one connection per peer control-plane node, addressed by the
/// uri in its membership entry.
#[derive(Debug, Clone, Default)]
pub struct NetworkFactory {
    contacts: Contacts,
}

impl NetworkFactory {
    pub fn new(contacts: Contacts) -> Self {
        Self { contacts }
    }
}

impl RaftNetworkFactory<TypeConfig> for NetworkFactory {
    type Network = Connection;

    async fn new_client(&mut self, target: NodeId, node: &BasicNode) -> Connection {
        Connection {
            target,
            node: node.clone(),
            client: None,
            contacts: self.contacts.clone(),
        }
    }
}

pub struct Connection {
    target: NodeId,
    node: BasicNode,
    client: Option<RaftClient<InternalChannel>>,
    contacts: Contacts,
}

#[derive(Debug, Clone, Copy)]
enum Rpc {
    AppendEntries,
    Vote,
    InstallSnapshot,
}

type RpcResult<T, E = openraft::error::Infallible> =
    Result<T, RPCError<NodeId, BasicNode, RaftError<NodeId, E>>>;

impl Connection {
    /// Connects lazily: an unreachable peer costs nothing until it is called,
    /// and tonic reconnects the channel by itself afterwards.
    fn client(&mut self) -> Result<RaftClient<InternalChannel>, Unreachable> {
        if let Some(client) = &self.client {
            return Ok(client.clone());
        }
        let endpoint = tessera_runtime::tls::endpoint(&self.node.addr)
            .map_err(|e| Unreachable::new(&e))?
            .connect_timeout(CONNECT_TIMEOUT);
        let client = RaftClient::new(internal(endpoint.connect_lazy()));
        self.client = Some(client.clone());
        Ok(client)
    }

    async fn call<Req, Resp, E>(
        &mut self,
        rpc: Rpc,
        req: &Req,
        option: &RPCOption,
    ) -> RpcResult<Resp, E>
    where
        Req: Serialize,
        Resp: DeserializeOwned,
        E: std::error::Error + DeserializeOwned,
    {
        let data = codec::encode(req).map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        let mut request = tonic::Request::new(RaftPayload { data });
        request.set_timeout(option.hard_ttl());
        request
            .metadata_mut()
            .insert(TARGET_HEADER, MetadataValue::from(self.target));
        let mut client = self.client()?;
        let reply = match rpc {
            Rpc::AppendEntries => client.append_entries(request).await,
            Rpc::Vote => client.vote(request).await,
            Rpc::InstallSnapshot => client.install_snapshot(request).await,
        };
        self.contacts.record(self.target, reply.is_ok());
        let reply = reply.map_err(|status| RPCError::Unreachable(Unreachable::new(&status)))?;
        let result: Result<Resp, RaftError<NodeId, E>> = codec::decode(&reply.into_inner().data)
            .map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        result.map_err(|e| {
            RPCError::RemoteError(RemoteError::new_with_node(
                self.target,
                self.node.clone(),
                e,
            ))
        })
    }
}

impl RaftNetwork<TypeConfig> for Connection {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<AppendEntriesResponse<NodeId>> {
        self.call(Rpc::AppendEntries, &rpc, &option).await
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<InstallSnapshotResponse<NodeId>, InstallSnapshotError> {
        self.call(Rpc::InstallSnapshot, &rpc, &option).await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> RpcResult<VoteResponse<NodeId>> {
        self.call(Rpc::Vote, &rpc, &option).await
    }
}

#[cfg(test)]
mod tests {
    use openraft::Vote;

    use super::*;
    use crate::{ConsensusOptions, ControlPlane, ControlPlaneOptions};

    fn option() -> RPCOption {
        RPCOption::new(Duration::from_secs(2))
    }

    #[tokio::test]
    async fn raft_rpcs_round_trip_to_a_running_node() {
        let dir = tempfile::tempdir().unwrap();
        let node = ControlPlane::start(ControlPlaneOptions {
            uri: Some("http://127.0.0.1:0".into()),
            listen: "127.0.0.1:0".parse().unwrap(),
            data_dir: dir.path().to_path_buf(),
            bootstrap: None,
            consensus: ConsensusOptions {
                tick_period_ms: 50,
                ..Default::default()
            },
            replicas: Default::default(),
            operations: None,
            metrics: Default::default(),
        })
        .await
        .unwrap();
        node.raft
            .wait(Some(Duration::from_secs(5)))
            .state(openraft::ServerState::Leader, "single node elected")
            .await
            .unwrap();
        let target = BasicNode::new(format!("http://{}", node.local_addr()));
        let mut connection = NetworkFactory::default()
            .new_client(node.node_id(), &target)
            .await;
        // The leader has voted for itself in term 1 or later, so a candidate of
        // term 0 is refused, and the refusal comes back as openraft's reply.
        let reply = connection
            .vote(VoteRequest::new(Vote::new(0, 2), None), option())
            .await
            .unwrap();
        assert!(!reply.vote_granted);
        assert!(reply.vote.leader_id().term >= 1);
        node.stop().await;
    }

    #[tokio::test]
    async fn a_node_refuses_requests_meant_for_another_node_id() {
        let dir = tempfile::tempdir().unwrap();
        let node = ControlPlane::start(ControlPlaneOptions {
            uri: Some("http://127.0.0.1:0".into()),
            listen: "127.0.0.1:0".parse().unwrap(),
            data_dir: dir.path().to_path_buf(),
            bootstrap: None,
            consensus: ConsensusOptions::default(),
            replicas: Default::default(),
            operations: None,
            metrics: Default::default(),
        })
        .await
        .unwrap();
        let target = BasicNode::new(format!("http://{}", node.local_addr()));
        // The address once belonged to another node, as after a member was
        // recreated on an empty data dir.
        let mut connection = NetworkFactory::default()
            .new_client(node.node_id().wrapping_add(1), &target)
            .await;
        let err = connection
            .vote(VoteRequest::new(Vote::new(1, 2), None), option())
            .await
            .unwrap_err();
        assert!(
            matches!(&err, RPCError::Unreachable(e) if e.to_string().contains("was replaced")),
            "{err:?}"
        );
        node.stop().await;
    }

    #[tokio::test]
    async fn a_node_that_is_down_is_unreachable() {
        // Port 1 is privileged and unused in test environments.
        let target = BasicNode::new("http://127.0.0.1:1");
        let mut connection = NetworkFactory::default().new_client(1, &target).await;
        let err = connection
            .vote(VoteRequest::new(Vote::new(1, 2), None), option())
            .await
            .unwrap_err();
        assert!(matches!(err, RPCError::Unreachable(_)), "{err:?}");
    }
}
