//! An operator sets `cluster.internal_token` on every node of a split
//! deployment: the cluster works as before through its gateway, but a client
//! that reaches a control-plane or data node's internal port directly,
//! without the token, is refused and learns nothing.

use serde_json::json;
use tessera_proto::control_plane as cp;
use tessera_proto::control_plane::control_plane_client::ControlPlaneClient;
use tessera_proto::data_plane as dp;
use tessera_proto::data_plane::data_plane_client::DataPlaneClient;
use tessera_runtime::internal_auth;
use tessera_tests::writer::{create_collection, missing, wait_for_points, Writer};
use tessera_tests::ProcessCluster;

const TOKEN: &str = "internal-secret";
const COLLECTION: &str = "internal_story";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn internal_ports_refuse_callers_without_the_cluster_token() {
    // The harness's own control-plane client speaks for the cluster.
    internal_auth::install(TOKEN).unwrap();
    let cluster = ProcessCluster::builder()
        .data_nodes(2)
        .cluster_setting("CLUSTER__INTERNAL_TOKEN", TOKEN)
        .start()
        .await;
    let rest = cluster.rest();
    create_collection(&rest, COLLECTION, 2, 2).await;
    let writer = Writer::start(rest.clone(), COLLECTION, 0, 10);
    wait_for_points(&rest, COLLECTION, 50).await;
    let written = writer.stop().await;
    assert!(missing(&rest, COLLECTION, &written.acked).await.is_empty());
    let query = rest
        .post(
            &format!("/collections/{COLLECTION}/points/query"),
            &json!({ "query": [1.0, 1.0, 0.0, 0.5], "limit": 3 }),
        )
        .await;
    assert_eq!(query.result()["points"].as_array().map(Vec::len), Some(3));

    // Straight to the internal ports, without the token.
    let mut control_plane = ControlPlaneClient::connect(cluster.control_plane_uri(0))
        .await
        .unwrap();
    let refused = control_plane
        .cluster_status(cp::ClusterStatusRequest {})
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unauthenticated, "{refused:?}");
    let mut data_node = DataPlaneClient::connect(cluster.data_node_uri(0))
        .await
        .unwrap();
    let refused = data_node
        .count(dp::CountRequest::default())
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unauthenticated, "{refused:?}");
    // With the token, the same call is answered.
    let status = cluster
        .control_plane_client(0)
        .cluster_status(cp::ClusterStatusRequest {})
        .await
        .expect("a caller with the token is answered");
    assert!(status.into_inner().leader.is_some());
    cluster.stop().await;
}
