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
    /// Also returns the request's format, which the reply takes: a member of
    /// an older version reads only the JSON it sent.
    fn decode<T: DeserializeOwned>(
        &self,
        request: Request<RaftPayload>,
    ) -> Result<(T, codec::Format), Status> {
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
        let data = request.into_inner().data;
        let value = codec::decode(&data)
            .map_err(|e| Status::invalid_argument(format!("malformed Raft payload: {e}")))?;
        Ok((value, codec::Format::of(&data)))
    }
}

/// The reply carries openraft's whole `Result`, so the caller gets Raft errors
/// as they were, apart from transport failures.
fn encode<T: Serialize>(
    result: &T,
    format: codec::Format,
) -> Result<Response<RaftPayload>, Status> {
    let data = codec::encode_as(result, format)
        .map_err(|e| Status::internal(format!("cannot encode Raft reply: {e}")))?;
    Ok(Response::new(RaftPayload { data }))
}

#[tonic::async_trait]
impl raft_server::Raft for RaftService {
    async fn append_entries(
        &self,
        request: Request<RaftPayload>,
    ) -> Result<Response<RaftPayload>, Status> {
        let (request, format) = self.decode(request)?;
        let result = self.raft.append_entries(request).await;
        encode(&result, format)
    }

    async fn vote(&self, request: Request<RaftPayload>) -> Result<Response<RaftPayload>, Status> {
        let (request, format) = self.decode(request)?;
        let result = self.raft.vote(request).await;
        encode(&result, format)
    }

    async fn install_snapshot(
        &self,
        request: Request<RaftPayload>,
    ) -> Result<Response<RaftPayload>, Status> {
        let (request, format) = self.decode(request)?;
        let result = self.raft.install_snapshot(request).await;
        encode(&result, format)
    }
}
