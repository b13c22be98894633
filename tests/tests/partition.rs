//! A data node is cut off by a network partition (each data node in its own
//! network namespace, see `tessera_tests::netns`) while writes go on: the
//! shards it led fail over, a write sent straight to it as the old primary is
//! never acknowledged, and once the partition heals it catches up by itself
//! and every replica ends identical, with every acknowledged write present.

use std::time::Duration;

use tessera_proto::common::ShardTarget;
use tessera_proto::data_plane as dp;
use tessera_proto::data_plane::data_plane_client::DataPlaneClient;
use tessera_tests::replicas::{self, contents, identical, wait_in_sync};
use tessera_tests::wait;
use tessera_tests::writer::{create_collection, missing, Writer, Written};
use tessera_tests::ProcessCluster;
use tessera_types::{Point, PointId, ShardOperation};

const C: &str = "partitioned";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cut_off_node_acknowledges_nothing_and_converges_after_the_partition_heals() {
    let cluster = ProcessCluster::builder()
        .data_nodes(3)
        .partitionable()
        .start()
        .await;
    let rest = cluster.rest();
    create_collection(&rest, C, 3, 2).await;
    let before = replicas::topology(&cluster).await;
    let node0 = before
        .peers
        .values()
        .find(|p| p.uri == cluster.data_node_uri(0))
        .expect("node 0 registered")
        .id;
    let led = before.collections[C]
        .shards
        .iter()
        .find(|s| s.primary == node0)
        .expect("node 0 leads a shard")
        .clone();

    let writer = Writer::start(rest.clone(), C, 0, 1);
    tokio::time::sleep(Duration::from_millis(500)).await;
    cluster.partition_data_node(0);
    wait::until(
        "node 0's shards failed over",
        Duration::from_secs(60),
        || async {
            let now = replicas::topology(&cluster).await;
            let shard = &now.collections[C].shards[led.shard_id as usize];
            (shard.primary != node0 && shard.epoch > led.epoch)
                .then_some(())
                .ok_or(format!("primary {} epoch {}", shard.primary, shard.epoch))
        },
    )
    .await
    .unwrap();
    // Writes go on through the new primaries.
    tokio::time::sleep(Duration::from_secs(1)).await;
    cluster.heal_data_node(0);

    // Straight after the partition heals, node 0 is asked to order a write as
    // the primary it was: it must not get it acknowledged.
    let mut client = DataPlaneClient::connect(cluster.data_node_uri(0))
        .await
        .expect("connect to node 0");
    let stale_write = dp::UpdateRequest {
        target: Some(ShardTarget {
            collection: C.to_string(),
            incarnation: before.collections[C].incarnation,
            shard_id: led.shard_id,
            topology_version: before.version,
        }),
        wait: true,
        operation: Some(
            ShardOperation::Upsert(vec![Point {
                id: PointId::Num(999_999),
                vectors: [(String::new(), vec![1.0, 0.0, 0.0, 0.0].into())].into(),
                payload: Default::default(),
            }])
            .into(),
        ),
        epoch: led.epoch,
    };
    let answer = client.update(stale_write).await;
    assert!(
        answer.is_err(),
        "a deposed primary acknowledged a write: {answer:?}"
    );

    tokio::time::sleep(Duration::from_secs(1)).await;
    let Written { acked, failed, .. } = writer.stop().await;
    wait_in_sync(&cluster, C, 2).await;
    let lost = missing(&rest, C, &acked).await.len();
    let refused_is_missing = missing(&rest, C, &[999_999]).await == [999_999];
    let same = identical(&contents(&cluster, C).await);
    println!(
        "writes acknowledged: {}, failed: {failed}, lost: {lost}, replicas identical: {}",
        acked.len(),
        same.is_ok()
    );
    assert_eq!(lost, 0);
    assert!(refused_is_missing, "the refused write became visible");
    same.unwrap();
}
