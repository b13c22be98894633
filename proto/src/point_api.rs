//! The point operations a gateway sends to a data-plane node, behind one
//! interface with two implementations: a remote node is reached over gRPC,
//! the node in the same process (standalone) by calling its service directly:
//! no encoding, no socket, no HTTP/2 framing.

use std::sync::Arc;

use tonic::{Request, Response, Status};
use tracing::{Instrument, Span};

use crate::data_plane::data_plane_client::DataPlaneClient;
use crate::data_plane::data_plane_server::DataPlane;
use crate::data_plane::{
    CountReply, CountRequest, FacetReply, FacetRequest, NodeQuotaReply, NodeQuotaRequest,
    RetrieveReply, RetrieveRequest, ScrollReply, ScrollRequest, SearchReply, SearchRequest,
    ShardStatsReply, ShardStatsRequest, TextSearchRequest, UpdateReply, UpdateRequest,
};
use crate::internal_auth::InternalChannel;

/// A data-plane node's service, called in this process.
pub struct InProcess<S>(pub Arc<S>);

/// The span of a call to a remote data node; the node's own request span is
/// its child.
fn client_span(operation: &'static str) -> Span {
    tracing::info_span!("call", otel.name = operation, otel.kind = "client")
}

/// The span of a data-plane call in this process: what the node's request
/// span would be if it were remote.
fn in_process_span(operation: &'static str) -> Span {
    tracing::info_span!("request", otel.name = operation, otel.kind = "internal")
}

/// Declares `PointApi` with these methods and implements it for a gRPC client
/// and for a service in this process; the two differ only in how they call.
macro_rules! point_api {
    ($($method:ident($request:ty) -> $reply:ty, $rpc:literal;)*) => {
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
                DataPlaneClient::$method(&mut client, request)
                    .instrument(client_span(concat!("DataPlane/", $rpc)))
                    .await
            })*
        }

        #[tonic::async_trait]
        impl<S: DataPlane> PointApi for InProcess<S> {
            $(async fn $method(&self, request: $request) -> Result<Response<$reply>, Status> {
                self.0
                    .$method(Request::new(request))
                    .instrument(in_process_span(concat!("DataPlane/", $rpc)))
                    .await
            })*
        }
    };
}

point_api! {
    update(UpdateRequest) -> UpdateReply, "Update";
    retrieve(RetrieveRequest) -> RetrieveReply, "Retrieve";
    search(SearchRequest) -> SearchReply, "Search";
    text_search(TextSearchRequest) -> SearchReply, "TextSearch";
    scroll(ScrollRequest) -> ScrollReply, "Scroll";
    count(CountRequest) -> CountReply, "Count";
    facet(FacetRequest) -> FacetReply, "Facet";
    shard_stats(ShardStatsRequest) -> ShardStatsReply, "ShardStats";
    node_quota(NodeQuotaRequest) -> NodeQuotaReply, "NodeQuota";
}
