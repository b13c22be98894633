//! The point operations a gateway sends to a data-plane node, behind one
//! interface with two implementations: a remote node is reached over gRPC,
//! the node in the same process (standalone) by calling its service directly:
//! no encoding, no socket, no HTTP/2 framing.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use crate::data_plane::data_plane_client::DataPlaneClient;
use crate::data_plane::data_plane_server::DataPlane;
use crate::data_plane::{
    CountReply, CountRequest, FacetReply, FacetRequest, RetrieveReply, RetrieveRequest,
    ScrollReply, ScrollRequest, SearchReply, SearchRequest, ShardStatsReply, ShardStatsRequest,
    UpdateReply, UpdateRequest,
};
use crate::internal_auth::InternalChannel;

/// A data-plane node's service, called in this process.
pub struct InProcess<S>(pub Arc<S>);

/// Declares `PointApi` with these methods and implements it for a gRPC client
/// and for a service in this process; the two differ only in how they call.
macro_rules! point_api {
    ($($method:ident($request:ty) -> $reply:ty;)*) => {
        #[tonic::async_trait]
        pub trait PointApi: Send + Sync {
            $(async fn $method(&self, request: $request) -> Result<Response<$reply>, Status>;)*
        }

        #[tonic::async_trait]
        impl PointApi for DataPlaneClient<InternalChannel> {
            $(async fn $method(&self, request: $request) -> Result<Response<$reply>, Status> {
                // A client clone shares the channel; tonic's calls take `&mut self`.
                // The inherent method by path: `clone().$method` would pick this one.
                let mut client = self.clone();
                DataPlaneClient::$method(&mut client, request).await
            })*
        }

        #[tonic::async_trait]
        impl<S: DataPlane> PointApi for InProcess<S> {
            $(async fn $method(&self, request: $request) -> Result<Response<$reply>, Status> {
                self.0.$method(Request::new(request)).await
            })*
        }
    };
}

point_api! {
    update(UpdateRequest) -> UpdateReply;
    retrieve(RetrieveRequest) -> RetrieveReply;
    search(SearchRequest) -> SearchReply;
    scroll(ScrollRequest) -> ScrollReply;
    count(CountRequest) -> CountReply;
    facet(FacetRequest) -> FacetReply;
    shard_stats(ShardStatsRequest) -> ShardStatsReply;
}
