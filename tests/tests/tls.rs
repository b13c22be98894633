//! An operator turns TLS on for the client ports and between services
//! (`service.enable_tls`, `cluster.p2p.enable_tls`): REST and gRPC clients
//! reach the gateway over TLS, every internal hop (topology, registration,
//! writes, replication, searches) runs over TLS, and a client that speaks
//! plain HTTP, to the gateway or to a data node's internal port, gets nowhere.
//! Probes and Prometheus still reach every node's metrics port over plain
//! HTTP, the gateway's included.

use std::time::Duration;

use qdrant_client::qdrant::points_client::PointsClient;
use qdrant_client::qdrant::CountPoints;
use serde_json::json;
use tessera_proto::data_plane as dp;
use tessera_proto::data_plane::data_plane_client::DataPlaneClient;
use tessera_tests::{data, replicas, Node, ProcessCluster};
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint};

const COLLECTION: &str = "over_tls";
const DIM: usize = 4;
const POINTS: u64 = 120;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_and_services_talk_over_tls() {
    let cluster = ProcessCluster::builder()
        .data_nodes(2)
        .tls()
        .metrics()
        .start()
        .await;
    assert!(cluster.http_url().starts_with("https://"));
    let rest = cluster.rest();
    let created = rest
        .put(
            &format!("/collections/{COLLECTION}"),
            &json!({
                "vectors": { "size": DIM, "distance": "Dot" },
                "shard_number": 2,
                "replication_factor": 2,
            }),
        )
        .await;
    assert_eq!(created.result(), &json!(true), "create: {}", created.body);
    rest.upsert_vectors(COLLECTION, data::random_points(5, POINTS, DIM))
        .await;
    let found = rest
        .post(
            &format!("/collections/{COLLECTION}/points/search?consistency=all"),
            &json!({ "vector": [0.1, 0.2, 0.3, 0.4], "limit": 5 }),
        )
        .await;
    assert_eq!(found.result().as_array().map(Vec::len), Some(5));
    // Both copies of each shard took every write: replication ran over TLS.
    replicas::wait_in_sync(&cluster, COLLECTION, 2).await;

    // gRPC over TLS, verified against the cluster's CA.
    let ca = Certificate::from_pem(std::fs::read(ca_path(&cluster)).expect("the CA file"));
    let channel = Endpoint::from_shared(cluster.grpc_url())
        .expect("a uri")
        .tls_config(
            ClientTlsConfig::new()
                .ca_certificate(ca)
                .domain_name("localhost"),
        )
        .expect("TLS settings")
        .connect()
        .await
        .expect("a TLS connection to the gateway's gRPC port");
    let count = PointsClient::new(channel)
        .count(CountPoints {
            collection_name: COLLECTION.into(),
            exact: Some(true),
            ..Default::default()
        })
        .await
        .expect("a count over gRPC");
    assert_eq!(count.into_inner().result.map(|r| r.count), Some(POINTS));

    // Plain HTTP to the gateway gets no answer.
    let plain = cluster.http_url().replace("https://", "http://");
    let reply = reqwest::Client::new()
        .get(format!("{plain}/collections"))
        .timeout(Duration::from_secs(5))
        .send()
        .await;
    assert!(
        reply.is_err(),
        "plain HTTP to a TLS port must fail: {reply:?}"
    );
    // Nor does plain HTTP/2 to a data node's internal port.
    let internal = cluster.data_node_uri(0).replace("https://", "http://");
    let mut client = DataPlaneClient::new(
        Endpoint::from_shared(internal)
            .expect("a uri")
            .connect_timeout(Duration::from_secs(2))
            .connect_lazy(),
    );
    let refused = client.shard_stats(dp::ShardStatsRequest::default()).await;
    assert!(
        refused.is_err(),
        "plain gRPC to an internal TLS port must fail"
    );

    // The gateway's metrics port stays plain HTTP, for probes and Prometheus.
    let operations = cluster.metrics_url(Node::Gateway);
    let ready = reqwest::get(format!("{operations}/readyz"))
        .await
        .expect("a plain-HTTP probe");
    assert!(ready.status().is_success(), "{}", ready.status());
    let metrics = reqwest::get(format!("{operations}/metrics"))
        .await
        .expect("a plain-HTTP scrape")
        .text()
        .await
        .expect("Prometheus text");
    assert!(
        metrics.contains(r#"operation="POST /collections/{name}/points/search""#),
        "{metrics}"
    );

    cluster.stop().await;
}

fn ca_path(cluster: &ProcessCluster) -> std::path::PathBuf {
    cluster.tls_ca_cert().expect("a TLS cluster has a CA")
}
