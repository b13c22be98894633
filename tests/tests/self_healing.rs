//! A cluster that keeps itself healthy, without an operator: a data node that
//! dies for good has its replicas made again on the others while writes go
//! on, and when it comes back after all it holds nothing of what it had.

use std::time::{Duration, Instant};

use tessera_tests::replicas::{self, states};
use tessera_tests::wait;
use tessera_tests::writer::{create_collection, missing, wait_for_points, Writer};
use tessera_tests::ProcessCluster;

const C: &str = "self_healing";

/// The peer id the gateway reports for data node `i`.
async fn peer_of(cluster: &ProcessCluster, i: usize) -> u64 {
    let info = cluster.rest().get("/cluster").await;
    let uri = cluster.data_node_uri(i);
    info.result()["peers"]
        .as_object()
        .expect("peers")
        .iter()
        .find(|(_, peer)| peer["uri"].as_str() == Some(uri.as_str()))
        .and_then(|(id, _)| id.parse().ok())
        .expect("the data node is a peer")
}

/// Replica directories (`<collection>-<incarnation>/<shard>`) under a data
/// node's `collections`.
fn replica_dirs(collections: &std::path::Path) -> Vec<std::path::PathBuf> {
    let dirs = |dir: &std::path::Path| {
        std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.is_dir())
            .collect::<Vec<_>>()
    };
    dirs(collections).iter().flat_map(|c| dirs(c)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_data_node_lost_for_good_has_its_replicas_made_again_on_the_others() {
    let mut cluster = ProcessCluster::builder()
        .data_nodes(4)
        .control_plane_setting("CLUSTER__REPLICATION__DEAD_PEER_TIMEOUT_SEC", 3)
        .start()
        .await;
    let rest = cluster.rest();
    // Four shards of two copies on four nodes: every node holds two replicas.
    create_collection(&rest, C, 4, 2).await;
    let lost = peer_of(&cluster, 3).await;
    let writer = Writer::start(rest.clone(), C, 0, 10);
    wait_for_points(&rest, C, 200).await;

    cluster.kill_data_node(3);
    let killed = Instant::now();
    // Every shard has two in-sync copies again, none of them on the lost node.
    wait::until(
        "two Active copies of every shard on live nodes",
        Duration::from_secs(90),
        || async {
            let states = states(&rest, C).await;
            let healthy = states.len() == 8
                && states
                    .iter()
                    .all(|(_, peer, state)| *peer != lost && state == "Active");
            healthy.then_some(()).ok_or(format!("{states:?}"))
        },
    )
    .await
    .unwrap();
    println!(
        "replication factor restored {:.1} s after the node was killed",
        killed.elapsed().as_secs_f64()
    );

    // The node comes back with its old data: it is a member with no replicas.
    cluster.restart_data_node(3).await;
    let before = rest.count(C).await;
    wait_for_points(&rest, C, before + 100).await;
    let written = writer.stop().await;
    replicas::wait_in_sync(&cluster, C, 2).await;
    let states = states(&rest, C).await;
    assert!(
        states.iter().all(|(_, peer, _)| *peer != lost),
        "the returning node was given back replicas: {states:?}"
    );
    let collections = cluster.data_node_dir(3).join("collections");
    wait::until(
        "the returning node removes the replicas it lost",
        Duration::from_secs(30),
        || async {
            let kept = replica_dirs(&collections);
            kept.is_empty().then_some(()).ok_or(format!("{kept:?}"))
        },
    )
    .await
    .unwrap();

    let missing = missing(&rest, C, &written.acked).await;
    println!(
        "writes acknowledged: {}, failed batches: {}, lost: {}",
        written.acked.len(),
        written.failed,
        missing.len()
    );
    assert!(missing.is_empty(), "acknowledged writes lost: {missing:?}");
    cluster.stop().await;
}
