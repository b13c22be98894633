//! The server side of Raft traffic: decodes openraft's JSON requests and hands
//! them to the local Raft node.

use serde::de::DeserializeOwned;
use serde::Serialize;
use tessera_proto::raft::raft_server;
use tessera_proto::raft::RaftPayload;
use tonic::{Request, Response, Status};

use super::network::TARGET_HEADER;
use super::{codec, NodeId, Raft};

pub struct RaftService {
    raft: Raft,
    node_id: NodeId,
}

impl RaftService {
    pub fn new(raft: Raft, node_id: NodeId) -> Self {
        Self { raft, node_id }
    }

    /// Refuses requests meant for another node id, so that a node which took
    /// over a member's address never joins that member's group by accident.
    fn decode<T: DeserializeOwned>(&self, request: Request<RaftPayload>) -> Result<T, Status> {
        let target = request
            .metadata()
            .get(TARGET_HEADER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<NodeId>().ok());
        if let Some(target) = target.filter(|t| *t != self.node_id) {
            return Err(Status::failed_precondition(format!(
                "this control-plane node is {}, not {target}: the member at this address was replaced",
                self.node_id
            )));
        }
        codec::decode(&request.into_inner().data)
            .map_err(|e| Status::invalid_argument(format!("malformed Raft payload: {e}")))
    }
}

/// The reply carries openraft's whole `Result`, so the caller gets Raft errors
/// as they were, apart from transport failures.
fn encode<T: Serialize>(result: &T) -> Result<Response<RaftPayload>, Status> {
    let data = codec::encode(result)
        .map_err(|e| Status::internal(format!("cannot encode Raft reply: {e}")))?;
    Ok(Response::new(RaftPayload { data }))
}

#[tonic::async_trait]
impl raft_server::Raft for RaftService {
    async fn append_entries(
        &self,
        request: Request<RaftPayload>,
    ) -> Result<Response<RaftPayload>, Status> {
        let result = self.raft.append_entries(self.decode(request)?).await;
        encode(&result)
    }

    async fn vote(&self, request: Request<RaftPayload>) -> Result<Response<RaftPayload>, Status> {
        let result = self.raft.vote(self.decode(request)?).await;
        encode(&result)
    }

    async fn install_snapshot(
        &self,
        request: Request<RaftPayload>,
    ) -> Result<Response<RaftPayload>, Status> {
        let result = self.raft.install_snapshot(self.decode(request)?).await;
        encode(&result)
    }
}
