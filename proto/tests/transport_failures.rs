//! The gateway waits for a failover only when a data node could not be
//! reached, never when it answered with an error; this holds only while tonic
//! marks the statuses it makes from transport errors (with a source error).

use tessera_proto::convert::status_to_error;
use tessera_proto::data_plane as dp;
use tessera_proto::data_plane::data_plane_client::DataPlaneClient;
use tessera_proto::status::{is_connection_refused, is_transport_failure};

#[tokio::test]
async fn a_refused_connection_is_told_apart_from_a_server_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let channel = tonic::transport::Endpoint::from_shared(format!("http://127.0.0.1:{port}"))
        .unwrap()
        .connect_lazy();
    let status = DataPlaneClient::new(channel)
        .shard_stats(dp::ShardStatsRequest {
            target: None,
            with_payload_bytes: false,
        })
        .await
        .unwrap_err();
    assert!(is_transport_failure(&status), "{status:?}");
    assert!(is_connection_refused(&status), "{status:?}");
    assert!(matches!(
        status_to_error(status),
        tessera_types::TesseraError::Unreachable(_)
    ));
    assert!(!is_transport_failure(&tonic::Status::unavailable(
        "write consistency factor 2 not met"
    )));
}
